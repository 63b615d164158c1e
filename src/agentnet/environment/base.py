"""The tensor-native environment contract, unrolled inside ``Agent.get_sessions``; and the
layer that makes one environment step part of a graph (:class:`EnvironmentStepLayer`)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch

from ..layers.base import InputLayer, Layer, as_torch_dtype, format_shape

__all__ = ["BaseEnvironment", "EnvironmentStepLayer", "as_shapes"]

Shape = tuple[int, ...]


class BaseEnvironment(ABC):
    """A batch of independent sessions whose state lives in tensors.

    An environment describes its state, observations and actions by their per-session
    shapes (without the batch axis) and dtypes, and implements these batched functions:

    - ``get_action_results(last_states, actions)`` -> ``(new_states, observations)``: one step.
    - ``reset(batch_size, device)`` -> ``(states, observations)``: initial values, lists of
      tensors ``[B, *shape]``. All zeros by default (the original AgentNet's start).
    - ``get_rewards(last_states, actions, new_states)`` -> float ``[B]``: what the actions
      earned. Zeros by default, unless the environment is also an
      :class:`~agentnet.objective.BaseObjective` (the original's way to give rewards): then its
      ``get_reward_sequences`` on each tick.
    - ``get_is_alive(states)`` -> bool ``[B]``: whether each session is still running in
      ``states`` (always, by default).
    - ``get_is_truncated(states)`` -> bool ``[B]``: whether ``states`` ends an episode by a time
      limit rather than by termination (all False by default).

    The shapes and dtypes are class attributes, or the constructor's arguments (the
    original's contract: ``BaseEnvironment.__init__(self, state_shapes, observation_shapes,
    action_shapes)`` in a subclass's constructor, then only ``get_action_results``).

    Episode ends (the contract every objective relies on): the tick after an episode's last
    action holds the state the episode ended in, and is not alive. If the episode was
    truncated, that state's value is the bootstrap target; if it terminated, nothing follows.
    A session that stops either stays stopped (``autoreset = False``: later ticks are dead
    too) or, with ``autoreset = True``, ignores the action on that dead tick and starts a new
    episode on the next one (its first tick is alive; the agent's memory restarts there).

    ``states``, ``observations`` and ``actions`` are lists, one tensor per entry of
    ``state_shapes``, ``observation_shapes`` and ``action_shapes`` (``get_action_results`` may
    return a single tensor for a single state or observation, as the original's did).
    Everything stays on the device of the tensors it is given: no host round trip inside a
    step.

    >>> class Counter(BaseEnvironment):           # the original's contract
    ...     def __init__(self):
    ...         BaseEnvironment.__init__(self, [1], [1], [()])
    ...     def get_action_results(self, last_states, actions):
    ...         new_state = last_states[0] + actions[0][:, None]
    ...         return new_state, new_state
    >>> env = Counter()
    >>> as_shapes(env.state_shapes), env.action_dtypes
    (((1,),), (torch.int64,))
    >>> states, observations = env.reset(2)
    >>> env.get_action_results(states, [torch.tensor([1, 2])])[0]
    tensor([[1.],
            [2.]])
    """

    #: per-session shapes (no batch axis) and dtypes, one entry per tensor (an int ``n`` is
    #: read as the shape ``(n,)``, as in the original: see :func:`as_shapes`)
    state_shapes: Sequence[Any] = ()
    state_dtypes: Sequence[torch.dtype] = ()
    observation_shapes: Sequence[Any] = ()
    observation_dtypes: Sequence[torch.dtype] = ()
    action_shapes: Sequence[Any] = ((),)
    action_dtypes: Sequence[torch.dtype] = (torch.int64,)
    #: whether a stopped session starts a new episode by itself (after one dead tick)
    autoreset: bool = False

    def __init__(self, state_shapes: Any = None, observation_shapes: Any = None,
                 action_shapes: Any = None, state_dtypes: Any = None,
                 observation_dtypes: Any = None, action_dtypes: Any = None):
        """The original's constructor: shapes and dtypes of the states, observations and
        actions. Each ``*_shapes`` is a list (or tuple) with one shape per tensor, or a
        single shape (an int ``n`` standing for ``(n,)``); None keeps the class attribute.
        Dtypes default to torch's default float for states and observations, and int64 for
        actions (agentnet's action ids; the original's ``"int32"`` for actions is read as
        int64). Names such as ``"uint8"`` and ``"floatX"`` are accepted."""
        for kind, shapes, dtypes in (("state", state_shapes, state_dtypes),
                                     ("observation", observation_shapes, observation_dtypes),
                                     ("action", action_shapes, action_dtypes)):
            if shapes is not None:
                shapes = _as_sequence(shapes)
                setattr(self, f"{kind}_shapes", shapes)
            count = len(getattr(self, f"{kind}_shapes"))
            if dtypes is not None or shapes is not None:
                default = torch.int64 if kind == "action" else torch.get_default_dtype()
                given = [default] * count if dtypes is None else _as_sequence(dtypes)
                if len(given) != count:
                    raise ValueError(f"{type(self).__name__}: {len(given)} {kind}_dtypes for "
                                     f"{count} {kind}_shapes")
                setattr(self, f"{kind}_dtypes",
                        tuple(_as_dtype(d, kind) for d in given))

    @abstractmethod
    def get_action_results(self, last_states: list[torch.Tensor], actions: list[torch.Tensor]
                           ) -> tuple[Any, Any]:
        """``(new_states, observations)`` after the agent's ``actions`` in ``last_states``:
        lists of tensors ``[B, *shape]`` (or a single tensor each)."""

    def reset(self, batch_size: int | None, device: Any = None
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Initial ``(states, observations)`` of ``batch_size`` sessions on ``device``: all
        zeros, as the original's ``initial_env_states='zeros'``. Environments whose episodes
        start elsewhere override it (``batch_size`` None: their default size)."""
        if batch_size is None:
            raise ValueError(f"{type(self).__name__} starts from zeros and has no batch size of "
                             f"its own: give get_sessions a batch_size")

        def zeros(shapes: Sequence[Any], dtypes: Sequence[torch.dtype]) -> list[torch.Tensor]:
            return [torch.zeros((batch_size, *shape), dtype=dtype, device=device)
                    for shape, dtype in zip(as_shapes(shapes), dtypes)]

        return (zeros(self.state_shapes, self.state_dtypes),
                zeros(self.observation_shapes, self.observation_dtypes))

    def get_rewards(self, last_states: list[torch.Tensor], actions: list[torch.Tensor],
                    new_states: list[torch.Tensor]) -> torch.Tensor:
        """float32 ``[B]``: the reward for taking ``actions`` in ``last_states``. By default
        the environment's ``get_reward_sequences`` on this one tick if it is also a
        :class:`~agentnet.objective.BaseObjective`, zeros otherwise."""
        reward_sequences = getattr(self, "get_reward_sequences", None)
        if reward_sequences is None:
            return torch.zeros(actions[0].shape[0], device=actions[0].device)
        rewards = reward_sequences([s[:, None] for s in last_states],
                                   [a[:, None] for a in actions])
        return torch.as_tensor(rewards, dtype=torch.float32).reshape(-1)

    def get_is_alive(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: True where the session goes on from ``states``; always True by default."""
        return torch.ones(states[0].shape[0], dtype=torch.bool, device=states[0].device)

    def get_is_truncated(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: True where ``states`` ends an episode by a time limit (not a terminal
        state: its value is worth bootstrapping from). Never, by default.

        ``Agent.get_sessions`` calls it once per rollout on all ticks at once, with states
        flattened to ``[B * T, ...]``, so it must be elementwise over the batch axis."""
        return torch.zeros(states[0].shape[0], dtype=torch.bool, device=states[0].device)

    def as_layers(self, prev_state_layers: Layer | Sequence[Layer] | None = None,
                  action_layers: Layer | Sequence[Layer] | None = None,
                  environment_layer_name: str = "EnvironmentLayer"
                  ) -> tuple[list[Layer], list[Layer]]:
        """One step of this environment as layers: ``([new state layers], [observation
        layers])``, computed from ``prev_state_layers`` and ``action_layers`` (None: new
        InputLayers) by an :class:`EnvironmentStepLayer` (the original's method)."""
        step = EnvironmentStepLayer(self, prev_state_layers, action_layers,
                                    name=environment_layer_name)
        outputs: list[Layer] = [step[i] for i in range(len(step.output_shape))]
        pivot = len(step.prev_state_layers)
        return outputs[:pivot], outputs[pivot:]


class EnvironmentStepLayer(Layer):
    """A layer that applies ``environment.get_action_results``: previous states and actions
    in, new states and observations out (several outputs: ``layer[i]``, states first).

    Args:
        environment: a :class:`BaseEnvironment`.
        prev_state_layers: one layer per environment state, ``[None, *state_shape]``; None
            makes InputLayers named ``"<name>.prev_state[i]"``.
        action_layers: one layer per action, ``[None, *action_shape]``; None makes
            InputLayers named ``"<name>.agent_action_input[i]"``.
        name: the layer's name (default ``"<EnvironmentClass>.OneStep"``).

    Output shapes and dtypes are the environment's (``[None, *shape]``), not inferred by
    running it.

    >>> from agentnet import layers as L
    >>> from agentnet.environment import CartPole
    >>> env = CartPole()
    >>> step = EnvironmentStepLayer(env)
    >>> len(step.prev_state_layers), len(step.action_layers), step.output_shape[-1]
    (3, 1, (None, 4))
    >>> states, observations = env.reset(5)
    >>> inputs = dict(zip(step.prev_state_layers + step.action_layers,
    ...                   states + [torch.ones(5, dtype=torch.int64)]))
    >>> new_observation = L.get_output(step[len(states)], inputs)
    >>> bool(torch.equal(new_observation, env.get_action_results(
    ...     states, [torch.ones(5, dtype=torch.int64)])[1][0]))
    True
    """

    def __init__(self, environment: BaseEnvironment,
                 prev_state_layers: Layer | Sequence[Layer] | None = None,
                 action_layers: Layer | Sequence[Layer] | None = None, name: str | None = None):
        env = environment
        name = f"{type(env).__name__}.OneStep" if name is None else name
        state_shapes = as_shapes(env.state_shapes)
        if prev_state_layers is None:
            prev_state_layers = [InputLayer((None, *shape), dtype, name=f"{name}.prev_state[{i}]")
                                 for i, (shape, dtype)
                                 in enumerate(zip(state_shapes, env.state_dtypes))]
        if action_layers is None:
            action_layers = [InputLayer((None, *shape), dtype,
                                        name=f"{name}.agent_action_input[{i}]")
                             for i, (shape, dtype)
                             in enumerate(zip(as_shapes(env.action_shapes), env.action_dtypes))]
        states = [prev_state_layers] if isinstance(prev_state_layers, Layer) \
            else list(prev_state_layers)
        actions = [action_layers] if isinstance(action_layers, Layer) else list(action_layers)
        self.env = env
        self.prev_state_layers, self.action_layers = states, actions
        super().__init__(states + actions, name)
        for kind, layers, shapes in (("state", states, state_shapes),
                                     ("action", actions, as_shapes(env.action_shapes))):
            if len(layers) != len(shapes):
                raise ValueError(f"{self.describe()}: {type(env).__name__} has {len(shapes)} "
                                 f"{kind}s, got {len(layers)} {kind} layers")
            for layer, shape in zip(layers, shapes):
                if tuple(layer.output_shape[1:]) != tuple(shape):
                    raise ValueError(f"{self.describe()}: {kind} layer {layer.describe()} "
                                     f"{format_shape(layer.output_shape)} does not fit "
                                     f"{type(env).__name__}'s {kind} "
                                     f"{format_shape((None, *shape))}")

    def _set_output_spec(self) -> None:
        shapes = as_shapes(self.env.state_shapes) + as_shapes(self.env.observation_shapes)
        self.output_shape = tuple((None, *shape) for shape in shapes)
        self.output_dtype = tuple(self.env.state_dtypes) + tuple(self.env.observation_dtypes)

    def get_output_for(self, *inputs: torch.Tensor, **flags: Any) -> tuple[torch.Tensor, ...]:
        pivot = len(self.prev_state_layers)
        new_states, observations = self.env.get_action_results(list(inputs[:pivot]),
                                                               list(inputs[pivot:]))
        return (*as_tensor_list(new_states), *as_tensor_list(observations))


def as_shapes(shapes: Any) -> tuple[Shape, ...]:
    """An environment's ``*_shapes`` as a tuple of shape tuples: each entry a shape, an int
    ``n`` standing for ``(n,)`` (the original's reading).

    >>> as_shapes([4]), as_shapes([(4,), ()]), as_shapes(((2, 3),))
    (((4,),), ((4,), ()), ((2, 3),))
    """
    return tuple((shape,) if isinstance(shape, int) else tuple(shape)
                 for shape in _as_sequence(shapes))


def as_tensor_list(values: Any) -> list[torch.Tensor]:
    """A list of tensors from a list, a tuple or a single tensor (as ``get_action_results``
    may return them)."""
    return [values] if isinstance(values, torch.Tensor) else list(values)


def _as_sequence(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _as_dtype(dtype: Any, kind: str) -> torch.dtype:
    if dtype == "floatX":
        return torch.get_default_dtype()
    torch_dtype = as_torch_dtype(dtype)
    if kind == "action" and torch_dtype == torch.int32:
        return torch.int64
    return torch_dtype
