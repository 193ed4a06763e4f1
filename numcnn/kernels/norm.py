"""Batch-norm loops: per-channel statistics and the fused element-wise passes.

Arrays are viewed as (N, C, L) (L = H*W, or 1 for (N, C) input); one thread per channel,
so each thread reads and writes only its own channel.  NumPy needs a temporary and a full
pass per operation (x - mu, its square, the mean, the scale, the shift: about ten passes
over the data for forward and backward); these loops make two or three.  Sums accumulate
in float64 whatever the data's dtype (more accurate than float32 partial sums, and free:
the loops are memory-bound); outputs keep the input's dtype.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# 'reassoc' lets LLVM split each float64 sum over SIMD lanes (a sum in another order);
# no other fast-math flag, so NaN and inf behave as in NumPy.
_SUM = {"reassoc"}


@njit(parallel=True, cache=True, fastmath=_SUM)
def channel_mean_var(x):
    """x (N, C, L) -> mean (C,), biased variance (C,), both float64, over the N*L values.

    Two passes (the mean, then the squared deviations from it): no cancellation when the
    mean is large next to the spread, unlike E[x^2] - E[x]^2.
    """
    N, C, L = x.shape
    M = N * L
    mean = np.empty(C, dtype=np.float64)
    var = np.empty(C, dtype=np.float64)
    for c in prange(C):
        s = 0.0
        for n in range(N):
            row = x[n, c]
            for k in range(L):
                s += row[k]
        mu = s / M
        q = 0.0
        for n in range(N):
            row = x[n, c]
            for k in range(L):
                d = row[k] - mu
                q += d * d
        mean[c] = mu
        var[c] = q / M
    return mean, var


@njit(parallel=True, cache=True)
def _affine_into(x, mean, scale, shift, out):
    N, C, L = x.shape
    for c in prange(C):
        m, s, b = mean[c], scale[c], shift[c]
        for n in range(N):
            src = x[n, c]
            dst = out[n, c]
            for k in range(L):
                dst[k] = (src[k] - m) * s + b
    return out


def batch_norm_apply(x, mean, scale, shift):
    """out = (x - mean[c]) * scale[c] + shift[c]; x (N, C, L), the vectors (C,) of x's dtype."""
    return _affine_into(x, mean, scale, shift, np.empty_like(x))


@njit(parallel=True, cache=True, fastmath=_SUM)
def channel_grad_sums(dout, x, mean):
    """sum_k dout_k and sum_k dout_k * (x_k - mean) per channel, float64 (C,) each.

    ``mean`` is float64: the same mean the forward pass subtracted (rounded to x's dtype).
    """
    N, C, L = x.shape
    s_dy = np.empty(C, dtype=np.float64)
    s_dyx = np.empty(C, dtype=np.float64)
    for c in prange(C):
        m = mean[c]
        a = 0.0
        b = 0.0
        for n in range(N):
            g = dout[n, c]
            row = x[n, c]
            for k in range(L):
                gk = np.float64(g[k])
                a += gk
                b += gk * (np.float64(row[k]) - m)
        s_dy[c] = a
        s_dyx[c] = b
    return s_dy, s_dyx


@njit(parallel=True, cache=True)
def _grad_into(dout, x, mean, a, b, c0, dx):
    N, C, L = x.shape
    for c in prange(C):
        m, ac, bc, cc = mean[c], a[c], b[c], c0[c]
        for n in range(N):
            g = dout[n, c]
            row = x[n, c]
            dst = dx[n, c]
            for k in range(L):
                dst[k] = ac * g[k] + bc * (row[k] - m) + cc
    return dx


def batch_norm_grad(dout, x, mean, a, b, c):
    """dx = a[c] * dout + b[c] * (x - mean[c]) + c[c]; all (N, C, L) or (C,) of x's dtype."""
    return _grad_into(dout, x, mean, a, b, c, np.empty_like(x))
