"""n-step advantage actor-critic on batched native CartPole, no replay.

The agent outputs action probabilities and a state value; many sessions play at once, and
every few ticks the A2C loss (policy gradient with n-step advantages, value regression,
entropy bonus) takes one optimizer step. Evaluated greedily on 100 fresh episodes.

The actor and the critic are separate networks with their own step sizes, the critic's 30x
the actor's: a critic that keeps up with the improving policy (its values climb towards
~100 as episodes lengthen) keeps the advantages honest. With one shared layer and one step
size (3e-3) the greedy policy solved CartPole quickly but then kept collapsing into pushing
one way (the cart drifting off the track after ~100 steps); this way it stays solved
(Gymnasium CartPole-v1, seeds 0-9: greedy mean >= 475 on three evaluations 5k steps apart,
after 35k-75k steps).

    python -m agentnet.examples.cartpole_a2c
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.environment import CartPole, EpisodeTracker, play_episodes
from agentnet.examples import make_config
from agentnet.learning import a2c, generic
from agentnet.resolver import ProbabilisticResolver
from agentnet.utils import RunDirectory

#: the Gymnasium environment this native one matches (for ``agentnet evaluate``)
GYMNASIUM_ID = "CartPole-v1"


@dataclass
class Config:
    total_steps: int = 200_000
    """environment steps to train for (sessions x ticks)"""
    n_sessions: int = 16
    """sessions played in parallel"""
    session_length: int = 8
    """ticks per iteration (one optimizer step each)"""
    n_steps: int = 8
    """the n of the n-step references and advantages"""
    gamma: float = 0.99
    """discount"""
    learning_rate: float = 1e-3
    """Adam's step size for the actor"""
    critic_learning_rate: float = 3e-2
    """Adam's step size for the critic: high, so that it tracks the fast-growing values
    (2e-2 to 5e-2 work alike; at 3e-3 the policy collapses after solving, for up to 150k
    steps)"""
    entropy_regularization: float = 0.01
    """weight of the entropy bonus"""
    value_weight: float = 0.5
    """weight of the critic's loss (the towers share no parameters, so with Adam this hardly
    matters: ``critic_learning_rate`` sets how fast the critic learns)"""
    hidden: int = 64
    """units in the hidden layer of the actor and of the critic"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 100
    """greedy episodes played after training"""


def build_agent(config: Config) -> agentnet.Agent:
    """Separate actor and critic towers (one hidden layer each): a softmax policy and a state
    value. Separate, so that each can have its own step size (see :class:`Config`)."""
    observation = L.InputLayer((None, 4), name="observation")
    actor = L.DenseLayer(observation, config.hidden, nonlinearity=torch.tanh,
                         name="actor_hidden")
    critic = L.DenseLayer(observation, config.hidden, nonlinearity=torch.tanh,
                          name="critic_hidden")
    probabilities = L.DenseLayer(actor, 2, nonlinearity=lambda x: torch.softmax(x, -1),
                                 name="policy")
    value = L.DenseLayer(critic, 1, nonlinearity=None, name="value")
    return agentnet.Agent(observation, policy_estimators=[probabilities, value],
                          action_layers=ProbabilisticResolver(probabilities, name="sampler"))


def actor_critic_loss(sessions: agentnet.Sessions, config: Any) -> torch.Tensor:
    """The mean A2C loss of sessions whose policy is ``[probabilities, values]``: the policy
    gradient with n-step advantages and an entropy bonus, plus the weighted critic loss
    (``config`` gives ``n_steps``, ``gamma``, ``entropy_regularization``, ``value_weight``)."""
    probabilities, values = sessions.policy
    actor, critic = a2c.get_elementwise_objective(
        probabilities, values[..., 0], sessions.actions, sessions.rewards,
        sessions.is_alive, n_steps=config.n_steps, gamma_or_gammas=config.gamma,
        is_truncated=sessions.is_truncated,
        entropy_regularization=config.entropy_regularization, return_separate=True)
    return generic.masked_mean(actor + config.value_weight * critic, sessions.is_alive)


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False,
         on_progress: Callable[[int, agentnet.Agent], bool | None] | None = None,
         **overrides) -> dict:
    """Train, evaluate, and return ``{"eval_mean_return", "log", "agent"}`` (the arguments:
    :mod:`agentnet.examples`).

    ``on_progress(step, agent)``, if given, is called after every iteration (``step``:
    environment steps so far); returning True stops training early (e.g. a benchmark
    evaluating the agent every few thousand steps).
    """
    config = make_config(Config, total_steps, overrides)
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    probabilities, value = agent.policy_layers
    optimizer = torch.optim.Adam([
        {"params": L.get_all_params(probabilities), "lr": config.learning_rate},
        {"params": L.get_all_params(value), "lr": config.critic_learning_rate}])
    env = CartPole(batch_size=config.n_sessions, seed=config.seed, autoreset=True)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite)
    step, carry = run.start(agent, optimizer, log, {"episodes": episodes},
                            batch_size=config.n_sessions)
    sessions = carry.get("sessions")  # None: a new run, new episodes
    steps_per_iteration = config.n_sessions * config.session_length
    with run:
        while step < config.total_steps:
            # --- the algorithm: play on, then one actor-critic step on what was played ---
            sessions = agent.get_sessions(env, config.session_length, continue_from=sessions)
            loss = actor_critic_loss(sessions, config)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            # --- bookkeeping ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            step += steps_per_iteration
            log.record(step, finished.returns, loss=loss.item())
            if run.due(step, 50 * steps_per_iteration):
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
