"""Replay throughput: agentnet's SessionPoolEnvironment next to Stable-Baselines3's ReplayBuffer.

Both stores get the same data in the same process, in the form each library's API takes:
rollouts of ``n_envs`` parallel environments for 32 ticks. agentnet appends each rollout as
one batch of sessions ``[n_envs, 32, ...]`` (``append_sessions``); SB3 takes it one tick at a
time (32 ``ReplayBuffer.add`` calls of ``n_envs`` transitions, with ``next_obs`` and ``infos``
as a vectorized environment gives them). Sampling draws the same number of transitions per
batch: agentnet 256 sessions x 32 ticks (``sample_session_batch(256)``), SB3 8192 transitions
(``ReplayBuffer.sample(8192)``); both return torch tensors.

Pools are filled once before timing, so every append overwrites (steady state). Each figure is
transitions per second, the median over interleaved repeats (agentnet, SB3, agentnet, SB3...),
with one torch thread; the ratio agentnet/SB3 is what carries across machines.

    python benchmarks/replay_throughput.py                  # all cases, 5 repeats
    python benchmarks/replay_throughput.py --cases cartpole-1e4 --repeats 3

Memory: 84x84x4 uint8 at 10^6 transitions needs ~28 GB in either store, so the image cases
stop at 10^5 transitions (~2.8 GB each). For images SB3 runs with ``optimize_memory_usage=True``
(each observation stored once, as agentnet does; SB3 then requires
``handle_timeout_termination=False``); for CartPole it runs with its defaults (observations
and next observations stored, time-limit flags kept).
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agentnet.environment import SessionPoolEnvironment

SESSION_LENGTH = 32
SAMPLE_SESSIONS = 256                               # x 32 ticks = 8192 transitions
SAMPLE_TRANSITIONS = SAMPLE_SESSIONS * SESSION_LENGTH


@dataclass
class Case:
    """One row pair of the table."""

    name: str
    obs_shape: tuple[int, ...]
    obs_dtype: torch.dtype
    transitions: int
    sb3_optimize_memory: bool
    append_transitions: int                         # appended per timed repeat
    sample_batches: int                             # sampled per timed repeat


CASES = {
    "cartpole-1e4": Case("CartPole float32 [4]", (4,), torch.float32, 10**4, False, 2 * 10**5, 50),
    "cartpole-1e6": Case("CartPole float32 [4]", (4,), torch.float32, 10**6, False, 2 * 10**5, 50),
    "atari-1e4": Case("uint8 [4, 84, 84]", (4, 84, 84), torch.uint8, 10**4, True, 4 * 10**4, 3),
    "atari-1e5": Case("uint8 [4, 84, 84]", (4, 84, 84), torch.uint8, 10**5, True, 4 * 10**4, 3),
}


def rollout(case: Case, n_envs: int) -> dict[str, torch.Tensor]:
    """One rollout ``[n_envs, 33, ...]`` (the 33rd tick is the last next observation)."""
    generator = torch.Generator().manual_seed(0)
    shape = (n_envs, SESSION_LENGTH + 1, *case.obs_shape)
    if case.obs_dtype == torch.uint8:
        obs = torch.randint(256, shape, generator=generator, dtype=torch.uint8)
    else:
        obs = torch.randn(shape, generator=generator)
    return {
        "obs": obs,
        "actions": torch.randint(2, (n_envs, SESSION_LENGTH), generator=generator),
        "rewards": torch.rand(n_envs, SESSION_LENGTH, generator=generator),
        "alive": torch.rand(n_envs, SESSION_LENGTH, generator=generator) > 0.01,
    }


class AgentnetStore:
    def __init__(self, case: Case, data: dict[str, torch.Tensor]):
        self.pool = SessionPoolEnvironment(
            case.transitions // SESSION_LENGTH, SESSION_LENGTH,
            observation_specs=[(case.obs_shape, case.obs_dtype)])
        self.args = (data["obs"][:, :-1].contiguous(), data["actions"], data["rewards"],
                     data["alive"])
        self.per_append = data["actions"].numel()

    def append_rollout(self) -> None:
        self.pool.append_sessions(*self.args)

    def sample(self) -> None:
        self.pool.sample_session_batch(SAMPLE_SESSIONS)

    @property
    def nbytes(self) -> int:
        return self.pool.nbytes


class SB3Store:
    def __init__(self, case: Case, data: dict[str, torch.Tensor]):
        from gymnasium import spaces
        from stable_baselines3.common.buffers import ReplayBuffer

        n_envs = data["actions"].shape[0]
        if case.obs_dtype == torch.uint8:
            space = spaces.Box(0, 255, case.obs_shape, np.uint8)
        else:
            space = spaces.Box(-np.inf, np.inf, case.obs_shape, np.float32)
        self.buffer = ReplayBuffer(case.transitions, space, spaces.Discrete(2), device="cpu",
                                   n_envs=n_envs, optimize_memory_usage=case.sb3_optimize_memory,
                                   handle_timeout_termination=not case.sb3_optimize_memory)
        obs = data["obs"].numpy()
        dones = ~data["alive"].numpy()
        infos = [[{"TimeLimit.truncated": False} for _ in range(n_envs)]] * SESSION_LENGTH
        self.ticks = [(obs[:, t], obs[:, t + 1], data["actions"][:, t].numpy(),
                       data["rewards"][:, t].numpy(), dones[:, t], infos[t])
                      for t in range(SESSION_LENGTH)]
        self.per_append = n_envs * SESSION_LENGTH

    def append_rollout(self) -> None:
        for tick in self.ticks:
            self.buffer.add(*tick)

    def sample(self) -> None:
        self.buffer.sample(SAMPLE_TRANSITIONS)

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in vars(self.buffer).values() if isinstance(v, np.ndarray))


def timed(fn: Callable[[], None], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - start


def measure(case: Case, n_envs: int, repeats: int) -> dict[str, object]:
    data = rollout(case, n_envs)
    stores = {"agentnet": AgentnetStore(case, data), "sb3": SB3Store(case, data)}
    for store in stores.values():                   # fill once: every timed append overwrites
        for _ in range(-(-case.transitions // store.per_append)):
            store.append_rollout()
    appends = max(1, case.append_transitions // (n_envs * SESSION_LENGTH))
    rates: dict[str, list[float]] = {f"{n} {op}": [] for n in stores for op in ("append", "sample")}
    for _ in range(repeats):
        for name, store in stores.items():         # interleaved: A B A B ...
            seconds = timed(store.append_rollout, appends)
            rates[f"{name} append"].append(appends * store.per_append / seconds)
        for name, store in stores.items():
            seconds = timed(store.sample, case.sample_batches)
            rates[f"{name} sample"].append(case.sample_batches * SAMPLE_TRANSITIONS / seconds)
    result: dict[str, object] = {k: statistics.median(v) for k, v in rates.items()}
    result["nbytes"] = {name: store.nbytes for name, store in stores.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    np.random.seed(0)
    import stable_baselines3

    command = "python " + " ".join(shlex.quote(a) for a in [
        "benchmarks/replay_throughput.py", *sys.argv[1:]])
    print(f"`{command}`\n")
    print(f"torch {torch.__version__}, stable-baselines3 {stable_baselines3.__version__}, "
          f"{args.threads} torch thread(s), median of {args.repeats} interleaved repeats; "
          f"rollouts of {args.n_envs} envs x {SESSION_LENGTH} ticks; sample batches of "
          f"{SAMPLE_TRANSITIONS} transitions (agentnet {SAMPLE_SESSIONS} sessions x "
          f"{SESSION_LENGTH} ticks). Figures: transitions per second.\n")
    print("| observations | pool (transitions) | op | agentnet | SB3 ReplayBuffer | "
          "agentnet / SB3 | memory agentnet / SB3 |")
    print("| --- | ---: | --- | ---: | ---: | ---: | --- |")
    for key in args.cases:
        case = CASES[key]
        r = measure(case, args.n_envs, args.repeats)
        nbytes = r["nbytes"]
        sb3_mode = "optimize_memory_usage" if case.sb3_optimize_memory else "default"
        memory = (f"{nbytes['agentnet'] / 2**20:,.1f} MiB / {nbytes['sb3'] / 2**20:,.1f} MiB "
                  f"(SB3 {sb3_mode})")
        for op in ("append", "sample"):
            a, b = r[f"agentnet {op}"], r[f"sb3 {op}"]
            print(f"| {case.name} | {case.transitions:.0e} | {op} | {a:,.0f} | {b:,.0f} | "
                  f"{a / b:.2f} | {memory} |", flush=True)
        del r
    print("\n84x84x4 uint8 at 10^6 transitions (~28 GB per store) does not fit this machine: "
          "the image rows are measured at 10^4 and 10^5 transitions. A sampled SB3 transition "
          "carries its own next observation (read from the next slot with "
          "optimize_memory_usage); an agentnet session carries 32 observations, each tick's "
          "next observation being the following tick's.")


if __name__ == "__main__":
    main()
