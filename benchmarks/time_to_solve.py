"""Time to solve Gymnasium's CartPole-v1: agentnet's examples against Stable-Baselines3.

Three pairs, run in the same process, on the same protocol:

- ``dqn``: ``agentnet.examples.gym_cartpole_dqn`` (Gymnasium through ``EnvPool``, replayed
  sessions) against SB3's DQN with rl-zoo3's tuned CartPole-v1 hyperparameters;
- ``ppo``: ``agentnet.examples.cartpole_ppo`` (trained on agentnet's native CartPole, as a
  user of agentnet would) against SB3's PPO with rl-zoo3's tuned CartPole-v1 settings;
- ``a2c``: ``agentnet.examples.cartpole_a2c`` (native CartPole) against the same SB3 PPO runs
  (each SB3 run is made once and serves both pairs).

Training pauses every ``K`` environment steps (``--dqn-every``, ``--pg-every``) for a greedy
evaluation on 20 real Gymnasium CartPole-v1 episodes (the same seeds every time, the same
plain Gymnasium loop for both libraries; its time is excluded). We record the training wall
time and steps until the mean return first reaches 475, and until it has been at or above
475 for three evaluations in a row (a lucky spike is not a solve). Each run trains at most for
its library's own configured length (agentnet: the example's ``Config.total_steps``, over
which its schedules run; SB3: rl-zoo3's ``n_timesteps``) and stops early once solved three
times in a row; a run that does not get there is reported as not solved within that budget.
Medians over seeds (of solved runs only, which flatters a library with unsolved runs; the
table says how many solved) and the agentnet/SB3 ratio of the medians.

    python benchmarks/time_to_solve.py                      # all pairs, seeds 0 1 2
    python benchmarks/time_to_solve.py --pairs dqn --seeds 0 1
    python benchmarks/time_to_solve.py --plot docs/time_to_solve.png   # and the curves

Runs single-threaded (``torch.set_num_threads(1)``), on CPU, seed by seed with the two
libraries interleaved (agentnet, SB3, agentnet, SB3...), after a warm-up that pays the
process's one-time import costs outside every timed run.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np
import torch

SOLVED = 475.0
IN_A_ROW = 3
EVAL_EPISODES = 20
EVAL_SEED = 10_000

# rl-zoo3, hyperparams/dqn.yml and a2c.yml, CartPole-v1
SB3_DQN: dict[str, Any] = dict(
    learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000,
    gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
    exploration_fraction=0.16, exploration_final_eps=0.04,
    policy_kwargs=dict(net_arch=[256, 256]))
SB3_DQN_TIMESTEPS = 50_000
# rl-zoo3, hyperparams/ppo.yml, CartPole-v1 ("lin_x": x annealed linearly to 0)
SB3_PPO: dict[str, Any] = dict(
    n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
    learning_rate=lambda remaining: 1e-3 * remaining, clip_range=lambda remaining: 0.2 * remaining)
SB3_PPO_ENVS = 8
SB3_PPO_TIMESTEPS = 100_000


def greedy_returns(act: Callable[[np.ndarray], np.ndarray]) -> float:
    """Mean return of ``EVAL_EPISODES`` Gymnasium CartPole-v1 episodes played in lockstep by
    ``act`` (float32 observations ``[n, 4]`` -> actions ``[n]``)."""
    envs = [gymnasium.make("CartPole-v1") for _ in range(EVAL_EPISODES)]
    observations = np.stack([env.reset(seed=EVAL_SEED + g)[0] for g, env in enumerate(envs)])
    returns = np.zeros(EVAL_EPISODES)
    running = np.ones(EVAL_EPISODES, dtype=bool)
    while running.any():
        actions = act(observations.astype(np.float32))
        for i in np.flatnonzero(running):
            observation, reward, terminated, truncated, _ = envs[i].step(int(actions[i]))
            observations[i] = observation
            returns[i] += reward
            running[i] = not (terminated or truncated)
    for env in envs:
        env.close()
    return float(returns.mean())


@dataclass
class Run:
    """One training run's evaluations and the moments it solved."""

    every: int
    budget: int
    threshold: float = SOLVED
    """the greedy mean return that counts as solved"""
    score: Callable[[Callable[[np.ndarray], np.ndarray]], float] = greedy_returns
    """the greedy mean return of an ``act`` function (observations -> actions)"""
    evaluations: list[tuple[int, float, float]] = field(default_factory=list)
    """(environment steps, training seconds, greedy mean return)"""
    first: tuple[int, float] | None = None
    """(steps, seconds) when the mean return first reached ``threshold``"""
    stable: tuple[int, float] | None = None
    """(steps, seconds) of the ``IN_A_ROW``-th evaluation in a row at or above
    ``threshold``"""
    _start: float = 0.0
    _excluded: float = 0.0
    _next: int = 0

    def start(self) -> None:
        self._start, self._excluded, self._next = time.perf_counter(), 0.0, self.every

    def maybe_evaluate(self, step: int,
                       make_act: Callable[[], Callable[[np.ndarray], np.ndarray]]) -> bool:
        """Evaluate ``make_act()`` if ``step`` passed the next multiple of ``every``; True to
        stop."""
        if step < self._next and step < self.budget:
            return False
        paused = time.perf_counter()
        seconds = paused - self._start - self._excluded
        self._next = (step // self.every + 1) * self.every
        score = self.score(make_act())
        self.evaluations.append((step, seconds, score))
        if score >= self.threshold and self.first is None:
            self.first = (step, seconds)
        recent = [s for _, _, s in self.evaluations[-IN_A_ROW:]]
        if len(recent) == IN_A_ROW and min(recent) >= self.threshold and self.stable is None:
            self.stable = (step, seconds)
        self._excluded += time.perf_counter() - paused
        return self.stable is not None or step >= self.budget


# --- agentnet ------------------------------------------------------------------------------
def agentnet_act(agent) -> Callable[[np.ndarray], np.ndarray]:
    react = agent.get_react_function(greedy=True)
    return lambda observations: np.asarray(react(observations).actions)


def run_agentnet(example, seed: int, every: int, cap: int | None) -> Run:
    budget = example.Config().total_steps  # its schedules (epsilon, step size) span this
    budget = budget if cap is None else min(budget, cap)
    run = Run(every, budget)
    run.start()
    example.main(total_steps=budget, verbose=False, seed=seed, eval_episodes=1,
                 on_progress=lambda step, agent: run.maybe_evaluate(
                     step, lambda: agentnet_act(agent)))
    return run


def agentnet_dqn(seed: int, every: int, cap: int | None) -> Run:
    from agentnet.examples import gym_cartpole_dqn
    return run_agentnet(gym_cartpole_dqn, seed, every, cap)


def agentnet_a2c(seed: int, every: int, cap: int | None) -> Run:
    from agentnet.examples import cartpole_a2c
    return run_agentnet(cartpole_a2c, seed, every, cap)


def agentnet_ppo(seed: int, every: int, cap: int | None) -> Run:
    from agentnet.examples import cartpole_ppo
    return run_agentnet(cartpole_ppo, seed, every, cap)


# --- Stable-Baselines3 ---------------------------------------------------------------------
def run_sb3(make_model: Callable[[], object], budget: int, every: int,
            cap: int | None) -> Run:
    from stable_baselines3.common.callbacks import BaseCallback

    budget = budget if cap is None else min(budget, cap)
    run = Run(every, budget)

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            model = self.model

            def make_act() -> Callable[[np.ndarray], np.ndarray]:
                return lambda obs: model.predict(obs, deterministic=True)[0]
            return not run.maybe_evaluate(self.num_timesteps, make_act)

    run.start()
    model = make_model()
    model.learn(total_timesteps=budget, callback=Evaluate())  # type: ignore[attr-defined]
    return run


def sb3_dqn(seed: int, every: int, cap: int | None) -> Run:
    from stable_baselines3 import DQN
    return run_sb3(lambda: DQN("MlpPolicy", "CartPole-v1", seed=seed, **SB3_DQN),
                   SB3_DQN_TIMESTEPS, every, cap)


def sb3_ppo(seed: int, every: int, cap: int | None) -> Run:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    def make():
        env = make_vec_env("CartPole-v1", n_envs=SB3_PPO_ENVS, seed=seed)
        return PPO("MlpPolicy", env, seed=seed, **SB3_PPO)
    return run_sb3(make, SB3_PPO_TIMESTEPS, every, cap)


PAIRS = {"dqn": (agentnet_dqn, sb3_dqn), "ppo": (agentnet_ppo, sb3_ppo),
         "a2c": (agentnet_a2c, sb3_ppo)}


# --- the protocol around the runs ----------------------------------------------------------
def warm_up() -> None:
    """Pay the process's one-time costs before any run is timed: the libraries' imports and
    PyTorch's lazy import of ``torch._dynamo`` on the first optimizer step (about 0.6 s),
    which would otherwise land on whichever run happens to come first."""
    import stable_baselines3  # noqa: F401

    import agentnet.examples.gym_cartpole_dqn  # noqa: F401

    parameter = torch.nn.Parameter(torch.zeros(1))
    parameter.grad = torch.ones(1)
    torch.optim.Adam([parameter]).step()


def describe(run: Run) -> str:
    """One run's outcome and its evaluations (``steps in thousands: mean return``)."""
    curve = " ".join(f"{n // 1000}k:{s:.0f}" for n, _, s in run.evaluations)
    outcome = (f"3 in a row at {run.stable[0]:,} steps, {run.stable[1]:.1f} s" if run.stable
               else f"not solved (3 in a row) within {run.budget:,} steps")
    first = (f"first at {run.first[0]:,} steps, {run.first[1]:.1f} s" if run.first
             else f"never >= {run.threshold:g}")
    return f"{first}; {outcome}\n    {curve}"


def plot(results: dict[tuple[str, str], list[Run]], seeds: list[int], path: str) -> None:
    """One panel per pair: every run's greedy mean return against its training seconds,
    agentnet and SB3 in two colours, the 475 bar dashed; saved to ``path``."""
    from matplotlib.figure import Figure

    pairs = list(dict.fromkeys(pair for pair, _ in results))
    figure = Figure(figsize=(4.2 * len(pairs), 3.2), dpi=100, layout="constrained")
    for axes, pair in zip(figure.subplots(1, len(pairs), squeeze=False)[0], pairs):
        for library, colour in (("agentnet", "tab:blue"), ("sb3", "tab:orange")):
            for seed, run in zip(seeds, results[pair, library]):
                seconds = [s for _, s, _ in run.evaluations]
                returns = [r for _, _, r in run.evaluations]
                axes.plot(seconds, returns, color=colour, alpha=0.8, marker=".",
                          label=("agentnet" if library == "agentnet" else "SB3")
                          if seed == seeds[0] else None)
        axes.axhline(SOLVED, color="grey", linestyle="--", linewidth=1)
        axes.set(title=f"{pair}: agentnet vs SB3 {'DQN' if pair == 'dqn' else 'PPO'}",
                 xlabel="training seconds (evaluations excluded)",
                 ylabel="greedy mean return (20 episodes)", ylim=(0, 520))
        axes.legend(loc="lower right")
    figure.savefig(path)


# --- the report ----------------------------------------------------------------------------
def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "-"
    return f"{value:,.1f} {unit}" if unit == "s" else f"{value:,.0f}"


def summarize(results: dict[tuple[str, str], list[Run]], n_seeds: int,
              threshold: str = f"{SOLVED:g}") -> str:
    lines = [f"| pair | library | solved (first / 3 in a row) | median s to first >= "
             f"{threshold} | median steps | median s to 3 in a row | median steps |",
             "|---|---|---|---|---|---|---|"]
    medians: dict[tuple[str, str], tuple[float | None, float | None]] = {}
    for (pair, library), runs in results.items():
        first = [r.first for r in runs if r.first]
        stable = [r.stable for r in runs if r.stable]
        m = (_median([s for _, s in first]), _median([s for _, s in stable]))
        medians[pair, library] = m
        lines.append(f"| {pair} | {library} | {len(first)}/{n_seeds} / {len(stable)}/{n_seeds} "
                     f"| {_fmt(m[0])} | {_fmt(_median([n for n, _ in first]), 'steps')} "
                     f"| {_fmt(m[1])} | {_fmt(_median([n for n, _ in stable]), 'steps')} |")
    for pair in dict.fromkeys(p for p, _ in results):
        a, b = medians.get((pair, "agentnet")), medians.get((pair, "sb3"))
        if a and b:
            ratio = [f"{x / y:.2f}" if x and y else "n/a" for x, y in zip(a, b)]
            lines.append(f"\n{pair}: agentnet/SB3 wall-time ratio of medians: first {ratio[0]}, "
                         f"3 in a row {ratio[1]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--dqn-every", type=int, default=2_000,
                        help="environment steps between evaluations of the DQN runs")
    parser.add_argument("--pg-every", type=int, default=5_000,
                        help="environment steps between evaluations of the PPO and A2C runs")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="also draw every run's evaluations against its seconds there")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="cap every run's budget (a quick check; it shortens agentnet's "
                             "schedules too)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warm_up()
    every = {"dqn": args.dqn_every, "ppo": args.pg_every, "a2c": args.pg_every}
    results: dict[tuple[str, str], list[Run]] = {
        (pair, library): [] for pair in args.pairs for library in ("agentnet", "sb3")}
    done: dict[tuple[Callable[..., Run], int], Run] = {}  # SB3 PPO serves two pairs
    for seed in args.seeds:  # interleaved: agentnet, SB3, agentnet, SB3...
        for pair in args.pairs:
            for library, train in zip(("agentnet", "sb3"), PAIRS[pair]):
                if (train, seed) not in done:
                    done[train, seed] = train(seed, every[pair], args.max_steps)
                run = done[train, seed]
                results[pair, library].append(run)
                print(f"{pair} {library} seed {seed}: {describe(run)}", flush=True)
    table = summarize(results, len(args.seeds))
    print(table)
    if args.plot:
        plot(results, args.seeds, args.plot)
        print(f"curves: {args.plot}")
    return table


if __name__ == "__main__":
    main()
