"""Continuous control against Stable-Baselines3: SAC, TD3 and PPO, time to solve and returns.

Pairs, each agentnet's example against the same algorithm in SB3 (rl-zoo3's tuned settings
where it has them for the task, SB3's defaults otherwise), on the protocol of
``benchmarks/time_to_solve.py``: training pauses every ``--every`` environment steps for a
greedy evaluation (the mean action; SB3's ``deterministic=True``) on ``EVAL_EPISODES``
Gymnasium episodes, the same seeds for both libraries, its time excluded; we record the
training seconds and steps until the mean return reached the task's threshold three
evaluations in a row, and the last evaluation's return:

- ``pendulum_sac``, ``pendulum_td3``: ``agentnet.examples.pendulum_sac`` / ``pendulum_td3``
  (native Pendulum, evaluated on Gymnasium's Pendulum-v1) against SB3's SAC / TD3 with
  rl-zoo3's Pendulum-v1 settings; threshold -200;
- ``inverted_pendulum_sac``, ``inverted_pendulum_ppo``: ``agentnet.examples.mujoco_sac`` /
  ``mujoco_ppo`` against SB3's SAC (SB3's defaults: rl-zoo3 has no InvertedPendulum entry for
  SAC) / PPO (rl-zoo3's InvertedPendulum-v2 settings, VecNormalize) on InvertedPendulum-v5;
  threshold 1000 (the most an episode can earn);
- ``half_cheetah_sac``: ``mujoco_sac`` against SB3's SAC with rl-zoo3's MuJoCo settings on
  HalfCheetah-v5, both trained for exactly 100k steps (no threshold: the returns at the
  budget, and the wall time).

    python benchmarks/continuous_control.py                         # all pairs, seeds 0 1 2
    python benchmarks/continuous_control.py --pairs pendulum_sac --seeds 0
    python benchmarks/continuous_control.py --plot docs/continuous_control.png

One thread (``torch.set_num_threads(1)``), CPU, seed by seed with the libraries interleaved
(agentnet, SB3, agentnet, SB3...) after a warm-up. Needs ``stable-baselines3`` and
``gymnasium[mujoco]``.
"""
from __future__ import annotations

import argparse
import importlib
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np
import torch
from time_to_solve import Run, describe, summarize, warm_up

from agentnet import layers as L

EVAL_EPISODES = 10
EVAL_SEED = 10_000


@dataclass
class Pair:
    """One comparison: agentnet's example and SB3's algorithm on one Gymnasium task."""

    env_id: str
    threshold: float  # math.inf: no threshold, the return at the budget
    budget: int  # environment steps at most, for both
    every: int  # environment steps between evaluations
    example: str  # agentnet.examples.<example>
    example_settings: dict[str, Any]
    sb3_algorithm: str  # stable_baselines3.<name>
    sb3_settings: dict[str, Any] = field(default_factory=dict)
    sb3_normalize: bool = False  # VecNormalize (rl-zoo3's ``normalize: true``)


PAIRS = {
    # rl-zoo3 hyperparams/sac.yml and td3.yml, Pendulum-v1 (n_timesteps 20000)
    "pendulum_sac": Pair("Pendulum-v1", -200.0, 20_000, 1_000, "pendulum_sac",
                         {"eval_every": 0}, "SAC", dict(learning_rate=1e-3)),
    "pendulum_td3": Pair("Pendulum-v1", -200.0, 20_000, 1_000, "pendulum_td3",
                         {"eval_every": 0}, "TD3", dict(
                             gamma=0.98, buffer_size=200_000, learning_starts=10_000,
                             gradient_steps=1, train_freq=1, learning_rate=1e-3,
                             policy_kwargs=dict(net_arch=[400, 300])),),
    "inverted_pendulum_sac": Pair("InvertedPendulum-v5", 1000.0, 50_000, 1_000, "mujoco_sac",
                                  {"env_id": "InvertedPendulum-v5"}, "SAC"),
    # rl-zoo3 hyperparams/ppo.yml, InvertedPendulum-v2
    "inverted_pendulum_ppo": Pair("InvertedPendulum-v5", 1000.0, 200_000, 2_000,
                                  "mujoco_ppo", {"env_id": "InvertedPendulum-v5"}, "PPO", dict(
                                      n_steps=32, batch_size=64, gamma=0.999,
                                      learning_rate=0.000222425, ent_coef=1.37976e-07,
                                      clip_range=0.4, n_epochs=5, gae_lambda=0.9,
                                      max_grad_norm=0.3, vf_coef=0.19816), sb3_normalize=True),
    # rl-zoo3 hyperparams/sac.yml, HalfCheetah-v4 (its MuJoCo defaults)
    "half_cheetah_sac": Pair("HalfCheetah-v5", math.inf, 100_000, 10_000, "mujoco_sac",
                             {"env_id": "HalfCheetah-v5"}, "SAC",
                             dict(learning_starts=10_000)),
}


