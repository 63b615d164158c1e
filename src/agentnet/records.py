"""What an agent did, as records: one tick (:class:`Reaction`), whole sessions
(:class:`Sessions`), and the layout of a tick's outputs (:class:`TickLayout`) that builds both.

This is the ground floor, beside :mod:`agentnet.layers`: it imports nothing else of agentnet,
so that everything above (environments and the session store, the agent, the pools that drive
it) shares one definition of a session.

"Single layer in, single tensor out" is decided here, once: an agent built with a single
observation, action or policy layer gets single tensors in those fields, one built with a list
gets lists (:meth:`TickLayout.pack`); code reading a field of either kind takes it with
:func:`as_list` (or :attr:`Sessions.observation_list` and its siblings).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

import torch

if TYPE_CHECKING:
    from .layers.base import Layer

__all__ = ["Sessions", "Reaction", "AgentReaction", "TickLayout", "TickParts", "as_list",
           "stack_ticks", "restart_memories"]

#: a field holding one tensor per layer: the tensor itself for an agent built with a single
#: layer, a list for one built with a list (see :class:`TickLayout`)
TensorOrList = torch.Tensor | list[torch.Tensor]
ObsT = TypeVar("ObsT", bound=TensorOrList)
ActT = TypeVar("ActT", bound=TensorOrList)
PolT = TypeVar("PolT", bound=TensorOrList)


def as_list(values: Any) -> list[Any]:
    """A field of one value per layer as a list: a list or tuple as a list, None as an empty
    list, anything else (one tensor or array) as a list of one."""
    if values is None:
        return []
    return list(values) if isinstance(values, (list, tuple)) else [values]


def stack_ticks(ticks: Sequence[Sequence[torch.Tensor]]) -> list[torch.Tensor]:
    """Per-tick records ``[[x_0, y_0, ...], [x_1, y_1, ...], ...]`` (each ``[B, ...]``) as
    sequences ``[X, Y, ...]`` (each ``[B, T, ...]``)."""
    return [torch.stack(sequence, dim=1) for sequence in zip(*ticks)]


def restart_memories(memories: Sequence[torch.Tensor], starts: torch.Tensor
                     ) -> list[torch.Tensor]:
    """``memories`` ``[B, ...]`` with the rows where ``starts`` (bool ``[B]``) is True set to
    zeros: memory restarts where a new episode begins (an alive tick after a dead one)."""
    return [m.masked_fill(starts.view((-1,) + (1,) * (m.dim() - 1)), 0) for m in memories]


@dataclass(frozen=True)
class Reaction:
    """One tick of an agent: what it did and what it now remembers (what a react function
    returns).

    ``actions`` and ``policy`` are single tensors ``[B, ...]`` for an agent built with single
    layers, lists otherwise; ``new_states`` is a list ``[B, ...]`` in ``agent_states`` order.
    (A react function given numpy arrays returns numpy arrays in the same places.)

    It unpacks, indexes and counts as the original AgentNet's react function returned its
    results: every action (one per action layer), then every new memory, without the policy:
    ``action, new_mem0, new_mem1 = react(observation, mem0, mem1)``, or ``action, =
    react(observation)`` for an agent without memory. Read it by name (``.actions``,
    ``.new_states``, ``.policy``) in new code.
    """

    actions: Any
    new_states: list[Any]
    policy: Any

    def _outputs(self) -> list[Any]:
        return [*as_list(self.actions), *self.new_states]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._outputs())

    def __len__(self) -> int:
        return len(self._outputs())

    def __getitem__(self, index: int) -> Any:
        return self._outputs()[index]

    def numpy(self) -> Reaction:
        """A copy with every tensor as a numpy array (moved to the CPU)."""
        return type(self)(*[_map(getattr(self, f.name), lambda t: t.cpu().numpy())
                            for f in fields(self)])


class AgentReaction(Reaction):
    """What :meth:`~agentnet.agent.Agent.get_agent_reaction` returns: a :class:`Reaction`
    that unpacks as the original AgentNet's ``get_agent_reaction`` did, into three lists
    ``actions, new_states, outputs`` where ``outputs`` is the policy then the actions again
    (``policy_estimators + action_layers``); its fields are :class:`Reaction`'s.
    """

    def _outputs(self) -> list[Any]:
        actions = as_list(self.actions)
        return [actions, list(self.new_states), [*as_list(self.policy), *actions]]


def _map(value: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_map(v, fn) for v in value)
    return value


@dataclass
class Sessions(Generic[ObsT, ActT, PolT]):
    """Batched sessions of interaction, every tensor ``[batch, time, ...]``.

    Time alignment: ``env_states[:, t]`` was observed as ``observations[:, t]``, from which
    the agent computed ``policy[:, t]`` and ``actions[:, t]`` and moved its memory from
    ``agent_states[:, t-1]`` to ``agent_states[:, t]``; ``rewards[:, t]`` is what
    ``actions[:, t]`` earned; ``is_alive[:, t]`` says the session still runs at ``t``.

    Episode ends (decided here, once; every objective in ``agentnet.learning`` follows it):

    - an episode's last tick ``t`` is alive and tick ``t + 1`` is not: tick ``t + 1`` holds the
      state the episode ended in (its ``policy`` is the agent's estimate there);
    - ``is_truncated[:, t]`` is True when that end was a time limit: the value at ``t + 1`` is
      the bootstrap target. Otherwise the episode terminated and nothing is bootstrapped;
    - a dead tick followed by an alive one starts a new episode (environments with
      ``autoreset``, Gymnasium pools): no return crosses it, and memory restarts at zeros;
    - the last tick of a row may be alive: the episode goes on past the row (see
      ``crop_last`` in the objectives).

    ``observations``, ``actions`` and ``policy`` are single tensors for an agent built with a
    single layer of that kind, lists for one built with a list (typed ``Sessions[Tensor,
    Tensor, Tensor]`` for an agent of single layers); :attr:`observation_list`,
    :attr:`action_list` and :attr:`policy_list` are always lists.

    Attributes:
        env_states: the environment's states, a list (one tensor per state).
        observations: ``[B, T, ...]``, a list for an agent with several observation inputs.
        agent_states: ``{new_state_layer: [B, T, ...]}``, the memory after each tick.
        actions: int64 ``[B, T]`` for discrete actions, a list for several action layers.
        policy: ``[B, T, ...]`` (e.g. Q-values ``[B, T, A]``), a list for several estimators
            (an empty list for none).
        rewards: float32 ``[B, T]``.
        is_alive: bool ``[B, T]``.
        is_truncated: bool ``[B, T]``, True on the last tick of an episode cut by a time limit.
        next_env_states, next_observations: lists of ``[B, ...]``, where the environment was
            left after the last tick: ``get_sessions(env, continue_from=sessions)`` goes on
            from there.
        additional_outputs: ``[B, T, ...]`` per layer given to ``get_sessions`` as
            ``additional_outputs`` (e.g. a target network's Q-values).
        initial_agent_states: ``[B, ...]`` per memory, what entered tick 0 (after a restart
            at tick 0, if any): what a replay of these sessions starts from.
    """

    env_states: list[torch.Tensor]
    observations: ObsT
    agent_states: dict[Any, torch.Tensor]
    actions: ActT
    policy: PolT
    rewards: torch.Tensor
    is_alive: torch.Tensor
    is_truncated: torch.Tensor
    next_env_states: list[torch.Tensor]
    next_observations: list[torch.Tensor]
    additional_outputs: list[torch.Tensor] = field(default_factory=list)
    initial_agent_states: list[torch.Tensor] = field(default_factory=list)

    def __iter__(self) -> Iterator[Any]:
        """Unpacks as the original AgentNet's ``get_sessions`` returned its sessions:
        ``env_states, observations, agent_states, actions, policy = agent.get_sessions(...)``
        (``env_states`` is always a list here, empty in a replay). Read the fields by name in
        new code: rewards and ``is_alive`` are not among the five."""
        return iter((self.env_states, self.observations, self.agent_states, self.actions,
                     self.policy))

    @property
    def batch_size(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def length(self) -> int:
        """The number of ticks ``T``."""
        return int(self.rewards.shape[1])

    @property
    def observation_list(self) -> list[torch.Tensor]:
        """``observations`` as a list, one ``[B, T, ...]`` per observation layer."""
        return as_list(self.observations)

    @property
    def action_list(self) -> list[torch.Tensor]:
        """``actions`` as a list, one ``[B, T, ...]`` per action layer."""
        return as_list(self.actions)

    @property
    def policy_list(self) -> list[torch.Tensor]:
        """``policy`` as a list, one ``[B, T, ...]`` per policy estimator (empty for none)."""
        return as_list(self.policy)

    def entering_agent_states(self) -> list[torch.Tensor]:
        """The memory entering every tick, ``[B, T, ...]`` per memory (``agent_states``'
        order): ``initial_agent_states`` at tick 0, then the memory after the tick before,
        zeros where an episode starts (an alive tick after a dead one). A replay of ticks
        ``t..t+k`` from ``entering_agent_states()[i][:, t]`` recomputes what these sessions
        computed there (PPO's chunks, R2D2's stored states).

        >>> memory = torch.tensor([[[1.], [2.], [3.], [4.]]])  # after ticks 0..3
        >>> alive = torch.tensor([[True, False, True, True]])
        >>> Sessions([], [], {"m": memory}, [], [], torch.zeros(1, 4), alive, ~alive, [], [],
        ...          initial_agent_states=[torch.tensor([[9.]])]).entering_agent_states()
        [tensor([[[9.],
                 [1.],
                 [0.],
                 [3.]]])]
        """
        starts = self.is_alive[:, 1:] & ~self.is_alive[:, :-1]
        entering = []
        for first, after in zip(self.initial_agent_states, self.agent_states.values()):
            rest = after[:, :-1].masked_fill(starts.view(starts.shape + (1,) * (after.dim() - 2)),
                                             0.0)
            entering.append(torch.cat([first[:, None], rest], dim=1))
        return entering

    def continuation(self) -> dict[str, list[torch.Tensor]]:
        """What ``get_sessions(continue_from=...)`` needs to go on from these sessions, as
        plain tensors (detached), e.g. to keep in a training checkpoint."""
        return {"next_env_states": [s.detach() for s in self.next_env_states],
                "next_observations": [o.detach() for o in self.next_observations],
                "last_agent_states": [m[:, -1].detach() for m in self.agent_states.values()],
                "last_is_alive": [self.is_alive[:, -1]]}

    def to(self, device: Any) -> Sessions[ObsT, ActT, PolT]:
        """A copy with every tensor on ``device``."""
        return Sessions(**{f.name: _map(getattr(self, f.name), lambda t: t.to(device))
                           for f in fields(self)})

    def detach(self) -> Sessions[ObsT, ActT, PolT]:
        """A copy cut from the autograd graph (e.g. to store it)."""
        return Sessions(**{f.name: _map(getattr(self, f.name), torch.Tensor.detach)
                           for f in fields(self)})


class TickParts(NamedTuple):
    """A tick's outputs (or their sequences) by role, each a list in layer order."""

    actions: list[Any]
    states: list[Any]
    policy: list[Any]
    extra: list[Any]


@dataclass(frozen=True)
class TickLayout:
    """The layout of an agent's tick, described once: its outputs come as ``actions`` (one
    per action layer), new ``states`` (one per memory), ``policy`` (one per estimator), then
    any extra outputs asked for (``additional_outputs``); and which of observations, actions
    and policy the agent gets as single tensors rather than lists.

    It splits a tick's outputs (or sequences ``[B, T, ...]`` of them, in the same order) by
    role (:meth:`split`), and builds the records: :meth:`reaction` and :meth:`sessions`, the
    one place where a :class:`Sessions` is assembled.

    Args:
        n_observations, n_actions, n_policy: how many layers of each kind.
        state_keys: the new-state layers, in ``agent_states`` order (the keys of
            ``Sessions.agent_states``).
        single_observation, single_action, single_policy: the agent was built with a single
            layer (not a list) of that kind.
    """

    n_observations: int
    n_actions: int
    n_policy: int
    state_keys: tuple[Layer, ...]
    single_observation: bool
    single_action: bool
    single_policy: bool

    @property
    def n_states(self) -> int:
        return len(self.state_keys)

    def actions_of(self, outputs: list[Any]) -> list[Any]:
        """The actions among ``outputs`` (as :meth:`split`, without the rest)."""
        return outputs[:self.n_actions]

    def states_of(self, outputs: list[Any]) -> list[Any]:
        """The new memories among ``outputs`` (as :meth:`split`, without the rest)."""
        return outputs[self.n_actions:self.n_actions + len(self.state_keys)]

    def split(self, outputs: Sequence[Any]) -> TickParts:
        """``outputs`` (actions, states, policy, extra, in this order) by role."""
        states_end = self.n_actions + len(self.state_keys)
        policy_end = states_end + self.n_policy
        return TickParts(list(outputs[:self.n_actions]), list(outputs[self.n_actions:states_end]),
                         list(outputs[states_end:policy_end]), list(outputs[policy_end:]))

    @staticmethod
    def pack(values: Sequence[Any], single: bool) -> Any:
        """A field as the agent gives it: ``values[0]`` if ``single``, else the list."""
        return values[0] if single else list(values)

    def reaction(self, outputs: Sequence[Any], kind: type[Reaction] = Reaction) -> Reaction:
        """One tick's outputs as a :class:`Reaction` (or ``kind``, e.g.
        :class:`AgentReaction`)."""
        actions, states, policy, _ = self.split(outputs)
        return kind(self.pack(actions, self.single_action), states,
                    self.pack(policy, self.single_policy))

    def sessions(self, observations: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor],
                 rewards: torch.Tensor, is_alive: torch.Tensor, is_truncated: torch.Tensor,
                 *, env_states: Sequence[torch.Tensor] = (),
                 next_env_states: Sequence[torch.Tensor] = (),
                 next_observations: Sequence[torch.Tensor] = (),
                 initial_agent_states: Sequence[torch.Tensor] = (),
                 actions: Sequence[torch.Tensor] | None = None) -> Sessions[Any, Any, Any]:
        """:class:`Sessions` from sequences ``[B, T, ...]``: one per observation layer, and the
        tick's ``outputs`` in :meth:`split`'s order (their ``actions`` replaced by ``actions``
        if given, e.g. the recorded ones of a replay)."""
        states_end = self.n_actions + len(self.state_keys)  # (as split, without its lists)
        policy_end = states_end + self.n_policy
        actions = outputs[:self.n_actions] if actions is None else actions
        policy = outputs[states_end:policy_end]
        return Sessions(
            env_states=list(env_states),
            observations=self.pack(observations, self.single_observation),
            agent_states=dict(zip(self.state_keys, outputs[self.n_actions:states_end])),
            actions=self.pack(actions, self.single_action),
            policy=self.pack(policy, self.single_policy),
            rewards=rewards,
            is_alive=is_alive,
            is_truncated=is_truncated,
            next_env_states=list(next_env_states),
            next_observations=list(next_observations),
            additional_outputs=list(outputs[policy_end:]),
            initial_agent_states=list(initial_agent_states),
        )

    @staticmethod
    def join(actions: Sequence[Any], states: Sequence[Any], policy: Sequence[Any] = (),
             extra: Sequence[Any] = ()) -> list[Any]:
        """Outputs in :meth:`split`'s order from their parts (the inverse of :meth:`split`)."""
        return [*actions, *states, *policy, *extra]
