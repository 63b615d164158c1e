"""A character-level name generator: a GRU learns the statistics of names, then makes new ones.

AgentNet's notebook "Custom rnn with recurrence" trained one recurrent tick (the previous
character's embedding, a recurrent memory, a softmax over the next character) unrolled by
``Recurrence`` over ~8k human names, then re-wired the same tick into a second
``Recurrence`` whose sampled character is fed back as its next input, to generate names.
This file does the same, with two changes: the corpus is made here, by a seeded generator
of pronounceable names whose rules the samples can be checked against (nothing is
downloaded), and names of different lengths are masked past their end (``mask_input``)
instead of being trained on their padding.

The rules (:func:`make_name`, :func:`is_valid`): 2 to 4 syllables; the first may start with
a vowel, every later one starts with a single consonant (perhaps after a coda: ``n``, ``l``,
``r``, ``s``, ``m``) or a cluster (``br``, ``sh``, ...); all the vowels of a name are front
(``e``, ``i``) or all back (``a``, ``o``, ``u``): vowel harmony, which a model of the last
character or two cannot keep; a name may end in ``n``, ``l``, ``r`` or ``s``; the first
letter is a capital.

Measured: the held-out cross-entropy per character (names never trained on) against a
unigram and a bigram model of the training names, and against the floor, the generator's own
(:func:`log_probability`); the fraction of sampled names that obey the rules, and that are
new (not training names), against the bigram's samples and the generator's.

    python -m agentnet.examples.name_generator
"""
from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.nn.functional as F

from agentnet import layers as L
from agentnet.agent import Recurrence
from agentnet.display import TrainingLog
from agentnet.examples import make_config
from agentnet.memory import GRUCell
from agentnet.resolver import ProbabilisticResolver
from agentnet.utils import LinearSchedule, RunDirectory

_T = TypeVar("_T")

START = " "
"""the token read before a name's first character, and predicted after its last one"""


@dataclass
class Config:
    total_steps: int = 500_000
    """characters read in training (each name's characters and its end: an optimizer step
    reads ``batch_size`` names, about 230 characters; the default is about 2,100 steps)"""
    batch_size: int = 32
    """names per optimizer step"""
    n_names: int = 8000
    """distinct names in the corpus ..."""
    heldout_fraction: float = 0.1
    """... of which this fraction is held out for evaluation"""
    embedding: int = 16
    """size of a character's embedding"""
    hidden: int = 64
    """units of the GRU"""
    learning_rate: float = 3e-3
    """Adam's step size"""
    max_length: int = 20
    """characters generated at most per sampled name (one that has not ended is invalid)"""
    eval_samples: int = 1000
    """names sampled to measure validity and novelty"""
    eval_every: int = 50
    """optimizer steps between two evaluations during training (a line is printed every
    fifth)"""
    seed: int = 0
    """seeds torch and the corpus"""


# --- the corpus: pronounceable names from syllable rules --------------------------------
SINGLE_ONSETS = {"b": 6, "d": 6, "f": 2, "g": 3, "h": 3, "j": 2, "k": 5, "l": 8, "m": 8,
                 "n": 7, "p": 3, "r": 6, "s": 7, "t": 7, "v": 4, "z": 2}
CLUSTER_ONSETS = {"br": 2, "dr": 2, "kr": 1, "tr": 2, "st": 1, "sh": 3, "th": 2, "ch": 2}
VOWELS = {"front": {"e": 3, "i": 2}, "back": {"a": 4, "o": 2, "u": 1}}
HARMONY = {"front": 2, "back": 3}
MID_CODAS = {"n": 3, "l": 2, "r": 3, "s": 1, "m": 1}
FINAL_CODAS = {"n": 3, "l": 1, "r": 2, "s": 2}
SYLLABLES = {2: 5, 3: 4, 4: 1}
P_FIRST_ONSET, P_CLUSTER, P_MID_CODA, P_FINAL_CODA = 0.8, 0.15, 0.3, 0.4


def _pick(rng: random.Random, weights: Mapping[_T, int]) -> _T:
    return rng.choices(list(weights), list(weights.values()))[0]


