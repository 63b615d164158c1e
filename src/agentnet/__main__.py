"""The main job: ``python -m agentnet`` (or the ``agentnet`` command).

``agentnet train [EXAMPLE]`` (the default: A2C on batched native CartPole) trains an example
agent, printing its progress, then evaluates it greedily on fresh episodes.
``agentnet list`` lists the examples. ``agentnet demo`` builds the seed's minimal Q-learning
agent and a GRU agent, plays native CartPole with each and prints what they saw: the fields'
shapes, the mean session length and the rollout speed in environment steps per second.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import numpy as np
import torch

from . import layers as L
from .agent import Agent
from .environment import CartPole
from .examples import EXAMPLES, load_example
from .memory import GRUCell
from .recipes import RECIPES
from .resolver import EpsilonGreedyResolver
from .utils.persistence import PersistenceError
from .utils.runs import TrainingInterrupted


def build_minimal_agent(n_observations: int = 4, n_actions: int = 2) -> Agent:
    """The seed's memoryless agent: linear Q-values and an epsilon-greedy resolver."""
    observation = L.InputLayer((None, n_observations), name="observation")
    q_values = L.DenseLayer(observation, n_actions, nonlinearity=None, name="q")
    resolver = EpsilonGreedyResolver(q_values, epsilon=0.1, name="resolver")
    return Agent(observation, policy_estimators=q_values, action_layers=resolver)


def build_gru_agent(n_observations: int = 4, n_actions: int = 2, n_hidden: int = 64) -> Agent:
    """DESIGN.md's agent: a GRU memory updated every tick, Q-values read from it."""
    observation = L.InputLayer((None, n_observations), name="observation")
    prev_gru = L.InputLayer((None, n_hidden), name="prev_gru")
    gru = GRUCell(prev_gru, observation, name="gru")
    q_values = L.DenseLayer(gru, n_actions, nonlinearity=None, name="q")
    resolver = EpsilonGreedyResolver(q_values, epsilon=0.1, name="resolver")
    return Agent(observation, agent_states={gru: prev_gru}, policy_estimators=q_values,
                 action_layers=resolver)


def describe_sessions(name: str, agent: Agent, batch_size: int, length: int) -> None:
    """Play one batch of sessions and print their shapes, lengths and speed."""
    env = CartPole(batch_size=batch_size)
    agent.get_sessions(env, session_length=2)  # warm-up: first calls allocate
    start = time.perf_counter()
    sessions = agent.get_sessions(env, session_length=length)
    seconds = time.perf_counter() - start
    print(f"\n== {name}: {sum(p.numel() for p in agent.parameters())} parameters")
    fields = {"observations": sessions.observations, "actions": sessions.actions,
              "policy": sessions.policy, "rewards": sessions.rewards,
              "is_alive": sessions.is_alive}
    fields.update({f"agent_states[{layer.name}]": value
                   for layer, value in sessions.agent_states.items()})
    for field, value in fields.items():
        print(f"  {field:<24} {str(tuple(value.shape)):<16} {value.dtype}")
    lengths = sessions.is_alive.sum(dim=1).float()
    print(f"  mean session length      {lengths.mean():.1f} ticks "
          f"(min {lengths.min():.0f}, max {lengths.max():.0f}) of {length}")
    print(f"  mean return              {sessions.rewards.sum(dim=1).mean():.1f}")
    print(f"  rollout speed            {batch_size * length / seconds:,.0f} steps/s "
          f"({batch_size} sessions x {length} ticks in {seconds * 1000:.0f} ms, with autograd)")


OPTIONAL = {"gymnasium": "gym", "matplotlib": "plot", "ale_py": "atari", "cv2": "atari",
            "moviepy": "video", "pygame": "video", "ray": "ray", "vizdoom": "doom",
            "Box2D": "box2d", "mujoco": "mujoco", "popgym": "popgym"}
"""module -> the extra of ``agentnet-torch`` that installs it"""


