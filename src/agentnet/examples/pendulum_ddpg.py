"""Deterministic policy gradient (DDPG-style) on batched native Pendulum, with replay.

An actor maps the observation to a torque mu(s) in [-2, 2]; a critic Q(s, a) reads the
observation and the torque. Many sessions play at once with Gaussian noise on the torque;
their sessions go into a replay pool. On batches replayed from it (the recorded torques
forced through the action layer), the critic regresses Q(s_t, a_t) on n-step references of
Q'(s, mu'(s)) from Polyak-averaged target copies of both networks, and the actor climbs the
critic's value of its own noise-free torque, Q(s, mu(s)), stepping only its own parameters.
Evaluated with the noise off (``deterministic=True``) on 100 fresh episodes.

    python -m agentnet.examples.pendulum_ddpg
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.environment import EpisodeTracker, Pendulum, SessionPoolEnvironment, play_episodes
from agentnet.examples import make_config, warn_if_budget_below_learning_starts
from agentnet.learning import dpg, generic
from agentnet.target_network import TargetNetwork
from agentnet.utils import RunDirectory, reapply

#: the Gymnasium environment this native one matches (for ``agentnet evaluate``)
GYMNASIUM_ID = "Pendulum-v1"
MAX_TORQUE = 2.0


@dataclass
class Config:
    total_steps: int = 30_000
    """environment steps to train for (sessions x ticks; at 20k one seed in eight still
    left some starts hanging, mean -400)"""
    n_sessions: int = 16
    """sessions played in parallel"""
    session_length: int = 4
    """ticks per recorded session (one collection of n_sessions sessions per iteration)"""
    pool_capacity: int = 8_000
    """sessions the replay pool holds"""
    learning_starts: int = 1_000
    """environment steps collected before learning"""
    updates_per_iteration: int = 8
    """gradient steps (of critic and actor) after each collection"""
    batch_sessions: int = 256
    """sessions per replayed batch"""
    n_steps: int = 2
    """the n of the critic's n-step references"""
    gamma: float = 0.98
    """discount"""
    reward_scale: float = 0.1
    """rewards are multiplied by this for learning (Pendulum's reach -16 per step)"""
    critic_learning_rate: float = 1e-3
    """Adam's step size for the critic"""
    actor_learning_rate: float = 1e-3
    """Adam's step size for the actor"""
    target_alpha: float = 0.01
    """Polyak step of the target networks toward actor and critic after each update"""
    exploration: float = 0.4
    """standard deviation of the Gaussian noise on the torque while training"""
    hidden: int = 64
    """units in each of the two hidden layers of actor and critic"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 100
    """noise-free episodes played after training"""


def build_agent(config: Config) -> agentnet.Agent:
    """An actor mu(s) with a noisy torque as action, and a critic Q(s, a) of that torque;
    the policy is ``[mu, Q]``."""
    observation = L.InputLayer((None, 3), name="observation")
    hidden = L.DenseLayer(observation, config.hidden, name="actor.hidden1")
    hidden = L.DenseLayer(hidden, config.hidden, name="actor.hidden2")
    mu = L.DenseLayer(hidden, 1, nonlinearity=lambda x: MAX_TORQUE * torch.tanh(x),
                      name="actor.torque")
    noisy = L.GaussianNoiseLayer(mu, sigma=config.exploration, name="exploration")
    torque = L.NonlinearityLayer(noisy, lambda a: a.clamp(-MAX_TORQUE, MAX_TORQUE),
                                 name="torque")
    hidden = L.DenseLayer(L.ConcatLayer([observation, torque], name="critic.input"),
                          config.hidden, name="critic.hidden1")
    hidden = L.DenseLayer(hidden, config.hidden, name="critic.hidden2")
    qvalue = L.DenseLayer(hidden, 1, nonlinearity=None, name="critic.q")
    return agentnet.Agent(observation, policy_estimators=[mu, qvalue], action_layers=torque)


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False, **overrides) -> dict:
    """Train, evaluate, and return ``{"eval_mean_return", "log", "agent"}`` (the arguments:
    :mod:`agentnet.examples`)."""
    config = make_config(Config, total_steps, overrides)
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    (observation,), (torque,), (mu, qvalue) = (agent.observation_layers, agent.action_layers,
                                               agent.policy_layers)
    # the critic's value of the actor's noise-free torque, Q(s, mu(s)): the actor's objective,
    # and (copied with both networks' weights lagging) the critic's reference
    policy_qvalue = reapply(qvalue, {torque: mu})
    target = TargetNetwork(policy_qvalue)
    actor_params = L.get_all_params(mu)
    critic_params = [p for p in L.get_all_params(qvalue)
                     if not any(p is a for a in actor_params)]
    critic_optimizer = torch.optim.Adam(critic_params, lr=config.critic_learning_rate)
    actor_optimizer = torch.optim.Adam(actor_params, lr=config.actor_learning_rate)
    env = Pendulum(batch_size=config.n_sessions, seed=config.seed, autoreset=True)
    pool = SessionPoolEnvironment(config.pool_capacity, config.session_length, agent=agent)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite)
    warn_if_budget_below_learning_starts(config, __name__)
    step, carry = run.start(agent, critic_optimizer, log, {
        "episodes": episodes, "target": target, "actor_optimizer": actor_optimizer,
        "pool": pool}, batch_size=config.n_sessions)
    sessions = carry.get("sessions")  # None: a new run, new episodes
    critic_loss = actor_loss = torch.tensor(float("nan"))
    steps_per_iteration = config.n_sessions * config.session_length
    with run:
        while step < config.total_steps:
            # --- play on with exploration noise, and record what was played ---
            with torch.no_grad():
                sessions = agent.get_sessions(env, config.session_length, continue_from=sessions)
            pool.append_sessions(sessions)
            step += steps_per_iteration
            for _ in range(config.updates_per_iteration if step >= config.learning_starts else 0):
                replay = agent.get_sessions(pool.sample_session_batch(config.batch_sessions),
                                            experience_replay=True,
                                            additional_outputs=[target.output_layers])
                # --- the critic: Q(s_t, a_t) on n-step references of the targets' Q'(s, mu'(s)) ---
                _, qvalues = replay.policy
                (target_qvalues,) = replay.additional_outputs
                elementwise = dpg.get_elementwise_objective_critic(
                    qvalues[..., 0], target_qvalues[..., 0], replay.rewards * config.reward_scale,
                    replay.is_alive, n_steps=config.n_steps, gamma_or_gammas=config.gamma,
                    is_truncated=replay.is_truncated)
                critic_loss = generic.masked_mean(elementwise, replay.is_alive)
                critic_optimizer.zero_grad()
                critic_loss.backward()
                critic_optimizer.step()
                # --- the actor: up the critic's Q(s, mu(s)) on the replayed observations ---
                batch, length = replay.is_alive.shape
                policy_qvalues = L.get_output(policy_qvalue,
                                              {observation: replay.observations.flatten(0, 1)})
                elementwise = dpg.get_elementwise_objective_actor(
                    policy_qvalues.view(batch, length), replay.is_alive)
                actor_loss = generic.masked_mean(elementwise, replay.is_alive)
                actor_optimizer.zero_grad()
                actor_loss.backward()  # also reaches the critic's gradients, cleared before use
                actor_optimizer.step()
                target.load_weights(config.target_alpha)
            # --- bookkeeping ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            log.record(step, finished.returns, critic_loss=critic_loss.item(),
                       actor_loss=actor_loss.item())
            if run.due(step, 50 * steps_per_iteration):
                run.save(step, agent, critic_optimizer, log, {
                    "sessions": sessions.continuation(), "episodes": episodes.state_dict(),
                    "target": target.state_dict(), "actor_optimizer": actor_optimizer.state_dict(),
                    "pool": pool.state_dict()})
    evaluation = play_episodes(agent, Pendulum(batch_size=config.eval_episodes,
                                               seed=config.seed + 1),
                               config.eval_episodes, max_steps=200, deterministic=True)
    log.finish(evaluation.returns)
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent}


if __name__ == "__main__":
    main()
