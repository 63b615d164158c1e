"""Additive and dot-product attention: hand computations, brute force, masks, gradients."""
from __future__ import annotations

import math
import re

import pytest
import torch

from agentnet import Agent
from agentnet.environment import CartPole
from agentnet.layers import DenseLayer, InputLayer, get_output
from agentnet.memory import AttentionLayer, DotAttentionLayer, WindowAugmentation
from agentnet.resolver import GreedyResolver


def layers(t=4, v=3, q=2, k=None):
    seq = InputLayer((None, t, v), name="seq")
    query = InputLayer((None, q), name="query")
    mask = InputLayer((None, t), dtype=torch.bool, name="mask")
    keys = None if k is None else InputLayer((None, t, k), name="keys")
    return seq, query, mask, keys


def test_additive_attention_by_hand():
    seq, query, _, _ = layers(t=2, v=2, q=1)
    attention = AttentionLayer(seq, query, num_units=2, W_enc=[[1.0, 0.0], [0.0, -1.0]],
                               W_dec=[[2.0], [0.5]], W_out=[[1.0, 3.0]], name="attn")
    values = [[1.0, 2.0], [-1.0, 0.5]]
    qv = 0.3
    logits = [math.tanh(h0 + 2.0 * qv) + 3.0 * math.tanh(-h1 + 0.5 * qv) for h0, h1 in values]
    z = sum(math.exp(v) for v in logits)
    probs = [math.exp(v) / z for v in logits]
    response = [sum(p * val[i] for p, val in zip(probs, values)) for i in range(2)]
    r, w = get_output([attention[0], attention[1]],
                      {seq: torch.tensor([values]), query: torch.tensor([[qv]])})
    torch.testing.assert_close(w, torch.tensor([probs]))
    torch.testing.assert_close(r, torch.tensor([response]))


def test_additive_attention_with_separate_keys_and_bias_matches_formula():
    torch.manual_seed(0)
    seq, query, _, keys = layers(t=5, v=3, q=4, k=2)
    attention = AttentionLayer(seq, query, 6, key_sequence=keys, b=torch.nn.init.normal_)
    vals, ks, qs = torch.randn(3, 5, 3), torch.randn(3, 5, 2), torch.randn(3, 4)
    r, w = get_output([attention[0], attention[1]], {seq: vals, keys: ks, query: qs})
    hid = torch.tanh(ks @ attention.weight_enc.T + (qs @ attention.weight_dec.T
                                                     + attention.bias)[:, None])
    probs = torch.softmax((hid @ attention.weight_out.T)[..., 0], dim=1)
    torch.testing.assert_close(w, probs)
    torch.testing.assert_close(r, (probs[..., None] * vals).sum(1))


@pytest.mark.parametrize("scale", [True, False, 1.0, 0.3])
def test_dot_attention_against_brute_force_loop(scale):
    torch.manual_seed(1)
    seq, query, mask, keys = layers(t=6, v=3, q=4, k=4)
    attention = DotAttentionLayer(seq, query, mask_input=mask, key_sequence=keys, scale=scale)
    vals, ks, qs = torch.randn(3, 6, 3), torch.randn(3, 6, 4), torch.randn(3, 4)
    m = torch.rand(3, 6) > 0.4
    m[:, 0] = True
    r, w = get_output([attention[0], attention[1]], {seq: vals, keys: ks, query: qs, mask: m})
    if isinstance(scale, bool):  # the original's meaning: True scales by 1/sqrt(K)
        factor = 1 / math.sqrt(4) if scale else 1.0
    else:
        factor = scale
    for b in range(3):
        logits = [sum(ks[b, t, i].item() * qs[b, i].item() for i in range(4)) * factor
                  for t in range(6)]
        exps = [math.exp(v) if m[b, t] else 0.0 for t, v in enumerate(logits)]
        probs = [e / sum(exps) for e in exps]
        response = [sum(probs[t] * vals[b, t, i].item() for t in range(6)) for i in range(3)]
        torch.testing.assert_close(w[b], torch.tensor(probs))
        torch.testing.assert_close(r[b], torch.tensor(response))


