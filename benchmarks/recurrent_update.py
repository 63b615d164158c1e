"""The recurrent PPO update: one minibatch step of ``popgym_recurrent_ppo`` against the same
step written by hand in PyTorch, in milliseconds.

The example's agent (``build_agent`` with RepeatPreviousEasy's sizes: 4 observation floats,
4 discrete actions, so no environment is needed): two towers, each a memory (``"gru"`` or
``"lstm"``, torch's initialisation) over the observation and a tanh layer of ``hidden``
units, then the logits (log-softmax) and the state value. A minibatch is ``chunks``
sequences of ``length`` ticks of random data with a few episode ends inside the rows (a dead
tick, the memory restarting at zeros on the alive tick after it) and a random memory
entering each sequence. Three updates are timed, all doing the example's arithmetic (clipped
PPO objective, plain squared value loss, entropy bonus, masked mean, ``backward``,
``clip_grad_norm_(0.5, foreach=True)``, Adam with ``eps=1e-5``):

- agentnet: the example's inner minibatch loop body: ``agent.get_sessions(
            SessionBatchEnvironment(..., preceding_memories=...), experience_replay=True)``,
            ``policy_terms``, ``ppo.get_elementwise_objective`` and
            ``get_elementwise_value_objective(clip_epsilon=None)``, ``generic.masked_mean``;
- hand:     plain ``torch.nn`` modules (``nn.GRUCell``/``nn.LSTMCell``, ``nn.Linear``), a
            Python loop over the ticks that runs the whole network each tick (as the agent's
            tick does), the memory restarted with ``masked_fill``, the losses written out;
- hoisted:  the same, but only the cells run in the loop; the tanh layers and heads run
            once on the stacked ``[B, T, H]`` outputs (what a careful hand-written loop does).

The hand-written networks start from the agent's weights, and their first loss and gradients
are checked against the agent's before timing. Figures are per-update milliseconds, the
median over ``--repeats`` rounds of ``--steps`` updates, the three interleaved round by round
(A B C A B C ...), one torch thread; a ratio is the median of the rounds' ratios (each round's
runs side by side). The ratios carry across machines, the times move with the load.
``--profile`` adds where the agentnet update's time goes (cProfile, by function).

    python benchmarks/recurrent_update.py
    python benchmarks/recurrent_update.py --memory gru --shapes 16x16 --hidden 128 --profile
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable

import gymnasium
import torch
from torch import nn

from agentnet.environment import SessionBatchEnvironment
from agentnet.examples import popgym_recurrent_ppo as example
from agentnet.learning import generic, ppo

N_OBS, N_ACTIONS = 4, 4  # RepeatPreviousEasy: a one-hot card of 4, play one of 4


class Batch:
    """A minibatch of random chunks, float observations ``[B, T, 4]`` and the rest ``[B, T]``,
    with ``memories`` entering tick 0 in the agent's ``agent_states`` order."""

    def __init__(self, chunks: int, length: int, hidden: int, memory: str, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.observations = torch.randn(chunks, length, N_OBS, generator=gen)
        self.actions = torch.randint(N_ACTIONS, (chunks, length), generator=gen)
        self.rewards = torch.randn(chunks, length, generator=gen)
        alive = torch.ones(chunks, length, dtype=torch.bool)
        for row in range(0, chunks, 2):  # every other row: one episode ends inside it
            alive[row, int(torch.randint(1, length - 1, (), generator=gen))] = False
        self.is_alive = alive
        self.is_truncated = torch.zeros_like(alive)
        self.old_log_probs = -torch.rand(chunks, length, generator=gen) * 2.0
        self.old_values = torch.randn(chunks, length, generator=gen)
        self.advantages = torch.randn(chunks, length, generator=gen)
        self.value_targets = self.old_values + self.advantages
        self.mask = alive.clone()
        n_memories = 2 if memory == "gru" else 4
        self.memories = [torch.randn(chunks, hidden, generator=gen) * 0.3
                         for _ in range(n_memories)]


def agentnet_loss(agent, batch: Batch, config: example.Config
                  ) -> Callable[[], torch.Tensor]:
    """The example's minibatch loss (step 4 of its loop), on ``batch``."""
    b = batch

    def loss() -> torch.Tensor:
        replay = agent.get_sessions(SessionBatchEnvironment(
            b.observations, b.actions, b.rewards, b.is_alive, b.is_truncated,
            preceding_memories=b.memories), experience_replay=True)
        log_probs, entropy, values = example.policy_terms(agent, replay)
        actor = ppo.get_elementwise_objective(log_probs, b.old_log_probs, b.advantages,
                                              clip_epsilon=config.clip_epsilon)
        critic = ppo.get_elementwise_value_objective(values, b.old_values, b.value_targets,
                                                     clip_epsilon=None)
        elementwise = (actor + config.value_weight * critic
                       - config.entropy_regularization * entropy)
        return generic.masked_mean(elementwise, b.mask)

    return loss


def make_update(model: nn.Module, loss_fn: Callable[[], torch.Tensor],
                config: example.Config) -> Callable[[], torch.Tensor]:
    """The example's gradient step on ``loss_fn()``: backward, clipping, Adam."""
    parameters = list(model.parameters())
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate, eps=1e-5)

    def update() -> torch.Tensor:
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm, foreach=True)
        optimizer.step()
        return loss.detach()

    return update


