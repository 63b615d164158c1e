"""RayEnvPool on a local Ray runtime (loopback only, 2 CPUs): the DQN example's training loop
runs with it as with an EnvPool; dead, crashing and hanging collectors are survived; every
batch arrives whole and once."""
from __future__ import annotations

import collections
import functools
import ipaddress
import time
import warnings

import pytest
import torch

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

import ray_test_envs  # noqa: E402
from ray_test_envs import TickEnv, gru_agent  # noqa: E402

from agentnet.distributed import RayEnvPool, init_local  # noqa: E402
from agentnet.driving import EnvPool  # noqa: E402
from agentnet.environment import EpisodeTracker, SessionPoolEnvironment  # noqa: E402
from agentnet.examples.gym_cartpole_dqn import Config, build_agent  # noqa: E402
from agentnet.learning import generic, qlearning  # noqa: E402
from agentnet.target_network import TargetNetwork  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:RayEnvPool. collector:RuntimeWarning")


@pytest.fixture(scope="module", autouse=True)
def ray_runtime():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    ray.cloudpickle.register_pickle_by_value(ray_test_envs)
    init_local(num_cpus=2, object_store_memory=100 * 2**20, log_to_driver=False)
    yield
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(ray_test_envs)
    torch.set_num_threads(threads)
    # nothing Ray started is left behind
    deadline = time.monotonic() + 60
    while psutil.Process().children(recursive=True) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [(p.pid, p.name()) for p in psutil.Process().children(recursive=True)]
    assert not left, f"processes left behind: {left}"


def test_ray_listens_on_the_loopback_interface_only():
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    listening = []
    for process in psutil.Process().children(recursive=True):
        try:
            connections = process.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        listening += [(process.name(), c.laddr.ip) for c in connections
                      if c.status == psutil.CONN_LISTEN]
    assert listening, "no Ray server found"
    exposed = [(name, ip) for name, ip in listening
               if not ipaddress.ip_address(ip.removeprefix("::ffff:")).is_loopback]
    assert not exposed, exposed


def check_batches(pool: RayEnvPool) -> None:
    """Every requested batch was delivered once, lost whole (a failure), or is in flight."""
    delivered = collections.defaultdict(list)
    for info in pool.history:
        delivered[info.collector_id].append(info.seq)
    failed = collections.defaultdict(list)
    for failure in pool.failures:
        if failure.seq >= 0:  # (-1: a collector that died while being set up again)
            failed[failure.collector_id].append(failure.seq)
    total = 0
    for c in range(pool.n_collectors):
        seqs = delivered[c] + failed[c] + ([pool.in_flight[c]] if c in pool.in_flight else [])
        assert sorted(seqs) == list(range(len(seqs))), (c, sorted(seqs))
        total += len(seqs)
    assert total == pool.requested
    assert len({(i.collector_id, i.seq) for i in pool.history}) == len(pool.history)
    assert all(info.n_envs * info.n_steps == info.env_steps for info in pool.history)


def train(envs, agent, config: Config, updates: int, on_collection=None) -> dict:
    """The gym_cartpole_dqn example's loop, unchanged but for counting environment steps
    from the sessions returned (EnvPool: n_envs rows; RayEnvPool: n_delivered * n_envs)."""
    target = TargetNetwork(agent.policy_layers[0])
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate)
    resolver = agent.action_layers[0]
    replay = SessionPoolEnvironment(config.pool_capacity, config.session_length, agent=agent)
    episodes, returns, losses = EpisodeTracker(), [], []
    n_updates, step = 0, 0
    while n_updates < updates:
        progress = min(1.0, step / (config.epsilon_decay_fraction * config.total_steps))
        resolver.epsilon.set_value(config.epsilon_start
                                   + progress * (config.epsilon_end - config.epsilon_start))
        sessions = envs.update(config.session_length, replay)
        step += sessions.rewards.numel()
        for _ in range(config.updates_per_collection if step >= config.learning_starts else 0):
            batch = replay.sample_session_batch(config.batch_sessions)
            s = agent.get_sessions(batch, experience_replay=True,
                                   additional_outputs=[target.output_layers])
            elementwise = qlearning.get_elementwise_objective(
                s.policy, s.actions, s.rewards, s.is_alive,
                qvalues_target=s.additional_outputs[0], n_steps=config.n_steps,
                gamma_or_gammas=config.gamma, is_truncated=s.is_truncated,
                loss_function=qlearning.huber_loss)
            loss = generic.masked_mean(elementwise, s.is_alive)
            optimizer.zero_grad()
            loss.backward()
            if config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
            optimizer.step()
            losses.append(loss.item())
            n_updates += 1
            if n_updates % config.target_every == 0:
                target.load_weights()
        returns += episodes.update(sessions.rewards, sessions.is_alive).returns.tolist()
        if on_collection is not None:
            on_collection(n_updates)
    return {"replay": replay, "losses": losses, "steps": step, "returns": returns}


