"""Recurrent Q-learning from replay on POPGym, R2D2's recipe: stored memories, burn-in, n-step
double Q-learning, prioritized sequences.

R2D2 (Kapturowski et al., 2019) trains a recurrent Q-network from replayed sequences. Each
sequence is stored with the memory the agent had when it played the sequence's first tick
(its "stored state"); a replay starts from it and spends the first ``burn_in`` ticks only
refreshing the memory with today's weights, without gradient, then learns on the ticks after
with backpropagation through time. agentnet's session pool stores exactly that
(``preceding_memories``) and its replay does the burn-in (``get_sessions(...,
experience_replay=True, burn_in=k)``).

``n_envs`` environments (``popgym_recurrent_ppo.make_task``: any POPGym id or Gymnasium task
with Discrete or MultiDiscrete actions) are played epsilon-greedily through an ``EnvPool``,
``sequence_length`` new ticks at a time. Each stored sequence starts ``burn_in + 1`` ticks
before the new ones (the end of the sequence before, with the memory that entered it), so
that every transition is trained on once: the burn-in ticks were trained in the sequence
before, and the last tick is only the bootstrap value of the ticks before it. The pool
samples sequences in proportion to their priority ``(eta max|delta| + (1 - eta)
mean|delta|) ** alpha`` (R2D2's mix of the largest and the mean TD error), with importance
weights. The loss is the Huber loss of n-step double Q-learning references (the online
network picks the action, the target network values it) built across episode ends by the
sessions' contract. The target network (``TargetNetwork``) is a copy of the Q-network below
the Q-values, memory cell included, that reads the online network's memory; it is copied
every ``target_every`` updates. Evaluated greedily on fresh episodes.

    python -m agentnet.examples.popgym_r2d2
    python -c "from agentnet.examples import popgym_r2d2 as m; \\
               m.main(env_id='popgym-PositionOnlyCartPoleEasy-v0')"
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import gymnasium
import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.driving import EnvPool
from agentnet.driving.evaluation import evaluate
from agentnet.environment import EpisodeTracker, SessionPoolEnvironment
from agentnet.examples import (
    check_settings,
    make_config,
    warn_if_budget_below_learning_starts,
)
from agentnet.examples.popgym_recurrent_ppo import make_task, task_spaces
from agentnet.learning import generic, qlearning
from agentnet.memory import GRUCell, LSTMCell, torch_init
from agentnet.resolver import EpsilonGreedyResolver
from agentnet.target_network import TargetNetwork
from agentnet.utils import LinearSchedule, RunDirectory

DEFAULT_ENV_ID = "popgym-RepeatPreviousEasy-v0"
MEMORIES = ("gru", "lstm", "none")


@dataclass
class Config:
    env_id: str = DEFAULT_ENV_ID
    """the Gymnasium task (Discrete or MultiDiscrete actions)"""
    total_steps: int = 500_000
    """environment steps to train for (all environments together)"""
    memory: str = "gru"
    """the Q-network's memory: "gru", "lstm" or "none" (a Dense layer in its place)"""
    n_envs: int = 8
    """environments played at once"""
    sequence_length: int = 8
    """new ticks per stored sequence (each also holds the burn_in + 1 ticks before them)"""
    burn_in: int = 4
    """ticks at a sequence's start that only refresh the stored memory"""
    pool_capacity: int = 4_000
    """sequences the replay pool holds"""
    learning_starts: int = 5_000
    """environment steps played before the first update"""
    batch_sequences: int = 32
    """sequences per gradient step"""
    updates_per_collection: int = 8
    """gradient steps after each collection of n_envs x sequence_length ticks"""
    n_steps: int = 5
    """the n of the n-step references"""
    gamma: float = 0.99
    """discount"""
    learning_rate: float = 1e-3
    """Adam's step size, annealed linearly to a tenth of it"""
    max_grad_norm: float = 10.0
    """gradients are clipped to this global norm"""
    target_every: int = 100
    """gradient steps between copies of the network into the target"""
    priority_alpha: float = 0.9
    """prioritization exponent (0: uniform sampling)"""
    priority_beta: float = 0.6
    """importance-weight exponent"""
    priority_eta: float = 0.9
    """a sequence's priority mixes its largest TD error (eta) and its mean one (1 - eta)"""
    epsilon_start: float = 1.0
    """exploration at the start"""
    epsilon_end: float = 0.05
    """exploration after the decay"""
    epsilon_decay_fraction: float = 0.2
    """the fraction of total_steps over which epsilon decays linearly"""
    hidden: int = 128
    """units in the memory (or the Dense layer in its place) and the hidden layer"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 100
    """greedy episodes played after training"""


def make_gymnasium_env(config: Config | None = None) -> gymnasium.Env:
    """The task of ``config`` (the default one if None), as
    :func:`~agentnet.examples.popgym_recurrent_ppo.make_task` makes it, checked to have
    Discrete actions (training, evaluation and ``agentnet evaluate`` alike)."""
    env = make_task((config or Config()).env_id)
    if not isinstance(env.action_space, gymnasium.spaces.Discrete):
        env.close()
        raise ValueError(f"{__name__}: {(config or Config()).env_id}'s action space "
                         f"{env.unwrapped.action_space} is not Discrete or MultiDiscrete "
                         f"(Q-learning picks among actions)")
    return env


def build_agent(config: Config, spaces: tuple[int, gymnasium.Space] | None = None
                ) -> agentnet.Agent:
    """A memory (or a Dense layer) over the observation, a ReLU layer and the Q-values float
    ``[B, A]`` (the policy), acted on epsilon-greedily. ``spaces`` as
    :func:`~agentnet.examples.popgym_recurrent_ppo.task_spaces` gives them (read from the task
    if None)."""
    check_settings(config, __name__, choices={"memory": MEMORIES})
    n_observations, action_space = spaces or task_spaces(config.env_id)
    if not isinstance(action_space, gymnasium.spaces.Discrete):
        raise ValueError(f"{__name__}: the action space {action_space} is not Discrete")
    observation = L.InputLayer((None, n_observations), name="observation")
    agent_states: dict[L.Layer, L.Layer] = {}
    size = config.hidden
    memory: L.Layer
    if config.memory == "gru":
        prev = L.InputLayer((None, size), name="prev_gru")
        memory = GRUCell(prev, observation, weight_init=torch_init(size), name="gru")
        agent_states[memory] = prev
    elif config.memory == "lstm":
        prev_cell = L.InputLayer((None, size), name="prev_cell")
        prev_out = L.InputLayer((None, size), name="prev_out")
        cell, memory = LSTMCell(prev_cell, prev_out, observation, peepholes=False,
                                weight_init=torch_init(size), name="lstm")
        agent_states[cell], agent_states[memory] = prev_cell, prev_out
    else:
        memory = L.DenseLayer(observation, size, nonlinearity=torch.tanh, name="dense")
    hidden = L.DenseLayer(memory, size, name="hidden")
    qvalues = L.DenseLayer(hidden, int(action_space.n), nonlinearity=None, name="q")
    resolver = EpsilonGreedyResolver(qvalues, epsilon=config.epsilon_start, name="action")
    return agentnet.Agent(observation, agent_states, policy_estimators=qvalues,
                          action_layers=resolver)


def td_errors(qvalues: torch.Tensor, qvalues_target: torch.Tensor, actions: torch.Tensor,
              rewards: torch.Tensor, is_alive: torch.Tensor, is_truncated: torch.Tensor,
              config: Config) -> torch.Tensor:
    """``reference - Q(s_t, a_t)`` float ``[B, T]`` of replayed sequences (Q-values ``[B, T,
    A]`` of the online and the target network), with n-step double Q-learning references (no
    gradient through them); 0 where a tick gets no reference (dead, or the last tick)."""
    with torch.no_grad():
        values = qlearning.get_double_q_state_values(qvalues, qvalues_target)
        reference = generic.get_n_step_value_reference(
            values, rewards, is_alive, config.n_steps, config.gamma, crop_last=True,
            is_truncated=is_truncated)
    taken = generic.get_values_for_actions(qvalues, actions)
    mask = generic.get_loss_mask(is_alive, taken, crop_last=True)
    return torch.where(mask, reference - taken, 0.0)


def sequence_priorities(errors: torch.Tensor, mask: torch.Tensor, eta: float) -> torch.Tensor:
    """R2D2's priority of each sequence, float ``[B]``: ``eta max|delta| + (1 - eta)
    mean|delta|`` over its ticks with a reference (``mask``, bool ``[B, T]``); 0 for a
    sequence without any."""
    size = errors.detach().abs()
    count = mask.sum(1)
    mean = size.sum(1) / count.clamp(min=1)
    return torch.where(count > 0, eta * size.amax(1) + (1 - eta) * mean, 0.0)


def _check(config: Config) -> None:
    """Refuse settings that cannot train, naming the field."""
    check_settings(config, __name__, ints_from={
        **dict.fromkeys(("total_steps", "n_envs", "sequence_length", "pool_capacity",
                         "batch_sequences", "updates_per_collection", "n_steps",
                         "target_every", "hidden", "eval_episodes"), 1),
        "burn_in": 0, "learning_starts": 0},
        in_unit_interval=("gamma", "priority_alpha", "priority_beta", "priority_eta",
                          "epsilon_start", "epsilon_end", "epsilon_decay_fraction"),
        positive=("learning_rate", "max_grad_norm"), choices={"memory": MEMORIES})


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False,
         on_progress: Callable[[int, agentnet.Agent], bool | None] | None = None,
         **overrides) -> dict:
    """Train, evaluate greedily, and return ``{"eval_mean_return", "log", "agent",
    "updates"}`` (the arguments: :mod:`agentnet.examples`). ``on_progress(step, agent)``, if
    given, is called after every collection and its updates; returning True stops training.
    The run cannot be resumed (Gymnasium environments' states are not saved)."""
    config = make_config(Config, total_steps, overrides)
    _check(config)
    spaces = task_spaces(config.env_id)
    make_env = functools.partial(make_gymnasium_env, config)
    make_env().close()  # refuses a task without discrete actions, before anything is made
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite, resumable=False)
    torch.manual_seed(config.seed)
    agent = build_agent(config, spaces)
    target = TargetNetwork(agent.policy_layers[0])
    resolver = cast(EpsilonGreedyResolver, agent.action_layers[0])
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-4)
    learning_rate = LinearSchedule(config.learning_rate, config.learning_rate / 10,
                                   config.total_steps)
    epsilon = LinearSchedule(config.epsilon_start, config.epsilon_end,
                             config.epsilon_decay_fraction * config.total_steps)
    overlap = config.burn_in + 1  # ticks each stored sequence repeats from the one before
    pool = SessionPoolEnvironment(config.pool_capacity, config.sequence_length + overlap,
                                  agent=agent, prioritized=config.priority_alpha > 0,
                                  alpha=config.priority_alpha, beta=config.priority_beta)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    warn_if_budget_below_learning_starts(config, __name__)
    updates, step, loss = 0, 0, torch.tensor(float("nan"))
    carried: list[torch.Tensor] | None = None  # the last `overlap` ticks played
    with EnvPool(agent, make_env, n_envs=config.n_envs, seed=config.seed) as envs, run:
        while step < config.total_steps:
            resolver.epsilon.set_value(epsilon(step))
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step)
            # --- play; store each row with the overlap before it and the memory entering it
            sessions = envs.interact(config.sequence_length + (overlap if carried is None
                                                               else 0))
            new = [sessions.observations, sessions.actions, sessions.rewards,
                   sessions.is_alive, sessions.is_truncated, *sessions.entering_agent_states()]
            joined = (new if carried is None else
                      [torch.cat([old, part], dim=1) for old, part in zip(carried, new)])
            carried = [part[:, -overlap:] for part in joined]
            pool.append_sessions(*joined[:5], preceding_memories=[m[:, 0] for m in joined[5:]])
            step += sessions.rewards.numel()
            # --- learn: prioritized sequences, burn-in, n-step double Q ---
            for _ in range(config.updates_per_collection if step >= config.learning_starts
                           else 0):
                batch = pool.sample_session_batch(config.batch_sequences)
                replay = agent.get_sessions(batch, experience_replay=True,
                                            burn_in=config.burn_in,
                                            additional_outputs=[target.output_layers])
                errors = td_errors(replay.policy, replay.additional_outputs[0], replay.actions,
                                   replay.rewards, replay.is_alive, replay.is_truncated,
                                   config)
                mask = generic.get_loss_mask(replay.is_alive, errors, crop_last=True)
                elementwise = qlearning.huber_loss(errors, torch.zeros_like(errors))
                loss = generic.masked_mean(elementwise * batch.weights[:, None], mask)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm,
                                               foreach=True)
                optimizer.step()
                if pool.prioritized:
                    assert batch.indices is not None  # a pool's batches say where they are
                    pool.update_priorities(batch.indices, sequence_priorities(
                        errors, mask, config.priority_eta))
                updates += 1
                if updates % config.target_every == 0:
                    target.load_weights()
            # --- bookkeeping ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            log.record(step, finished.returns, loss=loss.item(),
                       epsilon=resolver.epsilon.get_value())
            if run.due(step, 100_000):
                run.save(step, agent, optimizer, log)
            if on_progress is not None and on_progress(step, agent):
                break
    # --- evaluation: fresh episodes, the greedy action ---
    evaluation = evaluate(agent, make_env, None, min(config.n_envs, config.eval_episodes),
                          {}, config.eval_episodes, seed=config.seed + 1_000)
    log.finish(evaluation.returns, what=f"greedy evaluation on {config.env_id}")
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent,
            "updates": updates}


if __name__ == "__main__":
    main()
