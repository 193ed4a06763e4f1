"""Activations, the formulas of docs/activations.md in plain NumPy.

Same signatures, return values and caches as ``numcnn.functional``, so that either half of
a pair can replace the fast one.  Each backward is dx = dout * f'(x).
"""

from __future__ import annotations

import numpy as np

from ..functional.activation import LeakyReLUCache


def relu_forward(x: np.ndarray):
    """y = max(x, 0).  x: any shape.  Returns (y, cache = y)."""
    y = np.maximum(x, 0)
    return y, y


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout * [x > 0]: the slope is 1 where y > 0 (y > 0 exactly when x > 0), else 0
    (at the kink too)."""
    y = cache
    return dout * (y > 0)


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01):
    """y = x if x > 0 else a x  (a = negative_slope).  Returns (y, LeakyReLUCache)."""
    a = float(negative_slope)
    positive = x > 0
    y = np.where(positive, x, x * x.dtype.type(a))
    return y, LeakyReLUCache(positive, a, x.dtype)


def leaky_relu_backward(dout: np.ndarray, cache: LeakyReLUCache) -> np.ndarray:
    """dx = dout if x > 0 else a dout."""
    a = cache.dtype.type(cache.negative_slope)
    return np.where(cache.positive, dout, dout * a)


def sigmoid_forward(x: np.ndarray):
    """y = 1 / (1 + e^{-x}) (e^{-x} may overflow to inf for very negative x: y is then 0).
    Returns (y, cache = y)."""
    with np.errstate(over="ignore"):
        y = 1 / (1 + np.exp(-x))
    return y, y


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """sigma'(x) = e^{-x} / (1 + e^{-x})^2 = y (1 - y), so dx = dout y (1 - y)."""
    y = cache
    return dout * y * (1 - y)


def tanh_forward(x: np.ndarray):
    """y = tanh x.  Returns (y, cache = y)."""
    y = np.tanh(x)
    return y, y


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """tanh' = 1 - tanh^2, so dx = dout (1 - y^2)."""
    y = cache
    return dout * (1 - y ** 2)
