"""Boolean reasoning: a recurrent agent learns to ask before it answers (n-step Q-learning).

AgentNet's first experiment. Each session hides three boolean attributes; the true category
is ``X1 xor X2`` (see :class:`agentnet.environment.BooleanReasoning`). Questions cost a
little, a right answer earns +1 and a wrong one -1. The observation shows only the answer to
the last question, so combining X1 and X2 takes memory: a GRU agent learns to ask both and
answer right (the best policy earns 0.8 per episode); the same agent without memory cannot
beat about 0.35, and acting at random loses.

Every iteration plays a fresh batch of whole episodes and takes one n-step Q-learning step
on them (whole episodes, rather than CartPole's ``continue_from``, so that backpropagation
through time reaches back to each episode's first question: memory carried over from a
previous batch is detached). The trained agents are evaluated greedily on fresh episodes.

    python -m agentnet.examples.boolean_reasoning
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import cast

import torch

import agentnet
from agentnet import layers as L
from agentnet.display import TrainingLog
from agentnet.environment import BooleanReasoning, play_episodes
from agentnet.examples import make_config
from agentnet.learning import generic, qlearning
from agentnet.memory import GRUCell, torch_init
from agentnet.resolver import EpsilonGreedyResolver
from agentnet.utils import LinearSchedule, RunDirectory


@dataclass
class Config:
    total_steps: int = 600_000
    """environment ticks to train each agent for (sessions x ticks)"""
    n_sessions: int = 64
    """episodes played in parallel, one batch per iteration"""
    max_steps: int = 5
    """actions per episode before the time-out (a time-out counts as a wrong answer)"""
    question_cost: float = 0.1
    """what each question costs"""
    n_steps: int = 5
    """the n of n-step Q-learning (5 covers a whole episode: Monte-Carlo references)"""
    gamma: float = 0.99
    """discount"""
    learning_rate: float = 3e-3
    """Adam's step size"""
    epsilon_start: float = 1.0
    """exploration at the start ..."""
    epsilon_end: float = 0.05
    """... decaying linearly to this value ..."""
    epsilon_decay_fraction: float = 0.6
    """... over this fraction of training"""
    hidden: int = 32
    """units of the GRU (or of the dense layer replacing it without memory)"""
    memory: bool = True
    """the agent's hidden layer is a GRU; False: a dense layer that sees one tick only"""
    compare: bool = True
    """also train the memoryless agent and evaluate a random one, for comparison"""
    seed: int = 0
    """seeds torch and the environments"""
    eval_episodes: int = 1000
    """greedy episodes played after training"""


def build_agent(config: Config, n_attributes: int = 3) -> agentnet.Agent:
    """Observation -> GRU (or dense) -> Q-values of the questions and answers."""
    observation = L.InputLayer((None, 2 * n_attributes), name="observation")
    hidden: L.Layer
    memory: dict[L.Layer, L.Layer]
    if config.memory:
        prev_hidden = L.InputLayer((None, config.hidden), name="prev_gru")
        hidden = GRUCell(prev_hidden, observation, weight_init=torch_init(config.hidden),
                         name="gru")
        memory = {hidden: prev_hidden}
    else:
        hidden, memory = L.DenseLayer(observation, config.hidden, name="hidden"), {}
    qvalues = L.DenseLayer(hidden, n_attributes + 2, nonlinearity=None, name="q")
    resolver = EpsilonGreedyResolver(qvalues, epsilon=config.epsilon_start, name="resolver")
    return agentnet.Agent(observation, memory, policy_estimators=qvalues,
                          action_layers=resolver)


def make_env(config: Config, batch_size: int, seed: int) -> BooleanReasoning:
    return BooleanReasoning(batch_size=batch_size, max_steps=config.max_steps,
                            question_cost=config.question_cost, seed=seed)