class HandTower(nn.Module):
    """A memory cell and a tanh layer."""

    def __init__(self, memory: str, hidden: int):
        super().__init__()
        self.cell = (nn.GRUCell if memory == "gru" else nn.LSTMCell)(N_OBS, hidden)
        self.hidden = nn.Linear(hidden, hidden)


class HandNet(nn.Module):
    """The agent's network as plain modules; ``hoisted`` runs only the cells tick by tick."""

    def __init__(self, memory: str, hidden: int, hoisted: bool):
        super().__init__()
        self.memory, self.hoisted = memory, hoisted
        self.actor, self.critic = HandTower(memory, hidden), HandTower(memory, hidden)
        self.logits = nn.Linear(hidden, N_ACTIONS)
        self.value = nn.Linear(hidden, 1)

    def load_agent(self, agent) -> None:
        """Copy the agent's weights (torch's names and layouts)."""
        params = dict(agent.named_parameters())
        cell = self.memory
        with torch.no_grad():
            for tower in ("actor", "critic"):
                module: HandTower = getattr(self, tower)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(module.cell, name).copy_(params[f"layers.{tower}_{cell}.{name}"])
                module.hidden.weight.copy_(params[f"layers.{tower}_hidden.weight"])
                module.hidden.bias.copy_(params[f"layers.{tower}_hidden.bias"])
            for name in ("logits", "value"):
                getattr(self, name).weight.copy_(params[f"layers.{name}.weight"])
                getattr(self, name).bias.copy_(params[f"layers.{name}.bias"])

    def forward(self, observations: torch.Tensor, is_alive: torch.Tensor,
                memories: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-policy ``[B, T, A]`` and values ``[B, T]``; ``memories`` as the agent orders
        them (GRU: actor, critic; LSTM: actor cell, actor out, critic cell, critic out)."""
        starts = (is_alive[:, 1:] & ~is_alive[:, :-1])[..., None]
        lstm = self.memory == "lstm"
        if lstm:
            c_a, h_a, c_c, h_c = memories
        else:
            h_a, h_c = memories
        actor_cell, critic_cell = self.actor.cell, self.critic.cell
        log_policies, values, actor_states, critic_states = [], [], [], []
        for t in range(observations.shape[1]):
            x = observations[:, t]
            if t > 0:  # an alive tick after a dead one: a new episode, memory from zeros
                start = starts[:, t - 1]
                h_a, h_c = h_a.masked_fill(start, 0.0), h_c.masked_fill(start, 0.0)
                if lstm:
                    c_a, c_c = c_a.masked_fill(start, 0.0), c_c.masked_fill(start, 0.0)
            if lstm:
                h_a, c_a = actor_cell(x, (h_a, c_a))
                h_c, c_c = critic_cell(x, (h_c, c_c))
            else:
                h_a, h_c = actor_cell(x, h_a), critic_cell(x, h_c)
            if self.hoisted:
                actor_states.append(h_a)
                critic_states.append(h_c)
            else:
                log_policies.append(self.actor_head(h_a))
                values.append(self.critic_head(h_c))
        if self.hoisted:
            return (self.actor_head(torch.stack(actor_states, 1)),
                    self.critic_head(torch.stack(critic_states, 1)))
        return torch.stack(log_policies, 1), torch.stack(values, 1)

    def actor_head(self, h: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.logits(torch.tanh(self.actor.hidden(h))), -1)

    def critic_head(self, h: torch.Tensor) -> torch.Tensor:
        return self.value(torch.tanh(self.critic.hidden(h)))[..., 0]


def hand_loss(net: HandNet, batch: Batch, config: example.Config
              ) -> Callable[[], torch.Tensor]:
    """The same loss written by hand."""
    b, eps = batch, config.clip_epsilon
    count = b.mask.sum().clamp(min=1)

    def loss() -> torch.Tensor:
        log_policy, values = net(b.observations, b.is_alive, b.memories)
        log_probs = log_policy.gather(-1, b.actions[..., None])[..., 0]
        entropy = -(log_policy.exp() * log_policy).sum(-1)
        ratio = torch.exp(log_probs - b.old_log_probs)
        actor = -torch.minimum(ratio * b.advantages, ratio.clamp(1 - eps, 1 + eps) * b.advantages)
        critic = (values - b.value_targets) ** 2
        elementwise = (actor + config.value_weight * critic
                       - config.entropy_regularization * entropy)
        return torch.where(b.mask, elementwise, 0.0).sum() / count

    return loss


def check_same(models: list[nn.Module], losses: list[Callable[[], torch.Tensor]]) -> None:
    """The first loss and gradient norm of every variant must match the first's (the agent's)."""
    results = []
    for model, loss_fn in zip(models, losses):
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        loss = loss.detach()
        norm = torch.linalg.vector_norm(
            torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]))
        results.append((loss.item(), norm.item()))
        model.zero_grad()
    for loss, norm in results[1:]:
        if abs(loss - results[0][0]) > 1e-4 * max(1.0, abs(results[0][0])) or (
                abs(norm - results[0][1]) > 1e-3 * max(1.0, results[0][1])):
            raise AssertionError(f"the hand-written update differs from agentnet's: "
                                 f"(loss, grad norm) {results}")


def build(memory: str, chunks: int, length: int, hidden: int
          ) -> dict[str, Callable[[], torch.Tensor]]:
    config = example.Config(memory=memory, hidden=hidden, minibatch_chunks=chunks,
                            chunk_length=length)
    torch.manual_seed(0)
    agent = example.build_agent(config, spaces=(N_OBS, gymnasium.spaces.Discrete(N_ACTIONS)))
    batch = Batch(chunks, length, hidden, memory)
    nets = [HandNet(memory, hidden, hoisted) for hoisted in (False, True)]
    for net in nets:
        net.load_agent(agent)
    models: list[nn.Module] = [agent, *nets]
    losses = [agentnet_loss(agent, batch, config), *(hand_loss(net, batch, config)
                                                      for net in nets)]
    check_same(models, losses)
    return {name: make_update(model, loss, config)
            for name, model, loss in zip(("agentnet", "hand", "hoisted"), models, losses)}


def measure(updates: dict[str, Callable[[], torch.Tensor]], repeats: int, steps: int
            ) -> dict[str, list[float]]:
    """Seconds per update of each, one entry per round, rounds interleaved."""
    for update in updates.values():  # warm-up
        for _ in range(3):
            update()
    times: dict[str, list[float]] = {name: [] for name in updates}
    for _ in range(repeats):
        for name, update in updates.items():
            start = time.perf_counter()
            for _ in range(steps):
                update()
            times[name].append((time.perf_counter() - start) / steps)
    for name, update in updates.items():
        if not torch.isfinite(update()):
            raise FloatingPointError(f"{name}: the loss is no longer finite")
    return times


def paired_ratio(a: list[float], b: list[float]) -> float:
    """The median over rounds of a/b, each round's two runs side by side (robust to load
    that changes from round to round)."""
    return statistics.median(x / y for x, y in zip(a, b))


def profile(update: Callable[[], torch.Tensor], steps: int, top: int = 25) -> None:
    """cProfile of ``steps`` agentnet updates: the functions with the most own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        update()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", nargs="+", choices=["gru", "lstm"], default=["gru", "lstm"])
    parser.add_argument("--shapes", nargs="+", default=["16x16", "16x64"],
                        help="minibatches as CHUNKSxLENGTH (sequences x ticks)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 64])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=5, help="updates per round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile the agentnet update of each setting")
    args = parser.parse_args()
    shapes = []
    for shape in args.shapes:
        chunks, _, length = shape.partition("x")
        if not (chunks.isdigit() and length.isdigit() and int(length) >= 2):
            parser.error(f"--shapes: {shape!r} is not CHUNKSxLENGTH (e.g. 16x16)")
        shapes.append((int(chunks), int(length)))
    torch.set_num_threads(args.threads)
    print("command: python " + " ".join(sys.argv))
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} "
          f"interleaved rounds of {args.steps} updates; milliseconds per update, ratios the "
          f"median of the rounds' ratios; load average {os.getloadavg()[0]:.2f}")
    print("| memory | hidden | chunks x ticks | agentnet | hand loop | hand, heads hoisted "
          "| agentnet / hand | agentnet / hoisted |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for memory in args.memory:
        for hidden in args.hidden:
            for chunks, length in shapes:
                updates = build(memory, chunks, length, hidden)
                times = measure(updates, args.repeats, args.steps)
                ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
                print(f"| {memory} | {hidden} | {chunks} x {length} | {ms['agentnet']:.2f} | "
                      f"{ms['hand']:.2f} | {ms['hoisted']:.2f} | "
                      f"{paired_ratio(times['agentnet'], times['hand']):.2f}x | "
                      f"{paired_ratio(times['agentnet'], times['hoisted']):.2f}x |", flush=True)
                if args.profile:
                    profile(updates["agentnet"], args.steps * 4)


if __name__ == "__main__":
    main()
