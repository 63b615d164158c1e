"""Where the objectives of ``agentnet.learning`` send their gradients.

- With ``consider_reference_constant=True`` (the default) a TD loss's gradient reaches only the
  predicted term: ``2 (pred - ref)`` on the action taken; with False it also flows through the
  reference, exactly as autograd through a slow per-episode reference built from Python
  scalars says.
- Nothing reaches a dead tick that is not a bootstrap target (the final state of a truncated
  episode is the only dead tick a loss may look at).
- PPO's surrogate has no gradient where the ratio is clipped on the side that matters.
- V-trace and Retrace targets carry no gradient.
"""
from __future__ import annotations

import math
from dataclasses import replace

import torch
from brute_force import (
    F64,
    SETTINGS,
    Batch,
    Case,
    batches,
    has_reference,
    n_step,
    session_kwargs,
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
    qlearning_opt_tightening,
    reinforce,
    retrace,
    sarsa,
    vtrace,
)

N_STEPS = [1, 2, 3, None]


def loss_mask(case: Case) -> torch.Tensor:
    """bool ``[B, T]``: the ticks with a loss of their own."""
    batch, length = case.shape
    return torch.tensor([[has_reference(case, b, t) for t in range(length)] for b in range(batch)])


def untouchable(case: Case) -> torch.Tensor:
    """bool ``[B, T]``: dead ticks that are not the final state of a truncated episode."""
    alive, truncated = torch.tensor(case.alive), torch.tensor(case.truncated)
    after_truncation = torch.zeros_like(alive)
    after_truncation[:, 1:] = alive[:, :-1] & truncated[:, :-1]
    return ~alive & ~after_truncation


def one_hot_at_actions(batch: Batch, per_tick: torch.Tensor) -> torch.Tensor:
    """``[B, T, A]`` holding ``per_tick [B, T]`` at the actions taken, 0 elsewhere."""
    shape = torch.tensor(batch.q).shape
    out = torch.zeros(shape, dtype=F64)
    return out.scatter(2, batch.t("actions")[..., None], per_tick[..., None])


