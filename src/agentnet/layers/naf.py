"""The layers of normalized advantage functions (Gu et al. 2016, arXiv:1603.00748).

``Q(s, u) = V(s) + A(s, u)`` with ``A(s, u) = -1/2 (u - mu(s))^T P(s) (u - mu(s))`` and
``P = L L^T`` for a lower-triangular ``L(s)``: the best action is ``mu(s)``, its value ``V(s)``.
:func:`build_NAF_controller` builds the heads; the objective is
:func:`agentnet.learning.qlearning_naf.get_elementwise_objective`, the temporal-difference
objective of ``Q(s_t, u_t)`` on references of V.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from .base import Layer, format_shape
from .dense import DenseLayer, NonlinearityLayer
from .normalization import GaussianNoiseLayer
from .shape import ElemwiseSumLayer

__all__ = ["LowerTriangularLayer", "NAFLayer", "build_NAF_controller"]


class LowerTriangularLayer(Layer):
    """Fills lower-triangular matrices ``[B, d, d]`` from vectors ``[B, d (d + 1) / 2]``.

    With ``matrix_diag=None`` the incoming layer's units fill the matrix directly (their
    number must be triangular); with ``matrix_diag=d`` a linear layer first maps the input to
    ``d (d + 1) / 2`` units. With ``positive_diagonal`` the diagonal is exponentiated, so
    ``L L^T`` is positive definite.

    >>> from agentnet import layers as L
    >>> vector = L.InputLayer((None, 3))
    >>> tril = LowerTriangularLayer(vector, positive_diagonal=False)
    >>> L.get_output(tril, {vector: torch.tensor([[1., 2., 3.]])})
    tensor([[[1., 0.],
             [2., 3.]]])
    """

    rows: torch.Tensor
    cols: torch.Tensor

    def __init__(self, incoming: Layer, matrix_diag: int | None = None,
                 positive_diagonal: bool = True, name: str | None = None):
        if matrix_diag is None:
            shape = incoming.output_shape
            units = shape[-1] if len(shape) == 2 else None
            diag = (math.isqrt(8 * units + 1) - 1) // 2 if units else 0
            if not units or diag * (diag + 1) // 2 != units:
                raise ValueError(f"LowerTriangularLayer {name!r}: {incoming.describe()} "
                                 f"{format_shape(shape)} must give d(d+1)/2 units; pass "
                                 f"matrix_diag=d to learn a mapping instead")
            matrix_diag = diag
        else:
            incoming = DenseLayer(incoming, matrix_diag * (matrix_diag + 1) // 2,
                                    nonlinearity=None,
                                    name=f"{name}.preprocess" if name else None)
        super().__init__(incoming, name)
        self.matrix_diag = int(matrix_diag)
        self.positive_diagonal = positive_diagonal
        rows, cols = torch.tril_indices(self.matrix_diag, self.matrix_diag)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def get_output_for(self, vector: torch.Tensor, **flags: Any) -> torch.Tensor:
        d = self.matrix_diag
        matrix = vector.new_zeros(vector.shape[0], d, d)
        matrix[:, self.rows, self.cols] = vector
        if self.positive_diagonal:
            diagonal = matrix.diagonal(dim1=1, dim2=2)
            matrix = matrix - torch.diag_embed(diagonal) + torch.diag_embed(diagonal.exp())
        return matrix


class NAFLayer(Layer):
    """The advantage ``A(s, u) = -1/2 (u - mu)^T L L^T (u - mu)``, float ``[B, 1]``, from
    actions ``u [B, d]``, the best actions ``mu [B, d]`` and ``L [B, d, d]``."""

    def __init__(self, action_layer: Layer, mean_layer: Layer, L_layer: Layer,
                 name: str | None = None):
        super().__init__([action_layer, mean_layer, L_layer], name)
        u, mu, tril = self.input_shapes
        if len(u) != 2 or len(mu) != 2 or len(tril) != 3:
            raise ValueError(f"{self.describe()}: expects actions [B, d], means [B, d] and L "
                             f"[B, d, d], got {format_shape(u)}, {format_shape(mu)}, "
                             f"{format_shape(tril)}")

    def get_output_for(self, u: torch.Tensor, mu: torch.Tensor, tril: torch.Tensor,
                       **flags: Any) -> torch.Tensor:
        projected = ((u - mu).unsqueeze(1) @ tril).squeeze(1)  # (u - mu)^T L, [B, d]
        return -0.5 * (projected ** 2).sum(dim=-1, keepdim=True)


def build_NAF_controller(input_layer: Layer | None = None, action_dimensions: int = 1,
                         exploration: float | Layer = 1e-2, additive_exploration: bool = True,
                         mean_layer: Layer | None = None, V_layer: Layer | None = None,
                         L_layer: Layer | None = None, action_low: float = -math.inf,
                         action_high: float = math.inf) -> dict[str, Layer]:
    """The layers of a NAF agent's head on top of ``input_layer`` ``[B, features]``.

    Args:
        action_dimensions: d, the number of action components.
        exploration: the standard deviation of Gaussian exploration noise added to the best
            action, or a layer: added to it (``additive_exploration``) or used as the action.
        mean_layer, V_layer, L_layer: replace the default heads (linear layers of input_layer).
        action_low, action_high: the actions are clipped to these bounds.

    Returns:
        ``{"means": mu [B, d], "actions": u [B, d] (with exploration), "action_qvalues":
        Q(s, u) [B, 1], "state_value": V(s) [B, 1], "advantage": A(s, u) [B, 1]}``.
    """
    if input_layer is None and None in (mean_layer, V_layer, L_layer):
        raise ValueError("build_NAF_controller: give input_layer, or all of mean_layer, "
                         "V_layer and L_layer")
    if mean_layer is None:
        assert input_layer is not None  # checked above: it is given when a head is missing
        mean_layer = DenseLayer(input_layer, action_dimensions, nonlinearity=None,
                                  name="naf.means")
    low, high = action_low, action_high
    clipped = NonlinearityLayer(mean_layer, lambda a: a.clamp(low, high), name="naf.clip")
    if isinstance(exploration, Layer):
        action_layer = (ElemwiseSumLayer([clipped, exploration], name="naf.actions")
                        if additive_exploration else exploration)
    else:
        noisy = GaussianNoiseLayer(clipped, sigma=float(exploration), name="naf.noise")
        action_layer = NonlinearityLayer(noisy, lambda a: a.clamp(low, high),
                                           name="naf.actions")
    if V_layer is None:
        assert input_layer is not None
        V_layer = DenseLayer(input_layer, 1, nonlinearity=None, name="naf.state_value")
    if L_layer is None:
        assert input_layer is not None
        L_layer = LowerTriangularLayer(input_layer, matrix_diag=action_dimensions, name="naf.L")
    advantage = NAFLayer(action_layer, mean_layer, L_layer, name="naf.advantage")
    return {"means": mean_layer, "actions": action_layer,
            "action_qvalues": ElemwiseSumLayer([V_layer, advantage], name="naf.qvalues"),
            "state_value": V_layer, "advantage": advantage}
