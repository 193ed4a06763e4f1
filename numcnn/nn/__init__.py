"""The familiar face: PyTorch-shaped modules whose ``backward`` is written out by hand."""

from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import ModuleList, Sequential
from .conv import Conv2d, ConvTranspose2d
from .linear import Flatten, Identity, Linear
from .loss import CrossEntropyLoss, DiceCELoss, DiceLoss
from .module import Module, is_grad_enabled, no_grad
from .normalization import BatchNorm1d, BatchNorm2d, Dropout
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from .segmentation import Concat, Upsample
