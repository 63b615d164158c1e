"""The one backward recursion of ``agentnet.learning`` and the returns expressed on it.

Hand-computed rows for the primitive, then the identities that tie the references to it:
lambda = 1 is the discounted return (reading no value inside an episode), GAE is the
lambda-return minus V, V-trace on-policy with c = lambda is the lambda-return.
"""
from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import pytest
import torch
from brute_force import (
    FAST,
    cases,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from agentnet.learning import generic, vtrace
from agentnet.learning._episodes import EpisodeEnds, backward_scan, get_ticks, lambda_returns


def ticks_of(alive, truncated=None, crop_last=False, gamma=0.5):
    alive = torch.tensor([alive])
    rewards = torch.zeros(alive.shape, dtype=torch.float64)
    ends = EpisodeEnds(is_alive=alive, gamma_or_gammas=gamma, crop_last=crop_last,
                       is_truncated=None if truncated is None else torch.tensor([truncated]))
    return get_ticks(torch.zeros_like(rewards), rewards, ends)


def test_the_scan_carries_inside_an_episode_and_stops_at_its_end():
    # an episode of ticks 0-2 (terminates: 3 is its final state), dead 4, a new one at 5-6
    ticks = ticks_of([True, True, True, False, False, True, True])
    x = torch.tensor([[1.0, 2.0, 4.0, 100.0, 100.0, 8.0, 16.0]], dtype=torch.float64)
    decay = torch.full_like(x, 0.5)
    y = backward_scan(x, decay, ticks)
    # 2: 4; 1: 2 + 0.5 * 4; 0: 1 + 0.5 * 4; dead: 0; 6 (the row's end): 16; 5: 8 + 0.5 * 16
    assert y.tolist() == [[3.0, 4.0, 4.0, 0.0, 0.0, 16.0, 16.0]]


def test_the_scan_reads_nothing_where_the_mask_does_not():
    ticks = ticks_of([True, True, False, True])
    x = torch.tensor([[1.0, 1.0, math.nan, 1.0]], dtype=torch.float64)
    decay = torch.tensor([[1.0, math.nan, math.nan, math.inf]], dtype=torch.float64)
    assert backward_scan(x, decay, ticks).tolist() == [[2.0, 1.0, 0.0, 1.0]]


def test_the_scan_is_differentiable_in_inputs_and_decays():
    ticks = ticks_of([True, True, True])
    x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64, requires_grad=True)
    decay = torch.tensor([[0.5, 0.25, 7.0]], dtype=torch.float64, requires_grad=True)
    backward_scan(x, decay, ticks).sum().backward()
    # y0 = x0 + d0 (x1 + d1 x2), y1 = x1 + d1 x2, y2 = x2 (d2 is never read)
    assert x.grad.tolist() == [[1.0, 1.5, 1.0 + 0.25 + 0.5 * 0.25]]
    assert decay.grad.tolist() == [[2.0 + 0.25 * 3.0, 3.0 + 0.5 * 3.0, 0.0]]


def test_lambda_1_reads_no_value_inside_an_episode():
    """The whole-session return is the rewards' sum, exactly, whatever the values inside the
    episode (their coefficient is exactly 0, not V - V)."""
    rewards = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    values = torch.tensor([[1e30, -1e30, 3e29, 5.0]])
    returns = generic.get_n_step_value_reference(values, rewards, n_steps=None,
                                                 gamma_or_gammas=1.0, crop_last=False)
    assert returns.tolist() == [[10.0, 9.0, 7.0, 4.0]]
    ticks = get_ticks(values, rewards, EpisodeEnds(gamma_or_gammas=1.0, crop_last=False))
    assert torch.equal(lambda_returns(ticks, 1.0), returns)


@FAST
@given(case=cases(), lambda_=st.floats(0.0, 1.0))
def test_generalized_advantages_are_lambda_returns_minus_values(case, lambda_):
    kwargs = case.kwargs()
    advantages = generic.get_generalized_advantages(**kwargs, lambda_=lambda_)
    returns = generic.get_lambda_returns(**kwargs, lambda_=lambda_)
    alive = kwargs["is_alive"].clone()
    if case.cropped:
        alive[:, -1] = False                      # the cropped last tick: A = 0, G = V
        assert torch.equal(advantages[:, -1], torch.zeros_like(advantages[:, -1]))
    assert torch.equal(advantages[alive], (returns - kwargs["state_values"])[alive])
    assert torch.equal(advantages[~alive], torch.zeros_like(advantages[~alive]))


@settings(FAST, max_examples=50)
@given(case=cases(), lambda_=st.floats(0.0, 1.0))
def test_vtrace_on_policy_with_c_lambda_is_the_lambda_return(case, lambda_):
    """With pi = mu, rho = 1 and c = lambda: V-trace's recursion is the lambda-return's."""
    kwargs = case.kwargs()
    values = kwargs.pop("state_values")
    vs, _ = vtrace.get_vtrace_targets(values, log_rhos=torch.zeros_like(values),
                                      lambda_=lambda_, **kwargs)
    assert_close(vs, generic.get_lambda_returns(values, lambda_=lambda_, **kwargs))


def test_episode_ends_are_a_frozen_keyword_record():
    ends = EpisodeEnds(is_alive=None, crop_last=True, end_at_tmax=True)
    assert not ends.cropped                      # end_at_tmax: the last tick terminates
    with pytest.raises(FrozenInstanceError):
        ends.crop_last = False                   # type: ignore[misc]
    with pytest.raises(TypeError):
        EpisodeEnds(None, 0.99)                  # type: ignore[misc]
