"""The original AgentNet's calling conventions in agentnet.learning: reference-only
``return_reference``, its argument names and order, its string defaults, the NAF size
helpers and ``agentnet.objective.BaseObjective``."""
from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from agentnet.learning import (
    a2c,
    dpg,
    qlearning,
    qlearning_naf,
    qlearning_opt_tightening,
    reinforce,
    sarsa,
)
from agentnet.objective import BaseObjective

Q = torch.tensor([[[1., 2.], [3., 0.], [0., 5.]]])
ACT = torch.tensor([[1, 0, 1]])
R = torch.ones(1, 3)


@pytest.mark.parametrize("objective", [qlearning.get_elementwise_objective,
                                       sarsa.get_elementwise_objective])
def test_return_reference_returns_the_reference_alone(objective):
    reference = objective(Q, ACT, R, gamma_or_gammas=0.5, return_reference=True)
    assert isinstance(reference, torch.Tensor) and reference.shape == (1, 3)
    # the cropped last tick holds Q(s, a) itself, as the original set it
    assert reference[0, -1] == 5.0
    loss = objective(Q, ACT, R, gamma_or_gammas=0.5)
    assert_close(loss, torch.where(torch.tensor([[True, True, False]]),
                                   (reference - torch.tensor([[2., 3., 5.]])) ** 2, 0.0))


def test_qlearning_reference_by_hand():
    ref = qlearning.get_elementwise_objective(Q, ACT, R, gamma_or_gammas=0.5,
                                              return_reference=True)
    assert_close(ref, torch.tensor([[1 + 0.5 * 3, 1 + 0.5 * 5, 5.0]]))


def test_dpg_critic_return_reference():
    ref = dpg.get_elementwise_objective_critic(torch.zeros(1, 3), torch.ones(1, 3), R,
                                               gamma_or_gammas=0.5, return_reference=True)
    assert_close(ref, torch.tensor([[1.5, 1.5, 0.0]]))


@pytest.mark.parametrize("objective", [qlearning.get_elementwise_objective,
                                       sarsa.get_elementwise_objective])
def test_original_names_mean_the_same(objective):
    after = torch.tensor([7.0])
    ours = objective(Q, ACT, R, crop_last=False, state_values_after_end=after, end_at_tmax=True)
    theirs = objective(Q, ACT, R, crop_last=False, state_values_target_after_end=after,
                       force_end_at_last_tick=True)
    assert_close(ours, theirs)
    bootstrapped = objective(Q, ACT, R, crop_last=False, state_values_target_after_end=after)
    assert bootstrapped[0, -1] != ours[0, -1]
    with pytest.raises(TypeError, match="got both end_at_tmax and force_end_at_last_tick"):
        objective(Q, ACT, R, end_at_tmax=True, force_end_at_last_tick=True)


def test_string_defaults_and_batch_by_1_value_after_end():
    plain = qlearning.get_elementwise_objective(Q, ACT, R, crop_last=False,
                                                state_values_after_end=torch.tensor([2.0]))
    theano_style = qlearning.get_elementwise_objective(
        Q, ACT, R, "always", crop_last=False, state_values_target_after_end=torch.tensor([[2.0]]))
    assert_close(plain, theano_style)
    zeros = qlearning.get_elementwise_objective(Q, ACT, R, crop_last=False,
                                                state_values_target_after_end="zeros")
    assert_close(zeros, qlearning.get_elementwise_objective(Q, ACT, R, crop_last=False))
    assert_close(qlearning.get_elementwise_objective(Q, ACT, R, aggregation_function="deprecated"),
                 qlearning.get_elementwise_objective(Q, ACT, R))
    with pytest.raises(ValueError, match="is_alive must be a tensor, None or 'always'"):
        qlearning.get_elementwise_objective(Q, ACT, R, "sometimes")


