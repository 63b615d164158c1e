"""EnvPool against malformed returns from reset and step: a failure of that environment, the same
in both vectorizations (nothing broadcast, nothing raised out of interact); and a mistake shared
by every environment (actions that do not fit the action space) raises at once, saying so."""
from __future__ import annotations

import multiprocessing
import warnings

import numpy as np
import pytest
import torch
from fake_envs import (
    AlwaysCrashing,
    CrashingEnv,
    DictCountingEnv,
    EnvCrash,
    agent_with_memory,
)

from agentnet import Agent
from agentnet import layers as L
from agentnet.driving import EnvOutputError, EnvPool
from agentnet.resolver import GreedyResolver

FIELDS = ("observations", "actions", "rewards", "is_alive", "is_truncated", "memory")
# environment (tag) -> (the tick = the step of its first episode where it returns the thing,
# what it returns in place of the observation or the reward)
MALFORMED = {
    1: (2, "observation", np.float32(7.0)),                  # a scalar: was broadcast
    2: (3, "observation", np.array([7.0], np.float32)),      # (1,): was broadcast
    3: (4, "observation", np.zeros(5, np.float32)),          # (5,): raised out of interact
    4: (5, "reward", np.array([1.0])),                       # an array: raised out of interact
}
EXPECTED_TEXT = {
    1: "step returned a malformed observation: got a numpy float32 scalar 7.0 (shape ()), "
       "expected an array of shape (3,) and dtype float32",
    2: "step returned a malformed observation: got an array of shape (1,) and dtype float32, "
       "expected an array of shape (3,) and dtype float32",
    3: "step returned a malformed observation: got an array of shape (5,) and dtype float32, "
       "expected an array of shape (3,) and dtype float32",
    4: "step returned a malformed reward: got an array of shape (1,) and dtype float64, "
       "expected a real scalar",
}


class MalformedEnv(CrashingEnv):
    """CrashingEnv that never crashes; environments 1-4 return MALFORMED in their first
    episode (recreated ones have other tags)."""

    def __init__(self):
        super().__init__(p=0.0)

    def step(self, action):
        bad = MALFORMED.get(self.tag)
        result = list(super().step(action))
        if bad is not None and self.episode == 0 and self.t == bad[0] + 1:
            result[0 if bad[1] == "observation" else 1] = bad[2]
        return tuple(result)


def collect(pool, calls=(7, 13)):
    parts = [pool.interact(n) for n in calls]
    data = {field: torch.cat([getattr(p, field) for p in parts], dim=1) for field in FIELDS[:-1]}
    data["memory"] = torch.cat([next(iter(p.agent_states.values())) for p in parts], dim=1)
    return data


@pytest.fixture(scope="module")
def clean():
    agent, _ = agent_with_memory()
    with EnvPool(agent, lambda: CrashingEnv(p=0.0), n_envs=5, seed=0) as pool:
        return collect(pool)


@pytest.fixture(scope="module")
def sync_run():
    return run("sync")


