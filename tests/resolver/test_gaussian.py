"""Continuous resolvers: Gaussian and tanh-squashed Gaussian actions and their log-probabilities.

References are torch.distributions (``Normal``; ``TransformedDistribution`` with
``TanhTransform`` and ``AffineTransform``), in float64. Statistical checks draw 20000 actions
from one seeded generator and allow 4 standard errors.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import AffineTransform, Normal, TanhTransform, TransformedDistribution

import agentnet
from agentnet import layers as L
from agentnet.environment import Pendulum, SessionPoolEnvironment
from agentnet.layers import InputLayer, get_output
from agentnet.resolver import GaussianResolver, TanhGaussianResolver

N = 20000
F64 = torch.float64


def _squashed(mean, std, low, high) -> TransformedDistribution:
    """torch's tanh-Gaussian squashed into ``[low, high]``."""
    return TransformedDistribution(Normal(mean, std), [
        TanhTransform(), AffineTransform(loc=(high + low) / 2, scale=(high - low) / 2)])


def _layers(dim: int, dtype=F64):
    return (InputLayer((None, dim), dtype=dtype, name="mean"),
            InputLayer((None, dim), dtype=dtype, name="log_std"))


# --- log-probabilities against torch.distributions ---------------------------------------
@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 5), dim=st.integers(1, 4), seed=st.integers(0, 2**31 - 1),
       spread=st.floats(0.1, 5.0))
def test_gaussian_log_prob_and_entropy_match_normal(batch, dim, seed, spread):
    generator = torch.Generator().manual_seed(seed)
    mean = torch.randn(batch, dim, generator=generator, dtype=F64) * spread
    log_std = torch.rand(batch, dim, generator=generator, dtype=F64) * 6 - 4
    actions = mean + torch.randn(batch, dim, generator=generator, dtype=F64) * spread
    mean_layer, log_std_layer = _layers(dim)
    resolver = GaussianResolver(mean_layer, log_std_layer, name="pi")
    given_values = {mean_layer: mean, log_std_layer: log_std, resolver: actions}
    log_prob, entropy = get_output([resolver.log_prob, resolver.entropy], given_values)
    reference = Normal(mean, log_std.exp())
    assert log_prob.shape == entropy.shape == (batch,)
    torch.testing.assert_close(log_prob, reference.log_prob(actions).sum(-1))
    torch.testing.assert_close(entropy, reference.entropy().sum(-1))


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 5), dim=st.integers(1, 4), seed=st.integers(0, 2**31 - 1),
       low=st.floats(-10.0, 5.0), width=st.floats(0.01, 20.0),
       squeeze=st.floats(0.0, 1 - 1e-6))
