"""The one-tick graph: layers, and the functions that walk and evaluate them.

Mirrors ``lasagne.layers``: the seed's snippets run with ``from agentnet import layers``.
"""
from .base import InputLayer, ItemLayer, Layer
from .conv import Conv2DLayer, MaxPool2DLayer
from .dense import DenseLayer, EmbeddingLayer, LambdaLayer, ModuleLayer, NonlinearityLayer
from .graph import (
                    GraphPlan,
                    count_params,
                    get_all_layers,
                    get_all_param_values,
                    get_all_params,
                    get_output,
                    set_all_param_values,
)
from .normalization import BatchNormLayer, DropoutLayer, GaussianNoiseLayer, LayerNormLayer
from .shape import ConcatLayer, ElemwiseSumLayer, FlattenLayer, ReshapeLayer, SliceLayer
from .shared import SharedValue

__all__ = [
    "Layer", "InputLayer", "ItemLayer",
    "DenseLayer", "EmbeddingLayer", "NonlinearityLayer", "LambdaLayer", "ModuleLayer",
    "Conv2DLayer", "MaxPool2DLayer",
    "FlattenLayer", "ReshapeLayer", "ConcatLayer", "ElemwiseSumLayer", "SliceLayer",
    "DropoutLayer", "GaussianNoiseLayer", "BatchNormLayer", "LayerNormLayer",
    "SharedValue",
    "GraphPlan", "get_output", "get_all_layers", "get_all_params", "count_params",
    "get_all_param_values", "set_all_param_values",
]
