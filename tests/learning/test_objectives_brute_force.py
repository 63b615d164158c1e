"""Every objective of ``agentnet.learning`` against a slow, obvious per-episode reference.

The references are written from the objectives' docstrings and the episode-end contract of
:class:`agentnet.agent.Sessions` only: plain Python lists, one row and one tick at a time. The
n-step references reuse ``walk`` (itself checked against the library in
``test_references_brute_force.py``); V-trace and Retrace get their own explicit per-episode sums
and recursions. Sessions are random (terminations, truncations, restarts inside a row, rows
that end mid-episode, every treatment of the row's end), in float64.
"""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from brute_force import (
    F64,
    SETTINGS,
    Case,
    Grid,
    batches,
    cases,
    has_reference,
    huber,
    n_step,
    per_tick,
    session_kwargs,
    squared,
    tensor,
    walk,
)
from hypothesis import given
from hypothesis import strategies as st
from torch.testing import assert_close

from agentnet.learning import (
    a2c,
    dpg,
    ppo,
    qlearning,
    qlearning_naf,
    qlearning_opt_tightening,
    reinforce,
    retrace,
    sarsa,
    vtrace,
)

N_STEPS = [1, 2, 3, None]
UNIT = st.floats(0.0, 1.0)


# ---------------------------------------------------------------- slow references

def td_loss(case: Case, predicted: Grid, values: Grid, n: int | None, loss=squared) -> Grid:
    reference = n_step(case, values, n)
    return per_tick(case, lambda b, t: loss(reference[b][t], predicted[b][t]))


def first_argmax(row: list[float]) -> int:
    return max(range(len(row)), key=lambda a: (row[a], -a))


def maxima(q: list[Grid]) -> Grid:
    return [[max(row) for row in rows] for rows in q]


def expectations(q: list[Grid], pi: list[Grid]) -> Grid:
    return [[sum(p * v for p, v in zip(ps, vs)) for ps, vs in zip(prow, qrow)]
            for prow, qrow in zip(pi, q)]


def entropy(probs: list[float]) -> float:
    return -sum(p * math.log(p) for p in probs)


def next_value(case: Case, values: Grid, b: int, t: int) -> float:
    """What tick t (with a loss) bootstraps from by the contract: V(t+1) inside an episode
    and at a cropped row end, the final state's value after a truncation, 0 after a
    termination, the value after the row (0 by default or with end_at_tmax) past it."""
    if t + 1 == case.shape[1]:
        return 0.0 if case.end_at_tmax or case.after_end is None else case.after_end[b]
    if not case.alive[b][t + 1]:
        return values[b][t + 1] if case.truncated[b][t] else 0.0
    return values[b][t + 1]


def last_tick_with_a_loss(case: Case, b: int, s: int) -> int:
    """The last tick of the episode of tick s that gets a loss of its own."""
    t = s
    while t + 1 < case.shape[1] and case.alive[b][t + 1] and has_reference(case, b, t + 1):
        t += 1
    return t


def assert_zero_without_a_loss(out: torch.Tensor, case: Case) -> None:
    """Exactly 0 at dead ticks and at a cropped last tick."""
    batch, length = case.shape
    no_loss = torch.tensor([[not has_reference(case, b, t) for t in range(length)]
                            for b in range(batch)])
    assert torch.equal(out[no_loss], torch.zeros_like(out[no_loss])), out


def close(actual: torch.Tensor, expected: Grid, case: Case | None = None) -> None:
    assert_close(actual, tensor(expected))
    if case is not None:
        assert_zero_without_a_loss(actual, case)


def close_where_a_loss(actual: torch.Tensor, expected: Grid, case: Case) -> None:
    batch, length = case.shape
    mask = torch.tensor([[has_reference(case, b, t) for t in range(length)] for b in range(batch)])
    assert_close(actual[mask], tensor(expected)[mask])


# ---------------------------------------------------------------- Q-learning

@SETTINGS
@given(batch=batches(), n=st.sampled_from(N_STEPS),
       variant=st.sampled_from(["own", "target", "double", "huber"]))
def test_qlearning(batch, n, variant):
    case, q, q_target = batch.case, batch.q, batch.q_target
    extra: dict = {}
    values = maxima(q)
    loss = squared
    if variant == "target":
        extra["qvalues_target"] = batch.t("q_target")
        values = maxima(q_target)
    elif variant == "double":
        values = [[qt[first_argmax(qo)] for qo, qt in zip(*rows)] for rows in zip(q, q_target)]
        double = qlearning.get_double_q_state_values(batch.t("q"), batch.t("q_target"))
        assert_close(double, tensor(values))
        extra["state_values_target"] = double
        extra["qvalues_target"] = -batch.t("q_target")   # overridden by state_values_target
    elif variant == "huber":
        extra["loss_function"] = qlearning.huber_loss
        loss = huber
    out = qlearning.get_elementwise_objective(
        batch.t("q"), batch.t("actions"), n_steps=n, **extra, **session_kwargs(case))
    # the reference alone, as the original AgentNet returned it
    reference = qlearning.get_elementwise_objective(
        batch.t("q"), batch.t("actions"), n_steps=n, return_reference=True,
        **extra, **session_kwargs(case))
    close(out, td_loss(case, batch.taken(q), values, n, loss), case)
    close_where_a_loss(reference, n_step(case, values, n), case)


