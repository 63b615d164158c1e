"""The records of what an agent did, and the one description of a tick's layout."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agentnet import layers as L
from agentnet.records import Reaction, Sessions, TickLayout, as_list, restart_memories


def layout(single: bool) -> tuple[TickLayout, L.InputLayer]:
    memory = L.InputLayer((None, 3), name="memory")
    return TickLayout(n_observations=1, n_actions=1, n_policy=2, state_keys=(memory,),
                      single_observation=single, single_action=single,
                      single_policy=False), memory


def test_a_tick_splits_by_role_and_builds_its_records():
    tick, memory = layout(single=True)
    outputs = ["a", "m", "p0", "p1", "x"]   # actions, states, policy, extra
    assert tick.split(outputs) == (["a"], ["m"], ["p0", "p1"], ["x"])
    assert tick.join(*tick.split(outputs)) == outputs
    assert tick.reaction(outputs[:4]) == Reaction("a", ["m"], ["p0", "p1"])
    seqs = [torch.full((2, 5), float(i)) for i in range(5)]
    observation = torch.zeros(2, 5, 4)
    s = tick.sessions([observation], seqs, seqs[0], seqs[0] > 0, seqs[0] > 0)
    assert s.observations is observation and s.actions is seqs[0]           # single: tensors
    assert s.agent_states == {memory: seqs[1]} and s.policy == seqs[2:4]   # a list of two
    assert s.additional_outputs == [seqs[4]] and s.env_states == []
    assert s.observation_list == [observation] and s.policy_list == seqs[2:4]
    forced = torch.ones(2, 5, dtype=torch.int64)
    assert tick.sessions([observation], seqs, seqs[0], seqs[0] > 0, seqs[0] > 0,
                         actions=[forced]).actions is forced


def test_lists_in_mean_lists_out():
    tick, _ = layout(single=False)
    seqs = [torch.zeros(2, 5)] * 4
    s = tick.sessions([torch.zeros(2, 5, 4)], seqs, seqs[0], seqs[0] > 0, seqs[0] > 0)
    assert isinstance(s.observations, list) and isinstance(s.actions, list)
    assert as_list(torch.zeros(1)) == [torch.zeros(1)] and as_list((1, 2)) == [1, 2]


def test_memories_restart_at_episode_starts_and_reactions_become_numpy():
    memories = [torch.ones(3, 2), torch.ones(3)]
    restarted = restart_memories(memories, torch.tensor([False, True, False]))
    assert restarted[0].tolist() == [[1, 1], [0, 0], [1, 1]]
    assert restarted[1].tolist() == [1, 0, 1]
    reaction = Reaction(torch.tensor([1]), [torch.zeros(1, 2)], [torch.ones(1)]).numpy()
    assert isinstance(reaction.actions, np.ndarray)
    assert all(isinstance(x, np.ndarray) for x in [*reaction.new_states, *reaction.policy])


def test_sessions_move_and_detach_whole():
    w = torch.ones(2, 3, requires_grad=True)
    s = Sessions([w * 1], w * 2, {}, w.long(), [w * 3], w, w > 0, w < 0, [], [])
    detached = s.detach()
    assert not detached.policy[0].requires_grad and not detached.observations.requires_grad
    assert s.to("cpu").policy[0].device.type == "cpu" and s.length == 3 and s.batch_size == 2


@settings(max_examples=30, deadline=None, derandomize=True)
@given(data=st.data())
def test_the_memory_entering_each_tick_against_a_loop(data):
    batch, length = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 8))
    alive = torch.tensor(data.draw(st.lists(st.lists(st.booleans(), min_size=length,
                                                     max_size=length),
                                            min_size=batch, max_size=batch)))
    initial = [torch.randn(batch, 2), torch.randn(batch, 3, 2)]
    after = [torch.randn(batch, length, 2), torch.randn(batch, length, 3, 2)]
    sessions = Sessions([], [], {"a": after[0], "b": after[1]}, [], [],
                        torch.zeros(batch, length), alive, torch.zeros_like(alive), [], [],
                        initial_agent_states=initial)
    entering = sessions.entering_agent_states()
    for k in range(2):
        assert entering[k].shape == after[k].shape
        for b in range(batch):
            memory = initial[k][b]
            for t in range(length):
                if t > 0:
                    memory = (torch.zeros_like(memory) if alive[b, t] and not alive[b, t - 1]
                              else after[k][b, t - 1])
                torch.testing.assert_close(entering[k][b, t], memory)