def run(vectorization):
    agent, _ = agent_with_memory()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with EnvPool(agent, MalformedEnv, n_envs=5, vectorization=vectorization,
                     seed=0) as pool:
            data = collect(pool)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    return pool, data, messages


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_a_malformed_return_is_a_failure_of_that_environment_alone(vectorization, clean,
                                                                   request):
    if vectorization == "sync":
        pool, data, messages = request.getfixturevalue("sync_run")
    else:
        pool, data, messages = run(vectorization)
    assert [(f.env_index, f.tick, f.phase) for f in pool.failures] == [
        (tag, tick, "step") for tag, (tick, _, _) in MALFORMED.items()]
    assert all(type(f.error) is EnvOutputError for f in pool.failures)
    assert pool.restarts == 4 and pool.env_restarts == [0, 1, 1, 1, 1]
    # the warning names the environment (index, factory), the field, what came and what fits
    assert len(messages) == 4
    for message, (tag, (tick, _, _)) in zip(messages, MALFORMED.items()):
        assert message.startswith(f"EnvPool: environment {tag} failed in step at tick {tick} "
                                  f"(EnvOutputError: {EXPECTED_TEXT[tag]}")
        assert "recreated it from its factory MalformedEnv (restart 1 of this environment" in (
            message)
    # environment 0's row is the clean run's, bit for bit
    for field in FIELDS:
        assert torch.equal(data[field][0], clean[field][0]), field
    for tag, (tick, _, _) in MALFORMED.items():
        # the others' rows: the clean run's up to the failure (the agent acted on the same)
        for field in ("observations", "actions", "memory"):
            assert torch.equal(data[field][tag, :tick + 1], clean[field][tag, :tick + 1])
        for field in ("rewards", "is_alive", "is_truncated"):
            assert torch.equal(data[field][tag, :tick], clean[field][tag, :tick])
        # then aborted: reward 0, no bootstrap, the dead tick shows what was acted on (nothing
        # broadcast into it), and a new environment starts at t = 0
        assert data["rewards"][tag, tick] == 0 and not data["is_truncated"][tag, tick]
        assert data["is_alive"][tag, tick] and not data["is_alive"][tag, tick + 1]
        assert torch.equal(data["observations"][tag, tick + 1], data["observations"][tag, tick])
        assert data["observations"][tag, tick + 1, 0] == tick
        assert data["observations"][tag, tick + 2, 0] == 0 and data["is_alive"][tag, tick + 2]
        assert data["observations"][tag, tick + 2, 2] != tag
    if vectorization == "async":   # one behaviour: the same sessions as "sync", row for row
        sync_data = request.getfixturevalue("sync_run")[1]
        for field in FIELDS:
            assert torch.equal(data[field], sync_data[field]), field
        assert multiprocessing.active_children() == []


class VariantEnv(CrashingEnv):
    """Environment 1 returns ``step`` changed by ``change`` at step ``at`` of its first
    episode (tick ``at``: 0 is stepped on the pool's general path, 2 on its fast path)."""

    def __init__(self, change, at):
        super().__init__(p=0.0)
        self.change, self.at = change, at

    def step(self, action):
        result = super().step(action)
        if self.tag == 1 and self.episode == 0 and self.t == self.at + 1:
            return self.change(result)
        return result


def replace(index, function):
    return lambda result: tuple(function(v) if k == index else v for k, v in enumerate(result))


# (change, None if it fits, else what the error says)
VARIANTS = {
    "observation list": (replace(0, lambda o: o.tolist()), None),
    "observation float64": (replace(0, lambda o: o.astype(np.float64)), None),
    "observation int64": (replace(0, lambda o: o.astype(np.int64)), None),
    "observation float": (replace(0, lambda o: float(o[1])),
                          "malformed observation: got a Python float 0.0 (shape ()), "
                          "expected an array of shape (3,)"),
    "observation (1, 3)": (replace(0, lambda o: o[None]),
                           "malformed observation: got an array of shape (1, 3) and dtype "
                           "float32, expected an array of shape (3,)"),
    "observation (3, 1)": (replace(0, lambda o: o[:, None]),
                           "malformed observation: got an array of shape (3, 1) and dtype "
                           "float32, expected an array of shape (3,)"),
    "observation (3, 3)": (replace(0, lambda o: np.stack([o] * 3)),
                           "malformed observation: got an array of shape (3, 3) and dtype "
                           "float32, expected an array of shape (3,)"),
    "observation complex": (replace(0, lambda o: o.astype(np.complex64)),
                            "malformed observation: got an array of shape (3,) and dtype "
                            "complex64, expected an array of shape (3,) and dtype float32 (or "
                            "another dtype of kind bool or integer or float)"),
    "observation str": (replace(0, lambda o: o.astype(str)), "and dtype <U"),
    "reward 0-d": (replace(1, np.array), None),
    "reward float32": (replace(1, np.float32), None),
    "reward 1-element": (replace(1, lambda r: np.array([r])),
                         "malformed reward: got an array of shape (1,) and dtype float64"),
    "reward str": (replace(1, str), "malformed reward: got an object of type str, '"),
    "reward None": (replace(1, lambda r: None), "malformed reward: got None, expected a real"),
    "reward complex": (replace(1, complex), "malformed reward: got a Python complex"),
    "terminated 0-d": (replace(2, np.array), None),
    "terminated int": (replace(2, int), "malformed terminated: got a Python int 0 (shape ()), "
                                        "expected a bool"),
    "truncated numpy": (replace(3, np.bool_), None),
    "truncated (1,)": (replace(3, lambda b: np.array([b])),
                       "malformed truncated: got an array of shape (1,) and dtype bool"),
    "info None": (replace(4, lambda i: None), "malformed info: got None, expected a dict"),
    "info list": (replace(4, lambda i: []), "malformed info: got a list of 0, [], expected"),
    "four values": (lambda result: result[:4], "step returned a tuple of 4"),
}


