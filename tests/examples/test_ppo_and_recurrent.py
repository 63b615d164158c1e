"""PPO on CartPole, and CartPole with the velocities hidden: MaskedObservations, and a GRU
agent that balances from positions alone where the same agent without memory cannot.

The learning tests have fixed seeds and the examples' default budgets (seconds here); the
bar is a greedy mean return over 100 fresh episodes.
"""
from __future__ import annotations

import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.environment import BaseEnvironment, CartPole, MaskedObservations
from agentnet.examples import cartpole_ppo, cartpole_recurrent
from agentnet.memory import GRUCell
from agentnet.resolver import GreedyResolver, ProbabilisticResolver

pytestmark = pytest.mark.usefixtures("one_thread")


# --- MaskedObservations ----------------------------------------------------------------
def test_masked_observations_show_the_kept_components():
    inner = CartPole(batch_size=5, seed=0)
    env = MaskedObservations(inner, keep=(0, 2))
    assert isinstance(env, BaseEnvironment)
    assert env.observation_shapes == [(2,)] and env.observation_dtypes == [torch.float32]
    assert env.state_shapes == inner.state_shapes and env.action_shapes == inner.action_shapes
    states, (obs,) = env.reset()
    assert obs.shape == (5, 2)
    assert torch.equal(obs, states[0][:, [0, 2]].float())
    for _ in range(30):
        actions = [torch.randint(2, (5,))]
        new_states, (obs,) = env.get_action_results(states, actions)
        inner_states, (full,) = inner.get_action_results(states, actions)
        assert all(torch.equal(a, b) for a, b in zip(new_states, inner_states))
        assert torch.equal(obs, full[:, [0, 2]])
        assert torch.equal(env.get_rewards(states, actions, new_states),
                           inner.get_rewards(states, actions, new_states))
        assert torch.equal(env.get_is_alive(new_states), inner.get_is_alive(new_states))
        assert torch.equal(env.get_is_truncated(new_states), inner.get_is_truncated(new_states))
        states = new_states
    # anything else is the wrapped environment's
    assert env.batch_size == 5 and torch.equal(env.get_is_terminated(states), states[2])


def test_masked_observations_keep_order_and_other_components():
    env = MaskedObservations(CartPole(batch_size=3, seed=1), keep=(3, 1))
    states, (obs,) = env.reset()
    assert torch.equal(obs, states[0][:, [3, 1]].float())


@pytest.mark.parametrize("keep", [(), (0, 0), (4,), (-1,), (1.0,)])
def test_masked_observations_reject_bad_indices(keep):
    with pytest.raises(ValueError, match="keep must hold distinct indices in"):
        MaskedObservations(CartPole(), keep=keep)


@pytest.mark.parametrize("autoreset", [False, True])
def test_masked_observations_pass_autoreset_through(autoreset):
    env = MaskedObservations(CartPole(batch_size=8, seed=0, max_steps=20, autoreset=autoreset))
    assert env.autoreset is autoreset
    obs = L.InputLayer((None, 2), name="observation")
    q = L.DenseLayer(obs, 2, nonlinearity=None, name="q")
    agent = Agent(obs, policy_estimators=q, action_layers=GreedyResolver(q))
    with torch.no_grad():
        sessions = agent.get_sessions(env, session_length=50)
    alive = sessions.is_alive
    restarts = alive[:, 1:] & ~alive[:, :-1]
    assert bool(restarts.any()) is autoreset
    assert not alive.all(dim=1).any()  # every row ended an episode within 50 ticks


def test_gru_memory_restarts_on_a_masked_autoreset_environment():
    env = MaskedObservations(CartPole(batch_size=16, seed=0, max_steps=10, autoreset=True))
    obs = L.InputLayer((None, 2), name="observation")
    prev = L.InputLayer((None, 8), name="prev")
    gru = GRUCell(prev, obs, name="gru")
    q = L.DenseLayer(gru, 2, nonlinearity=None, name="q")
    probs = L.NonlinearityLayer(q, lambda x: torch.softmax(x, -1), name="probs")
    agent = Agent(obs, {gru: prev}, probs, ProbabilisticResolver(probs))
    with torch.no_grad():
        sessions = agent.get_sessions(env, session_length=30)
        alive, memory = sessions.is_alive, sessions.agent_states[gru]
        rows, ticks = torch.nonzero(alive[:, 1:] & ~alive[:, :-1], as_tuple=True)
        ticks = ticks + 1
        assert len(rows) > 0
        fresh = L.get_output(gru, {prev: torch.zeros(len(rows), 8),
                                   obs: sessions.observations[rows, ticks]})
    torch.testing.assert_close(memory[rows, ticks], fresh)


# --- the examples run and return what they promise ------------------------------------
def check_result(result: dict, total_steps: int) -> None:
    assert set(result) >= {"eval_mean_return", "log", "agent"}
    assert isinstance(result["eval_mean_return"], float)
    assert 0 < result["eval_mean_return"] <= 500
    assert isinstance(result["log"], TrainingLog) and isinstance(result["agent"], Agent)
    assert result["log"].metrics["loss"].steps[-1] == total_steps


def test_ppo_example_runs():
    steps = 2 * 32 * 64  # two rollouts
    check_result(cartpole_ppo.main(total_steps=steps, verbose=False), steps)


@pytest.mark.parametrize("memory", [True, False])
def test_recurrent_example_runs(memory):
    steps = 2 * 32 * 32  # two iterations
    result = cartpole_recurrent.main(total_steps=steps, verbose=False, memory=memory)
    check_result(result, steps)
    assert bool(result["agent"].state_layers) is memory
    assert result["agent"].observation_layers[0].output_shape == (None, 2)


class Crash(Exception):
    pass


@pytest.mark.parametrize("example, iterations, updates_per_iteration, checkpoint", [
    (cartpole_ppo, 15, 4 * 4, 10),         # epochs x minibatches; a checkpoint every 10
    (cartpole_recurrent, 60, 1, 50),       # one update per iteration; a checkpoint every 50
])
def test_a_stopped_run_resumes_exactly(example, iterations, updates_per_iteration, checkpoint,
                                       tmp_path, monkeypatch):
    config = example.Config()
    steps = iterations * config.n_sessions * config.session_length
    whole = example.main(total_steps=steps, verbose=False)["agent"]
    calls = {"n": 0, "crash_at": (checkpoint + 2) * updates_per_iteration + 1}
    original_step = torch.optim.Adam.step

    def counting_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == calls["crash_at"]:  # past a checkpoint, before the next
            raise Crash()
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counting_step)
    with pytest.raises(Crash):
        example.main(total_steps=steps, verbose=False, out_dir=tmp_path)
    calls["n"] = 0
    resumed = example.main(total_steps=steps, verbose=False, out_dir=tmp_path, resume=True)
    # from the checkpoint on, plus load_checkpoint's trial step on a copy of the optimizer
    assert calls["n"] == (iterations - checkpoint) * updates_per_iteration + 1
    for (name, a), b in zip(whole.named_parameters(), resumed["agent"].parameters()):
        assert torch.equal(a, b), name


# --- they learn ---------------------------------------------------------------------------
def test_ppo_learns_cartpole():
    result = cartpole_ppo.main(verbose=False)
    assert result["eval_mean_return"] >= 195, result["log"]


def test_recurrent_agent_balances_without_seeing_velocities():
    result = cartpole_recurrent.main(verbose=False)
    assert result["eval_mean_return"] >= 400, result["log"]


def test_the_same_agent_without_memory_cannot():
    result = cartpole_recurrent.main(verbose=False, memory=False)
    assert result["eval_mean_return"] < 150, result["log"]