def test_tanh_gaussian_log_prob_matches_transformed_distribution(batch, dim, seed, low, width,
                                                                 squeeze):
    generator = torch.Generator().manual_seed(seed)
    lows = torch.full((dim,), low, dtype=F64) + torch.rand(dim, generator=generator, dtype=F64)
    highs = lows + width
    mean_layer, log_std_layer = _layers(dim)
    resolver = TanhGaussianResolver(mean_layer, log_std_layer, low=lows.numpy(),
                                    high=highs.numpy(), name="pi")
    lows, highs = resolver.low.to(F64), resolver.high.to(F64)  # as the resolver keeps them
    mean = torch.randn(batch, dim, generator=generator, dtype=F64) * 2
    log_std = torch.rand(batch, dim, generator=generator, dtype=F64) * 4 - 3
    # actions anywhere in the box, up to `squeeze` of the way to the bounds
    y = (torch.rand(batch, dim, generator=generator, dtype=F64) * 2 - 1) * squeeze
    actions = (highs + lows) / 2 + y * (highs - lows) / 2
    log_prob = get_output(resolver.log_prob, {mean_layer: mean, log_std_layer: log_std,
                                              resolver: actions})
    reference = _squashed(mean, log_std.exp(), lows, highs).log_prob(actions).sum(-1)
    assert log_prob.shape == (batch,)
    torch.testing.assert_close(log_prob, reference, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_tanh_log_prob_of_actions_on_and_near_the_bounds_is_finite(dtype):
    low, high = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 1.0])
    mean_layer, log_std_layer = _layers(2, dtype)
    resolver = TanhGaussianResolver(mean_layer, log_std_layer, low=low, high=high)
    eps = torch.finfo(dtype).eps
    actions = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [-2.0 + 1e-7, 1e-9], [2.0 - 1e-5, 1.0],
                            [-3.0, 5.0]], dtype=dtype)  # on, near and past the bounds
    mean = torch.tensor([[0.5, -1.0]], dtype=dtype).expand(5, 2)
    log_std = torch.full((5, 2), -0.5, dtype=dtype)
    log_prob = get_output(resolver.log_prob, {mean_layer: mean, log_std_layer: log_std,
                                              resolver: actions})
    assert bool(torch.isfinite(log_prob).all()), log_prob
    # an action on a bound has the density of one eps inside (in the rescaled box)
    on_bounds = torch.tensor([[-1.0, -1.0], [1.0, 1.0]], dtype=F64) * (1 - eps)
    loc, scale = (high + low).double() / 2, (high - low).double() / 2
    reference = _squashed(mean[:2].double(), log_std[:2].double().exp(), low.double(),
                          high.double()).log_prob(loc + scale * on_bounds).sum(-1)
    torch.testing.assert_close(log_prob[:2].double(), reference,
                               rtol=1e-5 if dtype == torch.float32 else 1e-9, atol=1e-4)
    # the gradient to the mean and log-std is finite too
    mean_p, log_std_p = mean.clone().requires_grad_(), log_std.clone().requires_grad_()
    get_output(resolver.log_prob, {mean_layer: mean_p, log_std_layer: log_std_p,
                                   resolver: actions}).sum().backward()
    assert mean_p.grad is not None and log_std_p.grad is not None
    assert bool(torch.isfinite(mean_p.grad).all() and torch.isfinite(log_std_p.grad).all())


def test_log_std_is_clamped_in_actions_log_prob_and_entropy():
    mean_layer, log_std_layer = _layers(1)
    resolver = GaussianResolver(mean_layer, log_std_layer, min_log_std=-1.0, max_log_std=0.5)
    mean, actions = torch.zeros(2, 1, dtype=F64), torch.ones(2, 1, dtype=F64)
    log_std = torch.tensor([[-5.0], [3.0]], dtype=F64)
    log_prob, entropy = get_output([resolver.log_prob, resolver.entropy], {
        mean_layer: mean, log_std_layer: log_std, resolver: actions})
    clamped = Normal(mean, torch.tensor([[-1.0], [0.5]], dtype=F64).exp())
    torch.testing.assert_close(log_prob, clamped.log_prob(actions).sum(-1))
    torch.testing.assert_close(entropy, clamped.entropy().sum(-1))


# --- greedy and sampling ------------------------------------------------------------------
def test_greedy_gives_the_mean_and_the_squashed_mean():
    torch.manual_seed(0)
    mean_layer = InputLayer((None, 3), name="mean")
    mean = torch.randn(6, 3) * 3
    assert torch.equal(get_output(GaussianResolver(mean_layer), {mean_layer: mean},
                                  greedy=True), mean)
    low, high = np.array([-2.0, 0.0, 1.0], np.float32), np.array([2.0, 0.5, 4.0], np.float32)
    squashed = get_output(TanhGaussianResolver(mean_layer, low=low, high=high),
                          {mean_layer: mean}, greedy=True)
    low_t, high_t = torch.from_numpy(low), torch.from_numpy(high)
    torch.testing.assert_close(squashed, low_t + (torch.tanh(mean) + 1) / 2 * (high_t - low_t))


def test_gaussian_samples_have_the_mean_and_std():
    torch.manual_seed(3)
    mean_layer, log_std_layer = _layers(2)
    mu, sigma = torch.tensor([1.0, -2.0], dtype=F64), torch.tensor([0.5, 2.0], dtype=F64)
    actions = get_output(GaussianResolver(mean_layer, log_std_layer), {
        mean_layer: mu.expand(N, 2), log_std_layer: sigma.log().expand(N, 2)})
    assert actions.shape == (N, 2) and actions.dtype == F64
    assert bool(((actions.mean(0) - mu).abs() <= 4 * sigma / math.sqrt(N)).all())
    assert bool(((actions.std(0) - sigma).abs() <= 4 * sigma / math.sqrt(2 * N)).all())


