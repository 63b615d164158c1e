"""Soft actor-critic (SAC) on Gymnasium's MuJoCo tasks (InvertedPendulum-v5, HalfCheetah-v5...).

The same algorithm as :mod:`agentnet.examples.pendulum_sac`, on any Gymnasium task with a Box
observation and a Box action (``env_id``): a tanh-squashed Gaussian actor over the action's
bounds, twin critics Q1(s, a), Q2(s, a) with Polyak-averaged targets, and a temperature that
keeps the policy's entropy near its target. ``n_envs`` Gymnasium environments play through an
``EnvPool``, sampling actions from the actor; their sessions go into a replay pool; each
collection of ``n_envs x session_length`` steps is followed by as many updates (one per
environment step, as SB3's default), each on a batch replayed from the pool (the recorded
actions forced through the action layer, so the critics see what was played):

- the critics regress on n-step references of the soft value
  ``min(Q1', Q2')(s, a~) - alpha log pi(a~ | s)`` at a fresh action a~ of today's actor;
- the actor minimizes ``alpha log pi(a~ | s) - min(Q1, Q2)(s, a~)`` through the
  reparameterized fresh action;
- log(alpha) moves so that the entropy stays near ``-action_dim`` (measured on the actions
  rescaled to [-1, 1], as SB3 and the SAC paper do).

Evaluated on fresh Gymnasium episodes with the squashed mean action (``greedy=True``).
Needs MuJoCo: ``pip install 'agentnet-torch[mujoco]'``.

    python -m agentnet.examples.mujoco_sac          # InvertedPendulum-v5
    python -c "import agentnet.examples.mujoco_sac as m; m.main(100_000, env_id='HalfCheetah-v5')"
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import gymnasium
import numpy as np
import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.driving import EnvPool
from agentnet.driving.evaluation import evaluate
from agentnet.environment import EpisodeTracker, SessionPoolEnvironment
from agentnet.examples import make_config, make_env_by_id, warn_if_budget_below_learning_starts
from agentnet.learning import generic, sac
from agentnet.resolver import TanhGaussianResolver
from agentnet.target_network import TargetNetwork
from agentnet.utils import RunDirectory, reapply

#: the Gymnasium environment trained on by default (``Config.env_id`` chooses another)
DEFAULT_ENV_ID = "InvertedPendulum-v5"


@dataclass
class Config:
    env_id: str = DEFAULT_ENV_ID
    """the Gymnasium task (a Box observation of one dimension and a bounded Box action)"""
    total_steps: int = 30_000
    """environment steps to train for (all environments together)"""
    n_envs: int = 4
    """Gymnasium environments played at once"""
    session_length: int = 8
    """ticks per recorded session (one collection of n_envs sessions per iteration; a
    session's last tick is only the bootstrap of the ticks before it)"""
    pool_capacity: int = 100_000
    """sessions the replay pool holds"""
    learning_starts: int = 5_000
    """environment steps collected (actions sampled from the untrained actor) before
    learning"""
    updates_per_step: float = 1.0
    """updates (of critics, actor and temperature) per environment step"""
    batch_sessions: int = 32
    """sessions per replayed batch (x session_length ticks)"""
    n_steps: int = 1
    """the n of the critics' n-step references"""
    gamma: float = 0.99
    """discount"""
    reward_scale: float = 1.0
    """rewards are multiplied by this for learning"""
    learning_rate: float = 1e-3
    """Adam's step size for the critics, the actor and log(alpha)"""
    initial_temperature: float = 1.0
    """alpha at the start"""
    target_alpha: float = 0.005
    """Polyak step of the target critics toward the critics after each update"""
    hidden: int = 128
    """units in each of the two hidden layers of the actor and of each critic (SB3 has
    256: a quarter of the arithmetic per update for the same returns on these tasks)"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 10
    """greedy episodes (the squashed mean action) played after training"""


def make_gymnasium_env(config: Config | None = None) -> gymnasium.Env:
    """The task trained on (for ``agentnet evaluate``), its spaces checked: Boxes of one
    dimension, the action's bounded (ValueError naming the space otherwise)."""
    env_id = (config or Config()).env_id
    env = make_env_by_id(env_id, __name__)
    observations, actions = env.observation_space, env.action_space
    problem = None
    if not isinstance(actions, gymnasium.spaces.Box) or len(actions.shape) != 1 or not (
            np.isfinite(actions.low).all() and np.isfinite(actions.high).all()):
        problem = (f"{env_id}'s action space {actions} is not a bounded Box of one dimension "
                   f"(SAC needs continuous bounded actions)")
    elif not isinstance(observations, gymnasium.spaces.Box) or len(observations.shape) != 1:
        problem = f"{env_id}'s observation space {observations} is not a Box of one dimension"
    if problem is not None:
        env.close()
        raise ValueError(f"{__name__}: {problem}")
    return env


def task_spaces(env_id: str) -> tuple[gymnasium.spaces.Box, gymnasium.spaces.Box]:
    """The task's observation and action spaces, checked (:func:`make_gymnasium_env`)."""
    env = make_gymnasium_env(Config(env_id=env_id))
    env.close()
    return env.observation_space, env.action_space  # type: ignore[return-value]


def critic(observation: L.Layer, action: L.Layer, hidden: int, name: str) -> L.Layer:
    """Q(s, a): two hidden layers over the observation and the action."""
    x = L.DenseLayer(L.ConcatLayer([observation, action], name=f"{name}.input"), hidden,
                     name=f"{name}.hidden1")
    x = L.DenseLayer(x, hidden, name=f"{name}.hidden2")
    return L.DenseLayer(x, 1, nonlinearity=None, name=f"{name}.q")


def build_agent(config: Config) -> agentnet.Agent:
    """An actor (a tanh-Gaussian action over a mean and a log-std head) and two critics of
    the action; the policy is ``[log pi(action), Q1, Q2]``."""
    observations, space = task_spaces(config.env_id)
    observation = L.InputLayer((None, observations.shape[0]), name="observation")
    hidden = L.DenseLayer(observation, config.hidden, name="actor.hidden1")
    hidden = L.DenseLayer(hidden, config.hidden, name="actor.hidden2")
    mean = L.DenseLayer(hidden, space.shape[0], nonlinearity=None, name="actor.mean")
    log_std = L.DenseLayer(hidden, space.shape[0], nonlinearity=None, name="actor.log_std")
    action = TanhGaussianResolver(mean, log_std, low=space.low, high=space.high,
                                  min_log_std=-5.0, max_log_std=2.0, name="action")
    q1 = critic(observation, action, config.hidden, "critic1")
    q2 = critic(observation, action, config.hidden, "critic2")
    return agentnet.Agent(observation, policy_estimators=[action.log_prob, q1, q2],
                          action_layers=action)


def _check(config: Config) -> None:
    task_spaces(config.env_id)
    for field, value in (("initial_temperature", config.initial_temperature),
                         ("updates_per_step", config.updates_per_step)):
        if not value > 0:
            raise ValueError(f"{__name__}: {field} must be > 0, got {value}")


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False,
         on_progress: Callable[[int, agentnet.Agent], bool | None] | None = None,
         **overrides) -> dict:
    """Train, evaluate greedily on Gymnasium, and return ``{"eval_mean_return", "log",
    "agent", "updates"}`` (the arguments: :mod:`agentnet.examples`).

    With ``out_dir`` the run keeps its settings, curves, plot and the agent there (for
    ``agentnet evaluate``); it cannot be resumed (Gymnasium environments' states are not
    saved). ``on_progress(step, agent)``, if given, is called after every collection and its
    updates; returning True stops training early.
    """
    config = make_config(Config, total_steps, overrides)
    _check(config)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite, resumable=False)
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    action = cast(TanhGaussianResolver, agent.action_layers[0])
    _, q1, q2 = agent.policy_layers
    _, space = task_spaces(config.env_id)
    # a fresh action of today's actor, a~ ~ pi(. | s): a second resolver of the same policy,
    # which a replay does not force (it forces the recorded action into `action`)
    fresh = action.resample(name="fresh_action")
    fresh_q1, fresh_q2 = reapply([q1, q2], {action: fresh})
    target = TargetNetwork([fresh_q1, fresh_q2], bottom_layers=fresh)
    actor_params = L.get_all_params(action)
    critic_params = [p for p in L.get_all_params([q1, q2])
                     if not any(p is a for a in actor_params)]
    log_alpha = torch.nn.Parameter(torch.tensor(math.log(config.initial_temperature)))
    # -action_dim for the action rescaled to [-1, 1] (SB3's convention), as log_prob measures
    # the action in its bounds
    target_entropy = sac.default_target_entropy(space.shape[0], low=space.low, high=space.high)
    critic_optimizer = torch.optim.Adam(critic_params, lr=config.learning_rate, fused=True)
    actor_optimizer = torch.optim.Adam(actor_params, lr=config.learning_rate, fused=True)
    temperature_optimizer = torch.optim.Adam([log_alpha], lr=config.learning_rate, fused=True)
    pool = SessionPoolEnvironment(config.pool_capacity, config.session_length, agent=agent)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    updates, step, owed = 0, 0, 0.0
    critic_loss = actor_loss = entropy = torch.tensor(float("nan"))
    warn_if_budget_below_learning_starts(config, __name__)
    with EnvPool(agent, config.env_id, n_envs=config.n_envs, seed=config.seed) as envs, run:
        while step < config.total_steps:
            # --- play on, sampling actions from the actor, and record what was played ---
            sessions = envs.update(config.session_length, pool)
            collected = sessions.rewards.numel()
            step += collected
            owed += collected * config.updates_per_step if step >= config.learning_starts else 0
            while owed >= 1:
                owed -= 1
                updates += 1
                alpha = log_alpha.exp().detach()
                # one pass over a replayed batch (the recorded actions forced through
                # `action`) gives what all three objectives need, at the recorded actions and
                # at one fresh action a~ per tick
                replay = agent.get_sessions(
                    pool.sample_session_batch(config.batch_sessions), experience_replay=True,
                    additional_outputs=[fresh.log_prob, fresh_q1, fresh_q2,
                                        *target.output_layers])
                log_probs, qvalues_1, qvalues_2 = replay.policy  # of the recorded actions
                new_log_probs, new_q1, new_q2, target_q1, target_q2 = replay.additional_outputs
                # --- the critics: Q(s_t, a_t) on n-step references of the soft value ---
                values = sac.get_state_values(target_q1[..., 0].detach(),
                                              target_q2[..., 0].detach(),
                                              new_log_probs.detach(), alpha)
                rewards = replay.rewards * config.reward_scale
                if config.n_steps > 1:  # (void with one step)
                    # the entropy bonuses of the ticks inside each window
                    rewards, values = sac.add_entropy_bonuses(rewards, values, log_probs, alpha,
                                                              replay.is_alive, config.gamma)
                elementwise = sac.get_elementwise_critic_objective(
                    qvalues_1[..., 0], qvalues_2[..., 0], values, rewards, replay.is_alive,
                    gamma_or_gammas=config.gamma, n_steps=config.n_steps,
                    is_truncated=replay.is_truncated)
                critic_loss = generic.masked_mean(elementwise, replay.is_alive)
                # --- the actor: down alpha log pi(a~|s) - min(Q1, Q2)(s, a~) ---
                elementwise = sac.get_elementwise_actor_objective(
                    new_q1[..., 0], new_q2[..., 0], new_log_probs, alpha, replay.is_alive)
                actor_loss = generic.masked_mean(elementwise, replay.is_alive)
                # --- the temperature: alpha up while the entropy is below the target ---
                temperature_loss = generic.masked_mean(sac.get_temperature_objective(
                    log_alpha, new_log_probs, target_entropy, replay.is_alive), replay.is_alive)
                # each loss's gradient goes to its own parameters only (the actor's loss
                # reaches the critics too, through a~): all gradients before any step
                for optimizer in (critic_optimizer, actor_optimizer, temperature_optimizer):
                    optimizer.zero_grad()
                actor_loss.backward(inputs=actor_params, retain_graph=True)
                critic_loss.backward(inputs=critic_params)
                temperature_loss.backward()
                for optimizer in (critic_optimizer, actor_optimizer, temperature_optimizer):
                    optimizer.step()
                entropy = -generic.masked_mean(new_log_probs.detach(), replay.is_alive)
                target.load_weights(config.target_alpha)
            # --- bookkeeping ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            log.record(step, finished.returns, critic_loss=critic_loss.item(),
                       actor_loss=actor_loss.item(), entropy=entropy.item(),
                       alpha=log_alpha.exp().item())
            if run.due(step, 20_000):
                run.save(step, agent, critic_optimizer, log)
            if on_progress is not None and on_progress(step, agent):
                break
    # --- evaluation: fresh Gymnasium episodes, the squashed mean action ---
    evaluation = evaluate(agent, functools.partial(make_gymnasium_env, config),
                          config.env_id, min(config.n_envs, config.eval_episodes),
                          {"greedy": True}, config.eval_episodes, seed=config.seed + 1_000)
    log.finish(evaluation.returns, what=f"greedy evaluation on Gymnasium {config.env_id}")
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent,
            "updates": updates}


if __name__ == "__main__":
    main()