def test_dqn_trains_on_two_collectors_and_survives_a_killed_one():
    torch.manual_seed(0)
    config = Config(total_steps=8_000, learning_starts=500, updates_per_collection=4)
    # the constructor swap: the same loop on a local EnvPool ...
    with EnvPool(build_agent(config), "CartPole-v1", n_envs=8, seed=0) as local:
        run = train(local, local.agent, config, updates=20)
    assert len(run["replay"]) > 0 and all(map(torch.isfinite, torch.tensor(run["losses"])))
    # ... and on two Ray collectors, one of which is killed mid-run
    agent = build_agent(config)
    killed = []

    def kill_once(n_updates):
        if n_updates >= 100 and not killed:
            killed.append(envs.weight_version)
            ray.kill(envs.actors[0], no_restart=False)  # Ray restarts it

    start = time.monotonic()
    with RayEnvPool(agent, "CartPole-v1", n_collectors=2, n_envs=4, seed=0) as envs:
        run = train(envs, agent, config, updates=300, on_collection=kill_once)
        def replaced():  # the replacement delivered a batch
            lost = [f.seq for f in envs.failures]
            return any(i.collector_id == 0 and i.seq > max(lost, default=1e9)
                       for i in envs.history)

        # the replacement may still be starting (seconds on a quiet machine; a ceiling, not a
        # wait: the loop ends as soon as it delivers, however loaded the machine is)
        deadline = time.monotonic() + 180
        while not replaced() and time.monotonic() < deadline:
            assert envs.interact(config.session_length).rewards.shape[1] == 8
        assert killed and envs.restarts == 1 and envs.collector_restarts == {0: 1, 1: 0}
        assert [(f.collector_id, f.permanent) for f in envs.failures] == [(0, False)]
        assert envs.collector_status == {0: "ok", 1: "ok"}
        check_batches(envs)
        history = list(envs.history)
    print(f"300 updates on 2 collectors with a restart: {time.monotonic() - start:.1f} s")
    losses = torch.tensor(run["losses"])
    assert len(losses) >= 300 and torch.isfinite(losses).all()
    assert len(run["replay"]) == config.pool_capacity or len(run["replay"]) * 8 == run["steps"]
    # weights went out: the learner's versions advanced, and collectors followed closely
    assert history[-1].weight_version > 50
    assert max(info.staleness for info in history) <= 2
    # the replacement played with the latest weights from its first batch on
    lives = [info for info in history if info.collector_id == 0]
    first_new = next(i for i, info in enumerate(lives) if info.incarnation != lives[0].incarnation)
    assert lives[first_new].weight_version >= killed[0] and lives[first_new].staleness <= 1
    assert all(info.incarnation == lives[first_new].incarnation for info in lives[first_new:])