@pytest.mark.parametrize("at", [0, 2])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_field_is_checked_and_what_fits_is_kept(variant, at, clean):
    change, text = VARIANTS[variant]
    agent, _ = agent_with_memory()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with EnvPool(agent, lambda: VariantEnv(change, at), n_envs=5, seed=0) as pool:
            data = collect(pool)
    if text is None:
        assert pool.failures == [] and not caught
        for field in FIELDS:
            assert torch.equal(data[field], clean[field]), field
        return
    assert [(f.env_index, f.tick, f.phase) for f in pool.failures] == [(1, at, "step")]
    assert text in str(pool.failures[0].error)
    assert len(caught) == 1 and text in str(caught[0].message)
    assert "environment 1 failed in step" in str(caught[0].message)
    keep = [0, 2, 3, 4]
    for field in FIELDS:
        assert torch.equal(data[field][keep], clean[field][keep]), field
    assert data["rewards"][1, at] == 0 and not data["is_alive"][1, at + 1]


class ShortEnv(CrashingEnv):
    """Episodes of 3 steps; ``reset_change`` changes the unseeded resets' returns."""

    def __init__(self, reset_change=None):
        super().__init__(p=0.0)
        self.reset_change = reset_change

    def length(self, episode=None):
        return 3

    def reset(self, *, seed=None, options=None):
        result = super().reset(seed=seed, options=options)
        return result if seed is not None else self.reset_change(result)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Gymnasium's log of a worker's error
@pytest.mark.parametrize("vectorization,mode", [
    ("sync", "NextStep"), ("sync", "SameStep"), ("sync", "Disabled"), ("async", "NextStep")])
def test_a_malformed_reset_is_a_failing_reset(vectorization, mode):
    change = replace(0, lambda o: o[:2])
    agent, _ = agent_with_memory()
    with pytest.warns(RuntimeWarning, match=r"failed in reset at tick \d+ \(EnvOutputError: "
                                            r"reset returned a malformed observation: got an "
                                            r"array of shape \(2,\)"):
        with EnvPool(agent, lambda: ShortEnv(change), n_envs=1, seed=0,
                     vectorization=vectorization, autoreset_mode=mode) as pool:
            s = pool.interact(8)
    # every episode ends as scheduled, and the next one starts in a new environment
    assert s.is_alive[0].tolist() == [True, True, True, False] * 2
    assert s.observations[0, :, 0].tolist() == [0, 1, 2, 3] * 2
    assert pool.restarts == 2 and [f.phase for f in pool.failures] == ["reset"] * 2
    assert all(type(f.error) is EnvOutputError for f in pool.failures)


class DictEnv(DictCountingEnv):
    """DictCountingEnv whose environment 1 observes ``signal`` as a scalar at its first step."""

    def step(self, action):
        result = super().step(action)
        if self.tag == 1 and self.episode == 0 and self.t == 1:
            return ({"position": result[0]["position"], "signal": np.float32(1)}, *result[1:])
        return result


def test_a_malformed_part_of_a_dict_observation_is_named():
    position = L.InputLayer((None, 2), name="position")
    signal = L.InputLayer((None, 2), name="signal")
    q = L.LambdaLayer([position, signal], lambda p, s: torch.cat(
        [1 - p[:, :1] % 2, p[:, :1] % 2], 1) + 0 * s[:, :1], name="q")
    agent = Agent([position, signal], policy_estimators=q, action_layers=GreedyResolver(q))
    runs = []
    for factory in (DictCountingEnv, DictEnv):
        with pytest.warns(RuntimeWarning) if factory is DictEnv else warnings.catch_warnings():
            with EnvPool(agent, factory, n_envs=3, seed=0) as pool:
                runs.append((pool, pool.interact(8)))
    (_, clean), (pool, s) = runs
    assert [(f.env_index, f.tick) for f in pool.failures] == [(1, 0)]
    assert str(pool.failures[0].error).startswith(
        "step returned a malformed observation 'signal': got a numpy float32 scalar 1.0 "
        "(shape ()), expected an array of shape (2,)")
    for part, clean_part in zip(s.observations, clean.observations):
        assert torch.equal(part[[0, 2]], clean_part[[0, 2]])
    assert torch.equal(s.rewards[[0, 2]], clean.rewards[[0, 2]])
    assert not s.is_alive[1, 1] and torch.equal(s.observations[1][1, 1], s.observations[1][1, 0])


