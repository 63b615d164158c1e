"""Action pickers: greedy, epsilon-greedy, probabilistic and Boltzmann resolvers.

Statistical checks draw 20000 actions from one seeded generator and allow 4 standard errors.
"""
from __future__ import annotations

import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agentnet import resolver as R
from agentnet.layers import InputLayer, get_output
from agentnet.resolver import (
    BoltzmannResolver,
    EpsilonGreedyResolver,
    GreedyResolver,
    ProbabilisticResolver,
)

N = 20000


def _assert_frequencies(actions: torch.Tensor, probs: torch.Tensor) -> None:
    """Empirical frequencies of ``actions`` within 4 standard errors of ``probs``; never an
    action of probability 0."""
    probs = probs.double()
    freq = torch.bincount(actions, minlength=len(probs)).double() / len(actions)
    tolerance = 4 * torch.sqrt(probs * (1 - probs) / len(actions)) + 1e-12
    assert bool(((freq - probs).abs() <= tolerance).all()), (freq.tolist(), probs.tolist())
    assert bool((freq[probs == 0] == 0).all()), (freq.tolist(), probs.tolist())


def test_every_public_name_is_importable():
    for name in R.__all__:
        assert getattr(R, name) is not None, name


@pytest.mark.parametrize("make", [
    GreedyResolver, EpsilonGreedyResolver, ProbabilisticResolver, BoltzmannResolver])
def test_resolvers_output_int64_batch(make):
    policy = InputLayer((None, 3), name="policy")
    resolver = make(policy, name="pick")
    assert resolver.output_shape == (None,)
    assert resolver.output_dtype == torch.int64
    assert resolver.n_actions == 3
    actions = get_output(resolver, {policy: torch.full((5, 3), 1 / 3)})
    assert actions.dtype == torch.int64 and actions.shape == (5,)
    assert bool(((actions >= 0) & (actions < 3)).all())


@pytest.mark.parametrize("shape", [(None, 2, 3), (None,), (None, None)])
def test_policy_of_the_wrong_shape_names_the_layer(shape):
    policy = InputLayer(shape, name="policy")
    with pytest.raises(ValueError, match=re.escape(
            f"GreedyResolver 'pick': expects a policy [batch, n_actions] with a known number of "
            f"actions, got {'(None,)' if len(shape) == 1 else str(shape)} from "
            f"InputLayer 'policy'")):
        GreedyResolver(policy, name="pick")
    with pytest.raises(ValueError, match="EpsilonGreedyResolver 'eps'"):
        EpsilonGreedyResolver(policy, epsilon=0.1, name="eps")


def test_greedy_resolver_is_argmax():
    torch.manual_seed(0)
    q = InputLayer((None, 5), name="q")
    values = torch.randn(100, 5)
    assert torch.equal(get_output(GreedyResolver(q), {q: values}), values.argmax(dim=1))


# --- epsilon-greedy ---------------------------------------------------------------------
def test_epsilon_zero_is_always_greedy():
    torch.manual_seed(0)
    q = InputLayer((None, 4), name="q")
    values = torch.randn(N, 4)
    actions = get_output(EpsilonGreedyResolver(q, epsilon=0.0), {q: values})
    assert torch.equal(actions, values.argmax(dim=1))


def _non_greedy_fraction(resolver, q, values) -> float:
    actions = get_output(resolver, {q: values})
    return (actions != values.argmax(dim=1)).double().mean().item()


@pytest.mark.parametrize("epsilon, n_actions", [(0.1, 2), (0.3, 4), (0.8, 6), (1.0, 3)])
def test_epsilon_fraction_of_non_greedy_actions(epsilon, n_actions):
    torch.manual_seed(1)
    q = InputLayer((None, n_actions), name="q")
    resolver = EpsilonGreedyResolver(q, epsilon=epsilon, name="eps")
    values = torch.randn(N, n_actions)
    actions = get_output(resolver, {q: values})
    greedy = values.argmax(dim=1)
    expected = epsilon * (n_actions - 1) / n_actions
    fraction = (actions != greedy).double().mean().item()
    assert abs(fraction - expected) <= 4 * math.sqrt(expected * (1 - expected) / N)
    # the random picks are uniform: each offset from the greedy action has epsilon / A
    offsets = (actions - greedy) % n_actions
    _assert_frequencies(offsets, torch.tensor(
        [1 - expected] + [epsilon / n_actions] * (n_actions - 1)))


