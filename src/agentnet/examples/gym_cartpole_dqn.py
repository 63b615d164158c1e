"""DQN on Gymnasium's real CartPole-v1 (or any task with Discrete actions): a session pool, a
target network, n-step Q-learning.

Eight Gymnasium environments are played by the agent through an ``EnvPool``; every few ticks
their sessions go into a ``SessionPoolEnvironment``; batches of sessions sampled from it are
replayed with today's weights (the recorded actions forced) and trained on n-step
Q-learning references from a target network that is copied every few updates.

The target is copied only after enough gradient steps for the agent to fit it (64 steps,
about every 200 environment steps, near the cadence of rl-zoo3's tuned SB3 DQN, whose
``target_update_interval=10`` counts environment steps, not gradient steps): copying it
every 8 to 32 steps makes the Q-values diverge (far above CartPole's maximum of
``1 / (1 - gamma) = 100``) and the greedy policy collapse. The step size decays to zero so
that the policy found is kept to the end. Adam is PyTorch's fused implementation and the
gradient is not clipped (about 0.75 ms per gradient step on one CPU thread).

The settings (hidden layers of 128 and 64, 4-step references, 20 gradient steps per 64
environment steps, step size 3e-3) came from a search over several seeds at once, and the
results swing from seed to seed: measured with ``benchmarks/time_to_solve.py`` (greedy
evaluations every 2k steps), seeds 0 to 7 all reached 475 three evaluations in a row, after
18k to 40k steps (4 to 9.5 s of training on one CPU thread, median about 7 s); the
benchmark's seeds 0, 1, 2 after 24k, 28k and 18k. Most single changes to them (other
widths, step sizes, n, exploration or target schedules, larger batches, longer or
overlapping sessions, Polyak targets) lost seeds.

``env_id`` names another task (``agentnet train dqn --env Acrobot-v1``): observations are
flattened to one float vector and MultiDiscrete actions played as one Discrete
(:func:`agentnet.examples.make_flat_task`); the settings above are CartPole's, and the
``dqn`` recipe's hyperparameter file holds others.

With ``compile=True`` the replay and the loss are compiled (``agentnet.utils.compile_loss``):
measured 1.46x faster per gradient step on one CPU thread, the default run 1.3x faster
including some 10 s of compiling (34 s with inductor's cache empty; ``docs/benchmarks.md``).

    python -m agentnet.examples.gym_cartpole_dqn
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import gymnasium
import torch

import agentnet
from agentnet import layers as L
from agentnet.agent import Sessions
from agentnet.display import TrainingLog
from agentnet.driving import EnvPool
from agentnet.environment import (
    EpisodeTracker,
    SessionBatchEnvironment,
    SessionPoolEnvironment,
)
from agentnet.examples import make_config, make_flat_task, warn_if_budget_below_learning_starts
from agentnet.learning import generic, qlearning
from agentnet.resolver import EpsilonGreedyResolver
from agentnet.target_network import TargetNetwork
from agentnet.utils import LinearSchedule, RunDirectory, compile_loss

#: the Gymnasium task trained on by default (``Config.env_id`` chooses another)
DEFAULT_ENV_ID = "CartPole-v1"


@dataclass
class Settings:
    """DQN's settings (those of :class:`Config` but the task; ``atari_dqn`` and ``doom_basic``
    share them)."""

    total_steps: int = 40_000
    """environment steps to train for (all environments together)"""
    n_envs: int = 8
    """Gymnasium environments played at once"""
    session_length: int = 8
    """ticks per recorded session"""
    pool_capacity: int = 4_000
    """sessions the replay pool holds"""
    batch_sessions: int = 32
    """sessions per replayed batch"""
    updates_per_collection: int = 20
    """gradient steps after each collection of n_envs sessions"""
    learning_starts: int = 1_000
    """environment steps collected before learning"""
    n_steps: int = 4
    """the n of n-step Q-learning"""
    gamma: float = 0.99
    """discount"""
    learning_rate: float = 3e-3
    """Adam's step size at the start ..."""
    learning_rate_end: float = 0.0
    """... changing linearly to this at the end of training"""
    target_every: int = 64
    """gradient steps between hard copies of the agent into the target network (here about
    every 200 environment steps; far fewer steps between copies make Q-learning diverge)"""
    epsilon_start: float = 1.0
    """exploration at the start ..."""
    epsilon_end: float = 0.04
    """... decaying linearly to this value ..."""
    epsilon_decay_fraction: float = 0.15
    """... over this fraction of training"""
    double_q: bool = False
    """double Q-learning: the target network values the action the agent prefers (no
    faster here: 3 seeds solved at 26k-36k steps with it, 22k-26k without)"""
    max_grad_norm: float | None = None
    """clip the gradient's global norm to this (None: no clipping; clipping at 10 solved no
    sooner in steps and costs about 0.1 ms per gradient step)"""
    hidden1: int = 128
    """units in the first hidden layer ..."""
    hidden2: int = 64
    """... and in the second (64 rather than 128: each gradient step costs 0.75 ms rather
    than 0.9)"""
    seed: int = 0
    """seeds torch and the environments"""
    clip_rewards: bool = False
    """learn from the rewards' signs (-1, 0, 1) rather than the rewards"""
    eval_episodes: int = 20
    """greedy Gymnasium episodes played after training"""
    eval_max_steps: int | None = None
    """cut evaluation episodes longer than this (None: play them out)"""
    save_every: int = 10_000
    """environment steps between checkpoints (with ``out_dir``; also every 2 minutes)"""
    compile: bool = False
    """compile the replay and loss (and with them their backward) with
    ``agentnet.utils.compile_loss``: the same training up to float rounding, each gradient
    step about 1.3-1.5x faster on one CPU thread after 10-35 s of compiling"""


