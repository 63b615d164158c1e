"""Greedy evaluation on Gymnasium: whole episodes on new environments, measured, optionally
recorded (videos, and the episodes' statistics as the original's gym ``Monitor`` wrote them)."""
from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import gymnasium
import numpy as np
import torch

from ..agent import Agent
from ..environment.episodes import EpisodeStats
from ..layers.graph import get_all_layers
from ..records import as_list
from .checks import check_spaces

__all__ = ["evaluate", "GameRewards", "Recording", "recording_of"]


class GameRewards(EpisodeStats):
    """What :meth:`EnvPool.evaluate <agentnet.driving.EnvPool.evaluate>` returns:
    :class:`~agentnet.environment.EpisodeStats` (float32 ``returns`` and ``lengths
    [n_games]``, read them by name) that also reads as the original's return, the list of
    each game's total reward: ``len``, indexing, iteration, ``in`` and numpy
    (``np.mean(pool.evaluate(...))``) see the ``n_games`` returns as Python floats, and
    ``float()`` of a one-game result is its return.

    >>> rewards = GameRewards(torch.tensor([1.0, 3.0]), torch.tensor([5.0, 7.0]))
    >>> list(rewards), rewards[1], float(np.mean(rewards)), rewards.lengths
    ([1.0, 3.0], 3.0, 2.0, tensor([5., 7.]))
    """

    __slots__ = ()

    def _values(self) -> list[float]:
        return [float(r) for r in self.returns.tolist()]

    def __len__(self) -> int:
        return int(self.returns.shape[0])

    def __getitem__(self, index: Any) -> Any:  # type: ignore[override]
        return self._values()[index]

    def __iter__(self) -> Iterator[float]:  # type: ignore[override]
        return iter(self._values())

    def __contains__(self, value: object) -> bool:
        return value in self._values()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self._values(), dtype=dtype)

    def __float__(self) -> float:
        if len(self) != 1:
            raise TypeError(f"float() of the rewards of {len(self)} games; index them")
        return self._values()[0]

    def __getnewargs__(self) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        return self.returns, self.lengths

    def _asdict(self) -> dict[str, Any]:
        return {"returns": self.returns, "lengths": self.lengths}

    def _replace(self, **changes: Any) -> GameRewards:
        return type(self)(**{**self._asdict(), **changes})

    def __repr__(self) -> str:
        return f"GameRewards({self._values()}, lengths={self.lengths.tolist()})"


class Recording(NamedTuple):
    """What :func:`evaluate` records, and where."""

    #: the directory of the recordings (None: nothing is recorded)
    directory: str | None
    #: a video of every game (``gymnasium.wrappers.RecordVideo``)
    videos: bool
    #: the games' statistics, ``<name_prefix>.stats.json``
    statistics: bool


def recording_of(save_path: str | os.PathLike[str] | None, use_monitor: bool | None,
                 record_video: bool | str | os.PathLike[str] | None) -> Recording:
    """What to record, from :meth:`EnvPool.evaluate`'s arguments (the original's and
    agentnet's): ``record_video`` a directory (agentnet's) records videos there (and, with
    ``use_monitor=True``, statistics); otherwise, once ``save_path``, ``use_monitor=True`` or
    ``record_video=True`` is given, the original's defaults fill the others in
    (``save_path="./records"``, ``use_monitor=True``, ``record_video=True``); with none of
    them, nothing is recorded.

    >>> recording_of(None, None, None)
    Recording(directory=None, videos=False, statistics=False)
    >>> recording_of("runs", None, False)
    Recording(directory='runs', videos=False, statistics=True)
    """
    if isinstance(record_video, (str, os.PathLike)):
        if save_path is not None and os.fspath(save_path) != os.fspath(record_video):
            raise ValueError(f"EnvPool.evaluate: record_video={os.fspath(record_video)!r} is a "
                             f"directory and save_path={os.fspath(save_path)!r} another; give "
                             f"one (or record_video=True with save_path)")
        return Recording(os.fspath(record_video), True, bool(use_monitor))
    if record_video is not None and not isinstance(record_video, (bool, np.bool_)):
        raise TypeError(f"EnvPool.evaluate: record_video must be a bool or a directory, got "
                        f"{type(record_video).__name__}")
    if save_path is None and use_monitor is not True and record_video is not True:
        return Recording(None, False, False)
    videos = True if record_video is None else bool(record_video)
    statistics = True if use_monitor is None else bool(use_monitor)
    if videos and not statistics:
        raise ValueError("EnvPool.evaluate: cannot video without gym monitor (as the original "
                         "refused): pass use_monitor=True, or record_video=False")
    return Recording("./records" if save_path is None else os.fspath(save_path), videos,
                     statistics)