def test_epsilon_set_value_changes_behaviour_without_rebuilding():
    torch.manual_seed(2)
    q = InputLayer((None, 4), name="q")
    resolver = EpsilonGreedyResolver(q, epsilon=0.0, name="eps")
    values = torch.randn(N, 4)
    assert _non_greedy_fraction(resolver, q, values) == 0.0
    resolver.epsilon.set_value(1.0)
    assert resolver.epsilon.get_value() == 1.0
    assert abs(_non_greedy_fraction(resolver, q, values) - 0.75) <= 4 * math.sqrt(
        0.75 * 0.25 / N)
    resolver.epsilon.set_value(0.0)
    assert _non_greedy_fraction(resolver, q, values) == 0.0


def test_epsilon_is_in_the_state_dict():
    q = InputLayer((None, 4), name="q")
    resolver = EpsilonGreedyResolver(q, epsilon=0.25, name="eps")
    keys = [key for key in resolver.state_dict() if key.endswith("epsilon.value")]
    assert len(keys) == 1
    assert float(resolver.state_dict()[keys[0]]) == 0.25
    other = EpsilonGreedyResolver(q, epsilon=0.0, name="other")
    other.load_state_dict(resolver.state_dict())
    assert other.epsilon.get_value() == 0.25


def test_epsilon_greedy_flag_gives_argmax():
    torch.manual_seed(3)
    q = InputLayer((None, 4), name="q")
    resolver = EpsilonGreedyResolver(q, epsilon=1.0)
    values = torch.randn(1000, 4)
    assert torch.equal(get_output(resolver, {q: values}, greedy=True), values.argmax(dim=1))
    assert not torch.equal(get_output(resolver, {q: values}), values.argmax(dim=1))


@pytest.mark.parametrize("epsilon", [-0.1, 1.5])
def test_invalid_epsilon_raises(epsilon):
    q = InputLayer((None, 4), name="q")
    with pytest.raises(ValueError, match=re.escape(
            f"EpsilonGreedyResolver 'eps': epsilon must be in [0, 1], got {epsilon}")):
        EpsilonGreedyResolver(q, epsilon=epsilon, name="eps")


def test_epsilon_greedy_seeded_reproducibility():
    q = InputLayer((None, 5), name="q")
    resolver = EpsilonGreedyResolver(q, epsilon=0.5)
    values = torch.zeros(500, 5)
    torch.manual_seed(7)
    first = get_output(resolver, {q: values})
    torch.manual_seed(7)
    assert torch.equal(get_output(resolver, {q: values}), first)


# --- probabilistic ----------------------------------------------------------------------
@settings(max_examples=12, deadline=None, derandomize=True)
@given(weights=st.lists(st.integers(0, 10), min_size=2, max_size=6).filter(lambda w: sum(w) > 0),
       normalized=st.booleans())
def test_probabilistic_frequencies_match(weights, normalized):
    torch.manual_seed(sum(weights))
    w = torch.tensor(weights, dtype=torch.float32)
    probs = w / w.sum()
    p = InputLayer((None, len(weights)), name="p")
    resolver = ProbabilisticResolver(p, assume_normalized=normalized)
    policy = (probs if normalized else w).expand(N, -1)
    _assert_frequencies(get_output(resolver, {p: policy}), probs)


@pytest.mark.parametrize("probs", [
    [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
def test_zero_probability_actions_are_never_picked(probs):
    torch.manual_seed(4)
    p = InputLayer((None, len(probs)), name="p")
    actions = get_output(ProbabilisticResolver(p), {p: torch.tensor(probs).expand(N, -1)})
    zero = torch.tensor(probs) == 0
    assert not bool(zero[actions].any())


def test_unnormalized_weights():
    torch.manual_seed(5)
    p = InputLayer((None, 4), name="p")
    weights = torch.tensor([1., 3., 0., 4.])
    actions = get_output(ProbabilisticResolver(p, assume_normalized=False),
                         {p: weights.expand(N, -1)})
    _assert_frequencies(actions, weights / 8)


def test_each_row_uses_its_own_probabilities():
    p = InputLayer((None, 4), name="p")
    chosen = torch.randint(4, (1000,), generator=torch.Generator().manual_seed(0))
    one_hot = torch.nn.functional.one_hot(chosen, 4).float()
    assert torch.equal(get_output(ProbabilisticResolver(p), {p: one_hot}), chosen)
    assert torch.equal(get_output(ProbabilisticResolver(p, assume_normalized=False),
                                  {p: 3 * one_hot}), chosen)


def test_probabilistic_greedy_flag():
    p = InputLayer((None, 3), name="p")
    probs = torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]]).repeat(100, 1)
    actions = get_output(ProbabilisticResolver(p), {p: probs}, greedy=True)
    assert torch.equal(actions, torch.tensor([1, 0]).repeat(100))


