import numpy as np
import pytest
import torch
from toy_env import Stairs

from agentnet import Agent, MDPAgent
from agentnet import layers as L
from agentnet.environment import CartPole
from agentnet.memory import GRUCell, LSTMCell
from agentnet.resolver import EpsilonGreedyResolver, GreedyResolver


def climb_if_positive(obs):
    """Q-values [B, 2] preferring action 1 (climb) exactly when the height is positive."""
    return L.LambdaLayer(obs, lambda o: torch.cat([-o, o], dim=1), name="q")


def stairs_agent(n_memories=0, two_observations=False):
    obs = L.InputLayer((None, 1), name="height")
    observations = [obs, L.InputLayer((None, 2), name="both")] if two_observations else obs
    q = climb_if_positive(obs)
    states = {}
    if n_memories >= 1:  # counts ticks
        prev_count = L.InputLayer((None, 1), name="prev_count")
        states[L.LambdaLayer(prev_count, lambda c: c + 1, name="count")] = prev_count
    if n_memories >= 2:  # remembers what it saw last: the sum of heights seen so far
        prev_sum = L.InputLayer((None, 1), name="prev_sum")
        states[L.ElemwiseSumLayer([prev_sum, obs], name="sum")] = prev_sum
    return Agent(observations, agent_states=states, policy_estimators=q,
                 action_layers=GreedyResolver(q, name="greedy"))


@pytest.mark.parametrize("n_memories", [0, 1, 2])
@pytest.mark.parametrize("two_observations", [False, True])
def test_sessions_follow_the_time_alignment_contract(n_memories, two_observations):
    agent = stairs_agent(n_memories, two_observations)
    env = Stairs(top=5.0, two_observations=two_observations)
    s = agent.get_sessions(env, session_length=6, batch_size=3)

    start = torch.arange(3.0)[:, None]
    t = torch.arange(6.0)[None, :]
    climbing = (start > 0).float()
    expected_height = start + climbing * t                       # [3, 6]
    height = s.observations[0] if two_observations else s.observations
    assert height.shape == (3, 6, 1)
    torch.testing.assert_close(height[..., 0], expected_height)
    torch.testing.assert_close(s.env_states[0], expected_height)
    torch.testing.assert_close(s.actions, climbing.long().expand(3, 6))
    torch.testing.assert_close(s.rewards, climbing.expand(3, 6))  # action t earned reward t
    torch.testing.assert_close(s.policy[..., 1], expected_height)
    assert torch.equal(s.is_alive, expected_height < 5)
    if two_observations:
        torch.testing.assert_close(s.observations[1][..., 1], 2 * expected_height)
    assert len(s.agent_states) == n_memories
    memories = list(s.agent_states.values())
    if n_memories >= 1:  # memory after tick t, starting from zeros: t + 1
        torch.testing.assert_close(memories[0][..., 0], (t + 1).expand(3, 6))
    if n_memories >= 2:  # sum of heights up to and including tick t
        torch.testing.assert_close(memories[1][..., 0], expected_height.cumsum(1))


def test_initial_states_and_hidden_are_used():
    agent = stairs_agent(n_memories=1)
    env = Stairs(top=100)
    s = agent.get_sessions(env, 3, initial_env_states=[torch.tensor([7.0])],
                           initial_observations=[torch.tensor([[7.0]])],
                           initial_hidden=[torch.tensor([[10.0]])])
    torch.testing.assert_close(s.env_states[0], torch.tensor([[7.0, 8.0, 9.0]]))
    torch.testing.assert_close(s.agent_states[agent.state_layers[0]][0, :, 0],
                               torch.tensor([11.0, 12.0, 13.0]))
    with pytest.raises(ValueError, match="together"):
        agent.get_sessions(env, 3, initial_env_states=[torch.tensor([7.0])])


def gru_agent(n_hidden=16, epsilon=0.0):
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, n_hidden), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, num_units=2, nonlinearity=None, name="q")
    resolver = EpsilonGreedyResolver(q, epsilon=epsilon, name="resolver")
    return Agent(obs, agent_states={gru: prev}, policy_estimators=q, action_layers=resolver)


def test_gradients_flow_from_session_loss_into_every_parameter():
    torch.manual_seed(0)
    agent = gru_agent()
    s = agent.get_sessions(CartPole(batch_size=8), session_length=20)
    loss = (s.policy.pow(2) * s.is_alive[..., None]).mean()
    loss.backward()
    for name, param in agent.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_lstm_agent_with_two_memories_carries_both():
    obs = L.InputLayer((None, 4), name="observation")
    prev_cell = L.InputLayer((None, 8), name="prev_cell")
    prev_out = L.InputLayer((None, 8), name="prev_out")
    cell, out = LSTMCell(prev_cell, prev_out, obs, name="lstm")
    q = L.DenseLayer(out, 2, nonlinearity=None, name="q")
    agent = Agent(obs, {cell: prev_cell, out: prev_out}, q, GreedyResolver(q))
    s = agent.get_sessions(CartPole(batch_size=4), session_length=5)
    assert s.agent_states[cell].shape == s.agent_states[out].shape == (4, 5, 8)
    # memory at tick t is what the cell computes from tick t-1's memory and observation t
    reaction = agent.get_agent_reaction(
        [s.agent_states[cell][:, 2], s.agent_states[out][:, 2]], s.observations[:, 3])
    torch.testing.assert_close(reaction.new_states[0], s.agent_states[cell][:, 3])
    torch.testing.assert_close(reaction.new_states[1], s.agent_states[out][:, 3])
    torch.testing.assert_close(reaction.policy, s.policy[:, 3])


