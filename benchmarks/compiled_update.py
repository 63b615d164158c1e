"""The compiled update: ``agentnet.utils.compile_loss`` (the examples' ``compile=True``)
against the eager update, for the ``gym_cartpole_dqn`` and ``pendulum_sac`` examples' updates
at their default sizes.

For each example, its agent (built twice from one seed: eager and compiled), target network
and optimizers are built with the default ``Config``, a replay pool is filled by playing
(Gymnasium CartPole-v1 through an ``EnvPool`` for DQN, native Pendulum for SAC), and the
example's whole gradient update (replay, losses, ``backward``, fused Adam steps; SAC's three
and its Polyak step) is timed on batches sampled from the pool (sampling included):

- eager:    ``compile=False``, the update as the examples run it by default;
- compiled: ``compile=True``: the replay and losses compiled by ``compile_loss`` (and with
            them their backward), ``backward`` and the optimizers' steps called as before;
- with ``--variants``: the same with ``options={"cpp_wrapper": False}`` and with
  ``mode="max-autotune-no-cudagraphs"``, and (DQN) the whole update under one
  ``torch.compile`` (LeanRL's way: loss, ``backward`` and ``step`` inside, the step size a
  tensor), which ``backward`` and ``step`` break into pieces.

The first two calls of a compiled update compile it: their time is reported apart
(``compile``; inductor caches kernels on disk, so a second run of the script compiles
sooner), then 20 more calls of each warm up. Figures are per-update milliseconds, the median
over ``--repeats`` rounds of ``--steps`` updates, the variants interleaved round by round
(A B A B ...), one torch thread. With ``--whole``, each example's ``main()`` is also run to
its default ``total_steps`` with ``compile=False`` and ``compile=True`` (wall time,
compilation included). Machines here are shared and noisy: the ratios carry, not the times.

    python benchmarks/compiled_update.py
    python benchmarks/compiled_update.py --repeats 9 --steps 50 --variants --whole
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from agentnet.driving import EnvPool
from agentnet.environment import Pendulum, SessionPoolEnvironment
from agentnet.examples import gym_cartpole_dqn, pendulum_sac
from agentnet.target_network import TargetNetwork
from agentnet.utils import compile_loss
from agentnet.utils.compiled_loss import COMPILE_OPTIONS

#: an update's variant: (update of a batch's tensors, seconds it took to compile or None)
Variant = tuple[Callable[..., Any], Callable[[], float] | None]


def dqn_variants(variants: bool) -> tuple[dict[str, Variant], Callable[[], tuple[Any, ...]]]:
    """The DQN example's gradient step, eager and compiled, and a sampler of batch tensors."""
    config = gym_cartpole_dqn.Config()

    def build(how: str) -> Variant:
        torch.manual_seed(0)
        agent = gym_cartpole_dqn.build_agent(config)
        target = TargetNetwork(agent.policy_layers[0])
        lr = torch.tensor(config.learning_rate) if how == "whole" else config.learning_rate
        optimizer = torch.optim.Adam(agent.parameters(), lr=lr, fused=True)
        loss_fn = gym_cartpole_dqn.make_replay_loss(agent, target, config)
        if how == "compiled":
            loss_fn = compile_loss(loss_fn)
        elif how == "cpp_wrapper off":
            loss_fn = compile_loss(loss_fn, options={"cpp_wrapper": False})
        elif how == "max-autotune-no-cudagraphs":
            loss_fn = compile_loss(loss_fn, mode="max-autotune-no-cudagraphs")

        def step(*tensors: Any) -> torch.Tensor:  # the example's loop body
            loss = loss_fn(*tensors)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss.detach()

        if how == "whole":
            whole = torch.compile(step, options=COMPILE_OPTIONS)
            return whole, None
        return step, (lambda: loss_fn.compile_seconds) if how != "eager" else None

    hows = ["eager", "compiled"] + (["cpp_wrapper off", "max-autotune-no-cudagraphs", "whole"]
                                    if variants else [])
    built = {how: build(how) for how in hows}
    agent = gym_cartpole_dqn.build_agent(config)
    replay = SessionPoolEnvironment(config.pool_capacity, config.session_length, agent=agent)
    with EnvPool(agent, gym_cartpole_dqn.GYMNASIUM_ID, n_envs=config.n_envs, seed=0) as envs:
        for _ in range(40):
            envs.update(config.session_length, replay)

    def sample() -> tuple[Any, ...]:
        b = replay.sample_session_batch(config.batch_sessions)
        return (b.observations, b.actions, b.rewards, b.is_alive, b.is_truncated,
                b.preceding_memories)

    return built, sample


