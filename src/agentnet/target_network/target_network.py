"""A copy of (a part of) a network whose weights lag behind the original's.

Reference values computed with older weights decorrelate the target from the prediction and
steady Q-learning: a periodic hard copy (DQN, Mnih et al. 2015,
https://www.nature.com/articles/nature14236) or a moving average of the weights (DDPG,
Lillicrap et al. 2015, http://arxiv.org/abs/1509.02971). ``load_weights`` does both.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ..layers.base import Layer
from ..layers.graph import register_layers
from ..utils.clone import _clone_layers, _output_list, _restructure

__all__ = ["TargetNetwork"]


class TargetNetwork(nn.Module):
    """A copy of a network, kept in step with the original by :meth:`load_weights`.

    Args:
        original_network_outputs: a layer, a list or tuple of layers, or a dict of them: the
            outputs of the part to copy (e.g. the Q-values layer).
        bottom_layers: layers that are not copied, read by the copy as they are (a layer or
            a list), or a dict ``{original_layer: replacement}``; see
            :func:`agentnet.utils.clone_network`.
        share_inputs: keep the original's input layers (default), so the target is fed the
            same observations and memories; False copies them too.
        name_prefix: prepended to the names of the copied layers.
        name: the original AgentNet's name for ``name_prefix`` (accepted; giving both raises
            ``TypeError``). The original's default prefix was ``"target_net."``.

    Attributes:
        output_layers: the copies of ``original_network_outputs``, in the same structure.
        name: the prefix of the copies' names (``name_prefix``), as the original's ``name``.
        original_params, target_params: aligned lists of ``nn.Parameter``: parameter ``i`` of
            the target follows parameter ``i`` of the original. Target parameters have
            ``requires_grad=False``: no loss trains them.

    The target is an ``nn.Module`` owning the copied layers, so ``.to(device)``, ``.to(dtype)``
    and ``state_dict()`` reach the target's parameters (and nothing of the original). It
    starts equal to the original. Evaluate it with :func:`agentnet.layers.get_output` or, for
    a target of an agent's policy, track ``output_layers`` in the agent's sessions: with the
    inputs shared, the target's Q-values are computed each tick from the same observation and
    the agent's previous memory.

    >>> import torch
    >>> from agentnet import layers as L
    >>> obs = L.InputLayer((None, 4), name="observation")
    >>> q = L.DenseLayer(L.DenseLayer(obs, 8, name="hidden"), 2, nonlinearity=None, name="q")
    >>> target = TargetNetwork(q)
    >>> target.output_layers.name, len(target.target_params)
    ('target.q', 4)
    >>> x = torch.randn(3, 4)
    >>> torch.equal(L.get_output(target.output_layers, {obs: x}), L.get_output(q, {obs: x}))
    True
    >>> with torch.no_grad():
    ...     _ = q.weight.add_(1.0)                   # training moves the original...
    >>> target.load_weights(moving_average_alpha=0.01)  # ...the target follows 1% of the way
    >>> target.load_weights()                           # or copies it
    >>> torch.equal(target.output_layers.weight, q.weight)
    True
    """

    # plain attributes (set in __init__ with object.__setattr__): a layer, list or dict of them
    original_network_outputs: Any
    output_layers: Any

    def __init__(self, original_network_outputs: Any,
                 bottom_layers: Layer | Iterable[Layer] | Mapping[Layer, Layer] = (),
                 share_inputs: bool = True, name_prefix: str | None = "target.", *,
                 name: str | None = None):
        super().__init__()
        if name is not None:
            if name_prefix != "target.":
                raise TypeError("TargetNetwork: got both name and name_prefix (name is the "
                                "original AgentNet's name for name_prefix); give one")
            name_prefix = name
        self.name = name_prefix
        outputs = _output_list(original_network_outputs)
        memo, copied = _clone_layers(outputs, bottom_layers, share_params=False,
                                     share_inputs=share_inputs, name_prefix=name_prefix)
        # plain attributes, not submodules: the original is not the target's to move or save
        object.__setattr__(self, "original_network_outputs", original_network_outputs)
        object.__setattr__(self, "output_layers", _restructure(original_network_outputs, memo))
        self.layers = register_layers([clone for _, clone in copied])
        self.original_params: list[nn.Parameter] = []
        self.target_params: list[nn.Parameter] = []
        self._original_buffers: list[torch.Tensor] = []
        self._target_buffers: list[torch.Tensor] = []
        seen: set[int] = set()
        for original, clone in copied:
            for (name, source), (clone_name, param) in zip(original.named_parameters(),
                                                           clone.named_parameters()):
                if name != clone_name:  # deepcopy keeps the order: this would be a bug here
                    raise RuntimeError(f"TargetNetwork: parameters of {original.describe()} "
                                       f"do not align ({name} vs {clone_name})")
                if id(source) not in seen and param is not source:
                    seen.add(id(source))
                    param.requires_grad_(False)
                    self.original_params.append(source)
                    self.target_params.append(param)
            for original_buffer, buffer in zip(original.buffers(), clone.buffers()):
                if id(original_buffer) not in seen and buffer is not original_buffer:
                    seen.add(id(original_buffer))
                    self._original_buffers.append(original_buffer)
                    self._target_buffers.append(buffer)
        if not self.target_params and not self._target_buffers:
            raise ValueError(
                "TargetNetwork: the copied layers hold no parameters or buffers, so there is "
                "nothing to load: " + (", ".join(clone.describe() for _, clone in copied)
                                       or "every layer is a bottom layer or an input") +
                "; to copy a graph without weights use agentnet.utils.clone_network")

    @torch.no_grad()
    def load_weights(self, moving_average_alpha: float = 1.0) -> None:
        """Bring the target's weights toward the original's.

        Args:
            moving_average_alpha: in ``(0, 1]``. 1 (default): copy the original's parameters
                and buffers (BatchNorm statistics...). Below 1: move each target parameter and
                floating-point buffer that fraction of the way to the original's,
                ``target <- target + alpha * (original - target)`` (Polyak averaging);
                integer buffers are copied.

        Works across dtypes and devices (the original's values are converted).
        """
        alpha = _check_alpha(moving_average_alpha)
        targets = self.target_params + self._target_buffers
        sources = [source.to(target) for source, target in
                   zip(self.original_params + self._original_buffers, targets)]
        if alpha == 1.0:
            torch._foreach_copy_(targets, sources)
            return
        lerp = [(t, s) for t, s in zip(targets, sources) if t.is_floating_point()]
        copy = [(t, s) for t, s in zip(targets, sources) if not t.is_floating_point()]
        if lerp:
            torch._foreach_lerp_([t for t, _ in lerp], [s for _, s in lerp], alpha)
        if copy:
            torch._foreach_copy_([t for t, _ in copy], [s for _, s in copy])

    def extra_repr(self) -> str:
        return f"{len(self.target_params)} parameters"


def _check_alpha(alpha: Any) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"TargetNetwork.load_weights: moving_average_alpha must be a number in "
                        f"(0, 1], got {alpha!r}") from None
    if isinstance(alpha, bool) or math.isnan(value) or not 0 < value <= 1:
        raise ValueError(f"TargetNetwork.load_weights: moving_average_alpha must be in (0, 1] "
                         f"(1 copies, less moves that fraction of the way), got {alpha!r}")
    return value
