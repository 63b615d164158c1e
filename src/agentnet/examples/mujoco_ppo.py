"""Proximal policy optimization with a Gaussian policy on Gymnasium's MuJoCo tasks.

PPO for continuous actions on any Gymnasium task with a Box observation and a Box action
(``env_id``: InvertedPendulum-v5 by default; HalfCheetah-v5, Hopper-v5...). The policy is a
diagonal Gaussian (``GaussianResolver``) over an MLP's mean with a free, state-independent
log-std, as Stable-Baselines3 and CleanRL have it; a separate MLP estimates the state value.
Observations are normalized by running statistics held in the agent (a layer with buffers),
so the saved agent, ``agentnet evaluate`` and any react function see them as training did.

``n_envs`` Gymnasium environments play ``session_length`` ticks at a time through an
``EnvPool``, sampling actions (clipped to the action box by the environment, while the
log-probability is that of the sampled action). Each rollout is joined to the last tick of the
one before, so every transition is trained on once (a rollout's last tick is only the bootstrap
value of the ticks before it). Then, all ticks at once, with no gradient: the recorded actions
forced through the resolver give their log-probabilities and the state values under today's
weights; rewards scaled by the running standard deviation of the discounted return (as SB3's
``VecNormalize``); generalized advantages (normalized) and value targets. Then a few epochs of
minibatch steps on the clipped PPO objectives (``agentnet.learning.ppo``). The observation
statistics take in the rollout after its updates, so that a rollout is played and learned from
with the same ones. Evaluated on fresh Gymnasium episodes with the mean action (``greedy=True``).

With the defaults (one CPU thread) seeds 0, 1, 2 play InvertedPendulum-v5's maximum of 1000
with the mean action on three evaluations in a row (every 2,000 steps, ten episodes each)
after 12k, 12k and 10k steps: 4.7, 4.3 and 4.4 s of CPU time (20, 14 and 29 s of wall time on
a heavily loaded shared machine); SB3's PPO with rl-zoo3's tuned settings, interleaved with
them, took 12k, 16k and 14k steps and 17.0, 23.6 and 21.1 s of CPU (61, 107 and 126 s of wall
time). After the full 50k steps all three play 1000 on ten fresh episodes. The same
defaults, not tuned for them, take Hopper-v5 to about 900 and InvertedDoublePendulum-v5 to
about 1,200 in 100k steps (seed 0). Needs MuJoCo: ``pip install 'agentnet-torch[mujoco]'``.

    python -m agentnet.examples.mujoco_ppo
    python -c "from agentnet.examples import mujoco_ppo as m; m.main(10**6, env_id='Hopper-v5')"
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import gymnasium
import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.driving import EnvPool
from agentnet.driving.evaluation import evaluate
from agentnet.environment import EpisodeTracker
from agentnet.examples import check_settings, make_config, make_env_by_id
from agentnet.learning import generic, ppo
from agentnet.resolver import GaussianResolver
from agentnet.utils import LinearSchedule, RunDirectory

DEFAULT_ENV_ID = "InvertedPendulum-v5"


@dataclass
class Config:
    env_id: str = DEFAULT_ENV_ID
    """the Gymnasium task (a Box observation of one dimension and a Box action)"""
    total_steps: int = 50_000
    """environment steps to train for (all environments together; InvertedPendulum-v5
    balances from about 10k on; Hopper-v5 and the like need a million)"""
    n_envs: int = 4
    """Gymnasium environments played at once"""
    session_length: int = 16
    """ticks each environment plays per rollout"""
    n_epochs: int = 5
    """passes over each rollout"""
    minibatch_size: int = 64
    """ticks per gradient step"""
    gamma: float = 0.99
    """discount"""
    gae_lambda: float = 0.95
    """lambda of the generalized advantages"""
    clip_epsilon: float = 0.2
    """how far the probability ratio may move from 1 before the objective stops following it"""
    value_clip_epsilon: float | None = None
    """clip of the value loss (None: the plain squared error)"""
    learning_rate: float = 5e-4
    """Adam's step size (1e-3 learns InvertedPendulum as fast but Hopper-v5 badly)"""
    anneal_learning_rate: bool = False
    """anneal the step size linearly to 0 over ``total_steps`` (CleanRL's default)"""
    entropy_regularization: float = 0.0
    """weight of the entropy bonus"""
    value_weight: float = 0.5
    """weight of the critic's loss"""
    max_grad_norm: float = 0.5
    """gradients are clipped to this global norm"""
    hidden: int = 64
    """units in each of the two hidden layers of the actor and of the critic"""
    log_std_init: float = 0.0
    """the policy's log standard deviation at the start (a free parameter per action)"""
    normalize_observations: bool = True
    """normalize observations by their running mean and standard deviation (in the agent)"""
    normalize_rewards: bool = True
    """scale rewards by the running standard deviation of the discounted return"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 10
    """greedy episodes (the mean action) played after training"""


def spaces(env: gymnasium.Env) -> tuple[int, int]:
    """``(observation size, action size)`` of ``env``, checked to be Boxes of one dimension;
    raises ValueError naming the space otherwise."""
    observations, actions = env.observation_space, env.action_space
    name = env.spec.id if env.spec is not None else type(env).__name__
    if not isinstance(actions, gymnasium.spaces.Box) or len(actions.shape) != 1:
        raise ValueError(f"{__name__}: {name}'s action space {actions} is not a Box of one "
                         f"dimension (a Gaussian policy needs continuous actions)")
    if not isinstance(observations, gymnasium.spaces.Box) or len(observations.shape) != 1:
        raise ValueError(f"{__name__}: {name}'s observation space {observations} is not a "
                         f"Box of one dimension")
    return observations.shape[0], actions.shape[0]


def make_gymnasium_env(config: Config | None = None) -> gymnasium.Env:
    """The task of ``config`` (the default one if None), its spaces checked (see
    :func:`spaces`) and its actions clipped to the box (training, evaluation and ``agentnet
    evaluate`` alike)."""
    env = make_env_by_id((config or Config()).env_id, __name__)
    try:
        spaces(env)
    except ValueError:
        env.close()
        raise
    return gymnasium.wrappers.ClipAction(env)


class ObservationNormalizer(L.Layer):
    """``clip((x - mean) / sqrt(var + 1e-8), -10, 10)`` with the running ``mean`` and ``var``
    of the observations it was :meth:`update`-d with (buffers: saved with the agent). Starts
    as the identity (mean 0, var 1), like SB3's ``VecNormalize``."""

    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(self, incoming: L.Layer, clip: float = 10.0, name: str | None = None):
        super().__init__(incoming, name)
        size = self.input_shape[-1]
        self.clip = clip
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("var", torch.ones(size))
        self.register_buffer("count", torch.zeros(()))

    @torch.no_grad()
    def update(self, observations: torch.Tensor) -> None:
        """Merge the statistics of ``observations`` float ``[N, size]`` into the running ones
        (Chan et al.'s parallel formula)."""
        n = observations.shape[0]
        if n == 0:
            return
        mean, var = observations.mean(0), observations.var(0, unbiased=False)
        total = self.count + n
        delta = mean - self.mean
        self.var.copy_((self.var * self.count + var * n
                        + delta ** 2 * self.count * n / total) / total)
        self.mean.add_(delta * n / total)
        self.count.copy_(total)

    def get_output_for(self, x: torch.Tensor, **flags: Any) -> torch.Tensor:
        if x.device.type == "meta":  # shape inference
            return x
        return ((x - self.mean) * torch.rsqrt(self.var + 1e-8)).clamp(-self.clip, self.clip)


