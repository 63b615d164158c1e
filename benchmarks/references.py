"""Time of each value reference and off-policy correction on [1024, 128] sessions.

Sessions have random rewards and values, terminations, truncations and restarts inside rows.
Each function is timed over interleaved repeats (all functions once, then again ...) and the
median is reported, with one torch thread.

    python benchmarks/references.py                   # [1024, 128], 7 repeats
    python benchmarks/references.py --batch 256 --time 64
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from agentnet.learning import generic, qlearning_opt_tightening, retrace, vtrace


def random_sessions(batch: int, length: int, n_actions: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    alive = torch.rand(batch, length, generator=generator) > 0.05  # ends and restarts
    truncated = alive & (torch.rand(batch, length, generator=generator) < 0.02)
    truncated[:, :-1] &= ~alive[:, 1:]                             # only on an episode's end
    return {
        "values": torch.randn(batch, length, generator=generator),
        "rewards": torch.randn(batch, length, generator=generator),
        "alive": alive, "truncated": truncated,
        "qvalues": torch.randn(batch, length, n_actions, generator=generator),
        "actions": torch.randint(n_actions, (batch, length), generator=generator),
        "policy": torch.softmax(torch.randn(batch, length, n_actions, generator=generator), -1),
        "log_mu": torch.log(torch.full((batch, length), 1.0 / n_actions)),
    }


def candidates(s: dict[str, torch.Tensor]) -> dict[str, object]:
    common = dict(is_alive=s["alive"], is_truncated=s["truncated"])
    return {
        "1-step reference": lambda: generic.get_1_step_value_reference(
            s["values"], s["rewards"], **common),
        "5-step reference": lambda: generic.get_n_step_value_reference(
            s["values"], s["rewards"], n_steps=5, **common),
        "whole-session return": lambda: generic.get_n_step_value_reference(
            s["values"], s["rewards"], n_steps=None, **common),
        "lambda-returns": lambda: generic.get_lambda_returns(
            s["values"], s["rewards"], lambda_=0.95, **common),
        "GAE": lambda: generic.get_generalized_advantages(
            s["values"], s["rewards"], lambda_=0.95, **common),
        "V-trace": lambda: vtrace.get_vtrace_targets(
            s["values"], s["rewards"], torch.zeros_like(s["values"]), **common),
        "Retrace": lambda: retrace.get_retrace_targets(
            s["qvalues"], s["actions"], s["rewards"], s["policy"], s["log_mu"], **common),
        "opt. tightening bounds (K=4)": lambda: qlearning_opt_tightening.get_bounds(
            s["qvalues"], s["actions"], s["rewards"], s["alive"], n_steps=4, gamma=0.99,
            is_truncated=s["truncated"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--time", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    functions = candidates(random_sessions(args.batch, args.time))
    times: dict[str, list[float]] = {name: [] for name in functions}
    for fn in functions.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    print(f"[{args.batch}, {args.time}] sessions, torch {torch.__version__}, 1 thread, "
          f"median of {args.repeats} interleaved runs")
    print("| function | milliseconds |")
    print("| --- | ---: |")
    for name, values in times.items():
        print(f"| {name} | {1000 * statistics.median(values):.1f} |")


if __name__ == "__main__":
    main()
