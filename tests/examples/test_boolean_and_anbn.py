"""BooleanReasoning's rules, and the two memory examples: boolean reasoning (a GRU agent
beats a memoryless one) and the stack-augmented RNN on a^n b^n and a^n b^m c^(n+m)."""
from __future__ import annotations

import pytest
import torch

from agentnet import Agent
from agentnet import layers as L
from agentnet.environment import BooleanReasoning, play_episodes
from agentnet.examples import boolean_reasoning, stack_rnn_anbn
from agentnet.resolver import EpsilonGreedyResolver


def start(env: BooleanReasoning, attributes: list[list[bool]]):
    """A reset whose attributes are replaced by the given ones."""
    states, observations = env.reset(len(attributes))
    states[0] = torch.tensor(attributes)
    return states, observations


def step(env: BooleanReasoning, states, actions: list[int]):
    a = [torch.tensor(actions)]
    new_states, (obs,) = env.get_action_results(states, a)
    return new_states, obs, env.get_rewards(states, a, new_states)


# --- the environment's rules -----------------------------------------------------------
def test_reset_shapes_and_seed():
    env = BooleanReasoning(batch_size=5, n_attributes=4, seed=3)
    states, (obs,) = env.reset()
    assert [tuple(s.shape) for s in states] == [(5, 4), (5,), (5,)]
    assert [s.dtype for s in states] == env.state_dtypes
    assert obs.shape == (5, 8) and obs.dtype == torch.float32 and not obs.any()
    assert env.get_is_alive(states).all() and env.n_actions == 6
    again, _ = BooleanReasoning(batch_size=5, n_attributes=4, seed=3).reset()
    assert torch.equal(states[0], again[0])
    many, _ = BooleanReasoning(seed=0).reset(4000)
    assert abs(many[0].float().mean().item() - 0.5) < 0.03  # fair coins


def test_questions_reveal_the_attribute_and_cost():
    env = BooleanReasoning(question_cost=0.25)
    states, _ = start(env, [[True, False, True], [True, False, True]])
    states, obs, reward = step(env, states, [0, 1])
    assert obs.tolist() == [[1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0]]
    assert reward.tolist() == [-0.25, -0.25]
    assert env.get_is_alive(states).all() and states[1].tolist() == [1, 1]
    states, obs, reward = step(env, states, [2, 0])  # the next question replaces the answer
    assert obs.tolist() == [[0, 0, 0, 0, 1, 0], [1, 0, 0, 0, 0, 0]]


@pytest.mark.parametrize("rule, attributes, y1", [
    ("xor", [True, False, False], True), ("xor", [True, True, True], False),
    ("xor", [False, False, True], False), ("xor", [False, True, False], True),
    ("copy", [True, True, False], True), ("copy", [False, True, True], False)])
def test_answers_are_scored_by_the_rule_and_end_the_episode(rule, attributes, y1):
    env = BooleanReasoning(rule=rule, guess_reward=2.0)
    states, _ = start(env, [attributes, attributes])
    new_states, obs, reward = step(env, states, [3, 4])  # answer Y1, answer Y2
    assert reward.tolist() == ([2.0, -2.0] if y1 else [-2.0, 2.0])
    assert not env.get_is_alive(new_states).any() and not obs.any()
    assert env.get_true_category(states[0]).tolist() == [0 if y1 else 1] * 2


def test_after_the_end_nothing_happens():
    env = BooleanReasoning()
    states, _ = start(env, [[True, False, False]])
    states, _, _ = step(env, states, [3])
    for action in range(env.n_actions):
        after, obs, reward = step(env, states, [action])
        assert reward.item() == 0 and not obs.any() and not env.get_is_alive(after).any()
        assert all(torch.equal(a, b) for a, b in zip(after, states))


def test_time_out_is_a_wrong_answer():
    env = BooleanReasoning(max_steps=3, question_cost=0.1, guess_reward=1.0)
    states, _ = start(env, [[True, True, True]])
    rewards = []
    for _ in range(3):
        states, _, reward = step(env, states, [2])
        rewards.append(reward.item())
    assert rewards == pytest.approx([-0.1, -0.1, -1.1])
    assert not env.get_is_alive(states).any()
    assert not env.get_is_truncated(states).any()  # a termination: no bootstrap


def test_autoreset_starts_a_new_episode_after_the_dead_tick():
    env = BooleanReasoning(batch_size=2, autoreset=True, seed=0)
    states, _ = start(env, [[True, False, False], [False, False, False]])
    states, _, _ = step(env, states, [3, 0])          # row 0 answers, row 1 asks
    assert env.get_is_alive(states).tolist() == [False, True]
    states, obs, reward = step(env, states, [0, 0])   # row 0's dead tick: action ignored
    assert reward[0] == 0 and not obs[0].any()
    assert env.get_is_alive(states).tolist() == [True, True]
    assert states[1].tolist() == [0, 2]               # row 0 restarted, row 1 goes on


