"""The original AgentNet's tests/test_convergence.py, call for call, with ``from agentnet
import layers`` for Lasagne and torch for Theano: value-based learning converges on the
original's boolean reasoning experiment."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import agentnet.experiments.boolean_reasoning as experiment
from agentnet.agent import Agent
from agentnet.display import Metrics
from agentnet.layers import DenseLayer, InputLayer, get_all_params
from agentnet.learning import qlearning, sarsa
from agentnet.memory.rnn import RNNCell
from agentnet.resolver import EpsilonGreedyResolver


def reasoning_value_based(n_parallel_games=25,
                          algo=qlearning,
                          n_steps=1,
                          max_epochs=5000,
                          pass_n_steps=False,
                          ):
    """The body of test_convergence.py::test_reasoning_value_based, with its epoch limit a
    parameter (5000 in the original); returns the epoch it converged at.

    :param n_parallel_games: how many games we run in parallel
    :param algo: training algorithm to use (module)
    :param n_steps: as in the original, where it was never passed to the objective (so its
        ``(25, qlearning, 3)`` case repeats ``(25, qlearning, 1)``)
    :param pass_n_steps: not in the original: pass ``n_steps=n_steps`` to the objective
    """
    # instantiate an experiment environment with default parameters
    env = experiment.BooleanReasoningEnvironment()

    # hidden neurons
    n_hidden_neurons = 64

    observation_size = (None,) + tuple(env.observation_shapes)

    observation_layer = InputLayer(observation_size, name="observation_input")
    prev_state_layer = InputLayer([None, n_hidden_neurons], name="prev_state_input")

    # memory layer (this isn't the same as lasagne recurrent units)
    rnn = RNNCell(prev_state_layer, observation_layer, name="rnn0")

    # q_values (estimated using very simple neural network)
    q_values = DenseLayer(rnn,
                          num_units=env.n_actions,
                          nonlinearity=None,
                          name="QEvaluator")

    # resolver uses epsilon - parameter which defines a probability of randomly taken action.
    epsilon = 0.1  # theano.shared(np.float32(0.1)): the resolver's epsilon has set_value
    resolver = EpsilonGreedyResolver(q_values, epsilon=epsilon, name="resolver")

    # packing this into agent
    agent = Agent(observation_layer,
                  agent_states={rnn: prev_state_layer},
                  policy_estimators=q_values,
                  action_layers=resolver)

    # Since it's a lasagne network, one can get it's weights, output, etc
    weights = get_all_params(resolver, trainable=True)

    # gamma - delayed reward coefficient - what fraction of reward is retained if it is
    # obtained one tick later
    gamma = 0.99

    def sessions():
        """The original's graph: interaction sequences of length <= 10, their rewards and
        aliveness (Theano built it once; here it is computed each time it is needed)."""
        (state_seq,), observation_seq, agent_state, action_seq, qvalues_seq = \
            agent.get_sessions(env, session_length=10, batch_size=env.batch_size)
        assert agent_state[rnn].shape == (env.batch_size, 10, n_hidden_neurons)

        # get rewards for all actions
        rewards_seq = env.get_reward_sequences(state_seq, action_seq)

        # get indicator whether session is still active
        is_alive_seq = env.get_whether_alive(observation_seq)
        return qvalues_seq, action_seq, rewards_seq, is_alive_seq

    def train_fun():
        qvalues_seq, action_seq, rewards_seq, is_alive_seq = sessions()
        squarred_Qerror = algo.get_elementwise_objective(
            qvalues_seq,
            action_seq,
            rewards_seq,
            is_alive_seq,
            gamma_or_gammas=gamma,
            **({"n_steps": n_steps} if pass_n_steps else {}))

        # take sum over steps, average over sessions
        mse_Qloss = squarred_Qerror.sum(dim=1).mean()

        # impose l2 regularization on network weights
        # (lasagne's regularize_network_params(resolver, l2): the weights, not the biases)
        reg_l2 = sum((w ** 2).sum() for w in get_all_params(resolver, regularizable=True)) \
            * 10**-3

        loss = mse_Qloss + reg_l2

        # compute weight updates (lasagne.updates.adadelta: rho=0.95, epsilon=1e-6)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        # take sum over steps, average over sessions
        mean_session_reward = rewards_seq.sum(dim=1).mean()
        return loss.item(), mean_session_reward.item()

    def compute_mean_session_reward():
        with torch.no_grad():
            _, _, rewards_seq, _ = sessions()
        return rewards_seq.sum(dim=1).mean().item()

    optimizer = torch.optim.Adadelta(weights, lr=0.1, rho=0.95, eps=1e-6)

    score_log = Metrics()

    for epoch in range(max_epochs):

        # update resolver's epsilon (chance of random action instead of optimal one)
        # epsilon decreases over time
        current_epsilon = 0.05 + 0.95 * np.exp(-epoch / 2500.)
        resolver.epsilon.set_value(np.float32(current_epsilon))

        # train
        env.generate_new_data_batch(n_parallel_games)
        loss, avg_reward = train_fun()

        # show current learning progress
        if epoch % 100 == 0:
            print(epoch, end=" ")

            # estimate reward for epsilon-greedy strategy
            avg_reward_current = compute_mean_session_reward()
            score_log["expected epsilon-greedy reward"][epoch] = avg_reward_current

            # estimating the reward under assumption of greedy strategy
            resolver.epsilon.set_value(0)
            avg_reward_greedy = compute_mean_session_reward()
            score_log["expected greedy reward"][epoch] = avg_reward_greedy

            if avg_reward_greedy > 2:
                print("converged")
                break
    else:
        print("diverged")
        raise ValueError("Algorithm diverged")
    return epoch


@pytest.mark.parametrize("n_parallel_games, algo, n_steps", [
    (25, qlearning, 1),
    (25, sarsa, 1),
    (25, qlearning, 3),
])
def test_reasoning_value_based(one_thread, n_parallel_games, algo, n_steps):
    """Translates test_convergence.py::test_reasoning_value_based: Q-learning and SARSA with
    an RNN agent reach a greedy mean return above 2 (of 3 at best) on the original's boolean
    reasoning experiment within the original's 5000 epochs (else it raises "Algorithm
    diverged"), with numpy and torch seeded."""
    np.random.seed(0)
    torch.manual_seed(0)
    reasoning_value_based(n_parallel_games, algo, n_steps)


def test_reasoning_value_based_n_steps(one_thread):
    """Not in the original (its ``n_steps=3`` case never reached the objective): n-step
    Q-learning, ``n_steps=3`` given to ``qlearning.get_elementwise_objective``, converges
    too."""
    np.random.seed(0)
    torch.manual_seed(0)
    reasoning_value_based(25, qlearning, 3, pass_n_steps=True)
