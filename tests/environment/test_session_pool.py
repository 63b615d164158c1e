"""SessionPoolEnvironment: the ring, reads, sampling, priorities, validation and memory."""
import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agentnet import Agent
from agentnet import layers as L
from agentnet.environment import BaseEnvironment, CartPole, SessionPoolEnvironment
from agentnet.memory import GRUCell, RNNCell
from agentnet.resolver import EpsilonGreedyResolver

LENGTH = 3
# two observations and two memories of different shapes and dtypes, given explicitly
SPECS = dict(observation_specs=[((3,), torch.float32), ((2,), torch.uint8)],
             action_specs=[((), torch.int64)],
             memory_specs=[((4,), torch.float32), ((), torch.int64)])


def make_pool(capacity, **kwargs):
    return SessionPoolEnvironment(capacity, LENGTH, **SPECS, **kwargs)


def tagged(ids):
    """Sessions whose every field is derived from their id; ``rewards[:, 0] == 10 * id``."""
    ids = torch.as_tensor(list(ids), dtype=torch.int64)
    tick = torch.arange(LENGTH)
    base = ids[:, None] * 10 + tick                                         # [B, T]
    return dict(
        observations=[base[..., None] + torch.tensor([0.0, 0.25, 0.5]),
                      (base[..., None] + torch.tensor([0, 100])).to(torch.uint8)],
        actions=base,
        rewards=base.float(),
        is_alive=base % 3 != 0,
        is_truncated=base % 4 == 0,
        preceding_memories=[ids[:, None] + torch.arange(4.0) / 8, -ids])


def stored_ids(pool):
    return (pool.rewards[:, 0] / 10).long().tolist()


def assert_batch_is(batch, ids):
    """Every field of ``batch`` equals that of the tagged sessions ``ids``."""
    fields = tagged(ids)
    for got, expected in zip(batch.observations, fields["observations"], strict=True):
        assert got.dtype == expected.dtype and torch.equal(got, expected)
    assert torch.equal(batch.actions[0], fields["actions"])
    for name in ("rewards", "is_alive", "is_truncated"):
        assert torch.equal(getattr(batch, name), fields[name]), name
    for got, expected in zip(batch.preceding_memories, fields["preceding_memories"], strict=True):
        assert got.dtype == expected.dtype and torch.equal(got, expected)


def storage(pool):
    """Every preallocated tensor of the pool (private on purpose: the tests check them all)."""
    tensors = [*pool._observations, *pool._actions, pool._rewards, pool._is_alive,
               pool._is_truncated, *pool._memories]
    return tensors + ([pool._tree.nodes] if pool._tree is not None else [])


# --- the ring ---------------------------------------------------------------------------
def check_ring(capacity, batch_sizes):
    """Append batches of fresh ids; keep a model of which slot holds which id."""
    pool = make_pool(capacity)
    history, slot_of, next_slot, lengths = [], {}, 0, []
    for size in batch_sizes:
        ids = list(range(len(history), len(history) + size))
        pool.append_sessions(**tagged(ids))
        history += ids
        lengths.append(len(pool))
        newest = history[-min(len(history), capacity):]
        stored = stored_ids(pool)
        assert len(pool) == len(newest) and sorted(stored) == newest
        if size <= capacity:     # written one after another from the write position
            for j, i in enumerate(ids):
                slot_of[i] = (next_slot + j) % capacity
            next_slot = (next_slot + size) % capacity
        else:                    # only the newest fit: a rotation, oldest at the write position
            next_slot = stored.index(newest[0])
            for k, i in enumerate(newest):
                slot_of[i] = (next_slot + k) % capacity
        assert stored == [i for _, i in sorted((slot_of[i], i) for i in newest)]
    assert_batch_is(pool.select_session_batch(torch.arange(len(pool))), stored_ids(pool))
    return lengths


def test_ring_overwrites_the_oldest_and_len_saturates():
    lengths = check_ring(5, [2, 2, 3, 7, 1, 4, 5])       # 7 > capacity
    assert lengths == [2, 4, 5, 5, 5, 5, 5]
    pool = make_pool(4)
    pool.append_sessions(**tagged(range(6)))               # oversized first batch
    pool.append_sessions(**tagged(range(6, 9)))
    assert sorted(stored_ids(pool)) == [5, 6, 7, 8]
    pool.append_sessions(**tagged([9]))                    # evicts the oldest, 5
    assert sorted(stored_ids(pool)) == [6, 7, 8, 9]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.lists(st.integers(1, 15), min_size=1, max_size=8))
