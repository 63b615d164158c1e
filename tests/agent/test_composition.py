"""An agent as a layer of a bigger graph (``as_recurrence``, ``as_replay_recurrence``), the
environment step as a layer, ``Recurrence``'s original options and ``get_one_step``, and the
original ``BaseEnvironment`` contract."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from toy_env import Stairs

from agentnet import Agent, Recurrence
from agentnet import layers as L
from agentnet.environment import BaseEnvironment, EnvironmentStepLayer, SessionPoolEnvironment
from agentnet.experiments.boolean_reasoning import BooleanReasoningEnvironment
from agentnet.memory import GRUCell
from agentnet.objective import BaseObjective
from agentnet.resolver import GreedyResolver
from agentnet.utils.layers import ReapplyLayer

pytestmark = pytest.mark.usefixtures("one_thread")


def memory_agent(n_obs=1, hidden=4, n_actions=2, seed=0):
    torch.manual_seed(seed)
    obs = L.InputLayer((None, n_obs), name="obs")
    prev = L.InputLayer((None, hidden), name="prev")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, n_actions, nonlinearity=None, name="q")
    return Agent(obs, {gru: prev}, q, GreedyResolver(q, name="act")), gru


def test_as_recurrence_plays_what_get_sessions_plays():
    env = Stairs(top=100.0)
    agent, gru = memory_agent()
    states, observations = env.reset(3)
    sessions = agent.get_sessions(env, 6, initial_env_states=states,
                                  initial_observations=observations)
    start_state = L.InputLayer((None,), name="start_state")
    start_obs = L.InputLayer((None, 1), name="start_obs")
    rec = agent.as_recurrence(env, session_length=6, initial_env_states=[start_state],
                              initial_observations=[start_obs])
    memories, env_states, seen, policy, actions = L.get_output(
        rec, {start_state: states[0], start_obs: observations[0]})
    assert torch.equal(env_states, sessions.env_states[0])
    assert torch.equal(seen, sessions.observations)
    assert torch.equal(actions, sessions.actions)
    torch.testing.assert_close(memories, sessions.agent_states[gru])
    torch.testing.assert_close(policy, sessions.policy)
    # a layer of a bigger graph: gradients reach the agent's parameters
    L.get_output(rec[agent.policy_layers[0]], {start_state: states[0],
                                               start_obs: observations[0]}).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.parameters())


def test_as_recurrence_starts_from_zeros_and_delays_the_environment():
    env = Stairs(top=100.0)
    agent, _ = memory_agent()
    rec = agent.as_recurrence(env, session_length=4, batch_size=2)
    _, env_states, seen, _, actions = L.get_output(rec)
    assert torch.equal(env_states[:, 0], torch.zeros(2)) and torch.equal(seen[:, 0],
                                                                         torch.zeros(2, 1))
    # tick t holds what the agent saw at t: the height after the actions before it
    assert torch.equal(env_states[:, 1:], actions[:, :-1].float().cumsum(1))
    with pytest.raises(ValueError, match="batch_size"):
        L.get_output(agent.as_recurrence(env, session_length=4))
    with pytest.raises(TypeError, match="must be a layer"):
        agent.as_recurrence(env, initial_env_states=[torch.zeros(2)])
    with pytest.raises(ValueError, match="initial_hidden lists 2 initial values for 1 states"):
        agent.as_recurrence(env, initial_hidden=[None, None])


def test_as_replay_recurrence_replays_what_get_sessions_replays():
    agent, gru = memory_agent()
    sessions = agent.get_sessions(Stairs(top=3.0), 5, batch_size=4)
    pool = SessionPoolEnvironment(capacity=4, session_length=5, agent=agent)
    pool.append_sessions(sessions)
    replayed = agent.get_sessions(pool, experience_replay=True)
    rec = agent.as_replay_recurrence(pool, session_length=5)
    memories, policy, actions = L.get_output(rec)
    assert torch.equal(actions, sessions.actions)
    torch.testing.assert_close(policy, replayed.policy)
    torch.testing.assert_close(memories, replayed.agent_states[gru])
    # the first ticks only; more than are recorded is an error naming the length
    assert L.get_output(agent.as_replay_recurrence(pool, session_length=3))[2].shape == (4, 3)
    with pytest.raises(ValueError, match="session_length=9"):
        agent.as_replay_recurrence(pool, session_length=9)
    with pytest.raises(ValueError, match="no recorded observations"):
        agent.as_replay_recurrence(Stairs())


def test_get_one_step_is_one_tick_of_the_recurrence():
    x_t = L.InputLayer((None, 3), name="x_t")
    bias = L.InputLayer((None, 3), name="bias")
    h_prev = L.InputLayer((None, 5), name="h_prev")
    h = GRUCell(h_prev, L.ElemwiseSumLayer([x_t, bias]), name="h")
    out = L.DenseLayer(h, 2, name="out")
    xs, b = L.InputLayer((None, 4, 3), name="xs"), L.InputLayer((None, 3), name="b")
    rec = Recurrence({bias: b}, {x_t: xs}, [out], {h: h_prev})  # the original's positions
    x, b_value = torch.randn(2, 4, 3), torch.randn(2, 3)
    states, outputs = L.get_output(rec, {xs: x, b: b_value})
    new_states, new_outputs = rec.get_one_step([torch.zeros(2, 5)], [b_value, x[:, 0]])
    torch.testing.assert_close(new_states[0], states[:, 0])
    torch.testing.assert_close(new_outputs[0], outputs[:, 0])
    by_name = rec.get_one_step({h: states[:, 0]}, {x_t: x[:, 1], bias: b_value})
    torch.testing.assert_close(by_name[0][0], states[:, 1])
    with pytest.raises(ValueError, match="current_inputs gives 1 values for 2 layers"):
        rec.get_one_step([torch.zeros(2, 5)], [b_value])
    with pytest.raises(ValueError, match="missing"):
        rec.get_one_step({}, [b_value, x[:, 0]])


def test_delayed_states_state_init_list_and_force_cast_types():
    prev = L.InputLayer((None,), torch.int64, name="prev")
    counter = L.LambdaLayer(prev, lambda p: p + 1.5, name="counter")   # float from int
    start = L.InputLayer((None,), torch.int64, name="start")
    rec = Recurrence(state_variables={counter: prev}, state_init=[start], n_steps=3,
                     delayed_states=[counter], force_cast_types=True)
    (values,) = L.get_output(rec, {start: torch.tensor([10, 20])})
    assert values.dtype == torch.int64
    assert values.tolist() == [[10, 11, 12], [20, 21, 22]]   # delayed: starts at the init
    with pytest.raises(ValueError, match="delayed_states must be keys"):
        Recurrence(state_variables={counter: prev}, n_steps=3, batch_size=1,
                   delayed_states=[start])
    with pytest.raises(ValueError, match="2 initial values for 1"):
        Recurrence(state_variables={counter: prev}, state_init=[start, start], n_steps=3)


def test_environment_step_layer_checks_its_inputs():
    env = Stairs()
    step = EnvironmentStepLayer(env, name="stairs")
    assert step.output_shape == ((None,), (None, 1)) and step.describe() == \
        "EnvironmentStepLayer 'stairs'"
    new_states, observations = env.as_layers()
    height = L.get_output(observations[0], {
        new_states[0].input_layers[0].prev_state_layers[0]: torch.tensor([1.0, 2.0]),
        new_states[0].input_layers[0].action_layers[0]: torch.tensor([1, 0])})
    assert height.tolist() == [[2.0], [2.0]]
    with pytest.raises(ValueError, match="Stairs has 1 states, got 2 state layers"):
        EnvironmentStepLayer(env, [L.InputLayer((None,))] * 2)
    with pytest.raises(ValueError, match=r"does not fit Stairs's action \(None,\)"):
        EnvironmentStepLayer(env, action_layers=L.InputLayer((None, 2), torch.int64))


class Counter(BaseEnvironment):
    """The original's contract: shapes in the constructor, only get_action_results."""

    def __init__(self, **dtypes):
        BaseEnvironment.__init__(self, [1], (2,), [()], **dtypes)

    def get_action_results(self, last_states, actions):
        new = last_states[0] + actions[0][:, None]
        return new, torch.cat([new, -new], 1)     # single tensors, as the original's


