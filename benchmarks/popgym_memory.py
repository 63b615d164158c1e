"""Memory on POPGym: agentnet's recurrent recipes against sb3-contrib's RecurrentPPO.

Each run trains on one POPGym task (SB3 for ``--steps`` environment steps, agentnet for
``--agentnet-steps``, the same by default) and pauses every ``--every`` steps for a greedy
evaluation (the most probable action; sb3-contrib's ``deterministic=True``, its LSTM state
carried through each episode) on ``EVAL_EPISODES`` fresh episodes, the same seeds for every
library, its time excluded. The libraries:

- ``agentnet-gru``, ``agentnet-lstm``, ``agentnet-window``, ``agentnet-attention``,
  ``agentnet-stack``, ``agentnet-none``: ``agentnet.examples.popgym_recurrent_ppo`` with its
  defaults (or those ``--agentnet-set NAME=VALUE`` changes) and that ``memory`` (the memory
  zoo; ``none``: Dense layers in the memories' places, the baseline);
- ``agentnet-r2d2``: ``agentnet.examples.popgym_r2d2`` with its defaults (a GRU);
- ``sb3``: sb3-contrib's ``RecurrentPPO("MlpLstmPolicy")`` with its defaults (rl-zoo3 has no
  POPGym entry, so its default settings: one environment, ``n_steps=128``, LSTM of 256).

Both see the task through the example's ``make_gymnasium_env`` (observations flattened to
one float vector, Discrete parts one-hot; MultiDiscrete actions as one Discrete), so they
learn the same problem. Reported per task and library (medians over seeds): the return at
SB3's step budget (equal steps), the return at SB3's training time (equal wall time: give
agentnet more steps than SB3 so that its run lasts as long), and the training seconds agentnet
took to first reach SB3's final return, as a fraction of SB3's.

    python benchmarks/popgym_memory.py --agentnet-steps 500000        # the issue's 4 tasks
    python benchmarks/popgym_memory.py --tasks RepeatPreviousEasy --seeds 0 --steps 20000
    python benchmarks/popgym_memory.py --libraries agentnet-gru agentnet-lstm agentnet-window \
        agentnet-attention agentnet-stack agentnet-none          # the memory zoo

One thread (``torch.set_num_threads(1)``), CPU, seed by seed with the libraries interleaved.
``--save FILE`` writes every run's evaluations as JSON; ``--load FILE ...`` adds runs saved
before to the table and the figure (runs of one task, library and seed made now replace
them), so that SB3's slow runs and agentnet's can be made in separate processes:

    python benchmarks/popgym_memory.py --libraries sb3 --seeds 1 --save sb3_1.json
    python benchmarks/popgym_memory.py --libraries agentnet-gru --seeds 1 --load sb3_1.json

Needs ``popgym`` and ``sb3-contrib``.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics

import numpy as np
import torch
from time_to_solve import Run

from agentnet.driving.evaluation import evaluate
from agentnet.examples import popgym_r2d2
from agentnet.examples import popgym_recurrent_ppo as recipe
from agentnet.utils.runs import settings_from_assignments

TASKS = ["RepeatPreviousEasy", "CountRecallEasy", "PositionOnlyCartPoleEasy", "AutoencodeEasy"]
LIBRARIES = ["agentnet-gru", "agentnet-lstm", "agentnet-window", "agentnet-attention",
             "agentnet-stack", "agentnet-none", "agentnet-r2d2", "sb3"]
EVAL_EPISODES = 20
EVAL_SEED = 10_000


class Curve(Run):
    """One run's evaluations (``benchmarks/time_to_solve.py``'s :class:`Run`, no threshold:
    the budget ends it), read at a step or a time."""

    def __init__(self, every: int, budget: int, seed: int):
        super().__init__(every, budget, threshold=math.inf, score=lambda play: play())
        self.seed = seed

    def to_json(self) -> dict:
        return {"seed": self.seed, "every": self.every, "budget": self.budget,
                "evaluations": self.evaluations}

    @classmethod
    def from_json(cls, saved: dict) -> Curve:
        curve = cls(saved["every"], saved["budget"], saved["seed"])
        curve.evaluations = [tuple(e) for e in saved["evaluations"]]
        return curve

    @property
    def final(self) -> float:
        return self.evaluations[-1][2]

    @property
    def seconds(self) -> float:
        return self.evaluations[-1][1]

    def at_step(self, step: int) -> float:
        """The return of the first evaluation made at or after ``step`` environment steps
        (evaluations wait for the end of a collection), else the last one."""
        return next((r for n, _, r in self.evaluations if n >= step), self.final)

    def at_seconds(self, seconds: float) -> float:
        """The return of the last evaluation made within ``seconds`` of training (-inf if
        none)."""
        within = [r for _, s, r in self.evaluations if s <= seconds]
        return within[-1] if within else -float("inf")

    def seconds_to(self, level: float) -> float | None:
        """Training seconds to the first evaluation at or above ``level`` (None: never)."""
        return next((s for _, s, r in self.evaluations if r >= level), None)


def env_id(task: str) -> str:
    return f"popgym-{task}-v0"


def agentnet_run(example, task: str, memory: str, seed: int, steps: int, every: int,
                 assignments: list[str]) -> Curve:
    """A run of ``example`` (``popgym_recurrent_ppo`` or ``popgym_r2d2``) with ``memory`` and
    the settings ``assignments`` give (``NAME=VALUE``, as ``agentnet train --set``)."""
    curve = Curve(every, steps, seed)
    config = recipe.Config(env_id=env_id(task))

    def score(agent) -> float:
        return evaluate(agent, lambda: recipe.make_gymnasium_env(config), None, EVAL_EPISODES,
                        {}, EVAL_EPISODES, seed=EVAL_SEED).returns.mean().item()

    curve.start()
    settings = settings_from_assignments(example.Config, assignments, "--agentnet-set")
    example.main(total_steps=steps, verbose=False, seed=seed, eval_episodes=1,
                 env_id=env_id(task), memory=memory, **settings,
                 on_progress=lambda step, agent: curve.maybe_evaluate(
                     step, lambda: lambda: score(agent)))
    return curve


def sb3_score(model, config: recipe.Config) -> float:
    """Mean return of ``EVAL_EPISODES`` episodes in lockstep, the LSTM state carried."""
    envs = [recipe.make_gymnasium_env(config) for _ in range(EVAL_EPISODES)]
    observations = np.stack([env.reset(seed=EVAL_SEED + g)[0] for g, env in enumerate(envs)])
    returns, running = np.zeros(EVAL_EPISODES), np.ones(EVAL_EPISODES, dtype=bool)
    state, starts = None, np.ones(EVAL_EPISODES, dtype=bool)
    while running.any():
        actions, state = model.predict(observations, state=state, episode_start=starts,
                                       deterministic=True)
        starts = np.zeros(EVAL_EPISODES, dtype=bool)
        for i in np.flatnonzero(running):
            observation, reward, terminated, truncated, _ = envs[i].step(actions[i])
            observations[i] = observation
            returns[i] += reward
            running[i] = not (terminated or truncated)
    for env in envs:
        env.close()
    return float(returns.mean())


def sb3_run(task: str, seed: int, steps: int, every: int) -> Curve:
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    curve = Curve(every, steps, seed)
    config = recipe.Config(env_id=env_id(task))

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            return not curve.maybe_evaluate(
                self.num_timesteps, lambda: lambda: sb3_score(self.model, config))

    curve.start()
    env = make_vec_env(lambda: recipe.make_gymnasium_env(config), n_envs=1, seed=seed)
    model = RecurrentPPO("MlpLstmPolicy", env, seed=seed)
    model.learn(total_timesteps=steps, callback=Evaluate())
    return curve


def run(library: str, task: str, seed: int, steps: int, every: int,
        assignments: list[str]) -> Curve:
    if library == "sb3":
        return sb3_run(task, seed, steps, every)
    if library == "agentnet-r2d2":
        return agentnet_run(popgym_r2d2, task, "gru", seed, steps, every, assignments)
    return agentnet_run(recipe, task, library.removeprefix("agentnet-"), seed, steps, every,
                        assignments)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


Results = dict[tuple[str, str], dict[int, Curve]]
"""(task, library) -> seed -> its run"""


def summarize(results: Results) -> str:
    """A Markdown table: per task and library, the final return (per seed and the median)
    and the median training seconds; against SB3 (the seeds both ran), medians: the return
    at SB3's step budget, the return at SB3's training seconds, and the seconds to SB3's final
    return as a fraction of SB3's (inf: never reached)."""
    lines = ["| task | library | final return (per seed) | median | median s "
             "| at SB3's steps | at SB3's seconds | s to SB3's final / SB3's s |",
             "|---|---|---|---|---|---|---|---|"]
    for (task, library), by_seed in results.items():
        curves = [by_seed[seed] for seed in sorted(by_seed)]
        finals = [c.final for c in curves]
        row = (f"| {task} | {library} | {', '.join(f'{r:.2f}' for r in finals)} "
               f"| {statistics.median(finals):.2f} "
               f"| {statistics.median(c.seconds for c in curves):.0f} |")
        sb3 = results.get((task, "sb3"), {})
        pairs = [(by_seed[seed], sb3[seed]) for seed in sorted(by_seed) if seed in sb3]
        if library != "sb3" and pairs:
            at_steps = [c.at_step(s.budget) for c, s in pairs]
            at_seconds = [c.at_seconds(s.seconds) for c, s in pairs]
            to_sb3 = [(c.seconds_to(s.final), s) for c, s in pairs]
            ratios = [t / s.seconds if t is not None else float("inf") for t, s in to_sb3]
            row += (f" {statistics.median(at_steps):.2f} | {statistics.median(at_seconds):.2f} "
                    f"| {statistics.median(ratios):.2f} "
                    f"({', '.join(f'{r:.2f}' for r in ratios)}) |")
        else:
            row += " | | |"
        lines.append(row)
    return "\n".join(lines)


