"""EnvPool's "sync" backend steps the environments directly (no vector environment around
them): its sessions must equal what Gymnasium's own vector environments give, tick by tick."""
from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest
import torch
from fake_envs import CountingEnv, check_against_reference, counting_agent
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from agentnet import Agent
from agentnet import layers as L
from agentnet.driving import EnvPool
from agentnet.memory import GRUCell, torch_init
from agentnet.resolver import EpsilonGreedyResolver, GreedyResolver

# CartPole cut at 15 steps: episodes end in terminations and in truncations
SHORT_CARTPOLE = functools.partial(gym.make, "CartPole-v1", max_episode_steps=15)


def gru_agent():
    torch.manual_seed(0)
    obs = L.InputLayer((None, 4), name="observation")
    prev = L.InputLayer((None, 8), name="prev_gru")
    gru = GRUCell(prev, obs, weight_init=torch_init(8), name="gru")
    q = L.DenseLayer(gru, num_units=2, nonlinearity=None, name="q")
    return Agent(obs, {gru: prev}, q, EpsilonGreedyResolver(q, epsilon=0.3)), gru


def play(mode, calls=(37, 1, 62), n_envs=4):
    agent, gru = gru_agent()
    torch.manual_seed(1)
    with EnvPool(agent, SHORT_CARTPOLE, n_envs=n_envs, autoreset_mode=mode, seed=0) as pool:
        parts = [pool.interact(n) for n in calls]
    joined = {field: torch.cat([getattr(p, field) for p in parts], dim=1)
              for field in ("observations", "actions", "policy", "rewards", "is_alive",
                            "is_truncated")}
    joined["memory"] = torch.cat([p.agent_states[gru] for p in parts], dim=1)
    joined["next"] = parts[-1].next_observations[0]
    return agent, joined


def test_next_step_sessions_equal_a_gymnasium_sync_vector_env_step_for_step():
    agent, s = play("NextStep")
    n, n_steps = s["rewards"].shape
    # Gymnasium's vector env steps every environment on every tick; with NEXT_STEP the step
    # after an episode's end only resets: exactly the pool's dead tick
    envs = SyncVectorEnv([SHORT_CARTPOLE] * n, autoreset_mode=AutoresetMode.NEXT_STEP)
    observation, _ = envs.reset(seed=0)
    seen = [torch.as_tensor(observation)]
    ended = []
    for t in range(n_steps):
        observation, reward, terminated, truncated, _ = envs.step(s["actions"][:, t].numpy())
        seen.append(torch.as_tensor(observation))
        assert torch.equal(s["rewards"][:, t], torch.as_tensor(reward, dtype=torch.float32))
        assert torch.equal(s["is_truncated"][:, t], torch.as_tensor(truncated & ~terminated))
        ended.append(torch.as_tensor(terminated | truncated))
    envs.close()
    assert torch.equal(torch.stack(seen[:-1], 1), s["observations"])
    assert torch.equal(seen[-1], s["next"])
    assert s["is_alive"][:, 0].all()
    assert torch.equal(s["is_alive"][:, 1:], ~torch.stack(ended[:-1], 1))
    assert (~s["is_alive"]).sum() >= 10 and s["is_truncated"].any()   # both kinds of ends
    # the policy and memory: the agent's own tick from zeros at every episode start
    memory = torch.zeros(n, 8)
    starts = s["is_alive"] & ~torch.cat([torch.zeros(n, 1, dtype=torch.bool),
                                         s["is_alive"][:, :-1]], 1)
    with torch.no_grad():
        for t in range(n_steps):
            memory = torch.where(starts[:, t, None], 0.0, memory)
            reaction = agent.get_agent_reaction([memory], s["observations"][:, t])
            memory = reaction.new_states[0]
            torch.testing.assert_close(s["policy"][:, t], reaction.policy)
            torch.testing.assert_close(s["memory"][:, t], memory)


def reference_row(mode, seed, actions):
    """One environment in a Gymnasium SyncVectorEnv of one with ``mode``, stepped on the ticks
    where the pool steps it: ``(observation, reward, is_alive, is_truncated)`` per tick."""
    env = SyncVectorEnv([SHORT_CARTPOLE], autoreset_mode=mode)
    pending = env.reset(seed=seed)[0][0]
    rows, dead, first = [], False, None
    for action in actions:
        if dead:
            rows.append((pending, 0.0, False, False))
            if mode == AutoresetMode.NEXT_STEP:
                pending = env.step(action[None])[0][0]
            else:
                pending = first
            dead = False
            continue
        observation, reward, terminated, truncated, info = env.step(action[None])
        rows.append((pending, float(reward[0]), True, bool(truncated[0] and not terminated[0])))
        pending = observation[0]
        if terminated[0] or truncated[0]:
            dead = True
            if mode == AutoresetMode.SAME_STEP:
                pending, first = info["final_obs"][0], observation[0]
            elif mode == AutoresetMode.DISABLED:
                first = env.reset()[0][0]
    env.close()
    return rows, pending


