"""A stack-augmented RNN learns the language a^n b^n (Joulin & Mikolov 2015, arXiv:1503.01007).

The model reads strings ``|aaabbb|ab|aaaaabbbbb|...`` (n random in a range, concatenated)
one character at a time and predicts the next one. Most of it is a guess (after an ``a``
comes another ``a`` or the first ``b``), but after the first ``b`` the rest is determined:
exactly as many ``b`` as there were ``a``, then ``|``. Getting that part right means
counting, which a differentiable stack makes easy: push on every ``a``, pop on every ``b``,
stop when the stack is empty.

The one-tick graph is AgentNet's: an RNN cell reads the character and the stack's top, its
new state drives the stack's push / pop / no-op and the prediction, and
:class:`agentnet.agent.Recurrence` unrolls it over the sequence. Trained by plain supervised
next-character prediction; the accuracy on the determined characters is measured for n in
the training range and beyond it, against the same RNN without a stack.

    python -m agentnet.examples.stack_rnn_anbn
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import torch

from agentnet import layers as L
from agentnet.agent import Recurrence
from agentnet.display import TrainingLog
from agentnet.examples import make_config
from agentnet.memory import RNNCell, StackAugmentation
from agentnet.utils import RunDirectory

ALPHABET = "|ab"
END, A, B = range(3)


@dataclass
class Config:
    total_steps: int = 1_008_000
    """characters read in training (each optimizer step reads ``batch_size`` sequences of
    ``sequence_length - 1`` characters: the default is 500 steps)"""
    batch_size: int = 32
    """sequences per batch"""
    sequence_length: int = 64
    """characters per training sequence"""
    n_min: int = 1
    """shortest string a^n b^n seen in training ..."""
    n_max: int = 10
    """... and longest"""
    hidden: int = 32
    """units of the RNN"""
    stack_depth: int = 32
    """the stack's depth (at least the longest n evaluated, 2 n_max)"""
    stack_width: int = 4
    """features of one stack item"""
    stack_read: int = 2
    """how many items from the top of the stack the RNN reads (the paper reads 2)"""
    stack: bool = True
    """augment the RNN with the stack; False: the same RNN alone"""
    compare: bool = True
    """also train the RNN without a stack, for comparison"""
    learning_rate: float = 1e-2
    """Adam's step size"""
    seed: int = 0
    """seeds torch and the data"""
    eval_sequences: int = 200
    """strings evaluated per range of n"""


# --- the data -------------------------------------------------------------------------
def make_sequences(batch_size: int, length: int, n_min: int, n_max: int,
                   generator: torch.Generator) -> torch.Tensor:
    """int64 ``[batch_size, length]``: ``|`` then strings a^n b^n| with n uniform in
    ``[n_min, n_max]``, concatenated and cut at ``length``."""
    rows = []
    for _ in range(batch_size):
        row = [END]
        while len(row) < length:
            n = int(torch.randint(n_min, n_max + 1, (), generator=generator))
            row += [A] * n + [B] * n + [END]
        rows.append(row[:length])
    return torch.tensor(rows)


def determined(sequences: torch.Tensor) -> torch.Tensor:
    """bool ``[B, T-1]``: where the next character follows from the past (after any ``b``)."""
    return sequences[:, :-1] == B


# --- the model ------------------------------------------------------------------------
def build_model(config: Config) -> tuple[L.InputLayer, L.Layer, Recurrence]:
    """``(characters [B, T, 3] input, logits [B, T, 3] layer, the Recurrence)``."""
    characters = L.InputLayer((None, None, len(ALPHABET)), name="characters")
    # one tick: the character, the previous RNN state and the previous stack come in ...
    char = L.InputLayer((None, len(ALPHABET)), name="char")
    prev_rnn = L.InputLayer((None, config.hidden), name="prev_rnn")
    inputs: list[L.Layer] = [char]
    states: dict[L.Layer, L.Layer] = {}
    if config.stack:
        prev_stack = L.InputLayer((None, config.stack_depth, config.stack_width),
                                  name="prev_stack")
        inputs.append(L.SliceLayer(prev_stack, slice(0, config.stack_read), axis=1,
                                   name="stack_top"))
    # ... the RNN reads the character and the top of the stack ...
    rnn = RNNCell(prev_rnn, inputs, name="rnn")
    states[rnn] = prev_rnn
    if config.stack:
        # ... and decides what to push and whether to push, pop or leave the stack alone
        controls = L.DenseLayer(rnn, 3, nonlinearity=functools.partial(torch.softmax, dim=-1),
                                name="stack_controls")
        item = L.DenseLayer(rnn, config.stack_width, nonlinearity=torch.tanh, name="stack_item")
        states[StackAugmentation(item, prev_stack, controls, name="stack")] = prev_stack
    logits = L.DenseLayer(rnn, len(ALPHABET), nonlinearity=None, name="next_char")
    recurrence = Recurrence(input_sequences={char: characters}, state_variables=states,
                            tracked_outputs=[logits], name="stack_rnn")
    return characters, recurrence[logits], recurrence


