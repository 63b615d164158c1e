"""Multi-head and self-attention against torch.nn.MultiheadAttention with copied weights."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from agentnet import Agent
from agentnet.environment import CartPole
from agentnet.layers import DenseLayer, InputLayer, get_all_params, get_output
from agentnet.memory import MultiHeadAttentionLayer, SelfAttentionLayer, WindowAugmentation
from agentnet.resolver import GreedyResolver


def reference(layer, **kwargs):
    """A torch module with the layer's weights, loaded through torch's own state_dict keys."""
    mha = nn.MultiheadAttention(layer.embed_dim, layer.num_heads, batch_first=True, **kwargs)
    assert set(mha.state_dict()) == set(layer.state_dict())
    layer.load_state_dict(mha.state_dict())
    return mha


def test_one_tick_query_with_mask_matches_torch():
    torch.manual_seed(0)
    seq, query = InputLayer((None, 5, 8), name="seq"), InputLayer((None, 8), name="query")
    mask = InputLayer((None, 5), dtype=torch.bool, name="mask")
    layer = MultiHeadAttentionLayer(seq, query, num_heads=4, mask_input=mask, name="mha")
    assert layer.output_shape == (None, 8)
    mha = reference(layer)
    s, q = torch.randn(3, 5, 8), torch.randn(3, 8)
    m = torch.rand(3, 5) > 0.3
    m[:, 2] = True
    expected = mha(q[:, None], s, s, key_padding_mask=~m, need_weights=False)[0][:, 0]
    torch.testing.assert_close(get_output(layer, {seq: s, query: q, mask: m}), expected)


def test_query_sequence_with_other_key_and_value_widths_matches_torch():
    torch.manual_seed(1)
    values = InputLayer((None, 6, 5), name="values")
    keys = InputLayer((None, 6, 3), name="keys")
    query = InputLayer((None, 4, 6), name="query")
    layer = MultiHeadAttentionLayer(values, query, num_heads=2, key_sequence=keys)
    assert not layer.packed and layer.in_proj_weight is None
    assert layer.output_shape == (None, 4, 6)
    mha = reference(layer, kdim=3, vdim=5)
    v, k, q = torch.randn(2, 6, 5), torch.randn(2, 6, 3), torch.randn(2, 4, 6)
    expected = mha(q, k, v, need_weights=False)[0]
    torch.testing.assert_close(get_output(layer, {values: v, keys: k, query: q}), expected)


def test_without_bias_matches_torch():
    torch.manual_seed(2)
    seq, query = InputLayer((None, 3, 4), name="seq"), InputLayer((None, 2, 4), name="query")
    layer = MultiHeadAttentionLayer(seq, query, num_heads=1, bias=False)
    assert layer.in_proj_bias is None and layer.out_proj.bias is None
    mha = reference(layer, bias=False)
    s, q = torch.randn(2, 3, 4), torch.randn(2, 2, 4)
    torch.testing.assert_close(get_output(layer, {seq: s, query: q}),
                               mha(q, s, s, need_weights=False)[0])


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_matches_torch(causal):
    torch.manual_seed(3)
    seq = InputLayer((None, 6, 8), name="seq")
    mask = InputLayer((None, 6), dtype=torch.bool, name="mask")
    layer = SelfAttentionLayer(seq, num_heads=2, mask_input=mask, causal=causal)
    assert layer.output_shape == (None, 6, 8)
    mha = reference(layer)
    x = torch.randn(3, 6, 8)
    m = torch.ones(3, 6, dtype=torch.bool)
    m[1, 4:] = False
    m[2, 1] = False
    attn_mask = torch.ones(6, 6, dtype=torch.bool).triu(1) if causal else None
    expected = mha(x, x, x, key_padding_mask=~m, attn_mask=attn_mask, need_weights=False)[0]
    torch.testing.assert_close(get_output(layer, {seq: x, mask: m}), expected)


def test_a_query_that_sees_nothing_gets_a_zero_attention_output():
    torch.manual_seed(4)
    seq = InputLayer((None, 4, 4), name="seq")
    mask = InputLayer((None, 4), dtype=torch.bool, name="mask")
    layer = SelfAttentionLayer(seq, num_heads=2, mask_input=mask, causal=True)
    with torch.no_grad():
        layer.out_proj.bias.normal_()
    mha = reference(layer)
    x = torch.randn(2, 4, 4, requires_grad=True)
    m = torch.tensor([[False, True, True, True], [True] * 4])  # row 0, query 0 sees nothing
    out = get_output(layer, {seq: x, mask: m})
    torch.testing.assert_close(out[0, 0], layer.out_proj.bias)
    causal = torch.ones(4, 4, dtype=torch.bool).triu(1)
    expected = mha(x, x, x, key_padding_mask=~m, attn_mask=causal, need_weights=False)[0]
    torch.testing.assert_close(out[0, 1:], expected[0, 1:])
    torch.testing.assert_close(out[1], expected[1])
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    # position 0 of row 0 is a masked key and a query that sees nothing: it affects nothing
    assert torch.all(x.grad[0, 0] == 0) and torch.all(x.grad[0, 1] != 0)


def test_gradients_reach_every_parameter():
    torch.manual_seed(5)
    seq, query = InputLayer((None, 3, 4), name="seq"), InputLayer((None, 4), name="query")
    layer = MultiHeadAttentionLayer(seq, query, num_heads=2)
    get_output(layer, {seq: torch.randn(2, 3, 4), query: torch.randn(2, 4)}).pow(2).sum().backward()
    params = get_all_params(layer)
    assert len(params) == 4
    for param in params:
        assert param.grad is not None and param.grad.abs().sum() > 0


def test_dropout_is_off_when_deterministic():
    torch.manual_seed(6)
    seq = InputLayer((None, 5, 4), name="seq")
    noisy = SelfAttentionLayer(seq, num_heads=2, dropout=0.5)
    clean = SelfAttentionLayer(seq, num_heads=2)
    clean.load_state_dict(noisy.state_dict())
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(get_output(noisy, {seq: x}, deterministic=True),
                               get_output(clean, {seq: x}))
    assert not torch.allclose(get_output(noisy, {seq: x}), get_output(clean, {seq: x}))


def test_attention_over_a_frame_window_in_an_agent_on_cartpole():
    torch.manual_seed(7)
    obs = InputLayer((None, 4), name="obs")
    prev = InputLayer((None, 4, 4), name="prev_window")
    window = WindowAugmentation(obs, prev, name="window")
    frames = DenseLayer(window, 8, num_leading_axes=2, name="frames")
    state = DenseLayer(obs, 8, name="state")
    read = MultiHeadAttentionLayer(frames, state, num_heads=2, name="read")
    q = DenseLayer(read, 2, nonlinearity=None, name="q")
    agent = Agent(obs, agent_states={window: prev}, policy_estimators=q,
                  action_layers=GreedyResolver(q))
    s = agent.get_sessions(CartPole(seed=0), session_length=4, batch_size=3)
    assert s.policy.shape == (3, 4, 2)
    s.policy.sum().backward()
    for layer in (frames, state):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_errors():
    seq, query = InputLayer((None, 3, 6), name="seq"), InputLayer((None, 6), name="query")
    with pytest.raises(ValueError, match=r"MultiHeadAttentionLayer 'm'.*num_heads=4.*6"):
        MultiHeadAttentionLayer(seq, query, num_heads=4, name="m")
    with pytest.raises(ValueError, match=r"MultiHeadAttentionLayer 'm'.*causal.*\(None, 6\)"):
        MultiHeadAttentionLayer(seq, query, num_heads=2, causal=True, name="m")
    with pytest.raises(ValueError, match=r"MultiHeadAttentionLayer 'm'.*mask.*\(None, 4\)"):
        MultiHeadAttentionLayer(seq, query, 2, mask_input=InputLayer((None, 4), name="mask"),
                                name="m")
    with pytest.raises(ValueError, match=r"MultiHeadAttentionLayer 'm'.*query.*q4.*"
                                         r"\(None, 1, 2, 6\)"):
        MultiHeadAttentionLayer(seq, InputLayer((None, 1, 2, 6), name="q4"), 2, name="m")
    with pytest.raises(ValueError, match=r"SelfAttentionLayer 's'.*sequence.*flat.*\(None, 6\)"):
        SelfAttentionLayer(InputLayer((None, 6), name="flat"), 2, name="s")
    with pytest.raises(TypeError, match=r"SelfAttentionLayer 's'.*tokens.*int64"):
        SelfAttentionLayer(InputLayer((None, 3, 6), dtype=torch.int64, name="tokens"), 2,
                           name="s")
