"""Atari through ``ale-py`` with Gymnasium's own preprocessing (nothing is downloaded: the
``ale-py`` wheels ship the ROMs).

:func:`make_atari` makes one environment; give a pool a factory of them::

    pool = EnvPool(agent, functools.partial(make_atari, "Breakout", frame_stack=4), n_envs=8)

Frame stacking is either Gymnasium's ``FrameStackObservation`` (``frame_stack=4``, observations
``[4, 84, 84]``) or the agent's own memory: observe single frames ``[84, 84]`` and keep the last
four in an :class:`agentnet.memory.WindowAugmentation` (restarted at zeros with each episode).
"""
from __future__ import annotations

from typing import Any

import gymnasium

__all__ = ["make_atari"]


def make_atari(game: str = "Breakout", frame_skip: int = 4, screen_size: int = 84,
               frame_stack: int | None = None, noop_max: int = 30,
               terminal_on_life_loss: bool = False, grayscale: bool = True,
               render_mode: str | None = None, **make_kwargs: Any) -> gymnasium.Env:
    """An Atari game preprocessed as in Machado et al. (2018) by Gymnasium's
    ``AtariPreprocessing``: no-op starts, frame skipping with max-pooling of the last two frames,
    resizing to ``screen_size``, grayscale; ``FrameStackObservation`` on top if ``frame_stack``.

    Args:
        game: an ALE game name (``"Breakout"`` means ``"ALE/Breakout-v5"``) or a full id.
        frame_skip: emulator frames per step (the base environment is made with ``frameskip=1``;
            the preprocessing skips).
        screen_size: the side of the square observation.
        frame_stack: stack this many last frames (None: single frames).
        noop_max: at most this many no-op actions after each reset.
        terminal_on_life_loss: end episodes at each lost life (not recommended by Machado et al.).
        grayscale: grayscale frames (else RGB ``[..., 3]``).
        render_mode: e.g. ``"rgb_array"`` to record videos.
        **make_kwargs: more for ``gymnasium.make`` (e.g. ``repeat_action_probability=0.0``).

    Returns:
        A ``gymnasium.Env`` with uint8 observations ``[screen, screen]`` (``[k, screen, screen]``
        with ``frame_stack=k``; RGB adds a last axis of 3) and discrete actions.
    """
    try:
        import ale_py
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("make_atari needs ale-py and OpenCV: pip install ale-py "
                          "opencv-python-headless") from error
    gymnasium.register_envs(ale_py)
    env_id = game if "/" in game or "-v" in game else f"ALE/{game}-v5"
    env = gymnasium.make(env_id, frameskip=1, render_mode=render_mode, **make_kwargs)
    env = gymnasium.wrappers.AtariPreprocessing(
        env, noop_max=noop_max, frame_skip=frame_skip, screen_size=screen_size,
        terminal_on_life_loss=terminal_on_life_loss, grayscale_obs=grayscale, scale_obs=False)
    if frame_stack:
        env = gymnasium.wrappers.FrameStackObservation(env, stack_size=frame_stack)
    return env
