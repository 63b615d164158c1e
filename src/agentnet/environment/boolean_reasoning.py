"""Boolean reasoning: ask about hidden boolean attributes, then guess the category they imply.

AgentNet's first experiment (``agentnet.experiments.boolean_reasoning``), rebuilt tensor-native.
"""
from __future__ import annotations

from typing import Any

import torch

from ._native import _check_discrete_actions
from .base import BaseEnvironment

__all__ = ["BooleanReasoning"]

RULES = ("xor", "copy")


class BooleanReasoning(BaseEnvironment):
    """Each session hides ``n_attributes`` random boolean attributes ``X1, X2, ...`` (fair coins,
    drawn at reset) and two categories that depend on them, exactly one of which is true:

    - ``rule="xor"`` (default): ``Y1 = X1 xor X2``, ``Y2 = not Y1``. The answer needs two
      attributes, seen on two different ticks: only an agent with memory can combine them.
    - ``rule="copy"``: ``Y1 = X1``, ``Y2 = not X1``, the original experiment's dependency.

    The other attributes are distractors. Every tick the agent takes one action:

    - ``i < n_attributes``: ask about ``X(i+1)``; it costs ``question_cost`` and the next
      observation reveals that attribute's value (asking again costs again).
    - ``n_attributes + j`` (``j`` in 0, 1): answer that ``Y(j+1)`` is the true category:
      ``+guess_reward`` if right, ``-guess_reward`` if wrong, and the episode ends.

    An episode whose ``max_steps``-th action is still a question also ends there, and that
    last question earns the wrong-answer penalty on top of its cost (a time-out counts as a
    wrong answer; it is a termination, not a truncation). With memory, the best policy asks
    X1 and X2 and answers: ``guess_reward - 2 * question_cost`` (0.8 by default). Without
    memory, an agent sees only the last answer: it can at best ask X2 after X1 = 1 and guess
    blindly after X1 = 0, about 0.35 by default.

    Observations: float32 ``[B, 2 * n_attributes]``, the answer to the previous tick's
    question: ``(X1 is true, X1 is false, X2 is true, X2 is false, ...)``, all zeros on an
    episode's first tick and after an answer. Actions: int64 ``[B]`` in
    ``[0, n_attributes + 2)``; another value or a float tensor is refused (a ``ValueError``
    eagerly on CPU; under ``torch.compile`` or on another device, an asynchronous assert's
    ``RuntimeError``). States: the attributes bool ``[B, n_attributes]``, the actions taken
    in the episode int64 ``[B]``, and a done flag bool ``[B]`` (answered or out of time).

    Args:
        batch_size: sessions :meth:`reset` starts when not told otherwise.
        n_attributes: hidden attributes (at least 2).
        max_steps: actions per episode before the time-out (at least 1).
        question_cost: what each question costs (subtracted from the reward).
        guess_reward: the reward of a right answer; a wrong answer or a time-out costs as much.
        rule: ``"xor"`` or ``"copy"``, see above.
        seed: seeds the environment's own CPU generator used by :meth:`reset`; when None it is
            drawn from torch's global RNG. Episodes restarted by ``autoreset`` draw their
            attributes on the device from torch's global RNG (no host round trip).
        autoreset: a finished session starts a new episode after its dead tick.

    >>> env = BooleanReasoning(batch_size=1, seed=2)
    >>> states, (obs,) = env.reset()
    >>> states[0]                                  # X1, X2, X3: Y1 = X1 xor X2 is True
    tensor([[False,  True, False]])
    >>> def step(states, action):
    ...     actions = [torch.tensor([action])]
    ...     new_states, (obs,) = env.get_action_results(states, actions)
    ...     return new_states, obs, env.get_rewards(states, actions, new_states)
    >>> states, obs, reward = step(states, 0)      # ask about X1: it is false
    >>> obs, reward
    (tensor([[0., 1., 0., 0., 0., 0.]]), tensor([-0.1000]))
    >>> states, obs, reward = step(states, 1)      # ask about X2: it is true
    >>> obs, reward
    (tensor([[0., 0., 1., 0., 0., 0.]]), tensor([-0.1000]))
    >>> states, obs, reward = step(states, 3)      # answer Y1: right
    >>> reward, env.get_is_alive(states)
    (tensor([1.]), tensor([False]))
    """

    action_shapes = [()]
    action_dtypes = [torch.int64]

    def __init__(self, batch_size: int = 1, n_attributes: int = 3, max_steps: int = 5,
                 question_cost: float = 0.1, guess_reward: float = 1.0, rule: str = "xor",
                 seed: int | None = None, autoreset: bool = False) -> None:
        if n_attributes < 2:
            raise ValueError(f"BooleanReasoning: n_attributes must be at least 2, "
                             f"got {n_attributes}")
        if max_steps < 1:
            raise ValueError(f"BooleanReasoning: max_steps must be positive, got {max_steps}")
        if rule not in RULES:
            raise ValueError(f"BooleanReasoning: rule must be one of {RULES}, got {rule!r}")
        self.batch_size, self.n_attributes, self.max_steps = batch_size, n_attributes, max_steps
        self.question_cost, self.guess_reward, self.rule = question_cost, guess_reward, rule
        self.autoreset = autoreset
        self.n_actions = n_attributes + 2
        self.state_shapes = [(n_attributes,), (), ()]
        self.state_dtypes = [torch.bool, torch.int64, torch.bool]
        self.observation_shapes = [(2 * n_attributes,)]
        self.observation_dtypes = [torch.float32]
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        self._generator = torch.Generator().manual_seed(seed)

    def __repr__(self) -> str:
        return (f"BooleanReasoning(batch_size={self.batch_size}, n_attributes="
                f"{self.n_attributes}, max_steps={self.max_steps}, rule={self.rule!r})")

    def get_true_category(self, attributes: torch.Tensor) -> torch.Tensor:
        """int64 ``[B]``: 0 where Y1 is true, 1 where Y2 is, from attributes bool ``[B, n]``."""
        y1 = attributes[:, 0] ^ attributes[:, 1] if self.rule == "xor" else attributes[:, 0]
        return (~y1).to(torch.int64)

    def reset(self, batch_size: int | None = None, device: Any = None
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Fresh attributes from the environment's generator; nothing asked yet."""
        batch = batch_size or self.batch_size
        attributes = torch.rand(batch, self.n_attributes, generator=self._generator) < 0.5
        attributes = attributes.to(device)
        steps = torch.zeros(batch, dtype=torch.int64, device=attributes.device)
        done = torch.zeros(batch, dtype=torch.bool, device=attributes.device)
        observations = torch.zeros(batch, 2 * self.n_attributes, device=attributes.device)
        return [attributes, steps, done], [observations]

    def get_action_results(self, last_states: list[torch.Tensor], actions: list[torch.Tensor]
                           ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        attributes, steps, done = last_states
        (action,) = actions
        _check_discrete_actions("BooleanReasoning", action, self.n_actions)
        playing = ~done
        is_question = playing & (action < self.n_attributes)
        new_steps = torch.where(playing, steps + 1, steps)
        new_done = done | (playing & (action >= self.n_attributes)) | (
            new_steps >= self.max_steps)
        # the answer to the question: one-hot at 2 * i (X_i true) or 2 * i + 1 (X_i false)
        asked = action.clamp(0, self.n_attributes - 1)
        value = attributes.gather(1, asked[:, None])[:, 0]
        index = 2 * asked + (~value).to(torch.int64)
        observation = torch.nn.functional.one_hot(index, 2 * self.n_attributes).to(
            torch.float32) * is_question[:, None]
        if self.autoreset:  # the dead tick after an episode is followed by a new episode
            fresh = torch.rand(attributes.shape, device=attributes.device) < 0.5
            attributes = torch.where(done[:, None], fresh, attributes)
            new_steps = new_steps.masked_fill(done, 0)
            new_done = new_done & ~done
        return [attributes, new_steps, new_done], [observation]

    def get_rewards(self, last_states: list[torch.Tensor], actions: list[torch.Tensor],
                    new_states: list[torch.Tensor]) -> torch.Tensor:
        """float32 ``[B]``: ``-question_cost`` per question, ``+-guess_reward`` for an answer,
        ``-guess_reward`` more for a question that runs out of time, 0 once done."""
        attributes, steps, done = last_states
        (action,) = actions
        is_question = action < self.n_attributes
        right = action - self.n_attributes == self.get_true_category(attributes)
        answer = torch.where(right, self.guess_reward, -self.guess_reward)
        timed_out = is_question & (steps + 1 >= self.max_steps)
        question = torch.where(timed_out, -self.question_cost - self.guess_reward,
                               -self.question_cost)
        reward = torch.where(is_question, question, answer)
        return torch.where(done, torch.zeros_like(reward), reward).to(torch.float32)

    def get_is_alive(self, states: list[torch.Tensor]) -> torch.Tensor:
        """bool ``[B]``: not yet answered and not out of time."""
        return ~states[2]
