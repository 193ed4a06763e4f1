"""Elementwise activation layers, and softmax / log-softmax along one axis."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._validate import integer, real
from .module import Module


class _Activation(Module):
    _op: str  # the functional pair, looked up at call time so that numcnn.use can swap it

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, cache = getattr(F, f"{self._op}_forward")(x)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return getattr(F, f"{self._op}_backward")(dout, self._saved())

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        return int(np.prod(out_shape))


class ReLU(_Activation):
    """y = max(x, 0)."""

    _op = "relu"


class Sigmoid(_Activation):
    """y = 1 / (1 + exp(-x))."""

    _op = "sigmoid"


class Tanh(_Activation):
    """y = tanh(x)."""

    _op = "tanh"


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = real("LeakyReLU", "negative_slope", negative_slope)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, cache = F.leaky_relu_forward(x, self.negative_slope)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.leaky_relu_backward(dout, self._saved())

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class _AlongDim(Module):
    _op: str  # "softmax" or "log_softmax", looked up at call time

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = integer(type(self).__name__, "dim", dim, minimum=None)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, cache = getattr(F, f"{self._op}_forward")(x, self.dim)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return getattr(F, f"{self._op}_backward")(dout, self._saved())

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """y = exp(x) / sum(exp(x)) along ``dim`` (default 1, the class axis of NCHW logits)."""

    _op = "softmax"


class LogSoftmax(_AlongDim):
    """y = x - log(sum(exp(x))) along ``dim`` (default 1), without overflow."""

    _op = "log_softmax"
