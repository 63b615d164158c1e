"""A layer graph with a cycle (layers reading from each other through ``input_layers``) is
refused, naming the cycle, wherever it is walked; before, walking it never ended and its
memory grew without bound. Memory edges (new state -> previous-state InputLayer) are not
cycles. Every test runs under a timer, so that a regression fails instead of hanging."""
from __future__ import annotations

import re
import signal
import threading

import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.agent import Recurrence
from agentnet.layers import GraphPlan, get_all_layers, get_output
from agentnet.memory import GRUCell
from agentnet.resolver import GreedyResolver

TIME_LIMIT = 10.0  # seconds; each test takes milliseconds unless a walk never ends


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    """Make a first layer before any timer starts: the first one costs seconds (torch loads
    what output inference needs), the next ones milliseconds."""
    L.DenseLayer(L.InputLayer((None, 3)), 3)


@pytest.fixture(autouse=True)
def fail_instead_of_hanging(warm_up):
    if (not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        pytest.skip("the hang guard needs SIGALRM in the main thread")

    def hung(signum, frame):
        raise TimeoutError(f"still walking the graph after {TIME_LIMIT} s: a cycle went "
                           f"undetected")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cycle(*names: str) -> str:
    """The error's pattern for the cycle through ``names`` (DenseLayers) in data-flow order: it
    ends with the layer where the walk (from the outputs) entered the cycle."""
    chain = " -> ".join(f"DenseLayer '{name}'" for name in (*names, names[0]))
    return "^" + re.escape(f"cycle in the layer graph: {chain} (each layer feeds the next)") + "$"


def chain_of_three():
    """x -> h1 -> h2 -> h3, then h1 rewired to read h3: h1 -> h2 -> h3 -> h1."""
    x = L.InputLayer((None, 3), name="x")
    h1 = L.DenseLayer(x, 3, name="h1")
    h2 = L.DenseLayer(h1, 3, name="h2")
    h3 = L.DenseLayer(h2, 3, name="h3")
    h1.input_layers = (h3,)
    return x, h1, h2, h3


def test_incoming_rewired_to_a_layer_above_is_named_as_a_cycle():
    x, h1, h2, h3 = chain_of_three()
    with pytest.raises(ValueError, match=cycle("h1", "h2", "h3")):
        get_all_layers(h3)
    with pytest.raises(ValueError, match=cycle("h3", "h1", "h2")):
        get_all_layers([x, h2])  # any layer of the cycle leads into it: here h2


def test_two_layers_pointing_at_each_other():
    x = L.InputLayer((None, 3), name="x")
    a = L.DenseLayer(x, 3, name="a")
    b = L.DenseLayer(x, 3, name="b")
    a.input_layers, b.input_layers = (b,), (a,)
    with pytest.raises(ValueError, match=cycle("b", "a")):  # a reads b: b feeds a
        get_all_layers(a)
    with pytest.raises(ValueError, match=cycle("a", "b")):
        get_all_layers(b)


def test_a_layer_reading_itself():
    x = L.InputLayer((None, 3), name="x")
    h = L.DenseLayer(x, 3, name="h")
    out = L.DenseLayer(h, 2, name="out")
    h.input_layers = (x, h)
    with pytest.raises(ValueError, match=cycle("h")):
        get_all_layers(out)


def test_a_cycle_behind_a_merge_is_found_on_the_second_input():
    x = L.InputLayer((None, 3), name="x")
    left = L.DenseLayer(x, 3, name="left")
    right = L.DenseLayer(x, 3, name="right")
    merged = L.ElemwiseSumLayer([left, right], name="merged")
    right.input_layers = (merged,)
    with pytest.raises(ValueError, match=r"'right' -> ElemwiseSumLayer 'merged' -> "
                                         r"DenseLayer 'right' \("):
        get_all_layers(merged)


def test_plan_get_output_and_agent_refuse_a_cycle():
    x, h1, h2, h3 = chain_of_three()
    with pytest.raises(ValueError, match=cycle("h1", "h2", "h3")):
        GraphPlan([h3], [x])
    with pytest.raises(ValueError, match=cycle("h1", "h2", "h3")):
        get_output(h3, {x: torch.zeros(2, 3)})
    q = L.DenseLayer(h3, 2, nonlinearity=None, name="q")
    with pytest.raises(ValueError, match=r"cycle in the layer graph: DenseLayer 'h1' -> "):
        Agent(x, None, q, GreedyResolver(q))


def test_agent_with_a_cycle_through_its_memory_update_is_refused():
    obs = L.InputLayer((None, 3), name="observation")
    prev = L.InputLayer((None, 3), name="prev")
    new = L.DenseLayer(L.ConcatLayer([prev, obs], name="both"), 3, name="new")
    q = L.DenseLayer(new, 2, name="q")
    new.input_layers = (q,)  # q (2 units) feeds new, which feeds q
    with pytest.raises(ValueError, match=cycle("new", "q")):
        Agent(obs, {new: prev}, q, GreedyResolver(q))


def test_recurrence_refuses_a_cycle_in_its_step_graph():
    x_t = L.InputLayer((None, 3), name="x_t")
    h_prev = L.InputLayer((None, 3), name="h_prev")
    h = L.DenseLayer(L.ConcatLayer([h_prev, x_t]), 3, name="h")
    extra = L.DenseLayer(h, 3, name="extra")
    h.input_layers = (extra,)
    sequence = L.InputLayer((None, 5, 3), name="xs")
    with pytest.raises(ValueError, match=cycle("extra", "h")):
        Recurrence(input_sequences={x_t: sequence}, state_variables={h: h_prev})


def test_a_cycle_cut_by_a_given_layer_is_not_walked():
    x, h1, h2, h3 = chain_of_three()
    assert [layer.name for layer in get_all_layers(h3, treat_as_input=[h2])] == ["h2", "h3"]
    value = get_output(h3, {h2: torch.zeros(4, 3)})
    assert value.shape == (4, 3)


def test_memory_edges_and_shared_inputs_are_not_cycles():
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 8), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(L.ElemwiseSumLayer([gru, gru], name="twice"), 2, name="q")
    agent = Agent(obs, {gru: prev}, q, GreedyResolver(q, name="greedy"))
    assert [layer.name for layer in get_all_layers(agent.action_layers)] == [
        "prev_gru", "observation", "gru", "twice", "q", "greedy"]
    reaction = agent.get_react_function()(torch.zeros(2, 4))
    assert reaction.actions.shape == (2,) and reaction.new_states[0].shape == (2, 8)
