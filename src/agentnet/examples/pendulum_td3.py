"""Twin delayed DDPG (TD3) on batched native Pendulum, with replay.

DDPG (:mod:`agentnet.examples.pendulum_ddpg`) with TD3's three changes. An actor maps the
observation to a torque mu(s) in [-2, 2]; two critics Q1(s, a), Q2(s, a) read the
observation and the torque. Many sessions play at once with Gaussian noise on the torque;
their sessions go into a replay pool. On batches replayed from it (the recorded torques
forced through the action layer), both critics regress Q(s_t, a_t) on n-step references of
``min(Q1', Q2')(s, a~)`` (clipped double Q) at the target actor's torque with clipped noise
added, ``a~ = clip(mu'(s) + clip(noise))`` (target policy smoothing), from Polyak-averaged
target copies of the actor and both critics; every ``policy_delay`` critic updates, the
actor climbs the first critic's value of its own noise-free torque, Q1(s, mu(s)), stepping
only its own parameters, and the targets move (delayed updates). Evaluated with the noise
off (``deterministic=True``) on 100 fresh episodes.

    python -m agentnet.examples.pendulum_td3
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.environment import (
    EpisodeStats,
    EpisodeTracker,
    Pendulum,
    SessionPoolEnvironment,
    play_episodes,
)
from agentnet.examples import make_config, warn_if_budget_below_learning_starts
from agentnet.learning import generic, td3
from agentnet.target_network import TargetNetwork
from agentnet.utils import RunDirectory, reapply

#: the Gymnasium environment this native one matches (for ``agentnet evaluate``)
GYMNASIUM_ID = "Pendulum-v1"
MAX_TORQUE = Pendulum.action_high  # the torque is in [-MAX_TORQUE, MAX_TORQUE]


@dataclass
class Config:
    total_steps: int = 10_000
    """environment steps to train for (sessions x ticks)"""
    n_sessions: int = 16
    """sessions played in parallel"""
    session_length: int = 4
    """ticks per recorded session (one collection of n_sessions sessions per iteration)"""
    pool_capacity: int = 8_000
    """sessions the replay pool holds"""
    learning_starts: int = 1_000
    """environment steps collected before learning"""
    updates_per_iteration: int = 24
    """critic updates after each collection"""
    policy_delay: int = 2
    """the actor and the targets step after every policy_delay-th critic update"""
    batch_sessions: int = 64
    """sessions per replayed batch"""
    n_steps: int = 2
    """the n of the critics' n-step references"""
    gamma: float = 0.98
    """discount"""
    reward_scale: float = 0.1
    """rewards are multiplied by this for learning (Pendulum's reach -16 per step)"""
    critic_learning_rate: float = 1e-3
    """Adam's step size for the critics"""
    actor_learning_rate: float = 2e-3
    """Adam's step size for the actor"""
    target_alpha: float = 0.01
    """Polyak step of the target networks toward actor and critics at each actor update"""
    exploration: float = 0.4
    """standard deviation of the Gaussian noise on the torque while training"""
    smoothing_noise: float = 0.2
    """standard deviation of the noise on the target actor's torque, in torque units (the
    paper's 0.2 for actions in [-1, 1] would be 0.4 here: it left more starts hanging)"""
    smoothing_clip: float = 0.5
    """that noise is clipped to [-smoothing_clip, smoothing_clip], in torque units"""
    hidden: int = 64
    """units in each of the two hidden layers of actor and critics"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 100
    """noise-free episodes played after training"""
    eval_every: int = 1_000
    """environment steps between noise-free evaluations during training (the eval_return
    curve; 0: only after training)"""


def critic(observation: L.Layer, torque: L.Layer, hidden: int, name: str) -> L.Layer:
    """Q(s, a): two hidden layers over the observation and the torque."""
    x = L.DenseLayer(L.ConcatLayer([observation, torque], name=f"{name}.input"), hidden,
                     name=f"{name}.hidden1")
    x = L.DenseLayer(x, hidden, name=f"{name}.hidden2")
    return L.DenseLayer(x, 1, nonlinearity=None, name=f"{name}.q")


def build_agent(config: Config) -> agentnet.Agent:
    """An actor mu(s) with a noisy torque as action, and two critics Q1(s, a), Q2(s, a) of
    that torque; the policy is ``[mu, Q1, Q2]``."""
    observation = L.InputLayer((None, 3), name="observation")
    hidden = L.DenseLayer(observation, config.hidden, name="actor.hidden1")
    hidden = L.DenseLayer(hidden, config.hidden, name="actor.hidden2")
    mu = L.DenseLayer(hidden, 1, nonlinearity=lambda x: MAX_TORQUE * torch.tanh(x),
                      name="actor.torque")
    noisy = L.GaussianNoiseLayer(mu, sigma=config.exploration, name="exploration")
    torque = L.NonlinearityLayer(noisy, lambda a: a.clamp(-MAX_TORQUE, MAX_TORQUE),
                                 name="torque")
    q1 = critic(observation, torque, config.hidden, "critic1")
    q2 = critic(observation, torque, config.hidden, "critic2")
    return agentnet.Agent(observation, policy_estimators=[mu, q1, q2], action_layers=torque)


def evaluate(agent: agentnet.Agent, config: Config) -> EpisodeStats:
    """The noise-free returns of ``config.eval_episodes`` fresh episodes (always the same
    starts)."""
    return play_episodes(agent, Pendulum(batch_size=config.eval_episodes, seed=config.seed + 1),
                         config.eval_episodes, max_steps=200, deterministic=True)


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False,
         on_progress: Callable[[int, agentnet.Agent], bool | None] | None = None,
         **overrides) -> dict:
    """Train, evaluate, and return ``{"eval_mean_return", "log", "agent"}`` (the arguments:
    :mod:`agentnet.examples`).

    ``on_progress(step, agent)``, if given, is called after every collection and its updates
    (``step``: environment steps so far); returning True stops training early.
    """
    config = make_config(Config, total_steps, overrides)
    if config.policy_delay < 1:
        raise ValueError(f"{__name__}: policy_delay must be >= 1, got {config.policy_delay}")
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    (observation,), (torque,), (mu, q1, q2) = (agent.observation_layers, agent.action_layers,
                                               agent.policy_layers)
    # the actor's objective: the first critic's value of its noise-free torque, Q1(s, mu(s))
    policy_q1 = reapply(q1, {torque: mu})
    # the critics' reference: both critics at the smoothed torque clip(mu(s) + clip(noise)),
    # copied with the actor's and the critics' weights lagging (TD3's three target networks)
    smoothed = L.NonlinearityLayer(mu, lambda a: td3.get_smoothed_target_actions(
        a, config.smoothing_noise, config.smoothing_clip, low=-MAX_TORQUE, high=MAX_TORQUE),
        name="smoothed_torque")
    target = TargetNetwork(reapply([q1, q2], {torque: smoothed}))
    actor_params = L.get_all_params(mu)
    critic_params = [p for p in L.get_all_params([q1, q2])
                     if not any(p is a for a in actor_params)]
    critic_optimizer = torch.optim.Adam(critic_params, lr=config.critic_learning_rate,
                                        fused=True)
    actor_optimizer = torch.optim.Adam(actor_params, lr=config.actor_learning_rate,
                                       fused=True)
    env = Pendulum(batch_size=config.n_sessions, seed=config.seed, autoreset=True)
    pool = SessionPoolEnvironment(config.pool_capacity, config.session_length, agent=agent)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite)
    warn_if_budget_below_learning_starts(config, __name__)
    step, carry = run.start(agent, critic_optimizer, log, {
        "episodes": episodes, "target": target, "actor_optimizer": actor_optimizer,
        "pool": pool}, batch_size=config.n_sessions)
    sessions = carry.get("sessions")  # None: a new run, new episodes
    critic_updates = carry.get("critic_updates", 0)
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
                                            additional_outputs=target.output_layers)
                # --- the critics: Q(s_t, a_t) on n-step references of min(Q1', Q2')(s, a~) ---
                _, qvalues_1, qvalues_2 = replay.policy
                target_q1, target_q2 = replay.additional_outputs
                values = td3.get_state_values(target_q1[..., 0], target_q2[..., 0])
                elementwise = td3.get_elementwise_critic_objective(
                    qvalues_1[..., 0], qvalues_2[..., 0], values,
                    replay.rewards * config.reward_scale, replay.is_alive,
                    gamma_or_gammas=config.gamma, n_steps=config.n_steps,
                    is_truncated=replay.is_truncated)
                critic_loss = generic.masked_mean(elementwise, replay.is_alive)
                critic_optimizer.zero_grad()
                critic_loss.backward()
                critic_optimizer.step()
                critic_updates += 1
                if critic_updates % config.policy_delay:
                    continue
                # --- delayed: the actor up Q1(s, mu(s)) on the replayed observations ---
                batch, length = replay.is_alive.shape
                policy_qvalues = L.get_output(policy_q1,
                                              {observation: replay.observations.flatten(0, 1)})
                elementwise = td3.get_elementwise_actor_objective(
                    policy_qvalues.view(batch, length), replay.is_alive)
                actor_loss = generic.masked_mean(elementwise, replay.is_alive)
                actor_optimizer.zero_grad()
                actor_loss.backward()  # also reaches the critics' gradients, cleared before use
                actor_optimizer.step()
                # --- and the targets ---
                target.load_weights(config.target_alpha)
            # --- bookkeeping, and a noise-free evaluation every eval_every steps ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            if config.eval_every and step < config.total_steps and (
                    step % config.eval_every < steps_per_iteration):
                log.metrics.log(step, eval_return=evaluate(agent, config).returns.mean().item())
            log.record(step, finished.returns, critic_loss=critic_loss.item(),
                       actor_loss=actor_loss.item())
            if run.due(step, 50 * steps_per_iteration):
                run.save(step, agent, critic_optimizer, log, {
                    "sessions": sessions.continuation(), "critic_updates": critic_updates,
                    "episodes": episodes.state_dict(), "target": target.state_dict(),
                    "actor_optimizer": actor_optimizer.state_dict(), "pool": pool.state_dict()})
            if on_progress is not None and on_progress(step, agent):
                break
    evaluation = evaluate(agent, config)
    log.finish(evaluation.returns)
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent}


if __name__ == "__main__":
    main()
