"""Experience replay: recorded sessions re-run with today's weights."""
import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.environment import CartPole, SessionBatchEnvironment, SessionPoolEnvironment
from agentnet.memory import GRUCell
from agentnet.resolver import EpsilonGreedyResolver


def gru_agent(epsilon=0.0):
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 8), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    return Agent(obs, {gru: prev}, q, EpsilonGreedyResolver(q, epsilon=epsilon, name="eps"))


def recorded(agent, batch=6, length=12, chunks=2, autoreset=True, max_steps=500):
    """Live sessions (continuing chunks) and a pool holding them."""
    env = CartPole(batch_size=batch, seed=0, autoreset=autoreset, max_steps=max_steps)
    pool = SessionPoolEnvironment(capacity=batch * chunks, session_length=length, agent=agent)
    live, sessions = [], None
    for _ in range(chunks):
        sessions = agent.get_sessions(env, length, continue_from=sessions)
        pool.append_sessions(sessions)
        live.append(sessions)
    return live, pool


def test_replay_equals_live_sessions_when_weights_have_not_changed():
    torch.manual_seed(0)
    agent = gru_agent(epsilon=0.5)                     # random actions: forced on replay
    live, pool = recorded(agent, max_steps=7)          # time limits: restarts inside rows
    assert (~live[1].is_alive).any()
    gru = agent.state_layers[0]
    for chunk, sessions in enumerate(live):
        batch = pool.select_session_batch(torch.arange(6 * chunk, 6 * chunk + 6))
        replayed = agent.get_sessions(batch, experience_replay=True)
        for field in ("actions", "observations", "rewards", "is_alive", "is_truncated"):
            assert torch.equal(getattr(replayed, field), getattr(sessions, field)), field
        # the memory runs tick by tick with the same batch size: the same kernels, bit for
        # bit; the rest of the graph runs once on all the ticks: equal to rounding
        assert torch.equal(replayed.agent_states[gru], sessions.agent_states[gru])
        torch.testing.assert_close(replayed.policy, sessions.policy)
    whole = agent.get_sessions(pool, experience_replay=True)  # all 12 at once: to rounding
    torch.testing.assert_close(whole.policy, torch.cat([s.policy for s in live]))


def test_forced_actions_are_the_recorded_ones_and_reach_the_policy_graph():
    torch.manual_seed(1)
    obs = L.InputLayer((None, 4), name="observation")
    q = L.DenseLayer(obs, 2, nonlinearity=None, name="q")
    resolver = EpsilonGreedyResolver(q, name="eps")
    # a head reading the action: replay must feed it the recorded action, not a new pick
    chosen = L.LambdaLayer([q, resolver], lambda qv, a: qv.gather(1, a[:, None]), name="chosen")
    agent = Agent(obs, None, [q, chosen], resolver)
    batch = SessionBatchEnvironment(torch.randn(3, 5, 4), torch.randint(2, (3, 5)),
                                    torch.zeros(3, 5))
    replayed = agent.get_sessions(batch, experience_replay=True)
    assert torch.equal(replayed.actions, batch.actions[0])
    qvalues, chosen_q = replayed.policy
    expected = qvalues.gather(2, batch.actions[0][..., None])[..., 0]
    torch.testing.assert_close(chosen_q[..., 0], expected)


def test_burn_in_refreshes_memory_without_gradient():
    torch.manual_seed(2)
    agent = gru_agent()
    _, pool = recorded(agent, chunks=1)
    full = agent.get_sessions(pool, experience_replay=True)
    burnt = agent.get_sessions(pool, experience_replay=True, burn_in=4)
    gru = agent.state_layers[0]
    assert burnt.policy.shape[1] == 8 and burnt.rewards.shape == (6, 8)
    torch.testing.assert_close(burnt.agent_states[gru], full.agent_states[gru][:, 4:])
    torch.testing.assert_close(burnt.policy, full.policy[:, 4:])
    assert not burnt.initial_agent_states[0].requires_grad
    # no gradient reaches the burn-in ticks' observations
    observations = pool.observations[0].clone().requires_grad_(True)
    batch = SessionBatchEnvironment(observations, pool.actions, pool.rewards, pool.is_alive,
                                    pool.is_truncated, pool.preceding_memories)
    agent.get_sessions(batch, experience_replay=True, burn_in=4).policy.sum().backward()
    assert observations.grad[:, :4].abs().sum() == 0
    assert observations.grad[:, 4:].abs().sum() > 0
    with pytest.raises(ValueError, match="burn_in"):
        agent.get_sessions(pool, experience_replay=True, burn_in=12)


