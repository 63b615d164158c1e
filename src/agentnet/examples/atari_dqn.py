"""DQN on Atari Breakout: a convolutional agent that remembers its last four frames.

The DeepMind recipe (Mnih et al., 2015) in agentnet's terms. Eight Breakout games (``ale-py``,
whose wheels ship the ROM; Gymnasium's ``AtariPreprocessing`` skips frames and shrinks them to
84x84 grayscale) are played through an ``EnvPool``. The agent observes one frame per tick and
keeps the last four in a ``WindowAugmentation`` memory, not a frame-stack wrapper: the replay
pool stores each frame once plus the window that preceded each recorded session, and replay
rebuilds the windows with the recorded frames (memory restarts with each episode). The
learning is ``gym_cartpole_dqn``'s loop unchanged: n-step Q-learning with the Huber loss from
replayed sessions, a target network copied every few thousand updates, and, as in the paper,
the rewards' signs instead of the rewards.

It needs a GPU to learn in reasonable time (the default 2M steps take hours there, days on
a CPU, where its test runs a few hundred steps)::

    pip install 'agentnet-torch[atari]'
    agentnet train atari_dqn --out runs/breakout      # then: agentnet evaluate runs/breakout
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium
import torch

import agentnet
from agentnet import layers as L
from agentnet.environment.atari import make_atari
from agentnet.examples import gym_cartpole_dqn, make_config
from agentnet.memory import WindowAugmentation
from agentnet.resolver import EpsilonGreedyResolver
from agentnet.utils import RunDirectory


@dataclass
class Config(gym_cartpole_dqn.Settings):
    game: str = "Breakout"
    """the ALE game (its ROM ships with ale-py)"""
    total_steps: int = 2_000_000
    """agent steps to train for, all games together (4 emulator frames each)"""
    frames: int = 4
    """frames the agent's window memory holds"""
    n_envs: int = 8
    """games played at once"""
    session_length: int = 8
    """ticks per recorded session"""
    pool_capacity: int = 25_000
    """sessions the replay pool holds (200k frames, 2.1 GB with the windows that precede
    the sessions)"""
    batch_sessions: int = 4
    """sessions per replayed batch (32 ticks)"""
    updates_per_collection: int = 16
    """gradient steps after each collection of n_envs sessions (one per 4 agent steps)"""
    learning_starts: int = 20_000
    """agent steps collected before learning"""
    n_steps: int = 3
    """the n of n-step Q-learning (Rainbow's 3)"""
    learning_rate: float = 1e-4
    """Adam's step size at the start ..."""
    learning_rate_end: float = 1e-4
    """... and at the end"""
    target_every: int = 2_000
    """gradient steps between copies of the agent into the target network"""
    epsilon_end: float = 0.01
    """exploration after its decay ..."""
    epsilon_decay_fraction: float = 0.1
    """... over this fraction of training"""
    clip_rewards: bool = True
    """learn from the rewards' signs, as DQN does on Atari"""
    eval_episodes: int = 8
    """greedy games played after training"""
    eval_max_steps: int | None = 4_500
    """cut evaluation games at 5 minutes of play (18k frames), as DQN's evaluations did"""
    save_every: int = 100_000
    """agent steps between checkpoints (with ``out_dir``; also every 2 minutes)"""
    device: str = "auto"
    """where the agent and the replay pool live: "auto" (CUDA if present), "cpu", "cuda"..."""


def make_gymnasium_env(config: Config | None = None) -> gymnasium.Env:
    """One preprocessed game: uint8 frames ``[84, 84]``, the game's discrete actions."""
    return make_atari((config or Config()).game)


def build_agent(config: Config) -> agentnet.Agent:
    """Nature DQN's network on a window of the last frames; epsilon-greedy actions."""
    probe = make_gymnasium_env(config)
    action_space = probe.action_space
    assert isinstance(action_space, gymnasium.spaces.Discrete)  # the game's actions
    n_actions = action_space.n
    probe.close()
    frame = L.InputLayer((None, 84, 84), dtype=torch.uint8, name="frame")
    prev_window = L.InputLayer((None, config.frames, 84, 84), dtype=torch.uint8,
                               name="prev_window")
    window = WindowAugmentation(frame, prev_window, name="window")
    x: L.Layer = L.LambdaLayer(window, lambda frames: frames.float() / 255, name="scaled")
    x = L.Conv2DLayer(x, 32, 8, stride=4, name="conv1")
    x = L.Conv2DLayer(x, 64, 4, stride=2, name="conv2")
    x = L.Conv2DLayer(x, 64, 3, stride=1, name="conv3")
    x = L.DenseLayer(L.FlattenLayer(x, name="flat"), 512, name="dense")
    qvalues = L.DenseLayer(x, n_actions, nonlinearity=None, name="q")
    resolver = EpsilonGreedyResolver(qvalues, epsilon=config.epsilon_start, name="resolver")
    return agentnet.Agent(frame, {window: prev_window}, qvalues, resolver)


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False,
         on_progress: Callable[[int, agentnet.Agent], bool | None] | None = None,
         **overrides) -> dict:
    """Train, evaluate greedily, and return ``{"eval_mean_return", "log", "agent", "updates"}``
    (the arguments: :mod:`agentnet.examples`).

    With ``out_dir`` the run keeps its settings, curves, plot and the agent there (for
    ``agentnet evaluate``); it cannot be resumed (the games' states are not saved).
    """
    config = make_config(Config, total_steps, overrides)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite, resumable=False)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" \
        else config.device
    torch.manual_seed(config.seed)
    agent = build_agent(config).to(device)
    return gym_cartpole_dqn.train(agent, functools.partial(make_gymnasium_env, config), config,
                                  config.game, verbose, run, on_progress)


if __name__ == "__main__":
    main()