def two_action_agent():
    obs = L.InputLayer((None, 4), name="observation")
    q = L.DenseLayer(obs, num_units=2, nonlinearity=None, name="q")
    return Agent(obs, policy_estimators=q, action_layers=[GreedyResolver(q), GreedyResolver(q)])


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_actions_that_fit_no_environment_raise_at_once_saying_so(vectorization):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with EnvPool(two_action_agent(), "CartPole-v1", n_envs=3, seed=0,
                     vectorization=vectorization) as pool:
            with pytest.raises(RuntimeError) as raised:
                pool.interact(10)
    message = str(raised.value)
    assert message.startswith("EnvPool: all 3 environments failed in step at tick 0 with the "
                              "same ")
    assert "none was recreated" in message
    assert ("Likely cause: the actions given do not fit the action space (environment 0 was "
            "given a tuple of 2, (np.int64(") in message
    assert "the action space is Discrete(2); the agent has 2 action layers" in message
    assert raised.value.__cause__ is pool.failures[0].error
    assert str(raised.value.__cause__) in message              # the environment's own error
    assert pool.restarts == 0 and pool.ticks == 0
    assert [(f.env_index, f.tick, f.phase) for f in pool.failures] == [
        (i, 0, "step") for i in range(3)]
    assert not [w for w in caught if "recreated" in str(w.message)]
    assert multiprocessing.active_children() == []


def test_one_environment_failing_again_and_again_says_what_it_was_given():
    with pytest.warns(RuntimeWarning, match="recreated it from its factory CartPole-v1"):
        with EnvPool(two_action_agent(), "CartPole-v1", n_envs=1, seed=0,
                     max_consecutive_failures=2) as pool:
            with pytest.raises(RuntimeError, match=r"environment 0 failed 2 times in a row .*"
                                                   r"last in step: AssertionError: .* Likely "
                                                   r"cause: the actions given do not fit the "
                                                   r"action space \(environment 0 was given a "
                                                   r"tuple of 2, .*Discrete\(2\)"):
                pool.interact(10)
    assert pool.restarts == 1


def test_every_environment_failing_on_its_own_does_not_blame_the_actions():
    agent, _ = agent_with_memory()
    with EnvPool(agent, AlwaysCrashing, n_envs=2, seed=0) as pool:
        with pytest.raises(RuntimeError, match=r"all 2 environments failed in step at tick 0 "
                                               r"with the same EnvCrash.*EnvCrash: always\. The "
                                               r"action fits the action space \(environment 0 "
                                               r"was given a numpy int64 scalar"):
            pool.interact(5)
    assert pool.restarts == 0 and len(pool.failures) == 2


class MixedCrashes(CrashingEnv):
    """At tick 1 environment 0 raises EnvCrash, environment 1 KeyError."""

    def step(self, action):
        if self.episode == 0 and self.t == 1 and self.tag in (0, 1):
            raise (EnvCrash if self.tag == 0 else KeyError)("tick 1")
        return super().step(action)


def test_different_failures_on_one_tick_are_faults_of_each():
    agent, _ = agent_with_memory()
    with pytest.warns(RuntimeWarning, match="recreated"):
        with EnvPool(agent, lambda: MixedCrashes(p=0.0), n_envs=2, seed=0) as pool:
            s = pool.interact(6)
    assert [(f.env_index, f.tick) for f in pool.failures] == [(0, 1), (1, 1)]
    assert pool.restarts == 2
    assert s.is_alive.tolist() == [[True, True, False, True, True, True]] * 2