@dataclass
class Config(Settings):
    env_id: str = DEFAULT_ENV_ID
    """the Gymnasium task: any with Discrete (or MultiDiscrete) actions whose observations
    flatten to a vector"""


def make_gymnasium_env(config: Config | None = None) -> gymnasium.Env:
    """The task of ``config`` (the default one if None) as
    :func:`~agentnet.examples.make_flat_task` makes it, checked to have Discrete actions
    (training, evaluation and ``agentnet evaluate`` alike)."""
    env_id = (config or Config()).env_id
    env = make_flat_task(env_id, __name__)
    if not isinstance(env.action_space, gymnasium.spaces.Discrete):
        env.close()
        raise ValueError(f"{__name__}: {env_id}'s action space {env.unwrapped.action_space} "
                         f"is not Discrete or MultiDiscrete (Q-learning picks among actions)")
    return env


def build_agent(config: Config) -> agentnet.Agent:
    """An MLP from the task's observation ``[B, O]`` to Q-values ``[B, A]``, with
    epsilon-greedy actions."""
    probe = make_gymnasium_env(config)
    probe.close()
    assert probe.observation_space.shape is not None
    n_observations = probe.observation_space.shape[0]
    n_actions = int(cast(gymnasium.spaces.Discrete, probe.action_space).n)
    observation = L.InputLayer((None, n_observations), name="observation")
    hidden = L.DenseLayer(observation, config.hidden1, name="hidden1")
    hidden = L.DenseLayer(hidden, config.hidden2, name="hidden2")
    qvalues = L.DenseLayer(hidden, n_actions, nonlinearity=None, name="q")
    resolver = EpsilonGreedyResolver(qvalues, epsilon=config.epsilon_start, name="resolver")
    return agentnet.Agent(observation, policy_estimators=qvalues, action_layers=resolver)


def dqn_loss(sessions: Sessions, config: Settings) -> torch.Tensor:
    """n-step Q-learning (Huber) on replayed sessions whose ``additional_outputs[0]`` are the
    target network's Q-values ``[B, T, n_actions]``; the mean over alive ticks, a scalar.
    With ``config.clip_rewards`` it learns from the rewards' signs (DQN's Atari recipe)."""
    qvalues_target = sessions.additional_outputs[0]
    rewards = sessions.rewards.sign() if config.clip_rewards else sessions.rewards
    state_values_target = (qlearning.get_double_q_state_values(sessions.policy, qvalues_target)
                           if config.double_q else None)
    elementwise = qlearning.get_elementwise_objective(
        sessions.policy, sessions.actions, rewards, sessions.is_alive,
        qvalues_target=qvalues_target, state_values_target=state_values_target,
        n_steps=config.n_steps, gamma_or_gammas=config.gamma,
        is_truncated=sessions.is_truncated, loss_function=qlearning.huber_loss)
    return generic.masked_mean(elementwise, sessions.is_alive)