def test_replay_is_differentiable_and_starts_from_given_memory():
    torch.manual_seed(3)
    agent = gru_agent()
    _, pool = recorded(agent, chunks=1)
    replayed = agent.get_sessions(pool, experience_replay=True,
                                  initial_hidden=agent.get_zeros_like_memory(6))
    replayed.policy.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.parameters())


def test_replay_errors_name_the_mismatch():
    agent = gru_agent()
    bad = SessionBatchEnvironment(torch.zeros(2, 3, 5), torch.zeros(2, 3, dtype=torch.int64),
                                  torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(2, 3, 5\).*'observation' expects"):
        agent.get_sessions(bad, experience_replay=True)
    floats = SessionBatchEnvironment(torch.zeros(2, 3, 4), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="actions are torch.float32"):
        agent.get_sessions(floats, experience_replay=True)
    with pytest.raises(TypeError, match="experience_replay=True"):
        agent.get_sessions(floats, 3)


def mlp_agent(*extra):
    obs = L.InputLayer((None, 4), name="observation")
    hidden = L.DenseLayer(obs, 16, name="hidden")
    for make in extra:
        hidden = make(hidden)
    q = L.DenseLayer(hidden, 2, nonlinearity=None, name="q")
    return Agent(obs, None, q, EpsilonGreedyResolver(q, epsilon=0.5, name="eps"))


def test_a_memoryless_agent_replays_all_ticks_in_one_call(monkeypatch):
    torch.manual_seed(2)
    agent = mlp_agent()
    live, pool = recorded(agent, max_steps=7)
    calls = []
    original = type(agent._plan).__call__
    monkeypatch.setattr(type(agent._plan), "__call__",
                        lambda plan, *args: calls.append(args[0][0].shape) or original(plan,
                                                                                    *args))
    replayed = agent.get_sessions(pool, experience_replay=True, burn_in=3,
                                  additional_outputs=[agent.policy_layers[0]])
    assert calls == [torch.Size([12 * 9, 4])]          # one call over B * (T - burn_in) ticks
    expected = torch.cat([s.policy for s in live])[:, 3:]
    torch.testing.assert_close(replayed.policy, expected)
    torch.testing.assert_close(replayed.additional_outputs[0], expected)
    assert replayed.policy.shape == (12, 9, 2) and replayed.initial_agent_states == []
    for field in ("actions", "observations", "rewards", "is_alive", "is_truncated"):
        assert torch.equal(getattr(replayed, field),
                           torch.cat([getattr(s, field) for s in live])[:, 3:]), field
    replayed.policy.sum().backward()
    assert agent.layers["hidden"].weight.grad is not None


def test_batch_normalization_in_training_replays_tick_by_tick_with_each_ticks_statistics():
    torch.manual_seed(3)
    agent = mlp_agent(lambda h: L.BatchNormLayer(h, name="bn"))
    batch = SessionBatchEnvironment(torch.randn(5, 4, 4), torch.randint(2, (5, 4)),
                                    torch.zeros(5, 4))
    replayed = agent.get_sessions(batch, experience_replay=True)
    for t in range(4):   # each tick normalized over its own 5 rows, as when played live
        expected = L.get_output(agent.policy_layers[0], {agent.observation_layers[0]:
                                                         batch.observations[0][:, t]})
        torch.testing.assert_close(replayed.policy[:, t], expected)
    evaluated = agent.get_sessions(batch, experience_replay=True, deterministic=True)
    whole = L.get_output(agent.policy_layers[0], {agent.observation_layers[0]:
                                                  batch.observations[0].flatten(0, 1)},
                         deterministic=True)
    torch.testing.assert_close(evaluated.policy, whole.view(5, 4, 2))