def test_probabilistic_seeded_reproducibility():
    p = InputLayer((None, 5), name="p")
    resolver = ProbabilisticResolver(p)
    probs = torch.full((1000, 5), 0.2)
    torch.manual_seed(123)
    first = get_output(resolver, {p: probs})
    torch.manual_seed(123)
    second = get_output(resolver, {p: probs})
    torch.manual_seed(124)
    third = get_output(resolver, {p: probs})
    assert torch.equal(first, second)
    assert not torch.equal(first, third)


def test_zero_probability_last_action_despite_rounding(monkeypatch):
    probs = torch.softmax(torch.tensor([[0.0, 0.3, 2.0, -math.inf]]), dim=1)
    assert probs[0, -1] == 0 and probs.cumsum(1)[0, -1] < 1  # a legitimate softmax output
    p = InputLayer((None, 4), name="p")
    resolver = ProbabilisticResolver(p)

    def largest_uniform(*size, dtype=None, device=None, **kwargs):  # what torch.rand can return
        return torch.full(size, 1 - 2 ** -24, dtype=dtype or torch.float32, device=device)

    monkeypatch.setattr(torch, "rand", largest_uniform)
    action = get_output(resolver, {p: probs})
    assert action.item() != 3


# --- Boltzmann --------------------------------------------------------------------------
def test_boltzmann_frequencies_match_softmax():
    torch.manual_seed(6)
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0])
    q = InputLayer((None, 4), name="q")
    resolver = BoltzmannResolver(q, temperature=0.5, name="boltzmann")
    _assert_frequencies(get_output(resolver, {q: logits.expand(N, -1)}),
                        torch.softmax(logits / 0.5, dim=0))
    resolver.temperature.set_value(5.0)
    _assert_frequencies(get_output(resolver, {q: logits.expand(N, -1)}),
                        torch.softmax(logits / 5.0, dim=0))
    assert "temperature.value" in resolver.state_dict()


def test_boltzmann_low_temperature_is_greedy():
    torch.manual_seed(7)
    q = InputLayer((None, 6), name="q")
    # each row a shuffle of 0, 0.1, ..., 0.5: gaps of 0.1 are huge next to the temperature
    values = torch.rand(N, 6).argsort(dim=1).float() * 0.1
    cold = BoltzmannResolver(q, temperature=1e-4)
    assert torch.equal(get_output(cold, {q: values}), values.argmax(dim=1))
    hot = BoltzmannResolver(q, temperature=1.0)
    assert torch.equal(get_output(hot, {q: values}, greedy=True), values.argmax(dim=1))
    assert not torch.equal(get_output(hot, {q: values}), values.argmax(dim=1))


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_boltzmann_invalid_temperature(temperature):
    q = InputLayer((None, 3), name="q")
    with pytest.raises(ValueError, match="BoltzmannResolver 'b': temperature must be positive"):
        BoltzmannResolver(q, temperature=temperature, name="b")


def test_run_time_values_are_checked_and_refusal_keeps_the_old_value():
    q = InputLayer((None, 3), name="q")
    resolver = EpsilonGreedyResolver(q, epsilon=0.2, name="eps")
    with pytest.raises(ValueError, match=r"'eps': epsilon must be in \[0, 1\], got 1.5"):
        resolver.epsilon.set_value(1.5)
    assert resolver.epsilon.get_value() == pytest.approx(0.2)
    boltzmann = BoltzmannResolver(q, temperature=2.0, name="soft")
    with pytest.raises(ValueError, match="'soft': temperature must be positive"):
        boltzmann.temperature.set_value(0.0)
    assert boltzmann.temperature.get_value() == 2.0