def test_ring_model(capacity, batch_sizes):
    check_ring(capacity, batch_sizes)


# --- reading ----------------------------------------------------------------------------
def filled(capacity=6, prioritized=False):
    """Ids 0..3, then 4..8: slots hold [6, 7, 8, 3, 4, 5] (by hand)."""
    pool = make_pool(capacity, prioritized=prioritized)
    pool.append_sessions(**tagged(range(4)))
    pool.append_sessions(**tagged(range(4, 9)))
    return pool


def test_select_returns_exactly_the_stored_sessions():
    pool = filled()
    assert stored_ids(pool) == [6, 7, 8, 3, 4, 5]
    batch = pool.select_session_batch(torch.tensor([3, 0, 3, 5]))
    assert_batch_is(batch, [3, 6, 3, 5])
    assert batch.indices.tolist() == [3, 0, 3, 5] and torch.equal(batch.weights, torch.ones(4))
    batch.rewards.fill_(-1)                                 # a copy, not a view
    batch.observations[0].fill_(-1)
    assert stored_ids(pool) == [6, 7, 8, 3, 4, 5]
    assert_batch_is(pool.select_session_batch(torch.tensor([3])), [3])


def test_select_rejects_indices_out_of_range():
    pool = filled()
    with pytest.raises(IndexError, match=r"in \[0, 6\), got values from 2 to 6"):
        pool.select_session_batch(torch.tensor([2, 6]))
    with pytest.raises(IndexError, match=r"in \[0, 6\), got values from -1 to 0"):
        pool.select_session_batch(torch.tensor([-1, 0]))
    partial = make_pool(6)
    partial.append_sessions(**tagged(range(4)))
    with pytest.raises(IndexError, match=r"in \[0, 4\), got values from 4 to 4"):
        partial.select_session_batch(torch.tensor([4]))       # allocated, but not written


def within_four_standard_errors(counts, probabilities):
    draws = counts.sum()
    standard_error = (draws * probabilities * (1 - probabilities)).sqrt()
    return bool(((counts - draws * probabilities).abs() <= 4 * standard_error).all())


def test_uniform_sampling_frequencies():
    torch.manual_seed(0)
    pool = make_pool(10)
    pool.append_sessions(**tagged(range(7)))                  # 7 of 10 slots written
    counts = torch.zeros(7, dtype=torch.float64)
    for _ in range(80):                                      # 20k draws
        batch = pool.sample_session_batch(250)
        assert batch.indices.max() < 7
        assert stored_ids(batch) == batch.indices.tolist()   # the data of those indices
        assert torch.equal(batch.weights, torch.ones(250))
        counts += torch.bincount(batch.indices, minlength=7)
    assert within_four_standard_errors(counts, torch.full((7,), 1 / 7, dtype=torch.float64))


def test_sampling_without_replacement_and_errors():
    torch.manual_seed(1)
    pool = make_pool(10)
    pool.append_sessions(**tagged(range(7)))
    assert sorted(pool.sample_session_batch(7, replace=False).indices.tolist()) == list(range(7))
    for _ in range(20):
        indices = pool.sample_session_batch(4, replace=False).indices
        assert len(set(indices.tolist())) == 4
    # as the original's: without replacement, at most the sessions the pool holds
    assert sorted(pool.sample_session_batch(8, replace=False).indices.tolist()) == list(range(7))
    assert len(pool.sample_session_batch(8)) == 8   # agentnet's pools: replace=True by default
    assert len(pool.sample_session_batch(8, replace=True)) == 8
    assert len(pool.sample_session_batch(max_n_samples=3)) == 3  # the original's name
    for prioritized in (False, True):
        with pytest.raises(ValueError, match="the pool is empty"):
            make_pool(3, prioritized=prioritized).sample_session_batch(1)


# --- priorities -------------------------------------------------------------------------
def brute_force_weights(priorities, indices, alpha, beta):
    p = torch.as_tensor(priorities, dtype=torch.float64) ** alpha
    probabilities = p / p.sum()
    weights = (len(p) * probabilities[indices]) ** -beta
    return probabilities, (weights / weights.max()).float()


