"""Fully connected layer (docs/linear.md): y = x W^T + b."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._validate import cache_of, dout_array, float_array, same_dtype


class LinearCache(NamedTuple):
    x2: np.ndarray             # x with its leading axes flattened: (M, in_features)
    x_shape: tuple             # x's shape, for dx
    w: np.ndarray              # (out_features, in_features)
    has_bias: bool


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None):
    """y[n, f] = sum_k x[n, k] * w[f, k] + b[f].

    Parameters
    ----------
    x : (N, in_features), or (..., in_features): leading axes are treated as a batch
    w : (out_features, in_features)
    b : (out_features,) or None

    Returns
    -------
    out : (..., out_features);  cache : LinearCache
    """
    op = "linear"
    x = float_array(op, "x", x)
    w = float_array(op, "w", w, 2, "(out_features, in_features)")
    if b is not None:
        b = float_array(op, "b", b, 1, "(out_features,)")
    same_dtype(op, x=x, w=w, b=b)
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        hint = " (flatten the image first, e.g. with Flatten)" if x.ndim == 4 else ""
        raise ValueError(f"linear: expected x with {w.shape[1]} features on its last axis "
                         f"(in_features of w {w.shape}); got x of shape {x.shape}{hint}")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"linear: b must have shape ({w.shape[0]},); got {b.shape}")
    x2 = x.reshape(int(np.prod(x.shape[:-1])), w.shape[1])  # not -1: in_features may be 0
    out = x2 @ w.T
    if b is not None:
        out += b
    return out.reshape(*x.shape[:-1], w.shape[0]), LinearCache(x2, x.shape, w, b is not None)


def linear_backward(dout: np.ndarray, cache):
    """dx = dout @ W,  dW = dout^T @ x,  db = sum over the batch of dout.

    Returns
    -------
    dx : x's shape;  dw : (out_features, in_features);  db : (out_features,) or None
    """
    cache_of("linear_backward", cache, LinearCache, "linear_forward")
    x2, x_shape, w, has_bias = cache
    dout = dout_array("linear_backward", dout, (*x_shape[:-1], w.shape[0]), w.dtype)
    d2 = dout.reshape(x2.shape[0], w.shape[0])
    dx = (d2 @ w).reshape(x_shape)
    dw = d2.T @ x2
    db = d2.sum(axis=0) if has_bias else None
    return dx, dw, db
