"""Element-wise activations (docs/activations.md).  Each backward is dx = dout * f'(x)."""

from __future__ import annotations

import numpy as np

from ._validate import dout_array, float_array


def relu_forward(x: np.ndarray):
    """y = max(x, 0).  Returns (out, cache)."""
    x = float_array("relu", "x", x)
    out = np.maximum(x, 0)
    return out, out


def relu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx = dout * [x > 0]  (the subgradient at x = 0 is taken as 0, as PyTorch does)."""
    out = cache
    dout = dout_array("relu_backward", dout, out.shape, out.dtype)
    return dout * (out > 0)


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01):
    """y = x if x > 0 else negative_slope * x.  Returns (out, cache)."""
    x = float_array("leaky_relu", "x", x)
    return np.where(x > 0, x, x * negative_slope), (x > 0, negative_slope, x.dtype)


def leaky_relu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx = dout if x > 0 else negative_slope * dout."""
    positive, slope, dtype = cache
    dout = dout_array("leaky_relu_backward", dout, positive.shape, dtype)
    return np.where(positive, dout, dout * slope)


def sigmoid_forward(x: np.ndarray):
    """y = 1 / (1 + exp(-x)), computed as (1 + tanh(x/2)) / 2, which never overflows."""
    x = float_array("sigmoid", "x", x)
    out = np.tanh(x * 0.5)
    out += 1
    out *= 0.5
    return out, out


def sigmoid_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx = dout * y * (1 - y)."""
    y = cache
    dout = dout_array("sigmoid_backward", dout, y.shape, y.dtype)
    return dout * y * (1 - y)


def tanh_forward(x: np.ndarray):
    """y = tanh(x)."""
    x = float_array("tanh", "x", x)
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx = dout * (1 - y^2)."""
    y = cache
    dout = dout_array("tanh_backward", dout, y.shape, y.dtype)
    return dout * (1 - y * y)
