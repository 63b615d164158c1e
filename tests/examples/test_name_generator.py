"""The name generator example: its corpus's rules and probabilities, the encoding, the
baselines, a run saved and resumed exactly, and a fixed-seed run that learns."""
from __future__ import annotations

import math
import random

import pytest
import torch

from agentnet.examples import name_generator as ng

pytestmark = pytest.mark.usefixtures("one_thread")


# --- the corpus --------------------------------------------------------------------------
def test_the_corpus_is_seeded_distinct_and_obeys_its_rules():
    names = ng.make_corpus(500, seed=3)
    assert names == ng.make_corpus(500, seed=3) != ng.make_corpus(500, seed=4)
    assert len(set(names)) == 500
    assert all(ng.is_valid(name) and math.isfinite(ng.log_probability(name)) for name in names)
    assert all(2 <= len(name) <= 16 and name[0].isupper() for name in names)


@pytest.mark.parametrize("name, why", [
    ("ala", "no capital"), ("ALa", "capital inside"), ("Ta", "one syllable"),
    ("Talin", "front and back vowels"), ("Tatl", "no vowel after the onset"),
    ("Tanbra", "a coda before a cluster"), ("Talat", "t cannot end a name"),
    ("Xala", "x is no onset"), ("Talabatabana", "five syllables")])
def test_names_that_break_a_rule_are_invalid_and_improbable(name, why):
    assert not ng.is_valid(name), why
    assert ng.log_probability(name) == -math.inf, why


def test_log_probability_by_hand():
    # "Ala": back vowels (3/5), no first onset (0.2), a (4/7), two syllables (5/10), then a
    # single onset l without a coda (0.85 * 0.7 * 8/79), a (4/7), no final coda (0.6)
    ala = 3 / 5 * 0.2 * 4 / 7 * 5 / 10 * (0.85 * 0.7 * 8 / 79) * 4 / 7 * 0.6
    assert ng.log_probability("Ala") == pytest.approx(math.log(ala))
    # "Asha" is drawn two ways: the cluster sh (0.15 * 3/15), or the coda s and onset h
    # (0.85 * 0.3 * 1/10 * 3/79); both count
    asha = 3 / 5 * 0.2 * 4 / 7 * 5 / 10 * (0.15 * 3 / 15 + 0.85 * 0.3 * 1 / 10 * 3 / 79) \
        * 4 / 7 * 0.6
    assert ng.log_probability("Asha") == pytest.approx(math.log(asha))


def test_log_probability_matches_the_frequencies_drawn():
    rng = random.Random(0)
    draws = [ng.make_name(rng) for _ in range(50_000)]
    for name in ["Ala", "Ama", "Ele"]:
        p = math.exp(ng.log_probability(name))
        count = draws.count(name)
        assert abs(count - 50_000 * p) < 4 * math.sqrt(50_000 * p), name


# --- encoding and baselines ---------------------------------------------------------------
def test_encode_and_decode():
    tokens = " Aabl"
    ids, mask = ng.encode(["Ab", "Alba"], tokens)
    assert ids.tolist() == [[0, 1, 3, 0, 0, 0], [0, 1, 4, 3, 2, 0]]
    assert mask.tolist() == [[True, True, True, False, False], [True] * 5]
    assert ng.decode(torch.tensor([[1, 3, 0, 2], [1, 2, 4, 2]]), tokens) == ["Ab", "Aala…"]
    assert not ng.is_valid("Aala…")


def test_the_baselines_are_normalized_and_score_by_the_counts():
    tokens = " Aab"
    ids, mask = ng.encode(["Ab", "Ab", "Aa"], tokens)
    unigram, bigram = ng.bigram_log_probabilities(ids, mask, len(tokens))
    assert torch.allclose(unigram.exp().sum(1), torch.ones(4))
    assert torch.allclose(bigram.exp().sum(1), torch.ones(4))
    # after "A": a once, b twice, plus one each (add-one smoothing): b has 3 / 7
    assert bigram[1, 3].exp().item() == pytest.approx(3 / 7)
    assert ng.table_cross_entropy(bigram, ids[:1], mask[:1]) == pytest.approx(
        -(bigram[0, 1] + bigram[1, 3] + bigram[3, 0]).item() / 3)
    generated = ng.table_generate(bigram, 50, 6, tokens, torch.Generator().manual_seed(0))
    assert len(generated) == 50 and all(set(name) <= set(tokens[1:] + "…") for name in generated)


# --- runs ----------------------------------------------------------------------------------
SMALL = {"n_names": 400, "eval_every": 5, "eval_samples": 50, "hidden": 16}


def test_a_run_saves_and_a_stopped_one_resumes_exactly(tmp_path, monkeypatch):
    whole = ng.main(total_steps=6_000, verbose=False, **SMALL)

    class Crash(Exception):
        pass

    calls = {"n": 0}
    original_step = torch.optim.Adam.step

    def crashing_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 20:  # after a checkpoint (one every ~6 optimizer steps here)
            raise Crash()
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", crashing_step)
    with pytest.raises(Crash):
        ng.main(total_steps=6_000, verbose=False, out_dir=str(tmp_path), **SMALL)
    monkeypatch.setattr(torch.optim.Adam, "step", original_step)
    assert {p.name for p in tmp_path.iterdir()} >= {
        "config.json", "metrics.csv", "learning_curve.png", "checkpoint.safetensors"}
    resumed = ng.main(total_steps=6_000, verbose=False, out_dir=str(tmp_path), resume=True,
                      **SMALL)
    for (name, a), b in zip(whole["model"].training_loop.named_parameters(),
                            resumed["model"].training_loop.parameters()):
        assert torch.equal(a, b), name
    assert resumed["log"].metrics == whole["log"].metrics
    assert resumed["samples"] == whole["samples"]


def test_generate_feeds_back_its_samples():
    result = ng.main(total_steps=1_000, verbose=False, **SMALL)
    names = ng.generate(result["model"], 7, 12, result["tokens"])
    assert len(names) == 7 and all(len(name.rstrip("…")) <= 12 for name in names)
    assert set(result) >= {"heldout_cross_entropy", "generator_cross_entropy", "valid_fraction",
                           "new_fraction", "bigram_valid_fraction", "generator_new_fraction"}


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="heldout_fraction"):
        ng.main(total_steps=10, verbose=False, heldout_fraction=1.0)


def test_it_learns_the_names_statistics():
    result = ng.main(total_steps=150_000, verbose=False, seed=0, eval_every=10_000)
    heldout = result["heldout_cross_entropy"]
    assert heldout < result["unigram_cross_entropy"] - 1.0          # 3.17 nats per character
    assert heldout < result["bigram_cross_entropy"] - 0.2           # 2.30
    assert heldout < result["generator_cross_entropy"] + 0.1        # 1.97: the floor
    assert result["valid_fraction"] >= 0.8                          # the bigram's: 0.14
    assert result["bigram_valid_fraction"] <= 0.3
    assert result["new_fraction"] >= 0.65                           # the generator's: 0.90