def test_the_original_environment_contract_runs_in_get_sessions():
    env = Counter(state_dtypes=["floatX"], action_dtypes=["int32"])
    assert env.state_dtypes == (torch.float32,) and env.action_dtypes == (torch.int64,)
    agent, _ = memory_agent(n_obs=2)
    sessions = agent.get_sessions(env, 4, batch_size=3)
    assert torch.equal(sessions.env_states[0][:, 0], torch.zeros(3, 1))
    assert torch.equal(sessions.env_states[0][:, 1:, 0],
                       sessions.actions[:, :-1].float().cumsum(1))
    assert torch.equal(sessions.rewards, torch.zeros(3, 4))    # no objective: no rewards
    with pytest.raises(ValueError, match="give get_sessions a batch_size"):
        agent.get_sessions(env, 4)
    with pytest.raises(ValueError, match="2 state_dtypes for 1 state_shapes"):
        Counter(state_dtypes=["float32", "float32"])


class RewardedCounter(BaseObjective, Counter):
    def get_reward(self, last_environment_states, agent_actions, batch_id):
        return last_environment_states[0][:, 0] + 10 * batch_id


def test_an_objective_environment_gives_its_rewards_and_resets():
    env = RewardedCounter()
    agent, _ = memory_agent(n_obs=2)
    sessions = agent.get_sessions(env, 4, batch_size=2)
    expected = sessions.env_states[0][..., 0] + torch.tensor([[0.0], [10.0]])
    assert torch.equal(sessions.rewards, expected)
    assert torch.equal(env.get_reward_sequences(sessions.env_states, sessions.actions),
                       expected)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_boolean_reasoning_rewards_match_the_per_session_reference(batch, length, seed):
    np.random.seed(seed % 2**32)
    generator = torch.Generator().manual_seed(seed)
    env = BooleanReasoningEnvironment()
    env.generate_new_data_batch(batch)
    states = torch.randint(0, 2, (batch, length, 6), generator=generator).float()
    actions = torch.randint(0, 6, (batch, length), generator=generator)
    reference = torch.tensor([[_reference_reward(env, states[b, t], actions[b, t].item(), b)
                               for t in range(length)] for b in range(batch)])
    assert torch.equal(env.get_reward_sequences(states, actions), reference)
    assert torch.equal(torch.stack([env.get_reward([states[b]], [actions[b]], b)
                                    for b in range(batch)]), reference)


