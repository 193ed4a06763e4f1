"""Fully connected layer and the shape-only layers around it (Identity, Flatten)."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._random import default_rng
from ._weights import _kaiming_uniform, _uniform, _WeightBias
from .module import Module


class Linear(_WeightBias):
    """y = x W^T + b.  (N, in_features) -> (N, out_features); weight (out, in)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=np.float32, rng=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        rng = default_rng(rng)
        self.weight = _kaiming_uniform(rng, (out_features, in_features), in_features, dtype)
        self.bias = _uniform(rng, (out_features,), 1 / np.sqrt(in_features), dtype) \
            if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input_dtype(x)
        out, cache = F.linear_forward(x, *self._weight_bias())
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = F.linear_backward(dout, self._saved())
        self._accumulate(dw, db)
        return dx

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        return 2 * int(np.prod(out_shape)) * self.in_features

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}"
                + (", bias=False" if self.bias is None else ""))


class Identity(Module):
    """y = x (a placeholder, e.g. where a model optionally has no normalisation)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._save(True)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._saved()
        return dout


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...) from ``start_dim`` on; backward reshapes back."""

    def __init__(self, start_dim: int = 1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._save(x.shape)
        return x.reshape(*x.shape[:self.start_dim], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self._saved())
