"""agentnet.memory exports every memory layer the design names, each from its module."""
import importlib

import agentnet.memory

MODULES = {
    "rnn": ["RNNCell", "GRUCell", "LSTMCell", "torch_init"],
    "gru_memory": ["GRUMemoryLayer"],
    "window": ["WindowAugmentation"],
    "stack": ["StackAugmentation"],
    "attention": ["AttentionLayer", "DotAttentionLayer"],
    "multihead": ["MultiHeadAttentionLayer", "SelfAttentionLayer"],
    "heads": ["multihead_attention", "self_attention"],
    "gate": ["GateLayer"],
    "logical": ["CounterLayer", "SwitchLayer"],
}


def test_every_memory_layer_is_exported():
    expected = sorted(name for names in MODULES.values() for name in names)
    assert sorted(agentnet.memory.__all__) == expected
    for module_name, names in MODULES.items():
        module = importlib.import_module(f"agentnet.memory.{module_name}")
        for name in names:
            assert name in module.__all__
            assert getattr(agentnet.memory, name) is getattr(module, name)
