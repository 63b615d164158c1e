"""The original AgentNet's calls and unpackings of the agent's results work as they did."""
import warnings

import numpy as np
import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.agent import Recurrence
from agentnet.environment import SessionBatchEnvironment
from agentnet.memory import GRUCell, RNNCell
from agentnet.resolver import EpsilonGreedyResolver, GreedyResolver
from agentnet.target_network import TargetNetwork


def two_memory_agent() -> tuple[Agent, GRUCell, GRUCell]:
    obs = L.InputLayer((None, 4), name="observation")
    p0, p1 = L.InputLayer((None, 3), name="p0"), L.InputLayer((None, 5), name="p1")
    g0, g1 = GRUCell(p0, obs, name="g0"), GRUCell(p1, obs, name="g1")
    q = L.DenseLayer(g0, 2, nonlinearity=None, name="q")
    return Agent(obs, {g0: p0, g1: p1}, q, GreedyResolver(q)), g0, g1

def test_react_takes_memories_positionally_and_unpacks_as_actions_then_memories():
    agent, g0, g1 = two_memory_agent()
    react = agent.get_react_function()
    observation = np.random.randn(2, 4)
    mem0, mem1 = np.random.randn(2, 3), np.random.randn(2, 5)
    action, new_mem0, new_mem1 = react(observation, mem0, mem1)
    reaction = react(observation, [mem0, mem1])             # agentnet's call, the same tick
    np.testing.assert_array_equal(action, reaction.actions)
    np.testing.assert_allclose(new_mem0, reaction.new_states[0])
    np.testing.assert_allclose(new_mem1, reaction.new_states[1])
    assert len(reaction) == 3 and reaction[0] is reaction.actions
    assert reaction.policy.shape == (2, 2)                    # by name: not among the three
    with pytest.raises(TypeError, match="got 2 positional inputs"):
        react(observation, mem0)

def test_react_of_an_agent_without_memory_unpacks_to_one_action():
    obs = L.InputLayer((None, 4), name="observation")
    q = L.DenseLayer(obs, 2, nonlinearity=None, name="q")
    react = Agent(obs, None, q, GreedyResolver(q)).get_react_function()
    action, = react(np.zeros((3, 4)))
    assert action.shape == (3,)

def test_get_agent_reaction_unpacks_as_the_originals_three_lists():
    agent, g0, _ = two_memory_agent()
    actions, new_states, outputs = agent.get_agent_reaction(None, torch.randn(2, 4))
    assert len(actions) == 1 and len(new_states) == 2
    assert len(outputs) == 2 and outputs[1] is actions[0]    # the policy, then the actions

def test_sessions_unpack_as_the_originals_five():
    agent, g0, _ = two_memory_agent()
    batch = SessionBatchEnvironment(torch.randn(3, 5, 4), torch.randint(2, (3, 5)),
                                    torch.zeros(3, 5))
    sessions = agent.get_sessions(batch, experience_replay=True)
    env_states, observations, agent_states, actions, policy = sessions
    assert env_states is sessions.env_states and observations is sessions.observations
    assert agent_states[g0].shape == (3, 5, 3) and actions is sessions.actions
    assert policy is sessions.policy

def test_epsilon_defaults_to_the_originals_tenth():
    q = L.InputLayer((None, 2))
    assert EpsilonGreedyResolver(q).epsilon.get_value() == pytest.approx(0.1)

def test_zeros_like_memory_defaults_to_one_session_and_agent_states_is_the_dict():
    agent, g0, g1 = two_memory_agent()
    assert [m.shape for m in agent.get_zeros_like_memory()] == [(1, 3), (1, 5)]
    assert agent.agent_states == {g0: g0.input_layers[0], g1: g1.input_layers[0]}
    assert list(agent.agent_states) == [g0, g1]

def test_target_network_takes_the_originals_name():
    obs = L.InputLayer((None, 4))
    q = L.DenseLayer(obs, 2, name="q")
    target = TargetNetwork(q, name="target_nn.")
    assert target.output_layers.name == "target_nn.q" and target.name == "target_nn."
    with pytest.raises(TypeError, match="both name and name_prefix"):
        TargetNetwork(q, name_prefix="a.", name="b.")

def rnn_recurrence(**options):
    sequence = L.InputLayer((None, None, 2), name="sequence")
    inp, prev = L.InputLayer((None, 2)), L.InputLayer((None, 3))
    rnn = RNNCell(prev, inp, name="rnn")
    out = L.DenseLayer(rnn, 4, name="out")
    rec = Recurrence(input_sequences={inp: sequence}, state_variables={rnn: prev},
                     tracked_outputs=[out], **options)
    return rec, sequence, rnn, out

def test_unroll_scan_is_accepted_with_one_warning():
    with pytest.warns(UserWarning, match="unroll_scan is ignored") as caught:
        rnn_recurrence(unroll_scan=False)
    assert len(caught) == 1

def test_mask_input_keeps_states_and_outputs_where_the_mask_is_off():
    mask_layer = L.InputLayer((None, None), name="mask")
    rec, sequence, rnn, out = rnn_recurrence(mask_input=mask_layer)
    x = torch.randn(2, 4, 2)
    mask = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 1]], dtype=torch.float32)
    h, o = L.get_output(rec[rnn, out], {sequence: x, mask_layer: mask})
    assert torch.equal(h[0, 2], h[0, 1]) and torch.equal(h[0, 3], h[0, 1])
    assert torch.equal(h[1, 0], torch.zeros(3)) and torch.equal(o[1, 0], torch.zeros(4))
    assert not torch.equal(h[1, 2], h[1, 1])
    # a masked row is the unmasked recurrence over its visible ticks
    h_visible = L.get_output(rec[rnn], {sequence: x[:1, :2],
                                         mask_layer: torch.ones(1, 2)})
    torch.testing.assert_close(h[0, :2], h_visible[0])

def test_recurrence_flags_reach_the_inside_without_a_spurious_warning():
    rec, sequence, rnn, out = rnn_recurrence()
    drop = L.DropoutLayer(rnn, p=0.5)
    rec2 = Recurrence(input_sequences={rec.sequence_inputs[0]: sequence},
                      state_variables={rnn: rnn.input_layers[0]}, tracked_outputs=[drop])
    x = torch.randn(3, 4, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        deterministic = L.get_output(rec2[drop], {sequence: x},
                                     recurrence_flags={"deterministic": True})
    torch.testing.assert_close(deterministic, L.get_output(rec2[rnn], {sequence: x}))
    assert "recurrence_flags" in rec2.accepted_flags
