"""The DQN update: what one iteration of ``gym_cartpole_dqn``'s loop costs, in milliseconds.

The example's agent and settings (an MLP of 128 and 64 units with epsilon-greedy actions on
Gymnasium's CartPole-v1, 8 environments, sessions of 8 ticks, batches of 32 sessions, 4-step
Q-learning with a Huber loss against a target network, fused Adam), timed in two parts:

- collect:  ``EnvPool.update(8, pool)``: 8 ticks of 8 Gymnasium environments played by the
            agent and recorded into the session pool (64 environment steps);
- gradient: one gradient step: ``sample_session_batch(32)``, ``get_sessions(batch,
            experience_replay=True, additional_outputs=[target])``, the loss, ``backward``
            and ``optimizer.step`` (the example takes 20 per collection).

Each figure is the median over ``--repeats`` rounds of ``--steps`` operations (collections
and gradient steps interleaved round by round), one torch thread. Run it on two versions of
the code in turn (e.g. ``PYTHONPATH=/elsewhere/src``) to compare them: absolute figures move
with the machine's load.

    python benchmarks/dqn_update.py
    python benchmarks/dqn_update.py --repeats 9 --steps 200
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import agentnet
from agentnet import layers as L
from agentnet.environment import EnvPool, SessionPoolEnvironment
from agentnet.learning import generic, qlearning
from agentnet.resolver import EpsilonGreedyResolver
from agentnet.target_network import TargetNetwork

N_ENVS, SESSION_LENGTH, BATCH_SESSIONS, N_STEPS, GAMMA = 8, 8, 32, 4, 0.99


def build_agent() -> agentnet.Agent:
    """``gym_cartpole_dqn.build_agent`` with its default settings."""
    observation = L.InputLayer((None, 4), name="observation")
    hidden = L.DenseLayer(observation, 128, name="hidden1")
    hidden = L.DenseLayer(hidden, 64, name="hidden2")
    qvalues = L.DenseLayer(hidden, 2, nonlinearity=None, name="q")
    resolver = EpsilonGreedyResolver(qvalues, epsilon=0.1, name="resolver")
    return agentnet.Agent(observation, policy_estimators=qvalues, action_layers=resolver)


def gradient_step(agent, target, replay, optimizer) -> None:
    """One of the example's gradient steps (its ``dqn_loss`` with the default settings)."""
    batch = replay.sample_session_batch(BATCH_SESSIONS)
    sessions = agent.get_sessions(batch, experience_replay=True,
                                  additional_outputs=[target.output_layers])
    elementwise = qlearning.get_elementwise_objective(
        sessions.policy, sessions.actions, sessions.rewards, sessions.is_alive,
        qvalues_target=sessions.additional_outputs[0], n_steps=N_STEPS, gamma_or_gammas=GAMMA,
        is_truncated=sessions.is_truncated, loss_function=qlearning.huber_loss)
    loss = generic.masked_mean(elementwise, sessions.is_alive)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=100,
                        help="gradient steps (and collections) per round")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    agent = build_agent()
    target = TargetNetwork(agent.policy_layers[0])
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-4, fused=True)
    replay = SessionPoolEnvironment(4_000, SESSION_LENGTH, agent=agent)
    collect, gradient = [], []
    with EnvPool(agent, "CartPole-v1", n_envs=N_ENVS, seed=0) as envs:
        for _ in range(20):  # warm-up: a pool to sample from, first-call costs paid
            envs.update(SESSION_LENGTH, replay)
            gradient_step(agent, target, replay, optimizer)
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _ in range(args.steps):
                envs.update(SESSION_LENGTH, replay)
            collect.append((time.perf_counter() - start) / args.steps)
            start = time.perf_counter()
            for _ in range(args.steps):
                gradient_step(agent, target, replay, optimizer)
            gradient.append((time.perf_counter() - start) / args.steps)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} "
          f"rounds of {args.steps}")
    print(f"collect  (EnvPool.update, {N_ENVS} envs x {SESSION_LENGTH} ticks): "
          f"{statistics.median(collect) * 1e3:.3f} ms")
    print(f"gradient (replay {BATCH_SESSIONS} x {SESSION_LENGTH}, loss, backward, Adam): "
          f"{statistics.median(gradient) * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
