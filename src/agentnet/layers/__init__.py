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
from .helpers import (
                      DimshuffleLayer,
                      ExpressionLayer,
                      batch_norm,
                      concat,
                      dimshuffle,
                      dropout,
                      flatten,
                      get_output_shape,
                      reshape,
)
from .naf import LowerTriangularLayer, NAFLayer, build_NAF_controller
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
    "LowerTriangularLayer", "NAFLayer", "build_NAF_controller",
    "GraphPlan", "get_output", "get_all_layers", "get_all_params", "count_params",
    "get_all_param_values", "set_all_param_values",
    # Lasagne's names for ported code
    "DimshuffleLayer", "ExpressionLayer", "get_output_shape", "reshape", "dimshuffle",
    "flatten", "concat", "dropout", "batch_norm",
]