def test_prioritized_frequencies_and_importance_weights():
    torch.manual_seed(2)
    alpha, beta = 0.7, 0.5
    pool = make_pool(8, prioritized=True, alpha=alpha, beta=beta)
    pool.append_sessions(**tagged(range(6)))
    priorities = [1.0, 2.0, 0.5, 4.0, 3.0, 0.25]
    pool.update_priorities(torch.arange(6), torch.tensor(priorities))
    counts = torch.zeros(6, dtype=torch.float64)
    for _ in range(80):                                      # 20k draws
        batch = pool.sample_session_batch(250)
        assert stored_ids(batch) == batch.indices.tolist()
        probabilities, weights = brute_force_weights(priorities, batch.indices, alpha, beta)
        torch.testing.assert_close(batch.weights, weights)
        counts += torch.bincount(batch.indices, minlength=6)
    assert within_four_standard_errors(counts, probabilities)


def test_new_sessions_get_the_largest_priority_seen_so_far():
    alpha, beta = 0.7, 0.5
    pool = make_pool(4, prioritized=True, alpha=alpha, beta=beta)
    pool.append_sessions(**tagged(range(3)))
    assert torch.equal(pool.sample_session_batch(64).weights, torch.ones(64))  # all equal
    pool.update_priorities(torch.tensor([0, 1, 2]), torch.tensor([5.0, 2.0, 1.0]))
    pool.update_priorities(torch.tensor([0]), torch.tensor([0.5]))   # 5 stays the largest seen
    pool.append_sessions(**tagged([3]))                                # slot 3
    for expected in ([0.5, 2.0, 1.0, 5.0], [5.0, 2.0, 1.0, 0.1]):
        batch = pool.sample_session_batch(512)
        assert set(batch.indices.tolist()) == {0, 1, 2, 3}
        torch.testing.assert_close(
            batch.weights, brute_force_weights(expected, batch.indices, alpha, beta)[1])
        pool.update_priorities(torch.tensor([3]), torch.tensor([0.1]))
        pool.append_sessions(**tagged([4]))                            # overwrites slot 0


