"""The original AgentNet's tests/test_broadcastability.py, call for call, with
``from agentnet import layers`` for Lasagne and torch for Theano."""
from __future__ import annotations

import torch

import agentnet
from agentnet import Recurrence
from agentnet.layers import DenseLayer, EmbeddingLayer, InputLayer, get_all_params, get_output
from agentnet.memory import GRUCell
from agentnet.resolver import EpsilonGreedyResolver


def test_out_batch1():
    """Translates test_broadcastability.py::test_out_batch1: a recurrence of batch size 1
    (original issue #79), fed back its own float-typed action input."""
    prev_out = InputLayer((None,))
    prev_gru = InputLayer((None, 10))
    gru = GRUCell(prev_gru, EmbeddingLayer(prev_out, 3, 3), name='rnn')
    probs = DenseLayer(gru, 3, nonlinearity=lambda x: torch.softmax(x, dim=-1))
    out = EpsilonGreedyResolver(probs)

    batch_size = 1

    rec = agentnet.Recurrence(state_variables={gru: prev_gru,
                                               out: prev_out},
                              unroll_scan=False,
                              n_steps=5,
                              batch_size=batch_size)

    run = get_output(rec[out])
    assert tuple(run.shape) == (1, 5)


def test_grad_1unit():
    """Translates test_broadcastability.py::test_grad_1unit: gradients through a recurrence
    with a one-unit output (original issue #83)."""
    l_in = InputLayer((None, None, 5))
    step_inp = InputLayer((None, 5))
    step_out = DenseLayer(step_inp, 1, name='dense')

    rec = Recurrence(input_sequences={step_inp: l_in},
                     tracked_outputs=[step_out],
                     unroll_scan=False)
    out_seq = rec[step_out]

    params = get_all_params(step_out, trainable=True)
    grad = torch.autograd.grad(get_output(out_seq, {l_in: torch.zeros(2, 3, 5)}).mean(), params)
    assert [g.shape for g in grad] == [p.shape for p in params]
