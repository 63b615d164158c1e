"""Advantage actor-critic on Atari Kung-Fu Master: conv layers, a frame window and an LSTM.

The original AgentNet's "Deep Kung-Fu with GRUs and A2c algorithm" notebook in agentnet's
terms (its agent was an LSTM despite the title; ``memory="gru"`` swaps in a GRU). Ten games
(``ale-py`` ships the ROM; :func:`~agentnet.environment.atari.make_atari` skips frames and
shrinks them to grayscale, and the top rows, where the score, the timer and the energy
bars are, are cut off as the notebook did) are played through an ``EnvPool``. The agent
observes one frame per tick and keeps the last four in a ``WindowAugmentation``; three
strided convolutions and a dense layer read the window, an LSTM reads the dense layer, and
the policy logits and the state value are read from both. Every 25 ticks the sessions just
played are replayed with today's weights (the memory starts from what preceded them and
restarts at zeros with each episode, the recorded actions forced) and one Adam step follows
the notebook's loss: the A2C actor and critic losses with references up to the session's
end (``n_steps=None``), rewards divided by 100, an entropy bonus and a penalty on large
logits, the gradient clipped at norm 10.

The default settings are the notebook's recipe (50,000 iterations of 10 games x 25 ticks,
12.5M agent steps, 50M frames) and are meant for a GPU: hours there, more than a day on a CPU,
where its test runs a few dozen steps::

    pip install 'agentnet-torch[atari]'
    agentnet train atari_kungfu_a2c --out runs/kungfu  # then: agentnet evaluate runs/kungfu
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import gymnasium
import numpy as np
import torch
import torch.nn.functional as F

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.driving import EnvPool
from agentnet.driving.evaluation import evaluate
from agentnet.environment import EpisodeTracker, SessionBatchEnvironment
from agentnet.environment.atari import make_atari
from agentnet.examples import make_config
from agentnet.learning import a2c, generic
from agentnet.memory import GRUCell, LSTMCell, WindowAugmentation
from agentnet.resolver import ProbabilisticResolver
from agentnet.utils import RunDirectory

#: the side of the square frame make_atari shrinks the screen to
SCREEN = 84


@dataclass
class Config:
    game: str = "KungFuMaster"
    """the ALE game (its ROM ships with ale-py)"""
    total_steps: int = 12_500_000
    """agent steps to train for, all games together (4 emulator frames each); the default is
    the notebook's 50,000 iterations"""
    n_envs: int = 10
    """games played at once"""
    session_length: int = 25
    """ticks played between two updates (each update replays them, backpropagating through
    the memory)"""
    crop_top: int = 20
    """rows cut from the top of the 84x84 frame (the score, timer and energy bars: the
    notebook's 50 of the screen's 210 rows), leaving frames of 64x84"""
    frames: int = 4
    """frames the agent's window memory holds"""
    dense: int = 512
    """units of the dense layer on the convolutions"""
    memory: str = "lstm"
    """the recurrent memory on the dense layer: "lstm" (the notebook's) or "gru" """
    memory_units: int = 256
    """units of that memory"""
    dropout: float = 0.1
    """dropout before the dense layer (off in evaluation)"""
    n_steps: int | None = None
    """the n of the critic's references and the actor's advantages (None: up to the
    session's end, as the notebook's)"""
    gamma: float = 0.99
    """discount"""
    reward_scale: float = 0.01
    """the rewards are multiplied by this (Kung-Fu's come in hundreds)"""
    actor_weight: float = 0.1
    """weight of the policy-gradient loss ..."""
    value_weight: float = 0.25
    """... of the critic's squared error ..."""
    entropy_weight: float = 1e-3
    """... of the entropy bonus ..."""
    logits_weight: float = 1e-3
    """... and of the mean squared logits (keeps them from growing without end)"""
    learning_rate: float = 1e-4
    """Adam's step size"""
    max_grad_norm: float = 10.0
    """clip the gradient's global norm to this"""
    seed: int = 0
    """seeds torch and the games"""
    eval_episodes: int = 10
    """greedy games played after training"""
    eval_max_steps: int | None = None
    """cut evaluation games after this many steps (None: ALE's own limit, 27k steps)"""
    save_every: int = 250_000
    """agent steps between checkpoints (with ``out_dir``; also every 2 minutes)"""
    device: str = "auto"
    """where the agent lives: "auto" (CUDA if present), "cpu", "cuda"..."""


def make_gymnasium_env(config: Config | None = None) -> gymnasium.Env:
    """One preprocessed game: uint8 frames ``[84 - crop_top, 84]``, the game's actions."""
    config = config or Config()
    env = make_atari(config.game, screen_size=SCREEN)
    space = gymnasium.spaces.Box(0, 255, (SCREEN - config.crop_top, SCREEN), np.uint8)
    return gymnasium.wrappers.TransformObservation(
        env, functools.partial(_crop, rows=config.crop_top), space)


def _crop(frame: np.ndarray, rows: int) -> np.ndarray:
    return frame[rows:]