def test_priority_errors():
    with pytest.raises(ValueError, match="prioritized=False"):
        filled().update_priorities(torch.tensor([0]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="prioritized sampling draws with replacement"):
        filled(prioritized=True).sample_session_batch(2, replace=False)


def test_update_priorities_rejects_indices_out_of_range():
    pool = make_pool(5, prioritized=True)
    pool.append_sessions(**tagged(range(3)))
    with pytest.raises((IndexError, ValueError)):
        pool.update_priorities(torch.tensor([4]), torch.tensor([100.0]))


# --- validation -------------------------------------------------------------------------
def replace(field, index=None, value=None):
    def change(fields):
        if index is None:
            fields[field] = value(fields[field])
        else:
            fields[field][index] = value(fields[field][index])
        return fields
    return change


BAD_APPENDS = {
    "observation shape": (replace("observations", 0, lambda o: torch.zeros(2, 3, 4)),
                          r"observations\[0\] has shape \(2, 3, 4\), the pool expects "
                          r"\(2, 3, 3\)"),
    "observation dtype": (replace("observations", 1, lambda o: o.float()),
                          r"observations\[1\] has dtype torch.float32, the pool stores "
                          r"torch.uint8"),
    "too long": (lambda f: {k: ([torch.cat([x, x[:, -1:]], 1) for x in v]
                                if k == "observations" else v) for k, v in f.items()},
                 r"observations\[0\] has shape \(2, 4, 3\), the pool expects \(2, 3, 3\)"),
    "rewards too short": (replace("rewards", value=lambda r: r[:, :2]),
                          r"rewards has shape \(2, 2\), the pool expects \(2, 3\)"),
    "one observation": (replace("observations", value=lambda o: o[:1]),
                        "1 observations given, the pool stores 2"),
    "three observations": (replace("observations", value=lambda o: o + o[:1]),
                           "3 observations given, the pool stores 2"),
    "action dtype": (replace("actions", value=lambda a: a.int()),
                     "actions has dtype torch.int32, the pool stores torch.int64"),
    "action batch": (replace("actions", value=lambda a: torch.cat([a, a[:1]])),
                     r"actions has shape \(3, 3\), the pool expects \(2, 3\)"),
    "reward dtype": (replace("rewards", value=lambda r: r.double()),
                     "rewards has dtype torch.float64, the pool stores torch.float32"),
    "is_alive shape": (replace("is_alive", value=lambda a: a[:, :2]),
                       r"is_alive has shape \(2, 2\), the pool expects \(2, 3\)"),
    "is_truncated shape": (replace("is_truncated", value=lambda a: a[:1]),
                           r"is_truncated has shape \(1, 3\), the pool expects \(2, 3\)"),
    "memory shape": (replace("preceding_memories", 0, lambda m: torch.zeros(2, 5)),
                     r"preceding_memories\[0\] has shape \(2, 5\), the pool expects "
                     r"\(2, 4\)"),
    "memory dtype": (replace("preceding_memories", 1, lambda m: m.float()),
                     r"preceding_memories\[1\] has dtype torch.float32, the pool stores "
                     r"torch.int64"),
    "one memory": (replace("preceding_memories", value=lambda m: m[:1]),
                   "1 preceding_memories given, the pool stores 2"),
    "no rewards": (replace("rewards", value=lambda r: None), "rewards are required"),
}


@pytest.mark.parametrize("case", BAD_APPENDS)
def test_rejected_append_names_the_field_and_leaves_the_pool_as_it_was(case):
    change, message = BAD_APPENDS[case]
    pool = make_pool(4, prioritized=True)
    pool.append_sessions(**tagged(range(3)))                  # the next write wraps around
    pool.update_priorities(torch.tensor([0, 2]), torch.tensor([3.0, 0.5]))
    before, length = [t.clone() for t in storage(pool)], len(pool)
    with pytest.raises(ValueError, match=message):
        pool.append_sessions(**change(tagged([7, 8])))
    assert len(pool) == length
    for old, new in zip(before, storage(pool), strict=True):
        assert torch.equal(old, new)
    pool.append_sessions(**tagged([9]))                       # the write position is unchanged
    assert stored_ids(pool) == [0, 1, 2, 9]


def test_rejected_load_leaves_the_pool_as_it_was():
    pool = make_pool(4)
    pool.append_sessions(**tagged(range(3)))
    with pytest.raises(ValueError, match="rewards has dtype"):
        pool.load_sessions(**replace("rewards", value=lambda r: r.double())(tagged([7])))
    assert stored_ids(pool) == [0, 1, 2]


def test_load_sessions_replaces_the_content():
    torch.manual_seed(3)
    pool = filled(capacity=4, prioritized=True)
    pool.update_priorities(torch.tensor([3]), torch.tensor([1000.0]))
    pool.load_sessions(**tagged([10, 11]))
    assert len(pool) == 2 and stored_ids(pool) == [10, 11]
    assert_batch_is(pool.select_session_batch(torch.arange(2)), [10, 11])
    assert set(pool.sample_session_batch(500).indices.tolist()) == {0, 1}  # old mass gone
    pool.append_sessions(**tagged([12]))
    assert stored_ids(pool) == [10, 11, 12]


# --- memory -----------------------------------------------------------------------------
def test_nbytes_by_hand():
    # per tick: obs 3 * 4 + 2 * 1, action 8, reward 4, is_alive 1, is_truncated 1 = 28 bytes
    # per session: 3 ticks * 28 + memories 4 * 4 + 8 = 108 bytes
    assert make_pool(7).nbytes == 7 * 108


def _resident_bytes():
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def test_a_long_stream_reuses_the_preallocated_tensors():
    capacity, length, batch, appends = 3000, 4, 1000, 100   # 10^5 sessions appended
    pool = SessionPoolEnvironment(capacity, length, observation_specs=[((64,), torch.float32)],
                                  memory_specs=[((16,), torch.float32)])
    # per session: 4 ticks * (64 * 4 + 8 + 4 + 1 + 1) + 16 * 4 = 1144 bytes
    assert pool.nbytes == capacity * 1144
    tensors = storage(pool)
    pointers = [t.data_ptr() for t in tensors]
    fields = [torch.randn(batch, length, 64), torch.zeros(batch, length, dtype=torch.int64),
              torch.zeros(batch, length)]
    memories = [torch.zeros(batch, 16)]
    pool.append_sessions(*fields, preceding_memories=memories)    # warm up the allocator
    resident = _resident_bytes()
    for k in range(appends - 1):
        fields[2].fill_(k)
        pool.append_sessions(*fields, preceding_memories=memories)
    assert len(pool) == capacity and pool.nbytes == capacity * 1144
    assert all(a is b for a, b in zip(tensors, storage(pool), strict=True))
    assert [t.data_ptr() for t in storage(pool)] == pointers
    assert pool.rewards[pool.rewards[:, 0] == appends - 2].shape[0] == batch  # newest kept
    if resident is not None:   # had the pool kept every session: ~110 MB more
        assert _resident_bytes() - resident < 16 * 2**20


# --- sessions from an agent -------------------------------------------------------------
def test_append_sessions_from_get_sessions_keeps_initial_memory():
    torch.manual_seed(4)
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 8), name="prev_gru")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    agent = Agent(obs, {gru: prev}, q, EpsilonGreedyResolver(q, epsilon=0.5, name="eps"))
    pool = SessionPoolEnvironment(capacity=12, session_length=5, agent=agent)
    assert pool.observation_specs == [((4,), torch.float32)]
    assert pool.action_specs == [((), torch.int64)]
    assert pool.memory_specs == [((8,), torch.float32)]
    assert pool.device == agent.device and all(t.device == agent.device for t in storage(pool))
    env = CartPole(batch_size=6, seed=0, autoreset=True, max_steps=7)
    first = agent.get_sessions(env, 5)
    second = agent.get_sessions(env, 5, continue_from=first)
    for sessions in (first, second):
        pool.append_sessions(sessions)
    assert second.initial_agent_states[0].abs().sum() > 0
    for rows, sessions in ((slice(0, 6), first), (slice(6, 12), second)):
        torch.testing.assert_close(pool.preceding_memories[0][rows],
                                   sessions.initial_agent_states[0])
        for name in ("observations", "actions"):
            assert torch.equal(getattr(pool, name)[0][rows], getattr(sessions, name))
        for name in ("rewards", "is_alive", "is_truncated"):
            assert torch.equal(getattr(pool, name)[rows], getattr(sessions, name))