def make_replay_loss(agent: agentnet.Agent, target: TargetNetwork, config: Settings
                     ) -> Callable[..., torch.Tensor]:
    """:func:`dqn_loss` of ``agent`` against ``target`` on a replayed batch, from the batch's
    tensors ``(observations, actions, rewards, is_alive, is_truncated, preceding_memories)``
    (the fields of a :class:`~agentnet.environment.SessionBatchEnvironment`): what
    ``compile=True`` compiles."""
    def replay_loss(observations: list[torch.Tensor], actions: list[torch.Tensor],
                    rewards: torch.Tensor, is_alive: torch.Tensor, is_truncated: torch.Tensor,
                    preceding_memories: list[torch.Tensor] | None) -> torch.Tensor:
        batch = SessionBatchEnvironment(observations, actions, rewards, is_alive, is_truncated,
                                        preceding_memories)
        return dqn_loss(agent.get_sessions(batch, experience_replay=True,
                                           additional_outputs=[target.output_layers]), config)

    return replay_loss


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False,
         on_progress: Callable[[int, agentnet.Agent], bool | None] | None = None,
         **overrides) -> dict:
    """Train, evaluate on Gymnasium, and return ``{"eval_mean_return", "log", "agent",
    "updates"}`` (the arguments: :mod:`agentnet.examples`).

    With ``out_dir`` the run keeps its settings, curves, plot and the agent there (for
    ``agentnet evaluate``); it cannot be resumed (Gymnasium environments' states are not
    saved). ``on_progress(step, agent)``, if given, is called after every collection and its
    updates (``step``: environment steps so far); returning True stops training early (e.g.
    a benchmark evaluating the agent every few thousand steps).
    """
    config = make_config(Config, total_steps, overrides)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite, resumable=False)
    torch.manual_seed(config.seed)
    return train(build_agent(config), functools.partial(make_gymnasium_env, config), config,
                 config.env_id, verbose, run, on_progress)


def train(agent: agentnet.Agent, env: str | Callable[[], Any], config: Settings, name: str,
          verbose: bool = True, run: RunDirectory | None = None,
          on_progress: Callable[[int, agentnet.Agent], bool | None] | None = None) -> dict:
    """The DQN loop for any Q-value agent (on its device) and Gymnasium environment (an id or
    a factory; ``name`` for the report): play into the replay pool, learn from replayed
    sessions, copy the agent into the target network now and then; save in ``run`` if given
    (a run kept nowhere otherwise)."""
    run = run if run is not None else RunDirectory.open(None, name, config)
    target = TargetNetwork(agent.policy_layers[0])
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, fused=True)
    resolver = cast(EpsilonGreedyResolver, agent.action_layers[0])  # one with an epsilon
    epsilon = LinearSchedule(config.epsilon_start, config.epsilon_end,
                             config.epsilon_decay_fraction * config.total_steps)
    learning_rate = LinearSchedule(config.learning_rate, config.learning_rate_end,
                                   config.total_steps)
    replay = SessionPoolEnvironment(config.pool_capacity, config.session_length, agent=agent)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    updates, step, loss = 0, 0, torch.tensor(float("nan"))
    # the replay and loss, compiled with compile=True (torch.compile: the same losses up to
    # float rounding, faster once compiled); the batch is sampled eagerly, its tensors passed in
    replay_loss: Callable[..., torch.Tensor] = make_replay_loss(agent, target, config)
    if config.compile:
        replay_loss = compile_loss(replay_loss)
    warn_if_budget_below_learning_starts(config, name)
    with EnvPool(agent, env, n_envs=config.n_envs, seed=config.seed) as envs, run:
        while step < config.total_steps:
            # --- exploration and step-size schedules (plumbing) ---
            resolver.epsilon.set_value(epsilon(step))
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step)
            # --- play: record the environments' sessions into the replay pool ---
            sessions = envs.update(config.session_length, replay)
            # environment steps: rows x ticks (a RayEnvPool's rows vary from call to call)
            step += sessions.rewards.numel()
            # --- learn: n-step Q-learning on replayed sessions, against the target network ---
            for _ in range(config.updates_per_collection if step >= config.learning_starts
                           else 0):
                batch = replay.sample_session_batch(config.batch_sessions)
                loss = replay_loss(batch.observations, batch.actions, batch.rewards,
                                   batch.is_alive, batch.is_truncated, batch.preceding_memories)
                optimizer.zero_grad()
                loss.backward()
                if config.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm,
                                                   foreach=True)
                optimizer.step()
                updates += 1
                if updates % config.target_every == 0:
                    target.load_weights()
            # --- bookkeeping ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            log.record(step, finished.returns, loss=loss.item(),
                       epsilon=resolver.epsilon.get_value())
            if run.due(step, config.save_every):
                run.save(step, agent, optimizer, log)
            if on_progress is not None and on_progress(step, agent):
                break
        evaluation = envs.evaluate(config.eval_episodes, seed=config.seed + 1,
                                   max_steps=config.eval_max_steps)
    log.finish(evaluation.returns, what=f"greedy evaluation on Gymnasium {name}")
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent,
            "updates": updates}


if __name__ == "__main__":
    main()
