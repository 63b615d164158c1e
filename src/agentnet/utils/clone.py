"""Copying a part of a graph of layers: target networks, and one network applied to two inputs.

:func:`clone_network` copies the layers between some bottom layers and some outputs, with new
parameters (a snapshot to drift from the original, as a target network does) or the very same
ones (the same function on another input, as DPG's critic of the optimal action needs).
:func:`reapply` is the second case spelled as graph surgery: ``reapply(q, {obs: other_obs})``.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from ..layers.base import InputLayer, Layer
from ..layers.graph import as_layer_list, get_all_layers

__all__ = ["clone_network", "reapply"]

Network = TypeVar("Network", Layer, list[Layer], tuple[Layer, ...], dict[Any, Layer])


def clone_network(original_outputs: Network,
                  bottom_layers: Layer | Iterable[Layer] | Mapping[Layer, Layer] | None = None,
                  share_params: bool = False, share_inputs: bool = True,
                  name_prefix: str | None = None) -> Network:
    """Copy the layers between ``bottom_layers`` and ``original_outputs``.

    Args:
        original_outputs: a layer, a list or tuple of layers, or a dict whose values are
            layers: the outputs of the part to copy.
        bottom_layers: layers that are not copied: the copy reads from them as the original
            does (a layer or a list of layers); or a dict ``{original_layer: replacement}``:
            wherever the original reads ``original_layer``, the copy reads ``replacement``
            (whose output shapes may differ where the layers above allow it: shapes are
            inferred again, and a misfit raises naming the layer).
        share_params: False: the copy gets new parameters and buffers, equal to the
            original's at the time of the call and independent afterwards (a target
            network). True: the copy uses the very same ``nn.Parameter`` objects and buffers
            (BatchNorm statistics, a resolver's epsilon), so training either trains both.
        share_inputs: True: every ``InputLayer`` of the original is kept, so the copy is fed
            through the same input layers. False: input layers are copied too (the copy then
            needs its own input values), except those in ``bottom_layers``.
        name_prefix: prepended to the name of every copied layer (nameless layers stay
            nameless).

    Returns:
        the copies, in the structure given: a layer for a layer, a list for a list, a tuple
        for a tuple, a dict with the same keys for a dict. Kept layers (bottom layers, shared
        inputs) are returned as they are.

    A :class:`~agentnet.Recurrence` is copied with its whole inner graph, which is private
    to it: with ``share_params=False`` the copy owns new inner parameters.

    >>> import torch
    >>> from agentnet import layers as L
    >>> obs = L.InputLayer((None, 4), name="observation")
    >>> hidden = L.DenseLayer(obs, 8, name="hidden")
    >>> q = L.DenseLayer(hidden, 2, nonlinearity=None, name="q")
    >>> q_copy = clone_network(q, name_prefix="copy.")
    >>> q_copy.name, q_copy.input_layers[0].name, q_copy.input_layers[0].input_layers[0] is obs
    ('copy.q', 'copy.hidden', True)
    >>> q_copy.weight is q.weight, torch.equal(q_copy.weight, q.weight)
    (False, True)
    >>> x = torch.randn(3, 4)
    >>> torch.equal(L.get_output(q_copy, {obs: x}), L.get_output(q, {obs: x}))
    True
    >>> q_on_hidden_only = clone_network(q, bottom_layers=hidden)  # copies q alone
    >>> q_on_hidden_only.input_layers[0] is hidden
    True
    """
    outputs = _output_list(original_outputs)
    mapping, _ = _clone_layers(outputs, bottom_layers, share_params, share_inputs, name_prefix)
    return _restructure(original_outputs, mapping)


def reapply(layer_or_layers: Network, replacements: Mapping[Layer, Layer]) -> Network:
    """The same layers, with the same parameters, reading from other layers.

    Args:
        layer_or_layers: a layer, a list or tuple of layers, or a dict of them.
        replacements: ``{layer_of_the_graph: new_layer}``; the returned layers compute what
            the given ones compute, with ``new_layer``'s output wherever
            ``layer_of_the_graph``'s was read. Output shapes are inferred again.

    Returns:
        new layers in the structure given. They share every parameter and buffer with the
        originals (training one trains the other); layers that do not depend on any
        replaced layer are not copied at all, so evaluating originals and copies together
        computes those once.

    >>> import torch
    >>> from agentnet import layers as L
    >>> obs = L.InputLayer((None, 4), name="observation")
    >>> q = L.DenseLayer(obs, 2, nonlinearity=None, name="q")
    >>> next_obs = L.InputLayer((None, 4), name="next_observation")
    >>> q_next = reapply(q, {obs: next_obs})
    >>> q_next.weight is q.weight
    True
    >>> x = torch.randn(3, 4)
    >>> torch.equal(L.get_output(q_next, {next_obs: x}), L.get_output(q, {obs: x}))
    True
    """
    if not isinstance(replacements, Mapping):
        raise TypeError(f"reapply: replacements must be a dict {{layer: new_layer}}, "
                        f"got {type(replacements).__name__}")
    outputs = _output_list(layer_or_layers)
    mapping, _ = _clone_layers(outputs, replacements, share_params=True, share_inputs=True,
                               name_prefix=None, keep_unaffected=True)
    return _restructure(layer_or_layers, mapping)


# --- the implementation both share (and TargetNetwork, which needs the pairs) ----------------
def _output_list(original_outputs: Any) -> list[Layer]:
    if isinstance(original_outputs, Mapping):
        return as_layer_list(list(original_outputs.values()), "original_outputs values")
    return as_layer_list(original_outputs, "original_outputs")


def _restructure(original_outputs: Any, mapping: Mapping[int, Any]) -> Any:
    if isinstance(original_outputs, Layer):
        return mapping[id(original_outputs)]
    if isinstance(original_outputs, Mapping):
        return {key: mapping[id(layer)] for key, layer in original_outputs.items()}
    if isinstance(original_outputs, tuple):
        return tuple(mapping[id(layer)] for layer in original_outputs)
    return [mapping[id(layer)] for layer in original_outputs]


def _clone_layers(outputs: list[Layer], bottom_layers: Any, share_params: bool,
                  share_inputs: bool, name_prefix: str | None, keep_unaffected: bool = False
                  ) -> tuple[dict[int, Any], list[tuple[Layer, Layer]]]:
    """Copy the graph below ``outputs`` layer by layer, inputs first.

    Returns ``(memo, copied)``: ``memo`` maps ``id(original)`` to its copy or replacement
    for every layer of the graph (kept layers to themselves); ``copied`` lists the
    ``(original, copy)`` pairs of the layers actually copied, inputs before readers.

    One ``copy.deepcopy`` memo serves every layer: when a layer is copied its incoming layers
    are already in it, so ``deepcopy`` rebinds ``input_layers`` to their copies instead of
    walking down the graph, and objects two layers share (a tied weight) stay shared. What a
    layer owns beyond its incoming layers (a Recurrence's inner graph and its plan, whose
    bound methods deepcopy rebinds to the copied inner layers) is copied with it.
    """
    memo: dict[int, Any] = {}
    replaced = False
    if bottom_layers is None:
        pass
    elif isinstance(bottom_layers, Mapping):
        for original, replacement in bottom_layers.items():
            _check_replacement(original, replacement)
            memo[id(original)] = replacement
            replaced = replaced or replacement is not original
    else:
        for layer in as_layer_list(bottom_layers, "bottom_layers"):
            memo[id(layer)] = layer
    # the layers to walk: bottom layers are included, but nothing below them
    layers = get_all_layers(outputs, treat_as_input=_bottom_originals(bottom_layers))
    if share_params:
        for layer in layers:
            if id(layer) in memo:
                continue
            for tensor in (*layer.parameters(), *layer.buffers()):
                memo[id(tensor)] = tensor
    copied: list[tuple[Layer, Layer]] = []
    for layer in layers:
        if id(layer) in memo:
            continue
        if share_inputs and isinstance(layer, InputLayer):
            memo[id(layer)] = layer
            continue
        if keep_unaffected and all(memo[id(parent)] is parent for parent in layer.input_layers):
            memo[id(layer)] = layer
            continue
        clone = copy.deepcopy(layer, memo)
        if not share_params:  # deepcopy copies .grad too: a fresh copy has none
            for param in clone.parameters():
                param.grad = None
        if name_prefix is not None and clone.name:
            clone.name = name_prefix + clone.name
        copied.append((layer, clone))
    if replaced:  # replacements may have other shapes: infer the copies' shapes again
        for _, clone in copied:
            clone._set_output_spec()
    return memo, copied


def _bottom_originals(bottom_layers: Any) -> list[Layer]:
    if bottom_layers is None:
        return []
    if isinstance(bottom_layers, Mapping):
        return list(bottom_layers)
    return as_layer_list(bottom_layers, "bottom_layers")


def _check_replacement(original: Any, replacement: Any) -> None:
    if not isinstance(original, Layer) or not isinstance(replacement, Layer):
        raise TypeError(f"bottom_layers: a dict must map Layers to Layers, got "
                        f"{type(original).__name__} -> {type(replacement).__name__}")
    if original.has_multiple_outputs != replacement.has_multiple_outputs:
        raise ValueError(f"bottom_layers: {original.describe()} "
                         f"{'has' if original.has_multiple_outputs else 'does not have'} "
                         f"several outputs but its replacement {replacement.describe()} "
                         f"{'does' if replacement.has_multiple_outputs else 'does not'}")
