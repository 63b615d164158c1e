"""A stack-augmented RNN learns the language a^n b^n, or a^n b^m c^(n+m) (Joulin & Mikolov
2015, arXiv:1503.01007; the original AgentNet's notebook trained on the second).

The model reads strings ``|aaabbb|ab|aaaaabbbbb|...`` (n random in a range, concatenated)
one character at a time and predicts the next one. Most of it is a guess (after an ``a``
comes another ``a`` or the first ``b``), but after the first ``b`` the rest is determined:
exactly as many ``b`` as there were ``a``, then ``|``. Getting that part right means
counting, which a differentiable stack makes easy: push on every ``a``, pop on every ``b``,
stop when the stack is empty.

With ``language="anbmcnm"`` the strings are ``|aabbbccccc|abcc|...`` (n and m random in the
same range, independently): the number of ``b`` is a guess too, and after the first ``c`` the
rest is determined: as many ``c`` as ``a`` and ``b`` together, then ``|`` (push on every
``a`` and ``b``, pop on every ``c``).

The one-tick graph is AgentNet's: an RNN cell reads the character and the stack's top, its
new state drives the stack's push / pop / no-op and the prediction, and
:class:`agentnet.agent.Recurrence` unrolls it over the sequence. Trained by plain supervised
next-character prediction; the accuracy on the determined characters, and the fraction of
strings with all of them right, are measured for n (and m) in the training range and beyond
it, against the same RNN without a stack.

    python -m agentnet.examples.stack_rnn_anbn
    python -c "from agentnet.examples import stack_rnn_anbn as s; s.main(language='anbmcnm')"
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
from agentnet.memory import RNNCell, StackAugmentation, torch_init
from agentnet.utils import RunDirectory

# each language's characters, ``|`` (the end of a string) first; the last letter is the one
# after whose first occurrence the rest of the string is determined
LANGUAGES = {"anbn": "|ab", "anbmcnm": "|abc"}
END, A, B, C = range(4)


@dataclass
class Config:
    total_steps: int = 1_008_000
    """characters read in training (each optimizer step reads ``batch_size`` sequences of
    ``sequence_length - 1`` characters: the default is 500 steps)"""
    batch_size: int = 32
    """sequences per batch"""
    sequence_length: int = 64
    """characters per training sequence"""
    language: str = "anbn"
    """the strings: ``"anbn"`` (a^n b^n) or ``"anbmcnm"`` (a^n b^m c^(n+m))"""
    n_min: int = 1
    """smallest n (and m) seen in training ..."""
    n_max: int = 10
    """... and largest"""
    hidden: int = 32
    """units of the RNN"""
    stack_depth: int | None = None
    """the stack's depth, at least the most letters it must hold in the strings evaluated
    (2 n_max for anbn, 4 n_max for anbmcnm); None: that or 32, whichever is more"""
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
    """sequences evaluated per range of n (and m)"""


# --- the data -------------------------------------------------------------------------
def alphabet(language: str) -> str:
    """The characters of ``language``, a key of :data:`LANGUAGES`; any other raises."""
    if language not in LANGUAGES:
        raise ValueError(f"{__name__}: language={language!r} is not one of the languages "
                         f"({', '.join(map(repr, LANGUAGES))})")
    return LANGUAGES[language]


def make_sequences(batch_size: int, length: int, n_min: int, n_max: int,
                   generator: torch.Generator, language: str = "anbn") -> torch.Tensor:
    """int64 ``[batch_size, length]``: ``|`` then strings a^n b^n| (or a^n b^m c^(n+m)|)
    with n (and m) uniform in ``[n_min, n_max]``, concatenated and cut at ``length``."""
    alphabet(language)  # an unknown language raises
    rows = []
    for _ in range(batch_size):
        row = [END]
        while len(row) < length:
            n = int(torch.randint(n_min, n_max + 1, (), generator=generator))
            if language == "anbn":
                row += [A] * n + [B] * n + [END]
            else:
                m = int(torch.randint(n_min, n_max + 1, (), generator=generator))
                row += [A] * n + [B] * m + [C] * (n + m) + [END]
        rows.append(row[:length])
    return torch.tensor(rows)


def determined(sequences: torch.Tensor, language: str = "anbn") -> torch.Tensor:
    """bool ``[B, T-1]``: where the next character follows from the past, given int64
    ``[B, T]``: after any ``b`` in a^n b^n, after any ``c`` in a^n b^m c^(n+m)."""
    return sequences[:, :-1] == len(alphabet(language)) - 1


def most_counted(language: str, n_max: int) -> int:
    """The most letters to count in a string with n (and m) up to ``n_max``, so the depth the
    stack needs: the ``a`` of a^n b^n, the ``a`` and ``b`` of a^n b^m c^(n+m)."""
    return n_max if language == "anbn" else 2 * n_max


# --- the model ------------------------------------------------------------------------
def build_model(config: Config) -> tuple[L.InputLayer, L.Layer, Recurrence]:
    """``(characters [B, T, C] input, logits [B, T, C] layer, the Recurrence)``, C the
    language's characters."""
    n_chars = len(alphabet(config.language))
    depth = config.stack_depth if config.stack_depth is not None else max(
        32, most_counted(config.language, 2 * config.n_max))
    characters = L.InputLayer((None, None, n_chars), name="characters")
    # one tick: the character, the previous RNN state and the previous stack come in ...
    char = L.InputLayer((None, n_chars), name="char")
    prev_rnn = L.InputLayer((None, config.hidden), name="prev_rnn")
    inputs: list[L.Layer] = [char]
    states: dict[L.Layer, L.Layer] = {}
    if config.stack:
        prev_stack = L.InputLayer((None, depth, config.stack_width), name="prev_stack")
        inputs.append(L.SliceLayer(prev_stack, slice(0, config.stack_read), axis=1,
                                   name="stack_top"))
    # ... the RNN reads the character and the top of the stack ...
    # torch's init: from the original's +-0.01 the stack rarely learns to count past n_max
    rnn = RNNCell(prev_rnn, inputs, name="rnn", Whid=torch_init(config.hidden),
                  Winp=torch_init(config.hidden))
    states[rnn] = prev_rnn
    if config.stack:
        # ... and decides what to push and whether to push, pop or leave the stack alone
        controls = L.DenseLayer(rnn, 3, nonlinearity=functools.partial(torch.softmax, dim=-1),
                                name="stack_controls")
        item = L.DenseLayer(rnn, config.stack_width, nonlinearity=torch.tanh, name="stack_item")
        states[StackAugmentation(item, prev_stack, controls, name="stack")] = prev_stack
    logits = L.DenseLayer(rnn, n_chars, nonlinearity=None, name="next_char")
    recurrence = Recurrence(input_sequences={char: characters}, state_variables=states,
                            tracked_outputs=[logits], name="stack_rnn")
    return characters, recurrence[logits], recurrence


