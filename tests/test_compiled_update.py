"""compile_loss: updates with compiled losses give the eager updates' parameters (DQN's and
SAC's, from the examples, on small nets), it refuses what would silently recompile or fail,
and the examples' ``compile`` switch trains through ``main()``.

Each compiled loss costs seconds of compiling (cached on disk by inductor across runs), so
the nets and batches are small and the updates few."""
from __future__ import annotations

import math

import pytest
import torch

from agentnet.environment import SessionPoolEnvironment
from agentnet.examples import gym_cartpole_dqn, pendulum_sac
from agentnet.target_network import TargetNetwork
from agentnet.utils import CompiledLoss, compile_loss

pytestmark = pytest.mark.usefixtures("one_thread")

#: Adam moves each parameter by about lr (1e-3 here) per update whatever the gradient's scale,
#: so a wrong step (a batch, a random draw or a step size that differs) shows up at ~1e-3; the
#: compiled update differs from the eager one only by float32 rounding (fused kernels sum in
#: another order), measured below 1e-9 (DQN) and 2e-8 (SAC) after these updates: the
#: tolerance is 0.1% of one Adam step, some 100x above the rounding
ATOL, RTOL = 1e-6, 1e-5
UPDATES = 3
#: inductor's Python wrapper: the same kernels and numbers, compiled 2-3x sooner
FAST_COMPILE = {"cpp_wrapper": False}


def fill(pool: SessionPoolEnvironment, n: int, obs_dim: int, actions: torch.Tensor) -> None:
    """``n`` random sessions with some episode ends in them."""
    length = pool.session_length
    alive = torch.rand(n, length).cumsum(1) < 0.8 * length
    pool.append_sessions(torch.randn(n, length, obs_dim), actions, torch.randn(n, length),
                         alive, torch.zeros(n, length, dtype=torch.bool))


def assert_same_parameters(eager: torch.nn.Module, compiled: torch.nn.Module) -> None:
    for (name, a), (_, b) in zip(eager.named_parameters(), compiled.named_parameters(),
                                 strict=True):
        torch.testing.assert_close(b, a, atol=ATOL, rtol=RTOL, msg=lambda m, n=name: f"{n}: {m}")


def dqn(config: gym_cartpole_dqn.Config, compiled: bool):
    """The example's agent, its optimizer and its gradient step (the loop's body)."""
    torch.manual_seed(0)
    agent = gym_cartpole_dqn.build_agent(config)
    target = TargetNetwork(agent.policy_layers[0])
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, fused=True)
    loss_fn = gym_cartpole_dqn.make_replay_loss(agent, target, config)
    if compiled:
        loss_fn = compile_loss(loss_fn, options=FAST_COMPILE)

    def step(*tensors):
        loss = loss_fn(*tensors)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach()

    return agent, loss_fn, step


def test_compiled_dqn_updates_give_the_eager_parameters():
    config = gym_cartpole_dqn.Config(hidden1=16, hidden2=8, batch_sessions=4, session_length=4,
                                     n_steps=2, learning_rate=1e-3)
    pool = SessionPoolEnvironment(16, config.session_length,
                                  observation_specs=[((4,), torch.float32)],
                                  action_specs=[((), torch.int64)])
    fill(pool, 16, 4, torch.randint(2, (16, config.session_length)))
    batches = [pool.sample_session_batch(config.batch_sessions) for _ in range(UPDATES)]
    results = []
    for compiled in (False, True):
        agent, loss_fn, step = dqn(config, compiled)
        losses = torch.stack([step(b.observations, b.actions, b.rewards, b.is_alive,
                                   b.is_truncated, b.preceding_memories) for b in batches])
        results.append((agent, losses))
        if compiled:
            assert isinstance(loss_fn, CompiledLoss) and loss_fn.calls == UPDATES
    (eager, eager_losses), (compiled_agent, compiled_losses) = results
    torch.testing.assert_close(compiled_losses, eager_losses, atol=ATOL, rtol=RTOL)
    assert_same_parameters(eager, compiled_agent)
    # the updates did move the parameters, far beyond the tolerance
    torch.manual_seed(0)
    initial = gym_cartpole_dqn.build_agent(config)
    moved = max((a - b).abs().max().item() for a, b in zip(eager.parameters(),
                                                           initial.parameters()))
    assert moved > 100 * ATOL


