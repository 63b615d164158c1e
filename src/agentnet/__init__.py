"""agentnet: design your own reinforcement learning agent, one tick of its life at a time.

AgentNet rebuilt on PyTorch. The parts: ``layers`` (the one-tick graph), ``agent`` (``Agent``,
``Recurrence``), ``resolver`` (action pickers), ``memory`` (recurrent cells), ``environment``
(tensor-native environments, the session store), ``driving`` (an agent against Gymnasium:
``EnvPool``, evaluation), and the records of what an agent did (``records``: ``Sessions``).
``agentnet.load_run(DIR)`` gives the agent and the settings of a run saved by an example.
"""
from . import (
               agent,
               display,
               driving,
               environment,
               layers,
               learning,
               memory,
               records,
               resolver,
               target_network,
               utils,
)
from .agent import Agent, MDPAgent, Recurrence, Sessions

#: the one definition of the version: pyproject.toml reads it (``dynamic = ["version"]``)
__version__ = "0.1.0"

__all__ = ["Agent", "MDPAgent", "Recurrence", "Sessions", "agent", "display", "driving",
           "environment", "layers", "learning", "memory", "records", "resolver", "target_network",
           "utils", "load_run", "__version__"]


def __getattr__(name: str):
    """``agentnet.load_run`` (:func:`agentnet.examples.load_run`: a saved run's agent and
    settings), imported when first asked for: the examples are the top floor."""
    if name == "load_run":
        from .examples import load_run

        return load_run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