def greedy_returns(env_id: str, act: Callable[[np.ndarray], np.ndarray]) -> float:
    """Mean return of ``EVAL_EPISODES`` Gymnasium ``env_id`` episodes played in lockstep by
    ``act`` (float32 observations ``[n, d]`` -> actions ``[n, a]``)."""
    envs = [gymnasium.make(env_id) for _ in range(EVAL_EPISODES)]
    observations = np.stack([env.reset(seed=EVAL_SEED + g)[0] for g, env in enumerate(envs)])
    returns = np.zeros(EVAL_EPISODES)
    running = np.ones(EVAL_EPISODES, dtype=bool)
    while running.any():
        space = envs[0].action_space  # the sampled or mean action clipped into the box
        actions = np.clip(np.asarray(act(observations.astype(np.float32))), space.low,
                          space.high)
        for i in np.flatnonzero(running):
            observation, reward, terminated, truncated, _ = envs[i].step(actions[i])
            observations[i] = observation
            returns[i] += reward
            running[i] = not (terminated or truncated)
    for env in envs:
        env.close()
    return float(returns.mean())


def new_run(pair: Pair, cap: int | None) -> Run:
    budget = pair.budget if cap is None else min(pair.budget, cap)
    return Run(pair.every, budget, threshold=pair.threshold,
               score=lambda act: greedy_returns(pair.env_id, act))


def agentnet_run(pair: Pair, seed: int, cap: int | None) -> Run:
    example = importlib.import_module(f"agentnet.examples.{pair.example}")
    run = new_run(pair, cap)

    def make_act(agent) -> Callable[[np.ndarray], np.ndarray]:
        # the mean action: greedy resolvers, exploration noise off (as agentnet evaluate)
        layers = L.get_all_layers(agent.action_layers)
        react = agent.get_react_function(**{
            flag: True for flag in ("greedy", "deterministic")
            if any(flag in layer.accepted_flags for layer in layers)})
        return lambda observations: np.asarray(react(observations).actions)

    run.start()
    example.main(total_steps=run.budget, verbose=False, seed=seed, eval_episodes=1,
                 on_progress=lambda step, agent: run.maybe_evaluate(
                     step, lambda: make_act(agent)), **pair.example_settings)
    return run


def sb3_run(pair: Pair, seed: int, cap: int | None) -> Run:
    import stable_baselines3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    run = new_run(pair, cap)

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            model = self.model
            normalize = model.get_vec_normalize_env()

            def make_act() -> Callable[[np.ndarray], np.ndarray]:
                if normalize is None:
                    return lambda obs: model.predict(obs, deterministic=True)[0]
                return lambda obs: model.predict(normalize.normalize_obs(obs),
                                                 deterministic=True)[0]
            return not run.maybe_evaluate(self.num_timesteps, make_act)

    run.start()
    env = make_vec_env(pair.env_id, n_envs=1, seed=seed)
    if pair.sb3_normalize:
        env = VecNormalize(env, gamma=pair.sb3_settings.get("gamma", 0.99))  # as rl-zoo3
    algorithm = getattr(stable_baselines3, pair.sb3_algorithm)
    model = algorithm("MlpPolicy", env, seed=seed, **pair.sb3_settings)
    model.learn(total_timesteps=run.budget, callback=Evaluate())
    return run