def test_dot_attention_with_dense_query_projection():
    torch.manual_seed(2)
    seq, query, _, _ = layers(t=4, v=3, q=5)
    attention = DotAttentionLayer(seq, query, use_dense_layer=True, scale=1.0)
    vals, qs = torch.randn(2, 4, 3), torch.randn(2, 5)
    _, w = get_output([attention[0], attention[1]], {seq: vals, query: qs})
    projected = qs @ attention.weight_query.T + attention.bias_query
    torch.testing.assert_close(w, torch.softmax((vals @ projected[:, :, None])[..., 0], 1))


def make(kind, seq, query, mask):
    if kind == "additive":
        return AttentionLayer(seq, query, 5, mask_input=mask, name="att")
    return DotAttentionLayer(seq, query, mask_input=mask, use_dense_layer=True, name="att")


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_weights_sum_to_one_and_masked_positions_are_exactly_zero(kind):
    torch.manual_seed(3)
    seq, query, mask, _ = layers(t=7, v=3, q=2)
    attention = make(kind, seq, query, mask)
    m = torch.rand(5, 7) > 0.5
    m[:, 3] = True
    m[4] = False  # a row with nothing visible
    vals = (10 * torch.randn(5, 7, 3)).requires_grad_()
    qs = torch.randn(5, 2, requires_grad=True)
    r, w = get_output([attention[0], attention[1]], {seq: vals, query: qs, mask: m})
    torch.testing.assert_close(w[:4].sum(1), torch.ones(4))
    assert torch.all(w[~m] == 0)
    assert torch.all(w[4] == 0) and torch.all(r[4] == 0)
    # the same as attending over the visible positions alone
    for b in range(4):
        visible = vals[b:b + 1, m[b]]  # the layer called directly: T is free
        alone, _ = attention(visible, qs[b:b + 1], torch.ones(visible.shape[:2], dtype=bool))
        torch.testing.assert_close(alone[0], r[b])
    (r.sum() + (w * torch.arange(7.0)).sum()).backward()
    assert torch.isfinite(vals.grad).all() and torch.isfinite(qs.grad).all()
    assert torch.all(vals.grad[~m] == 0)
    for param in attention.parameters():
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_numeric_mask_and_without_mask(kind):
    torch.manual_seed(4)
    seq, query, _, _ = layers(t=4, v=3, q=2)
    float_mask = InputLayer((None, 4), name="float_mask")
    masked, plain = make(kind, seq, query, float_mask), make(kind, seq, query, None)
    plain.load_state_dict(masked.state_dict())
    vals, qs = torch.randn(2, 4, 3), torch.randn(2, 2)
    got = get_output(masked[1], {seq: vals, query: qs, float_mask: torch.ones(2, 4)})
    torch.testing.assert_close(got, get_output(plain[1], {seq: vals, query: qs}))
    half = get_output(masked[1], {seq: vals, query: qs,
                                  float_mask: torch.tensor([[1.0, 0, 1, 0]] * 2)})
    assert torch.all(half[:, 1::2] == 0)


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_hard_attention_flag(kind):
    torch.manual_seed(5)
    seq, query, mask, _ = layers(t=5, v=3, q=2)
    attention = make(kind, seq, query, mask)
    vals, qs = torch.randn(4, 5, 3), torch.randn(4, 2)
    m = torch.ones(4, 5, dtype=torch.bool)
    m[:, 0] = False
    given = {seq: vals, query: qs, mask: m}
    soft = get_output(attention[1], given)
    r, w = get_output([attention[0], attention[1]], given, hard_attention=True)
    best = soft.argmax(1)
    assert best.ne(0).all()
    assert torch.equal(w, torch.nn.functional.one_hot(best, 5).float())
    assert torch.equal(r, vals[torch.arange(4), best])


