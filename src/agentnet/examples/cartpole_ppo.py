"""Proximal policy optimization with generalized advantages on batched native CartPole.

Many sessions play a rollout at once (no gradient); its advantages (GAE, normalized) and value
targets are computed once; then a few epochs of minibatch steps on the clipped PPO objectives
re-run the policy on the recorded observations. Episodes restart by themselves (``autoreset``),
each rollout goes on where the last one stopped, and the trained agent is evaluated greedily
on 100 fresh episodes.

    python -m agentnet.examples.cartpole_ppo
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.environment import CartPole, EpisodeTracker, play_episodes
from agentnet.examples import make_config
from agentnet.learning import generic, ppo
from agentnet.resolver import ProbabilisticResolver
from agentnet.utils import LinearSchedule, RunDirectory

#: the Gymnasium environment this native one matches (for ``agentnet evaluate``)
GYMNASIUM_ID = "CartPole-v1"


@dataclass
class Config:
    total_steps: int = 100_000
    """environment steps to train for (sessions x ticks)"""
    n_sessions: int = 32
    """sessions played in parallel"""
    session_length: int = 64
    """ticks per rollout"""
    n_epochs: int = 4
    """passes over each rollout"""
    n_minibatches: int = 4
    """minibatches per pass, each holding whole rows of the rollout"""
    gamma: float = 0.99
    """discount"""
    gae_lambda: float = 0.95
    """lambda of the generalized advantages"""
    clip_epsilon: float = 0.2
    """how far the probability ratio may move from 1 before the objective stops following it"""
    value_clip_epsilon: float | None = None
    """clip of the value loss (None: plain squared error; values here grow to ~100)"""
    learning_rate: float = 3e-3
    """Adam's step size at the start, annealed linearly to 0"""
    entropy_regularization: float = 0.0
    """weight of the entropy bonus"""
    value_weight: float = 0.5
    """weight of the critic's loss"""
    max_grad_norm: float = 0.5
    """gradients are clipped to this global norm"""
    hidden: int = 64
    """units in each hidden layer of the actor and of the critic"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 100
    """greedy episodes played after training"""


def build_agent(config: Config) -> agentnet.Agent:
    """Separate actor and critic MLPs (two hidden layers each): a softmax policy and a state
    value. With shared layers the critic's large errors swamp the actor's gradient."""
    observation = L.InputLayer((None, 4), name="observation")

    def mlp(name: str) -> L.Layer:
        hidden = L.DenseLayer(observation, config.hidden, nonlinearity=torch.tanh,
                              name=f"{name}_hidden1")
        return L.DenseLayer(hidden, config.hidden, nonlinearity=torch.tanh,
                            name=f"{name}_hidden2")

    probabilities = L.DenseLayer(mlp("actor"), 2, nonlinearity=lambda x: torch.softmax(x, -1),
                                 name="policy")
    value = L.DenseLayer(mlp("critic"), 1, nonlinearity=None, name="value")
    return agentnet.Agent(observation, policy_estimators=[probabilities, value],
                          action_layers=ProbabilisticResolver(probabilities, name="sampler"))


def rerun_agent(agent: agentnet.Agent, observations: torch.Tensor, actions: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Re-run the (memoryless) agent on recorded observations ``[B, T, 4]``, all ticks at once:
    log-probabilities of the recorded ``actions [B, T]``, policy entropy and state values,
    each float ``[B, T]``."""
    batch, length = actions.shape
    probabilities, values = L.get_output(
        agent.policy_layers, {agent.observation_layers[0]: observations.flatten(0, 1)})
    log_policy = generic.as_log_policy(probabilities.view(batch, length, -1))
    return (generic.get_values_for_actions(log_policy, actions),
            generic.get_policy_entropy(log_policy), values.view(batch, length))


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False,
         on_progress: Callable[[int, agentnet.Agent], bool | None] | None = None,
         **overrides) -> dict:
    """Train, evaluate, and return ``{"eval_mean_return", "log", "agent"}`` (the arguments:
    :mod:`agentnet.examples`).

    ``on_progress(step, agent)``, if given, is called after every rollout and its updates
    (``step``: environment steps so far); returning True stops training early.
    """
    config = make_config(Config, total_steps, overrides)
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate)
    env = CartPole(batch_size=config.n_sessions, seed=config.seed, autoreset=True)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    lr_factor = LinearSchedule(1.0, 0.0, config.total_steps)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite)
    step, carry = run.start(agent, optimizer, log, {"episodes": episodes},
                            batch_size=config.n_sessions)
    sessions = carry.get("sessions")  # None: a new run, new episodes
    steps_per_rollout = config.n_sessions * config.session_length
    rows_per_minibatch = max(1, config.n_sessions // config.n_minibatches)
    with run:
        while step < config.total_steps:
            # --- schedule (plumbing): the step size anneals linearly ---
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * lr_factor(step)

            # --- the algorithm, 1: play a rollout with the current policy, no gradient ---
            with torch.no_grad():
                sessions = agent.get_sessions(env, config.session_length, continue_from=sessions)
                observations, actions = sessions.observations, sessions.actions
                probabilities, values = sessions.policy  # what the acting policy computed
                old_log_probs = generic.get_values_for_actions(generic.as_log_policy(probabilities),
                                                               actions)
                old_values = values[..., 0]
                # advantages and value targets, once per rollout; the last tick of a row has no
                # next tick inside the row, so it serves only as a bootstrap value (crop_last)
                advantages = generic.get_generalized_advantages(
                    old_values, sessions.rewards, sessions.is_alive, config.gamma,
                    config.gae_lambda, crop_last=True, is_truncated=sessions.is_truncated)
                value_targets = advantages + old_values
                trained = generic.get_loss_mask(sessions.is_alive, advantages, crop_last=True)
                advantages = (advantages - advantages[trained].mean()) / (
                    advantages[trained].std() + 1e-8)

            # --- the algorithm, 2: epochs of clipped updates on minibatches of whole rows ---
            for _ in range(config.n_epochs):
                for rows in torch.randperm(config.n_sessions).split(rows_per_minibatch):
                    log_probs, entropy, values = rerun_agent(agent, observations[rows],
                                                                 actions[rows])
                    mask = trained[rows]
                    actor = ppo.get_elementwise_objective(
                        log_probs, old_log_probs[rows], advantages[rows], mask,
                        clip_epsilon=config.clip_epsilon)
                    critic = ppo.get_elementwise_value_objective(
                        values, old_values[rows], value_targets[rows], mask,
                        clip_epsilon=config.value_clip_epsilon)
                    loss = generic.masked_mean(actor + config.value_weight * critic
                                               - config.entropy_regularization * entropy, mask)
                    optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
                    optimizer.step()

            # --- bookkeeping ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            step += steps_per_rollout
            log.record(step, finished.returns, loss=loss.item())
            if run.due(step, 10 * steps_per_rollout):
                run.save(step, agent, optimizer, log, {"sessions": sessions.continuation(),
                                                       "episodes": episodes.state_dict()})
            if on_progress is not None and on_progress(step, agent):
                break
    evaluation = play_episodes(agent, CartPole(batch_size=config.eval_episodes,
                                               seed=config.seed + 1),
                               config.eval_episodes, max_steps=500, greedy=True)
    log.finish(evaluation.returns)
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent}


if __name__ == "__main__":
    main()