def test_tanh_gaussian_samples_are_squashed_gaussian_samples_inside_the_box():
    torch.manual_seed(4)
    mean_layer = InputLayer((None, 2), dtype=F64, name="mean")
    resolver = TanhGaussianResolver(mean_layer, log_std_init=math.log(0.4), low=-2.0,
                                    high=[1.0, 3.0])
    mu = torch.tensor([0.3, -0.5], dtype=F64)
    actions = get_output(resolver, {mean_layer: mu.expand(N, 2)}).detach()
    low, high = resolver.low.double(), resolver.high.double()
    assert bool(((actions >= low) & (actions <= high)).all())
    u = torch.atanh((actions - (high + low) / 2) / ((high - low) / 2))
    assert bool(((u.mean(0) - mu).abs() <= 4 * 0.4 / math.sqrt(N)).all())
    assert bool(((u.std(0) - 0.4).abs() <= 4 * 0.4 / math.sqrt(2 * N)).all())


def test_extreme_means_stay_inside_the_box():
    mean_layer = InputLayer((None, 1), name="mean")
    resolver = TanhGaussianResolver(mean_layer, low=-0.3, high=0.7)
    actions = get_output(resolver, {mean_layer: torch.tensor([[-1e6], [1e6], [0.0]])})
    assert bool(((actions >= -0.3) & (actions <= 0.7)).all())


# --- gradients and training ---------------------------------------------------------------
@pytest.mark.parametrize("make", [GaussianResolver, TanhGaussianResolver])
def test_gradient_flows_from_the_action_to_mean_and_log_std_parameters(make):
    torch.manual_seed(5)
    obs = InputLayer((None, 3), name="obs")
    mean = L.DenseLayer(obs, 2, nonlinearity=None, name="mean")
    state_log_std = L.DenseLayer(obs, 2, nonlinearity=None, name="log_std")
    for log_std in (None, state_log_std):
        resolver = make(mean, log_std, name="pi")
        x = torch.randn(7, 3)
        get_output(resolver, {obs: x}).sum().backward()
        log_std_params = [resolver.log_std_layer.log_std] if log_std is None else [
            state_log_std.W, state_log_std.b]
        for param in [mean.W, mean.b, *log_std_params]:
            assert param.grad is not None and bool(param.grad.abs().sum() > 0), param.shape
            param.grad = None


def test_gradient_of_a_gaussian_action_is_the_reparameterization():
    torch.manual_seed(6)
    mean_layer = InputLayer((None, 2), name="mean")
    resolver = GaussianResolver(mean_layer, log_std_init=-0.5)
    mean = torch.randn(5, 2, requires_grad=True)
    action = get_output(resolver, {mean_layer: mean})
    action.sum().backward()
    assert mean.grad is not None
    torch.testing.assert_close(mean.grad, torch.ones(5, 2))
    # d action / d log_std = std * noise = action - mean, summed over the batch
    torch.testing.assert_close(resolver.log_std_layer.log_std.grad,
                               (action - mean).detach().sum(0))


def test_free_log_std_is_trained_by_maximum_likelihood():
    torch.manual_seed(7)
    obs = InputLayer((None, 2), name="obs")
    mean = L.DenseLayer(obs, 2, nonlinearity=None, name="mean")
    resolver = GaussianResolver(mean, log_std_init=0.5, name="pi")
    optimizer = torch.optim.Adam(L.get_all_params(resolver.log_prob), lr=0.05)
    assert any(p is resolver.log_std_layer.log_std for p in L.get_all_params(resolver))
    target_std = torch.tensor([0.2, 1.5])
    for _ in range(400):
        x = torch.randn(256, 2)
        actions = x @ torch.tensor([[1.0, 0.0], [2.0, -1.0]]) + torch.randn(256, 2) * target_std
        loss = -get_output(resolver.log_prob, {obs: x, resolver: actions}).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.testing.assert_close(resolver.log_std_layer.log_std.detach(), target_std.log(),
                               atol=0.1, rtol=0)


