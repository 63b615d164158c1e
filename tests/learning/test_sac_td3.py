"""SAC and TD3 against slow, obvious references, by hand and on random sessions.

The references are Python loops over rows and ticks, written from the objectives' docstrings and
the episode-end contract only: the n-step references are ``brute_force.walk`` (windows that
stop at terminations, bootstrap from the final state's value after a truncation, never cross
into the next episode of the row, and treat the row's end as told). Sessions are random
(``brute_force.cases``: terminations, truncations, restarts inside a row, rows that end
mid-episode, every treatment of the row's end), in float64.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from brute_force import (
    F64,
    FAST,
    SETTINGS,
    Case,
    Grid,
    cases,
    has_reference,
    huber,
    n_step,
    per_tick,
    session_kwargs,
    squared,
    tensor,
)
from hypothesis import given
from hypothesis import strategies as st
from torch.testing import assert_close

from agentnet.learning import generic, qlearning, sac, td3

N_STEPS = st.one_of(st.sampled_from([1, 2, 3, None]), st.integers(1, 13))


# ---------------------------------------------------------------- random sessions

@dataclass
class Draw:
    """A :class:`Case` (the sessions) plus what SAC and TD3 read, as ``[B][T]`` lists of
    Gaussian floats (no ties in a min): the critics at the actions taken (``q1``, ``q2``), the
    target critics at fresh actions (``target_1``, ``target_2``), the fresh actions' and the
    actions taken's log-probabilities, and the temperature."""

    case: Case
    q1: Grid
    q2: Grid
    target_1: Grid
    target_2: Grid
    log_probs: Grid
    taken_log_probs: Grid
    alpha: float

    def t(self, name: str) -> torch.Tensor:
        return tensor(getattr(self, name))


@st.composite
def draws(draw) -> Draw:
    case = draw(st.one_of(cases(), cases(min_time=4, restart_in_row_0=True)))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 31)))

    def grid(scale: float = 3.0) -> Grid:
        return (scale * torch.randn(case.shape, generator=gen, dtype=F64)).tolist()

    return Draw(case=case, q1=grid(), q2=grid(), target_1=grid(), target_2=grid(),
                log_probs=grid(2.0), taken_log_probs=grid(2.0),
                alpha=draw(st.sampled_from([0.0, 0.2, 1.0]) | st.floats(0.0, 2.0)))


# ---------------------------------------------------------------- slow references

def rows_ticks(case: Case):
    batch, length = case.shape
    return [(b, t) for b in range(batch) for t in range(length)]


def soft_values(d: Draw) -> Grid:
    """min(Q1', Q2') - alpha log pi at every tick (dead ones too: a truncated episode's final
    state is a dead tick whose value the reference reads)."""
    return [[min(a, b) - d.alpha * lp for a, b, lp in zip(*rows)]
            for rows in zip(d.target_1, d.target_2, d.log_probs)]


def clipped_values(d: Draw) -> Grid:
    return [[min(a, b) for a, b in zip(*rows)] for rows in zip(d.target_1, d.target_2)]


def critic_loss(d: Draw, values: Grid, n: int | None, loss=squared,
                bonuses: Grid | None = None) -> Grid:
    reference = n_step(d.case, values, n, bonuses)
    return per_tick(d.case, lambda b, t: loss(reference[b][t], d.q1[b][t])
                    + loss(reference[b][t], d.q2[b][t]))


def at_alive(case: Case, fn) -> Grid:
    """``fn(b, t)`` at alive ticks, 0 at dead ones (actor and temperature: no cropping)."""
    return [[fn(b, t) if case.alive[b][t] else 0.0 for t in range(case.shape[1])]
            for b in range(case.shape[0])]


def loss_mask(case: Case) -> torch.Tensor:
    batch, length = case.shape
    return torch.tensor([[has_reference(case, b, t) for t in range(length)]
                         for b in range(batch)])


