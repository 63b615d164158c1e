"""A recurrent soft actor-critic (SAC) on Pendulum with the angular velocity hidden.

The agent sees only cos and sin of the angle (:class:`MaskedObservations` over the native
Pendulum), so it must tell from its memory which way, and how fast, the pendulum turns. Its
torso is a GRU memory over the observation (``agent_states={gru: prev_gru}``); an actor (a
tanh-squashed Gaussian torque, as ``pendulum_sac``'s) and two critics Q1, Q2 read the
observation and the memory. Sessions are played live, 16 at a time, with the memory carried
from one collection to the next (``continue_from``) and restarted at zeros where an episode
starts; the replay pool stores each session with the memory that preceded it. A training
batch replays stored sessions from their stored memories: the first ``burn_in`` ticks only
refresh the memory (no gradient, no loss: it was stored by an older agent), then SAC's
critic, actor and temperature objectives (``agentnet.learning.sac``, as ``pendulum_sac``
uses them) apply to the ticks after, the critics' loss backpropagating through the memory.

Actor and critics share the one memory, trained by the critics only; the actor's heads read
it detached. The critics' TD errors are what needs the velocity (the return depends on it),
so they shape the memory; the actor's gradient is kept out of it, as shared-encoder SAC does
(SAC-AE, DrQ), because a memory pulled by two losses chases the moving actor (Ni et al.
2022, arXiv:2110.05038, found separate memories steadier than a shared one trained by both).
One memory also means one GRU to replay tick by tick: the replay runs the torso alone
(:func:`torso_agent`), and every head then runs once on all the replayed ticks. The target
critics are Polyak-averaged copies of the critics' heads, reading today's memory. The GRU's
weights start Glorot-uniform: with the original's normal(0, 0.01) start its output is too
small for the heads to read, and the agent did not learn in 8,000 steps (-1,360).

Evaluated greedily (the squashed mean torque) on 100 fresh episodes of 200 steps. With the
defaults (10,112 steps, about 45 s of one CPU thread) seeds 0, 1, 2 reach -148.3, -196.5
and -203.1 (``pendulum_sac``, seeing the velocity: -150 to -170 after 6,000 steps); with
``memory=False`` the same agent stays at -1,200 to -1,380 all along (-1,216, -1,204, -1,244
after 12,000 steps). The memory also needs the pool to keep the first, failing episodes: a
pool of 8,000 steps, overwritten after that, let seed 1 slip from -206 to -646 by 12,000.

    python -m agentnet.examples.pendulum_recurrent_sac
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.environment import (
    EpisodeStats,
    EpisodeTracker,
    MaskedObservations,
    Pendulum,
    SessionBatchEnvironment,
    SessionPoolEnvironment,
    play_episodes,
)
from agentnet.examples import make_config, warn_if_budget_below_learning_starts
from agentnet.learning import generic, sac
from agentnet.memory import GRUCell
from agentnet.resolver import TanhGaussianResolver
from agentnet.target_network import TargetNetwork
from agentnet.utils import RunDirectory, reapply

#: the observation components shown: cos and sin of the angle (the velocity is hidden)
KEEP = (0, 1)
ACTION_DIM = 1


@dataclass
class Config:
    total_steps: int = 10_000
    """environment steps to train for (sessions x ticks)"""
    memory: bool = True
    """a GRU memory as the torso (True) or a Dense layer of the same width in its place
    (False: the agent sees only the angle, nothing of its past)"""
    n_sessions: int = 16
    """sessions played in parallel"""
    session_length: int = 8
    """ticks per recorded session (one collection of n_sessions sessions per iteration)"""
    burn_in: int = 2
    """the first ticks of a replayed session only refresh the memory from the stored one,
    without gradient or loss"""
    pool_capacity: int = 2_000
    """sessions the replay pool holds (16,000 steps: all of a default run; overwriting the
    first, failing episodes made the critics forget them and the policy slip)"""
    learning_starts: int = 1_000
    """environment steps collected before learning"""
    updates_per_iteration: int = 48
    """gradient steps (of critics, actor and temperature) after each collection"""
    batch_sessions: int = 32
    """sessions per replayed batch"""
    n_steps: int = 2
    """the n of the critics' n-step references"""
    gamma: float = 0.98
    """discount"""
    reward_scale: float = 0.1
    """rewards are multiplied by this for learning (Pendulum's reach -16 per step)"""
    critic_learning_rate: float = 3e-3
    """Adam's step size for the critics and the torso"""
    actor_learning_rate: float = 1e-3
    """Adam's step size for the actor's heads"""
    temperature_learning_rate: float = 1e-3
    """Adam's step size for log(alpha)"""
    initial_temperature: float = 0.2
    """alpha at the start"""
    target_alpha: float = 0.01
    """Polyak step of the target critics toward the critics after each update"""
    hidden: int = 64
    """units in the memory (or the Dense layer in its place) and in each hidden layer"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 100
    """greedy episodes (the squashed mean torque) played after training"""
    eval_every: int = 1_000
    """environment steps between greedy evaluations during training (the eval_return
    curve; 0: only after training)"""


def make_env(batch_size: int, seed: int, autoreset: bool = False) -> MaskedObservations:
    """Native Pendulum showing only cos and sin of the angle."""
    return MaskedObservations(Pendulum(batch_size=batch_size, seed=seed, autoreset=autoreset),
                              keep=KEEP)


def make_gymnasium_env(config: Config | None = None) -> Any:
    """Gymnasium's Pendulum-v1 showing only what the agent sees (for ``agentnet evaluate``)."""
    import gymnasium  # only evaluation needs it: training runs on the native Pendulum

    env = gymnasium.make("Pendulum-v1")
    space = env.observation_space
    assert isinstance(space, gymnasium.spaces.Box)
    keep = list(KEEP)
    return gymnasium.wrappers.TransformObservation(
        env, lambda observation: observation[keep],
        gymnasium.spaces.Box(space.low[keep], space.high[keep], dtype=space.dtype))


