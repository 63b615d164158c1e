"""Gymnasium pools: an agent playing many Gymnasium environments, recorded as sessions.

:class:`EnvPool` (alias ``GamePool``, the original's names) runs ``n_envs`` Gymnasium
environments, each on its own so that one environment can fail, hang or die and be recreated
without touching the others: with ``vectorization="sync"`` the ``gymnasium.Env`` objects are
stepped directly in this process (the pool emulates Gymnasium's vector autoreset modes itself),
with ``"async"`` each sits in its own ``AsyncVectorEnv`` of one (a worker process). Each tick it
asks the agent for actions (observations gathered into one preallocated array and converted to
the agent's device once), keeps the agent's memory per environment, and records sessions
``[n_envs, n_steps, ...]`` that follow :class:`~agentnet.agent.Sessions`' episode-end
contract, so that every objective and the replay take them as they are:

- an episode's last tick ``t`` is alive; tick ``t + 1`` is dead and observes the state the
  episode ended in (for a time limit, the bootstrap target); tick ``t + 2`` starts the next
  episode, where memory restarts at zeros. Dead ticks earn 0.
- ``is_truncated[t]`` is ``truncated and not terminated`` (both at once counts as terminated).
- Gymnasium's autoreset modes say when an environment is reset after an episode's end: with
  ``NEXT_STEP`` (its default) on the dead tick (the step after the end only resets; its action
  is ignored and it is never recorded as a transition), with ``SAME_STEP`` (the final
  observation from ``info["final_obs"]``) and ``DISABLED`` (an explicit reset) right after the
  last step. The sessions are the same in every mode; only when a reset runs (and when a
  failing one is counted) differs.
- A failure (an exception in ``step``/``reset``, a malformed return from them (an
  :class:`~agentnet.driving.checks.EnvOutputError`, see :class:`EnvPool`), a dead worker
  process, a step slower than ``step_timeout``) aborts that environment's episode: the tick is
  its last (reward 0, ended as a termination, no bootstrap), the next tick is dead and shows
  the observation the agent acted on, and a new episode starts from an environment recreated
  from the factory. A reset failing after a completed last step (``DISABLED``, and
  ``SAME_STEP`` in ``"sync"``) keeps that step as recorded and starts the next episode in a
  recreated environment. Other environments are untouched. ``pool.restarts`` counts
  recreations, ``pool.failures`` says what happened. The same failure in every environment at
  once is a mistake, not a fault, and raises (see :class:`EnvPool`).

>>> import torch
>>> from agentnet import Agent, layers as L
>>> from agentnet.resolver import EpsilonGreedyResolver
>>> obs = L.InputLayer((None, 4), name="observation")
>>> q = L.DenseLayer(obs, num_units=2, nonlinearity=None, name="q")
>>> agent = Agent(obs, policy_estimators=q, action_layers=EpsilonGreedyResolver(q))
>>> with EnvPool(agent, "CartPole-v1", n_envs=2, seed=0) as pool:
...     sessions = pool.interact(5)
>>> sessions.observations.shape, sessions.actions.shape, sessions.is_alive.dtype
(torch.Size([2, 5, 4]), torch.Size([2, 5]), torch.bool)
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode

from ..agent import Agent
from ..environment.session_pool import SessionPoolEnvironment
from ..layers.base import check_flags
from ..records import Sessions
from . import common
from .evaluation import GameRewards, evaluate, recording_of
from .original import PoolSessions, Preprocess, as_pool_sessions, update_experience_replay
from .recording import Recorder
from .slots import EnvFailure, EnvSlots
from .stepping import Stepper

__all__ = ["EnvPool", "GamePool"]


def _register_atari() -> None:
    """Register ale-py's Atari ids (``ALE/Breakout-v5``, and the original's
    ``SpaceInvaders-v0``) with Gymnasium when ale-py is installed, as ``import gym`` did for
    the original AgentNet: a pool can be given such an id as it is."""
    try:
        import ale_py
    except ImportError:  # pragma: no cover - depends on the installation
        return
    gymnasium.register_envs(ale_py)


_register_atari()


class EnvPool:
    """``n_envs`` Gymnasium environments played by an agent, recorded as sessions.

    Args:
        agent: an :class:`agentnet.Agent`; its observation layers take the environments'
            observations (a Tuple space in layer order, a Dict space by layer name), its
            action layers give the actions.
        env: a Gymnasium id (``"CartPole-v1"``) or a zero-argument factory returning a
            ``gymnasium.Env`` (picklable by cloudpickle for ``"async"``, e.g. a
            ``functools.partial``).
        n_envs: how many environments (rows of the sessions); 8 if not given. The original
            AgentNet's ``n_games=`` is accepted for it (its default was 1: code written for
            the original that relied on it gets 8; pass ``n_envs=1`` for the original's).
        vectorization: ``"sync"`` (stepped one after another in this process) or ``"async"``
            (one worker process each).
        autoreset_mode: a ``gymnasium.vector.AutoresetMode`` or its name; None for Gymnasium's
            default, ``NEXT_STEP``.
        max_consecutive_failures: an environment failing this many times in a row (without
            a successful step between) raises ``RuntimeError`` from the last exception (the
            pool is then broken: close it); 1 never recreates. While the pool is being built,
            an environment that cannot be made or reset is a mistake and raises at once.
        step_timeout: seconds an ``"async"`` environment may take to step or reset before it
            counts as hung (its worker is terminated and it is recreated). None waits forever.
        seed: environment ``i`` is first reset with seed ``seed + i`` (Gymnasium's vector
            convention); its ``k``-th recreation with a seed drawn from ``(seed, i, k)``. None
            for unseeded environments.
        vector_kwargs: more arguments for each ``AsyncVectorEnv`` (e.g. ``context="spawn"``,
            ``shared_memory=False``); ``"async"`` only.
        make_env: the original's name of ``env`` (by keyword).
        max_size: how many sessions :meth:`update` keeps in :attr:`experience_replay` when
            appending (None: all), as the original's.
        **flags: passed to the agent's react function (e.g. ``greedy=True``).

    Sessions carry on across :meth:`interact` calls: the pool remembers each environment's
    pending observation, the agent's memory and whether the last tick was alive.

    Every ``reset`` and ``step`` return is checked, in both vectorizations (``"async"`` checks
    in the worker process): an observation must have each observation layer's part of the
    observation space's shape exactly (nothing is broadcast: a scalar or a ``(1,)`` array for a
    ``(4,)`` space is refused) and a dtype of a kind that fits the space's (integers or floats
    for a float space, integers for an integer one, bools for a bool one), in a dict (a Dict
    space) or a tuple (a Tuple space); a reward must be a real scalar (a Python or numpy
    int, float or bool, or a 0-d array of one; a 1-element array is refused); ``terminated``
    and ``truncated`` bools (Python, numpy, or 0-d bool arrays); ``info`` a dict. Anything else
    is an :class:`~agentnet.driving.checks.EnvOutputError`, a failure of that environment like
    an exception it raised: recorded in :attr:`failures`, its row's episode aborted, the
    environment recreated, a ``RuntimeWarning`` naming the environment (index and factory),
    the field and what was received against what was expected.

    Failures that are the user's mistake rather than an environment's fault raise
    ``RuntimeError`` from :meth:`interact` instead of recreating environments without end:

    - with ``n_envs >= 2``, when every environment fails in ``step`` on the same tick with the
      same exception type (a hang or a dead worker process excepted), e.g. actions that do
      not fit the action space: the failures are recorded, no environment is recreated;
    - when one environment fails ``max_consecutive_failures`` times in a row (above).

    The error names the exception, the action given to the environment, the action space, and
    whether the action fits it (if not, the likely cause: e.g. an agent with two action layers
    gives each environment a tuple). The pool is then broken: close it.
    """

    def __init__(self, agent: Agent, env: str | Callable[[], gymnasium.Env] | None = None,
                 n_envs: int | None = None, vectorization: str = "sync",
                 autoreset_mode: Any = None, max_consecutive_failures: int = 5,
                 step_timeout: float | None = None, seed: int | None = None,
                 vector_kwargs: dict[str, Any] | None = None, *,
                 make_env: str | Callable[[], gymnasium.Env] | None = None,
                 n_games: int | None = None, max_size: int | None = None, **flags: Any):
        for ours, theirs, name in ((env, make_env, "env"), (n_envs, n_games, "n_envs")):
            if ours is not None and theirs is not None:
                raise TypeError(f"EnvPool: give {name} or the original's name for it "
                                f"({'make_env' if name == 'env' else 'n_games'}), not both")
        env = env if env is not None else make_env
        if env is None:
            raise TypeError("EnvPool: give env (a Gymnasium id or a factory)")
        n_envs = n_envs if n_envs is not None else 8 if n_games is None else n_games
        if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
            raise ValueError(f"EnvPool: max_size must be a positive int, got {max_size!r}")
        self.max_size = max_size
        self._experience_replay: SessionPoolEnvironment | None = None
        if isinstance(env, str):
            self.env_id: str | None = env
            self.make_env: Callable[[], gymnasium.Env] = functools.partial(gymnasium.make, env)
        elif callable(env):
            self.env_id, self.make_env = None, env
        else:
            raise TypeError(f"EnvPool: env must be a Gymnasium id or a zero-argument factory, "
                            f"got {type(env).__name__}")
        if vectorization not in ("sync", "async"):
            raise ValueError(f"EnvPool: vectorization must be 'sync' or 'async', "
                             f"got {vectorization!r}")
        if int(n_envs) < 1 or int(max_consecutive_failures) < 1:
            raise ValueError(f"EnvPool: n_envs and max_consecutive_failures must be positive, "
                             f"got {n_envs} and {max_consecutive_failures}")
        if step_timeout is not None and vectorization != "async":
            raise ValueError("EnvPool: step_timeout needs vectorization='async' (a step in this "
                             "process cannot be interrupted)")
        if step_timeout is not None and not step_timeout > 0:
            raise ValueError(f"EnvPool: step_timeout must be positive, got {step_timeout}")
        if vector_kwargs and vectorization != "async":
            raise ValueError(f"EnvPool: vector_kwargs ({', '.join(vector_kwargs)}) need "
                             f"vectorization='async' (with 'sync' the environments are stepped "
                             f"directly, in no vector environment)")
        check_flags(flags, agent.get_tick_plan().layers, "EnvPool")
        self.agent = agent
        self.n_envs = int(n_envs)
        self.vectorization = vectorization
        self.autoreset_mode = (AutoresetMode.NEXT_STEP if autoreset_mode is None
                               else AutoresetMode(autoreset_mode))
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.step_timeout = step_timeout
        self.seed = seed
        self.vector_kwargs = dict(vector_kwargs or {})
        self.flags = flags
        self.closed = False
        self._evaluations = 0
        self._slots = EnvSlots(self.make_env, self.env_id, self.n_envs, vectorization,
                               self.autoreset_mode, self.max_consecutive_failures, step_timeout,
                               seed, self.vector_kwargs, agent.observation_layers,
                               len(agent.action_layers))
        try:
            first = [self._slots.start(i, tolerate=False) for i in range(self.n_envs)]
            self._recorder = Recorder(agent, flags, Stepper(self._slots), first)
        except BaseException:
            self.close()
            raise

    @property
    def restarts(self) -> int:
        """How many times an environment was recreated after a failure, in all."""
        return self._slots.restarts

    @property
    def env_restarts(self) -> list[int]:
        """The same, per environment."""
        return self._slots.env_restarts

    @property
    def failures(self) -> list[EnvFailure]:
        """Every failure, in order."""
        return self._slots.failures

    @property
    def ticks(self) -> int:
        """Ticks played so far (the time axis of all sessions joined)."""
        return self._slots.ticks

    # --- sessions ---------------------------------------------------------------------------
    def interact(self, n_steps: int = 100) -> PoolSessions:
        """Play ``n_steps`` ticks in every environment and return them as sessions.

        Returns:
            :class:`~agentnet.driving.original.PoolSessions` (:class:`~agentnet.agent.Sessions`
            that unpack into the original's six numpy logs: ``observation_log, action_log,
            reward_log, memories_log, is_alive_log, info_log = pool.interact(50)``) on the
            agent's device: observations
            ``[n_envs, n_steps, ...]`` (what the agent acted on), actions, policy, agent_states
            (memory after each tick), rewards float32, is_alive and is_truncated bool
            ``[n_envs, n_steps]``, ``initial_agent_states`` (the memory entering tick 0, after a
            restart there) and ``next_observations`` (what the next call's tick 0 will see).
        """
        if self.closed:
            raise RuntimeError("EnvPool: interact on a closed pool")
        if int(n_steps) < 1:
            raise ValueError(f"EnvPool.interact: n_steps must be at least 1, got {n_steps}")
        return as_pool_sessions(self._recorder.interact(int(n_steps)))

    @property
    def prev_memory_states(self) -> list[np.ndarray]:
        """The agent's memory after the last tick played, numpy ``[n_envs, ...]`` per memory
        (the original's attribute; the next :meth:`interact` restarts it at zeros where an
        episode starts, so prefer ``sessions.initial_agent_states``)."""
        return [m.detach().cpu().numpy() for m in self._recorder.memory]

    @property
    def experience_replay(self) -> SessionPoolEnvironment:
        """The pool's own replay, filled by :meth:`update` when given no session pool: a
        :class:`~agentnet.environment.SessionPoolEnvironment` made the original way (holding
        what was last loaded, growing by appends up to ``max_size``), on the agent's device."""
        if self._experience_replay is None:
            agent = self.agent
            self._experience_replay = SessionPoolEnvironment(
                observations=agent.observation_layers, actions=agent.action_layers,
                agent_memories=agent.prev_state_layers, device=agent.device)
        return self._experience_replay

    def update(self, n_steps: int = 100, session_pool: SessionPoolEnvironment | None = None,
               *, append: bool = False, max_size: int | None = None,
               add_last_observation: bool = True, preprocess: Preprocess | None = None
               ) -> Sessions:
        """:meth:`interact` for ``n_steps`` ticks and store the sessions; returns them.

        Given ``session_pool``, append them to it (see :func:`agentnet.driving.common.update`).
        Without, as the original did: into :attr:`experience_replay`, replacing what it held
        (``append=False``, the original's default) or appended keeping the newest ``max_size``
        sessions (the pool's ``max_size`` if None; all if both are None).
        ``preprocess(observations, actions, rewards, is_alive, preceding_memories)`` returns
        the five, changed as it likes (numpy arrays, as the original's; memories a list).
        ``add_last_observation`` must stay True: every agentnet session's last tick is only
        the bootstrap value of the ticks before it (``crop_last``), as with the original's
        default.
        """
        if not add_last_observation:
            raise ValueError("EnvPool.update: add_last_observation=False is not supported: "
                             "a session's last tick is always only a bootstrap target "
                             "(crop_last), as the original's default made it")
        if session_pool is not None:
            if append or max_size is not None or preprocess is not None:
                raise ValueError("EnvPool.update: append=, max_size= and preprocess= are for "
                                 "the pool's own experience_replay; given a session_pool, the "
                                 "sessions are appended to it (its capacity bounds it)")
            return common.update(self, n_steps, session_pool)
        sessions = self.interact(n_steps)
        update_experience_replay(self.experience_replay, sessions, append,
                                 max_size if max_size is not None else self.max_size,
                                 preprocess)
        return sessions

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, n_games: int = 1, save_path: str | os.PathLike[str] | None = None,
                 use_monitor: bool | None = None,
                 record_video: bool | str | os.PathLike[str] | None = None,
                 verbose: bool = False, t_max: int | None = None, *,
                 max_steps: int | None = None, seed: int | None = None) -> GameRewards:
        """Play ``n_games`` whole episodes greedily on new environments (the pool's own are
        left as they are) and measure them; the original's arguments, in its order.

        Args:
            n_games: episodes to play (at most ``n_envs`` at a time, one per environment).
            save_path: the directory of the recordings (the original's; default
                ``"./records"`` once something is recorded).
            use_monitor: record the games' statistics into ``save_path`` as
                ``evaluation-<k>.stats.json`` (the fields of the old gym ``Monitor``'s file:
                ``episode_rewards``, ``episode_lengths``, ``timestamps``,
                ``initial_reset_timestamp``).
            record_video: True: record every game's video into ``save_path`` with
                ``gymnasium.wrappers.RecordVideo`` (``evaluation-<k>-game-<g>-episode-0.mp4``;
                needs the ``video`` extra, and a factory making environments with
                ``render_mode="rgb_array"``; an id is made so). A directory (agentnet's
                spelling): videos there, and no statistics unless ``use_monitor=True``.
            verbose: print ``Episode finished after <n> timesteps with reward=<r>`` per game,
                as the original did (it printed by default).
            t_max: the original's cap: a game stops after ``t_max + 1`` steps (its loop
                counted from 0); ``max_steps`` is agentnet's (at most ``max_steps``). Give
                one of them; None plays until the environment ends.
            max_steps: see ``t_max``.
            seed: game ``g`` is reset with ``seed + g`` (None: unseeded).

        Recording is asked for by ``save_path``, ``use_monitor=True`` or
        ``record_video=True``: then the original's defaults fill in the others
        (``save_path="./records"``, ``use_monitor=True``, ``record_video=True``), and
        ``record_video=True`` with ``use_monitor=False`` raises ``ValueError`` as the
        original did. Without any of them nothing is written (the original wrote into
        ``./records`` by default).

        Returns:
            :class:`~agentnet.driving.evaluation.GameRewards`: float32 ``returns`` and
            ``lengths [n_games]`` (an :class:`~agentnet.environment.EpisodeStats`) that also
            read as the original's list of each game's total reward
            (``np.mean(pool.evaluate(...))``).
        """
        if t_max is not None:
            if max_steps is not None:
                raise TypeError("EnvPool.evaluate: give max_steps or the original's t_max "
                                "(which allows t_max + 1 steps), not both")
            if isinstance(t_max, bool) or not isinstance(t_max, (int, np.integer)) or t_max < 0:
                raise ValueError(f"EnvPool.evaluate: t_max must be an int >= 0, got {t_max!r}")
            max_steps = int(t_max) + 1
        recording = recording_of(save_path, use_monitor, record_video)
        self._evaluations += 1
        return evaluate(self.agent, self.make_env, self.env_id, self.n_envs, self.flags,
                        n_games, recording, max_steps, seed,
                        name_prefix=f"evaluation-{self._evaluations}", verbose=verbose)

    # --- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close every environment; no worker process is left behind."""
        self._slots.close()
        self.closed = True

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"EnvPool({self._slots.factory_name()}, n_envs={self.n_envs}, "
                f"vectorization={self.vectorization!r}, "
                f"autoreset_mode={self.autoreset_mode.value}, restarts={self.restarts})")


GamePool = EnvPool