class TwoEyes(BaseEnvironment):
    """Observations: a float32 ``[B, 3]`` position and a uint8 ``[B, 2]`` step counter."""

    state_shapes, state_dtypes = [(3,), ()], [torch.float32, torch.int64]
    observation_shapes = [(3,), (2,)]
    observation_dtypes = [torch.float32, torch.uint8]

    def observe(self, position, steps):
        return [position, torch.stack([steps, 3 * steps], 1).remainder(256).to(torch.uint8)]

    def reset(self, batch_size, device=None):
        position = torch.randn(batch_size, 3, device=device)
        steps = torch.zeros(batch_size, dtype=torch.int64, device=device)
        return [position, steps], self.observe(position, steps)

    def get_action_results(self, last_states, actions):
        position = last_states[0] + 0.1 * (2 * actions[0] - 1)[:, None]
        steps = last_states[1] + 1 + actions[0]
        return [position, steps], self.observe(position, steps)

    def get_rewards(self, last_states, actions, new_states):
        return actions[0].float()


def test_several_observations_and_memories_from_an_agent():
    torch.manual_seed(5)
    position = L.InputLayer((None, 3), name="position")
    counter = L.InputLayer((None, 2), dtype=torch.uint8, name="counter")
    scaled = L.LambdaLayer(counter, lambda c: c.float() / 255, name="scaled")
    prev_gru = L.InputLayer((None, 5), name="prev_gru")
    prev_rnn = L.InputLayer((None, 2), name="prev_rnn")
    gru = GRUCell(prev_gru, [position, scaled], name="gru")
    rnn = RNNCell(prev_rnn, gru, name="rnn")
    q = L.DenseLayer(L.ConcatLayer([gru, rnn]), 2, nonlinearity=None, name="q")
    agent = Agent([position, counter], {gru: prev_gru, rnn: prev_rnn}, q,
                  EpsilonGreedyResolver(q, epsilon=0.5, name="eps"))
    pool = SessionPoolEnvironment(capacity=8, session_length=4, agent=agent)
    assert pool.observation_specs == [((3,), torch.float32), ((2,), torch.uint8)]
    assert pool.memory_specs == [((5,), torch.float32), ((2,), torch.float32)]
    env = TwoEyes()
    first = agent.get_sessions(env, 4, batch_size=4)
    second = agent.get_sessions(env, 4, continue_from=first)
    pool.append_sessions(first)
    pool.append_sessions(second)
    for rows, sessions in ((slice(0, 4), first), (slice(4, 8), second)):
        for stored, live in zip(pool.observations, sessions.observations, strict=True):
            assert stored.dtype == live.dtype and torch.equal(stored[rows], live)
        for stored, initial in zip(pool.preceding_memories, sessions.initial_agent_states,
                                   strict=True):
            torch.testing.assert_close(stored[rows], initial)
    assert all(m[4:].abs().sum() > 0 for m in pool.preceding_memories)
    # replaying the second chunk from the pool starts from its stored memories
    replayed = agent.get_sessions(pool.select_session_batch(torch.arange(4, 8)),
                                  experience_replay=True)
    torch.testing.assert_close(replayed.policy, second.policy)
    for layer in (gru, rnn):
        torch.testing.assert_close(replayed.agent_states[layer], second.agent_states[layer])