def test_a_collector_dying_inside_a_batch_loses_it_whole_and_nothing_repeats(tmp_path):
    torch.manual_seed(1)
    agent = gru_agent()  # the learner's; the collectors build theirs with the factory
    env = functools.partial(TickEnv, episode_length=7, crash_marker=str(tmp_path / "crash"),
                            fault_at=25)
    batches = []  # (info, sessions of its rows)
    with RayEnvPool(agent, env, n_collectors=2, n_envs=3, seed=0, pipeline=False,
                    agent_factory=gru_agent) as envs:
        deadline = time.monotonic() + 180  # a ceiling: the loop ends once both are seen
        while (envs.restarts == 0 or len(batches) < 30) and time.monotonic() < deadline:
            sessions = envs.interact(4)
            assert sessions.observations.shape[0] == 3 * len(envs.last_batches)
            for k, info in enumerate(envs.last_batches):
                rows = slice(3 * k, 3 * k + 3)
                batches.append((info, sessions.observations[rows], sessions.is_alive[rows],
                                sessions.agent_states[agent.state_layers[0]][rows],
                                sessions.initial_agent_states[0][rows]))
        assert envs.restarts == 1 and len(envs.failures) == 1
        assert all(info.staleness == 0 for info, *_ in batches)  # pipeline=False: never stale
        check_batches(envs)
    seen = set()
    for _, observations, alive, _, _ in batches:
        for row, row_alive in zip(observations, alive):  # 4 consecutive ticks of one env
            ticks = [tuple(o.tolist()[:3]) for o, a in zip(row, row_alive) if a]
            for (i0, t0, e0), (i1, t1, e1) in zip(ticks, ticks[1:]):
                assert i0 == i1 and (e1, t1) in ((e0, t0 + 1), (e0 + 1, t0 + 1))
            assert not seen & set(ticks), "an alive tick was delivered twice"
            seen |= set(ticks)
    # memory travels with the sessions: a batch starts from the memory its predecessor (the
    # same collector's previous request) left, unless an episode starts at its first tick
    checked = 0
    by_id = {(info.collector_id, info.seq): rest for info, *rest in batches}
    for (c, seq), (_, alive, _, initial) in by_id.items():
        if (c, seq - 1) in by_id:
            _, prev_alive, prev_states, _ = by_id[(c, seq - 1)]
            going_on = prev_alive[:, -1] & alive[:, 0]
            assert torch.equal(initial[going_on], prev_states[going_on, -1])
            checked += int(going_on.sum())
    assert checked > 10


def test_a_hung_collector_does_not_stall_the_learner(tmp_path):
    agent = build_agent(Config(hidden1=16, hidden2=16))
    env = functools.partial(TickEnv, hang_marker=str(tmp_path / "hang"), fault_at=6)
    envs = RayEnvPool(agent, env, n_collectors=2, n_envs=1, timeout=2.0)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.monotonic()
            collected = [len(envs.interact(4).rewards) for _ in range(30)]
            elapsed = time.monotonic() - start
        # one collector hangs at its 7th step: one wait of `timeout`, then no more waiting
        assert elapsed < 2.0 + 6.0, elapsed
        assert collected[-1] == 1 and sorted(envs.collector_status.values()) == ["late", "ok"]
        assert sum("delivered nothing within timeout" in str(w.message) for w in caught) == 1
        assert envs.failures == [] and envs.restarts == 0
    finally:
        start = time.monotonic()
        envs.close(timeout=1.0)
        assert time.monotonic() - start < 10


def test_weights_reach_the_collectors_before_their_next_batch_and_stale_ones_are_dropped():
    torch.manual_seed(2)
    agent = build_agent(Config(hidden1=16, hidden2=16))
    agent.action_layers[0].epsilon.set_value(0.0)  # greedy: actions show the weights used
    with RayEnvPool(agent, "CartPole-v1", n_collectors=2, n_envs=2, sync_every=None,
                    max_staleness=0) as envs:
        assert envs.weight_version == 0
        assert envs.interact(5).rewards.shape == (4, 5)
        assert envs.sync_weights() == 0  # unchanged weights: no new version
        with torch.no_grad():
            agent.policy_layers[0].bias.copy_(torch.tensor([0.0, 1e3]))  # always action 1
        assert envs.interact(5).policy[..., 1].max() < 100  # not synced yet: the old weights
        assert envs.sync_weights() == 1
        # the batches under way (pipelined) were played with version 0: too stale, dropped,
        # and asked for again with version 1
        sessions = envs.interact(5)
        assert [i.weight_version for i in envs.last_batches] == [1, 1]
        assert sessions.actions.eq(1).all() and envs.dropped_stale == 2
        with torch.no_grad():
            agent.policy_layers[0].bias.copy_(torch.tensor([1e3, 0.0]))  # always action 0
        assert envs.sync_weights() == 2
        sessions = envs.interact(5)
        assert sessions.actions.eq(0).all() and sessions.policy.device == agent.device
        assert all(info.staleness == 0 for info in envs.last_batches)
        check_batches(envs)
        assert envs.evaluate(2, max_steps=50).returns.shape == (2,)
        replay = SessionPoolEnvironment(10, 5, agent=agent)
        with pytest.raises(ValueError, match="sessions of 5 ticks, got n_steps=4"):
            envs.update(4, replay)
    with pytest.raises(RuntimeError, match="closed"):
        envs.interact(5)


