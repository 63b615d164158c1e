"""The original AgentNet's tests/test_memory_canonicity.py, translated call for call.

The original checked that LSTMCell and GRUCell unrolled by ``Recurrence`` compute what
Lasagne's ``LSTMLayer``/``GRULayer`` compute once the weights are copied across. torch's
``nn.LSTM``/``nn.GRU`` take Lasagne's place; torch's LSTM has no peepholes, so the default
``LSTMCell`` (``peepholes=True``, as Lasagne's default) is compared with a loop that
writes out Lasagne's peephole LSTM, and ``peepholes=False`` with ``nn.LSTM``.
"""
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from agentnet.agent import Recurrence
from agentnet.layers import InputLayer, get_output
from agentnet.memory import GRUCell, LSTMCell

TORCH_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _agentnet_way(input_dim, n_hidden, peepholes):
    s_in = InputLayer((None, input_dim), name="in")
    s_prev_cell = InputLayer((None, n_hidden), name="cell")
    s_prev_hid = InputLayer((None, n_hidden), name="hid")
    s_lstm_cell, s_lstm_hid = LSTMCell(s_prev_cell, s_prev_hid, s_in, peepholes=peepholes,
                                       name="lstm")
    s_prev_gru = InputLayer((None, n_hidden), name="hid")
    s_gru = GRUCell(s_prev_gru, s_in, name="gru")
    return s_in, s_lstm_cell, s_lstm_hid, s_gru, OrderedDict(
        [(s_lstm_cell, s_prev_cell), (s_lstm_hid, s_prev_hid), (s_gru, s_prev_gru)])


def _lasagne_peephole_lstm(step, xs, n_hidden):
    """Lasagne's ``LSTMLayer`` with peepholes, a loop over time written out."""
    c = h = torch.zeros(xs.shape[0], n_hidden)
    outs = []
    for t in range(xs.shape[1]):
        a = (xs[:, t] @ step.weight_ih.T + step.bias_ih + h @ step.weight_hh.T + step.bias_hh)
        a_i, a_f, a_g, a_o = a.chunk(4, dim=1)
        i = torch.sigmoid(a_i + step.weight_ci * c)
        f = torch.sigmoid(a_f + step.weight_cf * c)
        c = f * c + i * torch.tanh(a_g)
        o = torch.sigmoid(a_o + step.weight_co * c)
        h = o * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, 1)


def test_memory_cells(batch_size=3, seq_len=50, input_dim=8, n_hidden=16):
    """Translates the original ``test_memory_cells`` (torch's LSTM for Lasagne's,
    ``peepholes=False``; see the module for the peephole default)."""
    torch.manual_seed(0)
    sequence = torch.as_tensor(np.random.normal(size=[batch_size, seq_len, input_dim]),
                               dtype=torch.float32)
    # the "lasagne way": whole-sequence layers
    l_in = InputLayer((None, seq_len, input_dim), name="input seq")
    l_lstm0 = nn.LSTM(input_dim, n_hidden, batch_first=True)
    l_gru0 = nn.GRU(input_dim, n_hidden, batch_first=True)

    # the agentnet way
    s_in, s_lstm_cell, s_lstm_hid, s_gru, states = _agentnet_way(input_dim, n_hidden, False)
    rec = Recurrence(state_variables=states, input_sequences={s_in: l_in})
    state_seqs, _ = rec.get_sequence_layers()
    l_lstm1, l_gru1 = state_seqs[s_lstm_hid], state_seqs[s_gru]

    # parameter transfer (torch's names: weight_ih <-> weight_ih_l0, ...)
    with torch.no_grad():
        for old_module, new_layer in [(l_lstm0, s_lstm_hid.input_layers[0]), (l_gru0, s_gru)]:
            for name in TORCH_NAMES:
                old, new = getattr(old_module, name + "_l0"), getattr(new_layer, name)
                assert tuple(old.shape) == tuple(new.shape)
                old.copy_(new)

    lstm0_out, gru0_out = l_lstm0(sequence)[0], l_gru0(sequence)[0]
    lstm1_out, gru1_out = get_output([l_lstm1, l_gru1], {l_in: sequence})
    assert np.allclose(lstm0_out.detach(), lstm1_out.detach(), atol=1e-6)
    assert np.allclose(gru0_out.detach(), gru1_out.detach(), atol=1e-6)


def test_memory_cells_default_peepholes(batch_size=3, seq_len=50, input_dim=8, n_hidden=16):
    """The original ``test_memory_cells`` with LSTMCell's default ``peepholes=True``,
    against Lasagne's peephole LSTM written out."""
    torch.manual_seed(1)
    sequence = torch.randn(batch_size, seq_len, input_dim)
    l_in = InputLayer((None, seq_len, input_dim), name="input seq")
    s_in, s_lstm_cell, s_lstm_hid, s_gru, states = _agentnet_way(input_dim, n_hidden, True)
    step = s_lstm_hid.input_layers[0]
    with torch.no_grad():  # Lasagne's default init is small; make the peepholes matter
        for p in step.parameters():
            p.normal_(0, 0.3)
    rec = Recurrence(state_variables=states, input_sequences={s_in: l_in})
    lstm1_out = get_output(rec.get_sequence_layers()[0][s_lstm_hid], {l_in: sequence})
    expected = _lasagne_peephole_lstm(step, sequence, n_hidden)
    torch.testing.assert_close(lstm1_out, expected, atol=1e-5, rtol=1e-5)
