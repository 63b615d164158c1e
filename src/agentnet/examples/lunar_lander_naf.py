"""Normalized advantage functions (Gu et al. 2016) on Gymnasium's LunarLanderContinuous-v3.

The original AgentNet's "Continuous LunarLander using normalized advantage functions"
notebook, on today's Gymnasium. The lander fires a main engine and a side engine, two
continuous throttles in [-1, 1]; an episode earns about -180 with random throttles and 200 or
more when it lands gently between the flags.

NAF is Q-learning for continuous actions: the network outputs a state value V(s), the best
throttles mu(s) and a lower-triangular L(s), and ``Q(s, u) = V(s) - 1/2 |L(s)^T (u - mu(s))|^2``,
so the greedy action is mu(s) and its value V(s). Eight Gymnasium environments are played
through an ``EnvPool`` with Gaussian noise on mu (clipped to the action bounds, as the
original's); their sessions go into a ``SessionPoolEnvironment``; batches replayed from it
(the recorded throttles forced through the action layer, so Q is computed for the action
that was taken) regress Q(s_t, u_t) on n-step references of V from a Polyak-averaged target
network. Evaluated on fresh Gymnasium episodes with the noise off (``deterministic=True``).

What differs from the original: eight environments rather than one, a target network (the
original bootstrapped from the agent itself), 3-step references, a Huber loss, the noise
annealed from 0.3 to the original's 0.1, the entries of L(s) and mu(s) squashed by tanh and
the step size decayed to zero. With the defaults seeds 0, 1, 2 land (noise-free means of 210,
258 and 225 over 20 episodes) after 300k steps, about 2 minutes each on one CPU thread; the
original's notebook reached about 100 after 1M steps and 85 minutes.

Needs Box2D: ``pip install 'agentnet-torch[box2d]'``.

    python -m agentnet.examples.lunar_lander_naf
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium
import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.driving import EnvPool
from agentnet.driving.evaluation import evaluate
from agentnet.environment import EpisodeTracker, SessionPoolEnvironment
from agentnet.examples import make_config, warn_if_budget_below_learning_starts
from agentnet.learning import generic, losses, qlearning_naf
from agentnet.target_network import TargetNetwork
from agentnet.utils import LinearSchedule, RunDirectory

#: the Gymnasium environment trained and evaluated on (for ``agentnet evaluate``)
GYMNASIUM_ID = "LunarLanderContinuous-v3"
N_OBSERVATIONS, N_ACTIONS = 8, 2  # position, velocity, angle, its rate, legs down; 2 throttles


@dataclass
class Config:
    total_steps: int = 300_000
    """environment steps to train for (all environments together; seeds 0, 1, 2 ended at
    210, 258 and 225, in about 2 minutes each on one thread; in 100k seeds 0 and 2 ended at
    -59 and -74, hovering rather than landing)"""
    n_envs: int = 8
    """Gymnasium environments played at once"""
    session_length: int = 10
    """ticks per recorded session (the original's SEQ_LENGTH)"""
    pool_capacity: int = 10_000
    """sessions the replay pool holds (the original's max_size; 100k transitions)"""
    learning_starts: int = 10_000
    """environment steps collected before learning"""
    updates_per_collection: int = 8
    """gradient steps after each collection of n_envs sessions"""
    batch_sessions: int = 32
    """sessions per replayed batch"""
    n_steps: int = 3
    """the n of the n-step references"""
    gamma: float = 0.99
    """discount"""
    reward_scale: float = 0.1
    """rewards are multiplied by this for learning (a crash costs -100, a landing earns
    +100)"""
    learning_rate: float = 1e-3
    """Adam's step size at the start ..."""
    learning_rate_end: float = 0.0
    """... changing linearly to this at the end of training (so that the landing found is
    kept: with a constant step size seeds 0 to 2 ended at 183, 163 and 139)"""
    target_alpha: float = 0.005
    """Polyak step of the target network toward the agent after each update"""
    exploration_start: float = 0.3
    """standard deviation of the Gaussian noise on the throttles at the start ..."""
    exploration_end: float = 0.1
    """... changing linearly to this (the original's constant) ..."""
    exploration_fraction: float = 0.5
    """... over this fraction of training"""
    hidden: int = 256
    """units in each of the two hidden layers (the original's)"""
    huber: bool = True
    """regress with the Huber loss (False: the squared error, untried here)"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 20
    """noise-free Gymnasium episodes played after training"""
    save_every: int = 20_000
    """environment steps between checkpoints (with ``out_dir``; also every 2 minutes)"""


def build_agent(config: Config) -> agentnet.Agent:
    """The original's torso (256 rectified units, then 256 tanh units) with NAF's heads: Q(s, u)
    and V(s) as policy, the noisy throttles as action."""
    observation = L.InputLayer((None, N_OBSERVATIONS), name="observation")
    hidden = L.DenseLayer(observation, config.hidden, name="hidden1")
    hidden = L.DenseLayer(hidden, config.hidden, nonlinearity=torch.tanh, name="hidden2")
    # the best throttles mu(s), squashed into [-1, 1] (a clip would stop their gradient)
    means = L.DenseLayer(hidden, N_ACTIONS, nonlinearity=torch.tanh, name="naf.means")
    # L(s)'s entries squashed into [-1, 1] (its diagonal then exponentiated into [1/e, e]):
    # in 200k-step runs, seeds 0 and 1 ended at -81 and -456 unbounded, at 146 and 90 so
    entries = L.DenseLayer(hidden, qlearning_naf.diag_to_tril_size(N_ACTIONS),
                           nonlinearity=torch.tanh, name="naf.L_entries")
    naf = L.build_NAF_controller(hidden, action_dimensions=N_ACTIONS,
                                 exploration=config.exploration_start, mean_layer=means,
                                 L_layer=L.LowerTriangularLayer(entries, name="naf.L"),
                                 action_low=-1.0, action_high=1.0)
    return agentnet.Agent(observation, policy_estimators=[naf["action_qvalues"],
                                                          naf["state_value"]],
                          action_layers=naf["actions"])


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False,
         on_progress: Callable[[int, agentnet.Agent], bool | None] | None = None,
         **overrides) -> dict:
    """Train, evaluate on Gymnasium with the noise off, and return ``{"eval_mean_return",
    "log", "agent", "updates"}`` (the arguments: :mod:`agentnet.examples`).

    With ``out_dir`` the run keeps its settings, curves, plot and the agent there (for
    ``agentnet evaluate``); it cannot be resumed (Gymnasium environments' states are not
    saved). ``on_progress(step, agent)``, if given, is called after every collection and its
    updates; returning True stops training early.
    """
    config = make_config(Config, total_steps, overrides)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite, resumable=False)
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    target = TargetNetwork(agent.policy_layers[1])  # V(s), for the references
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, fused=True)
    noise = next(layer for layer in L.get_all_layers(agent.action_layers)
                 if isinstance(layer, L.GaussianNoiseLayer))
    exploration = LinearSchedule(config.exploration_start, config.exploration_end,
                                 config.exploration_fraction * config.total_steps)
    learning_rate = LinearSchedule(config.learning_rate, config.learning_rate_end,
                                   config.total_steps)
    loss_function = losses.huber_loss if config.huber else losses.squared_error
    replay = SessionPoolEnvironment(config.pool_capacity, config.session_length, agent=agent)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    updates, step, loss = 0, 0, torch.tensor(float("nan"))
    warn_if_budget_below_learning_starts(config, __name__)
    with EnvPool(agent, GYMNASIUM_ID, n_envs=config.n_envs, seed=config.seed) as envs, run:
        while step < config.total_steps:
            # --- play with Gaussian noise on mu(s), record the sessions into the replay ---
            noise.sigma.set_value(exploration(step))
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step)
            sessions = envs.update(config.session_length, replay)
            step += sessions.rewards.numel()
            # --- the algorithm: regress Q(s_t, u_t) on n-step references of the target's V ---
            for _ in range(config.updates_per_collection if step >= config.learning_starts
                           else 0):
                batch = agent.get_sessions(replay.sample_session_batch(config.batch_sessions),
                                           experience_replay=True,
                                           additional_outputs=[target.output_layers])
                qvalues, _ = batch.policy
                (target_values,) = batch.additional_outputs
                elementwise = qlearning_naf.get_elementwise_objective(
                    qvalues[..., 0], target_values[..., 0], batch.rewards * config.reward_scale,
                    batch.is_alive, n_steps=config.n_steps, gamma_or_gammas=config.gamma,
                    is_truncated=batch.is_truncated, loss_function=loss_function)
                loss = generic.masked_mean(elementwise, batch.is_alive)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                target.load_weights(config.target_alpha)
                updates += 1
            # --- bookkeeping ---
            finished = episodes.update(sessions.rewards, sessions.is_alive)
            log.record(step, finished.returns, loss=loss.item(), exploration=exploration(step))
            if run.due(step, config.save_every):
                run.save(step, agent, optimizer, log)
            if on_progress is not None and on_progress(step, agent):
                break
    # --- evaluation: fresh Gymnasium episodes (training reset with seed + 0..n_envs - 1),
    # mu(s) without noise ---
    evaluation = evaluate(agent, functools.partial(gymnasium.make, GYMNASIUM_ID), GYMNASIUM_ID,
                          config.n_envs, {"deterministic": True}, config.eval_episodes,
                          seed=config.seed + 1_000)
    log.finish(evaluation.returns, what=f"noise-free evaluation on Gymnasium {GYMNASIUM_ID}")
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent,
            "updates": updates}


if __name__ == "__main__":
    main()