def test_compiled_sac_updates_give_the_eager_parameters(monkeypatch):
    """Two compiled losses, three optimizers, random fresh torques drawn inside the compiled
    losses (the same draws: inductor's random numbers fall back to PyTorch's generator),
    Polyak-averaged targets."""
    monkeypatch.setattr(pendulum_sac, "compile_loss",
                        lambda fn: compile_loss(fn, options=FAST_COMPILE))
    pool = SessionPoolEnvironment(16, 4, observation_specs=[((3,), torch.float32)],
                                  action_specs=[((1,), torch.float32)])
    fill(pool, 16, 3, torch.rand(16, 4, 1) * 3.8 - 1.9)
    batches = [pool.sample_session_batch(4) for _ in range(UPDATES)]
    results = []
    for compiled in (False, True):
        config = pendulum_sac.Config(hidden=8, batch_sessions=4, session_length=4,
                                     compile=compiled)
        torch.manual_seed(0)
        agent = pendulum_sac.build_agent(config)
        learner = pendulum_sac.build_learner(agent, config)
        update = learner.update
        torch.manual_seed(1)
        losses = [torch.stack(update(b.observations, b.actions, b.rewards, b.is_alive,
                                     b.is_truncated)) for b in batches]
        results.append((agent, learner, torch.stack(losses)))
    (eager, eager_learner, eager_losses), (compiled_agent, compiled_learner,
                                           compiled_losses) = results
    torch.testing.assert_close(compiled_losses, eager_losses, atol=ATOL, rtol=RTOL)
    assert_same_parameters(eager, compiled_agent)
    assert_same_parameters(eager_learner.target, compiled_learner.target)
    assert_same_parameters(eager_learner.temperature, compiled_learner.temperature)


def linear_loss():
    model = torch.nn.Linear(3, 1)
    return lambda x, y: (model(x)[:, 0] - y).square().mean()


def test_other_shapes_or_python_values_are_refused_before_compiling():
    compiled = compile_loss(linear_loss(), options=FAST_COMPILE)
    with pytest.raises(TypeError, match=r"input 1 is a float \(0.5\), not a tensor"):
        compiled(torch.randn(16, 3), 0.5)
    compiled(torch.randn(16, 3), torch.randn(16)).backward()
    with pytest.raises(ValueError, match=r"input 0 of shape \[8, 3\] where the first call "
                                         r"had \[16, 3\].*dynamic=True"):
        compiled(torch.randn(8, 3), torch.randn(8))
    with pytest.raises(ValueError, match="input 1 of dtype torch.float64 where the first "
                                         "call had torch.float32"):
        compiled(torch.randn(16, 3), torch.randn(16, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"arguments arranged otherwise .*first call "
                                         r"\(2 inputs\)"):
        compiled(torch.randn(16, 3), [torch.randn(16)])
    assert compiled.calls == 1


def test_wrong_arguments_are_refused():
    with pytest.raises(TypeError, match="loss_fn must be a function, got int"):
        compile_loss(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="give mode .* or options, not both"):
        compile_loss(linear_loss(), mode="max-autotune-no-cudagraphs",
                     options={"cpp_wrapper": False})


def test_without_a_cpp_compiler_it_says_what_to_do():
    from torch._inductor import config

    with config.patch({"cpp.cxx": ("no-such-compiler-here",)}), pytest.raises(
            RuntimeError, match="needs a C\\+\\+ compiler .*no-such-compiler-here.*"
                                "apt-get install g\\+\\+.*compile=False"):
        compile_loss(linear_loss())


@pytest.mark.parametrize("example, settings", [
    (gym_cartpole_dqn, dict(total_steps=640, learning_starts=512, updates_per_collection=2,
                            hidden1=16, hidden2=8, batch_sessions=4, session_length=8,
                            eval_episodes=1)),
    pytest.param(pendulum_sac, dict(total_steps=256, learning_starts=192, updates_per_iteration=2,
                        hidden=8, batch_sessions=4, session_length=4, eval_episodes=1,
                        eval_every=0), marks=pytest.mark.slow)])
def test_the_examples_compile_switch_trains_with_a_compiled_update(example, settings,
                                                                  monkeypatch):
    """(SAC's is slow: its losses compile for some 15-40 s.)"""
    made = []

    def spy(*args, **kwargs):
        made.append(compile_loss(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(example, "compile_loss", spy)
    result = example.main(verbose=False, compile=True, **settings)
    assert len(made) == (1 if example is gym_cartpole_dqn else 2)  # SAC: critics', actor's
    assert all(compiled.calls > 0 and compiled.compile_seconds > 0 for compiled in made)
    losses = result["log"].metrics["loss" if example is gym_cartpole_dqn else "critic_loss"]
    assert math.isfinite(losses.values[-1])
