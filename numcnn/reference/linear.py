"""The fully connected layer, the sums of docs/linear.md written as loops.

Same signatures, return values and caches as ``numcnn.functional``.
"""

from __future__ import annotations

import numpy as np

from ..functional.linear import LinearCache


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None):
    """y[n, f] = sum_c x[n, c] w[f, c] + b[f].

    x : (N, in) or (..., in) (leading axes are a batch);  w : (out, in);  b : (out,) or None.
    Returns (y of shape (..., out), LinearCache).
    """
    n_out, n_in = w.shape
    x2 = x.reshape(int(np.prod(x.shape[:-1])), n_in)        # one row per sample
    y = np.zeros((x2.shape[0], n_out), dtype=x.dtype)
    for n in range(x2.shape[0]):
        for f in range(n_out):
            y[n, f] = np.dot(x2[n], w[f])                        # sum over c
            if b is not None:
                y[n, f] += b[f]
    return y.reshape(*x.shape[:-1], n_out), LinearCache(x2, x.shape, w, b is not None)


def linear_backward(dout: np.ndarray, cache: LinearCache):
    """Every product x[n, c] w[f, c] sends dout[n, f] back to both factors:
    dx[n, c] = sum_f dout[n, f] w[f, c],  dw[f, c] = sum_n dout[n, f] x[n, c],
    db[f] = sum_n dout[n, f].  Returns (dx, dw, db or None)."""
    x2, x_shape, w, has_bias = cache
    d2 = dout.reshape(x2.shape[0], w.shape[0])
    dx, dw, db = np.zeros_like(x2), np.zeros_like(w), np.zeros(w.shape[0], dtype=w.dtype)
    for n in range(x2.shape[0]):
        for f in range(w.shape[0]):
            dx[n] += d2[n, f] * w[f]
            dw[f] += d2[n, f] * x2[n]
            db[f] += d2[n, f]
    return dx.reshape(x_shape), dw, (db if has_bias else None)
