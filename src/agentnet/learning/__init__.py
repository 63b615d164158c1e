"""Learning objectives: plain functions of ``[batch, time]`` sessions.

Each returns an elementwise loss ``[batch, time]``, zero where the session is not alive; the
caller reduces it (:func:`generic.masked_mean`) and calls any optimizer. Episode ends follow
:class:`agentnet.agent.Sessions`: termination does not bootstrap, truncation does, and no
return crosses from one episode into the next.

- ``generic``: n-step, 1-step and lambda returns, GAE, masks, action values, the TD objective.
- ``qlearning`` (n-step, target network, double Q), ``sarsa`` (and expected SARSA),
  ``a2c``, ``reinforce``, ``dpg``, ``qlearning_naf``, ``qlearning_opt_tightening``,
  ``ppo``, ``vtrace``, ``retrace``, ``td3``, ``sac``; ``losses``: squared error and Huber.
"""
from . import (
               a2c,
               dpg,
               generic,
               losses,
               ppo,
               qlearning,
               qlearning_naf,
               qlearning_opt_tightening,
               reinforce,
               retrace,
               sac,
               sarsa,
               td3,
               vtrace,
)

__all__ = ["generic", "losses", "qlearning", "sarsa", "a2c", "reinforce", "dpg",
           "qlearning_naf", "qlearning_opt_tightening", "ppo", "vtrace", "retrace", "td3", "sac"]
