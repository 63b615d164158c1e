"""SumTree: totals, leaves and proportional sampling against brute force."""
import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agentnet.environment import SumTree

# Integer priorities keep every partial sum exact in float64, so the tree and a brute-force
# cumsum agree bit for bit, even on interval boundaries.
integer_priority = st.integers(0, 1000).map(float)


@st.composite
def trees_and_updates(draw, priority=integer_priority):
    capacity = draw(st.integers(1, 40))                     # mostly not powers of two
    update = st.lists(st.tuples(st.integers(0, capacity - 1), priority), min_size=1,
                      max_size=2 * capacity + 2)            # repeats within one update
    return capacity, draw(st.lists(update, min_size=1, max_size=6))


def apply(capacity, updates):
    """The tree after ``updates``, and the same priorities kept in a plain list."""
    tree, expected = SumTree(capacity), [0.0] * capacity
    for update in updates:
        indices, priorities = zip(*update)
        tree.update(torch.tensor(indices), torch.tensor(priorities, dtype=torch.float64))
        for i, p in update:                                 # the last value wins
            expected[i] = p
    return tree, torch.tensor(expected, dtype=torch.float64)


@settings(max_examples=150, deadline=None)
@given(trees_and_updates())
def test_total_and_leaves_match_brute_force(case):
    tree, expected = apply(*case)
    assert torch.equal(tree[torch.arange(case[0])], expected)
    assert float(tree.total) == float(expected.sum())


@settings(max_examples=150, deadline=None)
@given(trees_and_updates(), st.lists(st.integers(0, 4 * 40 * 1000), min_size=1, max_size=30))
def test_sample_finds_the_interval_holding_each_mass(case, quarters):
    tree, expected = apply(*case)
    total = float(expected.sum())
    if total == 0:
        return
    # masses on a quarter grid (exact), including every interval boundary and total - 1/4
    cumsum = expected.cumsum(0)
    masses = torch.cat([torch.tensor(quarters, dtype=torch.float64) / 4 % total,
                        cumsum[cumsum < total], torch.tensor([0.0, total - 0.25])])
    reference = torch.searchsorted(cumsum, masses, right=True)
    assert torch.equal(tree.sample(masses), reference)


@settings(max_examples=150, deadline=None)
@given(trees_and_updates(), st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=30))
def test_zero_priority_items_are_never_drawn(case, fractions):
    tree, expected = apply(*case)
    total = tree.total
    if float(total) == 0:
        return
    below_total = torch.nextafter(total, torch.zeros_like(total))
    masses = torch.cat([torch.tensor(fractions, dtype=torch.float64) * total,
                        expected.cumsum(0), below_total[None], torch.zeros(1).double()])
    masses = masses.clamp(max=float(below_total))           # every mass in [0, total)
    drawn = tree.sample(masses)
    assert (expected[drawn] > 0).all(), (expected.tolist(), masses.tolist(), drawn.tolist())


def test_zero_priority_item_is_not_drawn_at_the_top_of_the_range():
    tree = SumTree(4)
    tree.update(torch.tensor([0, 2]), torch.tensor([0.7, 3.0], dtype=torch.float64))
    mass = torch.nextafter(tree.total, torch.zeros_like(tree.total))   # 3.6999999999999997
    assert mass < tree.total
    assert tree.sample(mass[None]).tolist() == [2]


def test_sample_frequencies_are_proportional():
    torch.manual_seed(0)
    priorities = torch.tensor([1.0, 0.0, 3.0, 2.0, 0.0, 4.0], dtype=torch.float64)
    tree = SumTree(6)
    tree.update(torch.arange(6), priorities)
    draws = 20_000
    counts = torch.bincount(tree.sample(torch.rand(draws, dtype=torch.float64) * tree.total),
                            minlength=6).double()
    p = priorities / priorities.sum()
    standard_error = (draws * p * (1 - p)).sqrt()
    assert (counts - draws * p).abs().le(4 * standard_error).all(), counts
    assert counts[1] == counts[4] == 0


def test_single_item_and_errors():
    tree = SumTree(1)
    tree.update(torch.tensor([0]), torch.tensor([2.5]))
    assert float(tree.total) == 2.5
    assert tree.sample(torch.tensor([0.0, 2.4])).tolist() == [0, 0]
    with pytest.raises(ValueError, match="capacity must be positive, got 0"):
        SumTree(0)


# Not strict: a data race cannot be made to lose every time (on an idle two-core machine the
# pattern below loses about 9 times in 10 per try; under load much less often).
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the race needs two cores")
def test_last_value_wins_in_a_large_update_with_repeats():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        # each of 0..999 is written at the end of the first half (value 0) and again at the
        # start of the second half (value 1): the two halves go to different threads
        half, filler = 20_000, torch.full((19_000,), 1000)
        indices = torch.cat([filler, torch.arange(1000), torch.arange(1000), filler])
        priorities = torch.cat([torch.zeros(half), torch.ones(half)]).double()
        for _ in range(10):                                  # a race: give it several tries
            tree = SumTree(1001)
            tree.update(indices, priorities)
            assert torch.equal(tree[torch.arange(1000)], torch.ones(1000).double())
    finally:
        torch.set_num_threads(threads)


@settings(max_examples=40, deadline=None)
@given(trees_and_updates(st.floats(0, 1e6, allow_nan=False)))
def test_sums_of_the_leaves_are_the_tree_updates_keep(case):
    tree, _ = apply(*case)
    before = tree.nodes.clone()
    assert torch.equal(tree.sums_of(tree.nodes[tree.leaves:]), tree.nodes)   # bit for bit
    assert torch.equal(tree.nodes, before)                                   # left unchanged
