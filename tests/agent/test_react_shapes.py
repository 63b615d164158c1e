"""The deployment path checks what it is given: ``react`` (and ``get_agent_reaction``) refuse
observations and memories whose shape is not their InputLayer's, or whose batch sizes
differ, naming the InputLayer, the shape it expects and the shape it got."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.memory import GRUCell
from agentnet.resolver import GreedyResolver

BOTH = pytest.mark.parametrize("as_array", [np.zeros, torch.zeros], ids=["numpy", "torch"])


def plain_agent():
    obs = L.InputLayer((None, 4), name="observation")
    q = L.DenseLayer(obs, 2, nonlinearity=None, name="q")
    return Agent(obs, None, q, GreedyResolver(q, name="greedy"))


def memory_agent():
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 8), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    return Agent(obs, {gru: prev}, q, GreedyResolver(q, name="greedy")), gru


def two_observation_agent():
    image = L.InputLayer((None, 4), name="image")
    speed = L.InputLayer((None, 1), name="speed")
    q = L.DenseLayer(L.ConcatLayer([image, speed]), 2, nonlinearity=None, name="q")
    return Agent([image, speed], None, q, GreedyResolver(q, name="greedy"))


def names(layer: str, expected: str, got: str) -> str:
    """A pattern for an error naming the InputLayer, the expected and the received shape."""
    return (rf"has shape {re.escape(got)}; InputLayer '{layer}' expects {re.escape(expected)}"
            rf" \(None: any size; the first axis is the batch\)")


@BOTH
@pytest.mark.parametrize("shape, printed", [
    ((4,), "(4,)"), ((3, 2, 2), "(3, 2, 2)"), ((3, 1, 4), "(3, 1, 4)"), ((3, 5), "(3, 5)"),
    ((), "()"), ((2, 3, 4), "(2, 3, 4)")])
def test_react_refuses_an_observation_of_the_wrong_shape(as_array, shape, printed):
    react = plain_agent().get_react_function()
    with pytest.raises(ValueError, match=names("observation", "(None, 4)", printed)):
        react(as_array(shape))


@BOTH
def test_an_unbatched_observation_is_refused_with_a_hint_not_read_as_a_batch_of_four(as_array):
    # before: (4,) was read as 4 observations of size 1 and gave 4 (or 2) actions
    react = plain_agent().get_react_function()
    with pytest.raises(ValueError, match=r"^Agent react: the observation has shape \(4,\); .*"
                                         r"add a batch axis, e\.g\. value\[None\]$"):
        react(as_array(4))
    assert react(as_array((1, 4))).actions.shape == (1,)  # the same observation, batched


@BOTH
@pytest.mark.parametrize("batch", [1, 3])
def test_react_takes_observations_of_the_right_shape(as_array, batch):
    agent = plain_agent()
    reaction = agent.get_react_function()(as_array((batch, 4)))
    expected_type = np.ndarray if as_array is np.zeros else torch.Tensor
    assert isinstance(reaction.actions, expected_type)
    assert tuple(reaction.actions.shape) == (batch,)
    assert tuple(reaction.policy.shape) == (batch, 2)


@BOTH
@pytest.mark.parametrize("shape, printed", [
    ((5, 7), "(5, 7)"), ((8,), "(8,)"), ((5, 1, 8), "(5, 1, 8)"), ((5, 8, 1), "(5, 8, 1)")])
def test_react_refuses_a_memory_of_the_wrong_shape(as_array, shape, printed):
    agent, gru = memory_agent()
    react = agent.get_react_function()
    observations = as_array((5, 4))
    pattern = r"the previous state of GRUCell 'gru' " + names("prev_gru", "(None, 8)", printed)
    with pytest.raises(ValueError, match=pattern):
        react(observations, [as_array(shape)])
    with pytest.raises(ValueError, match=pattern):  # the same given as a dict
        react(observations, {gru: as_array(shape)})


@BOTH
def test_react_refuses_a_memory_whose_batch_is_not_the_observations(as_array):
    agent, _ = memory_agent()
    react = agent.get_react_function()
    with pytest.raises(ValueError, match=r"batch sizes differ: the observation "
                                         r"\(InputLayer 'observation'\) has 5 rows, the "
                                         r"previous state of GRUCell 'gru' "
                                         r"\(InputLayer 'prev_gru'\) has 3"):
        react(as_array((5, 4)), [as_array((3, 8))])
    reaction = react(as_array((5, 4)), [as_array((5, 8))])  # matching batches are fine
    assert tuple(reaction.new_states[0].shape) == (5, 8)


@BOTH
def test_react_refuses_observations_with_different_batches(as_array):
    react = two_observation_agent().get_react_function()
    with pytest.raises(ValueError, match=r"batch sizes differ: the observation #0 "
                                         r"\(InputLayer 'image'\) has 2 rows, the "
                                         r"observation #1 \(InputLayer 'speed'\) has 3"):
        react([as_array((2, 4)), as_array((3, 1))])
    with pytest.raises(ValueError, match=r"the observation #1 " + names("speed", "(None, 1)",
                                                                          "(2,)")):
        react([as_array((2, 4)), as_array(2)])
    assert tuple(react([as_array((2, 4)), as_array((2, 1))]).actions.shape) == (2,)


def test_get_agent_reaction_checks_the_same_way():
    agent, gru = memory_agent()
    with pytest.raises(ValueError, match=r"^Agent\.get_agent_reaction: the observation "
                       + names("observation", "(None, 4)", "(4,)")):
        agent.get_agent_reaction(None, torch.zeros(4))
    with pytest.raises(ValueError, match=r"batch sizes differ"):
        agent.get_agent_reaction([torch.zeros(3, 8)], torch.zeros(5, 4))
    reaction = agent.get_agent_reaction({gru: torch.zeros(5, 8)}, torch.zeros(5, 4))
    assert reaction.new_states[0].shape == (5, 8)
