"""Recurrent PPO on POPGym: an agent with memory, trained through time on chunks of sessions.

POPGym (``pip install popgym``) is a benchmark of partially observable Gymnasium tasks
that cannot be solved without remembering: repeat the card seen k ticks ago
(RepeatPrevious), count the cards shown (CountRecall), balance a cart seen by its position
only (PositionOnlyCartPole), play back a sequence (Autoencode)... each in Easy, Medium and
Hard. Episode returns lie in [-1, 1]. ``env_id`` takes any of them
(``popgym-RepeatPreviousEasy-v0`` by default) or any other Gymnasium task: observations are
flattened to one float vector (Discrete and MultiDiscrete parts one-hot, Gymnasium's
``FlattenObservation``), actions may be Discrete, MultiDiscrete (played as one Discrete over
their combinations) or a Box (a diagonal Gaussian with a free log-std).

The agent has two towers, as sb3-contrib's ``RecurrentPPO`` by default: the actor's memory
and the critic's (``memory``: ``"gru"``, ``"lstm"``, or ``"none"``, a Dense layer in its
place), each followed by a tanh layer, then the policy and the state value.

``n_envs`` environments play ``session_length`` ticks through an ``EnvPool``, which keeps
each one's memory and restarts it at zeros where an episode starts. Each rollout is joined
to the last tick of the one before (with the memory that entered it), so every transition is
trained on once. Then, with no gradient, the rollout is replayed whole from its first memory
under today's weights: the log-probabilities of the recorded actions, the state values, GAE
across episode ends (terminations, truncations and new episodes inside a row: the sessions'
episode-end contract) and the memory entering every tick. The ticks are cut into chunks of
``chunk_length``; each chunk is replayed from the memory that entered its first tick (as
stored by that replay; zeros at an episode's start), with backpropagation through time
inside it, and ``n_epochs`` passes of minibatches of chunks take clipped PPO steps
(``agentnet.learning.ppo``). Evaluated greedily (the most probable action, or the mean) on
fresh episodes.

The defaults spend compute to save environment steps: 32 gradient steps per 256 environment
steps (8 environments, 8 passes, minibatches of 4 chunks), as sb3-contrib's RecurrentPPO
does (20 per 128). Chosen at 50k steps over six POPGym tasks and two seeds
(``docs/benchmarks.md``): against the five times cheaper ``n_envs=16, session_length=64,
n_epochs=4, minibatch_chunks=16``, RepeatPreviousEasy went from 0.08 / 0.00 to 0.69 / 0.95,
CountRecallEasy from -0.93 / -0.90 to -0.83 / -0.80, RepeatFirstEasy from -0.56 / -0.36 to
-0.26 / -0.20; HigherLowerEasy was level, PositionOnlyCartPoleEasy 1.00 / 0.75 against
1.00 / 0.97. Where the lag to remember is bounded (RepeatPrevious, PositionOnlyCartPole),
``memory="window"`` learns faster still and costs less.

    python -m agentnet.examples.popgym_recurrent_ppo
    python -c "from agentnet.examples import popgym_recurrent_ppo as m; \\
               m.main(env_id='popgym-PositionOnlyCartPoleEasy-v0')"
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium
import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.driving import EnvPool
from agentnet.driving.evaluation import evaluate
from agentnet.environment import EpisodeTracker, SessionBatchEnvironment
from agentnet.examples import check_settings, make_config, make_flat_task
from agentnet.learning import generic, ppo
from agentnet.memory import (
    GRUCell,
    LSTMCell,
    MultiHeadAttentionLayer,
    StackAugmentation,
    WindowAugmentation,
    torch_init,
)
from agentnet.resolver import GaussianResolver, ProbabilisticResolver
from agentnet.utils import LinearSchedule, RunDirectory

DEFAULT_ENV_ID = "popgym-RepeatPreviousEasy-v0"
MEMORIES = ("gru", "lstm", "window", "attention", "stack", "none")


@dataclass
class Config:
    env_id: str = DEFAULT_ENV_ID
    """the Gymnasium task (POPGym's ids register themselves: popgym-<Task><Level>-v0)"""
    total_steps: int = 200_000
    """environment steps to train for (all environments together)"""
    memory: str = "gru"
    """the memory of each tower: "gru", "lstm", "window" (the last ``window`` observations),
    "attention" (over a window of embedded observations, with learned positions), "stack" (a
    GRU controller with a differentiable stack) or "none" (a Dense layer in its place)"""
    window: int = 16
    """ticks the "window" and "attention" memories hold (and the "stack"'s depth)"""
    n_envs: int = 8
    """environments played at once"""
    session_length: int = 32
    """ticks each environment plays per rollout (a multiple of chunk_length)"""
    chunk_length: int = 16
    """ticks per trained sequence: backpropagation through time reaches this far back"""
    n_epochs: int = 8
    """passes over each rollout"""
    minibatch_chunks: int = 4
    """chunks per gradient step"""
    gamma: float = 0.99
    """discount"""
    gae_lambda: float = 0.95
    """lambda of the generalized advantages"""
    clip_epsilon: float = 0.2
    """how far the probability ratio may move from 1 before the objective stops following it"""
    learning_rate: float = 1e-3
    """Adam's step size at the start, annealed linearly to 0"""
    entropy_regularization: float = 0.01
    """weight of the entropy bonus"""
    value_weight: float = 0.5
    """weight of the critic's loss"""
    max_grad_norm: float = 0.5
    """gradients are clipped to this global norm"""
    hidden: int = 128
    """units in each memory (or Dense layer in its place) and each hidden layer"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 100
    """greedy episodes played after training"""


class _Positions(torch.nn.Module):
    """Adds a learned vector per window slot ``[k, size]`` to a window ``[B, k, size]``, so
    that attention over it can tell how long ago each value came."""

    def __init__(self, k: int, size: int):
        super().__init__()
        self.positions = torch.nn.Parameter(0.1 * torch.randn(k, size))

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return window + self.positions


def make_gymnasium_env(config: Config | None = None) -> gymnasium.Env:
    """The task of ``config`` (the default one if None) as :func:`make_task` makes it
    (training, evaluation and ``agentnet evaluate`` alike)."""
    return make_task((config or Config()).env_id)


def make_task(env_id: str) -> gymnasium.Env:
    """The Gymnasium task ``env_id`` as :func:`agentnet.examples.make_flat_task` makes it:
    observations flattened to float32, actions Discrete or a clipped Box; ``popgym-...`` ids
    import POPGym. An id of the form ``module:id`` is accepted only for a module already
    imported (a run's settings never import code)."""
    return make_flat_task(env_id, __name__)


def task_spaces(env_id: str) -> tuple[int, gymnasium.Space]:
    """``(observation size, action space)`` of the task, as the agent sees them."""
    env = make_task(env_id)
    try:
        assert env.observation_space.shape is not None
        return env.observation_space.shape[0], env.action_space
    finally:
        env.close()


def build_agent(config: Config, spaces: tuple[int, gymnasium.Space] | None = None
                ) -> agentnet.Agent:
    """Actor and critic towers, each a memory (or Dense layer) over the observation and a tanh
    layer. The policy is ``[log pi(.) float [B, A], V float [B, 1]]`` for Discrete actions,
    ``[log pi(action) float [B], entropy float [B], V float [B, 1]]`` for a Box; ``spaces`` as
    :func:`task_spaces` gives them (read from the task if None)."""
    check_settings(config, __name__, choices={"memory": MEMORIES})
    n_observations, action_space = spaces or task_spaces(config.env_id)
    observation = L.InputLayer((None, n_observations), name="observation")
    agent_states: dict[L.Layer, L.Layer] = {}
    size = config.hidden
    init = functools.partial(torch.nn.init.orthogonal_, gain=math.sqrt(2))

    def tower(name: str) -> L.Layer:
        hidden: L.Layer
        if config.memory == "gru":
            prev = L.InputLayer((None, size), name=f"{name}.prev_gru")
            hidden = GRUCell(prev, observation, weight_init=torch_init(size), name=f"{name}.gru")
            agent_states[hidden] = prev
        elif config.memory == "lstm":
            prev_cell = L.InputLayer((None, size), name=f"{name}.prev_cell")
            prev_out = L.InputLayer((None, size), name=f"{name}.prev_out")
            cell, hidden = LSTMCell(prev_cell, prev_out, observation, peepholes=False,
                                    weight_init=torch_init(size), name=f"{name}.lstm")
            agent_states[cell], agent_states[hidden] = prev_cell, prev_out
        elif config.memory == "window":
            prev = L.InputLayer((None, config.window, n_observations), name=f"{name}.prev_window")
            window = WindowAugmentation(observation, prev, name=f"{name}.window")
            agent_states[window] = prev
            hidden = L.DenseLayer(window, size, nonlinearity=torch.tanh, W=init,
                                  name=f"{name}.dense")
        elif config.memory == "attention":
            embedded = L.DenseLayer(observation, size, nonlinearity=torch.tanh, W=init,
                                    name=f"{name}.embedded")
            prev = L.InputLayer((None, config.window, size), name=f"{name}.prev_window")
            window = WindowAugmentation(embedded, prev, name=f"{name}.window")
            agent_states[window] = prev
            placed = L.ModuleLayer(window, _Positions(config.window, size),
                                   name=f"{name}.positions")
            read = MultiHeadAttentionLayer(placed, embedded, num_heads=4, name=f"{name}.read")
            hidden = L.ConcatLayer([embedded, read], name=f"{name}.read_and_now")
        elif config.memory == "stack":
            prev = L.InputLayer((None, size), name=f"{name}.prev_controller")
            controller = GRUCell(prev, observation, weight_init=torch_init(size),
                                 name=f"{name}.controller")
            agent_states[controller] = prev
            item = L.DenseLayer(controller, 16, nonlinearity=torch.tanh, name=f"{name}.item")
            controls = L.DenseLayer(controller, 3, nonlinearity=lambda x: torch.softmax(x, -1),
                                    name=f"{name}.controls")
            prev_stack = L.InputLayer((None, config.window, 16), name=f"{name}.prev_stack")
            stack = StackAugmentation(item, prev_stack, controls, name=f"{name}.stack")
            agent_states[stack] = prev_stack
            top = L.SliceLayer(stack, 0, axis=1, name=f"{name}.top")
            hidden = L.ConcatLayer([controller, top], name=f"{name}.controller_and_top")
        else:
            hidden = L.DenseLayer(observation, size, nonlinearity=torch.tanh, W=init,
                                  name=f"{name}.dense")
        return L.DenseLayer(hidden, size, nonlinearity=torch.tanh, W=init, name=f"{name}.hidden")

    actor, critic = tower("actor"), tower("critic")
    value = L.DenseLayer(critic, 1, nonlinearity=None,
                         W=functools.partial(torch.nn.init.orthogonal_, gain=1.0), name="value")
    small = functools.partial(torch.nn.init.orthogonal_, gain=0.01)
    if isinstance(action_space, gymnasium.spaces.Discrete):
        logits = L.DenseLayer(actor, int(action_space.n), nonlinearity=None, W=small,
                              name="logits")
        log_policy = L.NonlinearityLayer(logits, lambda x: torch.log_softmax(x, -1),
                                         name="log_policy")
        policy = L.NonlinearityLayer(log_policy, torch.exp, name="policy")
        resolver: L.Layer = ProbabilisticResolver(policy, name="action")
        estimators = [log_policy, value]
    else:
        assert action_space.shape is not None
        mean = L.DenseLayer(actor, action_space.shape[0], nonlinearity=None, W=small,
                            name="mean")
        gaussian = GaussianResolver(mean, log_std_init=0.0, name="action")
        resolver, estimators = gaussian, [gaussian.log_prob, gaussian.entropy, value]
    return agentnet.Agent(observation, agent_states, policy_estimators=estimators,
                          action_layers=resolver)


def policy_terms(agent: agentnet.Agent, sessions: Any
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-probabilities of the recorded actions, the policy's entropy and the state values,
    float ``[B, T]`` each, of replayed ``sessions`` (a replay of this agent)."""
    if len(sessions.policy) == 3:  # a Gaussian's: log pi(action), entropy, V
        log_probs, entropy, values = sessions.policy
        return log_probs, entropy, values[..., 0]
    log_policy, values = sessions.policy  # log pi(.) over the discrete actions, V
    log_probs = log_policy.gather(-1, sessions.actions[..., None])[..., 0]
    entropy = -(log_policy.exp() * log_policy).sum(-1)
    return log_probs, entropy, values[..., 0]


def _check(config: Config) -> None:
    """Refuse settings that cannot train, naming the field."""
    check_settings(config, __name__, ints_from=dict.fromkeys(
        ("total_steps", "n_envs", "chunk_length", "n_epochs", "minibatch_chunks", "hidden",
         "window", "eval_episodes"), 1),
        in_unit_interval=("gamma", "gae_lambda"),
        positive=("clip_epsilon", "learning_rate", "max_grad_norm"),
        non_negative=("entropy_regularization", "value_weight"), choices={"memory": MEMORIES})
    length, chunk = config.session_length, config.chunk_length
    if isinstance(length, bool) or not isinstance(length, int) or length < 1 or length % chunk:
        raise ValueError(f"{__name__}: session_length must be a positive multiple of "
                         f"chunk_length={chunk}, got {length!r}")


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False,
         on_progress: Callable[[int, agentnet.Agent], bool | None] | None = None,
         **overrides) -> dict:
    """Train, evaluate greedily, and return ``{"eval_mean_return", "log", "agent",
    "updates"}`` (the arguments: :mod:`agentnet.examples`). ``on_progress(step, agent)``, if
    given, is called after every rollout and its updates; returning True stops training.
    The run cannot be resumed (Gymnasium environments' states are not saved)."""
    config = make_config(Config, total_steps, overrides)
    _check(config)
    spaces = task_spaces(config.env_id)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite, resumable=False)
    torch.manual_seed(config.seed)
    agent = build_agent(config, spaces)
    parameters = list(agent.parameters())
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate, eps=1e-5)
    learning_rate = LinearSchedule(config.learning_rate, 0.0, config.total_steps)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    make_env = functools.partial(make_gymnasium_env, config)
    length, chunk = config.session_length, config.chunk_length
    updates, step, loss = 0, 0, torch.tensor(float("nan"))
    carried: list[torch.Tensor] | None = None  # the last tick of the rollout before
    with EnvPool(agent, make_env, n_envs=config.n_envs, seed=config.seed) as envs, run:
        while step < config.total_steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step)
            # --- the algorithm, 1: play a rollout (one tick more the first time, so that
            # every row holds session_length trained ticks and a bootstrap tick) ---
            sessions = envs.interact(length + (carried is None))
            new = [sessions.observations, sessions.actions, sessions.rewards,
                   sessions.is_alive, sessions.is_truncated, *sessions.entering_agent_states()]
            joined = (new if carried is None else
                      [torch.cat([old, part], dim=1) for old, part in zip(carried, new)])
            carried = [part[:, -1:] for part in joined]
            observations, actions, rewards, is_alive, is_truncated = joined[:5]
            # --- 2: replay the rollout whole from its first memory, no gradient: old
            # log-probabilities, values, advantages and the memory entering every tick ---
            with torch.no_grad():
                replay = agent.get_sessions(SessionBatchEnvironment(
                    observations, actions, rewards, is_alive, is_truncated,
                    preceding_memories=[m[:, 0] for m in joined[5:]]), experience_replay=True)
                old_log_probs, _, old_values = policy_terms(agent, replay)
                memories = replay.entering_agent_states()
                advantages = generic.get_generalized_advantages(
                    old_values, rewards, is_alive, config.gamma, config.gae_lambda,
                    crop_last=True, is_truncated=is_truncated)
                value_targets = advantages + old_values
                trained = generic.get_loss_mask(is_alive, advantages, crop_last=True)
                advantages = (advantages - advantages[trained].mean()) / (
                    advantages[trained].std() + 1e-8)

            # --- 3: chunks of chunk_length ticks, each with the memory entering it ---
            def chunks(x: torch.Tensor) -> torch.Tensor:
                """``[N, T+1, ...]`` -> ``[N * T / chunk, chunk, ...]`` (ticks 0..T-1)."""
                return x[:, :length].reshape(-1, chunk, *x.shape[2:])

            data = [chunks(x) for x in (observations, actions, rewards, is_alive,
                                        is_truncated, old_log_probs, old_values,
                                        advantages, value_targets, trained)]
            starts = [chunks(m)[:, 0] for m in memories]
            # --- 4: epochs of clipped updates on minibatches of chunks, through time ---
            for _ in range(config.n_epochs):
                for rows in torch.randperm(len(data[0])).split(config.minibatch_chunks):
                    (obs_b, act_b, rew_b, alive_b, trunc_b, old_lp_b, old_v_b, adv_b,
                     target_b, mask_b) = (x[rows] for x in data)
                    replay = agent.get_sessions(SessionBatchEnvironment(
                        obs_b, act_b, rew_b, alive_b, trunc_b,
                        preceding_memories=[m[rows] for m in starts]), experience_replay=True)
                    log_probs, entropy, values = policy_terms(agent, replay)
                    actor = ppo.get_elementwise_objective(log_probs, old_lp_b, adv_b,
                                                          clip_epsilon=config.clip_epsilon)
                    critic = ppo.get_elementwise_value_objective(values, old_v_b, target_b,
                                                                 clip_epsilon=None)
                    elementwise = (actor + config.value_weight * critic
                                   - config.entropy_regularization * entropy)
                    loss = generic.masked_mean(elementwise, mask_b)
                    optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm,
                                                   foreach=True)
                    optimizer.step()
                    updates += 1
            # --- bookkeeping ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            step += sessions.rewards.numel()
            log.record(step, finished.returns, loss=loss.item())
            if run.due(step, 100_000):
                run.save(step, agent, optimizer, log)
            if on_progress is not None and on_progress(step, agent):
                break
    # --- evaluation: fresh episodes, the most probable action (or the mean) ---
    evaluation = evaluate(agent, make_env, None, min(config.n_envs, config.eval_episodes),
                          {}, config.eval_episodes, seed=config.seed + 1_000)
    log.finish(evaluation.returns, what=f"greedy evaluation on {config.env_id}")
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent,
            "updates": updates}


if __name__ == "__main__":
    main()