# --- devices, dtypes, agents --------------------------------------------------------------
@pytest.mark.parametrize("make", [GaussianResolver, TanhGaussianResolver])
def test_dtype_follows_the_mean(make):
    mean_layer = InputLayer((None, 2), dtype=F64, name="mean")
    resolver = make(mean_layer, name="pi")
    assert resolver.output_shape == (None, 2) and resolver.output_dtype == F64
    assert resolver.log_prob.output_shape == (None,) and resolver.log_prob.output_dtype == F64
    assert resolver.entropy.output_dtype == F64
    action, log_prob = get_output([resolver, resolver.log_prob],
                                  {mean_layer: torch.zeros(3, 2, dtype=F64)})
    assert action.dtype == log_prob.dtype == F64
    assert resolver.log_prob is resolver.log_prob  # made once
    assert resolver.log_prob.name == "pi.log_prob" and resolver.log_std_layer.name == "pi.log_std"


def _pendulum_agent(seed: int = 0):
    torch.manual_seed(seed)
    observation = InputLayer((None, 3), name="observation")
    hidden = L.DenseLayer(observation, 16, name="hidden")
    mean = L.DenseLayer(hidden, 1, nonlinearity=None, name="mean")
    low, high = np.array([Pendulum.action_low], np.float32), np.array(
        [Pendulum.action_high], np.float32)  # as a Box's space.low, space.high
    resolver = TanhGaussianResolver(mean, low=low, high=high, log_std_init=0.3, name="torque")
    agent = agentnet.Agent(observation, policy_estimators=[mean, resolver.log_prob],
                           action_layers=resolver)
    return agent, observation, mean, resolver


def test_runs_on_native_pendulum_with_actions_inside_the_bounds():
    agent, _, _, resolver = _pendulum_agent()
    env = Pendulum(batch_size=8, seed=0)
    assert env.action_shapes == [(1,)] and env.action_dtypes == [torch.float32]
    sessions = agent.get_sessions(env, session_length=20)
    assert sessions.actions.shape == (8, 20, 1) and sessions.actions.dtype == torch.float32
    assert bool(((sessions.actions >= -2) & (sessions.actions <= 2)).all())
    assert float(sessions.actions.detach().std()) > 0.1  # it explores
    mean, log_prob = sessions.policy
    assert log_prob.shape == (8, 20) and bool(torch.isfinite(log_prob).all())
    greedy = agent.get_sessions(env, session_length=5, greedy=True)
    torch.testing.assert_close(greedy.actions, 2 * torch.tanh(greedy.policy[0]))
    # the free log-std is the agent's parameter, saved once
    keys = [k for k in agent.state_dict() if k.endswith("log_std")]
    assert len(keys) == 1, keys
    assert any(p is resolver.log_std_layer.log_std for p in agent.parameters())


def test_replay_gives_the_log_prob_of_the_recorded_actions_under_todays_weights():
    agent, observation, mean, resolver = _pendulum_agent(seed=1)
    env = Pendulum(batch_size=6, seed=1)
    with torch.no_grad():
        recorded = agent.get_sessions(env, session_length=10)
    pool = SessionPoolEnvironment(capacity=6, session_length=10, agent=agent)
    pool.append_sessions(recorded)
    # the replay, before any change: the log-probabilities recorded live
    replayed = agent.get_sessions(pool, experience_replay=True)
    assert torch.equal(replayed.actions, recorded.actions)
    torch.testing.assert_close(replayed.policy[1], recorded.policy[1], rtol=1e-4, atol=1e-4)
    # today's weights: another mean and log-std
    with torch.no_grad():
        mean.W.add_(torch.randn_like(mean.W))
        resolver.log_std_layer.log_std.fill_(-0.7)
    replayed = agent.get_sessions(pool, experience_replay=True)
    today_mean, today_log_prob = replayed.policy
    # by hand: the recorded actions under the tanh-Gaussian of today's mean and std
    with torch.no_grad():
        flat_mean = get_output(mean, {observation: recorded.observations.flatten(0, 1)})
    torch.testing.assert_close(today_mean.flatten(0, 1), flat_mean)
    actions = recorded.actions.flatten(0, 1).double()
    y = (actions / 2).clamp(-1 + 1.2e-7, 1 - 1.2e-7)
    u = torch.atanh(y)
    by_hand = (-0.5 * ((u - flat_mean.double()) / math.exp(-0.7)) ** 2 + 0.7
               - 0.5 * math.log(2 * math.pi) - torch.log(2 * (1 - y ** 2))).sum(-1)
    torch.testing.assert_close(today_log_prob.flatten(0, 1).double(), by_hand,
                               rtol=1e-4, atol=1e-4)
    reference = _squashed(flat_mean.double(), math.exp(-0.7), torch.tensor(-2.0, dtype=F64),
                          torch.tensor(2.0, dtype=F64)).log_prob(2 * y).sum(-1)
    torch.testing.assert_close(by_hand, reference)
    # the same through get_output, forcing the recorded actions into the resolver
    forced = get_output(resolver.log_prob, {observation: recorded.observations.flatten(0, 1),
                                            resolver: recorded.actions.flatten(0, 1)})
    torch.testing.assert_close(forced, today_log_prob.flatten(0, 1), rtol=1e-5, atol=1e-5)
    # and it trains: the gradient reaches the mean's weights and the free log-std
    today_log_prob.sum().backward()
    assert mean.W.grad is not None and resolver.log_std_layer.log_std.grad is not None
    assert float(resolver.log_std_layer.log_std.grad.abs().sum()) > 0