def test_positional_order_is_the_originals():
    # sarsa's 6th positional argument is n_steps, as in the original (no state_values_target)
    assert_close(sarsa.get_elementwise_objective(Q, ACT, R, None, None, None, 0.5),
                 sarsa.get_elementwise_objective(Q, ACT, R, n_steps=None, gamma_or_gammas=0.5))
    # qlearning's 13th is force_end_at_last_tick, 14th return_reference
    ref = qlearning.get_elementwise_objective(Q, ACT, R, None, None, None, 1, 0.5, True, None,
                                              True, "deprecated", False, True)
    assert ref.shape == (1, 3)
    # opt tightening: n_steps 4th, then is_alive
    out = qlearning_opt_tightening.get_elementwise_objective(Q, ACT, R, 1, None, 0.5, 0.0)
    assert_close(out, qlearning.get_elementwise_objective(Q, ACT, R, gamma_or_gammas=0.5))


def test_opt_tightening_original_defaults_and_name():
    default = qlearning_opt_tightening.get_elementwise_objective(Q, ACT, R, 2)
    explicit = qlearning_opt_tightening.get_elementwise_objective(
        Q, ACT, R, 2, gamma=0.95, lambda_constr=1e3)
    assert_close(default, explicit)
    assert_close(qlearning_opt_tightening.get_elementwise_objective(Qvalues=Q, actions=ACT,
                                                                    rewards=R, n_steps=2),
                 default)


def test_reinforce_original_defaults():
    pi = torch.full((1, 3, 2), 0.5)
    assert_close(reinforce.get_elementwise_objective(pi, ACT, R, baseline="zeros"),
                 reinforce.get_elementwise_objective(pi, ACT, R, crop_last=True))


def test_policy_of_the_actions_taken():
    pi = torch.tensor([[[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]])
    taken = torch.tensor([[0.8, 0.6, 0.5]])
    v = torch.tensor([[0.5, 1.0, 0.0]])
    assert_close(a2c.get_elementwise_objective(taken, v, ACT, R),
                 a2c.get_elementwise_objective(pi, v, ACT, R))
    assert_close(a2c.get_elementwise_objective(pi, v[..., None], ACT, R),
                 a2c.get_elementwise_objective(pi, v, ACT, R))
    assert_close(reinforce.get_elementwise_objective(taken, ACT, R),
                 reinforce.get_elementwise_objective(pi, ACT, R))
    with pytest.raises(ValueError, match="entropy_regularization needs the policy"):
        a2c.get_elementwise_objective(taken, v, ACT, R, entropy_regularization=0.1)


def test_dpg_critic_accepts_the_scan_arguments():
    v = torch.ones(1, 3)
    assert_close(dpg.get_elementwise_objective_critic(v, v, R, scan_dependencies=[v],
                                                      scan_strict=False),
                 dpg.get_elementwise_objective_critic(v, v, R))


def test_naf_sizes():
    assert [qlearning_naf.diag_to_tril_size(d) for d in range(5)] == [0, 1, 3, 6, 10]
    assert [qlearning_naf.tril_size_to_diag(qlearning_naf.diag_to_tril_size(d))
            for d in range(50)] == list(range(50))
    assert qlearning_naf.get_elementwise_objective is dpg.get_elementwise_objective_critic


def test_base_objective():
    class Rewarded(BaseObjective):
        def reset(self, batch_size):
            self.batch_size = batch_size

        def get_reward(self, last_environment_states, agent_actions, batch_id):
            states, = last_environment_states
            actions, = agent_actions
            return states[:, 0] * actions + batch_id

    objective = Rewarded()
    objective.reset(2)
    states = torch.arange(12.).reshape(2, 3, 2)
    actions = torch.tensor([[1, 0, 1], [0, 1, 1]])
    assert_close(objective.get_reward_sequences(states, actions),
                 torch.tensor([[0., 0., 4.], [1., 9., 11.]]))
    with pytest.raises(NotImplementedError, match="must implement get_reward"):
        BaseObjective().get_reward_sequences([states], [actions])
