"""A convolutional agent collects Breakout sessions through EnvPool (skipped without ale-py)."""
from __future__ import annotations

import functools

import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.driving import EnvPool
from agentnet.environment import SessionPoolEnvironment
from agentnet.learning import qlearning
from agentnet.memory import WindowAugmentation
from agentnet.resolver import EpsilonGreedyResolver

pytest.importorskip("ale_py")
pytest.importorskip("cv2")  # Gymnasium's AtariPreprocessing resizes with OpenCV

from agentnet.environment.atari import make_atari  # noqa: E402


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Batches of two frames gain nothing from intra-op threads, and on a busy machine
    the threads' contention makes each tick many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def conv_qvalues(frames: L.Layer, n_actions: int = 4) -> L.Layer:
    """uint8 frames [B, k, 84, 84] to Q-values [B, n_actions], cast to float inside the graph."""
    x = L.LambdaLayer(frames, lambda f: f.float() / 255, name="scaled")
    x = L.Conv2DLayer(x, 8, 8, stride=4, name="conv1")
    x = L.Conv2DLayer(x, 16, 4, stride=2, name="conv2")
    x = L.DenseLayer(L.FlattenLayer(x, name="flat"), 32, name="dense")
    return L.DenseLayer(x, n_actions, nonlinearity=None, name="q")


def check_replay_and_learning(agent, store, live, q):
    replay = agent.get_sessions(store, experience_replay=True)
    torch.testing.assert_close(replay.policy, live.policy)
    loss = qlearning.get_elementwise_objective(replay.policy, replay.actions, replay.rewards,
                                               replay.is_alive, is_truncated=replay.is_truncated,
                                               n_steps=3).mean()
    loss.backward()
    assert q.weight.grad is not None and torch.isfinite(q.weight.grad).all()
    return replay


def test_a_conv_agent_collects_breakout_with_gymnasium_frame_stacking():
    torch.manual_seed(0)
    frames = L.InputLayer((None, 4, 84, 84), dtype=torch.uint8, name="frames")
    q = conv_qvalues(frames)
    agent = Agent(frames, policy_estimators=q, action_layers=EpsilonGreedyResolver(q, 0.5))
    store = SessionPoolEnvironment(capacity=2, session_length=50, agent=agent)
    factory = functools.partial(make_atari, "Breakout", frame_stack=4)
    with EnvPool(agent, factory, n_envs=2, seed=0) as pool:
        for _ in range(3):
            live = pool.update(50, store)
        stats = pool.evaluate(1, max_steps=30, seed=0)
    assert live.observations.shape == (2, 50, 4, 84, 84)
    assert live.observations.dtype == torch.uint8 and live.observations.float().mean() > 1
    # the stack slides: frame k of tick t is frame k+1 of tick t+1 within an episode
    alive = live.is_alive[:, :-1] & live.is_alive[:, 1:]
    assert torch.equal(live.observations[:, :-1, 1:][alive], live.observations[:, 1:, :-1][alive])
    assert len(store) == 2 and pool.ticks == 150 and pool.restarts == 0
    assert stats.lengths.tolist() == [30.0]
    check_replay_and_learning(agent, store, live, q)


def test_a_window_memory_stacks_frames_instead_and_restarts_with_episodes():
    torch.manual_seed(0)
    frame = L.InputLayer((None, 84, 84), dtype=torch.uint8, name="frame")
    prev_window = L.InputLayer((None, 4, 84, 84), dtype=torch.uint8, name="prev_window")
    window = WindowAugmentation(frame, prev_window, name="window")
    q = conv_qvalues(window)
    agent = Agent(frame, {window: prev_window}, q, EpsilonGreedyResolver(q, 0.5))
    store = SessionPoolEnvironment(capacity=2, session_length=50, agent=agent)
    factory = functools.partial(make_atari, "Breakout", terminal_on_life_loss=True)
    with EnvPool(agent, factory, n_envs=2, seed=0) as pool:
        collected = [pool.update(50, store) for _ in range(3)]
    assert not collected[0].agent_states[window][:, 0, 1:].any()    # zeros before the start
    live = collected[-1]
    memory = live.agent_states[window]
    assert memory.shape == (2, 50, 4, 84, 84) and memory.dtype == torch.uint8
    assert torch.equal(memory[:, :, 0], live.observations)          # newest frame first
    first = live.is_alive & ~torch.cat([live.is_alive[:, :1], live.is_alive[:, :-1]], 1)
    assert first.any() and not memory[first][:, 1:].any()  # restarted at episode starts
    replay = check_replay_and_learning(agent, store, live, q)
    assert torch.equal(replay.agent_states[window], memory)
