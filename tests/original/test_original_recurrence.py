"""The original AgentNet's tests/test_recurrence.py, translated call for call.

(Named ``test_original_recurrence.py``: ``tests/agent/test_recurrence.py`` takes the basename.)
``theano.function`` becomes ``get_output`` on tensors; ``unroll_scan=False`` is accepted and
ignored with a warning; ``get_automatic_updates`` has no counterpart (torch has no update
dictionaries). Lasagne's ``linear`` nonlinearity is ``None``, ``Constant(100.0)`` a value.
"""
import numpy as np
import pytest
import torch

import agentnet
from agentnet.layers import DenseLayer, DropoutLayer, InputLayer, get_all_params, get_output
from agentnet.memory import GRUCell, LSTMCell, RNNCell

pytestmark = pytest.mark.filterwarnings("ignore:Recurrence. unroll_scan is ignored")


def test_recurrence():
    """Translates test_recurrence.py::test_recurrence (minimalistic)."""
    sequence = InputLayer((None, None, 3), name='input sequence')
    initial = InputLayer((None, 10), name='gru zero tick')
    inp = InputLayer((None, 3))
    prev_gru = InputLayer((None, 10))
    gru = GRUCell(prev_gru, inp, name='rnn')
    rec = agentnet.Recurrence(input_sequences={inp: sequence},
                              state_variables={gru: prev_gru},
                              state_init={gru: initial},
                              unroll_scan=False)
    get_all_params(rec)
    gru_states = rec[gru]
    out = get_output(gru_states, {sequence: torch.randn(5, 25, 3),
                                  initial: torch.randn(5, 10)})
    assert tuple(out.shape) == (5, 25, 10)


def test_recurrence_larger():
    """Translates test_recurrence.py::test_recurrence_larger (RNN into LSTM, dropout)."""
    sequence = InputLayer((None, None, 3), name='input sequence')
    initial_cell = InputLayer((None, 20), name='lstm cell zero tick')
    inp = InputLayer((None, 3))
    prev_rnn = InputLayer((None, 10))
    rnn = RNNCell(prev_rnn, inp, name='rnn')
    prev_lstm_cell = InputLayer((None, 20))
    prev_lstm_hid = InputLayer((None, 20))
    lstm_cell, lstm_hid = LSTMCell(prev_lstm_cell, prev_lstm_hid, input_or_inputs=rnn)
    lstm_hid = DropoutLayer(lstm_hid, p=0.5)
    rec = agentnet.Recurrence(input_sequences={inp: sequence},
                              state_variables={rnn: prev_rnn,
                                               lstm_hid: prev_lstm_hid,
                                               lstm_cell: prev_lstm_cell},
                              state_init={lstm_cell: initial_cell},
                              unroll_scan=False)
    get_all_params(rec)
    out = get_output([rec[rnn], rec[lstm_cell], rec[lstm_hid]],
                     {sequence: torch.randn(5, 25, 3), initial_cell: torch.randn(5, 20)})
    assert tuple(out[0].shape) == (5, 25, 10)
    assert tuple(out[1].shape) == (5, 25, 20)
    assert tuple(out[2].shape) == (5, 25, 20)


def test_recurrence_substituted():
    """Translates test_recurrence.py::test_recurrence_substituted: an intermediate layer given
    a sequence is not computed, and its parameters are not the recurrence's."""
    sequence = InputLayer((None, None, 3), name='input sequence')
    sequence_intermediate = InputLayer((None, None, 5), name='intermediate values sequence')
    initial = InputLayer((None, 10), name='gru zero tick')
    inp = InputLayer((None, 3), name='input')
    intermediate = DenseLayer(inp, 5, name='intermediate')
    prev_gru = InputLayer((None, 10), name='prev rnn')
    gru = GRUCell(prev_gru, intermediate, name='rnn')
    rec = agentnet.Recurrence(input_sequences={inp: sequence},
                              state_variables={gru: prev_gru},
                              state_init={gru: initial},
                              unroll_scan=False)
    weights = get_all_params(rec)
    assert any(intermediate.b is w for w in weights)
    out = get_output(rec[gru], {sequence: torch.randn(5, 25, 3), initial: torch.randn(5, 10)})
    assert tuple(out.shape) == (5, 25, 10)
    rec2 = agentnet.Recurrence(input_sequences={intermediate: sequence_intermediate},
                               state_variables={gru: prev_gru},
                               state_init={gru: initial},
                               unroll_scan=False)
    weights2 = get_all_params(rec2)
    assert not any(intermediate.b is w for w in weights2)
    out = get_output(rec2[gru], {sequence_intermediate: torch.randn(5, 25, 5),
                                 initial: torch.randn(5, 10)})
    assert tuple(out.shape) == (5, 25, 10)


def test_recurrence_mask():
    """Translates test_recurrence.py::test_recurrence_mask (mask_input)."""
    np.random.seed(1337)
    sequence = InputLayer((None, None, 2), name='input sequence')
    mask = InputLayer((None, None), name="rnn mask [batch,tick]")
    inp = InputLayer((None, 2))
    prev_rnn = InputLayer((None, 3))
    rnn = RNNCell(prev_rnn, inp, name='rnn', nonlinearity=None, b=100.0)
    out = DenseLayer(rnn, num_units=10, nonlinearity=lambda x: torch.softmax(x, dim=-1))
    rec = agentnet.Recurrence(input_sequences={inp: sequence},
                              state_variables={rnn: prev_rnn},
                              tracked_outputs=[out],
                              unroll_scan=False,
                              mask_input=mask)
    rnn_states = rec[rnn]
    outs = rec[out]
    seq = np.random.randn(4, 5, 2)
    mask_value = np.zeros([4, 5])
    mask_value[:2, :3] = 1
    mask_value[2:, 2:] = 1
    h_seq, out_seq = [v.detach().numpy() for v in get_output(
        [rnn_states, outs], {sequence: seq, mask: mask_value})]
    assert tuple(h_seq.shape) == (4, 5, 3)
    assert tuple(out_seq.shape) == (4, 5, 10)
    assert np.all(np.diff(h_seq, axis=1)[:2, 2:] == 0)
    assert np.all(np.diff(h_seq, axis=1)[:2, :2] != 0)
    assert np.all(np.diff(h_seq, axis=1)[2:, 1:] != 0)
    assert np.all(np.diff(h_seq, axis=1)[2:, :1] == 0)