def squashed_gaussian(mean: L.Layer, log_std: L.Layer, name: str) -> TanhGaussianResolver:
    """A torque sampled from the tanh-Gaussian over ``mean`` and ``log_std``, squashed into
    the environment's range."""
    return TanhGaussianResolver(mean, log_std, low=Pendulum.action_low,
                                high=Pendulum.action_high, min_log_std=-5.0, max_log_std=2.0,
                                name=name)


def critic(features: L.Layer, torque: L.Layer, hidden: int, name: str) -> L.Layer:
    """Q(s, a): two hidden layers over the torso's features and the torque."""
    x = L.DenseLayer(L.ConcatLayer([features, torque], name=f"{name}.input"), hidden,
                     name=f"{name}.hidden1")
    x = L.DenseLayer(x, hidden, name=f"{name}.hidden2")
    return L.DenseLayer(x, 1, nonlinearity=None, name=f"{name}.q")


def build_agent(config: Config) -> agentnet.Agent:
    """The agent of :func:`build_agent_and_torso`."""
    return build_agent_and_torso(config)[0]


def build_agent_and_torso(config: Config) -> tuple[agentnet.Agent, L.Layer]:
    """A torso (a GRU memory over the observation, or a Dense layer with ``memory=False``)
    read by an actor (a tanh-Gaussian torque) and two critics of the torque; the policy is
    ``[log pi(torque), Q1, Q2]``; and the torso."""
    observation = L.InputLayer((None, len(KEEP)), name="observation")
    torso: L.Layer
    agent_states: dict[L.Layer, L.Layer] = {}
    if config.memory:
        prev_memory = L.InputLayer((None, config.hidden), name="prev_gru")
        torso = GRUCell(prev_memory, observation, weight_init=torch.nn.init.xavier_uniform_,
                        name="gru")
        agent_states[torso] = prev_memory
    else:
        torso = L.DenseLayer(observation, config.hidden, nonlinearity=torch.tanh, name="dense")
    features = L.ConcatLayer([observation, torso], name="features")
    hidden = L.DenseLayer(features, config.hidden, name="actor.hidden1")
    hidden = L.DenseLayer(hidden, config.hidden, name="actor.hidden2")
    mean = L.DenseLayer(hidden, ACTION_DIM, nonlinearity=None, name="actor.mean")
    log_std = L.DenseLayer(hidden, ACTION_DIM, nonlinearity=None, name="actor.log_std")
    torque = squashed_gaussian(mean, log_std, name="torque")
    q1 = critic(features, torque, config.hidden, "critic1")
    q2 = critic(features, torque, config.hidden, "critic2")
    agent = agentnet.Agent(observation, agent_states,
                           policy_estimators=[torque.log_prob, q1, q2], action_layers=torque)
    return agent, torso


