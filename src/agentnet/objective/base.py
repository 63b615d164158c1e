"""The base class of objectives: rewards from environment states and agent actions."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["BaseObjective"]


class BaseObjective:
    """Rewards for the actions an agent took, as the original AgentNet defined them.

    Implement :meth:`get_reward` (one session at a time; :meth:`get_reward_sequences` loops
    over the batch and stacks the results) or override :meth:`get_reward_sequences` with a
    vectorised version (faster: the loop is in Python, one call per session).

    >>> class TookAction1(BaseObjective):
    ...     def get_reward(self, last_environment_states, agent_actions, batch_id):
    ...         return (agent_actions[0] == 1).float()
    >>> TookAction1().get_reward_sequences(torch.zeros(2, 3, 4), torch.tensor([[1, 0, 1],
    ...                                                                       [0, 0, 1]]))
    tensor([[1., 0., 1.],
            [0., 0., 1.]])
    """

    def reset(self, batch_size: int | None, device: Any = None) -> Any:
        """Called when a new batch of ``batch_size`` sessions starts; does nothing by default.
        In a class that is also an environment (``class Env(BaseObjective,
        BaseEnvironment)``, as the original's experiments were), it is the environment's
        ``reset`` and returns its initial ``(states, observations)``."""
        next_reset = getattr(super(), "reset", None)
        return None if next_reset is None else next_reset(batch_size, device)

    def get_reward(self, last_environment_states: list[torch.Tensor],
                   agent_actions: list[torch.Tensor], batch_id: int) -> torch.Tensor:
        """The rewards of ONE session (not a batch): float ``[T]``.

        Args:
            last_environment_states: the session's environment states before each action,
                a list with one tensor ``[T, ...]`` per state (as the original passed them).
            agent_actions: the session's actions, a list with one tensor ``[T]`` (``[T, ...]``)
                per action.
            batch_id: the session's index in the batch.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement get_reward "
                                  f"(or get_reward_sequences)")

    def get_reward_sequences(self, env_state_sessions: torch.Tensor | Sequence[torch.Tensor],
                             agent_action_sessions: torch.Tensor | Sequence[torch.Tensor]
                             ) -> torch.Tensor:
        """The rewards of every session, float ``[B, T]``: :meth:`get_reward` per session.

        Args:
            env_state_sessions: environment states ``[B, T, ...]`` (a tensor, or a list of
                them for several states).
            agent_action_sessions: actions ``[B, T]`` (a tensor, or a list of them).
        """
        states = _as_list(env_state_sessions)
        actions = _as_list(agent_action_sessions)
        if not actions:
            raise ValueError("agent_action_sessions must hold at least one tensor [batch, time]")
        batch_size = actions[0].shape[0]
        rewards = [torch.as_tensor(self.get_reward([s[b] for s in states],
                                                   [a[b] for a in actions], b))
                   for b in range(batch_size)]
        return torch.stack(rewards).reshape(actions[0].shape[:2])


def _as_list(tensor_or_tensors: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(tensor_or_tensors, torch.Tensor):
        return [tensor_or_tensors]
    return list(tensor_or_tensors)
