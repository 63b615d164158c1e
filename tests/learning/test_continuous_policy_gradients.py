"""A2C and PPO with continuous actions: the objectives take a Gaussian resolver's log-density
of the recorded actions ``[B, T]`` unchanged, and agree with a slow reference written with
``torch.distributions``."""
from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Normal

from agentnet.layers import InputLayer, get_output
from agentnet.learning import a2c, ppo
from agentnet.resolver import GaussianResolver

SETTINGS = settings(max_examples=25, deadline=None)


def _log_probs(seed: int, batch: int, length: int, dim: int):
    """Means (trainable), recorded actions, the resolver's log-densities ``[B, T]``, the
    random generator and the resolver's standard deviation ``[D]``."""
    generator = torch.Generator().manual_seed(seed)
    mean_layer = InputLayer((None, dim))
    resolver = GaussianResolver(mean_layer, log_std_init=-0.3)
    means = torch.randn(batch, length, dim, generator=generator, dtype=torch.float64)
    means.requires_grad_(True)
    actions = torch.randn(batch, length, dim, generator=generator, dtype=torch.float64)
    log_probs = get_output(resolver.log_prob, {mean_layer: means.flatten(0, 1),
                                               resolver: actions.flatten(0, 1)})
    std = resolver.log_std_layer.log_std.detach().double().exp()  # the float32 parameter's
    return means, actions, log_probs.view(batch, length), generator, std


@SETTINGS
@given(seed=st.integers(0, 2**16), batch=st.integers(1, 3), length=st.integers(2, 6),
       dim=st.integers(1, 3), gamma=st.floats(0.5, 1.0))
def test_a2c_with_gaussian_log_probs_matches_a_slow_reference(seed, batch, length, dim, gamma):
    means, actions, log_probs, generator, std = _log_probs(seed, batch, length, dim)
    values = torch.randn(batch, length, generator=generator, dtype=torch.float64)
    rewards = torch.randn(batch, length, generator=generator, dtype=torch.float64)
    actor, critic = a2c.get_elementwise_objective(
        log_probs, values, actions, rewards, gamma_or_gammas=gamma,
        treat_policy_as_logpolicy=True, return_separate=True)
    # by hand, tick by tick: one-step advantage, the last tick cropped
    for b in range(batch):
        for t in range(length):
            if t == length - 1:
                assert actor[b, t] == 0 and critic[b, t] == 0
                continue
            reference = rewards[b, t] + gamma * values[b, t + 1]
            log_density = Normal(means[b, t], std).log_prob(actions[b, t]).sum()
            torch.testing.assert_close(actor[b, t], -log_density * (reference - values[b, t]))
            torch.testing.assert_close(critic[b, t], (reference - values[b, t]) ** 2)
    actor.sum().backward()
    assert means.grad is not None and means.grad[:, :-1].abs().sum() > 0
    assert torch.equal(means.grad[:, -1], torch.zeros_like(means.grad[:, -1]))


@SETTINGS
@given(seed=st.integers(0, 2**16), batch=st.integers(1, 3), length=st.integers(1, 6),
       dim=st.integers(1, 3), shift=st.floats(-0.5, 0.5), epsilon=st.floats(0.05, 0.4))
def test_ppo_with_gaussian_log_probs_matches_a_slow_reference(seed, batch, length, dim, shift,
                                                               epsilon):
    means, actions, log_probs, generator, std = _log_probs(seed, batch, length, dim)
    old_log_probs = (log_probs + shift * torch.randn(batch, length, generator=generator,
                                                     dtype=torch.float64)).detach()
    advantages = torch.randn(batch, length, generator=generator, dtype=torch.float64)
    loss = ppo.get_elementwise_objective(log_probs, old_log_probs, advantages,
                                         clip_epsilon=epsilon)
    for b in range(batch):
        for t in range(length):
            log_density = Normal(means[b, t], std).log_prob(actions[b, t]).sum()
            ratio = torch.exp(log_density - old_log_probs[b, t]).detach()
            clipped = min(float(ratio), 1 + epsilon) if advantages[b, t] > 0 else max(
                float(ratio), 1 - epsilon)
            expected = -min(float(ratio * advantages[b, t]), clipped * float(advantages[b, t]))
            assert abs(float(loss[b, t].detach()) - expected) < 1e-9