def grad(output: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """d sum(output) / d leaf, zeros if it does not depend on it."""
    if not output.requires_grad:
        return torch.zeros_like(leaf)
    (g,) = torch.autograd.grad(output.sum(), leaf, allow_unused=True, retain_graph=True)
    return torch.zeros_like(leaf) if g is None else g


# ---------------------------------------------------------------- critics, random sessions

@FAST
@given(d=draws(), n=N_STEPS, use_huber=st.booleans())
def test_sac_critic(d, n, use_huber):
    values = sac.get_state_values(d.t("target_1"), d.t("target_2"), d.t("log_probs"), d.alpha)
    assert_close(values, tensor(soft_values(d)))
    out = sac.get_elementwise_critic_objective(
        d.t("q1"), d.t("q2"), values, n_steps=n,
        loss_function=qlearning.huber_loss if use_huber else qlearning.squared_error,
        **session_kwargs(d.case))
    assert_close(out, tensor(critic_loss(d, soft_values(d), n, huber if use_huber else squared)))
    no_loss = ~loss_mask(d.case)
    assert torch.equal(out[no_loss], torch.zeros_like(out[no_loss]))


@FAST
@given(d=draws(), n=N_STEPS)
def test_sac_critic_counts_the_entropy_bonus_of_every_tick_in_its_window(d, n):
    values = sac.get_state_values(d.t("target_1"), d.t("target_2"), d.t("log_probs"), d.alpha)
    kwargs = session_kwargs(d.case)
    rewards, values = sac.add_entropy_bonuses(
        kwargs.pop("rewards"), values, d.t("taken_log_probs"), d.alpha, kwargs["is_alive"],
        kwargs["gamma_or_gammas"])
    out = sac.get_elementwise_critic_objective(d.t("q1"), d.t("q2"), values, rewards, n_steps=n,
                                               **kwargs)
    bonuses = at_alive(d.case, lambda b, t: -d.alpha * d.taken_log_probs[b][t])
    assert_close(out, tensor(critic_loss(d, soft_values(d), n, bonuses=bonuses)))


def test_entropy_bonuses_by_hand_and_refusals():
    alive = torch.tensor([[True, True, False, True]])
    rewards, values = sac.add_entropy_bonuses(
        torch.zeros(1, 4), torch.zeros(1, 4), torch.tensor([[1., 2., 3., 4.]]), alpha=1.0,
        is_alive=alive, gamma_or_gammas=torch.tensor([[0.5, 0.25, 1.0, 1.0]]))
    assert_close(rewards, torch.tensor([[-1.0, 0.0, -4.0, 0.0]]))
    assert_close(values, torch.tensor([[1.0, 2.0, 0.0, 4.0]]))
    with pytest.raises(ValueError, match="log_probs"):
        sac.add_entropy_bonuses(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 4), 0.1)
    with pytest.raises(ValueError, match="alpha"):
        sac.add_entropy_bonuses(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), -1.0)


@FAST
@given(d=draws(), n=N_STEPS)
def test_td3_critic(d, n):
    values = td3.get_state_values(d.t("target_1"), d.t("target_2"))
    assert_close(values, tensor(clipped_values(d)))
    out = td3.get_elementwise_critic_objective(d.t("q1"), d.t("q2"), values, n_steps=n,
                                               **session_kwargs(d.case))
    assert_close(out, tensor(critic_loss(d, clipped_values(d), n)))


def test_sac_and_td3_share_one_critic():
    """With the state values given the two critics are the same function (SAC's entropy bonus
    lives in its state values)."""
    assert sac.get_elementwise_critic_objective is td3.get_elementwise_critic_objective


@FAST
@given(d=draws(), n=N_STEPS)
def test_critic_reads_no_value_it_should_not(d, n):
    """State values at dead ticks other than a truncated episode's final state are never read:
    NaN there changes nothing (the value after the row's end and the final states are read)."""
    case = d.case
    values = soft_values(d)
    unread = [[math.nan if not case.alive[b][t]
               and not (t and case.alive[b][t - 1] and case.truncated[b][t - 1]) else v
               for t, v in enumerate(row)] for b, row in enumerate(values)]
    out = td3.get_elementwise_critic_objective(d.t("q1"), d.t("q2"), tensor(unread), n_steps=n,
                                               **session_kwargs(case))
    assert_close(out, tensor(critic_loss(d, values, n)))


# ---------------------------------------------------------------- actors and temperature

@SETTINGS
@given(d=draws(), alpha_as_tensor=st.booleans())
def test_sac_actor(d, alpha_as_tensor):
    alpha = torch.tensor([d.alpha], dtype=torch.float32) if alpha_as_tensor else d.alpha
    out = sac.get_elementwise_actor_objective(d.t("q1"), d.t("q2"), d.t("log_probs"), alpha,
                                              torch.tensor(d.case.alive))
    expected = at_alive(d.case, lambda b, t: d.alpha * d.log_probs[b][t]
                        - min(d.q1[b][t], d.q2[b][t]))
    assert_close(out, tensor(expected))


