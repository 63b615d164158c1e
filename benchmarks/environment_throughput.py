"""Environment throughput: agentnet's native CartPole, agentnet's EnvPool and Gymnasium's CartPole.

Every figure is environment steps per second, measured in one process, interleaved (each round
runs every measurement once, in the same order) with one torch thread; a figure is the median
over the rounds. Absolute numbers depend on the machine and its load; the ratios, measured side
by side, are what carries across machines.

Measurements:

- native:      ``agentnet.environment.CartPole`` alone (``get_is_alive`` + ``get_action_results``
               + ``get_rewards``) with precomputed random actions, eager and through
               ``torch.compile(step, dynamic=False)`` with the options and the bool handling
               of ``Agent.get_sessions(compiled=True)`` (see ``compiled_native_step``; warmed
               up before timing; the compiled step's outputs are checked against the eager
               ones on one step, from the same torch seed).
- rollout:     a 2x64 MLP agent with epsilon-greedy Q-values (as in ``rollout_throughput.py``)
               collecting ``agent.get_sessions(env, T)`` under ``torch.no_grad()``, eager and
               ``compiled=True``.
- gym:         Gymnasium's ``CartPole-v1`` with random actions: one environment in a Python loop
               (reset at each episode's end), ``make_vec(..., vectorization_mode="sync")`` and
               the NumPy-vectorised ``make_vec(..., vectorization_mode="vector_entry_point")``.
- EnvPool:     ``agentnet.driving.EnvPool`` playing the same MLP agent on Gymnasium
               ``CartPole-v1`` environments (sync), ``pool.interact(T)``.

The native CartPole runs with ``autoreset=True``, so that, like Gymnasium's vector environments
(whose autoreset it mirrors), every step counted is a step of a running or restarting episode.
Python-loop measurements (gym single and sync, EnvPool) take fewer rounds (``--slow-repeats``).

    python benchmarks/environment_throughput.py             # defaults: 1-3 minutes (compiling)
    python benchmarks/environment_throughput.py --batch 1 4096 --agent-batch 1024 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium
import numpy as np
import torch
from torch._dynamo.utils import counters as dynamo_counters

from agentnet import Agent
from agentnet import layers as L
from agentnet.driving import EnvPool
from agentnet.environment import CartPole
from agentnet.resolver import EpsilonGreedyResolver

HIDDEN = 64
EPSILON = 0.1


def mlp_agent() -> Agent:
    obs = L.InputLayer((None, 4), name="observation")
    h1 = L.DenseLayer(obs, HIDDEN, name="h1")
    h2 = L.DenseLayer(h1, HIDDEN, name="h2")
    q = L.DenseLayer(h2, 2, nonlinearity=None, name="q")
    return Agent(obs, policy_estimators=q, action_layers=EpsilonGreedyResolver(q, EPSILON))


def compiled_graphs() -> int:
    """How many graphs torch.compile has compiled in this process so far."""
    return dynamo_counters["stats"]["unique_graphs"]


@dataclass
class Case:
    """One measurement: ``run()`` takes ``steps`` environment steps."""

    key: str
    label: str
    envs: int
    steps: int
    run: Callable[[], object]
    slow: bool = False
    times: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.steps / statistics.median(self.times)


# --- agentnet native CartPole ----------------------------------------------------------------
def native_step(env: CartPole) -> Callable[..., tuple]:
    def step(states: list[torch.Tensor], action: torch.Tensor) -> tuple:
        alive = env.get_is_alive(states)
        new_states, (obs,) = env.get_action_results(states, [action])
        reward = env.get_rewards(states, [action], new_states)
        return new_states, obs, reward, alive
    return step


def compiled_native_step(env: CartPole) -> Callable[..., tuple]:
    """``native_step(env)`` compiled as ``Agent.get_sessions(compiled=True)`` compiles its
    tick: inductor's ``fallback_random`` (ATen's generator, in the eager order: cheaper on CPU
    than inductor's per-element Philox), its C++ wrapper, and bool results (the terminated
    state, aliveness) leaving the graph as uint8, viewed as bool outside (inductor's CPU code
    writes bools one by one, uint8 a vector at a time)."""
    step = native_step(env)

    def as_bytes(states: list[torch.Tensor], action: torch.Tensor) -> tuple:
        (physics, steps, terminated), obs, reward, alive = step(states, action)
        return (physics, steps, terminated.to(torch.int32).to(torch.uint8), obs, reward,
                alive.to(torch.int32).to(torch.uint8))

    graph = torch.compile(as_bytes, dynamic=False,
                          options={"fallback_random": True, "cpp_wrapper": True})

    def compiled(states: list[torch.Tensor], action: torch.Tensor) -> tuple:
        physics, steps, terminated, obs, reward, alive = graph(states, action)
        return ([physics, steps, terminated.view(torch.bool)], obs, reward,
                alive.view(torch.bool))

    return compiled


def native_cases(batch: int, length: int, log: list[str]) -> list[Case]:
    env = CartPole(batch_size=batch, seed=0, autoreset=True)
    eager = native_step(env)
    compiled = compiled_native_step(env)
    actions = [torch.randint(2, (batch,)) for _ in range(length)]
    start_states, _ = env.reset()
    carried = {"eager": start_states, "compiled": start_states}

    def loop(name: str, step: Callable[..., tuple]) -> Callable[[], None]:
        def run() -> None:
            states = carried[name]
            for action in actions:
                states = step(states, action)[0]
            carried[name] = states  # the next run goes on from here: episodes keep running
        return run

    # the check: one step from the same states with the same actions and the same random
    # draws (for sessions that restart)
    torch.manual_seed(0)
    want = eager(start_states, actions[0])
    graphs = compiled_graphs()
    torch.manual_seed(0)
    begin = time.perf_counter()
    got = compiled(start_states, actions[0])
    compile_time = time.perf_counter() - begin
    flat_got = [*got[0], *got[1:]]
    flat_want = [*want[0], *want[1:]]
    exact = all(a.dtype == b.dtype and torch.equal(a, b) for a, b in zip(flat_got, flat_want))
    worst = max((a.double() - b.double()).abs().max().item() for a, b in zip(flat_got, flat_want))
    # the float64 physics may differ in the last bit: inductor's vectorised sin/cos is not
    # always ATen's to the bit (Gymnasium's numpy one is neither)
    if exact:
        verdict = "yes, exactly"
    elif (worst <= 1e-12 and all(a.dtype == b.dtype for a, b in zip(flat_got, flat_want))
          and all(torch.equal(a, b) for a, b in zip(flat_got[1:], flat_want[1:]))):
        verdict = f"yes, up to the last bit of the float64 physics ({worst:.2g})"
    else:
        verdict = f"NO (max |difference| {worst:.3g})"
    log.append(f"native CartPole, batch {batch}: compiled step == eager step on one step: "
               f"{verdict}; compiled in {compile_time:.1f} s ({compiled_graphs() - graphs} "
               f"graph)")
    cases = [Case(f"native-eager-{batch}", "native CartPole alone, eager", batch,
                  batch * length, loop("eager", eager)),
             Case(f"native-compiled-{batch}", "native CartPole alone, compiled", batch,
                  batch * length, loop("compiled", compiled))]
    for case in cases:  # warm-up (and, for the compiled one, no recompilation after step 1)
        case.run()
    return cases


# --- MLP agent rollouts on native CartPole ---------------------------------------------------
def rollout_cases(batch: int, length: int, log: list[str]) -> list[Case]:
    torch.manual_seed(0)
    agent = mlp_agent()
    env = CartPole(batch_size=batch, seed=0, autoreset=True)

    def collect(compiled: bool) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                agent.get_sessions(env, session_length=length, compiled=compiled)
        return run

    eager, compiled = collect(False), collect(True)
    graphs = compiled_graphs()
    begin = time.perf_counter()
    compiled()
    log.append(f"MLP rollout, batch {batch}: first compiled get_sessions (compilation and "
               f"{length} ticks) took {time.perf_counter() - begin:.1f} s "
               f"({compiled_graphs() - graphs} graphs compiled)")
    eager()
    compiled()
    return [Case(f"rollout-eager-{batch}", "2x64 MLP get_sessions, eager, no_grad", batch,
                 batch * length, eager),
            Case(f"rollout-compiled-{batch}", "2x64 MLP get_sessions, compiled, no_grad",
                 batch, batch * length, compiled)]


# --- Gymnasium ---------------------------------------------------------------------------------
def gym_single_case(n_steps: int) -> Case:
    env = gymnasium.make("CartPole-v1")
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = np.random.default_rng(0).integers(2, size=n_steps).tolist()

    def run() -> None:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    run()
    return Case("gym-single", "Gymnasium CartPole-v1, one env, Python loop", 1, n_steps, run,
                slow=True)


def gym_vector_case(n_envs: int, length: int, mode: str) -> Case:
    envs = gymnasium.make_vec("CartPole-v1", num_envs=n_envs, vectorization_mode=mode)
    envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(2, size=(length, n_envs))

    def run() -> None:
        for action in actions:
            envs.step(action)

    run()
    label = ("Gymnasium make_vec sync (SyncVectorEnv)" if mode == "sync"
             else "Gymnasium make_vec vector_entry_point (NumPy)")
    return Case(f"gym-{mode}-{n_envs}", label, n_envs, n_envs * length, run, slow=mode == "sync")


def envpool_case(n_envs: int, length: int) -> tuple[Case, EnvPool]:
    torch.manual_seed(0)
    pool = EnvPool(mlp_agent(), "CartPole-v1", n_envs=n_envs, seed=0)

    def run() -> None:
        pool.interact(length)

    run()
    return Case(f"envpool-{n_envs}", "agentnet EnvPool + 2x64 MLP, Gymnasium sync", n_envs,
                n_envs * length, run, slow=True), pool


# --- the report --------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 1024, 4096, 16384],
                        help="native CartPole batch sizes")
    parser.add_argument("--agent-batch", type=int, nargs="+", default=[1, 1024, 4096],
                        help="batch sizes of the MLP rollouts")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slow-repeats", type=int, default=3,
                        help="rounds for the Python-loop measurements (gym single/sync, EnvPool)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    load_before = os.getloadavg()

    log: list[str] = []
    cases: list[Case] = []
    for batch in args.batch:
        cases += native_cases(batch, 1000 if batch <= 64 else 100, log)
    for batch in args.agent_batch:
        cases += rollout_cases(batch, 200 if batch <= 64 else 100, log)
    cases.append(gym_single_case(5000))
    cases.append(gym_vector_case(8, 500, "sync"))
    cases.append(gym_vector_case(64, 100, "sync"))
    cases.append(gym_vector_case(1024, 300, "vector_entry_point"))
    cases.append(gym_vector_case(16384, 50, "vector_entry_point"))
    envpool, pool = envpool_case(8, 300)
    cases.append(envpool)
    setup_time = time.perf_counter() - started
    graphs = compiled_graphs()

    try:
        for round_ in range(max(args.repeats, args.slow_repeats)):
            for case in cases:
                if round_ < (args.slow_repeats if case.slow else args.repeats):
                    begin = time.perf_counter()
                    case.run()
                    case.times.append(time.perf_counter() - begin)
    finally:
        pool.close()
    load_after = os.getloadavg()
    log.append(f"graphs compiled while timing (recompilations): {compiled_graphs() - graphs}")

    print(f"torch {torch.__version__}, gymnasium {gymnasium.__version__}, {args.threads} torch "
          f"thread(s), {os.cpu_count()} CPU(s); load average (1 min) {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after; medians of {args.repeats} interleaved rounds "
          f"({args.slow_repeats} for Python loops); setup and compilation {setup_time:.0f} s, "
          f"total {time.perf_counter() - started:.0f} s")
    for line in log:
        print(f"- {line}")
    print()
    print("| measurement | parallel envs | env steps / s | runs |")
    print("| --- | ---: | ---: | ---: |")
    for case in cases:
        print(f"| {case.label} | {case.envs:,} | {case.rate:,.0f} | {len(case.times)} |")

    rate = {case.key: case.rate for case in cases}
    ratios: list[tuple[str, str, str, float | None]] = []

    def add(name: str, top: str, bottom: str, target: float | None = None) -> None:
        if top in rate and bottom in rate:
            ratios.append((name, top, bottom, target))

    add("native alone (eager) at 4096 / Gymnasium sync 64", "native-eager-4096", "gym-sync-64", 40)
    add("native alone (compiled) at 4096 / Gymnasium sync 64", "native-compiled-4096",
        "gym-sync-64", 40)
    add("EnvPool + MLP, 8 envs / bare Gymnasium sync 8", "envpool-8", "gym-sync-8", 0.6)
    for batch in args.agent_batch:
        add(f"MLP rollout compiled / eager at {batch}", f"rollout-compiled-{batch}",
            f"rollout-eager-{batch}", 1.5 if batch == 1024 else None)
    for batch in (1024, 16384):  # the compiled native step at least matches NumPy's
        add(f"native compiled / Gymnasium vector_entry_point at {batch}",
            f"native-compiled-{batch}", f"gym-vector_entry_point-{batch}", 1)
        add(f"native eager / Gymnasium vector_entry_point at {batch}",
            f"native-eager-{batch}", f"gym-vector_entry_point-{batch}")
    for batch in args.batch:
        add(f"native compiled / eager at {batch}", f"native-compiled-{batch}",
            f"native-eager-{batch}")
    print()
    print("| ratio | measured | target | met |")
    print("| --- | ---: | ---: | :---: |")
    for name, top, bottom, target in ratios:
        value = rate[top] / rate[bottom]
        goal, met = ("-", "-") if target is None else (f">= {target:g}x",
                                                        "yes" if value >= target else "no")
        print(f"| {name} | {value:,.2f}x | {goal} | {met} |")


if __name__ == "__main__":
    main()