class UsageError(Exception):
    """A user error on the command line: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (``--help`` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def train(name: str, steps: int | None, seed: int | None, out: str | None = None,
          overwrite: bool = False, assignments: Sequence[str] = (), env: str | None = None
          ) -> dict:
    """Run an example's ``main`` (it prints its progress and its evaluation), or a recipe's
    example for the task ``env`` (``--env ID``) with its tuned settings; the settings changed
    by ``assignments`` (``--set NAME=VALUE``)."""
    if name in RECIPES:
        if any(assignment.partition("=")[0].strip() == "env_id" for assignment in assignments):
            raise UsageError("--set env_id: a recipe's task is given with --env")
        module, settings, chosen = recipe_settings(name, env)
        given = settings_from_command_line(module, assignments)
        settings.update(given)
    else:
        module = load_example(name)
        given = settings_from_command_line(module, assignments)
        settings = {**given, **task_setting(module, name, env, given)}
        chosen = f"agentnet train {name}: {EXAMPLES[name]}"
    for flag, field, value in (("--steps", "total_steps", steps), ("--seed", "seed", seed)):
        if value is not None and field in given:
            raise UsageError(f"{flag} and --set {field} both give {field}: give it once")
    print(chosen)
    if steps is None:
        steps = settings.pop("total_steps", None)
    if seed is not None:
        settings["seed"] = seed
    example = module.__name__.rsplit(".", 1)[-1]
    with refusals_as_usage_errors(env, (module.__name__, example)):
        return module.main(total_steps=steps, out_dir=out, overwrite=overwrite, **settings)


@contextlib.contextmanager
def refusals_as_usage_errors(env: str | None, names: tuple[str, ...] | None = None
                             ) -> Iterator[None]:
    """Refusals of the user's settings as :class:`UsageError`: a ValueError whose message
    starts with one of ``names`` (an example's refusals name it; None: every ValueError), and
    Gymnasium's errors for the task ``env`` (an id it does not know...)."""
    try:
        yield
    except ValueError as error:
        if names is not None and not str(error).startswith(names):
            raise
        raise UsageError(str(error)) from None
    except Exception as error:
        if env is None or not type(error).__module__.startswith("gymnasium"):
            raise
        raise UsageError(f"--env {env}: {error}") from None


def recipe_settings(recipe: str, env: str | None) -> tuple[ModuleType, dict[str, Any], str]:
    """The example that runs ``recipe`` on ``env``, the settings its hyperparameter file
    gives it (:func:`agentnet.recipes.resolve`), and a line that says so."""
    from .recipes import resolve

    if env is not None and ":" in env:
        import_user_module(env.rpartition(":")[0], f"--env {env}")
    with refusals_as_usage_errors(env):
        module, settings, how = resolve(recipe, env)
    example = module.__name__.rsplit(".", 1)[-1]
    task = env or settings.get("env_id") or getattr(module, "GYMNASIUM_ID", example)
    return module, settings, (f"agentnet train {recipe} on {task}: {example}, "
                              f"{EXAMPLES[example]} ({how})")


def settings_from_command_line(module: ModuleType, assignments: Sequence[str]
                               ) -> dict[str, Any]:
    """The settings ``--set`` gives, checked against the example's ``Config``."""
    from .utils.runs import settings_from_assignments

    try:
        return settings_from_assignments(module.Config, list(assignments), "--set")
    except ValueError as error:
        raise UsageError(str(error)) from None


def task_setting(module: ModuleType, example: str, env: str | None, given: dict[str, Any]
                 ) -> dict[str, Any]:
    """``{"env_id": env}`` for an example that takes any task (``{}`` without ``--env``).
    ``--env module:EnvId`` imports ``module`` (the user's own words), as Gymnasium would."""
    from .recipes import takes_any_task

    if env is None:
        return {}
    if not takes_any_task(module):
        examples = [name for name in sorted(EXAMPLES) if _loads_and_takes_any_task(name)]
        raise UsageError(f"--env: {example} trains on a task of its own; examples that take "
                         f"any Gymnasium id: {', '.join(examples)} (or a recipe: "
                         f"{', '.join(RECIPES)})")
    if "env_id" in given:
        raise UsageError("--env and --set env_id both give the task: give it once")
    module_name, colon, _ = env.rpartition(":")
    if colon:
        import_user_module(module_name, f"--env {env}")
    return {"env_id": env}


def _loads_and_takes_any_task(name: str) -> bool:
    """Whether the example ``name`` takes any task (False if an optional package it needs is
    missing)."""
    from .recipes import takes_any_task

    try:
        return takes_any_task(load_example(name))
    except ImportError:
        return False


def import_user_module(name: str, flag: str) -> None:
    """Import the module a user named on the command line (``--env module:EnvId``,
    ``--import module``), from the current folder as ``python -m`` would, or from the
    installed packages; a missing one is a :class:`UsageError`."""
    import importlib
    import os

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is None or not name.startswith(error.name):
            raise  # the module itself imports something missing: its own error
        raise UsageError(f"{flag}: no module named {error.name!r} to import (not installed, "
                         f"nor in {os.getcwd()})") from None


def read_run(directory: str) -> tuple[ModuleType, Any]:
    """The example module and its ``Config`` of the run saved in ``directory``
    (:func:`agentnet.examples.read_run`), a refusal as a :class:`UsageError`, a warning
    printed on one line."""
    from .examples import read_run as read

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            module, config = read(directory)
        except ValueError as error:
            raise UsageError(str(error)) from None
    for warning in caught:
        print(f"agentnet: {warning.message}")
    return module, config


def resume(directory: str, steps: int | None) -> dict:
    """Go on with the run saved in ``directory``, exactly where it stopped."""
    module, config = read_run(directory)
    settings = dataclasses.asdict(config)
    if steps is not None:
        settings["total_steps"] = steps
    print(f"agentnet: resuming {module.__name__} from {directory}")
    return module.main(out_dir=directory, resume=True, **settings)


def evaluate(directory: str, episodes: int, seed: int, max_steps: int | None = None) -> None:
    """Play the agent saved in ``directory`` greedily on the real Gymnasium environment
    (episodes cut after ``max_steps`` steps if given)."""
    import gymnasium

    from .driving.evaluation import evaluate as evaluate_greedily
    from .utils import persistence

    module, settings = read_run(directory)
    if not hasattr(module, "GYMNASIUM_ID") and not hasattr(module, "make_gymnasium_env"):
        raise UsageError(f"{module.__name__.rsplit('.', 1)[-1]} has no Gymnasium counterpart "
                         f"to play")
    agent = module.build_agent(settings)
    persistence.load(agent, Path(directory) / "checkpoint.safetensors")
    # an example's own make_gymnasium_env(config) (Atari preprocessing, hidden velocities),
    # else its Gymnasium id
    env_id = getattr(module, "GYMNASIUM_ID", None)
    names: list[str] = []  # the id of the environments made, for the report

    def make_env() -> gymnasium.Env:
        env = (module.make_gymnasium_env(settings) if hasattr(module, "make_gymnasium_env")
               else gymnasium.make(module.GYMNASIUM_ID))
        names.append(env_id or (env.spec.id if env.spec is not None else type(env).__name__))
        return env

    # no exploration: greedy resolvers (where a layer reads greedy), noise layers off
    played = evaluate_greedily(agent, make_env, env_id, 1, {"deterministic": True}, episodes,
                               max_steps=max_steps, seed=seed)
    returns, lengths = played.returns.numpy(), played.lengths.numpy()
    name = names[0] if names else env_id
    print(f"{name}: {episodes} greedy episodes; length {np.mean(lengths):.1f} +/- "
          f"{np.std(lengths):.1f} (min {np.min(lengths):.0f}, max {np.max(lengths):.0f}); "
          f"return min {np.min(returns):.1f}, max {np.max(returns):.1f}")
    print(f"mean return {np.mean(returns):.1f} +/- {np.std(returns):.1f} over {episodes} "
          f"episodes")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = _Parser(prog="agentnet", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    train_parser = commands.add_parser("train", help="train an example agent (the default)")
    train_parser.add_argument("example", nargs="?", default=None,
                              choices=[*RECIPES, *sorted(EXAMPLES)], metavar="RECIPE|EXAMPLE",
                              help="an algorithm for any task given with --env ("
                                   f"{', '.join(RECIPES)}), or an example (agentnet list; "
                                   "default: cartpole_a2c)")
    train_parser.add_argument("--steps", type=positive_int, default=None,
                              help="environment steps (the example's default if not given)")
    train_parser.add_argument("--seed", type=int, default=None, help="the seed (default 0)")
    train_parser.add_argument("--threads", type=positive_int, default=1,
                              help="torch threads (1 is fastest for these small networks)")
    train_parser.add_argument("--out", default=None,
                              help="a folder for config.json, metrics.csv, learning_curve.png "
                                   "and checkpoints (refused if it holds files, unless "
                                   "--overwrite)")
    train_parser.add_argument("--overwrite", action="store_true",
                              help="replace the run already in --out")
    train_parser.add_argument("--resume", default=None, metavar="DIR",
                              help="go on with the run saved in DIR, with its settings")
    train_parser.add_argument("--set", dest="assignments", action="append", default=[],
                              metavar="NAME=VALUE",
                              help="change a setting of the example's Config (repeatable; "
                                   "VALUE as JSON, or text for a string setting)")
    train_parser.add_argument("--env", default=None, metavar="ID",
                              help="the Gymnasium task, for examples that take any "
                                   "(module:EnvId imports module first)")
    evaluate_parser = commands.add_parser(
        "evaluate", help="play a saved agent on the real Gymnasium environment")
    evaluate_parser.add_argument("directory")
    evaluate_parser.add_argument("--episodes", type=positive_int, default=20)
    evaluate_parser.add_argument("--seed", type=int, default=0)
    evaluate_parser.add_argument("--max-steps", type=positive_int, default=None,
                                 help="cut each episode after this many steps")
    for parser_ in (train_parser, evaluate_parser):
        parser_.add_argument("--import", dest="imports", action="append", default=[],
                             metavar="MODULE",
                             help="import MODULE first (the one a run's module:EnvId task "
                                  "names: a run folder never imports code by itself)")
    commands.add_parser("list", help="list the recipes and the examples")
    demo = commands.add_parser("demo", help="play native CartPole with two untrained agents")
    demo.add_argument("--batch-size", type=positive_int, default=256,
                      help="sessions played at once")
    demo.add_argument("--length", type=positive_int, default=100, help="ticks per session")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--threads", type=positive_int, default=1, help="torch threads")
    return parser, {"train": train_parser, "evaluate": evaluate_parser, "demo": demo}


def run_training(args: argparse.Namespace) -> None:
    """``agentnet train``: a new run, or ``--resume``."""
    if args.resume:
        ignored = [flag for flag, value in [("EXAMPLE", args.example), ("--seed", args.seed),
                                            ("--out", args.out),
                                            ("--overwrite", args.overwrite or None),
                                            ("--set", args.assignments or None),
                                            ("--env", args.env)]
                   if value is not None]
        if ignored:
            raise UsageError(f"--resume goes on with the example, settings and folder saved in "
                             f"{args.resume}: {', '.join(ignored)} cannot be given with it "
                             f"(only --steps and --threads)")
        resume(args.resume, args.steps)
    else:
        train(args.example or "cartpole_a2c", args.steps, args.seed, args.out, args.overwrite,
              args.assignments, args.env)


def main(argv: Sequence[str] | None = None) -> None:
    parser, subparsers = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in {"train", "evaluate", "list", "demo", "-h", "--help"}:
        argv = ["train", *argv]  # training the default example is the main job
    args = parser.parse_args(argv)
    if args.command == "list":
        print("recipes (agentnet train RECIPE --env ID):")
        for name, recipe in RECIPES.items():
            print(f"  {name:<22} {recipe.description} ({', '.join(recipe.examples)})")
        print("examples (agentnet train EXAMPLE):")
        for name, description in EXAMPLES.items():
            print(f"  {name:<22} {description}")
        return
    command = subparsers[args.command]
    torch.set_num_threads(args.threads if args.command != "evaluate" else 1)
    warnings.formatwarning = _one_line_warning
    try:
        for name in getattr(args, "imports", []):
            import_user_module(name, f"--import {name}")
        if args.command == "demo":
            run_demo(args)
        elif args.command == "evaluate":
            evaluate(args.directory, args.episodes, args.seed, args.max_steps)
        else:
            run_training(args)
    except TrainingInterrupted as stop:
        how = (f"resume with: agentnet train --resume {stop.path}" if stop.resumable
               else f"play it with: agentnet evaluate {stop.path}")
        print(f"agentnet: interrupted; saved step {stop.step:,} in {stop.path}; {how}",
              file=sys.stderr)
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        print("agentnet: interrupted" + (" (nothing saved: --out DIR keeps checkpoints)"
                                         if args.command == "train" and not args.out
                                         and not args.resume else ""), file=sys.stderr)
        raise SystemExit(130) from None
    except (UsageError, PersistenceError, FileNotFoundError) as error:
        command.error(str(error))
    except ModuleNotFoundError as error:
        extra = OPTIONAL.get((error.name or "").split(".")[0])
        if extra is None:
            raise
        command.error(f"this needs {error.name}, which is not installed: pip install "
                      f"'agentnet-torch[{extra}]' (or, in a clone, pip install -e '.[{extra}]')")
    except OSError as error:  # a folder that cannot be written, a full disk...
        where = f"{error.filename}: " if error.filename else ""
        command.error(f"{where}{error.strerror or error}")


def run_demo(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    print(f"agentnet demo: native CartPole, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    describe_sessions("minimal Q agent (the seed's)", build_minimal_agent(), args.batch_size,
                      args.length)
    describe_sessions("GRU Q agent", build_gru_agent(), args.batch_size, args.length)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, line: str | None = None) -> str:
    return f"agentnet: warning: {message}\n"


if __name__ == "__main__":
    main()