def grad(output: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """d sum(output) / d leaf, zeros if it does not depend on it."""
    if not output.requires_grad:
        return torch.zeros_like(leaf)
    (g,) = torch.autograd.grad(output.sum(), leaf, allow_unused=True, retain_graph=True)
    return torch.zeros_like(leaf) if g is None else g


def scalar_reference_loss(case: Case, predicted, values, n: int | None) -> torch.Tensor:
    """sum over ticks with a loss of (n-step reference - predicted)^2, where ``predicted`` and
    ``values`` are ``[B][T]`` grids of 0-d tensors: autograd through the slow reference."""
    with_values = replace(case, values=values)
    batch, length = case.shape
    total = torch.zeros((), dtype=F64)
    for b in range(batch):
        for t in range(length):
            if has_reference(case, b, t):
                total = total + (walk(with_values, b, t, n)[0] - predicted[b][t]) ** 2
    return total


def grid(fn, case: Case) -> list[list]:
    batch, length = case.shape
    return [[fn(b, t) for t in range(length)] for b in range(batch)]


# ---------------------------------------------------------------- (1) constant references

@SETTINGS
@given(batch=batches(), n=st.sampled_from(N_STEPS), algo=st.sampled_from(["qlearning", "sarsa"]))
def test_td_gradient_flows_only_through_the_prediction(batch, n, algo):
    case = batch.case
    module = qlearning if algo == "qlearning" else sarsa
    q = batch.t("q").requires_grad_()
    loss = module.get_elementwise_objective(q, batch.t("actions"), n_steps=n,
                                            **session_kwargs(case))
    values = ([[max(row) for row in rows] for rows in batch.q] if algo == "qlearning"
              else batch.taken(batch.q))
    reference = tensor(n_step(case, values, n))
    predicted = tensor(batch.taken(batch.q))
    expected = one_hot_at_actions(batch, 2 * (predicted - reference) * loss_mask(case))
    assert_close(grad(loss, q), expected)


@SETTINGS
@given(batch=batches(), n=st.sampled_from(N_STEPS), algo=st.sampled_from(["qlearning", "sarsa"]))
def test_td_gradient_through_the_reference_when_not_constant(batch, n, algo):
    case = batch.case
    module = qlearning if algo == "qlearning" else sarsa
    q = batch.t("q_target").requires_grad_()     # Gaussian: no ties in the max
    loss = module.get_elementwise_objective(q, batch.t("actions"), n_steps=n,
                                            consider_reference_constant=False,
                                            **session_kwargs(case))
    actions = batch.actions
    predicted = grid(lambda b, t: q[b, t, actions[b][t]], case)
    values = grid(lambda b, t: q[b, t].max(), case) if algo == "qlearning" else predicted
    expected = grad(scalar_reference_loss(case, predicted, values, n), q)
    assert_close(grad(loss, q), expected)


@SETTINGS
@given(batch=batches(), n=st.sampled_from(N_STEPS), constant=st.booleans())
def test_dpg_critic_gradient(batch, n, constant):
    case = batch.case
    action_q = batch.t("other").requires_grad_()
    state_v = tensor(case.values).requires_grad_()
    loss = dpg.get_elementwise_objective_critic(
        action_q, state_v, n_steps=n, consider_reference_constant=constant,
        **session_kwargs(case, end="force_end_at_last_tick"))
    if constant:
        reference = tensor(n_step(case, case.values, n))
        assert_close(grad(loss, action_q), 2 * (action_q - reference).detach() * loss_mask(case))
        assert torch.equal(grad(loss, state_v), torch.zeros_like(state_v))
    else:
        predicted = grid(lambda b, t: action_q[b, t], case)
        values = grid(lambda b, t: state_v[b, t], case)
        slow = scalar_reference_loss(case, predicted, values, n)
        assert_close(grad(loss, action_q), grad(slow, action_q))
        assert_close(grad(loss, state_v), grad(slow, state_v))


@SETTINGS
@given(batch=batches(), n=st.sampled_from(N_STEPS), constant=st.booleans())
def test_a2c_critic_gradient(batch, n, constant):
    case = batch.case
    values = tensor(case.values).requires_grad_()
    kwargs = session_kwargs(case, end="force_end_at_last_tick")
    # the critic's reference bootstraps past the row from state_values_target_after_end
    kwargs["state_values_target_after_end"] = kwargs["state_values_after_end"]
    _, critic = a2c.get_elementwise_objective(
        batch.t("pi"), values, batch.t("actions"), n_steps=n, return_separate=True,
        consider_value_reference_constant=constant, **kwargs)
    if constant:
        reference = tensor(n_step(case, case.values, n))
        expected = 2 * (values - reference).detach() * loss_mask(case)
    else:
        v = grid(lambda b, t: values[b, t], case)
        expected = grad(scalar_reference_loss(case, v, v, n), values)
    assert_close(grad(critic, values), expected)


@SETTINGS
@given(batch=batches(), n_adv=st.sampled_from(N_STEPS), predicted_constant=st.booleans())
def test_a2c_actor_gradient(batch, n_adv, predicted_constant):
    """The actor pushes log pi(a_t) by -A(t); it reaches V only with
    ``consider_predicted_value_constant=False``, and then only through -V(t) in A(t)."""
    case = batch.case
    values = tensor(case.values).requires_grad_()
    log_policy = batch.t("pi").log().requires_grad_()
    actor, _ = a2c.get_elementwise_objective(
        log_policy, values, batch.t("actions"), n_steps_advantage=n_adv, return_separate=True,
        treat_policy_as_logpolicy=True, consider_predicted_value_constant=predicted_constant,
        **session_kwargs(case, end="force_end_at_last_tick"))
    mask = loss_mask(case)
    advantage = (tensor(n_step(case, case.values, n_adv)) - tensor(case.values)) * mask
    assert_close(grad(actor, log_policy), one_hot_at_actions(batch, -advantage))
    if predicted_constant:
        expected = torch.zeros_like(values)
    else:
        expected = torch.tensor(batch.pi, dtype=F64).log().gather(
            2, batch.t("actions")[..., None])[..., 0] * mask
    assert_close(grad(actor, values), expected)


@SETTINGS
@given(batch=batches())
def test_reinforce_gradients(batch):
    """The baseline is constant in the policy term and trained toward G by its own term."""
    case = replace(batch.case, end_at_tmax=False)
    baseline = tensor(case.values).requires_grad_()
    log_policy = batch.t("pi").log().requires_grad_()
    policy_term, baseline_term = reinforce.get_elementwise_objective(
        log_policy, batch.t("actions"), baseline=baseline, treat_policy_as_logpolicy=True,
        return_separate=True, **session_kwargs(case, end=None))
    returns = tensor(n_step(case, case.values, None))
    mask = loss_mask(case)
    assert torch.equal(grad(policy_term, baseline), torch.zeros_like(baseline))
    assert_close(grad(policy_term, log_policy),
                 one_hot_at_actions(batch, -(returns - tensor(case.values)) * mask))
    assert_close(grad(baseline_term, baseline), 2 * (baseline - returns).detach() * mask)


# ---------------------------------------------------------------- (2) dead ticks

def all_losses(batch: Batch) -> dict[str, tuple[torch.Tensor, list[torch.Tensor]]]:
    """Every objective on one batch, references NOT constant where that is an option:
    ``{name: (loss, [leaves])}``."""
    case = batch.case
    plain = replace(case, end_at_tmax=False, after_end=None)
    k_plain = session_kwargs(plain, end=None, after_end=None)
    k_all = session_kwargs(case)
    k_force = session_kwargs(case, end="force_end_at_last_tick")
    acts = batch.t("actions")

    def leaf(name: str, log: bool = False) -> torch.Tensor:
        x = batch.t(name)
        return (x.log() if log else x).requires_grad_()

    q, qt, pi, v, vt, other = (leaf("q"), leaf("q_target"), leaf("pi", log=True),
                               tensor(case.values).requires_grad_(), leaf("other"),
                               leaf("other"))
    mu = batch.t("behaviour")
    out = {
        "qlearning": (qlearning.get_elementwise_objective(
            q, acts, qvalues_target=qt, n_steps=2, consider_reference_constant=False, **k_all),
            [q, qt]),
        "double-q": (qlearning.get_elementwise_objective(
            q, acts, state_values_target=qlearning.get_double_q_state_values(q, qt),
            consider_reference_constant=False, **k_all), [q, qt]),
        "sarsa": (sarsa.get_elementwise_objective(
            q, acts, n_steps=None, consider_reference_constant=False, **k_all), [q]),
        "expected-sarsa": (sarsa.get_elementwise_objective(
            q, acts, state_values_target=sarsa.get_expected_state_values(qt, pi.exp()),
            consider_reference_constant=False, **k_all), [q, qt, pi]),
        "dpg-critic": (dpg.get_elementwise_objective_critic(
            other, v, n_steps=3, consider_reference_constant=False, **k_force), [other, v]),
        "dpg-actor": (dpg.get_elementwise_objective_actor(
            other, torch.tensor(case.alive), crop_last=case.crop_last), [other]),
        "a2c": (a2c.get_elementwise_objective(
            pi, v, acts, state_values_target=vt, n_steps=2, n_steps_advantage=None,
            consider_value_reference_constant=False, consider_predicted_value_constant=False,
            entropy_regularization=0.1, treat_policy_as_logpolicy=True, **k_force),
            [pi, v, vt]),
        "reinforce": (reinforce.get_elementwise_objective(
            pi, acts, baseline=v, treat_policy_as_logpolicy=True, **k_plain), [pi, v]),
        "tightening": (qlearning_opt_tightening.get_elementwise_objective(
            q, acts, tensor(case.rewards), is_alive=torch.tensor(case.alive), n_steps=3,
            gamma=0.9,
            qvalues_target=qt, is_truncated=torch.tensor(case.truncated),
            crop_last=case.crop_last), [q, qt]),
        "ppo": (ppo.get_elementwise_objective(
            other, mu, tensor(case.values), torch.tensor(case.alive), crop_last=case.crop_last),
            [other]),
        "ppo-value": (ppo.get_elementwise_value_objective(
            v, tensor(case.values).flip(1), other.detach(), torch.tensor(case.alive),
            crop_last=case.crop_last), [v]),
        "vtrace": (vtrace.get_elementwise_objective(
            pi, v, acts, behaviour_log_probs=mu, entropy_regularization=0.1,
            treat_policy_as_logpolicy=True, **k_plain), [pi, v]),
        "retrace": (retrace.get_elementwise_objective(
            q, acts, target_policy=pi.exp(), behaviour_log_probs=mu, qvalues_target=qt,
            **k_plain), [q, qt, pi]),
    }
    return out


@SETTINGS
@given(batch=batches())
def test_no_gradient_reaches_a_dead_tick_that_is_not_a_bootstrap_target(batch):
    dead = untouchable(batch.case)
    for name, (loss, leaves) in all_losses(batch).items():
        assert torch.equal(loss[~torch.tensor(batch.case.alive)],
                           torch.zeros_like(loss[~torch.tensor(batch.case.alive)])), name
        for i, x in enumerate(leaves):
            g = grad(loss, x)
            assert torch.equal(g[dead], torch.zeros_like(g[dead])), (name, i, g)


# ---------------------------------------------------------------- (3) PPO

@SETTINGS
@given(batch=batches(), eps=st.sampled_from([0.1, 0.2, 0.5]))
def test_ppo_surrogate_has_no_gradient_where_the_ratio_is_clipped(batch, eps):
    case = replace(batch.case, crop_last=False, end_at_tmax=False)
    log_probs = tensor([[math.log(p[a]) for p, a in zip(*rows)]
                        for rows in zip(batch.pi, batch.actions)]).requires_grad_()
    old, advantages = batch.t("behaviour"), batch.t("other")
    loss = ppo.get_elementwise_objective(log_probs, old, advantages, torch.tensor(case.alive),
                                         clip_epsilon=eps)
    ratio = (log_probs - old).exp().detach()
    clipped = ((advantages > 0) & (ratio > 1 + eps)) | ((advantages < 0) & (ratio < 1 - eps))
    expected = torch.where(clipped, 0.0, -advantages * ratio) * torch.tensor(case.alive)
    assert_close(grad(loss, log_probs), expected)


@SETTINGS
@given(batch=batches(), eps=st.sampled_from([None, 0.1, 0.5]))
def test_ppo_value_loss_has_no_gradient_where_the_clipped_term_wins(batch, eps):
    case = batch.case
    values = batch.t("other").requires_grad_()
    old, targets = tensor(case.values), tensor(batch.taken(batch.q_target))
    loss = ppo.get_elementwise_value_objective(values, old, targets, torch.tensor(case.alive),
                                               clip_epsilon=eps)
    v = values.detach()
    plain = 2 * (v - targets)
    if eps is None:
        expected = plain
    else:
        # outside the clip range the clipped term is constant: it passes no gradient when it wins
        clipped_loss = (old + (v - old).clamp(-eps, eps) - targets) ** 2
        clipped_wins = ((v - old).abs() > eps) & (clipped_loss > (v - targets) ** 2)
        expected = torch.where(clipped_wins, 0.0, plain)
    assert_close(grad(loss, values), expected * torch.tensor(case.alive))


# ---------------------------------------------------------------- (4) V-trace and Retrace

@SETTINGS
@given(batch=batches())
def test_vtrace_targets_carry_no_gradient(batch):
    case = batch.case
    values = tensor(case.values).requires_grad_()
    log_rhos = batch.t("behaviour").requires_grad_()
    vs, pg = vtrace.get_vtrace_targets(values, log_rhos=log_rhos, **session_kwargs(case))
    assert not vs.requires_grad and not pg.requires_grad

    # in the objective the critic regresses V on constant vs, the actor never reaches V
    plain = replace(case, end_at_tmax=False, after_end=None)
    log_policy = batch.t("pi").log().requires_grad_()
    actor, critic = vtrace.get_elementwise_objective(
        log_policy, values, batch.t("actions"), behaviour_log_probs=batch.t("behaviour"),
        treat_policy_as_logpolicy=True, return_separate=True,
        **session_kwargs(plain, end=None, after_end=None))
    log_pi = log_policy.detach().gather(2, batch.t("actions")[..., None])[..., 0]
    vs, pg = vtrace.get_vtrace_targets(values.detach(), log_rhos=log_pi - batch.t("behaviour"),
                                       **session_kwargs(plain, after_end=None))
    mask = loss_mask(plain)
    assert torch.equal(grad(actor, values), torch.zeros_like(values))
    assert_close(grad(critic, values), 2 * (values.detach() - vs) * mask)
    assert_close(grad(actor, log_policy), one_hot_at_actions(batch, -pg * mask))


@SETTINGS
@given(batch=batches(), lambda_=st.floats(0.0, 1.0))
def test_retrace_targets_carry_no_gradient(batch, lambda_):
    case = replace(batch.case, end_at_tmax=False, after_end=None)
    kwargs = session_kwargs(case, end=None, after_end=None)
    q = batch.t("q").requires_grad_()
    pi = batch.t("pi").requires_grad_()
    mu = batch.t("behaviour").requires_grad_()
    targets = retrace.get_retrace_targets(q, batch.t("actions"), target_policy=pi,
                                          behaviour_log_probs=mu, lambda_=lambda_, **kwargs)
    assert not targets.requires_grad

    # the objective on its own Q-values: gradient 2 (Q - Qret) on the action taken only
    loss = retrace.get_elementwise_objective(q, batch.t("actions"), target_policy=pi,
                                             behaviour_log_probs=mu, lambda_=lambda_, **kwargs)
    predicted = tensor(batch.taken(batch.q))
    assert_close(grad(loss, q),
                 one_hot_at_actions(batch, 2 * (predicted - targets) * loss_mask(case)))
    assert torch.equal(grad(loss, pi), torch.zeros_like(pi))
    assert torch.equal(grad(loss, mu), torch.zeros_like(mu))
