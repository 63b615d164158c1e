"""The original AgentNet's ``agentnet.experiments.boolean_reasoning``: a dummy task where the
agent profits from a logical formula.

The world has boolean hidden factors X1, X2, X3, Y1, Y2, with Y1 = X1 and Y2 = not X1. Each
turn the agent opens one factor (+1 / -1 for an X that is 1 / 0, +3 / -3 for a Y; -0.5 for
opening one twice) or ends the session (reward 0; later actions do nothing). The best policy
opens X1, then Y1 if X1 else Y2, then quits.

:class:`BooleanReasoningEnvironment` is the original's class on torch tensors, with its
contract: shapes given to :class:`~agentnet.environment.BaseEnvironment`'s constructor,
sessions starting from zeros, data loaded with ``generate_new_data_batch``, rewards from
:meth:`get_reward_sequences` (it is also a :class:`~agentnet.objective.BaseObjective`) and
aliveness from :meth:`get_whether_alive`. agentnet's own, configurable version of the task
is :class:`agentnet.environment.BooleanReasoning` (also here as ``BooleanReasoning``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ...environment.base import BaseEnvironment, as_tensor_list
from ...environment.boolean_reasoning import BooleanReasoning
from ...objective import BaseObjective

__all__ = ["BooleanReasoning", "BooleanReasoningEnvironment"]

n_attrs = 3
n_categories = 2
x_names = [f"X{i}" for i in range(1, n_attrs + 1)]
y_names = [f"Y{i}" for i in range(1, n_categories + 1)]


class BooleanReasoningEnvironment(BaseObjective, BaseEnvironment):
    """The original's boolean reasoning environment (see the module's docstring).

    State: float ``[B, 6]``, which actions were taken (the last one, "end session", stays
    1 once taken). Observation: float ``[B, 8]``: the opened factor's value, whether the
    session has ended, and the action one-hot. Action: int64 ``[B]`` in ``0..5``.

    >>> env = BooleanReasoningEnvironment()
    >>> env.generate_new_data_batch(4)
    >>> env.batch_size, tuple(env.observation_shapes), env.n_actions
    (4, (8,), 6)
    >>> state, observation = env.get_action_results([torch.zeros(4, 6)],
    ...                                             [torch.tensor([5, 0, 0, 5])])
    >>> observation[:, 1].tolist()   # sessions 0 and 3 have ended
    [1.0, 0.0, 0.0, 1.0]
    """

    feature_names = x_names + y_names + ["End_session_now"]
    n_actions = n_attrs + n_categories + 1

    def __init__(self) -> None:
        self.attributes = torch.zeros(10, n_attrs, dtype=torch.uint8)
        self.categories = torch.zeros(10, n_categories, dtype=torch.uint8)
        self.category_action_ids = torch.arange(n_attrs, n_attrs + n_categories)
        self.end_action_id = n_attrs + n_categories
        self.generate_new_data_batch(10)
        BaseEnvironment.__init__(self, [self.n_actions], [self.n_actions + 2], [()])

    @property
    def batch_size(self) -> int:
        """The number of sessions in the loaded data."""
        return int(self.attributes.shape[0])

    @property
    def joint_data(self) -> torch.Tensor:
        """float ``[B, 6]``: every factor, then 0 for the "end session" action."""
        end_action = torch.zeros(self.batch_size, 1, dtype=torch.uint8)
        return torch.cat([self.attributes, self.categories, end_action], dim=1).float()

    def _generate_data(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(attributes [B, 3], categories [B, 2])`` drawn from numpy's global generator."""
        attributes = np.random.randint(0, 2, [batch_size, n_attrs])
        y1 = attributes[:, 0].astype("int32")
        return attributes, np.stack([y1, 1 - y1], axis=1)

    def set_data_batch(self, attrs_batch: Any, categories_batch: Any) -> None:
        """Load data: attributes ``[B, 3]`` and categories ``[B, 2]`` (0/1 values)."""
        self.attributes = torch.as_tensor(np.asarray(attrs_batch), dtype=torch.uint8)
        self.categories = torch.as_tensor(np.asarray(categories_batch), dtype=torch.uint8)

    def generate_new_data_batch(self, batch_size: int = 10) -> None:
        """Draw ``batch_size`` new sessions' hidden factors and load them."""
        self.set_data_batch(*self._generate_data(batch_size))

    def get_whether_alive(self, observation_tensors: torch.Tensor | Sequence[torch.Tensor]
                          ) -> torch.Tensor:
        """bool ``[B, T]`` from observations ``[B, T, 8]``: True until the session ended (it
        is still alive on the tick it takes the end action)."""
        return as_tensor_list(observation_tensors)[0][:, :, 1] == 0

    def get_is_alive(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: the session has not taken the end action before ``states``."""
        return states[0][:, self.end_action_id] == 0

    def get_action_results(self, last_states: Any, actions: Any
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(new_state [B, 6], observation [B, 8])`` after ``actions`` int ``[B]``."""
        last_state = as_tensor_list(last_states)[0]
        action = as_tensor_list(actions)[0].long()
        batch_range = torch.arange(action.shape[0], device=action.device)
        session_active = last_state[:, self.end_action_id] == 0
        state_after_action = last_state.clone()
        state_after_action[batch_range, action] = 1
        new_state = torch.where(session_active[:, None], state_after_action, last_state)
        session_terminated = (new_state[:, self.end_action_id] == 1).to(last_state.dtype)
        data = self.joint_data.to(last_state.device)
        observation = torch.cat([
            data[batch_range, action][:, None],
            session_terminated[:, None],
            torch.nn.functional.one_hot(action, self.n_actions).to(last_state.dtype),
        ], dim=1)
        return new_state, observation

    def get_reward(self, last_environment_states: list[torch.Tensor],
                   agent_actions: list[torch.Tensor], batch_id: int) -> torch.Tensor:
        """float ``[T]``: the rewards of session ``batch_id``, from its states ``[T, 6]``
        before each action and its actions ``[T]`` (one session, as the original)."""
        state = last_environment_states[0]
        action = agent_actions[0].long()
        response = self.joint_data.to(state.device)[batch_id, action]
        return self._rewards(state, action, response)

    def get_reward_sequences(self, env_state_sessions: torch.Tensor | Sequence[torch.Tensor],
                             agent_action_sessions: torch.Tensor | Sequence[torch.Tensor]
                             ) -> torch.Tensor:
        """float ``[B, T]``: :meth:`get_reward` for every session at once."""
        state = as_tensor_list(env_state_sessions)[0]
        action = as_tensor_list(agent_action_sessions)[0].long()
        data = self.joint_data.to(state.device)
        response = torch.gather(data, 1, action)
        return self._rewards(state, action, response)

    def _rewards(self, state: torch.Tensor, action: torch.Tensor, response: torch.Tensor
                 ) -> torch.Tensor:
        """Rewards from the states before the actions ``[..., 6]``, the actions ``[...]`` and
        the opened factors' values ``[...]``."""
        has_tried_already = torch.gather(state, -1, action[..., None])[..., 0] != 0
        session_is_active = state[..., self.end_action_id] == 0
        has_finished_now = action == self.end_action_id
        is_category = torch.isin(action, self.category_action_ids.to(action.device))
        reward = torch.where(is_category, response * 6 - 3, response * 2 - 1)
        reward = torch.where(has_finished_now, torch.zeros_like(reward), reward)
        reward = torch.where(has_tried_already, torch.full_like(reward, -0.5), reward)
        return torch.where(session_is_active, reward, torch.zeros_like(reward)).float()
