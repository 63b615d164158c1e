"""The original AgentNet's tests/test_attention.py, translated call for call.

Theano idioms become torch's: ``theano.function`` is ``get_output`` on tensors, an
``InputLayer``'s ``input_var`` is a value given in ``inputs=``, Recurrence's
``unroll_scan`` and ``get_automatic_updates`` have no counterpart (torch unrolls eagerly
and has no update dictionaries). ``rec[a, b]`` and ``recurrence_flags=`` are not in
agentnet's Recurrence: each is spelled the way agentnet has it (``rec[a], rec[b]``; flags
given to ``get_output`` directly), and ``test_recurrence_original_idioms`` records the gap.
"""
import numpy as np
import torch

import agentnet
from agentnet.layers import (
    DenseLayer,
    EmbeddingLayer,
    InputLayer,
    LambdaLayer,
    ReshapeLayer,
    get_all_params,
    get_output,
)
from agentnet.memory import GRUCell
from agentnet.memory.attention import (
    AttentionLayer,
    DotAttentionLayer,
    multihead_attention,
    self_attention,
)


def _attentive_gru_recurrence(make_attention):
    """The step graph the original's tests share: a GRU that reads an attention response."""

    class step:
        enc_activations = InputLayer((None, None, 12),
                                     name="placeholder for encoder activations (to be attended)")
        prev_gru = InputLayer((None, 15), name="gru prev state (15 units)")
        attention = make_attention(enc_activations, prev_gru)
        gru = GRUCell(prev_gru, attention["attn"],
                      name="rnn that reads enc_sequence with attention")
        attn_probs = attention["probs"]  # weights from inside attention

    encoder_activations = InputLayer((None, None, 12),
                                     name="encoder sequence (will be sent to enc_sequence)")
    rec = agentnet.Recurrence(input_nonsequences={step.enc_activations: encoder_activations},
                              state_variables={step.gru: step.prev_gru},
                              tracked_outputs=[step.attn_probs],
                              n_steps=10)
    return step, encoder_activations, rec


def _check_soft_and_hard(step, encoder_activations, rec):
    weights = get_all_params(rec)
    assert weights
    gru_states, attention_probs_seq = rec[step.gru], rec[step.attn_probs]

    def run(**flags):
        given = {encoder_activations: torch.as_tensor(np.random.randn(5, 25, 12),
                                                      dtype=torch.float32)}
        return get_output([gru_states, attention_probs_seq], given, **flags)

    gru_seq, probs_seq = run()
    assert gru_seq.shape == (5, 10, 15)  # hidden GRU states, 5 samples/10 ticks/15 units
    assert probs_seq.shape == (5, 10, 25)  # 5 samples/10 ticks/25 input seq length

    _, hard_probs_seq = run(hard_attention=True)
    assert hard_probs_seq.shape == (5, 10, 25)
    assert len(np.unique(hard_probs_seq.detach().numpy().ravel())) == 2  # 0's and 1's only


def test_attention():
    """Translates the original ``test_attention``: an attentive RNN over a 1d sequence."""
    step, encoder_activations, rec = _attentive_gru_recurrence(
        lambda enc, prev: AttentionLayer(enc, prev, num_units=16))
    _check_soft_and_hard(step, encoder_activations, rec)


def test_attention_2d():
    """Translates the original ``test_attention_2d``: attention over an image's spots."""

    class step:
        image = InputLayer((None, 3, 24, 24), name="placeholder for 24x24 image (to be attended)")
        prev_gru = InputLayer((None, 15), name="gru prev state (15 units)")
        n_channels, width, height = image.output_shape[1:]
        # flatten all image spots to look like a 1d sequence (dimshuffle -> permute)
        image_chunks = ReshapeLayer(LambdaLayer(image, lambda x: x.permute(0, 2, 3, 1)),
                                    (-1, width * height, n_channels))
        attention = AttentionLayer(image_chunks, prev_gru, num_units=16)
        gru = GRUCell(prev_gru, attention["attn"],
                      name="rnn that reads enc_sequence with attention")
        # weights from inside attention - reshaped back into an image
        attn_probs = ReshapeLayer(attention["probs"], (-1, width, height))

    input_image = InputLayer((None, 3, 24, 24), name="24x24-pixel RGB image")
    rec = agentnet.Recurrence(input_nonsequences={step.image: input_image},
                              state_variables={step.gru: step.prev_gru},
                              tracked_outputs=[step.attn_probs],
                              n_steps=10)
    assert get_all_params(rec)
    gru_states, attention_probs_seq = rec[step.gru], rec[step.attn_probs]
    gru_seq, probs_seq = get_output([gru_states, attention_probs_seq],
                                    {input_image: torch.randn(5, 3, 24, 24)})
    assert gru_seq.shape == (5, 10, 15)
    assert probs_seq.shape == (5, 10, 24, 24)