def test_react_function_matches_get_agent_reaction():
    torch.manual_seed(1)
    agent = gru_agent()
    observations = torch.randn(5, 4)
    memory = [torch.randn(5, 16)]
    expected = agent.get_agent_reaction(memory, observations)
    react = agent.get_react_function()
    got = react(observations, memory)
    assert torch.equal(got.actions, expected.actions)
    torch.testing.assert_close(got.new_states[0], expected.new_states[0])
    assert not got.new_states[0].requires_grad and expected.new_states[0].requires_grad

    got_numpy = react(observations.numpy().astype(np.float64), [memory[0].numpy()])
    assert isinstance(got_numpy.actions, np.ndarray) and got_numpy.actions.dtype == np.int64
    np.testing.assert_allclose(got_numpy.new_states[0], expected.new_states[0].detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    zeros = react(observations)  # no memory given: zeros
    torch.testing.assert_close(
        zeros.new_states[0], agent.get_agent_reaction(None, observations).new_states[0])


def test_react_function_flags_apply():
    agent = gru_agent(epsilon=1.0)
    react = agent.get_react_function(greedy=True)
    observations = torch.randn(64, 4)
    greedy = agent.get_agent_reaction(None, observations).policy.argmax(-1)
    assert torch.equal(react(observations).actions, greedy)


def test_agent_is_a_module_with_named_state():
    agent = gru_agent()
    assert isinstance(agent, torch.nn.Module) and MDPAgent is Agent
    keys = set(agent.state_dict())
    assert {"layers.gru.weight_ih", "layers.q.weight", "layers.resolver.epsilon.value"} <= keys
    assert agent.get_all_params() == list(dict.fromkeys(agent.get_all_params()))
    assert {id(p) for p in agent.get_all_params()} == {id(p) for p in agent.parameters()}


def test_param_values_round_trip():
    agent = gru_agent()
    saved = agent.get_all_param_values()
    with torch.no_grad():
        for p in agent.parameters():
            p.add_(1.0)
    assert not torch.equal(agent.get_all_params()[0], saved[0])
    agent.set_all_param_values(saved)
    for p, v in zip(agent.get_all_params(), saved):
        assert torch.equal(p, v)
    with pytest.raises(ValueError, match="shape"):
        agent.set_all_param_values([v.T if v.dim() == 2 else v for v in saved])


def test_to_moves_everything_and_rollout_stays_on_device():
    # the meta device fails on any tensor made elsewhere: a rollout there proves nothing
    # inside get_sessions silently lives on the CPU
    agent = gru_agent(epsilon=0.5).to("meta")
    assert all(t.device.type == "meta" for t in (*agent.parameters(), *agent.buffers()))
    s = agent.get_sessions(CartPole(batch_size=4), session_length=3)
    for tensor in (s.observations, s.actions, s.policy, s.rewards, s.is_alive,
                   *s.env_states, *s.agent_states.values()):
        assert tensor.device.type == "meta"
    moved = stairs_agent().get_sessions(Stairs(), 2).to("meta")
    assert moved.actions.device.type == moved.env_states[0].device.type == "meta"


def test_epsilon_changes_at_run_time_and_is_saved():
    agent = gru_agent(epsilon=0.0)
    resolver = agent.action_layers[0]
    resolver.epsilon.set_value(0.25)
    assert agent.state_dict()["layers.resolver.epsilon.value"] == 0.25
    other = gru_agent(epsilon=0.0)
    other.load_state_dict(agent.state_dict())
    assert other.action_layers[0].epsilon.get_value() == 0.25


def test_seeded_sessions_are_reproducible():
    def run():
        torch.manual_seed(123)
        agent = gru_agent(epsilon=0.3)
        return agent.get_sessions(CartPole(batch_size=16), session_length=30)

    a, b = run(), run()
    assert torch.equal(a.actions, b.actions) and torch.equal(a.observations, b.observations)


def test_construction_errors_name_the_layers():
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 8), name="prev_h")
    h = L.DenseLayer(obs, 6, name="h6")
    q = L.DenseLayer(obs, 2, name="q")
    act = GreedyResolver(q)
    with pytest.raises(ValueError, match=r"'h6'.*\(None, 6\).*'prev_h'.*\(None, 8\)"):
        Agent(obs, {h: prev}, q, act)
    with pytest.raises(TypeError, match="'q' must be an InputLayer, got DenseLayer 'h6'"):
        Agent(obs, {q: h}, q, act)
    forgotten = L.InputLayer((None, 3), name="forgotten")
    q2 = L.DenseLayer(L.ConcatLayer([obs, forgotten]), 2, name="q2")
    with pytest.raises(ValueError, match="'forgotten'"):
        Agent(obs, None, q2, GreedyResolver(q2))
    with pytest.raises(ValueError, match="action layer"):
        Agent(obs, None, q, [])


def test_environment_mismatch_is_reported_before_the_rollout():
    obs = L.InputLayer((None, 3), name="observation")
    q = L.DenseLayer(obs, 2, name="q")
    agent = Agent(obs, None, q, GreedyResolver(q))
    with pytest.raises(ValueError, match=r"\(None, 4\).*'observation' expects \(None, 3\)"):
        agent.get_sessions(CartPole(), 5)
