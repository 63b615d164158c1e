"""Recurrent PPO on POPGym: chunks replayed from the memory that entered them see what the
whole session saw, POPGym's spaces are flattened as documented,
bad settings and tasks are refused, and it learns a task that needs memory."""
from __future__ import annotations

import math

import gymnasium
import numpy as np
import pytest
import torch

pytest.importorskip("popgym", reason="the POPGym tasks need popgym: pip install popgym")

from agentnet.driving import EnvPool  # noqa: E402
from agentnet.environment import SessionBatchEnvironment  # noqa: E402
from agentnet.examples import popgym_recurrent_ppo as recipe  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_short_run_returns_the_documented_results():
    result = recipe.main(total_steps=256, n_envs=2, session_length=32, chunk_length=8,
                         minibatch_chunks=4, n_epochs=2, eval_episodes=2, verbose=False)
    assert set(result) == {"eval_mean_return", "log", "agent", "updates"}
    assert -1.0 <= result["eval_mean_return"] <= 1.0
    # rollouts of 2 x 33, then 2 x 32 ticks: 4 rollouts, 8 chunks each, 2 epochs of 2 steps
    assert result["updates"] == 4 * 2 * 2
    assert result["log"].metrics["loss"].steps[-1] == 2 * 33 + 3 * 2 * 32
    assert result["log"].metrics["eval_return"].last == pytest.approx(result["eval_mean_return"])


@pytest.mark.parametrize("memory", ["gru", "lstm", "window", "attention", "stack"])
def test_chunks_replayed_from_their_entering_memories_see_what_the_whole_session_saw(memory):
    """The example trains on chunks, each replayed from the memory that entered its first
    tick: their policy outputs must be those of the whole sessions played live, across the
    episode ends and restarts inside them."""
    torch.manual_seed(0)
    config = recipe.Config(env_id="popgym-PositionOnlyCartPoleEasy-v0", memory=memory)
    agent = recipe.build_agent(config)
    with EnvPool(agent, lambda: recipe.make_gymnasium_env(config), n_envs=3, seed=0) as envs:
        envs.interact(5)  # not from zeros
        sessions = envs.interact(48)
    alive = sessions.is_alive
    assert ((~alive[:, :-1]) & alive[:, 1:]).any()  # episodes restart inside the rows
    entering = sessions.entering_agent_states()
    chunk = 8
    cut = [x.reshape(-1, chunk, *x.shape[2:]) for x in
           (sessions.observations, sessions.actions, sessions.rewards, alive,
            sessions.is_truncated)]
    with torch.no_grad():
        replay = agent.get_sessions(SessionBatchEnvironment(
            *cut, preceding_memories=[m.reshape(-1, chunk, *m.shape[2:])[:, 0]
                                      for m in entering]), experience_replay=True)
    log_policy, values = (p.reshape(3, 48, *p.shape[2:]) for p in replay.policy)
    recorded_log_policy, recorded_values = sessions.policy
    torch.testing.assert_close(log_policy[alive], recorded_log_policy[alive])
    torch.testing.assert_close(values[alive], recorded_values[alive])
    log_probs, entropy, _ = recipe.policy_terms(agent, replay)
    probs = recorded_log_policy.exp().reshape(-1, chunk, 2)
    torch.testing.assert_close(log_probs, probs.gather(-1, cut[1][..., None])[..., 0].log())
    torch.testing.assert_close(entropy, -(probs * probs.log()).sum(-1))


def test_popgym_spaces_are_flattened_and_multidiscrete_actions_played_as_one():
    env = recipe.make_gymnasium_env(recipe.Config(env_id="popgym-AutoencodeEasy-v0"))
    assert env.observation_space == gymnasium.spaces.Box(0.0, 1.0, (6,), np.float32)
    observation, _ = env.reset(seed=0)
    assert observation.dtype == np.float32 and observation.sum() == 2  # two one-hot parts
    env = recipe.make_gymnasium_env(recipe.Config(env_id="popgym-BattleshipEasy-v0"))
    assert env.action_space == gymnasium.spaces.Discrete(64)
    actions = env.env  # the wrapper inside the observations' one
    assert actions.action(63).tolist() == [7, 7] and actions.action(9).tolist() == [1, 1]


def test_a_box_action_task_gets_a_gaussian_policy_and_trains():
    result = recipe.main(total_steps=200, env_id="popgym-PositionOnlyPendulumEasy-v0",
                         n_envs=2, session_length=16, chunk_length=8, eval_episodes=1,
                         verbose=False)
    (action,) = result["agent"].action_layers
    assert action.output_shape == (None, 1) and action.output_dtype == torch.float32
    assert math.isfinite(result["eval_mean_return"])


def test_agentnet_evaluate_plays_the_runs_task(tmp_path, capsys):
    from agentnet.__main__ import evaluate

    recipe.main(total_steps=128, env_id="popgym-RepeatFirstEasy-v0", n_envs=2,
                session_length=16, eval_episodes=1, verbose=False, out_dir=str(tmp_path / "run"))
    capsys.readouterr()
    evaluate(str(tmp_path / "run"), episodes=2, seed=0)
    assert "popgym-RepeatFirstEasy-v0: " in capsys.readouterr().out


class _DictActions(gymnasium.Env):
    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Dict({"a": gymnasium.spaces.Discrete(2)})


def test_tasks_it_cannot_play_are_refused_naming_the_space_or_the_id():
    gymnasium.register("AgentnetTestDictActions-v0", entry_point=_DictActions)
    try:
        with pytest.raises(ValueError, match=r"AgentnetTestDictActions-v0's action space Dict"):
            recipe.main(total_steps=64, env_id="AgentnetTestDictActions-v0", verbose=False)
    finally:
        del gymnasium.registry["AgentnetTestDictActions-v0"]
    with pytest.raises(ValueError, match="names a module that is not imported"):
        recipe.main(total_steps=64, env_id="agentnet_no_such_module:CartPole-v1",
                    verbose=False)


@pytest.mark.parametrize("field, value", [
    ("n_envs", 0), ("chunk_length", 0), ("session_length", 20), ("n_epochs", 0),
    ("minibatch_chunks", 0), ("gamma", 1.5), ("gae_lambda", -0.1), ("clip_epsilon", 0.0),
    ("learning_rate", -1e-3), ("max_grad_norm", 0.0), ("entropy_regularization", -1.0),
    ("hidden", 0), ("total_steps", 0), ("memory", "transformer")])
def test_bad_settings_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        recipe.main(verbose=False, **{field: value})


def test_it_learns_to_balance_a_cart_seen_by_its_position_only():
    """PositionOnlyCartPoleEasy: the velocities are hidden; random play earns about 0.1."""
    result = recipe.main(total_steps=50_000, env_id="popgym-PositionOnlyCartPoleEasy-v0",
                         eval_episodes=20, verbose=False)
    assert result["eval_mean_return"] > 0.8
