"""Architectures of Petrini et al. (2021), their probe layers, and the ``ImageClassifier``.

Importing the family modules registers their models, in the order of the paper's Table 1.
"""

from __future__ import annotations

from . import fc, lenet, alexnet, vgg, resnet, efficientnet  # noqa: F401  (registration order matters)
from .alexnet import AlexNet
from .classifier import ImageClassifier
from .efficientnet import EfficientNet, load_pretrained_weights
from .fc import FullyConnected, ScaledLinear
from .info import ModelInfo, count_parameters, model_info
from .lenet import LeNet
from .recipes import RECIPES, Recipe, build_optimization, resolve_recipe, split_head_parameters
from .registry import create_model, list_models, register_model
from .resnet import BasicBlock, Bottleneck, ResNet
from .vgg import VGG

__all__ = [
    "AlexNet",
    "BasicBlock",
    "Bottleneck",
    "EfficientNet",
    "FullyConnected",
    "ImageClassifier",
    "LeNet",
    "ModelInfo",
    "RECIPES",
    "Recipe",
    "ResNet",
    "ScaledLinear",
    "VGG",
    "build_optimization",
    "count_parameters",
    "create_model",
    "list_models",
    "load_pretrained_weights",
    "model_info",
    "register_model",
    "resolve_recipe",
    "split_head_parameters",
]