@SETTINGS
@given(d=draws())
def test_td3_actor(d):
    out = td3.get_elementwise_actor_objective(d.t("q1"), torch.tensor(d.case.alive))
    assert_close(out, tensor(at_alive(d.case, lambda b, t: -d.q1[b][t])))


@SETTINGS
@given(d=draws(), target=st.floats(-6.0, 2.0))
def test_temperature(d, target):
    log_alpha = torch.tensor(math.log(d.alpha + 0.1), dtype=F64)
    out = sac.get_temperature_objective(log_alpha, d.t("log_probs"), target,
                                        torch.tensor(d.case.alive))
    expected = at_alive(d.case, lambda b, t: -math.log(d.alpha + 0.1) * (d.log_probs[b][t]
                                                                          + target))
    assert_close(out, tensor(expected))


def test_defaults_without_is_alive_keep_every_tick():
    q = torch.tensor([[1.0, -2.0, 3.0]])
    assert_close(td3.get_elementwise_actor_objective(q), -q)
    assert_close(sac.get_elementwise_actor_objective(q, q + 1, q, 0.5), 0.5 * q - q)
    assert_close(sac.get_temperature_objective(torch.tensor([2.0]), q, -1.0), -2.0 * (q - 1))


# ---------------------------------------------------------------- by hand

#: one row: an episode truncated after tick 1 (tick 2 is its final state), a new one from
#: tick 3 that the row cuts after tick 4 (crop_last: tick 4 is only a bootstrap)
ALIVE = torch.tensor([[True, True, False, True, True]])
TRUNCATED = torch.tensor([[False, True, False, False, False]])
REWARDS = torch.tensor([[1.0, 2.0, 100.0, 4.0, 8.0]])
# min(Q1', Q2') = [11, 20, 30, 40, 51]; minus 0.5 log pi = [10, 20, 30, 40, 50]
TARGET_1 = torch.tensor([[11.0, 20.0, 31.0, 40.0, 52.0]])
TARGET_2 = torch.tensor([[12.0, 21.0, 30.0, 45.0, 51.0]])
LOG_PROBS = torch.tensor([[2.0, 0.0, 0.0, 0.0, 2.0]])


def test_sac_critic_by_hand_truncation_and_restart():
    values = sac.get_state_values(TARGET_1, TARGET_2, LOG_PROBS, alpha=0.5)
    assert_close(values, torch.tensor([[10.0, 20.0, 30.0, 40.0, 50.0]]))
    # n = 2, gamma = 0.5: the references are
    #   t=0: 1 + 0.5 * 2 + 0.25 * V(2) = 9.5   (the window closes at the truncation: V(2))
    #   t=1: 2 + 0.5 * V(2) = 17
    #   t=3: 4 + 0.5 * V(4) = 29               (the new episode; tick 4 is the row's bootstrap)
    q1 = torch.tensor([[9.5, 16.0, 0.0, 29.0, 0.0]])
    q2 = torch.tensor([[8.5, 17.0, 5.0, 31.0, 7.0]])
    out = sac.get_elementwise_critic_objective(q1, q2, values, REWARDS, ALIVE,
                                               gamma_or_gammas=0.5, n_steps=2,
                                               is_truncated=TRUNCATED)
    assert_close(out, torch.tensor([[1.0, 1.0, 0.0, 4.0, 0.0]]))
    # a termination instead: no bootstrap from V(2); references 2 and 2
    out = sac.get_elementwise_critic_objective(q1, q2, values, REWARDS, ALIVE,
                                               gamma_or_gammas=0.5, n_steps=2)
    assert_close(out, torch.tensor([[7.5 ** 2 + 6.5 ** 2, 14.0 ** 2 + 15.0 ** 2, 0.0, 4.0, 0.0]]))
    # the row's last tick with a reference of its own: V after the row is 0 by default ...
    out = sac.get_elementwise_critic_objective(q1, q2, values, REWARDS, ALIVE,
                                               gamma_or_gammas=0.5, n_steps=2,
                                               is_truncated=TRUNCATED, crop_last=False)
    # t=3: 4 + 0.5 * 8 + 0.25 * 0 = 8; t=4: 8
    assert_close(out, torch.tensor([[1.0, 1.0, 0.0, 21.0 ** 2 + 23.0 ** 2, 8.0 ** 2 + 1.0]]))
    # ... or state_values_after_end (t=3: 8 + 0.25 * 16 = 12; t=4: 8 + 0.5 * 16 = 16)
    out = sac.get_elementwise_critic_objective(q1, q2, values, REWARDS, ALIVE,
                                               gamma_or_gammas=0.5, n_steps=2,
                                               is_truncated=TRUNCATED, crop_last=False,
                                               state_values_after_end=torch.tensor([16.0]))
    assert_close(out, torch.tensor([[1.0, 1.0, 0.0, 17.0 ** 2 + 19.0 ** 2,
                                     16.0 ** 2 + 9.0 ** 2]]))
    # ... or a termination there (end_at_tmax): t=3: 8, t=4: 8
    out = sac.get_elementwise_critic_objective(q1, q2, values, REWARDS, ALIVE,
                                               gamma_or_gammas=0.5, n_steps=2,
                                               is_truncated=TRUNCATED, end_at_tmax=True,
                                               state_values_after_end=torch.tensor([16.0]))
    assert_close(out, torch.tensor([[1.0, 1.0, 0.0, 21.0 ** 2 + 23.0 ** 2, 8.0 ** 2 + 1.0]]))


