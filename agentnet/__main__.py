"""The main job: ``python -m agentnet`` (or the ``agentnet`` command).

``agentnet train [EXAMPLE]`` (the default: A2C on batched native CartPole) trains an example
agent, printing its progress, then evaluates it greedily on fresh episodes.
``agentnet list`` lists the examples. ``agentnet demo`` builds the seed's minimal Q-learning
agent and a GRU agent, plays native CartPole with each and prints what they saw: the fields'
shapes, the mean session length and the rollout speed in environment steps per second.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from . import layers as L
from .agent import Agent
from .environment import CartPole
from .memory import GRUCell
from .resolver import EpsilonGreedyResolver
from .utils.persistence import PersistenceError


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


EXAMPLES = {
    "cartpole_a2c": "n-step advantage actor-critic on batched native CartPole",
    "cartpole_nstep_q": "n-step Q-learning on batched native CartPole, no replay",
    "gym_cartpole_dqn": "DQN on Gymnasium's CartPole-v1: env pool, session pool, target network",
    "cartpole_ppo": "PPO with GAE on batched native CartPole",
    "cartpole_recurrent": "a GRU A2C agent on CartPole with the velocities hidden",
    "pendulum_naf": "normalized advantage functions on batched native Pendulum, with replay",
    "pendulum_ddpg": "deterministic policy gradient (DDPG) on native Pendulum, with replay",
    "boolean_reasoning": "a GRU agent asks before it answers: hidden-factor guessing",
    "stack_rnn_anbn": "a stack-augmented RNN learns a^n b^n, through Recurrence",
    "atari_dqn": "DQN on Atari Breakout: conv agent, frame-window memory (needs a GPU to learn)",
}


def train(example: str, steps: int | None, seed: int, out: str | None = None) -> dict:
    """Run an example's ``main`` (it prints its progress and its evaluation)."""
    module = importlib.import_module(f"agentnet.examples.{example}")
    print(f"agentnet train {example}: {EXAMPLES[example]}")
    return module.main(total_steps=steps, seed=seed, **({"out_dir": out} if out else {}))


def resume(directory: str, steps: int | None) -> dict:
    """Go on with the run saved in ``directory``, exactly where it stopped."""
    from .utils import RunDirectory

    example, config = RunDirectory.read_settings(directory)
    if steps is not None:
        config["total_steps"] = steps
    print(f"agentnet: resuming {example} from {directory}")
    return importlib.import_module(example).main(out_dir=directory, resume=True, **config)


def evaluate(directory: str, episodes: int, seed: int, max_steps: int | None = None) -> None:
    """Play the agent saved in ``directory`` greedily on the real Gymnasium environment
    (episodes cut after ``max_steps`` steps if given)."""
    import gymnasium

    from .utils import RunDirectory, persistence

    example, config = RunDirectory.read_settings(directory)
    module = importlib.import_module(example)
    if not hasattr(module, "GYMNASIUM_ID") and not hasattr(module, "make_gymnasium_env"):
        raise SystemExit(f"agentnet evaluate: {example} has no Gymnasium counterpart to play")
    settings = module.Config(**config)
    agent = module.build_agent(settings)
    persistence.load(agent, Path(directory) / "checkpoint.safetensors")
    # no exploration: greedy resolvers, noise layers off
    reads_greedy = any("greedy" in layer.accepted_flags for layer in agent.layers.values())
    react = agent.get_react_function(deterministic=True, **({"greedy": True} if reads_greedy
                                                             else {}))
    # an example's own make_gymnasium_env(config) (Atari preprocessing, hidden velocities),
    # else its Gymnasium id
    env = (module.make_gymnasium_env(settings) if hasattr(module, "make_gymnasium_env")
           else gymnasium.make(module.GYMNASIUM_ID))
    name = getattr(module, "GYMNASIUM_ID", None)
    if not name:
        assert env.spec is not None  # made by gymnasium.make, which sets it
        name = env.spec.id
    returns = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        memory, total, done, steps = None, 0.0, False, 0
        while not done and (max_steps is None or steps < max_steps):
            reaction = react(observation[None], memory)
            memory = reaction.new_states
            action = reaction.actions[0] if isinstance(reaction.actions, np.ndarray) \
                else reaction.actions[0][0]  # the first row; several action layers: the first
            observation, reward, terminated, truncated, _ = env.step(
                action.item() if action.ndim == 0 else action)
            total += float(reward)
            done, steps = terminated or truncated, steps + 1
        returns.append(total)
    env.close()
    print(f"{name}: mean return {np.mean(returns):.1f} over {episodes} episodes "
          f"(min {np.min(returns):.0f}, max {np.max(returns):.0f})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="agentnet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    train_parser = commands.add_parser("train", help="train an example agent (the default)")
    train_parser.add_argument("example", nargs="?", default="cartpole_a2c",
                              choices=sorted(EXAMPLES))
    train_parser.add_argument("--steps", type=int, default=None,
                              help="environment steps (the example's default if not given)")
    train_parser.add_argument("--seed", type=int, default=0)
    train_parser.add_argument("--threads", type=int, default=1,
                              help="torch threads (1 is fastest for these small networks)")
    train_parser.add_argument("--out", default=None,
                              help="a folder for metrics.csv, learning_curve.png, checkpoints")
    train_parser.add_argument("--resume", default=None, metavar="DIR",
                              help="go on with the run saved in DIR (ignores EXAMPLE)")
    evaluate_parser = commands.add_parser(
        "evaluate", help="play a saved agent on the real Gymnasium environment")
    evaluate_parser.add_argument("directory")
    evaluate_parser.add_argument("--episodes", type=int, default=20)
    evaluate_parser.add_argument("--seed", type=int, default=0)
    evaluate_parser.add_argument("--max-steps", type=int, default=None,
                                 help="cut each episode after this many steps")
    commands.add_parser("list", help="list the examples")
    demo = commands.add_parser("demo", help="play native CartPole with two untrained agents")
    demo.add_argument("--batch-size", type=int, default=256, help="sessions played at once")
    demo.add_argument("--length", type=int, default=100, help="ticks per session")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--threads", type=int, default=1, help="torch threads")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in {*commands.choices, "-h", "--help"}:
        argv = ["train", *argv]  # training the default example is the main job
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, description in EXAMPLES.items():
            print(f"{name:<20} {description}")
    elif args.command in ("train", "evaluate"):
        torch.set_num_threads(getattr(args, "threads", 1))
        try:
            if args.command == "evaluate":
                evaluate(args.directory, args.episodes, args.seed, args.max_steps)
            elif args.resume:
                resume(args.resume, args.steps)
            else:
                train(args.example, args.steps, args.seed, args.out)
        except (FileNotFoundError, PersistenceError) as error:  # not a run folder, bad file
            parser.error(str(error))
    else:
        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        print(f"agentnet demo: native CartPole, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads")
        describe_sessions("minimal Q agent (the seed's)", build_minimal_agent(),
                          args.batch_size, args.length)
        describe_sessions("GRU Q agent", build_gru_agent(), args.batch_size, args.length)


if __name__ == "__main__":
    main()