# ---------------------------------------------------------------- SARSA

@SETTINGS
@given(batch=batches(), n=st.sampled_from(N_STEPS),
       variant=st.sampled_from(["own", "target", "expected"]))
def test_sarsa_and_expected_sarsa(batch, n, variant):
    case = batch.case
    extra: dict = {}
    values = batch.taken(batch.q)
    if variant == "target":
        extra["qvalues_target"] = batch.t("q_target")
        values = batch.taken(batch.q_target)
    elif variant == "expected":
        values = expectations(batch.q_target, batch.pi)
        expected = sarsa.get_expected_state_values(batch.t("q_target"), batch.t("pi"))
        assert_close(expected, tensor(values))
        extra["state_values_target"] = expected
    out = sarsa.get_elementwise_objective(batch.t("q"), batch.t("actions"), n_steps=n,
                                          **extra, **session_kwargs(case))
    close(out, td_loss(case, batch.taken(batch.q), values, n), case)


# ---------------------------------------------------------------- DPG and NAF

@SETTINGS
@given(batch=batches(), n=st.sampled_from(N_STEPS), use_huber=st.booleans())
def test_dpg_critic(batch, n, use_huber):
    case = batch.case
    out = dpg.get_elementwise_objective_critic(
        batch.t("other"), tensor(case.values), n_steps=n,
        loss_function=qlearning.huber_loss if use_huber else qlearning.squared_error,
        **session_kwargs(case, end="force_end_at_last_tick"))
    close(out, td_loss(case, batch.other, case.values, n, huber if use_huber else squared), case)


@SETTINGS
@given(batch=batches())
def test_dpg_actor(batch):
    case = batch.case
    cropped = replace(case, end_at_tmax=False)      # the actor has no forced end
    out = dpg.get_elementwise_objective_actor(batch.t("other"), torch.tensor(case.alive),
                                              crop_last=case.crop_last)
    close(out, per_tick(cropped, lambda b, t: -batch.other[b][t]), cropped)
    # the default keeps the last tick
    out = dpg.get_elementwise_objective_actor(batch.t("other"), torch.tensor(case.alive))
    uncropped = replace(case, crop_last=False)
    close(out, per_tick(uncropped, lambda b, t: -batch.other[b][t]), uncropped)


@SETTINGS
@given(batch=batches(), n=st.sampled_from(N_STEPS))
def test_naf_objective_is_the_dpg_critic(batch, n):
    """As in the original AgentNet, the NAF objective is the DPG critic's."""
    assert qlearning_naf.get_elementwise_objective is dpg.get_elementwise_objective_critic
    case = batch.case
    out = qlearning_naf.get_elementwise_objective(
        batch.t("other"), tensor(case.values), n_steps=n,
        **session_kwargs(case, end="force_end_at_last_tick"))
    close(out, td_loss(case, batch.other, case.values, n), case)


# ---------------------------------------------------------------- A2C and REINFORCE

@SETTINGS
@given(batch=batches(), n=st.sampled_from(N_STEPS),
       n_adv=st.sampled_from(["same", 1, 2, None]), use_target=st.booleans(),
       entropy_reg=st.sampled_from([0.0, 0.3]), as_log=st.booleans())
def test_a2c_actor_and_critic(batch, n, n_adv, use_target, entropy_reg, as_log):
    case = batch.case
    values = case.values
    target = batch.other if use_target else values
    after = case.after_end
    after_target = None if after is None else [v + 1.0 for v in after] if use_target else after
    kwargs = session_kwargs(case, end="force_end_at_last_tick")
    if after_target is not None and kwargs["state_values_after_end"] is not None:
        kwargs["state_values_target_after_end"] = tensor([after_target])[0]
    policy = tensor(batch.pi)
    actor, critic = a2c.get_elementwise_objective(
        policy.log() if as_log else policy, tensor(values), batch.t("actions"),
        state_values_target=batch.t("other") if use_target else None, n_steps=n,
        n_steps_advantage=n_adv, entropy_regularization=entropy_reg, return_separate=True,
        treat_policy_as_logpolicy=as_log, **kwargs)

    advantage_reference = n_step(case, values, n if n_adv == "same" else n_adv)
    critic_reference = n_step(replace(case, after_end=after_target), target, n)

    def actor_loss(b, t):
        probs = batch.pi[b][t]
        advantage = advantage_reference[b][t] - values[b][t]
        return (-math.log(probs[batch.actions[b][t]]) * advantage
                - entropy_reg * entropy(probs))

    close(actor, per_tick(case, actor_loss), case)
    close(critic, per_tick(case, lambda b, t: squared(critic_reference[b][t], values[b][t])), case)
    total = a2c.get_elementwise_objective(
        policy.log() if as_log else policy, tensor(values), batch.t("actions"),
        state_values_target=batch.t("other") if use_target else None, n_steps=n,
        n_steps_advantage=n_adv, entropy_regularization=entropy_reg,
        treat_policy_as_logpolicy=as_log, **kwargs)
    assert_close(total, actor + critic)