def test_dot_attention():
    """Translates the original ``test_dot_attention``: DotAttention with a dense query."""
    step, encoder_activations, rec = _attentive_gru_recurrence(
        lambda enc, prev: DotAttentionLayer(enc, prev, use_dense_layer=True))
    _check_soft_and_hard(step, encoder_activations, rec)


VOCAB_SIZE, BATCH_SIZE, SEQ_LENGTH = 100, 10, 20


def _token_ids():
    return (torch.arange(BATCH_SIZE * SEQ_LENGTH).reshape(BATCH_SIZE, SEQ_LENGTH) % VOCAB_SIZE)


def test_self_attention():
    """Translates the original ``test_self_attention``: two stacked self-attentions."""
    l_inp = InputLayer((None, None), dtype=torch.int64)
    l_emb = EmbeddingLayer(l_inp, VOCAB_SIZE, 32)
    l_self_attn = self_attention(l_emb, key_size=48, value_size=50)
    l_self_attn2 = self_attention(l_self_attn, key_size=64, value_size=100)
    out = get_output(l_self_attn2, {l_inp: _token_ids()})
    assert tuple(out.shape) == (BATCH_SIZE, SEQ_LENGTH, 100)


def test_multihead_attention():
    """Translates the original ``test_multihead_attention``: three dot-attention heads."""

    class step:
        enc_activations = InputLayer((None, None, 12),
                                     name="placeholder for encoder activations (to be attended)")
        prev_gru = InputLayer((None, 15), name="gru prev state (15 units)")
        keys_seq = DenseLayer(enc_activations, 30, num_leading_axes=2, nonlinearity=None)
        attention = multihead_attention(enc_activations, prev_gru, key_sequence=keys_seq,
                                        num_heads=3, use_dense_layer=True)
        gru = GRUCell(prev_gru, attention["attn"],
                      name="rnn that reads enc_sequence with attention")
        attn, attn_probs = attention["attn"], attention["probs"]

    encoder_activations = InputLayer((None, None, 12), name="encoder sequence")
    rec = agentnet.Recurrence(input_nonsequences={step.enc_activations: encoder_activations},
                              state_variables={step.gru: step.prev_gru},
                              tracked_outputs=[step.attn_probs, step.attn],
                              n_steps=10)
    assert get_all_params(rec)
    gru_states, attn_heads_seq, attention_probs_seq = (
        rec[step.gru], rec[step.attn], rec[step.attn_probs])

    def run(outputs, **flags):
        return get_output(outputs, {encoder_activations: torch.randn(5, 25, 12)}, **flags)

    gru_seq, heads_seq, probs_seq = run([gru_states, attn_heads_seq, attention_probs_seq])
    assert gru_seq.shape == (5, 10, 15)
    assert probs_seq.shape == (5, 10, 3, 25)  # 5 samples/10 ticks/3 heads/25 positions
    assert heads_seq.shape == (5, 10, 3 * 12)  # 3 heads of 12 value units
    _, hard_probs_seq = run([gru_states, attention_probs_seq], hard_attention=True)
    assert hard_probs_seq.shape == (5, 10, 3, 25)
    assert len(np.unique(hard_probs_seq.detach().numpy().ravel())) == 2


def test_multihead_self_attention():
    """Translates the original ``test_multihead_self_attention``: five heads, twice."""
    l_inp = InputLayer((None, None), dtype=torch.int64)
    l_emb = EmbeddingLayer(l_inp, VOCAB_SIZE, 32)
    l_self_attn = self_attention(l_emb, key_size=48, value_size=50,
                                 attn_class=multihead_attention, num_heads=5)
    l_self_attn2 = self_attention(l_self_attn, key_size=64, value_size=100,
                                  attn_class=multihead_attention, num_heads=5)
    out = get_output(l_self_attn2, {l_inp: _token_ids()})
    assert tuple(out.shape) == (BATCH_SIZE, SEQ_LENGTH, 100 * 5)


def test_recurrence_original_idioms():
    """The original's spelling of the Recurrence calls in ``test_attention``."""
    step, encoder_activations, rec = _attentive_gru_recurrence(
        lambda enc, prev: AttentionLayer(enc, prev, num_units=16))
    gru_states, attention_probs_seq = rec[step.gru, step.attn_probs]
    _, hard = get_output([gru_states, attention_probs_seq],
                         {encoder_activations: torch.randn(5, 25, 12)},
                         recurrence_flags={"hard_attention": True})
    assert len(np.unique(hard.detach().numpy().ravel())) == 2