def plot(results: Results, path: str) -> None:
    """One panel per task: every run's greedy mean return against training seconds."""
    from matplotlib.figure import Figure

    tasks = list(dict.fromkeys(task for task, _ in results))
    colours = dict(zip(LIBRARIES, ("tab:blue", "tab:green", "tab:purple", "tab:red",
                                   "tab:brown", "tab:grey", "tab:pink", "tab:orange")))
    figure = Figure(figsize=(4.2 * len(tasks), 3.2), dpi=100, layout="constrained")
    for axes, task in zip(figure.subplots(1, len(tasks), squeeze=False)[0], tasks):
        for library in LIBRARIES:
            for i, curve in enumerate(results.get((task, library), {}).values()):
                axes.plot([s for _, s, _ in curve.evaluations],
                          [r for _, _, r in curve.evaluations], color=colours[library],
                          alpha=0.8, marker=".", label=library if i == 0 else None)
        axes.set(title=task, xlabel="training seconds (evaluations excluded)",
                 ylabel=f"greedy mean return ({EVAL_EPISODES} episodes)")
        axes.legend(loc="lower right", fontsize="small")
    figure.savefig(path)


def save(results: Results, path: str) -> None:
    with open(path, "w") as file:
        json.dump([{"task": task, "library": library, **curve.to_json()}
                   for (task, library), by_seed in results.items()
                   for curve in by_seed.values()], file)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--libraries", nargs="+", default=["agentnet-gru", "sb3"],
                        choices=LIBRARIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=50_000,
                        help="environment steps of each SB3 run")
    parser.add_argument("--agentnet-steps", type=int, default=None,
                        help="environment steps of each agentnet run (default: --steps)")
    parser.add_argument("--every", type=int, default=10_000,
                        help="environment steps between evaluations")
    parser.add_argument("--agentnet-set", dest="assignments", action="append", default=[],
                        metavar="NAME=VALUE",
                        help="a setting of the agentnet example (repeatable; as agentnet "
                             "train --set)")
    parser.add_argument("--plot", default=None, metavar="PNG", help="save the curves there")
    parser.add_argument("--save", default=None, metavar="JSON",
                        help="write every run's evaluations there (loaded runs included)")
    parser.add_argument("--load", nargs="+", default=[], metavar="JSON",
                        help="add the runs of files --save wrote")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results: Results = {}
    for path in args.load:
        with open(path) as file:
            for saved in json.load(file):
                results.setdefault((saved["task"], saved["library"]), {})[saved["seed"]] = (
                    Curve.from_json(saved))
    for task in args.tasks:
        for seed in args.seeds:
            for library in args.libraries:  # interleaved: each seed runs every library
                steps = (args.steps if library == "sb3" or args.agentnet_steps is None
                         else args.agentnet_steps)
                curve = run(library, task, seed, steps, args.every, args.assignments)
                results.setdefault((task, library), {})[seed] = curve
                points = " ".join(f"{n // 1000}k:{r:.2f}" for n, _, r in curve.evaluations)
                print(f"{task} {library} seed {seed}: {curve.final:.2f} after "
                      f"{curve.seconds:.0f} s\n    {points}", flush=True)
                if args.save:  # after every run: a long benchmark that stops keeps its runs
                    save(results, args.save)
    table = summarize(results)
    print(f"\n{table}\n\n(python benchmarks/popgym_memory.py "
          f"{' '.join(argv) if argv is not None else ''})".rstrip())
    if args.plot:
        plot(results, args.plot)
    return table


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
