"""The main job: ``python -m agentnet`` (or the ``agentnet`` command).

``agentnet demo`` builds the seed's minimal Q-learning agent and a GRU agent, plays batched
sessions of native CartPole with each and prints what they saw: the fields' shapes, the mean
session length and the rollout speed in environment steps per second.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import torch

from . import layers as L
from .agent import Agent
from .environment import CartPole
from .memory import GRUCell
from .resolver import EpsilonGreedyResolver


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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="agentnet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser("demo", help="play native CartPole with two untrained agents")
    demo.add_argument("--batch-size", type=int, default=256, help="sessions played at once")
    demo.add_argument("--length", type=int, default=100, help="ticks per session")
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command is None:  # the demo is the default job
        args = parser.parse_args(["demo", *(argv or [])])
    torch.manual_seed(args.seed)
    print(f"agentnet demo: native CartPole, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    describe_sessions("minimal Q agent (the seed's)", build_minimal_agent(),
                      args.batch_size, args.length)
    describe_sessions("GRU Q agent", build_gru_agent(), args.batch_size, args.length)


if __name__ == "__main__":
    main()
