"""The original AgentNet's tests/test_clone_and_targets.py, translated call for call.

Parameters have no names in torch: the original's checks on parameter names become checks on
which parameters are copies (not the original's). An ``InputLayer`` given a Theano variable
becomes an ``InputLayer`` fed a tensor in ``get_output``.
"""
import torch

from agentnet.layers import (
    ConcatLayer,
    DenseLayer,
    InputLayer,
    get_all_layers,
    get_all_params,
    get_output,
)
from agentnet.target_network import TargetNetwork
from agentnet.utils.clone import clone_network, reapply


def _copied(params, originals):
    return [p for p in params if not any(p is o for o in originals)]


def test_targetnet():
    """Translates test_clone_and_targets.py::test_targetnet (TargetNetwork(name=...))."""
    l_in = InputLayer([None, 10])
    l_d0 = DenseLayer(l_in, 20, name='d0')
    l_d1 = DenseLayer(l_d0, 30, name='d1')
    l_d2 = DenseLayer(l_d1, 40, name='d2')
    other_l_d2 = DenseLayer(l_d1, 41, name='d2_other')
    originals = get_all_params([l_d2, other_l_d2])
    full_clone = TargetNetwork([l_d2, other_l_d2], name='target_nn')
    layer_names = [layer.name for layer in get_all_layers(full_clone.output_layers)]
    params = get_all_params(full_clone.output_layers)
    assert len(params) == 8
    assert len(_copied(params, originals)) == 8
    assert len(layer_names) == 5
    assert len([n for n in layer_names if (n or '').startswith('target_nn')]) == 4
    full_clone = TargetNetwork([l_d2, other_l_d2], l_d1, name='target_nn')
    layer_names = [layer.name for layer in get_all_layers(full_clone.output_layers)]
    params = get_all_params(full_clone.output_layers)
    assert len(params) == 8
    assert len(_copied(params, originals)) == 4
    assert len(layer_names) == 5
    assert len([n for n in layer_names if (n or '').startswith('target_nn')]) == 2
    full_clone.load_weights()
    full_clone.load_weights(0.33)


def test_clone():
    """Translates test_clone_and_targets.py::test_clone (clone_network)."""
    l_in = InputLayer([None, 10])
    l_d0 = DenseLayer(l_in, 20, name='d0')
    l_d1 = DenseLayer(l_d0, 30, name='d1')
    l_d2 = DenseLayer(l_d1, 40, name='d2')
    l_d3 = DenseLayer(l_d2, 41, name='d3')
    original_params = get_all_params(l_d3)
    full_clone = clone_network(l_d3, name_prefix='cloned_net.')
    assert full_clone.name == 'cloned_net.' + l_d3.name
    full_clone_params = get_all_params(full_clone)
    for par, clone_par in zip(original_params, full_clone_params):
        assert par is not clone_par
    shared_clone = clone_network(l_d3, share_params=True)
    shared_clone_params = get_all_params(shared_clone)
    for par, clone_par in zip(original_params, shared_clone_params):
        assert par is clone_par
    partial_clone = clone_network(l_d3, bottom_layers=l_d1)
    assert partial_clone.input_layer.input_layer is l_d1
    assert partial_clone.input_layer.input_layer.input_layer is l_d0
    l_in_alt = InputLayer([None, 10])
    l_d1_alt = DenseLayer(l_in_alt, 30)
    substitute_clone = clone_network(l_d3, bottom_layers={l_d1: l_d1_alt})
    assert substitute_clone.input_layer.input_layer is l_d1_alt
    assert substitute_clone.input_layer.input_layer.input_layer is l_in_alt
    dummy = torch.zeros(3, 10)
    for nn in [full_clone, shared_clone, partial_clone]:
        get_output(nn, {l_in: dummy})
    get_output(substitute_clone, {l_in_alt: dummy})


def test_reapply():
    """Translates test_clone_and_targets.py::test_reapply."""
    l_in1 = InputLayer([None, 10])
    l_d1 = DenseLayer(l_in1, 20)
    l_d2 = DenseLayer(l_in1, 30)
    l_cat = ConcatLayer([l_d1, l_d2])
    l_d3 = DenseLayer(l_cat, 20)
    l_in2 = InputLayer([None, 10])
    new_l_d3 = reapply(l_d3, {l_in1: l_in2})
    get_output(new_l_d3, {l_in2: torch.zeros(5, 10)})
    l_in3 = InputLayer([None, 30])
    new_l_d3 = reapply(l_d3, {l_d2: l_in3})
    new_l_cat = reapply(l_cat, {l_d2: ConcatLayer([l_d1, l_d2]), l_in1: l_in2})
    get_output(new_l_cat, {l_in2: torch.zeros(5, 10), l_in1: torch.zeros(5, 10)})
    l1, l2 = reapply([l_d3, l_d2], {l_in1: l_in2})
    outs = reapply({'d3': l_d3, 'd2': l_d2}, {l_in1: l_in2})
    assert isinstance(outs, dict)
    outs['d3'], outs['d2']
