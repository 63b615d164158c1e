"""Memory layers: a new agent state computed from the previous state and inputs."""

from .attention import AttentionLayer, DotAttentionLayer
from .gate import GateLayer
from .gru_memory import GRUMemoryLayer
from .heads import multihead_attention, self_attention
from .logical import CounterLayer, SwitchLayer
from .multihead import MultiHeadAttentionLayer, SelfAttentionLayer
from .rnn import GRUCell, LSTMCell, RNNCell, torch_init
from .stack import StackAugmentation
from .window import WindowAugmentation

__all__ = ["RNNCell", "GRUCell", "LSTMCell", "GRUMemoryLayer", "WindowAugmentation",
           "StackAugmentation", "AttentionLayer", "DotAttentionLayer", "MultiHeadAttentionLayer",
           "SelfAttentionLayer", "GateLayer", "CounterLayer", "SwitchLayer",
           "multihead_attention", "self_attention", "torch_init"]
