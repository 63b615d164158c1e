import pytest
import torch

from agentnet import Recurrence
from agentnet import layers as L
from agentnet.memory import GRUCell


def gru_recurrence(n_in=3, n_hidden=5, steps=None, with_init=False):
    x_t = L.InputLayer((None, n_in), name="x_t")
    h_prev = L.InputLayer((None, n_hidden), name="h_prev")
    h = GRUCell(h_prev, x_t, name="h")
    xs = L.InputLayer((None, steps, n_in), name="xs")
    h0 = L.InputLayer((None, n_hidden), name="h0")
    rec = Recurrence(input_sequences={x_t: xs}, state_variables={h: h_prev},
                     state_init={h: h0} if with_init else None, name="rnn")
    return rec, h, xs, h0


def test_unrolled_gru_matches_torch_gru():
    torch.manual_seed(0)
    rec, h, xs, h0 = gru_recurrence(with_init=True)
    reference = torch.nn.GRU(3, 5, batch_first=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(reference, name + "_l0").copy_(getattr(h, name))
    sequence, start = torch.randn(4, 9, 3), torch.randn(4, 5)
    got = L.get_output(rec[h], {xs: sequence, h0: start})
    expected, _ = reference(sequence, start[None])
    torch.testing.assert_close(got, expected)


def test_output_shapes_and_sequence_layers():
    rec, h, xs, _ = gru_recurrence(steps=7)
    states, tracked = rec.get_sequence_layers()
    assert states[h].output_shape == (None, 7, 5) and tracked == []
    rec_any, h_any, _, _ = gru_recurrence(steps=None)
    assert rec_any[h_any].output_shape == (None, None, 5)
    with pytest.raises(KeyError, match="neither a state nor a tracked output"):
        rec[xs]


def test_generator_without_sequences_tracks_outputs_and_nonsequences():
    step = L.InputLayer((None, 2), name="step_size")
    prev = L.InputLayer((None, 2), name="prev")
    position = L.ElemwiseSumLayer([prev, step], name="position")
    doubled = L.LambdaLayer(position, lambda p: 2 * p, name="doubled")
    size = L.InputLayer((None, 2), name="size")
    start = L.InputLayer((None, 2), name="start")
    rec = Recurrence(input_nonsequences={step: size}, state_variables={position: prev},
                     state_init={position: start}, tracked_outputs=[doubled], n_steps=4)
    positions, doubles = L.get_output([rec[position], rec[doubled]],
                                      {size: torch.tensor([[1.0, 10.0]]),
                                       start: torch.tensor([[100.0, 0.0]])})
    expected = torch.tensor([[[101.0, 10.0], [102.0, 20.0], [103.0, 30.0], [104.0, 40.0]]])
    torch.testing.assert_close(positions, expected)
    torch.testing.assert_close(doubles, 2 * expected)


def test_pure_generator_needs_batch_size():
    prev = L.InputLayer((None, 1), name="prev")
    count = L.LambdaLayer(prev, lambda c: c + 1, name="count")
    with pytest.raises(ValueError, match="batch_size"):
        Recurrence(state_variables={count: prev}, n_steps=3)
    rec = Recurrence(state_variables={count: prev}, n_steps=3, batch_size=2)
    torch.testing.assert_close(L.get_output(rec[count])[..., 0],
                               torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]))


def test_decoder_attends_over_encoder_sequence_and_trains():
    torch.manual_seed(0)
    encoder, h, xs, _ = gru_recurrence(n_in=3, n_hidden=4, steps=6)
    encoded = encoder[h]                                            # [B, 6, 4]
    memory_in = L.InputLayer((None, 6, 4), name="encoded")
    prev = L.InputLayer((None, 4), name="dec_prev")
    attention = L.LambdaLayer(
        [prev, memory_in],
        lambda q, keys: (torch.softmax((keys @ q[:, :, None]).squeeze(-1), -1)[:, :, None]
                         * keys).sum(1), name="attend")
    decoder_state = GRUCell(prev, attention, name="dec")
    decoder = Recurrence(input_nonsequences={memory_in: encoded},
                         state_variables={decoder_state: prev}, n_steps=3, name="decoder")
    readout = L.DenseLayer(decoder[decoder_state], 1, num_leading_axes=2, nonlinearity=None)
    assert readout.output_shape == (None, 3, 1)
    out = L.get_output(readout, {xs: torch.randn(2, 6, 3)})
    assert out.shape == (2, 3, 1)
    out.sum().backward()
    params = L.get_all_params(readout)
    assert {id(h.weight_ih), id(decoder_state.weight_ih)} <= set(map(id, params))
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


def test_construction_errors_name_the_recurrence():
    x_t = L.InputLayer((None, 3), name="x_t")
    h_prev = L.InputLayer((None, 5), name="h_prev")
    h = GRUCell(h_prev, x_t, name="h")
    with pytest.raises(ValueError, match=r"'bad'.*'xs4' \(None, 7, 4\).*'x_t' \(None, 3\)"):
        Recurrence(input_sequences={x_t: L.InputLayer((None, 7, 4), name="xs4")},
                   state_variables={h: h_prev}, name="bad")
    with pytest.raises(ValueError, match="n_steps"):
        Recurrence(input_nonsequences={x_t: L.InputLayer((None, 3))},
                   state_variables={h: h_prev})
    with pytest.raises(ValueError, match="'x_t'"):  # x_t is needed but never fed
        Recurrence(state_variables={h: h_prev}, n_steps=2, batch_size=1)
