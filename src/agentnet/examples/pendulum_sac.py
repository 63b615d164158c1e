"""Soft actor-critic (SAC) on batched native Pendulum, with replay.

The actor is a tanh-squashed Gaussian over the torque in [-2, 2] (its mean and log standard
deviation computed from the observation); two critics Q1(s, a), Q2(s, a) read the
observation and the torque. Many sessions play at once, sampling their torques; their
sessions go into a replay pool. On batches replayed from it (the recorded torques forced
through the action layer, so the critics see the torque that was played and ``log_prob`` is
its log-probability under today's actor), the critics regress on n-step references of the
soft value ``min(Q1', Q2')(s, a~) - alpha log pi(a~ | s)`` at a fresh torque a~ of today's
actor (a second resolver over the same mean and log-std) from Polyak-averaged target copies
of the critics; the actor minimizes ``alpha log pi(a~ | s) - min(Q1, Q2)(s, a~)`` through
the reparameterized fresh torque, stepping only its own parameters; the temperature alpha
moves so that the policy's entropy stays near ``-1`` (minus the action's dimension).
Evaluated greedily (the squashed mean, ``greedy=True``) on 100 fresh episodes.

With ``compile=True`` the critics' and the actor's losses are compiled
(``agentnet.utils.compile_loss``): measured 1.69x faster per update on one CPU thread, the
default run 1.27x faster including some 12 s of compiling (31 s with inductor's cache
empty; ``docs/benchmarks.md``).

    python -m agentnet.examples.pendulum_sac
"""
from __future__ import annotations

import math
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
    SessionBatchEnvironment,
    SessionPoolEnvironment,
    play_episodes,
)
from agentnet.examples import make_config, warn_if_budget_below_learning_starts
from agentnet.learning import generic, sac
from agentnet.resolver import TanhGaussianResolver
from agentnet.target_network import TargetNetwork
from agentnet.utils import RunDirectory, compile_loss, reapply

#: the Gymnasium environment this native one matches (for ``agentnet evaluate``)
GYMNASIUM_ID = "Pendulum-v1"
ACTION_DIM = 1


@dataclass
class Config:
    total_steps: int = 6_000
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
    """gradient steps (of critics, actor and temperature) after each collection"""
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
    actor_learning_rate: float = 1e-3
    """Adam's step size for the actor"""
    temperature_learning_rate: float = 1e-3
    """Adam's step size for log(alpha)"""
    initial_temperature: float = 0.2
    """alpha at the start"""
    target_alpha: float = 0.01
    """Polyak step of the target critics toward the critics after each update"""
    hidden: int = 64
    """units in each of the two hidden layers of actor and critics"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 100
    """greedy episodes (the squashed mean torque) played after training"""
    eval_every: int = 1_000
    """environment steps between greedy evaluations during training (the eval_return
    curve; 0: only after training)"""
    compile: bool = False
    """compile the critics' and the actor's losses (and with them their backward) with
    ``agentnet.utils.compile_loss``: the same training up to float rounding, each update
    about 1.6-1.7x faster on one CPU thread after 12-31 s of compiling"""


def squashed_gaussian(mean: L.Layer, log_std: L.Layer, name: str) -> TanhGaussianResolver:
    """A torque sampled from the tanh-Gaussian over ``mean`` and ``log_std``, squashed into
    the environment's range."""
    return TanhGaussianResolver(mean, log_std, low=Pendulum.action_low,
                                high=Pendulum.action_high, min_log_std=-5.0, max_log_std=2.0,
                                name=name)


def critic(observation: L.Layer, torque: L.Layer, hidden: int, name: str) -> L.Layer:
    """Q(s, a): two hidden layers over the observation and the torque."""
    x = L.DenseLayer(L.ConcatLayer([observation, torque], name=f"{name}.input"), hidden,
                     name=f"{name}.hidden1")
    x = L.DenseLayer(x, hidden, name=f"{name}.hidden2")
    return L.DenseLayer(x, 1, nonlinearity=None, name=f"{name}.q")


def build_agent(config: Config) -> agentnet.Agent:
    """An actor (a tanh-Gaussian torque over a mean and a log-std head) and two critics of
    the torque; the policy is ``[log pi(torque), Q1, Q2]``."""
    observation = L.InputLayer((None, 3), name="observation")
    hidden = L.DenseLayer(observation, config.hidden, name="actor.hidden1")
    hidden = L.DenseLayer(hidden, config.hidden, name="actor.hidden2")
    mean = L.DenseLayer(hidden, ACTION_DIM, nonlinearity=None, name="actor.mean")
    log_std = L.DenseLayer(hidden, ACTION_DIM, nonlinearity=None, name="actor.log_std")
    torque = squashed_gaussian(mean, log_std, name="torque")
    q1 = critic(observation, torque, config.hidden, "critic1")
    q2 = critic(observation, torque, config.hidden, "critic2")
    return agentnet.Agent(observation, policy_estimators=[torque.log_prob, q1, q2],
                          action_layers=torque)


