"""Collection throughput on Ray: ``RayEnvPool`` with 1 and 2 collectors against local ``EnvPool``s.

Every figure is environment steps per second delivered to the learner process
(``pool.interact(T)`` returning sessions ``[rows, T]`` on the learner), with the
``gym_cartpole_dqn`` example's agent (an MLP, 2x128), one torch thread everywhere. The learner
does nothing but collect: this measures collection, not training.

Two environments:

- ``slow``: Gymnasium's CartPole-v1 with ``time.sleep(--sleep)`` in every step, standing for
  a simulator whose step takes that long without using the CPU (I/O, a physics engine in
  another process...). Steps of one process's environments run one after the other, so a
  local synchronous pool is capped at ``1 / sleep`` steps/s whatever its size; collectors in
  separate processes add up.
- ``cpu``: plain CartPole-v1: the cost is the agent's react function and Python, i.e. CPU.

Measurements (``--envs`` E environments per pool or per collector; session length ``--steps``):

- local sync E, local sync 2E: ``EnvPool(vectorization="sync")`` in the learner process;
- local async 2E: ``EnvPool(vectorization="async")``, one worker process per environment
  (started with ``spawn``: forking a process that runs Ray is unsafe);
- Ray 1 x E, Ray 2 x E: ``RayEnvPool`` (pipelined) with 1 and 2 collectors of E environments.

For each environment, its five pools are built; then each round measures each of them for
``--seconds`` in turn (interleaved, so that the machine's load drifts over all alike); a
figure is the median over ``--rounds``. A Ray measurement starts its clock after one call,
so that the batch a pipelined collector played while the pool waited its turn is not
counted. Ray runs on this machine only (``agentnet.distributed.init_local``: loopback, 3
logical CPUs for the 3 collectors alive at a time; the machine's cores are what they are).

    python benchmarks/ray_collection.py                       # ~1 minute
    python benchmarks/ray_collection.py --sleep 0.005 --envs 8 --rounds 5
"""
from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import torch

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from agentnet.distributed import RayEnvPool, init_local  # noqa: E402
from agentnet.driving import EnvPool  # noqa: E402
from agentnet.examples.gym_cartpole_dqn import Config, build_agent  # noqa: E402


class SlowStep(gymnasium.Wrapper):
    """An environment whose every step takes ``sleep`` more seconds (a slow simulator)."""

    def __init__(self, env: gymnasium.Env, sleep: float):
        super().__init__(env)
        self.sleep = sleep

    def step(self, action: Any):
        time.sleep(self.sleep)
        return self.env.step(action)


def slow_cartpole(sleep: float) -> gymnasium.Env:
    return SlowStep(gymnasium.make("CartPole-v1"), sleep)


@dataclass
class Measurement:
    env: str
    label: str
    n_envs: int
    pool: Any
    ray: bool
    rates: list[float] = field(default_factory=list)

    def measure(self, steps: int, seconds: float) -> None:
        if self.ray:
            self.pool.interact(steps)  # drain what was played while waiting for our turn
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            count += self.pool.interact(steps).rewards.numel()
        self.rates.append(count / (time.perf_counter() - start))

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sleep", type=float, default=0.002, help="seconds per slow step")
    parser.add_argument("--envs", type=int, default=4, help="environments per pool/collector")
    parser.add_argument("--steps", type=int, default=16, help="ticks per interact call")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    agent = build_agent(Config())
    init_local(num_cpus=3, log_to_driver=False)
    e = args.envs
    measurements: list[Measurement] = []
    try:
        for name, env in (("slow", functools.partial(slow_cartpole, args.sleep)),
                          ("cpu", "CartPole-v1")):
            stage = [
                Measurement(name, f"local sync {e}", e, EnvPool(agent, env, n_envs=e), False),
                Measurement(name, f"local sync {2 * e}", 2 * e,
                            EnvPool(agent, env, n_envs=2 * e), False),
                Measurement(name, f"local async {2 * e}", 2 * e,
                            EnvPool(agent, env, n_envs=2 * e, vectorization="async",
                                    vector_kwargs={"context": "spawn"}), False),
                Measurement(name, f"Ray 1 x {e}", e, RayEnvPool(agent, env, 1, e), True),
                Measurement(name, f"Ray 2 x {e}", 2 * e, RayEnvPool(agent, env, 2, e), True),
            ]
            measurements += stage
            try:
                for m in stage:  # warm up
                    m.pool.interact(args.steps)
                for _ in range(args.rounds):
                    for m in stage:
                        m.measure(args.steps, args.seconds)
            finally:
                for m in stage:
                    m.pool.close()
    finally:
        ray.shutdown()
    print(f"\nCollection throughput, environment steps/s delivered to the learner "
          f"(median of {args.rounds} rounds of {args.seconds:g} s; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}; slow = CartPole-v1 + {args.sleep * 1e3:g} ms "
          f"sleep per step; session length {args.steps})\n")
    print("| environment | pool | envs | env steps / s | vs local sync |")
    print("| --- | --- | ---: | ---: | ---: |")
    for m in measurements:
        base = next(b for b in measurements if b.env == m.env).rate
        print(f"| {m.env} | {m.label} | {m.n_envs} | {m.rate:,.0f} | {m.rate / base:.2f}x |")


if __name__ == "__main__":
    main()