def build_agent(config: Config) -> agentnet.Agent:
    """Separate actor and critic MLPs (two tanh hidden layers each, orthogonal init as SB3's)
    over the normalized observation: a Gaussian action over the actor's mean with a free
    log-std, and a state value. The policy is ``[log pi(action), V]``."""
    env = make_gymnasium_env(config)
    n_observations, n_actions = spaces(env)
    env.close()
    observation = L.InputLayer((None, n_observations), name="observation")
    features: L.Layer = (ObservationNormalizer(observation, name="normalized")
                         if config.normalize_observations else observation)

    def mlp(name: str, n_outputs: int, gain: float) -> L.Layer:
        hidden = features
        for i in (1, 2):
            hidden = L.DenseLayer(hidden, config.hidden, nonlinearity=torch.tanh,
                                  W=functools.partial(torch.nn.init.orthogonal_,
                                                      gain=math.sqrt(2)),
                                  name=f"{name}.hidden{i}")
        return L.DenseLayer(hidden, n_outputs, nonlinearity=None,
                            W=functools.partial(torch.nn.init.orthogonal_, gain=gain),
                            name=f"{name}.out")

    action = GaussianResolver(mlp("actor", n_actions, 0.01), log_std_init=config.log_std_init,
                              name="action")
    value = mlp("critic", 1, 1.0)
    return agentnet.Agent(observation, policy_estimators=[action.log_prob, value],
                          action_layers=action)