def make_name(rng: random.Random) -> str:
    """One name drawn by the rules (the module's docstring), e.g. ``"Talan"``."""
    vowels = VOWELS[_pick(rng, HARMONY)]
    onsets = {**SINGLE_ONSETS, **CLUSTER_ONSETS}
    name = (_pick(rng, onsets) if rng.random() < P_FIRST_ONSET else "") + _pick(rng, vowels)
    for _ in range(_pick(rng, SYLLABLES) - 1):
        if rng.random() < P_CLUSTER:
            name += _pick(rng, CLUSTER_ONSETS)
        else:
            name += (_pick(rng, MID_CODAS) if rng.random() < P_MID_CODA else "")
            name += _pick(rng, SINGLE_ONSETS)
        name += _pick(rng, vowels)
    if rng.random() < P_FINAL_CODA:
        name += _pick(rng, FINAL_CODAS)
    return name.capitalize()


def make_corpus(n_names: int, seed: int) -> list[str]:
    """``n_names`` distinct names, in the order a ``random.Random(seed)`` drew them."""
    rng, names = random.Random(seed), dict[str, None]()  # a dict keeps the order drawn
    while len(names) < n_names:
        names[make_name(rng)] = None
    return list(names)


@functools.cache
def _patterns() -> list[re.Pattern[str]]:
    """One regular expression per harmony class, written from the same tables."""
    def either(options) -> str:
        return "(?:" + "|".join(sorted(options, key=len, reverse=True)) + ")"

    onset, single = either({**SINGLE_ONSETS, **CLUSTER_ONSETS}), either(SINGLE_ONSETS)
    cluster, coda, final = either(CLUSTER_ONSETS), either(MID_CODAS), either(FINAL_CODAS)
    fewest, most = min(SYLLABLES) - 1, max(SYLLABLES) - 1
    return [re.compile(f"{onset}?{either(v)}(?:(?:{coda}?{single}|{cluster}){either(v)})"
                       f"{{{fewest},{most}}}{final}?") for v in VOWELS.values()]


def is_valid(name: str) -> bool:
    """Whether ``name`` obeys the corpus's rules (every name :func:`make_name` makes does).

    >>> [is_valid(name) for name in ["Talan", "Shiberis", "Talin", "talen", "Ta", "Tatl"]]
    [True, True, False, False, False, False]
    """
    return (name == name.capitalize()
            and any(pattern.fullmatch(name.lower()) for pattern in _patterns()))


def log_probability(name: str) -> float:
    """``log P(name)`` under :func:`make_name`, summed over every way it could draw
    ``name`` (-inf for a name it never makes): the best a model of the corpus can do.

    >>> round(log_probability("Ala"), 3), log_probability("Ali")
    (-7.253, -inf)
    """
    def share(weights: Mapping[Any, int], part: object) -> float:
        return weights.get(part, 0) / sum(weights.values())

    def heads(text: str, weights: Mapping[str, int]) -> list[tuple[float, str]]:
        """``(P(part), the rest)`` for every part of ``weights`` that ``text`` starts with."""
        return [(share(weights, part), text[len(part):]) for part in weights
                if text.startswith(part)]

    def syllables(text: str, vowels: Mapping[str, int], left: int) -> float:
        """P(``text`` is ``left`` more syllables and the name's end)."""
        if left == 0:
            return (1 - P_FINAL_CODA if text == "" else P_FINAL_CODA * share(FINAL_CODAS, text))
        starts = [(P_CLUSTER * p, rest) for p, rest in heads(text, CLUSTER_ONSETS)]
        starts += [((1 - P_CLUSTER) * (1 - P_MID_CODA) * p, rest)
                   for p, rest in heads(text, SINGLE_ONSETS)]
        starts += [((1 - P_CLUSTER) * P_MID_CODA * p * q, rest2)
                   for p, rest in heads(text, MID_CODAS) for q, rest2 in heads(rest, SINGLE_ONSETS)]
        return sum(p * q * syllables(rest2, vowels, left - 1)
                   for p, rest in starts for q, rest2 in heads(rest, vowels))

    text, total = name.lower(), 0.0
    onsets = {**SINGLE_ONSETS, **CLUSTER_ONSETS}
    for harmony, vowels in VOWELS.items():
        starts = [(1 - P_FIRST_ONSET, text)] + [(P_FIRST_ONSET * p, rest)
                                                for p, rest in heads(text, onsets)]
        total += share(HARMONY, harmony) * sum(
            p * q * share(SYLLABLES, n) * syllables(rest2, vowels, n - 1)
            for p, rest in starts for q, rest2 in heads(rest, vowels) for n in SYLLABLES)
    return math.log(total) if total > 0 and name == name.capitalize() else -math.inf