def test_the_best_policy_earns_its_documented_return():
    env = BooleanReasoning(batch_size=500, seed=1)
    states, _ = env.reset()
    total = torch.zeros(500)
    states, obs, reward = step(env, states, [0] * 500)
    x1 = obs[:, 0].bool()
    total += reward
    states, obs, reward = step(env, states, [1] * 500)
    x2 = obs[:, 2].bool()
    total += reward
    states, obs, reward = step(env, states, (3 + (~(x1 ^ x2)).long()).tolist())
    total += reward
    assert torch.allclose(total, torch.full((500,), 0.8))
    assert not env.get_is_alive(states).any()


def test_agent_sessions_on_the_environment():
    obs = L.InputLayer((None, 6), name="observation")
    q = L.DenseLayer(obs, 5, nonlinearity=None, name="q")
    agent = Agent(obs, policy_estimators=q, action_layers=EpsilonGreedyResolver(q, 1.0))
    env = BooleanReasoning(batch_size=64, seed=0)
    sessions = agent.get_sessions(env, session_length=6)
    assert sessions.rewards.shape == (64, 6) and not sessions.is_alive[:, -1].any()
    stats = play_episodes(agent, BooleanReasoning(seed=1), 64, max_steps=6)
    assert (stats.lengths >= 1).all() and (stats.lengths <= 5).all()
    assert (stats.returns >= -1.5 - 1e-5).all() and (stats.returns <= 1 + 1e-5).all()


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="n_attributes"):
        BooleanReasoning(n_attributes=1)
    with pytest.raises(ValueError, match="max_steps"):
        BooleanReasoning(max_steps=0)
    with pytest.raises(ValueError, match="rule"):
        BooleanReasoning(rule="and")


# --- boolean reasoning example -----------------------------------------------------------
def test_boolean_reasoning_smoke(one_thread):
    result = boolean_reasoning.main(total_steps=2000, verbose=False, eval_episodes=50)
    for key in ("eval_mean_return", "memoryless_eval_mean_return", "random_eval_mean_return"):
        assert isinstance(result[key], float)
    assert isinstance(result["agent"], Agent)
    result = boolean_reasoning.main(total_steps=1000, verbose=False, compare=False,
                                    memory=False)
    assert result["memoryless_eval_mean_return"] is None


def test_gru_agent_asks_before_answering_and_beats_the_memoryless_one(one_thread):
    result = boolean_reasoning.main(verbose=False, seed=0)
    assert result["eval_mean_return"] >= 0.7                    # the best policy earns 0.8
    assert result["eval_mean_return"] >= result["memoryless_eval_mean_return"] + 0.3
    assert result["memoryless_eval_mean_return"] <= 0.4         # its ceiling is about 0.35
    assert result["random_eval_mean_return"] < 0


# --- a^n b^n example ---------------------------------------------------------------------
def test_anbn_data():
    generator = torch.Generator().manual_seed(0)
    sequences = stack_rnn_anbn.make_sequences(3, 40, 2, 4, generator)
    assert sequences.shape == (3, 40)
    for row in sequences.tolist():
        text = "".join(stack_rnn_anbn.LANGUAGES["anbn"][c] for c in row)
        strings = text.split("|")
        assert strings[0] == ""
        for s in strings[1:-1]:                     # complete strings: a^n b^n, n in [2, 4]
            n = len(s) // 2
            assert s == "a" * n + "b" * n and 2 <= n <= 4
    mask = stack_rnn_anbn.determined(torch.tensor([[0, 1, 1, 2, 2, 0, 1, 2]]))
    assert mask.tolist() == [[False, False, False, True, True, False, False]]


def test_strings_right_counts_complete_strings_with_every_determined_character_right():
    sequences = torch.tensor([[0, 1, 2, 0, 1, 1, 2, 2, 0, 1, 1, 2, 2]])  # |ab|aabb|aabb
    mask = stack_rnn_anbn.determined(sequences)
    right = torch.ones(1, 12, dtype=torch.bool)

    def score(*wrong):
        correct = right.clone()
        correct[0, list(wrong)] = False
        return stack_rnn_anbn.strings_right(sequences, correct, mask)

    assert score() == 1.0
    assert score(2) == score(6) == score(7) == 0.5    # the | ending ab, a b or the | of aabb
    assert score(2, 7) == 0.0
    assert score(0, 3, 4, 5) == 1.0                   # undetermined characters do not count
    assert mask[0, 11] and score(11) == 1.0           # nor the incomplete last string