def test_td3_critic_by_hand_whole_session():
    values = td3.get_state_values(TARGET_1, TARGET_2)
    assert_close(values, torch.tensor([[11.0, 20.0, 30.0, 40.0, 51.0]]))
    # n = None, gamma = 1: t=0: 1 + 2 + V(2) = 33; t=1: 32; t=3: 4 + V(4) = 55
    zeros = torch.zeros(1, 5)
    out = td3.get_elementwise_critic_objective(zeros, zeros + 1, values, REWARDS, ALIVE,
                                               gamma_or_gammas=1.0, n_steps=None,
                                               is_truncated=TRUNCATED)
    assert_close(out, torch.tensor([[33.0 ** 2 + 32.0 ** 2, 32.0 ** 2 + 31.0 ** 2, 0.0,
                                     55.0 ** 2 + 54.0 ** 2, 0.0]]))


def test_actors_and_temperature_by_hand():
    q1, q2 = torch.tensor([[1.0, 5.0, 7.0]]), torch.tensor([[2.0, 3.0, -9.0]])
    log_probs = torch.tensor([[-1.0, 2.0, 4.0]])
    alive = torch.tensor([[True, True, False]])
    # 0.5 * (-1) - 1 = -1.5; 0.5 * 2 - 3 = -2
    assert_close(sac.get_elementwise_actor_objective(q1, q2, log_probs, 0.5, alive),
                 torch.tensor([[-1.5, -2.0, 0.0]]))
    assert_close(td3.get_elementwise_actor_objective(q1, alive), torch.tensor([[-1.0, -5.0, 0.0]]))
    # -log_alpha (log pi + target): -2 * (-1 - 2) = 6, -2 * (2 - 2) = 0
    assert_close(sac.get_temperature_objective(torch.tensor(2.0), log_probs, -2.0, alive),
                 torch.tensor([[6.0, 0.0, 0.0]]))
    assert sac.default_target_entropy(3) == -3.0
    # the entropy 1 is below the target 2: gradient descent raises log(alpha)
    log_alpha = torch.zeros((), requires_grad=True)
    generic.masked_mean(sac.get_temperature_objective(log_alpha, -torch.ones(2, 3), 2.0)
                        ).backward()
    assert log_alpha.grad == -1.0


@SETTINGS
@given(low=st.lists(st.floats(-5, 4), min_size=1, max_size=3), data=st.data())
def test_the_bounded_target_entropy_asks_what_minus_d_asks_of_the_rescaled_action(low, data):
    # the entropy a TanhGaussianResolver's log_prob measures on [low, high] is that of the
    # action rescaled to [-1, 1] plus sum(log((high - low) / 2)): a policy whose rescaled
    # action has entropy -D has, in the bounds, exactly the shifted target's
    from agentnet.layers import InputLayer, get_output
    from agentnet.resolver import TanhGaussianResolver

    d = len(low)
    high = [lo + data.draw(st.floats(0.1, 6)) for lo in low]
    mean, log_std = InputLayer((None, d)), InputLayer((None, d))
    unit = TanhGaussianResolver(mean, log_std, low=-1.0, high=1.0)
    bounded = TanhGaussianResolver(mean, log_std, low=low, high=high)
    means, log_stds = torch.randn(64, d, dtype=torch.float64), torch.randn(64, d).double()
    actions = torch.rand(64, d, dtype=torch.float64) * 1.8 - 0.9  # inside (-1, 1)
    scale = (torch.tensor(high, dtype=torch.float64) - torch.tensor(low, dtype=torch.float64)) / 2
    inputs = {mean: means, log_std: log_stds}
    unit_log_probs = get_output(unit.log_prob, {**inputs, unit: actions})
    bounded_log_probs = get_output(bounded.log_prob, {
        **inputs, bounded: torch.tensor(low).double() + (actions + 1) * scale})
    shift = sac.default_target_entropy(d, low=low, high=high) - sac.default_target_entropy(d)
    # (the bounds are float32 buffers: the round trip through them costs ~1e-6)
    assert_close(-bounded_log_probs, -unit_log_probs + shift, rtol=1e-5, atol=1e-5)
    assert_close(torch.tensor(shift, dtype=torch.float64), scale.log().sum())