# --- names as token ids -----------------------------------------------------------------
def encode(names: list[str], tokens: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)``: int64 ``[N, L + 2]``, each name between two ``START`` tokens and
    padded with ``START`` (L the longest name), and bool ``[N, L + 1]``, True where a
    token is read whose next one is part of the name (its characters and its end)."""
    index = {token: i for i, token in enumerate(tokens)}
    longest = max(map(len, names))
    ids = torch.zeros(len(names), longest + 2, dtype=torch.int64)  # START is token 0
    for row, name in enumerate(names):
        ids[row, 1:len(name) + 1] = torch.tensor([index[c] for c in name])
    lengths = torch.tensor([len(name) for name in names])
    return ids, torch.arange(longest + 1) <= lengths[:, None]


def decode(ids: torch.Tensor, tokens: str) -> list[str]:
    """The names in int64 ``[N, T]`` generated ids, each cut at its first ``START`` (a row
    that never ends is returned whole, with a trailing ``"…"`` that makes it invalid)."""
    names = []
    for row in ids.tolist():
        text = "".join(tokens[i] for i in row)
        names.append(text.split(START)[0] if START in text else text + "…")
    return names


# --- the model: one tick, unrolled twice ------------------------------------------------
@dataclass
class NameModel:
    """The one-tick graph and the Recurrence that trains it."""

    char: L.InputLayer
    """the tick's input: the previous character, int64 ``[B]``"""
    prev_gru: L.InputLayer
    """the GRU's previous state ``[B, hidden]``"""
    gru: L.Layer
    """the GRU's new state"""
    probabilities: L.Layer
    """the next character's probabilities ``[B, n_tokens]``"""
    next_char: L.Layer
    """a character sampled from them, int64 ``[B]``"""
    sequence: L.InputLayer
    """training: the characters read, int64 ``[B, T]`` ..."""
    mask: L.InputLayer
    """... which of them are part of a name, bool ``[B, T]`` ..."""
    training_loop: Recurrence
    """... and the tick unrolled over them"""
    logits: L.Layer
    """the next character's logits ``[B, T, n_tokens]``"""


def build_model(config: Config, n_tokens: int) -> NameModel:
    """The original's ``step`` and ``training_loop``."""
    # one tick: the previous character and the previous memory come in ...
    char = L.InputLayer((None,), dtype=torch.int64, name="char")
    prev_gru = L.InputLayer((None, config.hidden), name="prev_gru")
    embedding = L.EmbeddingLayer(char, n_tokens, config.embedding, name="embedding")
    # ... the memory is updated, and the next character predicted and sampled
    gru = GRUCell(prev_gru, embedding, name="gru")
    logits = L.DenseLayer(gru, n_tokens, nonlinearity=None, name="logits")
    probabilities = L.NonlinearityLayer(logits, functools.partial(torch.softmax, dim=-1),
                                        name="probabilities")
    next_char = ProbabilisticResolver(probabilities, name="next_char")
    # training: char iterates over the names read (teacher forcing), up to each one's end
    sequence = L.InputLayer((None, None), dtype=torch.int64, name="sequence")
    mask = L.InputLayer((None, None), dtype=torch.bool, name="mask")
    training_loop = Recurrence(input_sequences={char: sequence}, state_variables={gru: prev_gru},
                               tracked_outputs=[logits], mask_input=mask, name="training_loop")
    return NameModel(char, prev_gru, gru, probabilities, next_char, sequence, mask,
                     training_loop, training_loop[logits])


def generate(model: NameModel, n_names: int, max_length: int, tokens: str) -> list[str]:
    """``n_names`` names sampled from the model (torch's global RNG): the original's
    ``feedback_loop``, the same tick with its sampled character fed back as the next
    input (zeros before the first tick: ``START``, token 0)."""
    feedback_loop = Recurrence(
        state_variables={model.gru: model.prev_gru, model.next_char: model.char},
        tracked_outputs=[model.next_char], n_steps=max_length, batch_size=n_names,
        name="feedback_loop")
    with torch.no_grad():
        return decode(L.get_output(feedback_loop[model.next_char]), tokens)