def sac_variants(variants: bool) -> tuple[dict[str, Variant], Callable[[], tuple[Any, ...]]]:
    """The SAC example's update, eager and compiled, and a sampler of batch tensors."""
    def build(how: str) -> Variant:
        config = pendulum_sac.Config(compile=how != "eager")
        torch.manual_seed(0)
        agent = pendulum_sac.build_agent(config)
        made: list[Any] = []
        kwargs = ({"options": {"cpp_wrapper": False}} if how == "cpp_wrapper off" else
                  {"mode": how} if how == "max-autotune-no-cudagraphs" else {})
        original = pendulum_sac.compile_loss
        pendulum_sac.compile_loss = lambda fn: made.append(  # type: ignore[assignment]
            original(fn, **kwargs)) or made[-1]
        try:
            learner = pendulum_sac.build_learner(agent, config)
        finally:
            pendulum_sac.compile_loss = original
        return learner.update, (lambda: sum(m.compile_seconds for m in made)) if made else None

    hows = ["eager", "compiled"] + (["cpp_wrapper off", "max-autotune-no-cudagraphs"]
                                    if variants else [])
    built = {how: build(how) for how in hows}
    config = pendulum_sac.Config()
    agent = pendulum_sac.build_agent(config)
    pool = SessionPoolEnvironment(config.pool_capacity, config.session_length, agent=agent)
    env = Pendulum(batch_size=config.n_sessions, seed=0, autoreset=True)
    sessions = None
    with torch.no_grad():
        for _ in range(40):
            sessions = agent.get_sessions(env, config.session_length, continue_from=sessions)
            pool.append_sessions(sessions)

    def sample() -> tuple[Any, ...]:
        b = pool.sample_session_batch(config.batch_sessions)
        return b.observations, b.actions, b.rewards, b.is_alive, b.is_truncated

    return built, sample


def time_updates(name: str, make: Callable[[bool], tuple[dict[str, Variant], Callable[[], Any]]],
                 args: argparse.Namespace) -> None:
    built, sample = make(args.variants)
    compile_seconds: dict[str, float] = {}
    for how, (update, seconds) in built.items():
        start = time.perf_counter()
        update(*sample())
        update(*sample())
        compile_seconds[how] = seconds() if seconds else time.perf_counter() - start
    for update, _ in built.values():
        for _ in range(20):
            update(*sample())
    times: dict[str, list[float]] = {how: [] for how in built}
    for _ in range(args.repeats):
        for how, (update, _) in built.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                update(*sample())
            times[how].append((time.perf_counter() - start) / args.steps)
    eager = statistics.median(times["eager"])
    for how in built:
        median = statistics.median(times[how])
        label = "whole update, one torch.compile" if how == "whole" else how
        compiling = f", compile {compile_seconds[how]:.1f} s" if how != "eager" else ""
        print(f"{name:4} {label:34} {median * 1e3:7.3f} ms per update  "
              f"x{eager / median:.2f}{compiling}", flush=True)


def time_whole_runs(args: argparse.Namespace) -> None:
    for name, example in (("dqn", gym_cartpole_dqn), ("sac", pendulum_sac)):
        seconds = {}
        for flag in (False, True):
            start = time.perf_counter()
            result = example.main(verbose=False, compile=flag)
            seconds[flag] = time.perf_counter() - start
            print(f"{name:4} main(compile={flag}): {seconds[flag]:.1f} s, eval mean return "
                  f"{result['eval_mean_return']:.1f}", flush=True)
        print(f"{name:4} whole run: x{seconds[False] / seconds[True]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=50, help="updates per round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", action="store_true",
                        help="also cpp_wrapper off, mode='max-autotune-no-cudagraphs' and "
                             "(DQN) the whole update under one torch.compile")
    parser.add_argument("--whole", action="store_true",
                        help="also time each example's main() to its default total_steps")
    parser.add_argument("--only", choices=["dqn", "sac"], help="one example only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("command: python " + " ".join(sys.argv))
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} "
          f"rounds of {args.steps} updates, interleaved")
    for name, make in (("dqn", dqn_variants), ("sac", sac_variants)):
        if args.only in (None, name):
            time_updates(name, make, args)
    if args.whole:
        time_whole_runs(args)


if __name__ == "__main__":
    main()