def evaluate(agent: agentnet.Agent, config: Config) -> EpisodeStats:
    """The greedy returns of ``config.eval_episodes`` fresh episodes (always the same
    starts)."""
    return play_episodes(agent, Pendulum(batch_size=config.eval_episodes, seed=config.seed + 1),
                         config.eval_episodes, max_steps=200, greedy=True)


@dataclass
class Learner:
    """What trains a SAC agent: the target critics, the temperature, the optimizers of the
    critics, the actor and the temperature (in that order), and ``update``, one gradient step
    of all three (and the targets' Polyak step) on a replayed batch's tensors
    ``(observations, actions, rewards, is_alive, is_truncated)``, returning the critics'
    loss, the actor's loss and the policy's entropy."""
    target: TargetNetwork
    temperature: torch.nn.ParameterDict
    optimizers: list[torch.optim.Optimizer]
    update: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def build_learner(agent: agentnet.Agent, config: Config) -> Learner:
    """The target critics, temperature, optimizers and update of :func:`build_agent`'s
    agent (its losses compiled with ``config.compile``)."""
    (observation,), (torque,), (_, q1, q2) = (agent.observation_layers, agent.action_layers,
                                              agent.policy_layers)
    # a fresh torque of today's actor, a~ ~ pi(. | s): a second resolver over the same mean
    # and log-std, which a replay does not force (it forces the recorded torque into `torque`)
    mean, log_std = torque.input_layers
    fresh = squashed_gaussian(mean, log_std, name="fresh_torque")
    fresh_q1, fresh_q2 = reapply([q1, q2], {torque: fresh})
    # the target critics at the fresh torque: copies of the critics only (bottom: `fresh`)
    target = TargetNetwork([fresh_q1, fresh_q2], bottom_layers=fresh)
    actor_params = L.get_all_params(torque)
    critic_params = [p for p in L.get_all_params([q1, q2])
                     if not any(p is a for a in actor_params)]
    # the temperature, trained as log(alpha) so that alpha stays positive
    temperature = torch.nn.ParameterDict({"log_alpha": torch.nn.Parameter(
        torch.tensor(math.log(config.initial_temperature)))})
    # -1, for the entropy of the torque in [-2, 2] (as CleanRL measures it; SB3 measures the
    # action rescaled to [-1, 1], whose entropy is log 2 lower)
    target_entropy = sac.default_target_entropy(ACTION_DIM)
    critic_optimizer = torch.optim.Adam(critic_params, lr=config.critic_learning_rate,
                                        fused=True)
    actor_optimizer = torch.optim.Adam(actor_params, lr=config.actor_learning_rate,
                                       fused=True)
    temperature_optimizer = torch.optim.Adam(temperature.parameters(),
                                             lr=config.temperature_learning_rate, fused=True)

    # what a replay records besides the policy: the fresh torque's log-probability and the
    # target critics' values at it (listed once, outside what torch.compile traces)
    replay_outputs = [fresh.log_prob, *target.output_layers]

    def critic_loss_of(observations: list[torch.Tensor], actions: list[torch.Tensor],
                       rewards: torch.Tensor, is_alive: torch.Tensor, is_truncated: torch.Tensor,
                       alpha: torch.Tensor) -> torch.Tensor:
        """The critics' loss: Q(s_t, a_t) on n-step references of the soft value, on a
        replayed batch (its tensors ``[B, T, ...]``)."""
        replay = agent.get_sessions(
            SessionBatchEnvironment(observations, actions, rewards, is_alive, is_truncated),
            experience_replay=True, additional_outputs=replay_outputs)
        log_probs, qvalues_1, qvalues_2 = replay.policy  # of the recorded torques
        fresh_log_probs, target_q1, target_q2 = (x.detach() for x in
                                                 replay.additional_outputs)
        values = sac.get_state_values(target_q1[..., 0], target_q2[..., 0],
                                      fresh_log_probs, alpha)
        rewards = replay.rewards * config.reward_scale
        if config.n_steps > 1:  # (void with one step)
            # the entropy bonuses -alpha log pi(a_k | s_k) of the ticks inside each window
            rewards, values = sac.add_entropy_bonuses(rewards, values, log_probs, alpha,
                                                      replay.is_alive, config.gamma)
        elementwise = sac.get_elementwise_critic_objective(
            qvalues_1[..., 0], qvalues_2[..., 0], values, rewards, replay.is_alive,
            gamma_or_gammas=config.gamma, n_steps=config.n_steps,
            is_truncated=replay.is_truncated)
        return generic.masked_mean(elementwise, replay.is_alive)

    def actor_losses_of(observations: torch.Tensor, is_alive: torch.Tensor, alpha: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The actor's loss, alpha log pi(a~|s) - min(Q1, Q2)(s, a~) at fresh torques a~,
        the temperature's loss (alpha up while the entropy is below the target) and the
        entropy, on a replayed batch's observations ``[B, T, 3]``."""
        batch, length = is_alive.shape
        new_log_probs, new_q1, new_q2 = (
            y.view(batch, length) for y in L.get_output(
                [fresh.log_prob, fresh_q1, fresh_q2], {observation: observations.flatten(0, 1)}))
        elementwise = sac.get_elementwise_actor_objective(new_q1, new_q2, new_log_probs, alpha,
                                                          is_alive)
        actor_loss = generic.masked_mean(elementwise, is_alive)
        elementwise = sac.get_temperature_objective(temperature["log_alpha"], new_log_probs,
                                                    target_entropy, is_alive)
        return (actor_loss, generic.masked_mean(elementwise, is_alive),
                -generic.masked_mean(new_log_probs.detach(), is_alive))

    # compile=True: both compiled (torch.compile: the same losses up to float rounding,
    # faster once compiled), the batch sampled eagerly and its tensors passed in
    critic_loss_fn: Callable[..., torch.Tensor] = critic_loss_of
    actor_losses_fn: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = \
        actor_losses_of
    if config.compile:
        critic_loss_fn, actor_losses_fn = compile_loss(critic_loss_of), compile_loss(
            actor_losses_of)

    def sac_update(observations: list[torch.Tensor], actions: list[torch.Tensor],
                   rewards: torch.Tensor, is_alive: torch.Tensor, is_truncated: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One gradient step of the critics, the actor and the temperature, and the Polyak
        step of the target critics, on a replayed batch (its tensors ``[B, T, ...]``); returns
        the critics' loss, the actor's loss and the policy's entropy."""
        alpha = temperature["log_alpha"].exp().detach()
        critic_loss = critic_loss_fn(observations, actions, rewards, is_alive, is_truncated,
                                     alpha)
        critic_optimizer.zero_grad()
        critic_loss.backward()
        critic_optimizer.step()
        # the actor's and temperature's losses, after the critics' step; one backward for
        # both (the temperature's loss reaches log(alpha) only, the actor's all but it)
        actor_loss, temperature_loss, entropy = actor_losses_fn(observations[0], is_alive,
                                                                alpha)
        actor_optimizer.zero_grad()
        temperature_optimizer.zero_grad()
        (actor_loss + temperature_loss).backward()  # also reaches the critics' gradients,
        actor_optimizer.step()                       # cleared before use
        temperature_optimizer.step()
        target.load_weights(config.target_alpha)
        return critic_loss.detach(), actor_loss.detach(), entropy

    return Learner(target, temperature,
                   [critic_optimizer, actor_optimizer, temperature_optimizer], sac_update)


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
    if not config.initial_temperature > 0:
        raise ValueError(f"{__name__}: initial_temperature must be > 0, got "
                         f"{config.initial_temperature}")
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    learner = build_learner(agent, config)
    target, temperature = learner.target, learner.temperature
    critic_optimizer, actor_optimizer, temperature_optimizer = learner.optimizers
    env = Pendulum(batch_size=config.n_sessions, seed=config.seed, autoreset=True)
    pool = SessionPoolEnvironment(config.pool_capacity, config.session_length, agent=agent)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite)
    warn_if_budget_below_learning_starts(config, __name__)
    step, carry = run.start(agent, critic_optimizer, log, {
        "episodes": episodes, "target": target, "temperature": temperature,
        "actor_optimizer": actor_optimizer, "temperature_optimizer": temperature_optimizer,
        "pool": pool}, batch_size=config.n_sessions)
    sessions = carry.get("sessions")  # None: a new run, new episodes
    critic_loss = actor_loss = entropy = torch.tensor(float("nan"))

    steps_per_iteration = config.n_sessions * config.session_length
    with run:
        while step < config.total_steps:
            # --- play on, sampling torques from the actor, and record what was played ---
            with torch.no_grad():
                sessions = agent.get_sessions(env, config.session_length, continue_from=sessions)
            pool.append_sessions(sessions)
            step += steps_per_iteration
            for _ in range(config.updates_per_iteration if step >= config.learning_starts else 0):
                batch = pool.sample_session_batch(config.batch_sessions)
                critic_loss, actor_loss, entropy = learner.update(
                    batch.observations, batch.actions, batch.rewards, batch.is_alive,
                    batch.is_truncated)
            # --- bookkeeping, and a greedy evaluation every eval_every steps ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            if config.eval_every and step < config.total_steps and (
                    step % config.eval_every < steps_per_iteration):
                log.metrics.log(step, eval_return=evaluate(agent, config).returns.mean().item())
            log.record(step, finished.returns, critic_loss=critic_loss.item(),
                       actor_loss=actor_loss.item(), entropy=entropy.item(),
                       alpha=temperature["log_alpha"].exp().item())
            if run.due(step, 50 * steps_per_iteration):
                run.save(step, agent, critic_optimizer, log, {
                    "sessions": sessions.continuation(), "episodes": episodes.state_dict(),
                    "target": target.state_dict(), "temperature": temperature.state_dict(),
                    "actor_optimizer": actor_optimizer.state_dict(),
                    "temperature_optimizer": temperature_optimizer.state_dict(),
                    "pool": pool.state_dict()})
            if on_progress is not None and on_progress(step, agent):
                break
    evaluation = evaluate(agent, config)
    log.finish(evaluation.returns)
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent}


if __name__ == "__main__":
    main()
