"""The familiar face: PyTorch-shaped modules whose ``backward`` is written out by hand."""

from .container import ModuleList, Sequential
from .layers import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Tanh,
)
from .loss import CrossEntropyLoss, DiceCELoss, DiceLoss
from .module import Module, is_grad_enabled, no_grad
from .parameter import Parameter
from .segmentation import Concat, Upsample