def predict(characters: L.InputLayer, logits: L.Layer, sequences: torch.Tensor) -> torch.Tensor:
    """float ``[B, T, C]``: the logits of each next character, given int64 ``[B, T]``."""
    n_chars = characters.output_shape[-1]
    onehot = torch.nn.functional.one_hot(sequences, n_chars).to(torch.float32)
    return L.get_output(logits, {characters: onehot})


def strings_right(sequences: torch.Tensor, correct: torch.Tensor, mask: torch.Tensor) -> float:
    """The fraction of the complete strings in int64 ``sequences [B, T]`` (those whose ``|``
    is in the sequence) with every determined character predicted right, given bool
    ``correct`` and ``mask`` ``[B, T-1]`` (whether each next character was predicted right,
    whether it is determined)."""
    ends = sequences == END
    string = ends[:, :-1].cumsum(1)       # the string of each next character: 1, 2, ...
    wrong = torch.zeros(sequences.shape, dtype=torch.long).scatter_add_(
        1, string, (mask & ~correct).long())
    ids = torch.arange(sequences.shape[1])
    complete = (ids >= 1) & (ids < ends.sum(1, keepdim=True))  # string k ends at | k + 1
    return (wrong[complete] == 0).float().mean().item()


def accuracy_on_determined(characters: L.InputLayer, logits: L.Layer, config: Config,
                           n_min: int, n_max: int, generator: torch.Generator
                           ) -> tuple[float, float]:
    """``(accuracy, strings right)`` on strings with n (and m) in ``[n_min, n_max]``, in
    sequences with room for two of the longest: the accuracy of the determined predictions,
    and the fraction of strings with all of them right."""
    longest = 2 * most_counted(config.language, n_max) + 1
    sequences = make_sequences(config.eval_sequences, 2 * longest, n_min, n_max, generator,
                               config.language)
    with torch.no_grad():
        predicted = predict(characters, logits, sequences)[:, :-1].argmax(-1)
    mask = determined(sequences, config.language)
    correct = predicted == sequences[:, 1:]
    return correct[mask].float().mean().item(), strings_right(sequences, correct, mask)