def _reference_reward(env, state, action, b):
    """The original's rules, one tick at a time."""
    if state[5] != 0:
        return 0.0                                  # the session has ended
    if state[action] != 0:
        return -0.5                                 # opened before
    if action == 5:
        return 0.0                                  # ends the session now
    value = float(env.joint_data[b, action])
    return value * 6 - 3 if action in (3, 4) else value * 2 - 1


def test_boolean_reasoning_aliveness_from_states_matches_the_originals():
    np.random.seed(0)
    env = BooleanReasoningEnvironment()
    env.generate_new_data_batch(16)
    torch.manual_seed(0)
    obs = L.InputLayer((None, 8))
    q = L.DenseLayer(obs, 6, nonlinearity=None)
    from agentnet.resolver import ProbabilisticResolver
    probabilities = L.NonlinearityLayer(q, lambda x: torch.softmax(x, -1))
    agent = Agent(obs, None, probabilities, ProbabilisticResolver(probabilities))
    sessions = agent.get_sessions(env, 8, batch_size=env.batch_size)
    assert torch.equal(sessions.is_alive, env.get_whether_alive(sessions.observations))
    assert not sessions.is_alive.all() and sessions.is_alive[:, 0].all()


def test_reapply_layer_computes_the_graph_on_new_inputs():
    x = L.InputLayer((None, 3), name="x")
    d1, d2 = L.DenseLayer(x, 4, name="d1"), L.DenseLayer(x, 5, name="d2")
    top = L.DenseLayer(L.ConcatLayer([d1, d2]), 2, name="top")
    y, z = L.InputLayer((None, 3), name="y"), L.InputLayer((None, 5), name="z")
    whole = ReapplyLayer([top, d1], {x: y})
    part = ReapplyLayer({"top": top}, {d2: z})
    xv, zv = torch.randn(2, 3), torch.randn(2, 5)
    assert torch.equal(L.get_output(whole[0], {y: xv}), L.get_output(top, {x: xv}))
    assert torch.equal(L.get_output(part["top"], {x: xv, z: zv}),
                       L.get_output(top, {x: xv, d2: zv}))
    assert set(map(id, L.get_all_params(whole[0]))) == set(map(id, L.get_all_params(top)))
    with pytest.raises(KeyError, match="no output 'nope'"):
        part["nope"]