@SETTINGS
@given(batch=batches(), use_baseline=st.booleans())
def test_reinforce(batch, use_baseline):
    case = replace(batch.case, end_at_tmax=False)
    baseline = case.values if use_baseline else [[0.0] * case.shape[1]] * case.shape[0]
    returns = n_step(replace(case, values=baseline), baseline, None)
    policy = batch.t("pi")
    kwargs = session_kwargs(case, end=None)

    def policy_term(b, t):
        return -math.log(batch.pi[b][t][batch.actions[b][t]]) * (returns[b][t] - baseline[b][t])

    expected_policy = per_tick(case, policy_term)
    if use_baseline:
        policy_loss, baseline_loss = reinforce.get_elementwise_objective(
            policy, batch.t("actions"), baseline=tensor(baseline), return_separate=True,
            **kwargs)
        close(policy_loss, expected_policy, case)
        close(baseline_loss, per_tick(case, lambda b, t: squared(returns[b][t], baseline[b][t])),
              case)
    else:
        out = reinforce.get_elementwise_objective(policy, batch.t("actions"), **kwargs)
        close(out, expected_policy, case)


def test_reinforce_with_whole_sessions():
    """With crop_last=False the last tick's return is its reward."""
    out = reinforce.get_elementwise_objective(torch.full((1, 3, 2), 0.5, dtype=F64),
                                              torch.tensor([[0, 1, 1]]),
                                              torch.tensor([[1.0, 2.0, 4.0]], dtype=F64),
                                              gamma_or_gammas=0.5, crop_last=False)
    assert_close(out, math.log(2) * tensor([[1 + 1 + 1, 2 + 2, 4.0]]))


def test_reinforce_crops_the_last_tick_by_default_as_the_original():
    """crop_last is True by default (the original AgentNet's): the last reward is left out."""
    out = reinforce.get_elementwise_objective(torch.full((1, 3, 2), 0.5, dtype=F64),
                                              torch.tensor([[0, 1, 1]]),
                                              torch.tensor([[1.0, 2.0, 4.0]], dtype=F64),
                                              gamma_or_gammas=0.5)
    assert_close(out, math.log(2) * tensor([[1 + 1, 2, 0.0]]))


# ---------------------------------------------------------------- optimality tightening

def tightening_bounds(case: Case, q: list[Grid], actions: list[list[int]], k_max: int,
                      gamma: float) -> tuple[Grid, Grid]:
    """Lower bounds: the best of the k-step references (k = 1..K, windows stop at episode
    ends); upper bounds: the tightest of gamma^-k (Q(s_{t-k}, a_{t-k}) - the k rewards
    between), looking back only inside the episode."""
    batch, length = case.shape
    values = maxima(q)
    with_values = replace(case, values=values)
    lower = per_tick(case, lambda b, t: max(walk(with_values, b, t, k)[0]
                                            for k in range(1, k_max + 1)))

    def upper_bound(b, t):
        best = math.inf
        for k in range(1, k_max + 1):
            s = t - k
            if s < 0 or not all(case.alive[b][s:t + 1]):
                break
            rewards = sum(gamma ** i * case.rewards[b][s + i] for i in range(k))
            best = min(best, gamma ** -k * (q[b][s][actions[b][s]] - rewards))
        return best

    return lower, per_tick(case, upper_bound)


@SETTINGS
@given(batch=batches(), k_max=st.sampled_from([1, 2, 4]), gamma=st.floats(0.5, 1.0),
       use_target=st.booleans(), lambda_constr=st.sampled_from([0.0, 1.0, 4.0]))
def test_optimality_tightening(batch, k_max, gamma, use_target, lambda_constr):
    case = replace(batch.case, gammas=gamma, end_at_tmax=False, after_end=None)
    q_bounds = batch.q_target if use_target else batch.q
    lower, upper = qlearning_opt_tightening.get_bounds(
        tensor(q_bounds), batch.t("actions"), tensor(case.rewards), torch.tensor(case.alive),
        n_steps=k_max, gamma=gamma, is_truncated=torch.tensor(case.truncated),
        crop_last=case.crop_last)
    expected_lower, expected_upper = tightening_bounds(case, q_bounds, batch.actions, k_max, gamma)
    close_where_a_loss(lower, expected_lower, case)
    close_where_a_loss(upper, expected_upper, case)

    out = qlearning_opt_tightening.get_elementwise_objective(
        batch.t("q"), batch.t("actions"), tensor(case.rewards), is_alive=torch.tensor(case.alive),
        n_steps=k_max, gamma=gamma, lambda_constr=lambda_constr,
        qvalues_target=batch.t("q_target") if use_target else None,
        is_truncated=torch.tensor(case.truncated), crop_last=case.crop_last)
    reference = n_step(case, maxima(q_bounds), 1)
    taken = batch.taken(batch.q)

    def loss(b, t):
        q_t = taken[b][t]
        return (squared(reference[b][t], q_t) + lambda_constr * (
            max(0.0, expected_lower[b][t] - q_t) ** 2 + max(0.0, q_t - expected_upper[b][t]) ** 2))

    close(out, per_tick(case, loss), case)


# ---------------------------------------------------------------- PPO