# ---------------------------------------------------------------- gradients

@SETTINGS
@given(d=draws(), n=N_STEPS)
def test_critic_gradient_reaches_only_the_critics(d, n):
    """The reference is constant: nothing reaches the state values, the target critics, the
    fresh actions' log-probabilities or alpha; each critic gets 2 (Q - Qref) where it has a
    loss."""
    q1, q2 = d.t("q1").requires_grad_(), d.t("q2").requires_grad_()
    targets = [d.t(name).requires_grad_() for name in ("target_1", "target_2", "log_probs")]
    alpha = torch.tensor(d.alpha, dtype=F64, requires_grad=True)
    values = sac.get_state_values(*targets, alpha)
    out = sac.get_elementwise_critic_objective(q1, q2, values, n_steps=n,
                                               **session_kwargs(d.case))
    reference = tensor(n_step(d.case, soft_values(d), n))
    mask = loss_mask(d.case)
    assert_close(grad(out, q1), 2 * (q1 - reference).detach() * mask)
    assert_close(grad(out, q2), 2 * (q2 - reference).detach() * mask)
    for leaf in (*targets, alpha):
        assert torch.equal(grad(out, leaf), torch.zeros_like(leaf))
    leaf_values = tensor(soft_values(d)).requires_grad_()
    out = td3.get_elementwise_critic_objective(q1, q2, leaf_values, n_steps=n,
                                               **session_kwargs(d.case))
    assert torch.equal(grad(out, leaf_values), torch.zeros_like(leaf_values))


@SETTINGS
@given(d=draws())
def test_actor_gradients(d):
    """SAC's actor: -1 on the smaller critic, alpha on the log-probabilities, nothing on alpha;
    TD3's: -1 on the first critic; nothing at dead ticks."""
    alive = torch.tensor(d.case.alive)
    q1, q2 = d.t("q1").requires_grad_(), d.t("q2").requires_grad_()
    log_probs = d.t("log_probs").requires_grad_()
    alpha = torch.tensor(d.alpha, dtype=F64, requires_grad=True)
    out = sac.get_elementwise_actor_objective(q1, q2, log_probs, alpha, alive)
    smaller_1 = (q1 < q2).detach()
    assert_close(grad(out, q1), -(smaller_1 & alive).to(F64))
    assert_close(grad(out, q2), -(~smaller_1 & alive).to(F64))
    assert_close(grad(out, log_probs), d.alpha * alive.to(F64))
    assert torch.equal(grad(out, alpha), torch.zeros_like(alpha))
    out = td3.get_elementwise_actor_objective(q1, alive)
    assert_close(grad(out, q1), -alive.to(F64))


def test_actor_ignores_anything_at_dead_ticks():
    """Values at dead ticks (a padded row, an ended episode) may be NaN: no NaN comes out,
    forward or backward."""
    alive = torch.tensor([[True, False]])
    q1 = torch.tensor([[1.0, math.nan]], requires_grad=True)
    q2 = torch.tensor([[2.0, math.inf]], requires_grad=True)
    log_probs = torch.tensor([[-1.0, -math.inf]], requires_grad=True)
    out = sac.get_elementwise_actor_objective(q1, q2, log_probs, 0.5, alive)
    out.sum().backward()
    assert_close(out, torch.tensor([[-1.5, 0.0]]))
    for leaf, expected in ((q1, [-1.0, 0.0]), (q2, [0.0, 0.0]), (log_probs, [0.5, 0.0])):
        assert_close(leaf.grad, torch.tensor([expected]))


