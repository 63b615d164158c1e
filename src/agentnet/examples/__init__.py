"""agentnet's examples: each one readable file with a ``Config`` dataclass and
``main(total_steps=..., seed=..., out_dir=..., resume=..., overwrite=...)``.

:data:`EXAMPLES` is the only list of them: the command line imports nothing else by name,
so a run folder's ``config.json`` cannot make it import a module of its choosing.
"""
from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import Any

__all__ = ["EXAMPLES", "load_example", "warn_if_budget_below_learning_starts"]

EXAMPLES = {
    "cartpole_a2c": "n-step advantage actor-critic on batched native CartPole",
    "cartpole_nstep_q": "n-step Q-learning on batched native CartPole, no replay",
    "gym_cartpole_dqn": "DQN on Gymnasium's CartPole-v1: env pool, session pool, target network",
    "cartpole_ppo": "PPO with GAE on batched native CartPole",
    "cartpole_recurrent": "a GRU A2C agent on CartPole with the velocities hidden",
    "pendulum_naf": "normalized advantage functions on batched native Pendulum, with replay",
    "pendulum_ddpg": "deterministic policy gradient (DDPG) on native Pendulum, with replay",
    "boolean_reasoning": "a GRU agent asks before it answers: hidden-factor guessing",
    "stack_rnn_anbn": "a stack-augmented RNN learns a^n b^n, through Recurrence",
    "atari_dqn": "DQN on Atari Breakout: conv agent, frame-window memory (needs a GPU to learn)",
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
    ValueError: 'os' is not an agentnet example (examples: atari_dqn, boolean_reasoning, \
cartpole_a2c, cartpole_nstep_q, cartpole_ppo, cartpole_recurrent, gym_cartpole_dqn, \
pendulum_ddpg, pendulum_naf, stack_rnn_anbn)
    """
    short = name.removeprefix(f"{__name__}.")
    if short not in EXAMPLES:
        raise ValueError(f"{name!r} is not an agentnet example (examples: "
                         f"{', '.join(sorted(EXAMPLES))})")
    return importlib.import_module(f"{__name__}.{short}")


def warn_if_budget_below_learning_starts(config: Any, name: str) -> None:
    """Warn when ``config.total_steps`` ends before ``config.learning_starts``: such a run
    plays but never learns."""
    if config.total_steps < config.learning_starts:
        warnings.warn(f"{name}: total_steps={config.total_steps:,} is below learning_starts="
                      f"{config.learning_starts:,}: the agent will not learn", stacklevel=3)