@SETTINGS
@given(batch=batches(), eps=st.sampled_from([0.1, 0.2, 0.5]), crop_last=st.booleans())
def test_ppo_clipped_surrogate(batch, eps, crop_last):
    case = replace(batch.case, crop_last=crop_last, end_at_tmax=False)
    log_probs = [[math.log(p[a]) for p, a in zip(*rows)] for rows in zip(batch.pi, batch.actions)]
    old = batch.behaviour
    advantages = batch.other

    def loss(b, t):
        ratio = math.exp(log_probs[b][t] - old[b][t])
        clipped = min(max(ratio, 1 - eps), 1 + eps)
        return -min(ratio * advantages[b][t], clipped * advantages[b][t])

    out = ppo.get_elementwise_objective(tensor(log_probs), tensor(old), tensor(advantages),
                                        torch.tensor(case.alive), clip_epsilon=eps,
                                        crop_last=crop_last)
    close(out, per_tick(case, loss), case)


@SETTINGS
@given(batch=batches(), eps=st.sampled_from([None, 0.1, 0.5]), crop_last=st.booleans())
def test_ppo_clipped_value_loss(batch, eps, crop_last):
    case = replace(batch.case, crop_last=crop_last, end_at_tmax=False)
    values, old, targets = batch.other, batch.taken(batch.q_target), case.values

    def loss(b, t):
        plain = squared(targets[b][t], values[b][t])
        if eps is None:
            return plain
        step = min(max(values[b][t] - old[b][t], -eps), eps)
        return max(plain, squared(targets[b][t], old[b][t] + step))

    out = ppo.get_elementwise_value_objective(tensor(values), tensor(old), tensor(targets),
                                              torch.tensor(case.alive), clip_epsilon=eps,
                                              crop_last=crop_last)
    close(out, per_tick(case, loss), case)


# ---------------------------------------------------------------- V-trace

def vtrace_reference(case: Case, log_rhos: Grid, clip_rho: float, clip_c: float,
                     lambda_: float) -> tuple[Grid, Grid]:
    """IMPALA's definitions as explicit sums over the rest of the episode:

        vs(s) = V(s) + sum_{t=s}^{e} (prod_{i=s}^{t-1} gamma(i) c(i)) delta(t)
        pg(s) = rho(s) (r(s) + gamma(s) v_next(s) - V(s))

    with e the episode's last tick with a loss and v_next = vs(s+1) inside the episode."""
    values = case.values
    rho = [[min(clip_rho, math.exp(x)) for x in row] for row in log_rhos]
    c = [[lambda_ * min(clip_c, math.exp(x)) for x in row] for row in log_rhos]

    def delta(b, t):
        return rho[b][t] * (case.rewards[b][t] + case.gamma(b, t) * next_value(case, values, b, t)
                            - values[b][t])

    def vs_at(b, s):
        total, weight = values[b][s], 1.0
        for t in range(s, last_tick_with_a_loss(case, b, s) + 1):
            total += weight * delta(b, t)
            weight *= case.gamma(b, t) * c[b][t]
        return total

    vs = per_tick(case, vs_at)
    for b in range(case.shape[0]):            # the cropped last tick holds V itself
        if case.alive[b][-1] and not has_reference(case, b, case.shape[1] - 1):
            vs[b][-1] = values[b][-1]

    def pg_at(b, s):
        inside = s < last_tick_with_a_loss(case, b, s)
        v_next = vs[b][s + 1] if inside else next_value(case, values, b, s)
        return rho[b][s] * (case.rewards[b][s] + case.gamma(b, s) * v_next - values[b][s])

    return vs, per_tick(case, pg_at)


@SETTINGS
@given(batch=batches(), clip_rho=st.sampled_from([0.5, 1.0, 2.0]),
       clip_c=st.sampled_from([0.5, 1.0, 2.0]), lambda_=UNIT)
def test_vtrace_targets(batch, clip_rho, clip_c, lambda_):
    case = batch.case
    log_rhos = [[2 * x + 1 for x in row] for row in batch.behaviour]   # pi/mu in [0.0067, e]
    vs, pg = vtrace.get_vtrace_targets(tensor(case.values), log_rhos=tensor(log_rhos),
                                       clip_rho=clip_rho, clip_c=clip_c, lambda_=lambda_,
                                       **session_kwargs(case))
    expected_vs, expected_pg = vtrace_reference(case, log_rhos, clip_rho, clip_c, lambda_)
    close(vs, expected_vs)
    close(pg, expected_pg, case)


@SETTINGS
@given(case=cases(), clip=st.sampled_from([1.0, 1.5, math.inf]))
def test_vtrace_on_policy_is_the_whole_session_return(case, clip):
    zeros = torch.zeros(case.shape, dtype=F64)
    vs, _ = vtrace.get_vtrace_targets(tensor(case.values), log_rhos=zeros, clip_rho=clip,
                                      clip_c=clip, lambda_=1.0, **session_kwargs(case))
    returns = n_step(case, case.values, None)
    close_where_a_loss(vs, returns, case)


@SETTINGS
@given(batch=batches(), clip_rho=st.sampled_from([1.0, 2.0]), lambda_=UNIT,
       entropy_reg=st.sampled_from([0.0, 0.1]), as_log=st.booleans())
