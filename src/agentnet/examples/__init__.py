"""agentnet's examples: each one readable file with a ``Config`` dataclass and
``main(total_steps=None, verbose=True, out_dir=None, resume=False, overwrite=False,
**overrides)``, which trains, evaluates and returns a dict of results:

- ``total_steps`` replaces ``Config.total_steps`` (the budget); ``overrides`` set any other
  ``Config`` field (:func:`make_config`);
- with ``out_dir`` the run keeps its settings, curves, plot and a checkpoint there
  (:class:`agentnet.utils.RunDirectory`); ``resume=True`` goes on from that checkpoint
  (examples whose environments' states cannot be saved refuse it), ``overwrite=True``
  replaces a run already there (a folder holding files is refused otherwise).

What the examples share beyond that is in the library: :func:`make_config`,
:class:`~agentnet.utils.RunDirectory` (the run folder: start or resume, save when due,
Ctrl-C) and :class:`~agentnet.utils.LinearSchedule` (exploration and step-size schedules);
each example's algorithm stays in its own file, top to bottom.

:data:`EXAMPLES` is the only list of them: the command line imports nothing else by name,
so a run folder's ``config.json`` cannot make it import a module of its choosing.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import torch

__all__ = ["EXAMPLES", "check_settings", "load_example", "load_run", "make_config",
           "make_env_by_id", "make_flat_task", "read_run", "warn_if_budget_below_learning_starts"]

_Config = TypeVar("_Config")

EXAMPLES = {
    "cartpole_a2c": "n-step advantage actor-critic on batched native CartPole",
    "cartpole_nstep_q": "n-step Q-learning on batched native CartPole, no replay",
    "gym_cartpole_dqn": "DQN on Gymnasium's CartPole-v1 (or any task with Discrete actions): "
                        "env pool, session pool, target network",
    "cartpole_ppo": "PPO with GAE on batched native CartPole",
    "cartpole_recurrent": "a GRU A2C agent on CartPole with the velocities hidden",
    "pendulum_naf": "normalized advantage functions on batched native Pendulum, with replay",
    "pendulum_ddpg": "deterministic policy gradient (DDPG) on native Pendulum, with replay",
    "pendulum_sac": "soft actor-critic (SAC) on native Pendulum, with replay",
    "pendulum_td3": "twin delayed DDPG (TD3) on native Pendulum, with replay",
    "pendulum_recurrent_sac": "a GRU SAC agent on Pendulum with the velocity hidden: stored "
                              "memories, burn-in",
    "mujoco_sac": "SAC on Gymnasium's MuJoCo tasks (InvertedPendulum-v5, HalfCheetah-v5...)",
    "mujoco_ppo": "PPO with a Gaussian policy on Gymnasium's MuJoCo tasks",
    "popgym_recurrent_ppo": "recurrent PPO (GRU, LSTM, window, attention, stack or no memory; "
                            "chunks through time) on POPGym's memory tasks or any task",
    "popgym_r2d2": "recurrent Q-learning from replay on POPGym, R2D2's recipe: stored memories, "
                   "burn-in, n-step double Q, prioritized sequences (needs popgym)",
    "lunar_lander_naf": "NAF on Gymnasium's LunarLanderContinuous-v3 (needs Box2D)",
    "boolean_reasoning": "a GRU agent asks before it answers: hidden-factor guessing",
    "stack_rnn_anbn": "a stack-augmented RNN learns a^n b^n or a^n b^m c^(n+m), via Recurrence",
    "name_generator": "a character-level GRU learns names and generates new ones, through "
                      "Recurrence",
    "atari_dqn": "DQN on Atari Breakout: conv agent, frame-window memory (needs a GPU to learn)",
    "atari_kungfu_a2c": "A2C on Atari Kung-Fu Master: conv agent, frame window, LSTM "
                        "(needs a GPU to learn)",
    "doom_basic": "DQN on ViZDoom's Basic scenario from pixels: conv agent, frame window "
                  "(needs ViZDoom)",
}


def load_example(name: str) -> ModuleType:
    """The module of the example ``name`` (``"cartpole_a2c"`` or its module name
    ``"agentnet.examples.cartpole_a2c"``); any other name raises ValueError, whatever
    modules exist.

    >>> load_example("cartpole_a2c").__name__
    'agentnet.examples.cartpole_a2c'
    >>> load_example("os")
    Traceback (most recent call last):
    ...
    ValueError: 'os' is not an agentnet example (examples: atari_dqn, atari_kungfu_a2c, \
boolean_reasoning, cartpole_a2c, cartpole_nstep_q, cartpole_ppo, cartpole_recurrent, \
doom_basic, gym_cartpole_dqn, lunar_lander_naf, mujoco_ppo, mujoco_sac, name_generator, \
pendulum_ddpg, pendulum_naf, pendulum_recurrent_sac, pendulum_sac, pendulum_td3, \
popgym_r2d2, popgym_recurrent_ppo, stack_rnn_anbn)
    """
    short = name.removeprefix(f"{__name__}.")
    if short not in EXAMPLES:
        raise ValueError(f"{name!r} is not an agentnet example (examples: "
                         f"{', '.join(sorted(EXAMPLES))})")
    return importlib.import_module(f"{__name__}.{short}")


def read_run(directory: str | os.PathLike[str]) -> tuple[ModuleType, Any]:
    """The example module and its ``Config`` of the run saved in ``directory``, reading data
    only: the example must be one of :data:`EXAMPLES`, every setting is checked against its
    ``Config``, and the run's task is made once (a ``module:EnvId`` whose module is not
    imported is refused; nothing is imported). The checkpoint keeps the settings the run was
    trained with: they win over a ``config.json`` edited by hand (a warning names the
    differences). Raises :class:`~agentnet.utils.runs.RunFolderError` or ValueError naming
    the file."""
    from ..utils.runs import RunDirectory, config_from_dict

    example, fields = RunDirectory.read_settings(directory)
    settings_file = Path(directory) / "config.json"
    try:
        module = load_example(example)
    except ValueError as error:
        raise ValueError(f"{settings_file}: {error}") from None
    config = config_from_dict(module.Config, fields, str(settings_file))
    run = RunDirectory(directory, module.__name__, config, resume=True)
    saved = run.saved_settings()
    if saved is not None:
        saved_config = config_from_dict(module.Config, saved, str(run.checkpoint))
        changed = [f"{name} ({getattr(config, name)!r} in config.json, "
                   f"{getattr(saved_config, name)!r} in the checkpoint)"
                   for name in fields if getattr(config, name) != getattr(saved_config, name)]
        if changed:
            warnings.warn(f"{settings_file} differs from the settings the checkpoint was "
                          f"trained with: {'; '.join(changed)}; the checkpoint's settings are "
                          f"used", stacklevel=2)
        config = saved_config
    if hasattr(module, "make_gymnasium_env"):  # the run's task (an env_id it refuses)
        import gymnasium

        try:
            module.make_gymnasium_env(config).close()
        except (ValueError, gymnasium.error.Error) as error:
            raise ValueError(f"{settings_file}: {error}") from None
    return module, config


def load_run(directory: str | os.PathLike[str], device: str | torch.device | None = None
             ) -> tuple[Any, Any]:
    """``(agent, config)`` of the run an example saved in ``directory`` (``agentnet train
    EXAMPLE --out DIR``, or ``main(out_dir=DIR)``): the agent its ``build_agent(config)``
    builds, with the weights of the last checkpoint, on ``device`` (the CPU if None), and
    the example's ``Config`` it was trained with. Reads data only (:func:`read_run`); raises
    as it does, and :class:`~agentnet.utils.persistence.PersistenceError` for a checkpoint
    that does not fit.

    >>> import tempfile
    >>> from agentnet.examples import cartpole_a2c
    >>> folder = tempfile.mkdtemp()
    >>> _ = cartpole_a2c.main(total_steps=512, verbose=False, out_dir=folder, eval_episodes=1)
    >>> agent, config = load_run(folder)
    >>> type(agent).__name__, config.total_steps
    ('Agent', 512)
    """
    from ..utils import persistence

    module, config = read_run(directory)
    agent = module.build_agent(config)
    persistence.load(agent, Path(directory) / "checkpoint.safetensors")
    if device is not None:
        agent.to(device)
    return agent, config


def check_settings(config: Any, example: str, *, ints_from: Mapping[str, int] = {},
                   in_unit_interval: tuple[str, ...] = (), positive: tuple[str, ...] = (),
                   non_negative: tuple[str, ...] = (), choices: Mapping[str, tuple[str, ...]] = {}
                   ) -> None:
    """Refuse settings that cannot train, naming the example and the field: ``ints_from``
    maps fields to the least int they take, ``in_unit_interval`` must lie in [0, 1],
    ``positive`` above 0, ``non_negative`` at or above 0, and ``choices`` maps fields to the
    names they take. ValueError otherwise.

    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class Config:
    ...     n_envs: int = 0
    >>> check_settings(Config(), "agentnet.examples.x", ints_from={"n_envs": 1})
    Traceback (most recent call last):
    ...
    ValueError: agentnet.examples.x: n_envs must be an int >= 1, got 0
    """
    for field, least in ints_from.items():
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{example}: {field} must be an int >= {least}, got {value!r}")
    for fields, holds, what in ((in_unit_interval, lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
                                (positive, lambda v: v > 0, "> 0"),
                                (non_negative, lambda v: v >= 0, ">= 0")):
        for field in fields:
            value = getattr(config, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not holds(
                    value):
                raise ValueError(f"{example}: {field} must be {what}, got {value!r}")
    for field, names in choices.items():
        if getattr(config, field) not in names:
            raise ValueError(f"{example}: {field} must be one of {', '.join(names)}, got "
                             f"{getattr(config, field)!r}")


def make_env_by_id(env_id: str, example: str, **kwargs: Any) -> Any:
    """``gymnasium.make(env_id, **kwargs)`` for the example (module name) ``example``.

    Gymnasium's ``module:EnvId`` form imports ``module`` first. It is accepted only when that
    module is imported already (``agentnet train --env module:EnvId`` imports it: the user's
    own words), so that importing it runs nothing: an example's ``env_id`` may come from a
    run folder's ``config.json``, and loading a run never imports code.

    >>> make_env_by_id("no_such_module:CartPole-v1", "agentnet.examples.mujoco_sac")
    Traceback (most recent call last):
    ...
    ValueError: agentnet.examples.mujoco_sac: env_id 'no_such_module:CartPole-v1' names a \
