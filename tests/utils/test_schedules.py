"""LinearSchedule: hand-computed values, the examples' old inline formulas bit for bit, and
arguments refused with messages that name them."""
import math

import numpy as np
import pytest

from agentnet.utils import LinearSchedule


def test_values_at_the_start_in_the_middle_at_the_end_and_after():
    epsilon = LinearSchedule(1.0, 0.2, steps=1_000)
    assert epsilon(0) == 1.0
    assert epsilon(250) == pytest.approx(0.8)
    assert epsilon(500) == pytest.approx(0.6)
    assert epsilon(1_000) == 0.2                      # exactly the end, not 0.19999999999999996
    assert epsilon(10_000) == 0.2
    rising = LinearSchedule(0.0, 4.0, steps=4)
    assert [rising(step) for step in range(6)] == [0.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    assert LinearSchedule(3.0, 3.0, steps=10)(5) == 3.0


def test_steps_need_not_be_whole_and_zero_steps_give_the_end_at_once():
    schedule = LinearSchedule(1.0, 0.0, steps=2.5)
    assert schedule(1) == pytest.approx(0.6) and schedule(2.5) == 0.0
    assert LinearSchedule(1.0, 0.05, steps=0)(0) == 0.05
    assert LinearSchedule(1.0, 0.05, steps=np.int64(10))(np.int64(5)) == pytest.approx(0.525)


def test_the_examples_old_inline_formulas_are_reproduced_bit_for_bit():
    # what the examples computed before the schedule existed; their runs are unchanged
    total, fraction, start, end = 40_000, 0.15, 1.0, 0.04
    epsilon = LinearSchedule(start, end, fraction * total)
    learning_rate = LinearSchedule(3e-3, 1e-4, total)
    lr_factor = LinearSchedule(1.0, 0.0, total)
    for step in range(0, total, 64):
        progress = min(1.0, step / (fraction * total))
        old_epsilon = start + progress * (end - start)
        assert epsilon(step) == old_epsilon or np.float32(epsilon(step)) == np.float32(
            old_epsilon)   # after the decay: exactly `end`, the same in the float32 resolver
        assert learning_rate(step) == 3e-3 + step / total * (1e-4 - 3e-3)
        assert 2e-3 * lr_factor(step) == 2e-3 * (1 - step / total)


@pytest.mark.parametrize("arguments, message", [
    ((float("nan"), 0.0, 10), "start must be a finite number, got nan"),
    ((1.0, math.inf, 10), "end must be a finite number, got inf"),
    ((True, 0.0, 10), "start must be a finite number, got True"),
    ((1.0, "0", 10), "end must be a finite number, got '0'"),
    ((1.0, 0.0, -1), "steps must be a finite number >= 0, got -1"),
    ((1.0, 0.0, float("nan")), "steps must be a finite number >= 0, got nan"),
    ((1.0, 0.0, math.inf), "steps must be a finite number >= 0, got inf"),
])
def test_bad_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=f"^LinearSchedule: {message}$"):
        LinearSchedule(*arguments)


@pytest.mark.parametrize("step", [-1, float("nan"), "3", None])
def test_a_bad_step_is_refused(step):
    with pytest.raises(ValueError, match="LinearSchedule: step must be a number >= 0, got"):
        LinearSchedule(1.0, 0.0, 10)(step)


def test_a_schedule_is_a_frozen_value_with_a_readable_repr():
    schedule = LinearSchedule(1.0, 0.05, 500.0)
    assert repr(schedule) == "LinearSchedule(start=1.0, end=0.05, steps=500.0)"
    assert schedule == LinearSchedule(1.0, 0.05, 500.0)
    with pytest.raises(AttributeError):
        schedule.end = 0.1  # type: ignore[misc]
