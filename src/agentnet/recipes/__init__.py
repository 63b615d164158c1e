"""Recipes: one algorithm on any Gymnasium task, ``agentnet train RECIPE --env ID``.

A recipe names the examples that implement its algorithm, each one readable file
(:mod:`agentnet.examples`): first those made for one task (a *native twin*, whose
``GYMNASIUM_ID`` is that task: ``cartpole_a2c`` plays agentnet's batched native CartPole, a
twin of ``CartPole-v1``), then those that take any task (a ``Config`` with an ``env_id``),
in order of preference. :func:`resolve` picks the example for a task: its twin if it has one,
else the first example that takes the task's spaces.

Hyperparameters are data: ``<recipe>.toml`` beside this file holds the settings tuned per
Gymnasium id (a table per id: ``["Acrobot-v1"]``), and the settings for ids it does not list
(``[any.<example>]``); ``--set NAME=VALUE`` overrides any of them. Every name and type is
checked against the example's ``Config``.

>>> example, settings, how = resolve("ppo", "CartPole-v1")
>>> example.__name__, how
('agentnet.examples.cartpole_ppo', 'the example made for CartPole-v1')
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..examples import load_example
from ..utils.runs import config_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["RECIPES", "Recipe", "hyperparameters", "resolve", "takes_any_task"]


@dataclass(frozen=True)
class Recipe:
    """An algorithm and the examples that implement it (names of
    :data:`agentnet.examples.EXAMPLES`): native twins, then examples taking any task."""

    name: str
    description: str
    examples: tuple[str, ...]


RECIPES = {recipe.name: recipe for recipe in [
    Recipe("dqn", "deep Q-network: replay, target network, n-step Q-learning",
           ("gym_cartpole_dqn",)),
    Recipe("a2c", "n-step advantage actor-critic, no replay", ("cartpole_a2c",)),
    Recipe("ppo", "proximal policy optimization with generalized advantages",
           ("cartpole_ppo", "mujoco_ppo", "popgym_recurrent_ppo")),
    Recipe("nstep_q", "n-step Q-learning, no replay", ("cartpole_nstep_q",)),
    Recipe("ddpg", "deterministic policy gradient, with replay", ("pendulum_ddpg",)),
    Recipe("td3", "twin delayed DDPG, with replay", ("pendulum_td3",)),
    Recipe("naf", "normalized advantage functions: Q-learning for continuous actions",
           ("pendulum_naf", "lunar_lander_naf")),
    Recipe("sac", "soft actor-critic, with replay", ("pendulum_sac", "mujoco_sac")),
    Recipe("recurrent_ppo", "PPO with memory: chunks replayed from their entering memories",
           ("popgym_recurrent_ppo",)),
    Recipe("r2d2", "recurrent Q-learning from replay: stored memories, burn-in, n-step "
                   "double Q, prioritized sequences", ("popgym_r2d2",)),
]}
"""recipe name -> :class:`Recipe`"""


def hyperparameters(recipe: str) -> tuple[Path, dict[str, Any]]:
    """The path of ``<recipe>.toml`` and what it holds (``{}`` if there is none)."""
    path = Path(__file__).with_name(f"{recipe}.toml")
    if not path.exists():
        return path, {}
    with open(path, "rb") as file:
        return path, tomllib.load(file)


def resolve(recipe: str, env_id: str | None) -> tuple[ModuleType, dict[str, Any], str]:
    """The example that runs ``recipe`` on ``env_id`` (None: the first example's own task),
    the settings ``<recipe>.toml`` gives it for that task (checked against its ``Config``;
    ``env_id`` included for an example that takes any task), and how it was chosen, for the
    report. ValueError names the recipe and why no example fits (each one's reason)."""
    if recipe not in RECIPES:
        raise ValueError(f"{recipe!r} is not a recipe (recipes: {', '.join(RECIPES)})")
    modules = [load_example(name) for name in RECIPES[recipe].examples]
    path, table = hyperparameters(recipe)
    if env_id is None:
        module = modules[0]
        env_id = getattr(module, "GYMNASIUM_ID", None) or module.Config().env_id
    twins = [m for m in modules if getattr(m, "GYMNASIUM_ID", None) == env_id]
    refusals: list[str] = []
    for module in twins or [m for m in modules if takes_any_task(m)]:
        if not twins:
            try:
                module.make_gymnasium_env(module.Config(env_id=env_id)).close()  # its spaces
            except ValueError as error:
                refusals.append(f"{_short(module)}: "
                                f"{str(error).removeprefix(module.__name__ + ': ')}")
                continue
        tuned = dict(table.get(env_id, table.get("any", {}).get(_short(module), {})))
        if not twins:
            tuned["env_id"] = env_id
        where = f"{path} [{env_id if env_id in table else 'any.' + _short(module)}]"
        config = config_from_dict(module.Config, tuned, where)
        how = (f"the example made for {env_id}" if twins else
               f"settings tuned for {env_id}" if env_id in table else "settings for any task")
        return module, {name: getattr(config, name) for name in tuned}, how
    if refusals:
        raise ValueError(f"{recipe} cannot play {env_id}: {'; '.join(refusals)}")
    raise ValueError(f"{recipe} runs only on {', '.join(_own_tasks(modules))} so far (its "
                     f"own examples); for {env_id} try: "
                     f"{', '.join(r for r in RECIPES if _generic(RECIPES[r]))}")


def _short(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def takes_any_task(module: ModuleType) -> bool:
    """Whether the example ``module`` takes any Gymnasium task (its ``Config`` has an
    ``env_id``)."""
    return any(field.name == "env_id" for field in dataclasses.fields(module.Config))


def _own_tasks(modules: list[ModuleType]) -> list[str]:
    return [m.GYMNASIUM_ID for m in modules if hasattr(m, "GYMNASIUM_ID")]


def _generic(recipe: Recipe) -> bool:
    return any(takes_any_task(load_example(name)) for name in recipe.examples)
