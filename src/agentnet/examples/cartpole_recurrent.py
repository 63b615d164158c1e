"""A recurrent actor-critic on CartPole with the velocities hidden: memory as a necessity.

The agent sees only the cart's position and the pole's angle (:class:`MaskedObservations`),
so it must remember earlier ticks to tell which way things move. A GRU agent trained by
n-step advantage actor-critic on batched native sessions learns to balance; the same agent
with Dense layers in place of its GRUs (``memory=False``) cannot. Memory is carried from one
iteration to the next and restarts at zeros where an episode starts (``get_sessions`` does
it with ``autoreset``); the loss backpropagates through the memory over each iteration's
ticks. Evaluated greedily on 100 fresh episodes.

    python -m agentnet.examples.cartpole_recurrent
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.environment import CartPole, EpisodeTracker, MaskedObservations, play_episodes
from agentnet.examples import make_config
from agentnet.examples.cartpole_a2c import actor_critic_loss
from agentnet.memory import GRUCell
from agentnet.resolver import ProbabilisticResolver
from agentnet.utils import LinearSchedule, RunDirectory

#: the observation components shown: x and theta (the velocities x_dot, theta_dot are hidden)
KEEP = (0, 2)


@dataclass
class Config:
    total_steps: int = 1_000_000
    """environment steps to train for (sessions x ticks)"""
    memory: bool = True
    """GRU memories (True) or Dense layers of the same width in their place (False)"""
    n_sessions: int = 32
    """sessions played in parallel"""
    session_length: int = 32
    """ticks per iteration (one optimizer step each, backpropagated through the memory)"""
    n_steps: int = 32
    """the n of the n-step references and advantages"""
    gamma: float = 0.99
    """discount"""
    learning_rate: float = 3e-3
    """Adam's step size at the start, annealed linearly to 0"""
    entropy_regularization: float = 0.001
    """weight of the entropy bonus (0.01 makes the balancing policy collapse more often)"""
    value_weight: float = 0.5
    """weight of the critic's loss"""
    observation_scale: tuple[float, ...] = (4.0, 1.0)
    """multiplies (x, theta) as the agent reads them: x changes little from tick to tick,
    and the memory must infer the cart's velocity from those changes"""
    hidden: int = 64
    """units in each memory (or Dense layer in its place) and each hidden layer"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 100
    """greedy episodes played after training"""


def make_env(batch_size: int, seed: int, autoreset: bool = False) -> MaskedObservations:
    """Native CartPole showing only x and theta."""
    return MaskedObservations(CartPole(batch_size=batch_size, seed=seed, autoreset=autoreset),
                              keep=KEEP)


class _Scale(nn.Module):
    """Multiplies the observation by fixed factors, kept in a buffer so that they follow the
    agent's ``.to(device)`` (no host-to-device copy per tick)."""

    factors: torch.Tensor

    def __init__(self, factors: tuple[float, ...]):
        super().__init__()
        self.register_buffer("factors", torch.tensor(factors))

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return observation * self.factors


def make_gymnasium_env(config: Config | None = None) -> Any:
    """Gymnasium's CartPole-v1 showing only what the agent sees (for ``agentnet evaluate``)."""
    import gymnasium  # only evaluation needs it: training runs on the native CartPole

    env = gymnasium.make("CartPole-v1")
    space = env.observation_space
    assert isinstance(space, gymnasium.spaces.Box)
    keep = list(KEEP)
    return gymnasium.wrappers.TransformObservation(
        env, lambda observation: observation[keep],
        gymnasium.spaces.Box(space.low[keep], space.high[keep], dtype=space.dtype))


def build_agent(config: Config) -> agentnet.Agent:
    """Separate actor and critic, each a GRU memory (or a Dense layer) over the scaled
    observation, then a hidden layer: a softmax policy and a state value. With one shared
    memory the critic's large errors swamp what the actor needs to remember."""
    observation = L.InputLayer((None, len(KEEP)), name="observation")
    scaled = L.ModuleLayer(observation, _Scale(config.observation_scale), name="scaled")
    agent_states: dict[L.Layer, L.Layer] = {}

    def tower(name: str) -> L.Layer:
        hidden: L.Layer
        if config.memory:
            prev_memory = L.InputLayer((None, config.hidden), name=f"{name}_prev_gru")
            hidden = GRUCell(prev_memory, scaled, name=f"{name}_gru")
            agent_states[hidden] = prev_memory
        else:
            hidden = L.DenseLayer(scaled, config.hidden, nonlinearity=torch.tanh,
                                  name=f"{name}_dense")
        return L.DenseLayer(hidden, config.hidden, nonlinearity=torch.tanh,
                            name=f"{name}_hidden")

    probabilities = L.DenseLayer(tower("actor"), 2, nonlinearity=lambda x: torch.softmax(x, -1),
                                 name="policy")
    value = L.DenseLayer(tower("critic"), 1, nonlinearity=None, name="value")
    return agentnet.Agent(observation, agent_states, policy_estimators=[probabilities, value],
                          action_layers=ProbabilisticResolver(probabilities, name="sampler"))


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False, **overrides) -> dict:
    """Train, evaluate, and return ``{"eval_mean_return", "log", "agent"}`` (the arguments:
    :mod:`agentnet.examples`)."""
    config = make_config(Config, total_steps, overrides)
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate)
    env = make_env(config.n_sessions, config.seed, autoreset=True)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    lr_factor = LinearSchedule(1.0, 0.0, config.total_steps)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite)
    step, carry = run.start(agent, optimizer, log, {"episodes": episodes},
                            batch_size=config.n_sessions)
    sessions = carry.get("sessions")  # None: a new run, new episodes (memory at zeros)
    steps_per_iteration = config.n_sessions * config.session_length
    with run:
        while step < config.total_steps:
            # --- schedule (plumbing): the step size anneals linearly ---
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * lr_factor(step)
            # --- the algorithm: play on (memory carried over), then one actor-critic step ---
            sessions = agent.get_sessions(env, config.session_length, continue_from=sessions)
            loss = actor_critic_loss(sessions, config)  # the same A2C loss as cartpole_a2c's
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
    evaluation = play_episodes(agent, make_env(config.eval_episodes, config.seed + 1),
                               config.eval_episodes, max_steps=500, greedy=True)
    log.finish(evaluation.returns)
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent}


if __name__ == "__main__":
    main()