@SETTINGS
@given(d=draws(), target=st.floats(-6.0, 2.0))
def test_temperature_gradient(d, target):
    """The bracket is constant: log_alpha gets -sum(log pi + target) over alive ticks, the
    log-probabilities nothing."""
    alive = torch.tensor(d.case.alive)
    log_alpha = torch.tensor([0.3], dtype=F64, requires_grad=True)
    log_probs = d.t("log_probs").requires_grad_()
    out = sac.get_temperature_objective(log_alpha, log_probs, target, alive)
    assert out.shape == log_probs.shape
    expected = -sum(lp + target for b, t in rows_ticks(d.case) if d.case.alive[b][t]
                    for lp in [d.log_probs[b][t]])
    assert_close(grad(out, log_alpha), torch.tensor([expected], dtype=F64))
    assert torch.equal(grad(out, log_probs), torch.zeros_like(log_probs))


# ---------------------------------------------------------------- target policy smoothing

@st.composite
def smoothing_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    dim = shape[-1]
    seed = draw(st.integers(0, 2 ** 31))
    gen = torch.Generator().manual_seed(seed)
    actions = 2 * torch.randn(shape, generator=gen, dtype=F64)
    per_dim = draw(st.booleans())
    if per_dim:
        low = (-torch.rand(dim, generator=gen, dtype=F64) * 2).tolist()
        high = [lo + w for lo, w in zip(low, torch.rand(dim, generator=gen, dtype=F64).tolist())]
    else:
        lo = draw(st.floats(-2.0, 0.0))
        low, high = lo, lo + draw(st.floats(0.0, 2.0))
    return (actions, draw(st.floats(0.0, 2.0)), draw(st.floats(0.0, 1.0)), low, high, seed,
            per_dim)


@SETTINGS
@given(case=smoothing_cases())
def test_smoothing_against_a_loop(case):
    actions, std, clip, low, high, seed, per_dim = case
    bounds = (torch.tensor(low, dtype=F64), torch.tensor(high, dtype=F64)) if per_dim \
        else (low, high)
    out = td3.get_smoothed_target_actions(actions, std, clip, *bounds,
                                          generator=torch.Generator().manual_seed(seed))
    assert out.shape == actions.shape and out.dtype == actions.dtype
    noise = torch.randn(actions.shape, generator=torch.Generator().manual_seed(seed),
                        dtype=F64).flatten().tolist()
    expected = []
    for i, (a, z) in enumerate(zip(actions.flatten().tolist(), noise)):
        d = i % actions.shape[-1]
        lo, hi = (low[d], high[d]) if per_dim else (low, high)
        eps = max(-clip, min(clip, z * std))
        expected.append(max(lo, min(hi, a + eps)))
    assert_close(out, torch.tensor(expected, dtype=F64).reshape(actions.shape))
    # the bounds hold and the noise never exceeds its clip
    low_t, high_t = (torch.as_tensor(b, dtype=F64) for b in (low, high))
    assert bool(((out >= low_t) & (out <= high_t)).all())
    inside = (actions >= low_t) & (actions <= high_t)
    assert bool(((out - actions).abs()[inside] <= clip + 1e-12).all())


def test_smoothing_noise_is_clipped_and_distributed_as_told():
    gen = torch.Generator().manual_seed(0)
    zeros = torch.zeros(100_000, 1, dtype=F64)
    wide = td3.get_smoothed_target_actions(zeros, noise_std=10.0, noise_clip=0.5, low=-5,
                                           high=5, generator=gen)
    assert wide.abs().max() == 0.5                      # the clip, reached
    assert (wide.abs() == 0.5).double().mean() > 0.9   # std 10: almost always clipped
    narrow = td3.get_smoothed_target_actions(zeros, noise_std=0.1, noise_clip=10.0,
                                             generator=gen)
    assert abs(narrow.mean().item()) < 0.002 and abs(narrow.std().item() - 0.1) < 0.002
    # no noise at all: the actions, clipped to the bounds
    actions = torch.tensor([[-3.0, 0.3, 3.0]])
    for std, clip in ((0.0, 0.5), (0.2, 0.0)):
        assert_close(td3.get_smoothed_target_actions(actions, std, clip),
                     torch.tensor([[-1.0, 0.3, 1.0]]))


def test_smoothing_generator_leaves_the_global_one_alone():
    actions = torch.zeros(3, 2)
    state = torch.get_rng_state()
    first = td3.get_smoothed_target_actions(actions, generator=torch.Generator().manual_seed(1))
    again = td3.get_smoothed_target_actions(actions, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, again) and not torch.equal(first, actions)


