"""Distributed session collection on Ray: many collectors, one learner, one replay.

``RayEnvPool`` is a drop-in for :class:`~agentnet.environment.EnvPool`: the same
``interact(n_steps)``, ``update(n_steps, session_pool)``, ``evaluate`` and ``close``, with the
environments played by ``n_collectors`` Ray actors (each an ``EnvPool`` of ``n_envs``
environments and a CPU copy of the agent) that push their sessions, with the memory that
preceded them, into the learner's :class:`~agentnet.environment.SessionPoolEnvironment`::

    from agentnet.distributed import RayEnvPool

    # envs = EnvPool(agent, "CartPole-v1", n_envs=8, seed=0)          # one process
    envs = RayEnvPool(agent, "CartPole-v1", n_collectors=2, n_envs=8, seed=0)
    with envs:
        for _ in range(1000):
            sessions = envs.update(8, replay)   # collectors' sessions into the replay
            ...                                 # train the agent on replay batches
            # the next update() sends the new weights (a new version) to the collectors

Ray is an optional dependency (``pip install 'agentnet-torch[ray]'``): it is imported when a
pool is made, not by ``import agentnet`` or ``import agentnet.distributed``.
"""
from ._ray import init_local, require_ray
from .collector import Batch, BatchInfo, Collector
from .ray_pool import CollectorFailure, RayEnvPool

__all__ = ["RayEnvPool", "Collector", "Batch", "BatchInfo", "CollectorFailure", "init_local",
           "require_ray"]
