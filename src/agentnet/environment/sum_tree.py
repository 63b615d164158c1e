"""A sum tree over priorities: proportional sampling and updates in O(log capacity)."""
from __future__ import annotations

from typing import Any

import torch

__all__ = ["SumTree"]


class SumTree:
    """Priorities of ``capacity`` items in a binary tree whose nodes hold their subtree's sum.

    Every operation is batched: updating ``k`` leaves or drawing ``k`` samples costs
    ``log2(capacity)`` steps of batched tensor operations, on the tree's device. The sums are
    kept in float64.

    >>> tree = SumTree(4)
    >>> tree.update(torch.tensor([0, 2]), torch.tensor([1.0, 3.0]))
    >>> float(tree.total), tree.sample(torch.tensor([0.5, 1.5, 3.9]))
    (4.0, tensor([0, 2, 2]))
    """

    def __init__(self, capacity: int, device: Any = None):
        if capacity < 1:
            raise ValueError(f"SumTree: capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.leaves = 1 << (capacity - 1).bit_length()          # a power of two >= capacity
        self.depth = self.leaves.bit_length() - 1
        self.nodes = torch.zeros(2 * self.leaves, dtype=torch.float64, device=device)

    @property
    def total(self) -> torch.Tensor:
        """The sum of all priorities, a float64 scalar tensor."""
        return self.nodes[1]

    def __getitem__(self, indices: torch.Tensor) -> torch.Tensor:
        """The priorities of ``indices`` (int64 ``[k]``)."""
        return self.nodes[self.leaves + indices]

    def update(self, indices: torch.Tensor, priorities: torch.Tensor) -> None:
        """Set the priorities (non-negative, ``[k]``) of ``indices`` (int64 ``[k]``); for a
        repeated index the last value wins."""
        indices = indices.to(self.nodes.device, torch.int64)
        priorities = priorities.to(self.nodes)
        unique, inverse = torch.unique(indices, return_inverse=True)
        if len(unique) < len(indices):  # repeated indices: keep each one's last value
            order = torch.arange(len(indices), device=indices.device)
            last = torch.zeros_like(unique).scatter_reduce_(0, inverse, order, "amax")
            indices, priorities = unique, priorities[last]
        nodes = self.leaves + indices
        self.nodes[nodes] = priorities
        for _ in range(self.depth):
            nodes = torch.unique(nodes // 2)
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]

    def sums_of(self, leaves: torch.Tensor) -> torch.Tensor:
        """The nodes ``[2 * leaves]`` (float64) of a tree whose leaves hold ``leaves``
        (``[self.leaves]``, padding included), every inner node the sum of its children
        added as :meth:`update` adds them (node 0, unused, is 0), to check a stored tree
        against its leaves; this tree is not changed.

        >>> tree = SumTree(3)
        >>> tree.sums_of(torch.tensor([1.0, 2.0, 4.0, 0.0], dtype=torch.float64))
        tensor([0., 7., 3., 4., 1., 2., 4., 0.], dtype=torch.float64)
        """
        nodes = torch.zeros_like(self.nodes)
        nodes[self.leaves:] = leaves
        for level in reversed(range(self.depth)):              # the nodes 2^level .. 2^(level+1)
            first, end = 1 << level, 2 << level
            nodes[first:end] = nodes[2 * first:2 * end:2] + nodes[2 * first + 1:2 * end:2]
        return nodes

    def sample(self, masses: torch.Tensor) -> torch.Tensor:
        """The item where each cumulative mass in ``[0, total)`` falls: int64 ``[k]``."""
        masses = masses.to(self.nodes)
        nodes = torch.ones_like(masses, dtype=torch.int64)
        for _ in range(self.depth):
            left = self.nodes[2 * nodes]
            # never into an empty subtree: rounding can leave a mass just past the last item
            right = (masses >= left) & (self.nodes[2 * nodes + 1] > 0)
            masses = torch.where(right, masses - left, masses)
            nodes = 2 * nodes + right
        return nodes - self.leaves