def test_smoothing_bounds_per_dimension():
    actions = torch.tensor([[[5.0, -5.0, 0.0]]])
    out = td3.get_smoothed_target_actions(actions, noise_std=0.0, low=torch.tensor([0., -2., 1.]),
                                          high=[3.0, 2.0, 1.0])
    assert_close(out, torch.tensor([[[3.0, -2.0, 1.0]]]))
    out = td3.get_smoothed_target_actions(actions, noise_std=0.0, low=-1.0,
                                          high=torch.tensor([4.0, 4.0, 4.0]))
    assert_close(out, torch.tensor([[[4.0, -1.0, 0.0]]]))


# ---------------------------------------------------------------- argument checks

V = torch.zeros(2, 3)
A = torch.zeros(2, 3, 4)
BT = r"with batch, time = \(2, 3\), "


@pytest.mark.parametrize("call, match", [
    pytest.param(lambda: sac.get_state_values(V, V[:1], V, 0.1),
                 r"target_qvalues_2 must be \[batch, time\] " + BT + r"got shape \(1, 3\)",
                 id="sac-values-target_qvalues_2"),
    pytest.param(lambda: sac.get_state_values(A, A, V, 0.1),
                 r"target_qvalues_1 must be \[batch, time\], got shape \(2, 3, 4\)",
                 id="sac-values-rank"),
    pytest.param(lambda: sac.get_state_values(V, V, V[:, :2], 0.1),
                 r"log_probs must be \[batch, time\] " + BT + r"got shape \(2, 2\)",
                 id="sac-values-log_probs"),
    pytest.param(lambda: sac.get_state_values(V, V, V, torch.ones(2)),
                 r"alpha must be a number or a one-element tensor, got shape \(2,\)",
                 id="sac-values-alpha-shape"),
    pytest.param(lambda: sac.get_state_values(V, V, V, -0.1),
                 r"alpha must be a number >= 0", id="sac-values-alpha-negative"),
    pytest.param(lambda: sac.get_elementwise_critic_objective(V, V[:, :2], V, V),
                 r"qvalues_2 must be \[batch, time\] " + BT + r"got shape \(2, 2\)",
                 id="critic-qvalues_2"),
    pytest.param(lambda: sac.get_elementwise_critic_objective(A, V, V, V),
                 r"qvalues_1 must be \[batch, time\], got shape \(2, 3, 4\)",
                 id="critic-qvalues_1"),
    pytest.param(lambda: sac.get_elementwise_critic_objective(V.long(), V, V, V),
                 r"qvalues_1 must be a float tensor, got torch.int64", id="critic-int"),
    pytest.param(lambda: td3.get_elementwise_critic_objective(V, V, V[:1], V),
                 r"state_values must be \[batch, time\] " + BT + r"got shape \(1, 3\)",
                 id="critic-state_values"),
    pytest.param(lambda: td3.get_elementwise_critic_objective(V, V, V, V[:, :2]),
                 r"rewards must be \[batch, time\] " + BT + r"got shape \(2, 2\)",
                 id="critic-rewards"),
    pytest.param(lambda: td3.get_elementwise_critic_objective(V, V, V, V, V[:1].bool()),
                 r"is_alive must be \[batch, time\] " + BT + r"got shape \(1, 3\)",
                 id="critic-is_alive"),
    pytest.param(lambda: td3.get_elementwise_critic_objective(
        V, V, V, V, is_truncated=V[:, :1].bool()),
                 r"is_truncated must be \[batch, time\] " + BT + r"got shape \(2, 1\)",
                 id="critic-is_truncated"),
    pytest.param(lambda: td3.get_elementwise_critic_objective(V, V, V, V, n_steps=0),
                 r"n_steps must be a positive integer or None, got 0", id="critic-n_steps"),
    pytest.param(lambda: sac.get_elementwise_actor_objective(V, A, V, 0.1),
                 r"qvalues_2 must be \[batch, time\] " + BT + r"got shape \(2, 3, 4\)",
                 id="sac-actor-qvalues_2"),
    pytest.param(lambda: sac.get_elementwise_actor_objective(V, V, V[:1], 0.1),
                 r"log_probs must be \[batch, time\] " + BT + r"got shape \(1, 3\)",
                 id="sac-actor-log_probs"),
    pytest.param(lambda: sac.get_elementwise_actor_objective(V, V, V, 0.1, V[0].bool()),
                 r"is_alive must be \[batch, time\] " + BT + r"got shape \(3,\)",
                 id="sac-actor-is_alive"),
    pytest.param(lambda: sac.get_temperature_objective(torch.zeros(2), V, -1.0),
                 r"log_alpha must be a one-element tensor \(the trained parameter\), got "
                 r"\(2,\)", id="temperature-log_alpha-shape"),
    pytest.param(lambda: sac.get_temperature_objective(0.0, V, -1.0),
                 r"log_alpha must be a one-element tensor .*got float",
                 id="temperature-log_alpha-number"),
    pytest.param(lambda: sac.get_temperature_objective(torch.zeros(()), A, -1.0),
                 r"log_probs must be \[batch, time\], got shape \(2, 3, 4\)",
                 id="temperature-log_probs"),
    pytest.param(lambda: sac.default_target_entropy(0),
                 r"action_dim must be a positive integer, got 0", id="target-entropy-0"),
    pytest.param(lambda: sac.default_target_entropy(2.0),
                 r"action_dim must be a positive integer, got 2.0", id="target-entropy-float"),
    pytest.param(lambda: sac.default_target_entropy(2, low=-1.0),
                 r"give both low and high, or neither", id="target-entropy-one-bound"),
    pytest.param(lambda: sac.default_target_entropy(2, low=1.0, high=[2.0, 1.0]),
                 r"low must be below high, both finite, in each of the 2 dimensions",
                 id="target-entropy-empty-range"),
    pytest.param(lambda: sac.default_target_entropy(2, low=-1.0, high=[1.0, 2.0, 3.0]),
                 r"low and high must be numbers or of shape \[2\], got shape \(3,\)",
                 id="target-entropy-bounds-shape"),
    pytest.param(lambda: td3.get_state_values(V, A),
                 r"target_qvalues_2 must be \[batch, time\] " + BT + r"got shape \(2, 3, 4\)",
                 id="td3-values"),
    pytest.param(lambda: td3.get_elementwise_actor_objective(A),
                 r"qvalues_1 must be \[batch, time\], got shape \(2, 3, 4\)", id="td3-actor"),
    pytest.param(lambda: td3.get_smoothed_target_actions(A, low=torch.zeros(3)),
                 r"low must be a number or \[action_dim\] with action_dim = 4, got shape \(3,\)",
                 id="smoothing-low-shape"),
    pytest.param(lambda: td3.get_smoothed_target_actions(A, high=torch.ones(2, 4)),
                 r"high must be a number or \[action_dim\] with action_dim = 4, got shape "
                 r"\(2, 4\)", id="smoothing-high-rank"),
    pytest.param(lambda: td3.get_smoothed_target_actions(A, low=1.0, high=0.0),
                 r"low must be <= high, got low=1.0, high=0.0", id="smoothing-swapped"),
    pytest.param(lambda: td3.get_smoothed_target_actions(A, low=torch.tensor([0., 0., 2., 0.])),
                 r"low must be <= high, got low=\[0.0, 0.0, 2.0, 0.0\], high=1.0",
                 id="smoothing-swapped-per-dim"),
    pytest.param(lambda: td3.get_smoothed_target_actions(A, noise_std=-0.1),
                 r"noise_std must be a number >= 0, got -0.1", id="smoothing-std"),
    pytest.param(lambda: td3.get_smoothed_target_actions(A, noise_clip=math.nan),
                 r"noise_clip must be a number >= 0, got nan", id="smoothing-clip"),
    pytest.param(lambda: td3.get_smoothed_target_actions(A.long()),
                 r"target_actions must be a float tensor \[..., action_dim\], got shape "
                 r"\(2, 3, 4\) and torch.int64", id="smoothing-int"),
    pytest.param(lambda: td3.get_smoothed_target_actions(torch.tensor(0.5)),
                 r"target_actions must be a float tensor \[..., action_dim\], got shape \(\)",
                 id="smoothing-scalar"),
])
def test_errors_name_the_argument_and_the_shapes(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_critic_options_after_is_alive_are_keyword_only():
    """``n_steps`` and ``gamma_or_gammas`` come in different orders in older objectives: a
    positional one is refused rather than read as the other."""
    with pytest.raises(TypeError):
        td3.get_elementwise_critic_objective(V, V, V, V, None, 0.5)  # type: ignore[misc]


def test_float32_sessions_stay_float32():
    q = torch.randn(3, 4)
    values = sac.get_state_values(q, q, q, torch.tensor(0.2, dtype=F64))
    assert values.dtype == torch.float32
    out = sac.get_elementwise_critic_objective(q, q, values, q, is_truncated=q > 0)
    assert out.dtype == torch.float32 and out.shape == (3, 4)
