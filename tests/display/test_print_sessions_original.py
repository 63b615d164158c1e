"""``print_sessions`` called the original AgentNet's way, ``print_sessions(policy_seq,
action_seq, reward_seq, action_names=None, is_alive_seq=None, reference_policy_seq=None,
pattern=..., plot_policy=True, hidden_seq=None, legend=True, qv_line_width=...)``: the
expected texts are worked out by hand from the original's ``agentnet/display/sessions.py``
(every session; ``session # i``; the pattern per tick with ``end=' '``; ``print('\\n')`` at
the first dead tick, else ``reached max session length``)."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from agentnet.display import print_sessions

#: policy [batch=2, tick=3, action=2], values that print exactly in float32
Q = np.array([[[0.5, 2.0], [0.25, -1.0], [1.5, 0.5]],
              [[3.0, 1.0], [0.0, 4.0], [2.5, 2.0]]], dtype=np.float32)
A = np.array([[1, 0, 1], [0, 1, 0]])
R = np.array([[1.0, 0.0, -1.0], [2.0, 0.5, 0.0]], dtype=np.float32)
ALIVE = np.array([[1, 1, 0], [1, 1, 1]], dtype=np.uint8)

EXPECTED = ("session # 0\n"
            " right(qv = 2.0) -> 1.0 |  left(qv = 0.25) -> 0.0 | \n\n"
            "session # 1\n"
            " left(qv = 3.0) -> 2.0 |  right(qv = 4.0) -> 0.5 |  left(qv = 2.5) -> 0.0 | "
            "reached max session length\n")


def printed(capsys, *args, **kwargs):
    print_sessions(*args, **kwargs)
    return capsys.readouterr().out


def test_every_session_up_to_its_first_dead_tick(capsys):
    assert printed(capsys, Q, A, R, ["left", "right"], ALIVE, plot_policy=False) == EXPECTED


def test_torch_tensors_print_as_numpy_arrays(capsys):
    out = printed(capsys, torch.from_numpy(Q), torch.from_numpy(A), torch.from_numpy(R),
                  action_names=["left", "right"], is_alive_seq=torch.from_numpy(ALIVE).bool(),
                  plot_policy=False)
    assert out == EXPECTED
    # every argument by keyword, as the original's signature names them
    out = printed(capsys, policy_seq=torch.from_numpy(Q), action_seq=torch.from_numpy(A),
                  reward_seq=torch.from_numpy(R), action_names=["left", "right"],
                  is_alive_seq=ALIVE, plot_policy=False)
    assert out == EXPECTED


def test_values_print_as_str_format_prints_numpy_scalars(capsys):
    # float32 0.1 goes through float(): the original printed Theano's float32 this way too
    q = np.array([[[0.1, 0.2]]], dtype=np.float32)
    out = printed(capsys, q, np.array([[0]]), np.array([[1]]), plot_policy=False)
    assert out == (f"session # 0\n action #0(qv = {float(np.float32(0.1))}) -> 1 | "
                   f"reached max session length\n")
    assert out == printed(capsys, torch.tensor(q), torch.tensor([[0]]), torch.tensor([[1]]),
                          plot_policy=False)


def test_defaults_always_alive_and_action_numbers(capsys):
    out = printed(capsys, Q[:1], A[:1], R[:1], plot_policy=False)
    assert out == ("session # 0\n action #1(qv = 2.0) -> 1.0 |  action #0(qv = 0.25) -> 0.0 |  "
                   "action #1(qv = 0.5) -> -1.0 | reached max session length\n")


def test_one_session_without_a_batch_axis(capsys):
    assert printed(capsys, Q[1], A[1], R[1], ["left", "right"], plot_policy=False) == \
        EXPECTED[EXPECTED.index("session # 1"):].replace("# 1", "# 0")


@pytest.mark.parametrize("full", [True, False])
def test_reference_of_the_chosen_actions(capsys, full):
    reference = 10 * Q if full else np.take_along_axis(10 * Q, A[..., None], 2)[..., 0]
    out = printed(capsys, Q[:1], A[:1], R[:1], ["left", "right"], ALIVE[:1],
                  reference_policy_seq=reference[:1], plot_policy=False)
    assert out == ("session # 0\n right(qv = 2.0) -> 1.0(ref = 20.0) |  "
                   "left(qv = 0.25) -> 0.0(ref = 2.5) | \n\n")


def test_pattern(capsys):
    out = printed(capsys, Q[:1], A[:1], R[:1], ["l", "r"], ALIVE[:1], None,
                  "{action}:{reward};", False)
    assert out == "session # 0\nr:1.0; l:0.0; \n\n"


def test_plot_policy_draws_a_figure_per_session(capsys):
    plt = pytest.importorskip("matplotlib.pyplot")
    plt.close("all")
    hidden = np.zeros((2, 3, 4), dtype=np.float32)
    try:
        print_sessions(Q, A, R, ["left", "right"], ALIVE, hidden_seq=hidden,
                       qv_line_width=lambda action_i: 1 + action_i)
        assert capsys.readouterr().out == EXPECTED
        assert len(plt.get_fignums()) == 2
        ax = plt.figure(1).axes[0]
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels[:6] == ["left", "right", "hidden #0", "hidden #1", "hidden #2",
                              "hidden #3"]
        assert [line.get_linewidth() for line in ax.get_lines()[:2]] == [1, 2]
        assert ax.get_legend() is not None
        # session 0 stopped at tick 2 (dead): its chosen actions up to there are dots
        np.testing.assert_array_equal(ax.collections[0].get_offsets(), [[0, 2.0], [1, 0.25]])
    finally:
        plt.close("all")


def test_plot_without_matplotlib_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"agentnet-torch\[plot\].*plot_policy=False"):
        print_sessions(Q, A, R)


def test_mismatched_shapes_name_the_argument():
    with pytest.raises(ValueError, match=r"policy_seq must be \[batch, tick, action\], like "
                                         r"action_seq \(2, 2\), got shape \(2, 3, 2\)"):
        print_sessions(Q, A[:, :2], R[:, :2], plot_policy=False)
    with pytest.raises(ValueError, match=r"reward_seq must be \[batch, tick\].*\(2, 3, 1\)"):
        print_sessions(Q, A, R[..., None], plot_policy=False)
    with pytest.raises(ValueError, match=r"is_alive_seq must be \[batch, tick\].*\(1, 3\)"):
        print_sessions(Q, A, R, is_alive_seq=ALIVE[:1], plot_policy=False)
    with pytest.raises(ValueError, match=r"action_seq is one session \[tick\] \(shape \(3,\)\), "
                                         r"so policy_seq must be \[tick, action\].*\(2, 3, 2\)"):
        print_sessions(Q, A[0], R[0], plot_policy=False)
    with pytest.raises(ValueError, match=r"action_seq must be integer action ids.*float32"):
        print_sessions(Q, A.astype(np.float32), R, plot_policy=False)
    with pytest.raises(ValueError, match=r"action_seq holds actions 1 to 2, but policy_seq "
                                         r"\(2, 3, 2\) has 2"):
        print_sessions(Q, A + 1, R, plot_policy=False)
    with pytest.raises(ValueError, match=r"action_names has 1 name\(s\), but action_seq holds "
                                         r"2 actions"):
        print_sessions(Q, A, R, ["left"], plot_policy=False)
    with pytest.raises(ValueError, match=r"policy_seq must be a numeric array.*tuple"):
        print_sessions(("a", "b"), A, R, plot_policy=False)


def test_the_two_calls_do_not_mix():
    with pytest.raises(TypeError, match=r"hide_dead= belongs to agentnet's call"):
        print_sessions(Q, A, R, hide_dead=True)
    with pytest.raises(TypeError, match=r"did you mean 'plot_policy'"):
        print_sessions(Q, A, R, plot_polcy=False)
    with pytest.raises(TypeError, match=r"print_sessions needs sessions"):
        print_sessions()
    with pytest.raises(TypeError, match=r"sessions must be Sessions.*got dict"):
        print_sessions({"rewards": R})
    with pytest.raises(TypeError, match=r"too many positional arguments"):
        print_sessions(Q, A, R, None, None, None, "", False, None, True, print, "extra")


def test_sessions_with_the_original_arguments_are_refused():
    from agentnet.agent import Sessions

    sessions = Sessions(env_states=[], observations=torch.zeros(2, 3, 1), agent_states={},
                        actions=torch.from_numpy(A), policy=torch.from_numpy(Q),
                        rewards=torch.from_numpy(R), is_alive=torch.from_numpy(ALIVE).bool(),
                        is_truncated=torch.zeros(2, 3, dtype=torch.bool), next_env_states=[],
                        next_observations=[])
    with pytest.raises(TypeError, match=r"is_alive_seq= belongs to the original's call"):
        print_sessions(sessions, is_alive_seq=ALIVE)
    with pytest.raises(TypeError, match=r"batch_index must be an int, got Tensor"):
        print_sessions(sessions, torch.from_numpy(A), torch.from_numpy(R))