def test_vtrace_objective(batch, clip_rho, lambda_, entropy_reg, as_log):
    case = replace(batch.case, end_at_tmax=False, after_end=None)
    log_pi = [[math.log(p[a]) for p, a in zip(*rows)] for rows in zip(batch.pi, batch.actions)]
    log_rhos = [[x - y for x, y in zip(*rows)] for rows in zip(log_pi, batch.behaviour)]
    vs, pg = vtrace_reference(case, log_rhos, clip_rho, 1.0, lambda_)
    policy = batch.t("pi")
    actor, critic = vtrace.get_elementwise_objective(
        policy.log() if as_log else policy, tensor(case.values), batch.t("actions"),
        behaviour_log_probs=batch.t("behaviour"), clip_rho=clip_rho, lambda_=lambda_,
        entropy_regularization=entropy_reg, treat_policy_as_logpolicy=as_log,
        return_separate=True, **session_kwargs(case, end=None, after_end=None))
    close(actor, per_tick(case, lambda b, t: -pg[b][t] * log_pi[b][t]
                          - entropy_reg * entropy(batch.pi[b][t])), case)
    close(critic, per_tick(case, lambda b, t: squared(vs[b][t], case.values[b][t])), case)


# ---------------------------------------------------------------- Retrace

def retrace_reference(case: Case, q: list[Grid], actions: list[list[int]], pi: list[Grid],
                      behaviour: Grid, lambda_: float) -> Grid:
    """The recursion, backwards through each row, one episode after another."""
    batch, length = case.shape
    out = [[0.0] * length for _ in range(batch)]
    for b in range(batch):
        alive, r = case.alive[b], case.rewards[b]
        taken = [q[b][t][actions[b][t]] for t in range(length)]
        expected = [sum(p * v for p, v in zip(pi[b][t], q[b][t])) for t in range(length)]
        trace = [lambda_ * min(1.0, pi[b][t][actions[b][t]] / math.exp(behaviour[b][t]))
                 for t in range(length)]
        for t in reversed(range(length)):
            g = case.gamma(b, t)
            if not alive[t]:
                out[b][t] = 0.0
            elif not has_reference(case, b, t):          # the cropped last tick
                out[b][t] = taken[t]
            elif t + 1 == length:                        # past the row: nothing to bootstrap
                out[b][t] = r[t]
            elif not alive[t + 1]:                       # the episode's end
                out[b][t] = r[t] + g * (expected[t + 1] if case.truncated[b][t] else 0.0)
            elif not has_reference(case, b, t + 1):      # the (cropped) row's end
                out[b][t] = r[t] + g * expected[t + 1]
            else:
                out[b][t] = r[t] + g * (expected[t + 1]
                                        + trace[t + 1] * (out[b][t + 1] - taken[t + 1]))
    return out


@SETTINGS
@given(batch=batches(), lambda_=st.one_of(st.sampled_from([0.0, 1.0]), UNIT))
def test_retrace_targets(batch, lambda_):
    case = replace(batch.case, after_end=None)
    kwargs = session_kwargs(case, after_end=None)
    targets = retrace.get_retrace_targets(batch.t("q"), batch.t("actions"),
                                          target_policy=batch.t("pi"),
                                          behaviour_log_probs=batch.t("behaviour"),
                                          lambda_=lambda_, **kwargs)
    expected = retrace_reference(case, batch.q, batch.actions, batch.pi, batch.behaviour, lambda_)
    close(targets, expected)


@SETTINGS
@given(batch=batches())
def test_retrace_with_lambda_0_is_the_expected_sarsa_target(batch):
    case = replace(batch.case, after_end=None)
    kwargs = session_kwargs(case, after_end=None)
    targets = retrace.get_retrace_targets(batch.t("q"), batch.t("actions"),
                                          target_policy=batch.t("pi"),
                                          behaviour_log_probs=batch.t("behaviour"),
                                          lambda_=0.0, **kwargs)
    expected_sarsa = sarsa.get_elementwise_objective(
        batch.t("q"), batch.t("actions"),
        state_values_target=sarsa.get_expected_state_values(batch.t("q"), batch.t("pi")),
        return_reference=True, **kwargs)
    close_where_a_loss(targets, expected_sarsa.tolist(), case)
    close_where_a_loss(targets, n_step(case, expectations(batch.q, batch.pi), 1), case)


@SETTINGS
@given(batch=batches(), lambda_=UNIT, use_target=st.booleans(), use_huber=st.booleans())
def test_retrace_objective(batch, lambda_, use_target, use_huber):
    case = replace(batch.case, end_at_tmax=False, after_end=None)
    q_ref = batch.q_target if use_target else batch.q
    targets = retrace_reference(case, q_ref, batch.actions, batch.pi, batch.behaviour, lambda_)
    out = retrace.get_elementwise_objective(
        batch.t("q"), batch.t("actions"), target_policy=batch.t("pi"),
        behaviour_log_probs=batch.t("behaviour"),
        qvalues_target=batch.t("q_target") if use_target else None, lambda_=lambda_,
        loss_function=qlearning.huber_loss if use_huber else qlearning.squared_error,
        **session_kwargs(case, end=None, after_end=None))
    taken = batch.taken(batch.q)
    loss = huber if use_huber else squared
    close(out, per_tick(case, lambda b, t: loss(targets[b][t], taken[b][t])), case)


# ---------------------------------------------------------------- a hand-made row