@pytest.mark.parametrize("mode", ["NextStep", "SameStep", "Disabled"])
def test_every_mode_equals_one_gymnasium_vector_env_per_environment(mode):
    _, s = play(mode)
    for row in range(s["rewards"].shape[0]):
        expected, pending = reference_row(AutoresetMode(mode), row, s["actions"][row].numpy())
        observation, reward, alive, truncated = zip(*expected)
        assert torch.equal(s["observations"][row], torch.as_tensor(np.stack(observation)))
        assert s["rewards"][row].tolist() == list(np.float32(reward))
        assert s["is_alive"][row].tolist() == list(alive)
        assert s["is_truncated"][row].tolist() == list(truncated)
        assert torch.equal(s["next"][row], torch.as_tensor(pending))


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_the_modes_give_the_same_sessions(mode):
    reference = play("Disabled")[1]
    sessions = play(mode)[1]
    for field, value in reference.items():
        assert torch.equal(sessions[field], value), field


class InPlaceCountingEnv(CountingEnv):
    """CountingEnv returning one array, overwritten by every step and reset."""

    def _observation(self):
        if not hasattr(self, "buffer"):
            self.buffer = np.zeros(4, dtype=np.float32)
        self.buffer[:] = super()._observation()
        return self.buffer


@pytest.mark.parametrize("mode", ["NextStep", "SameStep", "Disabled"])
def test_observations_are_copied_as_they_come(mode):
    agent, count, total = counting_agent()
    with EnvPool(agent, InPlaceCountingEnv, n_envs=3, autoreset_mode=mode, seed=0) as pool:
        s = pool.interact(16)
    check_against_reference(s, count, total, tags=[0, 1, 2], n_steps=16)


def test_sessions_are_ordinary_tensors_that_share_nothing_with_the_pool():
    agent, count, total = counting_agent()
    with EnvPool(agent, CountingEnv, n_envs=3, seed=0) as pool:
        first = pool.interact(7)
        tensors = [first.observations, first.actions, first.policy, first.rewards,
                   first.is_alive, first.is_truncated, *first.next_observations,
                   *first.initial_agent_states, *first.agent_states.values()]
        # collected under inference mode, returned usable in a loss
        assert not any(t.is_inference() for t in tensors)
        for t in tensors:   # scribbling over them changes nothing in the pool
            t.fill_(7)
        second = pool.interact(9)
    with EnvPool(agent, CountingEnv, n_envs=3, seed=0) as pool:
        pool.interact(7)
        clean = pool.interact(9)
    for field in ("observations", "actions", "policy", "rewards", "is_alive", "is_truncated"):
        assert torch.equal(getattr(second, field), getattr(clean, field)), field
    check_against_reference(second, count, total, tags=[0, 1, 2], n_steps=9, start=7)


def test_vector_kwargs_need_async():
    agent, _, _ = counting_agent()
    with pytest.raises(ValueError, match="vector_kwargs .*shared_memory.* need "
                                         "vectorization='async'"):
        EnvPool(agent, CountingEnv, n_envs=1, vector_kwargs={"shared_memory": False})


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_an_interrupted_call_goes_on_from_its_last_whole_tick(vectorization):
    agent, count, total = counting_agent()
    calls = {"n": 0, "fail_at": -1}

    def checked(q):
        calls["n"] += 1
        if calls["n"] == calls["fail_at"]:
            raise Interrupted
        return q

    q = L.LambdaLayer(agent.policy_layers[0], checked, name="checked")
    agent = Agent(agent.observation_layers[0], dict(zip(agent.state_layers,
                                                        agent.prev_state_layers)),
                  q, GreedyResolver(q))
    with EnvPool(agent, CountingEnv, n_envs=3, vectorization=vectorization, seed=0) as pool:
        pool.interact(5)
        calls["fail_at"] = calls["n"] + 3        # tick 7, where tag 0 starts an episode
        with pytest.raises(Interrupted):
            pool.interact(10)
        assert pool.ticks == 7
        s = pool.interact(9)
    check_against_reference(s, count, total, tags=[0, 1, 2], n_steps=9, start=7)
