"""Agents that learn: the examples reach CartPole's bar on batched native sessions, no replay.

Each run has a fixed seed and a budget that takes seconds here; the bar is a greedy mean
return of at least 195 over 100 fresh episodes.
"""
import pytest

from agentnet.examples import cartpole_a2c, cartpole_nstep_q

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a2c_learns_cartpole():
    result = cartpole_a2c.main(verbose=False)
    assert result["eval_mean_return"] >= 195, result["log"]


def test_nstep_qlearning_learns_cartpole():
    result = cartpole_nstep_q.main(verbose=False)
    assert result["eval_mean_return"] >= 195, result["log"]
