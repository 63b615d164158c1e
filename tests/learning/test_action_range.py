"""Objectives that look up the action taken refuse action ids out of ``0 .. n_actions - 1``
with an error naming ``actions`` (``gather`` would raise a bare RuntimeError, or read out of
bounds on a GPU)."""
import pytest
import torch

from agentnet.learning import (
    a2c,
    generic,
    qlearning,
    qlearning_opt_tightening,
    reinforce,
    retrace,
    sarsa,
    vtrace,
)
from agentnet.learning.checks import check_actions

B, T, A = 2, 5, 3


def inputs(actions):
    torch.manual_seed(0)
    qvalues = torch.randn(B, T, A)
    policy = torch.softmax(torch.randn(B, T, A), dim=-1)
    return dict(qvalues=qvalues, policy=policy, values=torch.randn(B, T),
                actions=torch.as_tensor(actions), rewards=torch.randn(B, T),
                log_probs=torch.full((B, T), -1.0))


OBJECTIVES = {
    "get_values_for_actions": lambda x: generic.get_values_for_actions(x["qvalues"],
                                                                       x["actions"]),
    "qlearning": lambda x: qlearning.get_elementwise_objective(x["qvalues"], x["actions"],
                                                               x["rewards"]),
    "qlearning n-step with target": lambda x: qlearning.get_elementwise_objective(
        x["qvalues"], x["actions"], x["rewards"], qvalues_target=x["qvalues"], n_steps=3),
    "sarsa": lambda x: sarsa.get_elementwise_objective(x["qvalues"], x["actions"],
                                                       x["rewards"]),
    "a2c": lambda x: a2c.get_elementwise_objective(x["policy"], x["values"], x["actions"],
                                                   x["rewards"]),
    "reinforce": lambda x: reinforce.get_elementwise_objective(x["policy"], x["actions"],
                                                               x["rewards"]),
    "retrace": lambda x: retrace.get_elementwise_objective(
        x["qvalues"], x["actions"], x["rewards"], x["policy"], x["log_probs"]),
    "vtrace": lambda x: vtrace.get_elementwise_objective(
        x["policy"], x["values"], x["actions"], x["rewards"], x["log_probs"]),
    "opt tightening": lambda x: qlearning_opt_tightening.get_elementwise_objective(
        x["qvalues"], x["actions"], x["rewards"]),
}
GOOD = [[0, 1, 2, 0, 1], [2, 2, 1, 0, 0]]


@pytest.mark.parametrize("name", OBJECTIVES)
@pytest.mark.parametrize("bad, values", [(3, r"\[3\]"), (-1, r"\[-1\]")])
def test_out_of_range_actions_are_refused_by_name(name, bad, values):
    objective = OBJECTIVES[name]
    loss = objective(inputs(GOOD))                        # in range: 0 and A - 1 included
    assert loss.shape == (B, T) and torch.isfinite(loss).all()
    actions = [row[:] for row in GOOD]
    actions[1][3] = bad
    with pytest.raises(ValueError, match=r"^actions must be action ids in 0\.\.2 "
                                         r"\(n_actions = 3\), got values " + values + "$"):
        objective(inputs(actions))


def test_float_actions_are_refused_by_name():
    with pytest.raises(ValueError, match="actions must be an integer tensor, got "
                                         "torch.float32"):
        qlearning.get_elementwise_objective(torch.zeros(B, T, A), torch.zeros(B, T),
                                            torch.zeros(B, T))


def test_check_actions_names_the_values_and_passes_good_ones_through():
    good = torch.tensor([[0, 2], [1, 1]])
    assert check_actions(good, 3) is good
    assert check_actions(torch.zeros(0, 4, dtype=torch.int64), 3).shape == (0, 4)
    with pytest.raises(ValueError, match=r"^next_actions must be action ids in 0\.\.1 "
                                         r"\(n_actions = 2\), got values \[-7, 2, 5\]$"):
        check_actions(torch.tensor([[0, 5, -7], [2, 1, 5]]), 2, name="next_actions")
    many = torch.arange(20).view(2, 10)
    with pytest.raises(ValueError, match=r"got values \[2, 3, 4, 5, 6, 7, 8, 9\] "
                                         r"\(and 10 more\)$"):
        check_actions(many, 2)


def test_without_a_host_sync_the_check_is_an_asynchronous_assert(monkeypatch):
    """Under torch.compile (and on devices other than the CPU) the check cannot read its
    answer on the host: it is ``torch._assert_async``, whose error names the range."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    calls = []
    assert_async = torch._assert_async
    monkeypatch.setattr(torch, "_assert_async",
                        lambda *args: calls.append(args) or assert_async(*args))
    qvalues = torch.randn(B, T, A)
    good = torch.tensor(GOOD)
    assert torch.equal(generic.get_values_for_actions(qvalues, good),
                       qvalues.gather(-1, good[..., None])[..., 0])
    assert len(calls) == 1
    with pytest.raises(RuntimeError, match=r"actions must be action ids in 0\.\.2 "
                                           r"\(n_actions = 3\)"):
        generic.get_values_for_actions(qvalues, torch.full((B, T), 3))
