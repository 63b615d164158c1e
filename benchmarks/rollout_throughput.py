"""Rollout throughput: ``Agent.get_sessions`` on native CartPole against a bare PyTorch loop.

For each agent (a 2x64 MLP and a 64-unit GRU, both with Q-values and an epsilon-greedy pick)
and each batch size, three things are timed in one process, interleaved (A B C A B C ...):

- env:      the environment's step alone (``get_action_results`` + rewards + aliveness),
            with precomputed random actions: the ceiling for any agent.
- bare:     the same agent and environment as a hand-written PyTorch loop (``F.linear``,
            ``torch.gru_cell``, the same epsilon-greedy ops, the same per-tick records stacked
            at the end): the floor that eager PyTorch allows.
- agentnet: ``agent.get_sessions(env, session_length)``.

Both agent loops run with autograd on (a training rollout). Figures are environment steps
per second, medians over the repeats; the ratio agentnet/bare is what carries across machines.

    python benchmarks/rollout_throughput.py                 # all batch sizes, 5 repeats
    python benchmarks/rollout_throughput.py --batch 1 4096 --repeats 7
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from agentnet import Agent
from agentnet import layers as L
from agentnet.environment import CartPole
from agentnet.memory import GRUCell
from agentnet.resolver import EpsilonGreedyResolver

HIDDEN = 64
EPSILON = 0.1


def mlp_agent() -> Agent:
    obs = L.InputLayer((None, 4), name="observation")
    h1 = L.DenseLayer(obs, HIDDEN, name="h1")
    h2 = L.DenseLayer(h1, HIDDEN, name="h2")
    q = L.DenseLayer(h2, 2, nonlinearity=None, name="q")
    return Agent(obs, policy_estimators=q, action_layers=EpsilonGreedyResolver(q, EPSILON))


def gru_agent() -> Agent:
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, HIDDEN), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    return Agent(obs, agent_states={gru: prev}, policy_estimators=q,
                 action_layers=EpsilonGreedyResolver(q, EPSILON))


def bare_rollout(kind: str, params: dict[str, torch.Tensor], env: CartPole, batch: int,
                 length: int) -> dict[str, torch.Tensor]:
    """The same agent and loop, written by hand: what get_sessions competes with."""
    (physics, steps, terminated), (obs,) = env.reset(batch)
    states = [physics, steps, terminated]
    hidden = torch.zeros(batch, HIDDEN)
    epsilon = torch.tensor(EPSILON)
    rec_states, rec_obs, rec_hidden, rec_actions, rec_q, rec_r, rec_alive = \
        [], [], [], [], [], [], []
    for _ in range(length):
        alive = env.get_is_alive(states)
        if kind == "mlp":
            x = torch.relu(F.linear(obs, params["h1.weight"], params["h1.bias"]))
            x = torch.relu(F.linear(x, params["h2.weight"], params["h2.bias"]))
        else:
            x = hidden = torch.gru_cell(obs, hidden, params["gru.weight_ih"],
                                        params["gru.weight_hh"], params["gru.bias_ih"],
                                        params["gru.bias_hh"])
            rec_hidden.append(hidden)
        q = F.linear(x, params["q.weight"], params["q.bias"])
        explore = torch.rand(batch) < epsilon
        action = torch.where(explore, torch.randint(2, (batch,)), q.argmax(dim=-1))
        new_states, (new_obs,) = env.get_action_results(states, [action])
        reward = env.get_rewards(states, [action], new_states)
        rec_states.append(states)
        rec_obs.append(obs)
        rec_actions.append(action)
        rec_q.append(q)
        rec_r.append(reward)
        rec_alive.append(alive)
        states, obs = new_states, new_obs
    out = {"env_states": [torch.stack(s, 1) for s in zip(*rec_states)],
           "observations": torch.stack(rec_obs, 1), "actions": torch.stack(rec_actions, 1),
           "policy": torch.stack(rec_q, 1), "rewards": torch.stack(rec_r, 1),
           "is_alive": torch.stack(rec_alive, 1)}
    if rec_hidden:
        out["hidden"] = torch.stack(rec_hidden, 1)
    return out


def env_only(env: CartPole, batch: int, length: int) -> None:
    states, _ = env.reset(batch)
    actions = torch.randint(2, (length, batch))
    for t in range(length):
        env.get_is_alive(states)
        new_states, _ = env.get_action_results(states, [actions[t]])
        env.get_rewards(states, [actions[t]], new_states)
        states = new_states


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(kind: str, batch: int, length: int, repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    agent = mlp_agent() if kind == "mlp" else gru_agent()
    params = {name.removeprefix("layers."): p for name, p in agent.named_parameters()}
    env = CartPole(batch_size=batch, seed=0)
    runs = {
        "env": lambda: env_only(env, batch, length),
        "bare": lambda: bare_rollout(kind, params, env, batch, length),
        "agentnet": lambda: agent.get_sessions(env, session_length=length),
    }
    for run in runs.values():  # warm-up
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(timed(run))
    return {name: batch * length / statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} "
          f"interleaved runs; environment steps per second")
    print("| agent | batch | env step alone | bare PyTorch loop | agentnet get_sessions "
          "| agentnet / bare |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in ("mlp", "gru"):
        for batch in args.batch:
            length = 200 if batch <= 64 else 50
            r = measure(kind, batch, length, args.repeats)
            label = "2x64 MLP" if kind == "mlp" else "GRU 64"
            print(f"| {label} | {batch} | {r['env']:,.0f} | {r['bare']:,.0f} | "
                  f"{r['agentnet']:,.0f} | {r['agentnet'] / r['bare']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
