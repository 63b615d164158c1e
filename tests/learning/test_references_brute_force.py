"""Value references of ``agentnet.learning.generic`` against slow, obvious references.

The references below are written from the docstrings and the episode-end contract of
:class:`agentnet.agent.Sessions` only, never from the library's code: plain Python lists, one
row and one tick at a time, each tick walking forward through its own episode. The library's
batched versions must agree with them on random sessions made of whole episodes (terminations,
truncations, restarts, rows that end mid-episode), for every way of treating the row's end.
"""
from __future__ import annotations

import math
from dataclasses import replace
from unittest import mock

import pytest
import torch
from brute_force import (
    FAST,
    LAMBDAS,
    VALUE,
    Case,
    cases,
    has_reference,
    walk,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from agentnet.learning import generic
from agentnet.learning.generic import (
    get_1_step_value_reference,
    get_generalized_advantages,
    get_lambda_returns,
    get_n_step_value_reference,
)

N_STEPS = [1, 2, 3, 5, None]

def reference_n_step(case: Case, n: int | None) -> list[list[float]]:
    batch, length = case.shape
    out = [[0.0] * length for _ in range(batch)]
    for b in range(batch):
        for t in range(length):
            if has_reference(case, b, t):
                out[b][t] = walk(case, b, t, n)[0]
            elif case.alive[b][t]:                   # crop_last: the last tick holds V(T-1)
                out[b][t] = case.values[b][t]
    return out


def reference_lambda(case: Case, lambda_: float) -> list[list[float]]:
    """The lambda-weighted mixture of n-step references (not the recursion): weights
    (1 - lambda) lambda^(n-1) for n < N and the tail lambda^(N-1) on the longest return."""
    batch, length = case.shape
    out = reference_n_step(case, 1)
    for b in range(batch):
        for t in range(length):
            if has_reference(case, b, t):
                longest = walk(case, b, t, None)[1]
                mix = sum((1 - lambda_) * lambda_ ** (n - 1) * walk(case, b, t, n)[0]
                          for n in range(1, longest))
                out[b][t] = mix + lambda_ ** (longest - 1) * walk(case, b, t, longest)[0]
    return out


def reference_gae(case: Case, lambda_: float) -> list[list[float]]:
    """A(t) = sum_k gamma(t)...gamma(t+k-1) lambda^k delta(t+k) over the rest of the episode,
    delta(s) = (the 1-step reference of s) - V(s)."""
    batch, length = case.shape
    out = [[0.0] * length for _ in range(batch)]
    for b in range(batch):
        for t in range(length):
            if not has_reference(case, b, t):
                continue
            weight = 1.0
            for s in range(t, t + walk(case, b, t, None)[1]):
                out[b][t] += weight * (walk(case, b, s, 1)[0] - case.values[b][s])
                weight *= case.gamma(b, s) * lambda_
    return out


def checked(case: Case) -> list[list[bool]]:
    """Every tick is compared."""
    batch, length = case.shape
    return [[True] * length for _ in range(batch)]


def close(actual: torch.Tensor, expected: list[list[float]], case: Case) -> None:
    mask = torch.tensor(checked(case))
    assert_close(actual[mask], torch.tensor(expected, dtype=torch.float64)[mask])


# ---------------------------------------------------------------- library == reference

@FAST
@given(case=cases(), n=st.sampled_from(N_STEPS))
def test_n_step_reference_matches_brute_force(case, n):
    close(get_n_step_value_reference(**case.kwargs(), n_steps=n), reference_n_step(case, n), case)


@pytest.mark.parametrize("at_once", [True, False], ids=["all-offsets", "offset-by-offset"])
@settings(FAST, max_examples=40)
@given(case=st.one_of(cases(), cases(min_time=6, restart_in_row_0=True)),
       n=st.sampled_from([1, 2, 3, 5]), data=st.data())
def test_both_ways_of_summing_the_window_match_brute_force(at_once, case, n, data):
    """Small sessions sum all window offsets at once, large ones offset by offset: both
    ways, forced here on the same small sessions, give the reference and its gradient, and
    ignore NaN padding."""
    limit = 2 ** 62 if at_once else 0
    with mock.patch.object(generic, "_ALL_OFFSETS_AT_ONCE", limit):
        kwargs = case.kwargs()
        values = kwargs["state_values"].requires_grad_()
        out = get_n_step_value_reference(**kwargs, n_steps=n)
        close(out, reference_n_step(case, n), case)
        weights = torch.tensor(data.draw(st.lists(
            st.lists(VALUE, min_size=case.shape[1], max_size=case.shape[1]),
            min_size=case.shape[0], max_size=case.shape[0])), dtype=torch.float64)
        (out * weights).sum().backward()
        garbage = get_n_step_value_reference(**with_nan_where_unread(case).kwargs(), n_steps=n)
    assert_close(garbage, out.detach(), rtol=0, atol=1e-12)
    close(values.grad, reference_jacobian_product(
        case, lambda c: reference_n_step(c, n), weights.tolist()), case)


@FAST
@given(case=cases())
def test_1_step_reference_matches_brute_force(case):
    close(get_1_step_value_reference(**case.kwargs()), reference_n_step(case, 1), case)


@FAST
@given(case=cases(), lambda_=LAMBDAS)
def test_lambda_returns_are_the_mixture_of_n_step_references(case, lambda_):
    returns = get_lambda_returns(**case.kwargs(), lambda_=lambda_)
    close(returns, reference_lambda(case, lambda_), case)


@FAST
@given(case=cases(), lambda_=LAMBDAS)
def test_generalized_advantages_match_brute_force(case, lambda_):
    advantages = get_generalized_advantages(**case.kwargs(), lambda_=lambda_)
    close(advantages, reference_gae(case, lambda_), case)
    # A + V is the lambda-return wherever the session is alive (the cropped last tick too: 0 + V)
    kwargs = case.kwargs()
    alive = kwargs["is_alive"]
    returns = get_lambda_returns(**kwargs, lambda_=lambda_)
    assert_close((advantages + kwargs["state_values"])[alive], returns[alive])


@pytest.mark.parametrize("crop_last", [
    False,
    True,
])
def test_lambda_as_a_tensor_equals_the_number(crop_last):
    values, rewards = torch.randn(2, 5, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    for fn in (get_lambda_returns, get_generalized_advantages):
        number = fn(values, rewards, lambda_=0.7, crop_last=crop_last)
        for lambda_ in (torch.full((2,), 0.7, dtype=torch.float64),
                        torch.full((2, 5), 0.7, dtype=torch.float64)):
            assert_close(fn(values, rewards, lambda_=lambda_, crop_last=crop_last), number)


@FAST
@given(case=cases())
def test_missing_masks_mean_always_alive_and_never_truncated(case):
    batch, length = case.shape
    case = replace(case, alive=[[True] * length] * batch, truncated=[[False] * length] * batch)
    kwargs = case.kwargs()
    del kwargs["is_alive"], kwargs["is_truncated"]
    close(get_n_step_value_reference(**kwargs, n_steps=2), reference_n_step(case, 2), case)
    close(get_lambda_returns(**kwargs, lambda_=0.5), reference_lambda(case, 0.5), case)


# ---------------------------------------------------------------- episode boundaries

ALL_REFERENCES = [
    *[pytest.param(lambda kw, n=n: get_n_step_value_reference(**kw, n_steps=n), id=f"n={n}")
      for n in N_STEPS],
    pytest.param(lambda kw: get_1_step_value_reference(**kw), id="1-step"),
    pytest.param(lambda kw: get_lambda_returns(**kw, lambda_=0.8), id="lambda"),
    pytest.param(lambda kw: get_generalized_advantages(**kw, lambda_=0.8), id="gae"),
]


@pytest.mark.parametrize("reference", ALL_REFERENCES)
@settings(FAST, max_examples=30)
@given(case=cases(min_time=3, restart_in_row_0=True), data=st.data())
def test_no_return_crosses_an_episode_start(reference, case, data):
    """Changing everything of row 0 from a later episode's first tick on (rewards, values,
    gammas, the value after the row) changes nothing before it, nor any other row."""
    alive = case.alive[0]
    start = data.draw(st.sampled_from(
        [t for t in range(1, len(alive)) if alive[t] and not alive[t - 1]]))
    bump = data.draw(st.lists(st.floats(10.0, 100.0), min_size=3, max_size=3))

    def changed(row: list[float], by: float) -> list[float]:
        return row[:start] + [x + by for x in row[start:]]

    gammas = case.gammas
    if isinstance(gammas, list) and isinstance(gammas[0], list):
        gammas = [gammas[0][:start] + [1.0 - g for g in gammas[0][start:]], *gammas[1:]]
    other = replace(
        case, rewards=[changed(case.rewards[0], bump[0]), *case.rewards[1:]],
        values=[changed(case.values[0], bump[1]), *case.values[1:]], gammas=gammas,
        after_end=None if case.after_end is None else [bump[2], *case.after_end[1:]])
    before, after = reference(case.kwargs()), reference(other.kwargs())
    assert_close(after[0, :start], before[0, :start], rtol=1e-12, atol=1e-12)
    assert_close(after[1:], before[1:], rtol=0, atol=0)


@pytest.mark.parametrize("reference", ALL_REFERENCES)
@settings(FAST, max_examples=30)
@given(case=cases())
def test_dead_ticks_get_zero(reference, case):
    out = reference(case.kwargs())
    dead = ~torch.tensor(case.alive) & torch.tensor(checked(case))
    assert torch.equal(out[dead], torch.zeros_like(out[dead]))


def with_nan_where_unread(case: Case) -> Case:
    """``case`` with NaN rewards at dead ticks, and NaN values at dead ticks that are no
    truncated episode's final state: nothing any reference may read."""
    def unread_value(b: int, t: int) -> bool:
        return not case.alive[b][t] and not (t > 0 and case.truncated[b][t - 1])

    return replace(
        case,
        rewards=[[r if a else math.nan for r, a in zip(rr, aa)]
                 for rr, aa in zip(case.rewards, case.alive)],
        values=[[math.nan if unread_value(b, t) else v for t, v in enumerate(row)]
                for b, row in enumerate(case.values)])


@pytest.mark.parametrize("reference", ALL_REFERENCES)
@settings(FAST, max_examples=30)
@given(case=cases())
def test_nan_where_nothing_is_read_changes_nothing(reference, case):
    """Padding may hold anything: NaN where nothing is read reaches no reference."""
    assert_close(reference(with_nan_where_unread(case).kwargs()), reference(case.kwargs()),
                 rtol=0, atol=1e-12)


@pytest.mark.parametrize("reference", ALL_REFERENCES)
def test_a_dead_last_tick_gets_zero_with_crop_last(reference):
    values = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    out = reference(dict(state_values=values, rewards=torch.zeros(1, 2, dtype=torch.float64),
                         is_alive=torch.tensor([[True, False]])))
    assert out[0, 1] == 0


# ---------------------------------------------------------------- shape errors

def _sessions(batch=2, time=3):
    return torch.zeros(batch, time), torch.ones(batch, time)


@pytest.mark.parametrize("fn", [
    get_n_step_value_reference, get_1_step_value_reference, get_lambda_returns,
    get_generalized_advantages])
@pytest.mark.parametrize("change, match", [
    (dict(rewards=torch.ones(3)), r"rewards must be \[batch, time\], got shape \(3,\)"),
    (dict(rewards=torch.ones(2, 3, 1)), r"rewards must be \[batch, time\], got shape \(2, 3, 1\)"),
    (dict(state_values=torch.zeros(3)), r"state_values must be \[batch, time\].*got shape \(3,\)"),
    (dict(state_values=torch.zeros(1, 3)), r"state_values must be .*\(2, 3\), got shape \(1, 3\)"),
    (dict(state_values=torch.zeros(2, 4)), r"state_values must be .*\(2, 3\), got shape \(2, 4\)"),
    (dict(is_alive=torch.ones(2, 2, dtype=torch.bool)), r"is_alive must be .*got shape \(2, 2\)"),
    (dict(is_truncated=torch.zeros(3, dtype=torch.bool)), r"is_truncated must be .*shape \(3,\)"),
    (dict(gamma_or_gammas=torch.ones(2, 2)), r"gamma_or_gammas must be a number, \[batch\] or"),
    (dict(gamma_or_gammas=torch.ones(3)), r"gamma_or_gammas must be a number, \[batch\] or"),
    (dict(gamma_or_gammas=torch.ones(2, 3, 1)), r"gamma_or_gammas must be a number"),
    (dict(state_values_after_end=torch.ones(2, 2), crop_last=False),
     r"state_values_after_end must be \[batch\], got shape \(2, 2\)"),
])
def test_shape_errors_name_the_argument_and_the_shapes(fn, change, match):
    values, rewards = _sessions()
    with pytest.raises(ValueError, match=match):
        fn(**{"state_values": values, "rewards": rewards, **change})


def test_state_values_after_end_of_another_batch_is_a_clear_error():
    values, rewards = _sessions()
    with pytest.raises(ValueError, match=r"state_values_after_end must be \[batch\]"):
        get_n_step_value_reference(values, rewards, crop_last=False,
                                   state_values_after_end=torch.ones(3))


@pytest.mark.parametrize("fn", [get_lambda_returns, get_generalized_advantages])
def test_lambda_of_a_wrong_shape_is_a_clear_error(fn):
    values, rewards = _sessions()
    with pytest.raises(ValueError, match=r"lambda_ must be a number, \[batch\] or \[batch, time\]"):
        fn(values, rewards, lambda_=torch.ones(5), crop_last=False)


# ---------------------------------------------------------------- gradients

def reference_jacobian_product(case: Case, reference, weights: list[list[float]]):
    """d(sum weights * reference)/d(state_values) from the brute force: every reference is
    linear in the values, so the derivative by V[b][j] is the reference of the unit V e_j with
    zero rewards and zero value after the row."""
    batch, length = case.shape
    grads = [[0.0] * length for _ in range(batch)]
    for b in range(batch):
        for j in range(length):
            unit = [[float(bb == b and t == j) for t in range(length)] for bb in range(batch)]
            zero = [[0.0] * length for _ in range(batch)]
            after = None if case.after_end is None else [0.0] * batch
            out = reference(replace(case, values=unit, rewards=zero, after_end=after))
            grads[b][j] = sum(weights[b][t] * out[b][t] for t in range(length))
    return grads


@pytest.mark.parametrize("name", ["n=3", "n=None", "lambda", "gae"])
@settings(FAST, max_examples=30)
@given(case=cases(), data=st.data())
def test_gradients_reach_exactly_the_values_bootstrapped_from(name, case, data):
    library, reference = {
        "n=3": (lambda kw: get_n_step_value_reference(**kw, n_steps=3),
                lambda c: reference_n_step(c, 3)),
        "n=None": (lambda kw: get_n_step_value_reference(**kw, n_steps=None),
                   lambda c: reference_n_step(c, None)),
        "lambda": (lambda kw: get_lambda_returns(**kw, lambda_=0.6),
                   lambda c: reference_lambda(c, 0.6)),
        "gae": (lambda kw: get_generalized_advantages(**kw, lambda_=0.6),
                lambda c: reference_gae(c, 0.6)),
    }[name]
    batch, length = case.shape
    weights = data.draw(st.lists(st.lists(VALUE, min_size=length, max_size=length),
                                 min_size=batch, max_size=batch))
    weights = [[w * ok for w, ok in zip(*rows)] for rows in zip(weights, checked(case))]
    kwargs = case.kwargs()
    values = kwargs["state_values"].requires_grad_()
    (library(kwargs) * torch.tensor(weights, dtype=torch.float64)).sum().backward()
    close(values.grad, reference_jacobian_product(case, reference, weights), case)


def test_gradients_on_a_hand_made_row():
    """Row: ticks 0-1 an episode truncated at 1 (final state 2), ticks 3-4 an episode that
    terminates (final state 5), ticks 6-7 dead, 8-9 an episode cut by the row's end."""
    alive = torch.tensor([[1, 1, 0, 1, 1, 0, 0, 0, 1, 1]], dtype=torch.bool)
    truncated = torch.zeros(1, 10, dtype=torch.bool)
    truncated[0, 1] = True
    rewards = torch.ones(1, 10, dtype=torch.float64)
    for fn in (lambda v: get_n_step_value_reference(v, rewards, alive, n_steps=1,
                                                    gamma_or_gammas=0.9, is_truncated=truncated),
               lambda v: get_lambda_returns(v, rewards, alive, gamma_or_gammas=0.9,
                                            is_truncated=truncated)):
        values = torch.ones(1, 10, dtype=torch.float64, requires_grad=True)
        fn(values).sum().backward()
        grad = values.grad[0]
        assert (grad[[1, 2, 4, 9]] != 0).all(), grad   # bootstrapped from (9: crop_last's V(T-1))
        assert (grad[[0, 3, 5, 6, 7, 8]] == 0).all(), grad  # never bootstrapped from
    # GAE also subtracts V(t) at every alive tick that gets an advantage
    values = torch.ones(1, 10, dtype=torch.float64, requires_grad=True)
    get_generalized_advantages(values, rewards, alive, gamma_or_gammas=0.9,
                               is_truncated=truncated).sum().backward()
    grad = values.grad[0]
    assert (grad[[0, 1, 2, 3, 4, 8, 9]] != 0).all(), grad   # 9: delta(8) bootstraps from it
    assert (grad[[5, 6, 7]] == 0).all(), grad
