"""Memory layers: a new agent state computed from the previous state and inputs."""
from .rnn import GRUCell, LSTMCell, RNNCell

__all__ = ["RNNCell", "GRUCell", "LSTMCell"]
