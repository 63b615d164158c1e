"""The original AgentNet's tests/test_scan.py, translated call for call: a memory agent on the
boolean reasoning experiment, its sessions unpacked as the original's five-tuple, trained with
Q-learning for a few epochs."""
import torch

from agentnet.agent import Agent
from agentnet.layers import DenseLayer, InputLayer, get_all_params
from agentnet.learning import qlearning
from agentnet.memory.rnn import RNNCell
from agentnet.resolver import EpsilonGreedyResolver


def test_scan(n_parallel_games=25, algo=qlearning):
    """Translates test_scan.py::test_scan."""
    import agentnet.experiments.boolean_reasoning as experiment

    env = experiment.BooleanReasoningEnvironment()
    n_hidden_neurons = 64
    observation_size = (None,) + tuple(env.observation_shapes)
    observation_layer = InputLayer(observation_size, name="observation_input")
    prev_state_layer = InputLayer([None, n_hidden_neurons], name="prev_state_input")
    rnn = RNNCell(prev_state_layer, observation_layer, name="rnn0")
    q_values = DenseLayer(rnn, num_units=env.n_actions, nonlinearity=None, name="QEvaluator")
    resolver = EpsilonGreedyResolver(q_values, epsilon=0.1, name="resolver")
    agent = Agent(observation_layer, agent_states={rnn: prev_state_layer},
                  policy_estimators=q_values, action_layers=resolver)
    weights = get_all_params(resolver, trainable=True)
    before = [w.detach().clone() for w in weights]
    optimizer = torch.optim.Adadelta(weights, lr=0.1)
    for epoch in range(50):
        resolver.epsilon.set_value(0.05 + 0.95 * torch.exp(torch.tensor(-epoch / 2500.)).item())
        env.generate_new_data_batch(n_parallel_games)
        (state_seq,), observation_seq, agent_state, action_seq, qvalues_seq = agent.get_sessions(
            env, session_length=10, batch_size=env.batch_size)
        assert agent_state[rnn].shape[:2] == action_seq.shape
        rewards_seq = env.get_reward_sequences(state_seq, action_seq)
        is_alive_seq = env.get_whether_alive(observation_seq)
        squarred_qerror = algo.get_elementwise_objective(qvalues_seq, action_seq, rewards_seq,
                                                         is_alive_seq, gamma_or_gammas=0.99)
        mse_qloss = squarred_qerror.sum(dim=1).mean()
        reg_l2 = sum(w.pow(2).sum() for w in weights) * 10**-3
        loss = mse_qloss + reg_l2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        # the original's own test only ran; these check what it relied on
        assert rewards_seq.shape == (n_parallel_games, 10) and torch.isfinite(loss)
        assert torch.equal(is_alive_seq[:, 0], torch.ones(n_parallel_games, dtype=torch.bool))
        assert torch.equal(state_seq[:, 0], torch.zeros(n_parallel_games, 6))
    assert all(not torch.equal(a, b) for a, b in zip(before, weights))
