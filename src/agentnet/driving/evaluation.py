"""Greedy evaluation on Gymnasium: whole episodes on new environments, measured, optionally
recorded as videos."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium
import numpy as np
import torch

from ..agent import Agent
from ..environment.episodes import EpisodeStats
from ..layers.graph import get_all_layers
from ..records import as_list
from .checks import check_spaces

__all__ = ["evaluate"]


def evaluate(agent: Agent, make_env: Callable[[], gymnasium.Env], env_id: str | None,
             n_envs: int, flags: Mapping[str, Any], n_games: int = 1,
             record_video: str | None = None, max_steps: int | None = None,
             seed: int | None = None, name_prefix: str = "evaluation") -> EpisodeStats:
    """Play ``n_games`` whole episodes greedily (``flags`` plus ``greedy=True`` where a layer
    takes it) on new environments from ``make_env``, at most ``n_envs`` at a time, one per
    environment, in lockstep; arguments as :meth:`EnvPool.evaluate
    <agentnet.driving.EnvPool.evaluate>` takes them (``env_id``: the Gymnasium id
    ``make_env`` makes, if any; ``name_prefix``: the videos' names start with it)."""
    layers = get_all_layers(agent.action_layers + agent.state_layers)
    greedy = {"greedy": True} if any("greedy" in layer.accepted_flags for layer in layers) else {}
    react = agent.get_react_function(**{**flags, **greedy})
    returns: list[float] = []
    lengths: list[int] = []
    for start in range(0, int(n_games), n_envs):
        games = range(start, min(int(n_games), start + n_envs))
        envs: list[gymnasium.Env] = []
        try:
            for game in games:
                envs.append(_make_env(make_env, env_id, record_video,
                                      f"{name_prefix}-game-{game}"))
            played = _play(agent, react, envs, [None if seed is None else seed + g
                                                for g in games], max_steps)
        finally:
            for env in envs:
                env.close()
        returns += played[0]
        lengths += played[1]
    return EpisodeStats(torch.tensor(returns, dtype=torch.float32),
                        torch.tensor(lengths, dtype=torch.float32))


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
          seeds: Sequence[int | None], max_steps: int | None) -> tuple[list[float], list[int]]:
    """One episode in each of ``envs``, in lockstep."""
    parts = check_spaces(envs[0], agent.observation_layers)[0].parts
    observations = [parts(env.reset(seed=s)[0]) for env, s in zip(envs, seeds)]
    memories: list[torch.Tensor] = agent.get_zeros_like_memory(len(envs))
    running = np.ones(len(envs), dtype=bool)
    returns, lengths = [0.0] * len(envs), [0] * len(envs)
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
    return returns, lengths
