"""Fully connected layer and the shape-only layers around it (Identity, Flatten)."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._random import default_rng
from .._validate import integer
from ..functional._validate import dout_array, float_array
from ._weights import _kaiming_uniform, _uniform, _WeightBias
from .module import Module


def float_dtype(op: str, dtype) -> np.dtype:
    """A layer's parameter dtype: a NumPy floating type (float32 unless asked otherwise)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or not np.issubdtype(dt, np.floating):
        raise TypeError(f"{op}: dtype must be a floating-point type such as np.float32; got "
                        f"{dtype!r}")
    return dt


class Linear(_WeightBias):
    """y = x W^T + b.  (N, in_features) -> (N, out_features); weight (out, in)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = integer("Linear", "in_features", in_features)
        self.out_features = integer("Linear", "out_features", out_features)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"Linear: bias must be True or False; got {bias!r}")
        dtype = float_dtype("Linear", dtype)
        in_features, out_features = self.in_features, self.out_features
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
        self.start_dim = integer("Flatten", "start_dim", start_dim, minimum=None)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = float_array("Flatten", "x", x)
        if not -x.ndim <= self.start_dim < x.ndim:
            raise ValueError(f"Flatten: start_dim={self.start_dim} is not an axis of the input "
                             f"of shape {x.shape}")
        start = self.start_dim % x.ndim
        out = x.reshape(*x.shape[:start], int(np.prod(x.shape[start:])))
        self._save((x.shape, out.shape, x.dtype))
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x_shape, out_shape, dtype = self._saved()
        return dout_array("Flatten.backward", dout, out_shape, dtype).reshape(x_shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}" if self.start_dim != 1 else ""