def test_state_dict_round_trip_goes_on_exactly_after_the_ring_wrapped():
    def filled(prioritized):
        pool = SessionPoolEnvironment(capacity=4, session_length=2, prioritized=prioritized,
                                      observation_specs=[((3,), torch.float32)])
        for k in range(3):  # 6 sessions into 4 slots: the ring has wrapped
            pool.append_sessions(torch.full((2, 2, 3), float(k)),
                                 torch.full((2, 2), k, dtype=torch.int64), torch.ones(2, 2))
        return pool

    for prioritized in (False, True):
        original = filled(prioritized)
        if prioritized:
            original.update_priorities(torch.tensor([0, 3]), torch.tensor([5.0, 0.5]))
        copy = SessionPoolEnvironment(capacity=4, session_length=2, prioritized=prioritized,
                                      observation_specs=[((3,), torch.float32)])
        copy.load_state_dict(original.state_dict())
        assert len(copy) == len(original)
        for pool in (original, copy):  # the next append lands in the same slot
            pool.append_sessions(torch.full((1, 2, 3), 9.0),
                                 torch.full((1, 2), 9, dtype=torch.int64), torch.ones(1, 2))
        for a, b in zip(original.observations + original.actions,
                        copy.observations + copy.actions):
            assert torch.equal(a, b)
        torch.manual_seed(0)
        first = original.sample_session_batch(16)
        torch.manual_seed(0)
        second = copy.sample_session_batch(16)
        assert torch.equal(first.indices, second.indices)
        assert torch.equal(first.weights, second.weights)
    wrong = SessionPoolEnvironment(capacity=5, session_length=2,
                                   observation_specs=[((3,), torch.float32)])
    with pytest.raises(ValueError, match="load_state_dict"):
        wrong.load_state_dict(filled(False).state_dict())
    assert len(wrong) == 0


# --- refused checkpoints and priorities leave the pool as it was ---------------------------
def snapshot(pool):
    """A copy of ``pool.state_dict()`` (which holds the pool's own tensors)."""
    def copy(value):
        if isinstance(value, torch.Tensor):
            return value.clone()
        return [copy(v) for v in value] if isinstance(value, list) else value
    return {key: copy(value) for key, value in pool.state_dict().items()}


def assert_same_state(before, after):
    assert list(before) == list(after)
    for key, old in before.items():
        new = after[key]
        if isinstance(old, torch.Tensor):
            assert old.dtype == new.dtype and torch.equal(old, new), key
        elif isinstance(old, list):
            assert len(old) == len(new), key
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                assert a.dtype == b.dtype and torch.equal(a, b), f"{key}[{i}]"
        else:
            assert type(old) is type(new) and old == new, key


def bad_state(change):
    """A prioritized pool of capacity 4 holding 3 sessions (ids 5, 6, 7; position 3), its
    priorities updated: ``change`` applied to a copy of its state."""
    source = make_pool(4, prioritized=True)
    source.append_sessions(**tagged([5, 6, 7]))
    source.update_priorities(torch.tensor([0, 2]), torch.tensor([3.0, 0.5]))
    state = snapshot(source)
    change(state)
    return state


def leaf(slot):
    return make_pool(4, prioritized=True)._tree.leaves + slot