module that is not imported (no_such_module): a run's settings never import code; import it \
first (agentnet evaluate and train --resume: --import no_such_module)
    >>> import gymnasium.envs.classic_control  # imported: its name may now prefix an id
    >>> make_env_by_id("gymnasium.envs.classic_control:CartPole-v1", "x").spec.id
    'CartPole-v1'
    """
    module, colon, _ = env_id.rpartition(":")
    if colon and module not in sys.modules:
        raise ValueError(f"{example}: env_id {env_id!r} names a module that is not imported "
                         f"({module}): a run's settings never import code; import it first "
                         f"(agentnet evaluate and train --resume: --import {module})")
    import gymnasium

    return gymnasium.make(env_id, **kwargs)


def make_flat_task(env_id: str, example: str) -> Any:
    """The Gymnasium task ``env_id`` (:func:`make_env_by_id`) for an agent that reads one
    float vector and picks among actions: observations flattened to float32 ``[O]``
    (:class:`~agentnet.driving.FlatObservations`; a float32 vector is kept as it is),
    MultiDiscrete actions played as one
    Discrete (:class:`~agentnet.driving.DiscreteActions`), a Box of actions clipped to its
    bounds. ``popgym-...`` ids import POPGym, which registers them (the popgym extra).
    ValueError names ``example``, the task and the space it cannot play.

    >>> make_flat_task("FrozenLake-v1", "x").observation_space  # Discrete(16), one-hot
    Box(0.0, 1.0, (16,), float32)
    """
    import gymnasium
    import numpy as np

    from ..driving.wrappers import DiscreteActions, FlatObservations

    if env_id.startswith("popgym-") and env_id not in gymnasium.registry:
        import popgym  # noqa: F401  (registers popgym-* ids)
    env = make_env_by_id(env_id, example)
    actions, observations = env.action_space, env.observation_space
    problem = None
    if isinstance(observations, gymnasium.spaces.Box) and len(observations.shape) > 1:
        problem = (f"{env_id}'s observation space {observations} is not a vector (images "
                   f"need a convolutional agent)")
    elif not (isinstance(actions, (gymnasium.spaces.Discrete, gymnasium.spaces.MultiDiscrete))
              or isinstance(actions, gymnasium.spaces.Box) and len(actions.shape) == 1):
        problem = (f"{env_id}'s action space {actions} is not Discrete, MultiDiscrete or a "
                   f"Box of one dimension")
    if problem is not None:
        env.close()
        raise ValueError(f"{example}: {problem}")
    if isinstance(actions, gymnasium.spaces.MultiDiscrete):
        env = DiscreteActions(env)
    elif isinstance(actions, gymnasium.spaces.Box):
        env = gymnasium.wrappers.ClipAction(env)
    if (isinstance(observations, gymnasium.spaces.Box) and len(observations.shape) == 1
            and observations.dtype == np.float32):
        return env  # flat already: no wrapper to call on every step
    try:
        return FlatObservations(env)
    except ValueError as error:
        env.close()
        raise ValueError(f"{example}: {env_id}: {error}") from None


def warn_if_budget_below_learning_starts(config: Any, name: str) -> None:
    """Warn when ``config.total_steps`` ends before ``config.learning_starts``: such a run
    plays but never learns."""
    if config.total_steps < config.learning_starts:
        warnings.warn(f"{name}: total_steps={config.total_steps:,} is below learning_starts="
                      f"{config.learning_starts:,}: the agent will not learn", stacklevel=3)


def make_config(config_class: type[_Config], total_steps: int | None,
                overrides: Mapping[str, Any]) -> _Config:
    """An example's settings: ``config_class(**overrides)``, its ``total_steps`` replaced
    by ``total_steps`` unless that is None (what every example's ``main`` does first).

    A name that is not a field raises TypeError naming the example and the closest field:

    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class Config:
    ...     total_steps: int = 1_000
    ...     learning_rate: float = 1e-3
    >>> make_config(Config, 500, {"learning_rate": 3e-3})
    Config(total_steps=500, learning_rate=0.003)
    >>> make_config(Config, None, {"lerning_rate": 3e-3})
    Traceback (most recent call last):
    ...
    TypeError: agentnet.examples: unknown setting 'lerning_rate' (did you mean \
'learning_rate'? settings: learning_rate, total_steps)
    """
    fields = sorted(f.name for f in dataclasses.fields(config_class)  # type: ignore[arg-type]
                    if f.init)
    for name in overrides:
        if name not in fields:
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise TypeError(f"{config_class.__module__}: unknown setting {name!r} ({hint}"
                            f"settings: {', '.join(fields)})")
    if total_steps is not None:
        overrides = {**overrides, "total_steps": total_steps}
    return config_class(**overrides)