def evaluate(agent: Agent, make_env: Callable[[], gymnasium.Env], env_id: str | None,
             n_envs: int, flags: Mapping[str, Any], n_games: int = 1,
             recording: Recording | None = None,
             max_steps: int | None = None, seed: int | None = None,
             name_prefix: str = "evaluation", verbose: bool = False) -> GameRewards:
    """Play ``n_games`` whole episodes greedily (``flags`` plus ``greedy=True`` where a layer
    takes it) on new environments from ``make_env``, at most ``n_envs`` at a time, one per
    environment, in lockstep; arguments as :meth:`EnvPool.evaluate
    <agentnet.driving.EnvPool.evaluate>` takes them (``env_id``: the Gymnasium id
    ``make_env`` makes, if any; ``recording``: see :func:`recording_of`; ``name_prefix``: the
    recorded files' names start with it; ``verbose``: print each game's end as the original
    did)."""
    recording = Recording(None, False, False) if recording is None else recording
    if recording.videos and importlib.util.find_spec("moviepy") is None:
        raise ImportError("EnvPool.evaluate: recording videos needs moviepy: pip install "
                          "'agentnet-torch[video]' (or record_video=False)")
    layers = get_all_layers(agent.action_layers + agent.state_layers)
    greedy = {"greedy": True} if any("greedy" in layer.accepted_flags for layer in layers) else {}
    react = agent.get_react_function(**{**flags, **greedy})
    video_directory = recording.directory if recording.videos else None
    returns: list[float] = []
    lengths: list[int] = []
    ends: list[float] = []
    started = time.time()
    for start in range(0, int(n_games), n_envs):
        games = range(start, min(int(n_games), start + n_envs))
        envs: list[gymnasium.Env] = []
        try:
            for game in games:
                envs.append(_make_env(make_env, env_id, video_directory,
                                      f"{name_prefix}-game-{game}"))
            played = _play(agent, react, envs, [None if seed is None else seed + g
                                                for g in games], max_steps)
        finally:
            for env in envs:
                env.close()
        if verbose:
            for game_return, length in zip(played[0], played[1]):
                print(f"Episode finished after {length} timesteps with reward={game_return}")
        returns += played[0]
        lengths += played[1]
        ends += played[2]
    if recording.statistics:
        _write_statistics(recording.directory, name_prefix, started, ends, lengths, returns)
    return GameRewards(torch.tensor(returns, dtype=torch.float32),
                       torch.tensor(lengths, dtype=torch.float32))


def _write_statistics(directory: str | None, name_prefix: str, started: float,
                      ends: list[float], lengths: list[int], returns: list[float]) -> None:
    """``<directory>/<name_prefix>.stats.json`` with the fields of the gym ``Monitor``'s
    statistics file: ``initial_reset_timestamp``, ``timestamps`` (each episode's end),
    ``episode_lengths``, ``episode_rewards``."""
    assert directory is not None  # recording_of gives statistics a directory
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f"{name_prefix}.stats.json"), "w") as file:
        json.dump({"initial_reset_timestamp": started, "timestamps": ends,
                   "episode_lengths": lengths, "episode_rewards": returns}, file)


def _make_env(make_env: Callable[[], gymnasium.Env], env_id: str | None,
              record_video: str | None, name_prefix: str) -> gymnasium.Env:
    if record_video is None:
        return make_env()
    env = gymnasium.make(env_id, render_mode="rgb_array") if env_id is not None else make_env()
    if env.render_mode != "rgb_array":
        env.close()
        raise ValueError(f"EnvPool.evaluate: record_video needs environments made with "
                         f"render_mode='rgb_array', the factory's have {env.render_mode!r}")
    return gymnasium.wrappers.RecordVideo(
        env, record_video, episode_trigger=lambda _: True, disable_logger=True,
        name_prefix=name_prefix)


def _play(agent: Agent, react: Callable[..., Any], envs: list[gymnasium.Env],
          seeds: Sequence[int | None], max_steps: int | None
          ) -> tuple[list[float], list[int], list[float]]:
    """One episode in each of ``envs``, in lockstep: returns, lengths and when each ended
    (``time.time()``)."""
    parts = check_spaces(envs[0], agent.observation_layers)[0].parts
    observations = [parts(env.reset(seed=s)[0]) for env, s in zip(envs, seeds)]
    memories: list[torch.Tensor] = agent.get_zeros_like_memory(len(envs))
    running = np.ones(len(envs), dtype=bool)
    returns, lengths = [0.0] * len(envs), [0] * len(envs)
    ends = [0.0] * len(envs)
    n_actions = agent.layout.n_actions
    while running.any() and (max_steps is None or max(lengths) < max_steps):
        batch = [np.stack([o[k] for o in observations]) for k in range(len(observations[0]))]
        reaction = react(batch, memories)
        memories = reaction.new_states
        actions = as_list(reaction.actions)
        for i in np.flatnonzero(running):
            action = actions[0][i] if n_actions == 1 else tuple(a[i] for a in actions)
            observation, reward, terminated, truncated, _ = envs[i].step(action)
            observations[i] = parts(observation)
            returns[i] += float(reward)
            lengths[i] += 1
            if terminated or truncated:
                running[i] = False
                ends[i] = time.time()
    now = time.time()  # episodes cut at max_steps end now
    return returns, lengths, [end if end else now for end in ends]