def setter(key, value):
    return lambda state: state.__setitem__(key, value)


def set_node(node, value):
    return lambda state: state["priorities"].__setitem__(node, value)


BAD_STATES = {
    "size above capacity": (setter("size", 5), r"size must be an int in 0\.\.4 .*got 5"),
    "negative size": (setter("size", -1), r"size must be an int in 0\.\.4 .*got -1"),
    "float size": (setter("size", 3.0), r"size must be an int .*got 3\.0"),
    "bool size": (setter("size", True), r"size must be an int .*got True"),
    "position at capacity": (setter("position", 4), r"position must be an int in 0\.\.3, "
                                                    r"got 4"),
    "negative position": (setter("position", -1), r"position must be an int in 0\.\.3, got -1"),
    "position not an int": (setter("position", "x"), r"position must be an int .*got 'x'"),
    "position past size": (setter("position", 1),
                           r"position must equal size .*got position 1 with size 3"),
    "nan max_priority": (setter("max_priority", float("nan")),
                         r"max_priority must be a finite number > 0, got nan"),
    "inf max_priority": (setter("max_priority", float("inf")),
                         r"max_priority must be a finite number > 0, got inf"),
    "zero max_priority": (setter("max_priority", 0.0), r"max_priority .* got 0\.0"),
    "negative max_priority": (setter("max_priority", -2.0), r"max_priority .* got -2\.0"),
    "nan priority": (set_node(leaf(1), float("nan")),
                     r"priorities must be finite and >= 0, got nan for slot 1"),
    "negative priority": (set_node(leaf(2), -0.5),
                          r"priorities must be finite and >= 0, got -0\.5 for slot 2"),
    "inf priority": (set_node(1, float("inf")),
                     r"priorities must be finite and >= 0, got inf for inner node 1"),
    "zero priority of a stored session": (set_node(leaf(0), 0.0),
                                          r"priorities must be > 0 for the 3 stored sessions"
                                          r".* got 0\.0 for slot 0"),
    "priority of an empty slot": (set_node(leaf(3), 1.0), r"priorities must be 0 for the "
                                                          r"empty slots .*got 1\.0 for slot 3"),
    "inner sums": (set_node(2, 100.0), r"priorities are not a sum tree: inner node 2 holds "
                                       r"100\.0"),
    "priorities shape": (lambda s: s.__setitem__("priorities", s["priorities"][:4]),
                         r"priorities has shape \(4,\) and dtype torch.float64, the pool "
                         r"stores \(8,\) torch.float64"),
    "priorities dtype": (lambda s: s.__setitem__("priorities", s["priorities"].float()),
                         r"priorities has shape \(8,\) and dtype torch.float32"),
    "observation dtype": (lambda s: s["observations"].__setitem__(1, s["observations"][1].int()),
                          r"observations\[1\] has shape \(4, 3, 2\) and dtype torch.int32, "
                          r"the pool stores \(4, 3, 2\) torch.uint8"),
    "one observation": (lambda s: s["observations"].pop(),
                        r"observations must be a list of 2 tensors .*got 1"),
    "observations not a list": (setter("observations", torch.zeros(4, 3, 3)),
                                r"observations must be a list of 2 tensors .*got a Tensor"),
    "memory not a tensor": (lambda s: s["memories"].__setitem__(0, [0.0] * 4),
                            r"memories\[0\] must be a tensor, got list"),
    "rewards shape": (lambda s: s.__setitem__("rewards", s["rewards"][:, :2]),
                      r"rewards has shape \(4, 2\)"),
    "is_alive dtype": (lambda s: s.__setitem__("is_alive", s["is_alive"].float()),
                       r"is_alive has shape \(4, 3\) and dtype torch.float32"),
    "missing key": (lambda s: s.pop("max_priority"), r"missing \['max_priority'\]"),
    "unexpected key": (setter("alpha", 0.5), r"unexpected \['alpha'\]"),
}


