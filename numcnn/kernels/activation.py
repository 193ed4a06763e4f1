"""ReLU's two passes, one read and one write each, split over threads in blocks.

NumPy's ``np.maximum(x, 0)`` is one pass but single-threaded, and ``dout * (y > 0)`` is
two passes and a boolean temporary, then a mixed-type multiply: on a 64x32x28x28 float32
batch the backward took 5.2 ms in NumPy (2 threads).  Arrays are flat (any shape, C order).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_BLOCK = 1 << 14  # elements per loop iteration: a thread's share in 64 KB pieces


@njit(parallel=True, cache=True)
def _relu_into(x, out):
    n = x.size
    for b in prange((n + _BLOCK - 1) // _BLOCK):
        src = x[b * _BLOCK:min(n, (b + 1) * _BLOCK)]
        dst = out[b * _BLOCK:min(n, (b + 1) * _BLOCK)]
        for k in range(src.size):
            v = src[k]
            dst[k] = v if not v <= 0 else 0  # as np.maximum(x, 0): NaN stays NaN
    return out


@njit(parallel=True, cache=True)
def _relu_grad_into(dout, y, out):
    n = y.size
    for b in prange((n + _BLOCK - 1) // _BLOCK):
        d = dout[b * _BLOCK:min(n, (b + 1) * _BLOCK)]
        yy = y[b * _BLOCK:min(n, (b + 1) * _BLOCK)]
        dst = out[b * _BLOCK:min(n, (b + 1) * _BLOCK)]
        for k in range(d.size):
            dst[k] = d[k] if yy[k] > 0 else d[k] * 0  # as dout * (y > 0): NaN * 0 is NaN
    return out


def relu(x, out=None):
    """max(x, 0) of a C-contiguous array, into ``out`` (x itself for in place) or a new one."""
    out = np.empty_like(x) if out is None else out
    _relu_into(x.reshape(-1), out.reshape(-1))
    return out


def relu_grad(dout, y):
    """dout * [y > 0] for C-contiguous arrays of one shape and dtype (y = relu's output)."""
    out = np.empty_like(y)
    _relu_grad_into(dout.reshape(-1), y.reshape(-1), out.reshape(-1))
    return out
