"""DQN on ViZDoom's Basic scenario: shoot the monster in front of you, from the screen's pixels.

The original AgentNet's ``Basicdoom.ipynb`` on today's stack. ViZDoom's own Gymnasium
environment (``VizdoomBasic-v1``; the ``vizdoom`` wheel ships the scenario and the Freedoom
data: nothing is downloaded) renders a small grayscale screen (160x120, no window) and repeats
each action for 4 game tics, as the notebook's ``SkipWrapper(4)``; the original's
``PreprocessImage`` wrapper keeps the band of rows the monster stands in and shrinks it to
40x10. The agent observes one frame per tick and keeps the last two in a
``WindowAugmentation`` memory (the notebook's kept four), reads them with a small
convolutional network and picks one of four actions (nothing, attack, move right, move left)
epsilon-greedily. The learning is ``gym_cartpole_dqn``'s loop unchanged: sessions recorded by
an ``EnvPool`` into a session pool, n-step Q-learning with the Huber loss on replayed sessions,
a target network copied every 50 updates.

An episode: the monster stands somewhere along the far wall; each tic costs 1, each shot 5,
the kill earns 106 and ends the episode, which otherwise ends after 300 tics (75 steps, -300).
Random play scores about -160 to -220 per episode, a good policy 80 to 95.

One setting matters most on this task: the Q-values are learned in units of 100 points
(``q_scale``); without it they crawl from 0 towards Basic's scale of hundreds in steps of
Adam's size, and the greedy agent never shoots in 20k steps. The defaults learn to aim in
about 6k to 10k steps; a default run (20k steps) takes 70 to 80 s on one CPU thread::

    pip install 'agentnet-torch[doom]'
    agentnet train doom_basic --out runs/doom      # then: agentnet evaluate runs/doom
"""
from __future__ import annotations

import functools
import operator
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium
import numpy as np
import torch

import agentnet
from agentnet import layers as L
from agentnet.examples import gym_cartpole_dqn, make_config, make_env_by_id
from agentnet.experiments.openai_gym.wrappers import PreprocessImage
from agentnet.memory import WindowAugmentation
from agentnet.resolver import EpsilonGreedyResolver
from agentnet.utils import RunDirectory


@dataclass
class Config(gym_cartpole_dqn.Settings):
    scenario: str = "VizdoomBasic-v1"
    """the ViZDoom Gymnasium id (its scenarios ship with the vizdoom wheel)"""
    frame_skip: int = 4
    """game tics each action is repeated for (one agent step)"""
    screen_top: int = 40
    """the first of ViZDoom's 120 screen rows the agent sees ...."""
    screen_bottom: int = 80
    """... and the row after its last (the band the monster stands in)"""
    height: int = 10
    """rows of the agent's grayscale screen (the band shrunk) ..."""
    width: int = 40
    """... and its columns (from ViZDoom's 160)"""
    frames: int = 2
    """frames the agent's window memory holds (the notebook's 4 learned more slowly here:
    a good episode lasts a few steps, so the window is mostly the zeros it starts with)"""
    q_scale: float = 100.0
    """the Q-value head's outputs are multiplied by this: the network learns Q-values in
    units of ``q_scale`` points (Basic's returns span -300 to 100)"""
    total_steps: int = 20_000
    """agent steps to train for, all games together"""
    n_envs: int = 8
    """games played at once"""
    session_length: int = 10
    """ticks per recorded session (the notebook's SEQ_LENGTH)"""
    pool_capacity: int = 1_000
    """sessions the replay pool holds (the notebook's 1k)"""
    batch_sessions: int = 32
    """sessions per replayed batch"""
    updates_per_collection: int = 8
    """gradient steps after each collection of n_envs sessions"""
    learning_starts: int = 1_000
    """agent steps collected before learning"""
    n_steps: int = 8
    """the n of n-step Q-learning (a kill's reward reaches 8 steps back at once)"""
    gamma: float = 0.95
    """discount (the notebook's was 0.99)"""
    learning_rate: float = 2e-3
    """Adam's step size at the start ..."""
    learning_rate_end: float = 0.0
    """... changing linearly to this at the end of training"""
    target_every: int = 50
    """gradient steps between copies of the agent into the target network"""
    epsilon_end: float = 0.05
    """exploration after its decay (the notebook's 0.05) ..."""
    epsilon_decay_fraction: float = 0.3
    """... over this fraction of training"""
    eval_episodes: int = 20
    """greedy games played after training (the notebook's 20)"""
    save_every: int = 5_000
    """agent steps between checkpoints (with ``out_dir``; also every 2 minutes)"""


def make_gymnasium_env(config: Config | None = None) -> gymnasium.Env:
    """One Basic game: float32 screens ``[1, height, width]`` in [0, 1], 4 discrete actions."""
    config = config or Config()
    try:
        import vizdoom.gymnasium_wrapper  # noqa: F401  (registers the Vizdoom* ids)
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("doom_basic needs ViZDoom: pip install 'agentnet-torch[doom]'",
                          name="vizdoom") from error
    # ViZDoom keeps its settings (_vizdoom.ini) in the working directory unless told where
    env = make_env_by_id(config.scenario, __name__, frame_skip=config.frame_skip,
                         screen_resolution="RES_160X120", screen_format="GRAY8",
                         doom_config_path=os.path.join(tempfile.gettempdir(),
                                                       "agentnet_vizdoom.ini"))
    screen_space = env.observation_space["screen"]  # type: ignore[index]
    env = gymnasium.wrappers.TransformObservation(env, operator.itemgetter("screen"),
                                                  screen_space)
    return PreprocessImage(env, height=config.height, width=config.width, grayscale=True,
                           crop=functools.partial(_rows, config.screen_top,
                                                  config.screen_bottom))


def _rows(top: int, bottom: int, screen: np.ndarray) -> np.ndarray:
    """The rows ``top:bottom`` of a screen ``[rows, columns, colors]``."""
    return screen[top:bottom]


def build_agent(config: Config) -> agentnet.Agent:
    """A small convolutional network on a window of the last frames; epsilon-greedy actions."""
    probe = make_gymnasium_env(config)
    action_space = probe.action_space
    probe.close()
    if not isinstance(action_space, gymnasium.spaces.Discrete):
        raise ValueError(f"doom_basic: {config.scenario} has actions {action_space}; the "
                         f"agent needs Discrete ones (an id without -MultiBinary)")
    n_actions = int(action_space.n)
    screen = (config.height, config.width)
    frame = L.InputLayer((None, 1, *screen), name="frame")
    prev_window = L.InputLayer((None, config.frames, 1, *screen), name="prev_window")
    window = WindowAugmentation(frame, prev_window, name="window")
    # the window's frames as the convolution's channels, as the notebook's reshape
    x: L.Layer = L.ReshapeLayer(window, ([0], config.frames, *screen), name="frames")
    x = L.Conv2DLayer(x, 16, (3, 5), stride=(1, 2), name="conv1")
    x = L.Conv2DLayer(x, 32, 3, stride=2, name="conv2")
    x = L.DenseLayer(L.FlattenLayer(x, name="flat"), 128, name="dense")
    x = L.DenseLayer(x, n_actions, nonlinearity=None, name="q_scaled")
    qvalues = L.LambdaLayer(x, lambda q: q * config.q_scale, name="q")
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
    torch.manual_seed(config.seed)
    return gym_cartpole_dqn.train(build_agent(config),
                                  functools.partial(make_gymnasium_env, config), config,
                                  config.scenario, verbose, run, on_progress)


if __name__ == "__main__":
    main()