def test_mistakes_raise_clear_errors():
    agent = build_agent(Config(hidden1=16, hidden2=16))
    with pytest.raises(RuntimeError, match="collector 0 could not start: NameNotFound.*NoSuch"):
        RayEnvPool(agent, "NoSuchEnv-v0", n_collectors=1, n_envs=1)
    with pytest.raises(ValueError, match="n_collectors and n_envs must be positive"):
        RayEnvPool(agent, "CartPole-v1", n_collectors=0)
    with pytest.raises(TypeError, match="env must be a Gymnasium id or a zero-argument"):
        RayEnvPool(agent, 3)


def crashing_pool(tmp_path, max_restarts: int, crashes: int, fault_at: int) -> RayEnvPool:
    """One collector of one TickEnv whose environment kills its process at its step
    ``fault_at``, in ``crashes`` lives of the collector (each life's environment starts at
    step 0): ``fault_at=0`` fails every life before its first batch (failures in a row),
    ``fault_at=4`` (4-tick batches) lets every life deliver one batch before it fails."""
    env = functools.partial(TickEnv, crash_marker=str(tmp_path / "crash"), crashes=crashes,
                            fault_at=fault_at)
    return RayEnvPool(build_agent(Config(hidden1=8, hidden2=8)), env, n_collectors=1, n_envs=1,
                      pipeline=False, max_restarts=max_restarts, timeout=60.0)


def test_max_restarts_counts_failures_in_a_row_not_in_all(tmp_path):
    # killed 3 times with max_restarts=1, but never twice in a row: each life delivers a
    # batch before it dies, so the collector is replaced every time and keeps delivering
    with crashing_pool(tmp_path, max_restarts=1, crashes=3, fault_at=4) as envs:
        delivered = []
        for _ in range(5):
            assert envs.interact(4).rewards.shape == (1, 4)
            delivered += envs.last_batches
        assert [(f.collector_id, f.seq, f.permanent) for f in envs.failures] == [
            (0, 1, False), (0, 3, False), (0, 5, False)]
        assert all(isinstance(f.error, ray.exceptions.RayActorError) for f in envs.failures)
        assert [info.seq for info in delivered] == [0, 2, 4, 6, 7]
        assert len({info.incarnation for info in delivered}) == 4  # 3 replacements
        assert envs.restarts == 3 and envs.collector_restarts == {0: 3}
        assert envs.collector_status == {0: "ok"}
        check_batches(envs)


def test_a_collector_failing_more_than_max_restarts_times_in_a_row_is_given_up(tmp_path):
    # every life dies before its first batch: replaced once (max_restarts=1), then given up
    with crashing_pool(tmp_path, max_restarts=1, crashes=2, fault_at=0) as envs:
        with pytest.warns(RuntimeWarning, match="collector 0 died.*given up: it failed 2 "
                                                "times in a row, more than max_restarts=1"):
            with pytest.raises(RuntimeError, match="every collector is dead"):
                envs.interact(4)
        assert [(f.collector_id, f.seq, f.permanent) for f in envs.failures] == [
            (0, 0, False), (0, 1, True)]
        assert envs.collector_status == {0: "dead"} and envs.in_flight == {}
        assert envs.restarts == 1 and envs.requested == 2
        with pytest.raises(RuntimeError, match="every collector is dead"):
            envs.interact(4)
        assert envs.requested == 2 and len(envs.failures) == 2  # nothing more asked of it
        check_batches(envs)


def test_max_restarts_minus_one_never_gives_a_collector_up(tmp_path):
    with crashing_pool(tmp_path, max_restarts=-1, crashes=2, fault_at=0) as envs:
        assert envs.interact(4).rewards.shape == (1, 4)  # from its 3rd life
        assert [(f.seq, f.permanent) for f in envs.failures] == [(0, False), (1, False)]
        assert [info.seq for info in envs.last_batches] == [2]
        assert envs.restarts == 2 and envs.collector_status == {0: "ok"}
        check_batches(envs)