def build_agent(config: Config) -> agentnet.Agent:
    """The notebook's network: a window of frames, three strided ELU convolutions, a tanh
    dense layer and a recurrent memory; logits and a value read from the dense layer and
    the memory; actions sampled from the softmax of the logits."""
    if config.memory not in ("lstm", "gru"):
        raise ValueError(f"{__name__}: memory must be 'lstm' or 'gru', "
                         f"got {config.memory!r}")
    probe = make_gymnasium_env(config)
    action_space, frame_shape = probe.action_space, probe.observation_space.shape
    assert isinstance(action_space, gymnasium.spaces.Discrete) and frame_shape  # the game's
    probe.close()
    frame = L.InputLayer((None, *frame_shape), dtype=torch.uint8, name="frame")
    prev_window = L.InputLayer((None, config.frames, *frame_shape), dtype=torch.uint8,
                               name="prev_window")
    window = WindowAugmentation(frame, prev_window, name="window")
    agent_states: dict[L.Layer, L.Layer] = {window: prev_window}
    x: L.Layer = L.LambdaLayer(window, lambda frames: frames.float() / 255, name="scaled")
    for i, channels in enumerate((32, 32, 64)):
        x = L.Conv2DLayer(x, channels, 5, stride=2, nonlinearity=F.elu, name=f"conv{i}")
    x = L.DropoutLayer(L.FlattenLayer(x, name="flat"), config.dropout, name="dropout")
    dense = L.DenseLayer(x, config.dense, nonlinearity=torch.tanh, name="dense")
    memory: L.Layer
    if config.memory == "lstm":
        prev_cell = L.InputLayer((None, config.memory_units), name="prev_cell")
        prev_out = L.InputLayer((None, config.memory_units), name="prev_out")
        # torch's LSTM (fused), not the original's default peephole LSTM
        cell, memory = LSTMCell(prev_cell, prev_out, dense, peepholes=False, name="lstm")
        agent_states.update({cell: prev_cell, memory: prev_out})
    else:
        prev_gru = L.InputLayer((None, config.memory_units), name="prev_gru")
        memory = GRUCell(prev_gru, dense, name="gru")
        agent_states[memory] = prev_gru
    features = L.ConcatLayer([dense, memory], name="features")
    logits = L.DenseLayer(features, action_space.n, nonlinearity=None, name="logits")
    value = L.DenseLayer(features, 1, nonlinearity=None, name="value")
    policy = L.NonlinearityLayer(logits, lambda z: torch.softmax(z, -1), name="policy")
    return agentnet.Agent(frame, agent_states, policy_estimators=[logits, value],
                          action_layers=ProbabilisticResolver(policy, name="sampler"))


def a2c_loss(sessions: agentnet.Sessions, config: Config) -> torch.Tensor:
    """The notebook's loss of replayed sessions whose policy is ``[logits, values]``: the
    weighted A2C actor and critic losses (rewards scaled), minus the weighted entropy, plus
    the weighted mean squared logits; the mean over alive ticks, a scalar."""
    logits, values = sessions.policy
    log_policy = torch.log_softmax(logits, dim=-1)
    actor, critic = a2c.get_elementwise_objective(
        log_policy, values, sessions.actions, sessions.rewards * config.reward_scale,
        sessions.is_alive, n_steps=config.n_steps, gamma_or_gammas=config.gamma,
        is_truncated=sessions.is_truncated, treat_policy_as_logpolicy=True,
        return_separate=True)
    elementwise = (config.actor_weight * actor + config.value_weight * critic
                   - config.entropy_weight * generic.get_policy_entropy(log_policy)
                   + config.logits_weight * logits.pow(2).mean(dim=-1))
    return generic.masked_mean(elementwise, sessions.is_alive)


def replayable(played: agentnet.Sessions) -> SessionBatchEnvironment:
    """Sessions a pool just played, as a batch to replay with gradients (from the memory
    that preceded them; truncations kept)."""
    return SessionBatchEnvironment(played.observation_list, played.action_list, played.rewards,
                                   played.is_alive, played.is_truncated,
                                   played.initial_agent_states)


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False, **overrides) -> dict:
    """Train, evaluate greedily, and return ``{"eval_mean_return", "log", "agent",
    "updates"}`` (the arguments: :mod:`agentnet.examples`).

    With ``out_dir`` the run keeps its settings, curves, plot and the agent there (for
    ``agentnet evaluate``); it cannot be resumed (the games' states are not saved).
    """
    config = make_config(Config, total_steps, overrides)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite, resumable=False)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" \
        else config.device
    torch.manual_seed(config.seed)
    agent = build_agent(config).to(device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate)
    make_env = functools.partial(make_gymnasium_env, config)
    episodes, log = EpisodeTracker(), TrainingLog(config.total_steps, verbose=verbose)
    step, updates = 0, 0
    with EnvPool(agent, make_env, n_envs=config.n_envs, seed=config.seed) as envs, run:
        while step < config.total_steps:
            # --- play: every game goes on for session_length ticks, memory carried over ---
            played = envs.interact(config.session_length)
            # --- learn: replay them with gradients, one actor-critic step ---
            sessions = agent.get_sessions(replayable(played), experience_replay=True)
            loss = a2c_loss(sessions, config)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
            optimizer.step()
            updates += 1
            # --- bookkeeping ---
            step += played.rewards.numel()
            finished = episodes.update(played.rewards, played.is_alive)
            log.record(step, finished.returns, loss=loss.item())
            if run.due(step, config.save_every):
                run.save(step, agent, optimizer, log)
    # greedy, dropout off: as `agentnet evaluate` plays it
    evaluation = evaluate(agent, make_env, None, config.n_envs, {"deterministic": True},
                          config.eval_episodes, max_steps=config.eval_max_steps,
                          seed=config.seed + 1)
    log.finish(evaluation.returns, what=f"greedy evaluation on Gymnasium {config.game}")
    return {"eval_mean_return": evaluation.returns.mean().item(), "log": log, "agent": agent,
            "updates": updates}


if __name__ == "__main__":
    main()