def test_attention_over_a_window_in_an_agent_on_cartpole():
    torch.manual_seed(6)
    obs = InputLayer((None, 4), name="obs")
    prev = InputLayer((None, 3, 4), name="prev_window")
    window = WindowAugmentation(obs, prev, name="window")
    response, weights = AttentionLayer(window, obs, 8, name="attention")
    q = DenseLayer(response, 2, nonlinearity=None, name="q")
    agent = Agent(obs, agent_states={window: prev}, policy_estimators=[q, weights],
                  action_layers=GreedyResolver(q))
    s = agent.get_sessions(CartPole(seed=0), session_length=4, batch_size=2)
    torch.testing.assert_close(s.policy[1].sum(-1), torch.ones(2, 4))
    s.policy[0].sum().backward()
    attention = response.input_layers[0]
    assert attention.weight_enc.grad is not None and attention.weight_enc.grad.abs().sum() > 0


def test_shapes_and_unknown_lengths():
    seq = InputLayer((None, None, 4), name="seq")
    mask = InputLayer((None, None), dtype=torch.bool, name="mask")
    query = InputLayer((None, 3), name="query")
    attention = AttentionLayer(seq, query, 5, mask_input=mask)
    assert attention.output_shape == ((None, 4), (None, None))
    assert attention.output_dtype == (torch.float32, torch.float32)
    r, w = get_output([attention[0], attention[1]],
                      {seq: torch.randn(2, 9, 4), query: torch.randn(2, 3),
                       mask: torch.ones(2, 9, dtype=torch.bool)})
    assert r.shape == (2, 4) and w.shape == (2, 9)


def test_errors():
    seq, query, _, _ = layers(t=4, v=3, q=2)
    with pytest.raises(ValueError, match=r"AttentionLayer 'a'.*input_sequence.*flat.*\(None, 3\)"):
        AttentionLayer(InputLayer((None, 3), name="flat"), query, 4, name="a")
    with pytest.raises(ValueError, match=r"AttentionLayer 'a'.*query.*q3.*\(None, 2, 2\)"):
        AttentionLayer(seq, InputLayer((None, 2, 2), name="q3"), 4, name="a")
    with pytest.raises(ValueError, match=r"AttentionLayer 'a'.*mask_input.*m5.*\(None, 5\)"):
        AttentionLayer(seq, query, 4, mask_input=InputLayer((None, 5), name="m5"), name="a")
    with pytest.raises(ValueError, match=r"AttentionLayer 'a'.*key_sequence.*k6"):
        AttentionLayer(seq, query, 4, key_sequence=InputLayer((None, 6, 3), name="k6"),
                       name="a")
    with pytest.raises(ValueError, match=r"AttentionLayer 'a'.*W_out cannot be None"):
        AttentionLayer(seq, query, 4, W_out=None, name="a")
    with pytest.raises(ValueError, match=r"AttentionLayer 'a'.*W_dec.*\(5, 2\).*\(4, 2\)"):
        AttentionLayer(seq, query, 4, W_dec=torch.zeros(5, 2), name="a")
    with pytest.raises(ValueError, match=r"AttentionLayer 'a'.*num_units"):
        AttentionLayer(seq, query, 0, name="a")
    with pytest.raises(TypeError, match=r"AttentionLayer 'a'.*ids.*int64"):
        AttentionLayer(InputLayer((None, 4, 3), dtype=torch.int64, name="ids"), query, 4,
                       name="a")
    with pytest.warns(UserWarning, match=r"DotAttentionLayer 'd'.*query.*\(None, 2\).*seq.*"
                                         r"\(None, 4, 3\).*use_dense_layer=True"):
        projected = DotAttentionLayer(seq, query, name="d")
    assert projected.use_dense_layer and tuple(projected.weight_query.shape) == (3, 2)
    for bad in [None, 0, -1.0, "yes", float("nan")]:
        with pytest.raises(ValueError, match=r"DotAttentionLayer 'd'.*scale must be True.*"
                                             + re.escape(repr(bad))):
            DotAttentionLayer(seq, InputLayer((None, 3)), scale=bad, name="d")
    with pytest.raises(TypeError, match=r"DotAttentionLayer 'd'.*several outputs"):
        DotAttentionLayer(AttentionLayer(seq, query, 4), query, name="d")