def torso_agent(agent: agentnet.Agent) -> agentnet.Agent:
    """``agent``'s observation, memory and action layers, without its policy: a replay of it
    (``experience_replay=True``) runs only the memory tick by tick, from the stored memories,
    the recorded torques forced (nothing reads them)."""
    (observation,), (torque,) = agent.observation_layers, agent.action_layers
    return agentnet.Agent(observation, agent.agent_states, action_layers=torque)


def evaluate(agent: agentnet.Agent, config: Config) -> EpisodeStats:
    """The greedy returns of ``config.eval_episodes`` fresh episodes (always the same
    starts)."""
    return play_episodes(agent, make_env(config.eval_episodes, config.seed + 1),
                         config.eval_episodes, max_steps=200, greedy=True)


def check_config(config: Config) -> None:
    """Raise ``ValueError`` naming the first setting that cannot work."""
    if not config.initial_temperature > 0:
        raise ValueError(f"{__name__}: initial_temperature must be > 0, got "
                         f"{config.initial_temperature}")
    if config.session_length < 2:
        raise ValueError(f"{__name__}: session_length must be >= 2, got "
                         f"{config.session_length}")
    if not 0 <= config.burn_in <= config.session_length - 2:
        raise ValueError(f"{__name__}: burn_in must be in [0, session_length - 2] = "
                         f"[0, {config.session_length - 2}] (the critics learn on at least "
                         f"two ticks after it), got {config.burn_in}")
    if config.n_steps < 1:
        raise ValueError(f"{__name__}: n_steps must be >= 1, got {config.n_steps}")


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
    check_config(config)
    torch.manual_seed(config.seed)
    agent, torso = build_agent_and_torso(config)
    (observation,), (torque,), (log_prob, q1, q2) = (
        agent.observation_layers, agent.action_layers, agent.policy_layers)
    # a fresh torque of today's actor, a~ ~ pi(. | s): a second resolver over the same mean
    # and log-std, which a replay does not force (it forces the recorded torque into `torque`)
    mean, log_std = torque.input_layers
    fresh = squashed_gaussian(mean, log_std, name="fresh_torque")
    fresh_q1, fresh_q2 = reapply([q1, q2], {torque: fresh})
    # the target critics at the fresh torque: copies of the critics' heads only, reading
    # today's torso (bottom: `fresh` and the torso)
    target = TargetNetwork([fresh_q1, fresh_q2], bottom_layers=[fresh, torso])
    # the torso alone, as an agent: its replay runs only the memory tick by tick
    replayer = torso_agent(agent)
    torso_params = L.get_all_params(torso)
    actor_params = [p for p in L.get_all_params(torque)
                    if not any(p is t for t in torso_params)]
    critic_params = [p for p in L.get_all_params([q1, q2])
                     if not any(p is a for a in actor_params)]
    # the temperature, trained as log(alpha) so that alpha stays positive
    temperature = torch.nn.ParameterDict({"log_alpha": torch.nn.Parameter(
        torch.tensor(math.log(config.initial_temperature)))})
    target_entropy = sac.default_target_entropy(ACTION_DIM)
    critic_optimizer = torch.optim.Adam(critic_params, lr=config.critic_learning_rate,
                                        fused=True)
    actor_optimizer = torch.optim.Adam(actor_params, lr=config.actor_learning_rate,
                                       fused=True)
    temperature_optimizer = torch.optim.Adam(temperature.parameters(),
                                             lr=config.temperature_learning_rate, fused=True)
    env = make_env(config.n_sessions, config.seed, autoreset=True)
    pool = SessionPoolEnvironment(config.pool_capacity, config.session_length, agent=agent)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite)
    warn_if_budget_below_learning_starts(config, __name__)
    step, carry = run.start(agent, critic_optimizer, log, {
        "episodes": episodes, "target": target, "temperature": temperature,
        "actor_optimizer": actor_optimizer, "temperature_optimizer": temperature_optimizer,
        "pool": pool}, batch_size=config.n_sessions)
    sessions = carry.get("sessions")  # None: a new run, new episodes (memory at zeros)
    critic_loss = actor_loss = entropy = torch.tensor(float("nan"))

    def sac_update(batch: SessionBatchEnvironment
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One gradient step of the critics (and the torso), the actor and the temperature,
        and the Polyak step of the target critics, on a replayed batch; returns the critics'
        loss, the actor's loss and the policy's entropy."""
        alpha = temperature["log_alpha"].exp().detach()
        # --- replay the torso from the stored memories: the burn-in ticks only refresh
        # them (no gradient, left out); then every head once on all the ticks after ---
        replay = replayer.get_sessions(batch, experience_replay=True, burn_in=config.burn_in,
                                       additional_outputs=[torso])
        (features,) = replay.additional_outputs  # [B, T - burn_in, hidden]
        n_sessions, length = replay.is_alive.shape
        observations, features = replay.observations.flatten(0, 1), features.flatten(0, 1)
        log_probs, qvalues_1, qvalues_2 = (y.view(n_sessions, length) for y in L.get_output(
            [log_prob, q1, q2], {observation: observations, torso: features,
                                        torque: replay.actions.flatten(0, 1)}))
        with torch.no_grad():
            fresh_log_probs, target_q1, target_q2 = (
                y.view(n_sessions, length) for y in L.get_output(
                    [fresh.log_prob, *target.output_layers],
                    {observation: observations, torso: features}))
        # --- the critics: Q(s_t, a_t) on n-step references of the soft value ---
        values = sac.get_state_values(target_q1, target_q2, fresh_log_probs, alpha)
        rewards = replay.rewards * config.reward_scale
        if config.n_steps > 1:  # (void with one step)
            # the entropy bonuses of the ticks inside each window
            rewards, values = sac.add_entropy_bonuses(rewards, values, log_probs, alpha,
                                                      replay.is_alive, config.gamma)
        elementwise = sac.get_elementwise_critic_objective(
            qvalues_1, qvalues_2, values, rewards, replay.is_alive,
            gamma_or_gammas=config.gamma, n_steps=config.n_steps,
            is_truncated=replay.is_truncated)
        critic_loss = generic.masked_mean(elementwise, replay.is_alive)
        critic_optimizer.zero_grad()
        critic_loss.backward()
        critic_optimizer.step()
        # --- the actor: down alpha log pi(a~|s) - min(Q1, Q2)(s, a~), a~ fresh, on the
        # replayed torso features (detached: the torso is the critics') ---
        new_log_probs, new_q1, new_q2 = (
            y.view(n_sessions, length) for y in L.get_output(
                [fresh.log_prob, fresh_q1, fresh_q2],
                {observation: observations, torso: features.detach()}))
        elementwise = sac.get_elementwise_actor_objective(
            new_q1, new_q2, new_log_probs, alpha, replay.is_alive)
        actor_loss = generic.masked_mean(elementwise, replay.is_alive)
        actor_optimizer.zero_grad()
        actor_loss.backward()  # also reaches the critics' gradients, cleared before use
        actor_optimizer.step()
        # --- the temperature: alpha up while the entropy is below the target ---
        elementwise = sac.get_temperature_objective(
            temperature["log_alpha"], new_log_probs, target_entropy, replay.is_alive)
        temperature_optimizer.zero_grad()
        generic.masked_mean(elementwise, replay.is_alive).backward()
        temperature_optimizer.step()
        entropy = -generic.masked_mean(new_log_probs.detach(), replay.is_alive)
        target.load_weights(config.target_alpha)
        return critic_loss.detach(), actor_loss.detach(), entropy

    steps_per_iteration = config.n_sessions * config.session_length
    with run:
        while step < config.total_steps:
            # --- play on (memory carried over), sampling torques, and record what was played
            # with the memory that preceded each session ---
            with torch.no_grad():
                sessions = agent.get_sessions(env, config.session_length, continue_from=sessions)
            pool.append_sessions(sessions)
            step += steps_per_iteration
            for _ in range(config.updates_per_iteration if step >= config.learning_starts else 0):
                critic_loss, actor_loss, entropy = sac_update(
                    pool.sample_session_batch(config.batch_sessions))
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