def cross_entropy(model: NameModel, ids: torch.Tensor, mask: torch.Tensor) -> float:
    """The model's mean cross-entropy (nats) per predicted character of the names ``ids``."""
    with torch.no_grad():
        logits = L.get_output(model.logits, {model.sequence: ids[:, :-1], model.mask: mask})
        return F.cross_entropy(logits[mask], ids[:, 1:][mask]).item()


# --- the baselines: counts of the training names ----------------------------------------
def bigram_log_probabilities(ids: torch.Tensor, mask: torch.Tensor,
                             n_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(unigram, bigram)``: float ``[n_tokens, n_tokens]`` log-probabilities of the next
    token (a row per previous token; every row the same for the unigram), from the counts
    in the names ``ids``, add-one smoothed."""
    previous, following = ids[:, :-1][mask], ids[:, 1:][mask]
    counts = torch.ones(n_tokens, n_tokens)
    counts.index_put_((previous, following), torch.ones(len(previous)), accumulate=True)
    unigram = counts.sum(0, keepdim=True).expand(n_tokens, -1)
    bigram = counts / counts.sum(1, keepdim=True)
    return (unigram / unigram.sum(1, keepdim=True)).log(), bigram.log()


def table_cross_entropy(log_probabilities: torch.Tensor, ids: torch.Tensor,
                        mask: torch.Tensor) -> float:
    """A table's mean cross-entropy (nats) per predicted character of the names ``ids``."""
    return -log_probabilities[ids[:, :-1][mask], ids[:, 1:][mask]].mean().item()


def table_generate(log_probabilities: torch.Tensor, n_names: int, max_length: int,
                   tokens: str, generator: torch.Generator) -> list[str]:
    """``n_names`` names sampled from a table of next-token log-probabilities."""
    ids = torch.zeros(n_names, max_length + 1, dtype=torch.int64)
    for t in range(max_length):
        ids[:, t + 1] = torch.multinomial(log_probabilities[ids[:, t]].exp(), 1,
                                          generator=generator)[:, 0]
    return decode(ids[:, 1:], tokens)


def quality(names: list[str], training: set[str]) -> tuple[float, float]:
    """``(valid, new)``: the fraction of ``names`` that obey the rules, and that obey them
    and are not in ``training``."""
    valid = [is_valid(name) for name in names]
    new = [ok and name not in training for ok, name in zip(valid, names)]
    return sum(valid) / len(names), sum(new) / len(names)


# --- training -------------------------------------------------------------------------
def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False, **overrides) -> dict:
    """Train, evaluate, and return ``{"heldout_cross_entropy", "generator_cross_entropy",
    "bigram_cross_entropy", "unigram_cross_entropy", "valid_fraction", "new_fraction",
    "bigram_valid_fraction", "bigram_new_fraction", "generator_new_fraction", "samples",
    "tokens", "log", "model"}`` (the arguments: :mod:`agentnet.examples`, ``total_steps``
    counting characters read):

    - cross-entropies in nats per character (and end) of the held-out names: the model's,
      the corpus's generator's own (:func:`log_probability`: the floor), the baselines';
    - of ``eval_samples`` names sampled (``samples``), the fraction that obey the rules
      (:func:`is_valid`) and the fraction that obey them and are not training names; the
      same for the bigram's samples, and the latter for names drawn by :func:`make_name`;
    - ``model``, the :class:`NameModel`: ``generate(result["model"], 10,
      config.max_length, result["tokens"])`` samples ten more names.
    """
    config = make_config(Config, total_steps, overrides)
    if not 0 < config.heldout_fraction < 1:
        raise ValueError(f"{__name__}: heldout_fraction must be in (0, 1), got "
                         f"{config.heldout_fraction}")
    torch.manual_seed(config.seed)
    # --- the data: a seeded corpus, split into training and held-out names ---
    names = make_corpus(config.n_names, config.seed)
    n_heldout = max(1, round(config.heldout_fraction * len(names)))
    training_names, heldout_names = names[n_heldout:], names[:n_heldout]
    tokens = START + "".join(sorted(set("".join(names))))
    train_ids, train_mask = encode(training_names, tokens)
    heldout_ids, heldout_mask = encode(heldout_names, tokens)
    training = set(training_names)

    model = build_model(config, len(tokens))
    optimizer = torch.optim.Adam(model.training_loop.parameters(), lr=config.learning_rate)
    log = TrainingLog(config.total_steps, verbose=False)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite)
    step, carry = run.start(model.training_loop, optimizer, log)
    update = carry.get("update", 0)
    lr_factor = LinearSchedule(1.0, 0.0, config.total_steps)
    with run:
        while step < config.total_steps:
            for group in optimizer.param_groups:  # the step size anneals linearly to 0
                group["lr"] = config.learning_rate * lr_factor(step)
            # --- the algorithm: next-character cross-entropy on a batch of names ---
            rows = torch.randint(len(training_names), (config.batch_size,))
            mask = train_mask[rows]
            length = int(mask.sum(1).max())                # the batch's longest name, + 1
            ids, mask = train_ids[rows, :length + 1], mask[:, :length]
            logits = L.get_output(model.logits, {model.sequence: ids[:, :-1], model.mask: mask})
            loss = F.cross_entropy(logits[mask], ids[:, 1:][mask])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.training_loop.parameters(), 1.0)
            optimizer.step()
            # --- bookkeeping ---
            update += 1
            step += int(mask.sum())
            log.metrics.log(step, {"loss": loss.item()})
            if update % config.eval_every == 0 or step >= config.total_steps:
                heldout = cross_entropy(model, heldout_ids, heldout_mask)
                with torch.random.fork_rng(devices=[]):  # training draws the same batches
                    torch.manual_seed(config.seed + update)
                    samples = generate(model, config.eval_samples, config.max_length, tokens)
                valid, _ = quality(samples, training)
                log.metrics.log(step, {"heldout_cross_entropy": heldout,
                                       "valid_fraction": valid})
                if verbose and (update % (5 * config.eval_every) == 0
                                or step >= config.total_steps):
                    print(f"step {step:>9,} ({100 * step // config.total_steps:3d}%)  loss "
                          f"{loss.item():.3f}  held-out {heldout:.3f}  valid {valid:.3f}  "
                          f"{' '.join(samples[:5])}", flush=True)
            if run.due(step, config.eval_every * config.batch_size * 8):
                run.save(step, model.training_loop, optimizer, log, {"update": update})

    # --- evaluation: held-out names, and names sampled from the model and the bigram,
    # against the generator of the corpus itself (the best any model can do) ---
    unigram, bigram = bigram_log_probabilities(train_ids, train_mask, len(tokens))
    torch.manual_seed(config.seed + 1)
    samples = generate(model, config.eval_samples, config.max_length, tokens)
    bigram_samples = table_generate(bigram, config.eval_samples, config.max_length, tokens,
                                    torch.Generator().manual_seed(config.seed + 1))
    rng = random.Random(config.seed + 1)
    generator_samples = [make_name(rng) for _ in range(config.eval_samples)]
    valid, new = quality(samples, training)
    bigram_valid, bigram_new = quality(bigram_samples, training)
    heldout_characters = int(heldout_mask.sum())
    result = {
        "heldout_cross_entropy": cross_entropy(model, heldout_ids, heldout_mask),
        "unigram_cross_entropy": table_cross_entropy(unigram, heldout_ids, heldout_mask),
        "bigram_cross_entropy": table_cross_entropy(bigram, heldout_ids, heldout_mask),
        "generator_cross_entropy": -sum(map(log_probability, heldout_names))
        / heldout_characters,
        "valid_fraction": valid, "new_fraction": new,
        "bigram_valid_fraction": bigram_valid, "bigram_new_fraction": bigram_new,
        "generator_new_fraction": quality(generator_samples, training)[1],
        "samples": samples, "tokens": tokens, "log": log, "model": model,
    }
    if verbose:
        print(f"held-out cross-entropy per character: {result['heldout_cross_entropy']:.3f} "
              f"nats (the corpus's generator {result['generator_cross_entropy']:.3f}, "
              f"bigram {result['bigram_cross_entropy']:.3f}, unigram "
              f"{result['unigram_cross_entropy']:.3f})")
        print(f"sampled names that obey the rules: {valid:.3f} (bigram {bigram_valid:.3f}); "
              f"that obey them and are new: {new:.3f} (bigram {bigram_new:.3f}, the "
              f"corpus's generator {result['generator_new_fraction']:.3f})")
        print("sampled:", ", ".join(samples[:12]))
    return result


if __name__ == "__main__":
    main()
