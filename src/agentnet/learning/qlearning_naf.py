"""Continuous Q-learning with normalized advantage functions (Gu et al. 2016, arXiv:1603.00748).

``Q(s, u) = V(s) + A(s, u)`` with ``A(s, u) = -1/2 (u - mu(s))^T P(s) (u - mu(s))`` and
``P = L L^T`` for a lower-triangular ``L(s)``: the best action is ``mu(s)``, its value ``V(s)``.

This module holds the objective and the sizes of ``L``. The layers that build Q, mu and V
(``LowerTriangularLayer``, ``NAFLayer``, ``build_NAF_controller``) are in
:mod:`agentnet.layers.naf`, exported from :mod:`agentnet.layers`: objectives are functions of
tensors and never import layers.
"""
from __future__ import annotations

import math

from .dpg import get_elementwise_objective_critic

__all__ = ["get_elementwise_objective", "diag_to_tril_size", "tril_size_to_diag"]

#: the NAF objective is the DPG critic's (as in the original AgentNet): the temporal-difference
#: objective of Q(s_t, u_t) on V's references,
#: ``get_elementwise_objective(action_qvalues [B, T], state_values [B, T], rewards [B, T], ...)``
get_elementwise_objective = get_elementwise_objective_critic


def diag_to_tril_size(diag: int) -> int:
    """How many entries a ``diag x diag`` lower-triangular matrix has: ``d (d + 1) / 2``.

    >>> diag_to_tril_size(3)
    6
    """
    return int(diag) * (int(diag) + 1) // 2


def tril_size_to_diag(tril_size: int) -> int:
    """The side ``d`` of a lower-triangular matrix of ``tril_size`` entries (rounded down
    when ``tril_size`` is no such count, as in the original; check with
    :func:`diag_to_tril_size`).

    >>> tril_size_to_diag(6), tril_size_to_diag(7)
    (3, 3)
    """
    if tril_size < 0:
        raise ValueError(f"tril_size must be a count of entries, got {tril_size}")
    return (math.isqrt(8 * int(tril_size) + 1) - 1) // 2
