"""Target networks: copies of (a part of) a network with weights that lag behind the original's.

``TargetNetwork(q_layer).load_weights()`` copies the weights (a DQN target every N steps);
``load_weights(0.01)`` moves them 1% of the way at each call (Polyak averaging, as in DDPG).
"""
from .target_network import TargetNetwork

__all__ = ["TargetNetwork"]