@pytest.mark.parametrize("make", [
    lambda mean: GaussianResolver(mean, log_std_init=-0.5, min_log_std=-3.0, name="policy"),
    lambda mean: TanhGaussianResolver(mean, low=[-1.0, 0.0], high=[2.0, 5.0], max_log_std=1.0,
                                      name="policy")])
def test_a_resample_is_the_same_policy_drawing_its_own_action(make):
    mean = InputLayer((None, 2), name="mean")
    policy = make(mean)
    fresh = policy.resample("fresh")
    assert type(fresh) is type(policy) and fresh.name == "fresh"
    assert fresh.mean_layer is mean and fresh.log_std_layer is policy.log_std_layer
    assert (fresh.min_log_std, fresh.max_log_std) == (policy.min_log_std, policy.max_log_std)
    assert L.get_all_params(fresh) == L.get_all_params(policy) == [policy.log_std_layer.log_std]
    if isinstance(policy, TanhGaussianResolver):
        assert torch.equal(fresh.low, policy.low) and torch.equal(fresh.high, policy.high)
    # forcing the policy's action (a replay) leaves the resample sampling; each log_prob is
    # the density of its own action under the same distribution
    mu, forced = torch.randn(64, 2), torch.tensor([[0.5, 1.0]]).expand(64, 2)
    torch.manual_seed(0)
    action, forced_log_prob, fresh_action, fresh_log_prob = get_output(
        [policy, policy.log_prob, fresh, fresh.log_prob], {mean: mu, policy: forced})
    assert torch.equal(action, forced) and not torch.equal(fresh_action, forced)
    torch.testing.assert_close(
        fresh_log_prob, get_output(policy.log_prob, {mean: mu, policy: fresh_action}))
    torch.testing.assert_close(forced_log_prob, get_output(fresh.log_prob,
                                                           {mean: mu, fresh: forced}))