def rerun_agent(agent: agentnet.Agent, observations: torch.Tensor, actions: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Re-run the (memoryless) agent on observations float ``[N, obs]`` with the recorded
    ``actions`` float ``[N, act]`` forced through the resolver: the log-probabilities of those
    actions, the policy's entropy and the state values, each float ``[N]``."""
    action, (log_prob, value) = cast(GaussianResolver, agent.action_layers[0]), agent.policy_layers
    log_probs, entropy, values = L.get_output(
        [log_prob, action.entropy, value],
        {agent.observation_layers[0]: observations, action: actions})
    return log_probs, entropy, values[:, 0]


class ReturnScale:
    """The running standard deviation of each environment's discounted return (SB3's
    ``VecNormalize`` reward scaling): rewards are divided by it for learning."""

    def __init__(self, n_envs: int, gamma: float):
        self.gamma, self.returns = gamma, torch.zeros(n_envs, dtype=torch.float64)
        self.count, self.mean, self.var = 1e-4, 0.0, 1.0

    def update(self, rewards: torch.Tensor, is_alive: torch.Tensor) -> None:
        """Take the next ticks' rewards and aliveness float / bool ``[n_envs, T]``."""
        seen = torch.empty_like(rewards, dtype=torch.float64)
        for t in range(rewards.shape[1]):
            alive = is_alive[:, t]
            self.returns = torch.where(alive, self.returns * self.gamma + rewards[:, t], 0.0)
            seen[:, t] = self.returns
        seen = seen[is_alive]
        n = seen.numel()
        if n:
            mean, var = seen.mean().item(), seen.var(unbiased=False).item()
            total, delta = self.count + n, mean - self.mean
            self.var = (self.var * self.count + var * n + delta ** 2 * self.count * n / total
                        ) / total
            self.mean, self.count = self.mean + delta * n / total, total

    @property
    def std(self) -> float:
        return math.sqrt(self.var + 1e-8)


def _check(config: Config) -> None:
    """Refuse settings that cannot train, naming the field."""
    check_settings(config, __name__, ints_from={
        "total_steps": 1, "n_envs": 1, "n_epochs": 1, "minibatch_size": 1, "hidden": 1,
        "eval_episodes": 1, "session_length": 2},
        in_unit_interval=("gamma", "gae_lambda"),
        positive=("clip_epsilon", "learning_rate", "max_grad_norm"),
        non_negative=("entropy_regularization", "value_weight"))
    if config.value_clip_epsilon is not None and not config.value_clip_epsilon > 0:
        raise ValueError(f"{__name__}: value_clip_epsilon must be > 0 or None, got "
                         f"{config.value_clip_epsilon!r}")


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False,
         on_progress: Callable[[int, agentnet.Agent], bool | None] | None = None,
         **overrides) -> dict:
    """Train, evaluate greedily on Gymnasium, and return ``{"eval_mean_return", "log",
    "agent", "updates"}`` (the arguments: :mod:`agentnet.examples`).

    With ``out_dir`` the run keeps its settings, curves, plot and the agent (with its
    observation statistics) there, for ``agentnet evaluate``, which plays the run's
    ``env_id``; it cannot be resumed (Gymnasium environments' states are not saved).
    ``on_progress(step, agent)``, if given, is called after every rollout and its updates;
    returning True stops training early.
    """
    config = make_config(Config, total_steps, overrides)
    _check(config)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite, resumable=False)
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    log_std = cast(torch.Tensor, cast(GaussianResolver, agent.action_layers[0]).log_std_layer
                   .log_std)  # the free parameter [act]
    normalizer = next((layer for layer in L.get_all_layers(agent.policy_layers)
                       if isinstance(layer, ObservationNormalizer)), None)
    parameters = list(agent.parameters())
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate, eps=1e-5, fused=True)
    learning_rate = LinearSchedule(config.learning_rate, 0.0 if config.anneal_learning_rate
                                   else config.learning_rate, config.total_steps)
    reward_scale = ReturnScale(config.n_envs, config.gamma)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    make_env = functools.partial(make_gymnasium_env, config)
    updates, step, loss = 0, 0, torch.tensor(float("nan"))
    carried: list[torch.Tensor] | None = None  # the last tick of the rollout before
    with EnvPool(agent, make_env, n_envs=config.n_envs, seed=config.seed) as envs, run:
        while step < config.total_steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step)
            # --- the algorithm, 1: play a rollout, sampling actions from the policy ---
            sessions = envs.interact(config.session_length)
            new = [sessions.observations, sessions.actions, sessions.rewards,
                   sessions.is_alive, sessions.is_truncated]
            if config.normalize_rewards:
                reward_scale.update(sessions.rewards, sessions.is_alive)
            # joined to the last tick before it, which had no bootstrap value then
            observations, actions, rewards, is_alive, is_truncated = (
                new if carried is None else
                [torch.cat([old, part], dim=1) for old, part in zip(carried, new)])
            carried = [part[:, -1:] for part in new]
            # --- 2: advantages and value targets, once per rollout, no gradient ---
            batch, length = rewards.shape
            with torch.no_grad():
                old_log_probs, _, old_values = rerun_agent(
                    agent, observations.flatten(0, 1), actions.flatten(0, 1))
                old_log_probs = old_log_probs.view(batch, length)
                old_values = old_values.view(batch, length)
                advantages = generic.get_generalized_advantages(
                    old_values, rewards / reward_scale.std, is_alive, config.gamma,
                    config.gae_lambda, crop_last=True, is_truncated=is_truncated)
                value_targets = advantages + old_values
                trained = generic.get_loss_mask(is_alive, advantages, crop_last=True)
                advantages = (advantages - advantages[trained].mean()) / (
                    advantages[trained].std() + 1e-8)
            # the trained ticks, as one flat batch (the agent has no memory)
            data = [x[trained] for x in (observations, actions, old_log_probs, old_values,
                                         advantages, value_targets)]
            # --- 3: epochs of clipped updates on minibatches of ticks ---
            for _ in range(config.n_epochs):
                for rows in torch.randperm(len(data[0])).split(config.minibatch_size):
                    obs_b, act_b, old_lp_b, old_v_b, adv_b, target_b = (x[rows] for x in data)
                    log_probs, entropy, values = rerun_agent(agent, obs_b, act_b)
                    actor = ppo.get_elementwise_objective(
                        log_probs[:, None], old_lp_b[:, None], adv_b[:, None],
                        clip_epsilon=config.clip_epsilon)
                    critic = ppo.get_elementwise_value_objective(
                        values[:, None], old_v_b[:, None], target_b[:, None],
                        clip_epsilon=config.value_clip_epsilon)
                    loss = (actor + config.value_weight * critic
                            - config.entropy_regularization * entropy[:, None]).mean()
                    optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm, foreach=True)
                    optimizer.step()
                    updates += 1
            # --- plumbing: the observation statistics take in this rollout's ticks ---
            if normalizer is not None:
                normalizer.update(sessions.observations[sessions.is_alive].float())
            # --- bookkeeping ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            step += sessions.rewards.numel()
            log.record(step, finished.returns, loss=loss.item(),
                       std=log_std.detach().exp().mean().item())
            if run.due(step, 20_000):
                run.save(step, agent, optimizer, log)
            if on_progress is not None and on_progress(step, agent):
                break
    # --- evaluation: fresh Gymnasium episodes, the mean action ---
    evaluation = evaluate(agent, make_env, None, min(config.n_envs, config.eval_episodes),
                          {"greedy": True}, config.eval_episodes, seed=config.seed + 1_000)
    log.finish(evaluation.returns, what=f"greedy evaluation on Gymnasium {config.env_id}")
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent,
            "updates": updates}


if __name__ == "__main__":
    main()