@pytest.mark.parametrize("crop_last", [False, True])
def test_no_objective_leaks_across_an_episode_start(crop_last):
    """Row: an episode that terminates at tick 1 (final state 2), then one from tick 3 on.
    Huge rewards and values in the second episode change nothing of the first."""
    alive = torch.tensor([[True, True, False, True, True, True]])
    actions = torch.zeros(1, 6, dtype=torch.int64)

    def run(bump: float) -> list[torch.Tensor]:
        r = torch.tensor([[1.0, 2.0, 0.0, 3.0 + bump, 1.0, 1.0]], dtype=F64)
        v = torch.tensor([[0.5, 0.5, 0.0, 9.0 + bump, 1.0, 1.0]], dtype=F64)
        q = v[..., None].repeat(1, 1, 2)
        pi = torch.full((1, 6, 2), 0.5, dtype=F64)
        mu = torch.full((1, 6), math.log(0.5), dtype=F64)
        common = dict(is_alive=alive, gamma_or_gammas=0.9, crop_last=crop_last)
        return [
            qlearning.get_elementwise_objective(q, actions, r, n_steps=None, **common),
            sarsa.get_elementwise_objective(q, actions, r, n_steps=3, **common),
            a2c.get_elementwise_objective(pi, v, actions, r, n_steps=None, **common),
            reinforce.get_elementwise_objective(pi, actions, r, baseline=v, **common),
            vtrace.get_elementwise_objective(pi, v, actions, r, mu, **common),
            retrace.get_elementwise_objective(q, actions, r, pi, mu, **common),
        ]

    for before, after in zip(run(0.0), run(100.0)):
        assert_close(after[:, :3], before[:, :3], rtol=0, atol=0)


def test_vtrace_targets_are_zero_at_a_dead_last_tick():
    vs, pg = vtrace.get_vtrace_targets(torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2),
                                       torch.zeros(1, 2), is_alive=torch.tensor([[True, False]]))
    assert vs[0, 1] == 0 and pg[0, 1] == 0, vs


def test_retrace_targets_are_zero_at_a_dead_last_tick():
    targets = retrace.get_retrace_targets(
        torch.ones(1, 2, 1), torch.zeros(1, 2, dtype=torch.int64), torch.zeros(1, 2),
        torch.ones(1, 2, 1), torch.zeros(1, 2), is_alive=torch.tensor([[True, False]]))
    assert targets[0, 1] == 0, targets


# ---------------------------------------------------------------- shape and dtype errors

Q, ACT, R, V = torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2, 3), \
    torch.zeros(2, 3)
PI = torch.full((2, 3, 4), 0.25)
BT = r"with batch, time = \(2, 3\), "