@pytest.mark.parametrize("case", BAD_STATES)
def test_refused_load_state_dict_names_the_field_and_changes_nothing(case):
    change, message = BAD_STATES[case]
    state = bad_state(change)
    pool = make_pool(4, prioritized=True)       # other content: ids 0, 1 (position 2)
    pool.append_sessions(**tagged([0, 1]))
    pool.update_priorities(torch.tensor([1]), torch.tensor([7.0]))
    before = snapshot(pool)
    with pytest.raises(ValueError, match=r"SessionPoolEnvironment\.load_state_dict: .*"
                                         + message):
        pool.load_state_dict(state)
    assert_same_state(before, snapshot(pool))
    assert len(pool) == 2
    pool.append_sessions(**tagged([9]))          # the write position is unchanged too
    assert stored_ids(pool) == [0, 1, 9]


def test_load_state_dict_refuses_a_state_of_the_other_kind_of_pool():
    uniform = make_pool(4)
    uniform.append_sessions(**tagged([3]))
    prioritized = make_pool(4, prioritized=True)
    for target, source in ((prioritized, uniform), (uniform, prioritized)):
        before = snapshot(target)
        with pytest.raises(ValueError, match=r"SessionPoolEnvironment\.load_state_dict: the "
                                             r"state's keys do not match"):
            target.load_state_dict(snapshot(source))
        assert_same_state(before, snapshot(target))


def test_load_state_dict_takes_a_full_ring_at_any_position_and_an_empty_pool():
    for position in range(4):
        source = make_pool(4, prioritized=True)
        source.append_sessions(**tagged(range(4)))
        if position:
            source.append_sessions(**tagged(range(4, 4 + position)))
        assert len(source) == 4 and source.state_dict()["position"] == position
        copy = make_pool(4, prioritized=True)
        copy.load_state_dict(snapshot(source))
        assert_same_state(snapshot(source), snapshot(copy))
    empty = make_pool(4, prioritized=True)
    copy = make_pool(4, prioritized=True)
    copy.append_sessions(**tagged([1, 2]))
    copy.load_state_dict(snapshot(empty))
    assert len(copy) == 0 and float(copy._tree.total) == 0


BAD_UPDATES = {
    "nan": ([0, 1], [float("nan"), 1.0], ValueError,
            r"priorities must be finite and >= 0, got \[nan\]"),
    "inf": ([2], [float("inf")], ValueError, r"priorities must be finite and >= 0, got \[inf\]"),
    "negative": ([0, 2], [-1.0, 2.0], ValueError,
                 r"priorities must be finite and >= 0, got \[-1\.0\]"),
    "fewer priorities": ([0, 1], [5.0], ValueError,
                         r"indices \[k\] and priorities \[k\] of the same length, got indices "
                         r"\(2,\) torch.int64 and priorities \(1,\)"),
    "more priorities": ([0, 1], [5.0, 6.0, 7.0], ValueError, r"of the same length"),
    "two-dimensional": ([[0, 1]], [[5.0, 6.0]], ValueError, r"of the same length"),
    "float indices": ([0.0, 1.7], [5.0, 6.0], ValueError, r"integer indices"),
    "index of an empty slot": ([1, 3], [5.0, 6.0], IndexError,
                               r"indices must be in \[0, 3\), got values from 1 to 3"),
    "negative index": ([-1], [5.0], IndexError, r"in \[0, 3\), got values from -1 to -1"),
}


@pytest.mark.parametrize("case", BAD_UPDATES)
def test_refused_update_priorities_changes_nothing(case):
    indices, priorities, error, message = BAD_UPDATES[case]
    pool = make_pool(4, prioritized=True, alpha=0.5)
    pool.append_sessions(**tagged([0, 1, 2]))
    pool.update_priorities(torch.tensor([0, 1]), torch.tensor([4.0, 0.25]))
    before = snapshot(pool)
    probabilities = pool._tree[torch.arange(3)] / pool._tree.total
    with pytest.raises(error, match=r"update_priorities: .*" + message):
        pool.update_priorities(torch.tensor(indices), torch.tensor(priorities))
    assert_same_state(before, snapshot(pool))
    assert torch.equal(pool._tree[torch.arange(3)] / pool._tree.total, probabilities)
    assert pool.state_dict()["max_priority"] == 4.0
    pool.append_sessions(**tagged([3]))          # a new session gets the largest priority
    assert pool._tree[torch.tensor([3])].item() == 4.0 ** 0.5
    torch.testing.assert_close(pool._tree[torch.arange(4)] / pool._tree.total,
                               torch.tensor([2.0, 0.5, 1.0, 2.0], dtype=torch.float64) / 5.5)