def plot(results: dict[tuple[str, str], list[Run]], seeds: list[int], path: str) -> None:
    """One panel per pair: every run's greedy mean return against its training seconds,
    agentnet and SB3 in two colours, the threshold dashed; saved to ``path``."""
    from matplotlib.figure import Figure

    pairs = list(dict.fromkeys(pair for pair, _ in results))
    figure = Figure(figsize=(4.2 * len(pairs), 3.2), dpi=100, layout="constrained")
    for axes, name in zip(figure.subplots(1, len(pairs), squeeze=False)[0], pairs):
        pair = PAIRS[name]
        for library, colour in (("agentnet", "tab:blue"), ("sb3", "tab:orange")):
            for seed, run in zip(seeds, results.get((name, library), [])):
                axes.plot([s for _, s, _ in run.evaluations], [r for _, _, r in run.evaluations],
                          color=colour, alpha=0.8, marker=".",
                          label=("agentnet" if library == "agentnet" else "SB3")
                          if seed == seeds[0] else None)
        if math.isfinite(pair.threshold):
            axes.axhline(pair.threshold, color="grey", linestyle="--", linewidth=1)
        axes.set(title=f"{pair.env_id}: {pair.example} vs SB3 {pair.sb3_algorithm}",
                 xlabel="training seconds (evaluations excluded)",
                 ylabel=f"greedy mean return ({EVAL_EPISODES} episodes)")
        axes.legend(loc="lower right")
    figure.savefig(path)


def budget_table(results: dict[tuple[str, str], list[Run]]) -> str:
    """Per pair and library: the median return of the last evaluation and the median
    training seconds to the end of the run (for the fixed-budget pairs)."""
    lines = ["| pair | library | returns at the budget (per seed) | median | median seconds |",
             "|---|---|---|---|---|"]
    for (name, library), runs in results.items():
        finals = [run.evaluations[-1][2] for run in runs if run.evaluations]
        seconds = [run.evaluations[-1][1] for run in runs if run.evaluations]
        if finals:
            lines.append(f"| {name} | {library} | {', '.join(f'{r:.0f}' for r in finals)} "
                         f"| {statistics.median(finals):.0f} "
                         f"| {statistics.median(seconds):.1f} s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="also draw every run's evaluations against its seconds there")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="cap every run's budget (a quick check)")
    parser.add_argument("--libraries", nargs="+", default=["agentnet", "sb3"],
                        choices=["agentnet", "sb3"],
                        help="run only these (the returns of long runs made apart; their "
                             "seconds are then not comparable)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warm_up()
    results: dict[tuple[str, str], list[Run]] = {
        (name, library): [] for name in args.pairs for library in args.libraries}
    trainers = {"agentnet": agentnet_run, "sb3": sb3_run}
    for seed in args.seeds:  # interleaved: agentnet, SB3, agentnet, SB3...
        for name in args.pairs:
            for library in args.libraries:
                run = trainers[library](PAIRS[name], seed, args.max_steps)
                results[name, library].append(run)
                print(f"{name} {library} seed {seed}: {describe(run)}", flush=True)
    thresholds = {n: r for n, r in results.items() if math.isfinite(PAIRS[n[0]].threshold)}
    budgets = {n: r for n, r in results.items() if not math.isfinite(PAIRS[n[0]].threshold)}
    report = "\n\n".join(part for part in (
        summarize(thresholds, len(args.seeds), "threshold") if thresholds else "",
        budget_table(budgets) if budgets else "") if part)
    print(report)
    if args.plot:
        plot(results, args.seeds, args.plot)
        print(f"curves: {args.plot}")
    return report


if __name__ == "__main__":
    main()