def test_a_fresh_sample_gets_its_exact_log_prob_and_gradient_even_where_tanh_saturates():
    # a mean far out: tanh(u) rounds to the bound, and u cannot be recovered from the action.
    # The log-density of a fresh sample must still be the reparameterized one, whose gradient
    # with respect to the mean is that of -log(1 - tanh(mean + std eps)^2), so minimizing
    # alpha log pi pulls the mean back in. Recovered from the saturated action it would push
    # the mean further out (SAC's actor diverged that way).
    mean_layer, log_std_layer = InputLayer((None, 2)), InputLayer((None, 2))
    resolver = TanhGaussianResolver(mean_layer, log_std_layer, low=-2.0, high=2.0)
    means = torch.tensor([[30.0, -0.5], [-25.0, 40.0], [0.3, 0.1]], requires_grad=True)
    log_stds = torch.full((3, 2), -0.5)
    torch.manual_seed(3)
    action, log_prob = get_output([resolver, resolver.log_prob],
                                  {mean_layer: means, log_std_layer: log_stds})
    torch.manual_seed(3)
    u = (means + log_stds.exp() * torch.randn(3, 2)).double()
    # by hand from u: Normal's log-density, minus log |d action / d u| = log(2 sech(u)^2),
    # with sech(u)^2 = 4 / (e^u + e^-u)^2 written for large |u|
    log_sech2 = 2 * (math.log(2) - u.abs() - torch.log1p(torch.exp(-2 * u.abs())))
    by_u = (Normal(means.double(), log_stds.exp().double()).log_prob(u)
            - math.log(2) - log_sech2).sum(-1)
    torch.testing.assert_close(log_prob.double(), by_u, rtol=1e-4, atol=1e-3)
    assert torch.isfinite(log_prob).all() and log_prob[0] > 20  # saturated: a huge density
    (gradient,) = torch.autograd.grad(log_prob.sum(), means)
    (expected,) = torch.autograd.grad(by_u.sum(), means)
    torch.testing.assert_close(gradient.double(), expected.double(), rtol=1e-4, atol=1e-4)
    # log pi grows with |mean| out there: descending alpha log pi brings the means back in
    assert gradient[0, 0] > 0 and gradient[1, 0] < 0 and gradient[1, 1] > 0
    # the same action forced (a replay): recovered from the action, so finite but inexact
    forced = get_output(resolver.log_prob, {mean_layer: means, log_std_layer: log_stds,
                                            resolver: action.detach().clone()})
    assert torch.isfinite(forced).all()
    torch.testing.assert_close(forced[2], log_prob[2], rtol=1e-4, atol=1e-4)  # unsaturated


# --- mistakes raise at construction, naming the layer and the shapes ----------------------
@pytest.mark.parametrize("shape", [(None,), (None, None), (None, 2, 3)])
def test_a_mean_that_is_not_batch_by_known_dim_is_refused(shape):
    mean = InputLayer(shape, name="mean")
    with pytest.raises(ValueError, match=re.escape(
            "GaussianResolver 'pi': expects a mean [batch, action_dim] with a known "
            f"action_dim, got {'(None,)' if len(shape) == 1 else str(shape)} from "
            "InputLayer 'mean'")):
        GaussianResolver(mean, name="pi")


def test_other_mistakes_are_refused_with_names_and_shapes():
    mean = InputLayer((None, 2), name="mean")
    with pytest.raises(ValueError, match=re.escape(
            "GaussianResolver 'pi': log_std InputLayer 'ls' has shape (None, 3), the mean "
            "InputLayer 'mean' (None, 2): expected (None, 2)")):
        GaussianResolver(mean, InputLayer((None, 3), name="ls"), name="pi")
    with pytest.raises(TypeError, match="GaussianResolver 'pi': log_std must be a layer"):
        GaussianResolver(mean, -1.0, name="pi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be floating point, got torch.int64"):
        GaussianResolver(InputLayer((None, 2), dtype=torch.int64, name="m"), name="pi")
    with pytest.raises(TypeError, match="the mean must be a layer"):
        GaussianResolver(torch.zeros(3, 2), name="pi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_log_std must be below max_log_std"):
        GaussianResolver(mean, min_log_std=1.0, max_log_std=1.0)
    with pytest.raises(ValueError, match=re.escape("log_std_init=5.0 is outside")):
        GaussianResolver(mean, log_std_init=5.0)
    with pytest.raises(ValueError, match=re.escape(
            "TanhGaussianResolver 'sq': low must be below high in every dimension, got "
            "low=1.0 >= high=1.0 at dimension 1")):
        TanhGaussianResolver(mean, low=[0.0, 1.0], high=1.0, name="sq")
    with pytest.raises(ValueError, match=re.escape(
            "TanhGaussianResolver 'sq': high has shape (3,); expected a scalar or (2,) for "
            "the mean InputLayer 'mean' (None, 2)")):
        TanhGaussianResolver(mean, high=np.ones(3), name="sq")
    with pytest.raises(ValueError, match=re.escape("low has shape (1, 2)")):
        TanhGaussianResolver(mean, low=-np.ones((1, 2)), name="sq")
    with pytest.raises(ValueError, match="high must be finite"):
        TanhGaussianResolver(mean, high=float("inf"), name="sq")