def test_anbmcnm_data():
    def text(row):
        return "".join(stack_rnn_anbn.LANGUAGES["anbmcnm"][c] for c in row)

    generator = torch.Generator().manual_seed(0)
    one = stack_rnn_anbn.make_sequences(1, 20, 2, 2, generator, "anbmcnm")
    assert text(one[0].tolist()) == "|aabbcccc|aabbcccc|a"       # n = m = 2
    sequences = stack_rnn_anbn.make_sequences(4, 60, 1, 3, generator, "anbmcnm")
    assert sequences.shape == (4, 60)
    seen = set()
    for row in sequences.tolist():
        strings = text(row).split("|")
        assert strings[0] == ""
        for s in strings[1:-1]:      # complete strings: a^n b^m c^(n+m), n, m in [1, 3]
            n, m = s.count("a"), s.count("b")
            assert s == "a" * n + "b" * m + "c" * (n + m) and 1 <= n <= 3 and 1 <= m <= 3
            seen.add((n, m))
    assert len({n for n, _ in seen}) > 1 and len({m for _, m in seen}) > 1  # drawn apart
    # |aabccc|abcc: after each c the next character is determined (c, c, |, c); after a and
    # b it is not (a or b, b or c), nor after | (unscored, as in a^n b^n)
    sequences = torch.tensor([[0, 1, 1, 2, 3, 3, 3, 0, 1, 2, 3, 3]])
    mask = stack_rnn_anbn.determined(sequences, "anbmcnm")
    assert mask.tolist() == [[False, False, False, False, True, True, True,
                              False, False, False, True]]
    assert text(sequences[:, 1:][mask].tolist()) == "cc|c"
    characters, logits, _ = stack_rnn_anbn.build_model(stack_rnn_anbn.Config(language="anbmcnm"))
    assert stack_rnn_anbn.predict(characters, logits, sequences).shape == (1, 12, 4)  # |abc


def test_unknown_language_and_shallow_stack_raise():
    with pytest.raises(ValueError, match="language='anbncn' is not one of the languages "
                                         "\\('anbn', 'anbmcnm'\\)"):
        stack_rnn_anbn.main(total_steps=2, verbose=False, language="anbncn")
    with pytest.raises(ValueError, match="language='abc'"):
        stack_rnn_anbn.make_sequences(1, 10, 1, 2, torch.Generator(), "abc")
    # a^n b^m c^(n+m) with n, m up to 2 n_max = 20 evaluated: up to 40 letters on the stack
    with pytest.raises(ValueError, match=r"stack_depth=32 cannot hold .*\(40 letters"):
        stack_rnn_anbn.main(total_steps=2, verbose=False, language="anbmcnm", stack_depth=32)


CHARACTERS_PER_UPDATE = 32 * 63  # the default batch of 32 sequences, 63 characters predicted


def test_anbn_smoke(one_thread):
    # --steps counts characters read (environment ticks), not optimizer steps: 3 updates' worth
    # and one character more takes 4 updates
    result = stack_rnn_anbn.main(total_steps=3 * CHARACTERS_PER_UPDATE + 1, verbose=False,
                                 eval_sequences=4)
    for r in (result, result["no_stack"]):
        for key in ("accuracy", "strings_right"):
            assert 0 <= r[f"{key}_train_range"] <= 1 and 0 <= r[f"{key}_longer"] <= 1
        assert len(r["losses"]) == 4
    assert stack_rnn_anbn.main(total_steps=2, verbose=False, compare=False,
                               eval_sequences=4)["no_stack"] is None


def test_stack_rnn_counts_a_n_b_n_beyond_the_training_range(one_thread):
    result = stack_rnn_anbn.main(verbose=False, seed=0)     # the documented run: 500 updates
    alone = result["no_stack"]
    assert result["accuracy_train_range"] >= 0.99 and result["strings_right_train_range"] >= 0.95
    assert alone["accuracy_train_range"] >= 0.95               # counting to 10 needs no stack
    # n in [11, 20]: predicting b after every b would score 1 - 1/15.5 = 0.935 of the
    # characters and no string; the stack ends the strings it never saw (seed 0: 1.000 of the
    # characters and of the strings), the RNN alone mostly does not (0.717, 0.094)
    assert result["accuracy_longer"] >= 0.99 and result["strings_right_longer"] >= 0.9
    assert result["accuracy_longer"] >= alone["accuracy_longer"] + 0.2
    assert alone["strings_right_longer"] <= 0.3


def test_stack_rnn_counts_a_n_b_m_c_n_plus_m_beyond_the_training_range(one_thread):
    result = stack_rnn_anbn.main(verbose=False, seed=0, language="anbmcnm")  # documented run
    alone = result["no_stack"]
    assert result["accuracy_train_range"] >= 0.99 and result["strings_right_train_range"] >= 0.95
    # n, m in [11, 20]: predicting c after every c would score 1 - 1/31 = 0.968 of the
    # characters and no string; the stack ends the strings it never saw (seed 0: 0.999 of the
    # characters, 0.963 of the strings), the RNN alone does not (0.671, 0.000)
    assert result["accuracy_longer"] >= 0.99 and result["strings_right_longer"] >= 0.8
    assert result["accuracy_longer"] >= alone["accuracy_longer"] + 0.2
    assert alone["strings_right_longer"] <= 0.2
