"""What the native classic-control environments share: their state layout, seeding, episode
bookkeeping (steps, sticky termination, time limit, autoreset) and action checks.

Each environment (``CartPole``, ``Acrobot``, ``MountainCar``, ``MountainCarContinuous``,
``Pendulum``) only writes its physics: how a fresh episode is drawn, one step, what the agent
observes and what it earns.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch

from .base import BaseEnvironment

__all__: list[str] = []


class _NativeEnvironment(BaseEnvironment):
    """A batch of sessions of one of Gymnasium's classic-control tasks, held in tensors.

    States (one tensor per entry, batch first):

    - physics: ``dtype [B, P]``, the task's own state (Gymnasium's ``unwrapped.state``);
      feature-major (strides ``(1, B)``) where the subclass sets :attr:`feature_major`.
    - steps: int64 ``[B]``, steps taken in the episode.
    - terminated: bool ``[B]``, sticky: True from the step that reached a terminal state on.

    A session is alive while it is not terminated and ``steps < max_steps``; reaching
    ``max_steps`` is a truncation (:meth:`get_is_truncated`), which objectives bootstrap from.

    A subclass sets the class attributes below and writes :meth:`_initial_physics`,
    :meth:`_step_physics`, :meth:`_observe` and :meth:`get_rewards`.
    """

    #: the Gymnasium environment this one reproduces, e.g. "CartPole-v1"
    gymnasium_id: ClassVar[str]
    #: P, the size of the physics
    physics_size: ClassVar[int]
    #: uniform numbers :meth:`_initial_physics` turns into a fresh episode's physics
    random_size: ClassVar[int]
    #: Gymnasium's observation bounds (its ``observation_space``), one per feature
    observation_low: ClassVar[tuple[float, ...]]
    observation_high: ClassVar[tuple[float, ...]]
    #: discrete tasks: actions are int64 ``[B]`` in ``0 .. n_actions - 1``; None: continuous
    #: actions float32 ``[B, 1]``, clipped to ``[action_low, action_high]``
    n_actions: ClassVar[int | None] = None
    #: hold the physics feature-major: still ``[B, P]``, but with strides ``(1, B)``, so that
    #: each coordinate is a contiguous ``[B]`` column (a compiled step is then one vectorised
    #: loop over the batch instead of a strided one). :meth:`reset` and autoreset make them so;
    #: a subclass that sets this returns its new physics in the same layout.
    feature_major: ClassVar[bool] = False
    action_low: ClassVar[float] = -1.0
    action_high: ClassVar[float] = 1.0

    def __init__(self, batch_size: int, max_steps: int, seed: int | None, dtype: torch.dtype,
                 autoreset: bool) -> None:
        name = type(self).__name__
        _check_positive_int(name, "batch_size", batch_size)
        _check_positive_int(name, "max_steps", max_steps)
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"{name}: dtype must be a floating torch dtype, got {dtype!r}")
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.autoreset = autoreset
        self.dtype = dtype
        self.state_shapes = [(self.physics_size,), (), ()]
        self.state_dtypes = [dtype, torch.int64, torch.bool]
        self.observation_shapes = [(len(self.observation_low),)]
        self.observation_dtypes = [torch.float32]
        if self.n_actions is None:
            self.action_shapes = [(1,)]
            self.action_dtypes = [torch.float32]
        else:
            self.action_shapes = [()]
            self.action_dtypes = [torch.int64]
        self._generator = torch.Generator().manual_seed(seed)
        # per (device, dtype): constants as tensors there, made once (see _get_tables)
        self._tables: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, ...]] = {}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(batch_size={self.batch_size}, "
                f"max_steps={self.max_steps}, dtype={self.dtype})")

    def seed(self, seed: int) -> None:
        """Reseed the environment's own CPU generator, which :meth:`reset` draws from, as the
        constructor's ``seed`` does."""
        self._generator.manual_seed(seed)

    # ----------------------------------------------------------------- the physics (subclasses)
    @abstractmethod
    def _initial_physics(self, uniform: torch.Tensor) -> torch.Tensor:
        """``[B, P]`` fresh episodes from ``uniform [B, random_size]`` in ``[0, 1)``, same dtype."""

    @abstractmethod
    def _step_physics(self, last_states: list[torch.Tensor], action: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(new physics [B, P], reached a terminal state bool [B] or None for never)``."""

    @abstractmethod
    def _observe(self, physics: torch.Tensor) -> torch.Tensor:
        """float32 ``[B, O]``: what the agent sees of ``physics [B, P]``."""

    def _make_tables(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """Constants the step needs as tensors on ``device`` (see :meth:`_get_tables`)."""
        return ()

    def _get_tables(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """:meth:`_make_tables` on ``device``, made once per device and dtype."""
        key = (device, dtype)
        tables = self._tables.get(key)
        if tables is None:
            tables = self._tables[key] = self._make_tables(device, dtype)
        return tables

    # ------------------------------------------------------------------- the shared contract
    def reset(self, batch_size: int | None = None, device: Any = None
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Initial ``([physics, steps, terminated], [observations])`` of a batch of sessions.

        Args:
            batch_size: the number of sessions ``B``; the constructor's ``batch_size`` if None.
            device: where the tensors go (CPU if None). The physics are sampled on CPU from the
                environment's generator in float64 (Gymnasium's distribution), so a seed gives
                the same sessions on every device, then moved once.

        Returns:
            states: physics ``dtype [B, P]``, steps int64 ``[B]`` (zeros), terminated bool
            ``[B]`` (False); observations: float32 ``[B, O]``.
        """
        if batch_size is None:
            batch_size = self.batch_size
        _check_positive_int(type(self).__name__, "batch_size", batch_size)
        uniform = torch.rand(batch_size, self.random_size, generator=self._generator,
                             dtype=torch.float64)
        physics = self._initial_physics(uniform).to(device=device, dtype=self.dtype)
        # the step's constants, made now: a compiled step that made them while tracing
        # would compile a second time once they exist
        self._get_tables(physics.device, physics.dtype)
        if self.feature_major:
            physics = physics.t().contiguous().t()
        steps = torch.zeros(batch_size, dtype=torch.int64, device=physics.device)
        terminated = torch.zeros(batch_size, dtype=torch.bool, device=physics.device)
        return [physics, steps, terminated], [self._observe(physics)]

    def get_action_results(self, last_states: list[torch.Tensor], actions: list[torch.Tensor]
                           ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """One step of every session: ``([physics, steps, terminated], [observations])``.

        Args:
            last_states: physics ``dtype [B, P]``, steps int64 ``[B]``, terminated bool ``[B]``.
            actions: ``[actions]``: int64 ``[B]`` for a discrete task, float32 ``[B, 1]`` for a
                continuous one.

        Returns:
            new_states: the physics one step later, ``steps + 1``, and ``terminated`` OR the
            new physics terminal; observations: ``[float32 [B, O]]``. With ``autoreset``,
            sessions that had stopped in ``last_states`` start a new episode instead.

        The actions' shape and dtype are checked here (metadata, no host sync), and a discrete
        action out of ``0 .. n_actions - 1`` is refused at no cost on the hot path: on CPU,
        eagerly, the step's lookup by action fails and :meth:`check_actions` then raises its
        ``ValueError`` (naming the values); under ``torch.compile`` or on another device, an
        asynchronous assert (``torch._assert_async``, no host sync) fails with a
        ``RuntimeError`` naming the environment and the range. Everything stays on the states'
        device.
        """
        physics, steps, terminated = last_states
        (action,) = actions
        if (action.dtype != self.action_dtypes[0]
                or action.shape != (*steps.shape, *self.action_shapes[0])):
            self.check_actions(last_states, actions)
        if self.n_actions is not None and (torch.compiler.is_compiling()
                                           or action.device.type != "cpu"):
            _assert_actions_in_range(type(self).__name__, action, self.n_actions)
        try:
            new_physics, terminal = self._step_physics(last_states, action)
        except IndexError:  # on CPU, an action out of range fails to index a table
            self.check_actions(last_states, actions)            # raises a clear ValueError
            raise
        if terminal is not None:
            terminated = terminated | terminal
        new_states = [new_physics, steps + 1, terminated]
        if self.autoreset:
            new_states = self._restart_stopped(last_states, new_states)
        return new_states, [self._observe(new_states[0])]

    def _restart_stopped(self, last_states: list[torch.Tensor], new_states: list[torch.Tensor]
                         ) -> list[torch.Tensor]:
        """Sessions that had stopped in ``last_states`` (the dead tick after an episode's end)
        begin a new episode: fresh physics drawn on the device from torch's RNG there (no host
        round trip), steps 0, not terminated."""
        alive = self.get_is_alive(last_states)
        physics, steps, terminated = new_states
        uniform = torch.rand(physics.shape[0], self.random_size, dtype=physics.dtype,
                             device=physics.device)
        fresh = self._initial_physics(uniform)
        if self.feature_major and torch.compiler.is_compiling():
            # column by column: inductor then fuses it into the step's loop over the batch
            physics = torch.stack([torch.where(alive, old, new) for old, new
                                   in zip(physics.unbind(dim=1), fresh.unbind(dim=1))]).t()
        else:  # physics first: the result takes its layout (feature-major or not)
            physics = torch.where(alive[:, None], physics, fresh)
        return [physics, steps.masked_fill(~alive, 0), terminated & alive]

    def get_is_alive(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: not terminated and ``steps < max_steps``."""
        _, steps, terminated = states
        return (steps < self.max_steps) & ~terminated

    def get_is_truncated(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: the episode was cut by the time limit (``steps >= max_steps``) without
        terminating; reaching a terminal state on the last allowed step counts as terminated."""
        _, steps, terminated = states
        return (steps >= self.max_steps) & ~terminated

    def get_is_terminated(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: whether the session reached a terminal state (not a truncation).

        A session that is not alive but not terminated was truncated by the time limit.
        """
        return states[2]

    def check_actions(self, last_states: list[torch.Tensor], actions: list[torch.Tensor]) -> None:
        """Raise ``ValueError`` unless ``actions`` fit ``last_states``: one tensor on the states'
        device, int64 ``[B]`` with values in ``0 .. n_actions - 1`` for a discrete task, float32
        ``[B, 1]`` without NaN for a continuous one.

        Checking the values synchronises with the device, so this is not called on every step:
        :meth:`get_action_results` checks the shape and dtype, and calls it only when they are
        wrong or when its lookup by a discrete action fails (see there).
        """
        name = type(self).__name__
        size = self.physics_size
        if not isinstance(last_states, (list, tuple)) or len(last_states) != 3:
            raise ValueError(f"{name}: expected last_states = [physics [B, {size}], steps [B], "
                             f"terminated [B]], got {_describe(last_states)}")
        physics = last_states[0]
        if (not isinstance(physics, torch.Tensor) or physics.ndim != 2
                or physics.shape[1] != size):
            raise ValueError(f"{name}: expected physics of shape [B, {size}], got "
                             f"{_describe(physics)}")
        batch_size = physics.shape[0]
        dtype = self.action_dtypes[0]
        shape = (batch_size, *self.action_shapes[0])
        expected = f"{str(dtype).removeprefix('torch.')} tensor {list(shape)}"
        if not isinstance(actions, (list, tuple)) or len(actions) != 1:
            raise ValueError(f"{name}: expected actions = [{expected}], got {_describe(actions)}")
        (action,) = actions
        if not isinstance(action, torch.Tensor):
            raise ValueError(f"{name}: expected actions[0] to be a tensor ({expected}), got "
                             f"{type(action).__name__}")
        if action.dtype != dtype:
            raise ValueError(f"{name}: expected actions of dtype {dtype}, got {action.dtype}")
        if tuple(action.shape) != shape:
            raise ValueError(f"{name}: expected actions of shape {shape} to match the "
                             f"states' batch, got {tuple(action.shape)}")
        if action.device != physics.device:
            raise ValueError(f"{name}: expected actions on the states' device {physics.device}, "
                             f"got {action.device}")
        if self.n_actions is None:
            if bool(action.isnan().any()):
                raise ValueError(f"{name}: expected actions without NaN, got "
                                 f"{int(action.isnan().sum())} NaN")
            return
        _check_actions_in_range(name, action, self.n_actions)


def _check_actions_in_range(owner: str, action: torch.Tensor, n_actions: int) -> None:
    """Raise ``ValueError`` unless every value of the integer tensor ``action`` is in
    ``0 .. n_actions - 1``, naming ``owner``, the range and the offending values. One fused
    pass over the actions, but its answer is read on the host: a device sync."""
    invalid = (action < 0) | (action >= n_actions)
    if bool(invalid.any()):
        values = action[invalid].unique()
        shown = values[:8].tolist()
        more = f" (and {len(values) - 8} more)" if len(values) > 8 else ""
        raise ValueError(f"{owner}: actions must be in 0..{n_actions - 1}, got values "
                         f"{shown}{more}")


def _assert_actions_in_range(owner: str, action: torch.Tensor, n_actions: int) -> None:
    """The same check without a host sync, for ``torch.compile`` (it lives in the graph) and
    for devices other than the CPU: ``torch._assert_async`` fails with a ``RuntimeError``
    naming ``owner`` and the range (not the values) where an action is out of it."""
    torch._assert_async(((action >= 0) & (action < n_actions)).all(),
                        f"{owner}: actions must be in 0..{n_actions - 1}")


def _check_discrete_actions(owner: str, action: Any, n_actions: int) -> None:
    """Every step's check of a discrete action for an environment that does not index by it:
    ``action`` must be an integer tensor with values in ``0 .. n_actions - 1``. On CPU,
    eagerly, one ``aminmax`` (a few microseconds) then, if out of range,
    :func:`_check_actions_in_range`'s ``ValueError``; under ``torch.compile`` and on other
    devices :func:`_assert_actions_in_range` (no host sync)."""
    if (not isinstance(action, torch.Tensor) or action.is_floating_point()
            or action.is_complex() or action.dtype == torch.bool):
        what = action.dtype if isinstance(action, torch.Tensor) else type(action).__name__
        raise ValueError(f"{owner}: actions must be an integer tensor with values in "
                         f"0..{n_actions - 1}, got {what}")
    if torch.compiler.is_compiling() or action.device.type != "cpu":
        _assert_actions_in_range(owner, action, n_actions)
    elif action.numel():
        low, high = torch.aminmax(action)
        if int(low) < 0 or int(high) >= n_actions:
            _check_actions_in_range(owner, action, n_actions)


def _check_positive_int(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}: [" + ", ".join(
            _describe(v) for v in value) + "]"
    return type(value).__name__


def _round_to_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to the nearest float32, kept in ``x``'s dtype (NumPy's float32 arithmetic,
    emulated in float64: one float64 operation on float32 inputs rounded to float32 equals the
    float32 operation, as float64 has more than twice float32's precision)."""
    return x.to(torch.float32).to(x.dtype)