def predict(characters: L.InputLayer, logits: L.Layer, sequences: torch.Tensor) -> torch.Tensor:
    """float ``[B, T, 3]``: the logits of each next character, given int64 ``[B, T]``."""
    onehot = torch.nn.functional.one_hot(sequences, len(ALPHABET)).to(torch.float32)
    return L.get_output(logits, {characters: onehot})


def accuracy_on_determined(characters: L.InputLayer, logits: L.Layer, config: Config,
                           n_min: int, n_max: int, generator: torch.Generator) -> float:
    """Accuracy of the determined predictions on strings with n in ``[n_min, n_max]``."""
    sequences = make_sequences(config.eval_sequences, 4 * n_max + 2, n_min, n_max, generator)
    with torch.no_grad():
        predicted = predict(characters, logits, sequences)[:, :-1].argmax(-1)
    mask = determined(sequences)
    return (predicted == sequences[:, 1:])[mask].float().mean().item()


def train(config: Config, verbose: bool, run: RunDirectory | None = None) -> dict:
    """Train one model (with or without the stack, as ``config.stack`` says; saved in ``run``
    now and then if given) and measure it."""
    run = run if run is not None else RunDirectory.open(None, __name__, config)
    if config.stack and config.stack_depth < 2 * config.n_max:
        raise ValueError(f"stack_depth={config.stack_depth} cannot hold the longest strings "
                         f"evaluated (n up to {2 * config.n_max})")
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    characters, logits, recurrence = build_model(config)
    optimizer = torch.optim.Adam(recurrence.parameters(), lr=config.learning_rate)
    characters_per_step = config.batch_size * (config.sequence_length - 1)
    n_updates = -(-config.total_steps // characters_per_step)  # at least the budget
    log = TrainingLog(config.total_steps, verbose=False)
    losses = []
    with run:
        for update in range(1, n_updates + 1):
            # --- the algorithm: predict every next character, cross-entropy ---
            sequences = make_sequences(config.batch_size, config.sequence_length, config.n_min,
                                       config.n_max, generator)
            predicted = predict(characters, logits, sequences[:, :-1])
            loss = torch.nn.functional.cross_entropy(predicted.flatten(0, 1),
                                                     sequences[:, 1:].flatten())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(recurrence.parameters(), 1.0)
            optimizer.step()
            # --- bookkeeping ---
            losses.append(loss.item())
            step = update * characters_per_step
            log.metrics.log(step, {"loss": losses[-1]})
            if verbose and update % 250 == 0:
                print(f"step {step:>9,} ({100 * update // n_updates:3d}%)  loss "
                      f"{sum(losses[-250:]) / 250:.3f}", flush=True)
            if run.due(step, 50 * characters_per_step):
                run.save(step, recurrence, None, log)
    # --- evaluation: the determined characters, within the training range and beyond ---
    evaluation = torch.Generator().manual_seed(config.seed + 1)
    n_max = config.n_max
    return {
        "accuracy_train_range": accuracy_on_determined(
            characters, logits, config, config.n_min, n_max, evaluation),
        "accuracy_longer": accuracy_on_determined(
            characters, logits, config, n_max + 1, 2 * n_max, evaluation),
        "losses": losses, "model": recurrence,
    }


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False, **overrides) -> dict:
    """Train (and, with ``compare``, train the same RNN without a stack); return
    ``{"accuracy_train_range", "accuracy_longer", "losses", "model", "no_stack"}``: the
    accuracies on the determined characters for n in ``[n_min, n_max]`` and in
    ``[n_max + 1, 2 n_max]``; ``no_stack`` holds the baseline's dict (None without compare;
    the arguments: :mod:`agentnet.examples`, ``total_steps`` counting characters read).

    With ``out_dir`` the stack model, its settings, loss curve and plot are saved there while
    it trains and at the end; it cannot be resumed (the checkpoint keeps only the model)."""
    config = make_config(Config, total_steps, overrides)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite, resumable=False)
    result = train(config, verbose, run)
    result["no_stack"] = None
    if config.compare and config.stack:
        result["no_stack"] = train(dataclasses.replace(config, stack=False), verbose=False)
    if verbose:
        for name, r in [("stack RNN", result), ("RNN alone", result["no_stack"])]:
            if r is not None:
                print(f"{name}: accuracy on the determined characters "
                      f"{r['accuracy_train_range']:.3f} for n in [{config.n_min}, "
                      f"{config.n_max}], {r['accuracy_longer']:.3f} for n in "
                      f"[{config.n_max + 1}, {2 * config.n_max}]")
    return result


if __name__ == "__main__":
    main()
