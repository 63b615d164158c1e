"""Environments: the tensor-native contract and the native environments built on it."""
from .base import BaseEnvironment
from .cartpole import CartPole

__all__ = ["BaseEnvironment", "CartPole"]