def train(config: Config, verbose: bool, run: RunDirectory | None = None) -> dict:
    """Train one model (with or without the stack, as ``config.stack`` says; saved in ``run``
    now and then if given) and measure it."""
    run = run if run is not None else RunDirectory.open(None, __name__, config)
    alphabet(config.language)  # an unknown language raises
    needed = most_counted(config.language, 2 * config.n_max)
    if config.stack and config.stack_depth is not None and config.stack_depth < needed:
        raise ValueError(f"{__name__}: stack_depth={config.stack_depth} cannot hold the "
                         f"longest strings evaluated ({needed} letters to count)")
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
                                       config.n_max, generator, config.language)
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
    train_range = accuracy_on_determined(characters, logits, config, config.n_min, n_max,
                                         evaluation)
    longer = accuracy_on_determined(characters, logits, config, n_max + 1, 2 * n_max,
                                    evaluation)
    return {
        "accuracy_train_range": train_range[0], "accuracy_longer": longer[0],
        "strings_right_train_range": train_range[1], "strings_right_longer": longer[1],
        "losses": losses, "model": recurrence,
    }


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False, **overrides) -> dict:
    """Train (and, with ``compare``, train the same RNN without a stack); return
    ``{"accuracy_train_range", "accuracy_longer", "strings_right_train_range",
    "strings_right_longer", "losses", "model", "no_stack"}``: the accuracies on the
    determined characters for n (and m) in ``[n_min, n_max]`` and in ``[n_max + 1, 2 n_max]``,
    and the fractions of strings with all of them right; ``no_stack`` holds the baseline's
    dict (None without compare; the arguments: :mod:`agentnet.examples`, ``total_steps``
    counting characters read).

    With ``out_dir`` the stack model, its settings, loss curve and plot are saved there while
    it trains and at the end; it cannot be resumed (the checkpoint keeps only the model)."""
    config = make_config(Config, total_steps, overrides)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite, resumable=False)
    result = train(config, verbose, run)
    result["no_stack"] = None
    if config.compare and config.stack:
        result["no_stack"] = train(dataclasses.replace(config, stack=False), verbose=False)
    if verbose:
        n = "n" if config.language == "anbn" else "n, m"
        for name, r in [("stack RNN", result), ("RNN alone", result["no_stack"])]:
            if r is not None:
                print(f"{name}: accuracy on the determined characters "
                      f"{r['accuracy_train_range']:.3f} for {n} in [{config.n_min}, "
                      f"{config.n_max}], {r['accuracy_longer']:.3f} for {n} in "
                      f"[{config.n_max + 1}, {2 * config.n_max}]; strings with all of them "
                      f"right {r['strings_right_train_range']:.3f} and "
                      f"{r['strings_right_longer']:.3f}")
    return result


if __name__ == "__main__":
    main()
