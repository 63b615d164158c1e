"""n-step Q-learning on batched native CartPole, no replay: AgentNet's classic recipe.

Many sessions play at once; every iteration the agent plays a few more ticks of each, and the
n-step Q-learning loss of those ticks takes one optimizer step. Episodes restart by themselves
(``autoreset``), the 500-step limit is a truncation the references bootstrap through, and the
trained agent is evaluated greedily on 100 fresh episodes.

    python -m agentnet.examples.cartpole_nstep_q
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.environment import CartPole, EpisodeTracker, play_episodes
from agentnet.examples import make_config
from agentnet.learning import generic, qlearning
from agentnet.resolver import EpsilonGreedyResolver
from agentnet.utils import LinearSchedule, RunDirectory

#: the Gymnasium environment this native one matches (for ``agentnet evaluate``)
GYMNASIUM_ID = "CartPole-v1"


@dataclass
class Config:
    total_steps: int = 256_000
    """environment steps to train for (sessions x ticks)"""
    n_sessions: int = 16
    """sessions played in parallel"""
    session_length: int = 8
    """ticks per iteration (one optimizer step each)"""
    n_steps: int = 8
    """the n of n-step Q-learning"""
    gamma: float = 0.95
    """discount (0.99 learns too, but less steadily without a replay buffer)"""
    learning_rate: float = 2e-3
    """Adam's step size at the start, annealed linearly to 0"""
    epsilon_start: float = 1.0
    """exploration at the start ..."""
    epsilon_end: float = 0.05
    """... decaying linearly to this value ..."""
    epsilon_decay_fraction: float = 0.5
    """... over this fraction of training"""
    hidden: int = 64
    """units in each of the two hidden layers"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 100
    """greedy episodes played after training"""


def build_agent(config: Config) -> agentnet.Agent:
    """An MLP that maps CartPole's observation to Q-values, with epsilon-greedy actions."""
    observation = L.InputLayer((None, 4), name="observation")
    hidden = L.DenseLayer(observation, config.hidden, name="hidden1")
    hidden = L.DenseLayer(hidden, config.hidden, name="hidden2")
    qvalues = L.DenseLayer(hidden, 2, nonlinearity=None, name="q")
    resolver = EpsilonGreedyResolver(qvalues, epsilon=config.epsilon_start, name="resolver")
    return agentnet.Agent(observation, policy_estimators=qvalues, action_layers=resolver)


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False, **overrides) -> dict:
    """Train, evaluate, and return ``{"eval_mean_return", "log", "agent"}`` (the arguments:
    :mod:`agentnet.examples`)."""
    config = make_config(Config, total_steps, overrides)
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate)
    env = CartPole(batch_size=config.n_sessions, seed=config.seed, autoreset=True)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    resolver = cast(EpsilonGreedyResolver, agent.action_layers[0])  # from build_agent
    epsilon = LinearSchedule(config.epsilon_start, config.epsilon_end,
                             config.epsilon_decay_fraction * config.total_steps)
    lr_factor = LinearSchedule(1.0, 0.0, config.total_steps)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite)
    step, carry = run.start(agent, optimizer, log, {"episodes": episodes},
                            batch_size=config.n_sessions)
    sessions = carry.get("sessions")  # None: a new run, new episodes
    steps_per_iteration = config.n_sessions * config.session_length
    with run:
        while step < config.total_steps:
            # --- schedules (plumbing): exploration decays, then the step size anneals ---
            resolver.epsilon.set_value(epsilon(step))
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * lr_factor(step)
            # --- the algorithm: play on, then one n-step Q-learning step on what was played ---
            sessions = agent.get_sessions(env, config.session_length, continue_from=sessions)
            elementwise = qlearning.get_elementwise_objective(
                sessions.policy, sessions.actions, sessions.rewards, sessions.is_alive,
                n_steps=config.n_steps, gamma_or_gammas=config.gamma,
                is_truncated=sessions.is_truncated)
            loss = generic.masked_mean(elementwise, sessions.is_alive)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            # --- bookkeeping ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            step += steps_per_iteration
            log.record(step, finished.returns, loss=loss.item(),
                       epsilon=resolver.epsilon.get_value())
            if run.due(step, 50 * steps_per_iteration):
                run.save(step, agent, optimizer, log, {"sessions": sessions.continuation(),
                                                       "episodes": episodes.state_dict()})
    evaluation = play_episodes(agent, CartPole(batch_size=config.eval_episodes,
                                               seed=config.seed + 1),
                               config.eval_episodes, max_steps=500, greedy=True)
    log.finish(evaluation.returns)
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent}


if __name__ == "__main__":
    main()
