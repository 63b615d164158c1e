"""Normalized advantage functions (Gu et al. 2016) on batched native Pendulum, with replay.

NAF is Q-learning for continuous actions: the network outputs a state value V(s), a best
action mu(s) and a positive curvature P(s), and ``Q(s, u) = V(s) - 1/2 P(s) (u - mu(s))^2``,
so the greedy action is mu(s) and its value V(s). Many sessions play at once with Gaussian
noise on mu; their sessions go into a replay pool; batches replayed from it (the recorded
actions forced through the action layer, so Q is computed for the action that was taken)
regress Q(s_t, u_t) on n-step references of V from a Polyak-averaged target network.
Evaluated with the noise off (``deterministic=True``) on 100 fresh episodes.

    python -m agentnet.examples.pendulum_naf
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.environment import EpisodeTracker, Pendulum, SessionPoolEnvironment, play_episodes
from agentnet.examples import make_config, warn_if_budget_below_learning_starts
from agentnet.learning import generic, qlearning_naf
from agentnet.target_network import TargetNetwork
from agentnet.utils import RunDirectory

#: the Gymnasium environment this native one matches (for ``agentnet evaluate``)
GYMNASIUM_ID = "Pendulum-v1"
MAX_TORQUE = 2.0


@dataclass
class Config:
    total_steps: int = 40_000
    """environment steps to train for (sessions x ticks)"""
    n_sessions: int = 16
    """sessions played in parallel"""
    session_length: int = 4
    """ticks per recorded session (one collection of n_sessions sessions per iteration)"""
    pool_capacity: int = 16_000
    """sessions the replay pool holds"""
    learning_starts: int = 1_000
    """environment steps collected before learning"""
    updates_per_iteration: int = 8
    """gradient steps after each collection"""
    batch_sessions: int = 256
    """sessions per replayed batch"""
    n_steps: int = 2
    """the n of the n-step references"""
    gamma: float = 0.98
    """discount"""
    reward_scale: float = 0.1
    """rewards are multiplied by this for learning (Pendulum's reach -16 per step)"""
    learning_rate: float = 1e-3
    """Adam's step size"""
    target_alpha: float = 0.01
    """Polyak step of the target network toward the agent after each update"""
    exploration: float = 0.4
    """standard deviation of the Gaussian noise on the torque while training"""
    hidden: int = 64
    """units in each of the two hidden layers"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 100
    """noise-free episodes played after training"""


def build_agent(config: Config) -> agentnet.Agent:
    """An MLP torso with NAF's heads: Q(s, u) and V(s) as policy, the noisy torque as action."""
    observation = L.InputLayer((None, 3), name="observation")
    hidden = L.DenseLayer(observation, config.hidden, name="hidden1")
    hidden = L.DenseLayer(hidden, config.hidden, name="hidden2")
    # the best torque mu(s), squashed into [-2, 2] (a clip would stop its gradient)
    means = L.DenseLayer(hidden, 1, nonlinearity=lambda x: MAX_TORQUE * torch.tanh(x),
                         name="naf.means")
    naf = L.build_NAF_controller(hidden, action_dimensions=1,
                                 exploration=config.exploration, mean_layer=means,
                                 action_low=-MAX_TORQUE, action_high=MAX_TORQUE)
    return agentnet.Agent(observation, policy_estimators=[naf["action_qvalues"],
                                                          naf["state_value"]],
                          action_layers=naf["actions"])


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False, **overrides) -> dict:
    """Train, evaluate, and return ``{"eval_mean_return", "log", "agent"}`` (the arguments:
    :mod:`agentnet.examples`)."""
    config = make_config(Config, total_steps, overrides)
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    target = TargetNetwork(agent.policy_layers[1])  # V(s), for the references
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate)
    env = Pendulum(batch_size=config.n_sessions, seed=config.seed, autoreset=True)
    pool = SessionPoolEnvironment(config.pool_capacity, config.session_length, agent=agent)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite)
    warn_if_budget_below_learning_starts(config, __name__)
    step, carry = run.start(agent, optimizer, log, {
        "episodes": episodes, "target": target, "pool": pool}, batch_size=config.n_sessions)
    sessions = carry.get("sessions")  # None: a new run, new episodes
    loss = torch.tensor(float("nan"))
    steps_per_iteration = config.n_sessions * config.session_length
    with run:
        while step < config.total_steps:
            # --- play on with exploration noise, and record what was played ---
            with torch.no_grad():
                sessions = agent.get_sessions(env, config.session_length, continue_from=sessions)
            pool.append_sessions(sessions)
            step += steps_per_iteration
            # --- the algorithm: regress Q(s_t, u_t) on n-step references of the target's V ---
            for _ in range(config.updates_per_iteration if step >= config.learning_starts else 0):
                replay = agent.get_sessions(pool.sample_session_batch(config.batch_sessions),
                                            experience_replay=True,
                                            additional_outputs=[target.output_layers])
                qvalues, _ = replay.policy
                (target_values,) = replay.additional_outputs
                elementwise = qlearning_naf.get_elementwise_objective(
                    qvalues[..., 0], target_values[..., 0], replay.rewards * config.reward_scale,
                    replay.is_alive, n_steps=config.n_steps, gamma_or_gammas=config.gamma,
                    is_truncated=replay.is_truncated)
                loss = generic.masked_mean(elementwise, replay.is_alive)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                target.load_weights(config.target_alpha)
            # --- bookkeeping ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            log.record(step, finished.returns, loss=loss.item())
            if run.due(step, 50 * steps_per_iteration):
                run.save(step, agent, optimizer, log, {"sessions": sessions.continuation(),
                                                       "episodes": episodes.state_dict(),
                                                       "target": target.state_dict(),
                                                       "pool": pool.state_dict()})
    evaluation = play_episodes(agent, Pendulum(batch_size=config.eval_episodes,
                                               seed=config.seed + 1),
                               config.eval_episodes, max_steps=200, deterministic=True)
    log.finish(evaluation.returns)
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent}


if __name__ == "__main__":
    main()
