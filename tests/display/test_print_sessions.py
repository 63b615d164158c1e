import io
from dataclasses import fields

import pytest
import torch

from agentnet.agent import Sessions
from agentnet.display import format_sessions, print_sessions


def make_sessions(**given):
    """Sessions with the given fields; the others (unused by the display) are None."""
    return Sessions(**{**{f.name: None for f in fields(Sessions)}, "agent_states": {}, **given})


@pytest.fixture
def sessions():
    """Two sessions of 4 ticks; session 0 ends after tick 2 (tick 3 is dead)."""
    return make_sessions(
        observations=torch.tensor([[[0.5, -1.0], [0.25, 0.0], [1.0, 2.0], [0.0, 0.0]],
                                   [[9.0, 9.0], [8.0, 8.0], [7.0, 7.0], [6.0, 6.0]]]),
        policy=torch.tensor([[[0.1, 0.9], [0.7, 0.3], [0.6, 0.4], [0.5, 0.5]],
                             [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]]),
        actions=torch.tensor([[1, 0, 1, 0], [0, 0, 1, 1]]),
        rewards=torch.tensor([[1.0, 0.5, 2.0, 0.0], [-1.0, -1.0, -1.0, -1.0]]),
        is_alive=torch.tensor([[True, True, True, False], [True] * 4]),
        is_truncated=torch.tensor([[False, False, True, False], [False] * 4]))


def rows(text):
    """The table's tick rows, each split into whitespace-separated words."""
    return [line.split() for line in text.splitlines()[2:] if line.lstrip()[:1].isdigit()]


def test_table_has_one_row_per_tick_with_values(sessions):
    text = format_sessions(sessions, action_names=["left", "right"])
    lines = text.splitlines()
    assert lines[0] == "session 0 of 2: 4 ticks, 3 alive, return 3.50"
    assert lines[1].split() == ["tick", "observation", "policy", "action", "reward", "alive"]
    assert rows(text) == [
        ["0", "0.50", "-1.00", "0.10", "[0.90]", "right", "1.00", "yes"],
        ["1", "0.25", "0.00", "[0.70]", "0.30", "left", "0.50", "yes"],
        ["2", "1.00", "2.00", "0.60", "[0.40]", "right", "2.00", "yes,", "cut"],
        ["3", "0.00", "0.00", "[0.50]", "0.50", "left", "0.00", "no"]]


def test_columns_line_up(sessions):
    # every number is right-aligned in its slot, and the chosen action's brackets take no
    # room of their own: the decimal points of all rows sit at the same positions
    lines = format_sessions(sessions).splitlines()[2:]
    dots = {tuple(i for i, c in enumerate(line) if c == ".") for line in lines}
    assert len(dots) == 1 and len(dots.pop()) == 5  # 2 observation, 2 policy, 1 reward


def test_batch_index_selects_the_session(sessions):
    text = format_sessions(sessions, batch_index=1, precision=1)
    assert text.splitlines()[0] == "session 1 of 2: 4 ticks, 4 alive, return -4.0"
    assert rows(text)[2] == ["2", "7.0", "7.0", "5.0", "[6.0]", "1", "-1.0", "yes"]
    assert format_sessions(sessions, batch_index=-1) == format_sessions(sessions, batch_index=1)
    with pytest.raises(IndexError, match="batch_index=2 but the sessions hold 2 sessions"):
        format_sessions(sessions, batch_index=2)


def test_max_ticks_and_hide_dead(sessions):
    text = format_sessions(sessions, max_ticks=2)
    assert [r[0] for r in rows(text)] == ["0", "1"]
    assert text.splitlines()[-1] == "… 2 more ticks"

    text = format_sessions(sessions, hide_dead=True)
    assert [r[0] for r in rows(text)] == ["0", "1", "2"]
    assert text.splitlines()[-1] == "(1 dead ticks hidden)"


def test_dead_ticks_are_dimmed_when_coloured(sessions):
    lines = format_sessions(sessions, color=True).splitlines()
    assert lines[-1].startswith("\x1b[2m") and lines[-1].endswith("\x1b[0m")
    assert not any("\x1b" in line for line in lines[:-1])


def test_print_sessions_prints_to_file_without_colour_off_a_terminal(sessions, capsys):
    out = io.StringIO()
    assert print_sessions(sessions, file=out, action_names=["left", "right"]) is None
    assert out.getvalue() == format_sessions(sessions, action_names=["left", "right"]) + "\n"
    print_sessions(sessions, max_ticks=1)
    assert capsys.readouterr().out == format_sessions(sessions, max_ticks=1) + "\n"


def test_several_observations_policies_and_actions():
    s = make_sessions(
        observations=[torch.zeros(1, 2, 3), torch.tensor([[4, 5]])],
        policy=[torch.tensor([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]), torch.tensor([[0.5, 0.25]])],
        actions=[torch.tensor([[2, 0]]), torch.tensor([[1, 1]])],
        rewards=torch.zeros(1, 2), is_alive=torch.ones(1, 2))
    text = format_sessions(s, action_names=[["a", "b", "c"], None])
    assert text.splitlines()[1].split() == [
        "tick", "observation", "0", "observation", "1", "policy", "0", "policy", "1",
        "action", "0", "action", "1", "reward", "alive"]
    assert rows(text) == [
        ["0", "0.00", "0.00", "0.00", "4", "1.00", "2.00", "[3.00]", "0.50", "c", "1", "0.00",
         "yes"],
        ["1", "0.00", "0.00", "0.00", "5", "[4.00]", "5.00", "6.00", "0.25", "a", "1", "0.00",
         "yes"]]


def test_large_tensors_are_abbreviated_and_keep_the_chosen_action():
    s = make_sessions(
        observations=torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5),
        policy=torch.arange(2 * 3 * 20, dtype=torch.float32).reshape(2, 3, 20),
        actions=torch.tensor([[17, 1, 0], [0, 0, 0]]),
        rewards=torch.zeros(2, 3), is_alive=torch.ones(2, 3, dtype=torch.bool))
    text = format_sessions(s, max_values=4, precision=0)
    assert rows(text) == [
        ["0", "0", "1", "2", "…", "(4x5)", "0", "1", "…", "[17]", "(20)", "17", "0", "yes"],
        ["1", "20", "21", "22", "…", "(4x5)", "20", "[21]", "…", "(20)", "1", "0", "yes"],
        ["2", "40", "41", "42", "…", "(4x5)", "[40]", "41", "…", "(20)", "0", "0", "yes"]]


def test_agent_states_on_request():
    class Memory:
        name = "gru"

    s = make_sessions(observations=torch.zeros(1, 1, 1), policy=[],
                      actions=torch.tensor([[0]]), agent_states={Memory(): torch.ones(1, 1, 2)},
                      rewards=torch.zeros(1, 1), is_alive=torch.ones(1, 1))
    assert "gru" not in format_sessions(s)
    text = format_sessions(s, show_states=True)
    assert text.splitlines()[1].split() == ["tick", "observation", "gru", "action", "reward",
                                            "alive"]
    assert rows(text) == [["0", "0.00", "1.00", "1.00", "0", "0.00", "yes"]]


def test_shape_mistakes_name_the_field(sessions):
    sessions.policy = sessions.policy[:, :3]
    with pytest.raises(ValueError,
                       match=r"policy must be \[batch=2, time=4, \.\.\.\].*\(2, 3, 2\)"):
        format_sessions(sessions)
