"""Element-wise activations (docs/activations.md).  Each backward is dx = dout * f'(x).

relu, sigmoid and tanh keep their output y as the cache (f' is cheapest from y);
leaky ReLU keeps a :class:`LeakyReLUCache`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import kernels
from .._validate import real
from ._validate import KERNEL_DTYPES, cache_of, dout_array, float_array


class LeakyReLUCache(NamedTuple):
    positive: np.ndarray       # [x > 0], x's shape
    negative_slope: float      # a
    dtype: np.dtype


def _output_cache(op: str, cache) -> np.ndarray:
    """The cached output y of relu / sigmoid / tanh, or a clear error for anything else."""
    if not isinstance(cache, np.ndarray):
        raise TypeError(f"{op}: cache must be the output array that the forward returned as "
                        f"its cache; got {type(cache).__name__}")
    return cache


def relu_forward(x: np.ndarray):
    """y = max(x, 0).  Returns (out, cache = y)."""
    x = float_array("relu", "x", x)
    out = kernels.relu(x) if x.dtype in KERNEL_DTYPES else np.maximum(x, 0)
    return out, out


def relu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx = dout * [x > 0]  (the subgradient at x = 0 is taken as 0, as PyTorch does)."""
    out = _output_cache("relu_backward", cache)
    dout = dout_array("relu_backward", dout, out.shape, out.dtype)
    if out.dtype not in KERNEL_DTYPES:  # float16, longdouble: NumPy (no numba kernel)
        return dout * (out > 0)
    return kernels.relu_grad(dout, np.ascontiguousarray(out))


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01):
    """y = x if x > 0 else a * x, with a = ``negative_slope``.  Returns (out, cache)."""
    x = float_array("leaky_relu", "x", x)
    a = real("leaky_relu", "negative_slope", negative_slope)
    positive = x > 0
    return np.where(positive, x, x * x.dtype.type(a)), LeakyReLUCache(positive, a, x.dtype)


def leaky_relu_backward(dout: np.ndarray, cache: LeakyReLUCache) -> np.ndarray:
    """dx = dout if x > 0 else a * dout."""
    cache_of("leaky_relu_backward", cache, LeakyReLUCache, "leaky_relu_forward")
    dout = dout_array("leaky_relu_backward", dout, cache.positive.shape, cache.dtype)
    return np.where(cache.positive, dout, dout * cache.dtype.type(cache.negative_slope))


def sigmoid_forward(x: np.ndarray):
    """y = 1 / (1 + exp(-x)), computed as (1 + tanh(x/2)) / 2, which never overflows.
    Returns (out, cache = y)."""
    x = float_array("sigmoid", "x", x)
    out = np.tanh(x * 0.5)
    out += 1
    out *= 0.5
    return out, out


def sigmoid_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx = dout * y * (1 - y)."""
    y = _output_cache("sigmoid_backward", cache)
    dout = dout_array("sigmoid_backward", dout, y.shape, y.dtype)
    return dout * y * (1 - y)


def tanh_forward(x: np.ndarray):
    """y = tanh(x).  Returns (out, cache = y)."""
    x = float_array("tanh", "x", x)
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx = dout * (1 - y^2)."""
    y = _output_cache("tanh_backward", cache)
    dout = dout_array("tanh_backward", dout, y.shape, y.dtype)
    return dout * (1 - y * y)