@pytest.mark.parametrize("call, match", [
    # Q-learning and SARSA
    *[pytest.param(call, match, id=f"{mod.__name__.rsplit('.', 1)[1]}-{name}")
      for mod in (qlearning, sarsa) for name, call, match in [
          ("qvalues-rank", lambda f=mod.get_elementwise_objective: f(V, ACT, R),
           r"qvalues must be \[batch, time, n_actions\], got shape \(2, 3\)"),
          ("actions-time", lambda f=mod.get_elementwise_objective: f(Q, ACT[:, :2], R),
           r"actions must be \[batch, time\] " + BT + r"got shape \(2, 2\)"),
          ("actions-rank", lambda f=mod.get_elementwise_objective: f(Q, ACT[0], R),
           r"actions must be \[batch, time\] " + BT + r"got shape \(3,\)"),
          ("float-actions", lambda f=mod.get_elementwise_objective: f(Q, ACT.float(), R),
           r"actions must be an integer tensor, got torch.float32"),
          ("int-qvalues", lambda f=mod.get_elementwise_objective: f(Q.long(), ACT, R),
           r"qvalues must be a float tensor, got torch.int64"),
          ("qvalues_target-time",
           lambda f=mod.get_elementwise_objective: f(Q, ACT, R, qvalues_target=Q[:, :2]),
           r"qvalues_target must be \[batch, time, n_actions\] " + BT + r"got shape \(2, 2, 4\)"),
          ("is_alive-time",
           lambda f=mod.get_elementwise_objective: f(Q, ACT, R, is_alive=ACT[:, :2].bool()),
           r"is_alive must be \[batch, time\] " + BT + r"got shape \(2, 2\)"),
          ("is_truncated-batch",
           lambda f=mod.get_elementwise_objective: f(Q, ACT, R, is_truncated=ACT[:1].bool()),
           r"is_truncated must be \[batch, time\] " + BT + r"got shape \(1, 3\)"),
      ]],
    pytest.param(lambda: qlearning.get_double_q_state_values(Q, Q[:, :2]),
                 r"qvalues_target must be \[batch, time, n_actions\] " + BT, id="double-q"),
    pytest.param(lambda: sarsa.get_expected_state_values(Q, PI[:1]),
                 r"policy must be \[batch, time, n_actions\] .*got shape \(1, 3, 4\)",
                 id="expected-state-values"),
    # DPG and NAF
    pytest.param(lambda: dpg.get_elementwise_objective_critic(V, V[:1], R),
                 r"state_values must be \[batch, time\] " + BT + r"got shape \(1, 3\)",
                 id="dpg-critic-state_values"),
    pytest.param(lambda: dpg.get_elementwise_objective_actor(Q),
                 r"policy_qvalues must be \[batch, time\], got shape \(2, 3, 4\)", id="dpg-actor"),
    pytest.param(lambda: dpg.get_elementwise_objective_actor(V, ACT[0].bool()),
                 r"is_alive must be \[batch, time\] " + BT + r"got shape \(3,\)",
                 id="dpg-actor-is_alive"),
    pytest.param(lambda: qlearning_naf.get_elementwise_objective(Q, V, R),
                 r"action_qvalues must be \[batch, time\], got shape \(2, 3, 4\)",
                 id="naf-rank"),
    # A2C and REINFORCE
    pytest.param(lambda: a2c.get_elementwise_objective(PI[..., None], V, ACT, R),
                 r"policy must be \[batch, time, n_actions\], got shape \(2, 3, 4, 1\)",
                 id="a2c-policy"),
    pytest.param(lambda: a2c.get_elementwise_objective(PI, Q, ACT, R),
                 r"state_values must be \[batch, time\] " + BT + r"got shape \(2, 3, 4\)",
                 id="a2c-state_values"),
    pytest.param(lambda: a2c.get_elementwise_objective(PI, V, ACT.float(), R),
                 r"actions must be an integer tensor", id="a2c-float-actions"),
    pytest.param(lambda: a2c.get_elementwise_objective(PI, V, ACT[:, :2], R),
                 r"actions must be \[batch, time\] " + BT + r"got shape \(2, 2\)",
                 id="a2c-actions-time"),
    pytest.param(lambda: a2c.get_elementwise_objective(PI, V, ACT, R, state_values_target=V[:1]),
                 r"state_values_target must be \[batch, time\] " + BT + r"got shape \(1, 3\)",
                 id="a2c-state_values_target"),
    pytest.param(lambda: a2c.get_elementwise_objective(PI.long(), V, ACT, R),
                 r"policy must be a float tensor, got torch.int64", id="a2c-int-policy"),
    pytest.param(lambda: reinforce.get_elementwise_objective(PI[..., None], ACT, R),
                 r"policy must be \[batch, time, n_actions\], got shape \(2, 3, 4, 1\)",
                 id="reinforce-policy"),
    pytest.param(lambda: reinforce.get_elementwise_objective(PI, ACT.float(), R),
                 r"actions must be an integer tensor", id="reinforce-float-actions"),
    pytest.param(lambda: reinforce.get_elementwise_objective(PI, ACT, R, baseline=V[:1]),
                 r"baseline must be \[batch, time\] " + BT + r"got shape \(1, 3\)",
                 id="reinforce-baseline"),
    pytest.param(lambda: reinforce.get_elementwise_objective(PI, ACT, R[:, :2]),
                 r"rewards must be \[batch, time\] " + BT + r"got shape \(2, 2\)",
                 id="reinforce-rewards"),
    # optimality tightening
    pytest.param(lambda: qlearning_opt_tightening.get_elementwise_objective(V, ACT, R),
                 r"qvalues must be \[batch, time, n_actions\], got shape \(2, 3\)",
                 id="tightening-qvalues"),
    pytest.param(lambda: qlearning_opt_tightening.get_elementwise_objective(Q, ACT.float(), R),
                 r"actions must be an integer tensor", id="tightening-float-actions"),
    pytest.param(lambda: qlearning_opt_tightening.get_bounds(V, ACT, R),
                 r"qvalues must be \[batch, time, n_actions\], got shape \(2, 3\)",
                 id="bounds-qvalues"),
    pytest.param(lambda: qlearning_opt_tightening.get_bounds(Q, ACT.float(), R),
                 r"actions must be an integer tensor", id="bounds-float-actions"),
    pytest.param(lambda: qlearning_opt_tightening.get_bounds(Q, ACT[:, :2], R),
                 r"actions must be \[batch, time\] " + BT + r"got shape \(2, 2\)",
                 id="bounds-actions-time"),
    pytest.param(lambda: qlearning_opt_tightening.get_bounds(Q, ACT, R, gamma=torch.ones(2)),
                 r"gamma must be a number in \(0, 1\]", id="bounds-gamma-tensor"),
    pytest.param(lambda: qlearning_opt_tightening.get_bounds(Q, ACT, R, gamma=0.0),
                 r"gamma must be a number in \(0, 1\]", id="bounds-gamma-0"),
    # PPO
    pytest.param(lambda: ppo.get_elementwise_objective(Q, V, V),
                 r"log_probs must be \[batch, time\], got shape \(2, 3, 4\)", id="ppo-rank"),
    pytest.param(lambda: ppo.get_elementwise_objective(V, V[:1], V),
                 r"old_log_probs must be \[batch, time\] " + BT + r"got shape \(1, 3\)",
                 id="ppo-old_log_probs"),
    pytest.param(lambda: ppo.get_elementwise_objective(V, V, V[:, :2]),
                 r"advantages must be \[batch, time\] " + BT + r"got shape \(2, 2\)",
                 id="ppo-advantages"),
    pytest.param(lambda: ppo.get_elementwise_objective(V, V, V, ACT[:1].bool()),
                 r"is_alive must be \[batch, time\] " + BT + r"got shape \(1, 3\)",
                 id="ppo-is_alive"),
    pytest.param(lambda: ppo.get_elementwise_value_objective(Q, V, V),
                 r"state_values must be \[batch, time\], got shape \(2, 3, 4\)",
                 id="ppo-value-rank"),
    pytest.param(lambda: ppo.get_elementwise_value_objective(V, V, V[:, :1]),
                 r"value_targets must be \[batch, time\] " + BT + r"got shape \(2, 1\)",
                 id="ppo-value-targets"),
    # V-trace
    pytest.param(lambda: vtrace.get_vtrace_targets(V, R, V[:, :2]),
                 r"log_rhos must be \[batch, time\] " + BT + r"got shape \(2, 2\)",
                 id="vtrace-log_rhos"),
    pytest.param(lambda: vtrace.get_vtrace_targets(Q, R, V),
                 r"state_values must be \[batch, time\].*got shape \(2, 3, 4\)",
                 id="vtrace-state_values"),
    pytest.param(lambda: vtrace.get_elementwise_objective(V, V, ACT, R, V),
                 r"policy must be \[batch, time, n_actions\], got shape \(2, 3\)",
                 id="vtrace-policy"),
    pytest.param(lambda: vtrace.get_elementwise_objective(PI, V, ACT.float(), R, V),
                 r"actions must be an integer tensor", id="vtrace-float-actions"),
    pytest.param(lambda: vtrace.get_elementwise_objective(PI, V, ACT, R, V[:1]),
                 r"behaviour_log_probs must be \[batch, time\] " + BT + r"got shape \(1, 3\)",
                 id="vtrace-behaviour_log_probs"),
    # Retrace
    pytest.param(lambda: retrace.get_retrace_targets(V, ACT, R, PI, V),
                 r"qvalues must be \[batch, time, n_actions\], got shape \(2, 3\)",
                 id="retrace-qvalues"),
    pytest.param(lambda: retrace.get_retrace_targets(Q, ACT, R, PI[:, :2], V),
                 r"target_policy must be \[batch, time, n_actions\] " + BT
                 + r"got shape \(2, 2, 4\)", id="retrace-target_policy"),
    pytest.param(lambda: retrace.get_retrace_targets(Q, ACT.float(), R, PI, V),
                 r"actions must be an integer tensor", id="retrace-float-actions"),
    pytest.param(lambda: retrace.get_retrace_targets(Q, ACT, R, PI, Q),
                 r"behaviour_log_probs must be \[batch, time\] " + BT + r"got shape \(2, 3, 4\)",
                 id="retrace-behaviour_log_probs"),
    pytest.param(lambda: retrace.get_elementwise_objective(Q, ACT.float(), R, PI, V),
                 r"actions must be an integer tensor", id="retrace-objective-float-actions"),
    # BUG: the wrong argument is named
    *[pytest.param(call, r"rewards must be \[batch, time\] " + BT + r"got shape \(2, 2\)",
                   id=f"{name}-rewards") for name, call in [
        ("qlearning", lambda: qlearning.get_elementwise_objective(Q, ACT, R[:, :2])),
        ("sarsa", lambda: sarsa.get_elementwise_objective(Q, ACT, R[:, :2])),
        ("dpg", lambda: dpg.get_elementwise_objective_critic(V, V, R[:, :2])),
        ("a2c", lambda: a2c.get_elementwise_objective(PI, V, ACT, R[:, :2])),
        ("tightening", lambda: qlearning_opt_tightening.get_elementwise_objective(
            Q, ACT, R[:, :2])),
        ("vtrace", lambda: vtrace.get_vtrace_targets(V, R[:, :2], V)),
        ("retrace", lambda: retrace.get_retrace_targets(Q, ACT, R[:, :2], PI, V)),
    ]],
    pytest.param(lambda: qlearning.get_elementwise_objective(Q, ACT, R, state_values_target=Q),
                 r"state_values_target must be \[batch, time\]", id="qlearning-svt-rank"),
    pytest.param(lambda: dpg.get_elementwise_objective_critic(Q, V, R),
                 r"action_qvalues must be \[batch, time\]", id="dpg-critic-action_qvalues"),
    pytest.param(lambda: qlearning_opt_tightening.get_elementwise_objective(
        Q, ACT, R, qvalues_target=Q[:1]), r"qvalues_target must be", id="tightening-target-batch",),
    pytest.param(lambda: qlearning_opt_tightening.get_elementwise_objective(
        Q, ACT, R, qvalues_target=V), r"qvalues_target must be", id="tightening-target-rank",),
    pytest.param(lambda: retrace.get_elementwise_objective(Q, ACT, R, PI, V, qvalues_target=Q[:1]),
                 r"qvalues_target must be", id="retrace-target-batch"),
    pytest.param(lambda: retrace.get_elementwise_objective(Q, ACT, R, PI, V, qvalues_target=V),
                 r"qvalues_target must be", id="retrace-target-rank"),
])
def test_shape_and_dtype_errors_name_the_argument_and_the_shapes(call, match):
    with pytest.raises(ValueError, match=match):
        call()



@pytest.mark.parametrize("call", [
    pytest.param(lambda: qlearning.get_elementwise_objective(Q, ACT, R, qvalues_target=Q[..., :2]),
                 id="qlearning-qvalues_target"),
    pytest.param(lambda: sarsa.get_elementwise_objective(Q, ACT, R, qvalues_target=Q[..., :2]),
                 id="sarsa-qvalues_target"),
    pytest.param(lambda: sarsa.get_expected_state_values(Q, PI[..., :2]),
                 id="expected-state-values"),
    pytest.param(lambda: retrace.get_retrace_targets(Q, ACT, R, PI[..., :2], V),
                 id="retrace-target_policy"),
])
def test_a_different_number_of_actions_is_a_clear_error(call):
    with pytest.raises(ValueError, match=r"n_actions"):
        call()
