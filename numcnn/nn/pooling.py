"""Pooling layers: max and average pooling over kh x kw windows."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional.pool import pool_window
from .module import Module


class _Pool(Module):
    _op: str  # the functional pair, looked up at call time so that numcnn.use can swap it

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        pool_window(type(self).__name__, kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def _hyperparameters(self) -> dict:
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)

    def forward(self, x: np.ndarray) -> np.ndarray:
        forward = getattr(F, f"{self._op}_forward")
        out, cache = forward(x, **self._hyperparameters())
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return getattr(F, f"{self._op}_backward")(dout, self._saved())

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        kh, kw = pool_window("pool", self.kernel_size, self.stride, self.padding).kernel_size
        return int(np.prod(out_shape)) * kh * kw

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool):
    """Max pooling (padding counts as -inf; ties go to the first maximum in row-major order)."""

    _op = "max_pool2d"


class AvgPool2d(_Pool):
    """Average pooling (divides by kh*kw, padding included, as PyTorch's default)."""

    _op = "avg_pool2d"