def train(config: Config, verbose: bool,
          run: RunDirectory | None = None) -> tuple[agentnet.Agent, TrainingLog]:
    """Train one agent (with or without memory, as ``config.memory`` says), saving it in
    ``run`` now and then if given."""
    run = run if run is not None else RunDirectory.open(None, __name__, config)
    torch.manual_seed(config.seed)
    agent = build_agent(config)
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate)
    env = make_env(config, config.n_sessions, config.seed)
    log = TrainingLog(config.total_steps, verbose=verbose)
    resolver = cast(EpsilonGreedyResolver, agent.action_layers[0])
    epsilon = LinearSchedule(config.epsilon_start, config.epsilon_end,
                             config.epsilon_decay_fraction * config.total_steps)
    length = config.max_steps + 1  # a whole episode and the dead tick that ends it
    steps_per_iteration = config.n_sessions * length
    with run:
        for step in range(0, config.total_steps, steps_per_iteration):
            # --- schedule (plumbing): exploration decays linearly ---
            resolver.epsilon.set_value(epsilon(step))
            # --- the algorithm: play whole episodes, then one n-step Q-learning step on them ---
            sessions = agent.get_sessions(env, length)
            elementwise = qlearning.get_elementwise_objective(
                sessions.policy, sessions.actions, sessions.rewards, sessions.is_alive,
                n_steps=config.n_steps, gamma_or_gammas=config.gamma)
            loss = generic.masked_mean(elementwise, sessions.is_alive)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            # --- bookkeeping ---
            returns = (sessions.rewards * sessions.is_alive).sum(dim=1).detach()
            log.record(step + steps_per_iteration, returns, loss=loss.item(),
                       epsilon=resolver.epsilon.get_value())
            if run.due(step + steps_per_iteration, 50 * steps_per_iteration):
                run.save(step + steps_per_iteration, agent, None, log)
    return agent, log


def evaluate(agent: agentnet.Agent, config: Config, **flags) -> torch.Tensor:
    """Returns of ``eval_episodes`` fresh episodes (``greedy=True`` for greedy play)."""
    env = make_env(config, config.eval_episodes, config.seed + 1)
    return play_episodes(agent, env, config.eval_episodes, config.max_steps + 1,
                         **flags).returns


def main(total_steps: int | None = None, verbose: bool = True, out_dir: str | None = None,
         resume: bool = False, overwrite: bool = False, **overrides) -> dict:
    """Train the GRU agent (and, with ``compare``, the memoryless one); return
    ``{"eval_mean_return", "memoryless_eval_mean_return", "random_eval_mean_return", "log",
    "agent"}`` (the comparisons are None without ``compare`` or without ``memory``; the
    arguments: :mod:`agentnet.examples`).

    With ``out_dir`` the agent, its settings, curves and plot are saved there while it
    trains and at the end; it cannot be resumed (the checkpoint keeps only the agent)."""
    config = make_config(Config, total_steps, overrides)
    run = RunDirectory.open(out_dir, __name__, config, resume, overwrite, resumable=False)
    agent, log = train(config, verbose, run)
    returns = evaluate(agent, config, greedy=True)
    log.finish(returns, "greedy evaluation, " + ("with memory" if config.memory else "memoryless"))
    result = {"eval_mean_return": returns.mean().item(), "log": log, "agent": agent,
              "memoryless_eval_mean_return": None, "random_eval_mean_return": None}
    if config.compare and config.memory:
        # --- the baselines: the same recipe without memory, and uniformly random actions ---
        memoryless, _ = train(dataclasses.replace(config, memory=False), verbose=False)
        result["memoryless_eval_mean_return"] = evaluate(memoryless, config,
                                                         greedy=True).mean().item()
        # a random agent: the memoryless one exploring on every tick
        cast(EpsilonGreedyResolver, memoryless.action_layers[0]).epsilon.set_value(1.0)
        result["random_eval_mean_return"] = evaluate(memoryless, config).mean().item()
        if verbose:
            print(f"mean return: with memory {result['eval_mean_return']:.3f}, memoryless "
                  f"{result['memoryless_eval_mean_return']:.3f}, random "
                  f"{result['random_eval_mean_return']:.3f} (best possible "
                  f"{1 - 2 * config.question_cost:.2f})")
    return result


if __name__ == "__main__":
    main()
