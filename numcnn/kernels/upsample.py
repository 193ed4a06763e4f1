"""Nearest and bilinear upsampling loops, one thread per (n, c) plane."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def upsample_nearest2d_forward(x, sh, sw):
    """out[n, c, oh, ow] = x[n, c, oh // sh, ow // sw]  (integer scale factors)."""
    N, C, H, W = x.shape
    out = np.empty((N, C, H * sh, W * sw), dtype=x.dtype)
    for p in prange(N * C):
        n = p // C
        c = p % C
        for oh in range(H * sh):
            ih = oh // sh
            for ow in range(W * sw):
                out[n, c, oh, ow] = x[n, c, ih, ow // sw]
    return out


@njit(parallel=True, cache=True)
def upsample_nearest2d_backward(dout, sh, sw):
    """dx[n, c, h, w] = sum of dout over the sh x sw block that copied x[n, c, h, w]."""
    N, C, Ho, Wo = dout.shape
    dx = np.zeros((N, C, Ho // sh, Wo // sw), dtype=dout.dtype)
    for p in prange(N * C):
        n = p // C
        c = p % C
        for oh in range(Ho):
            ih = oh // sh
            for ow in range(Wo):
                dx[n, c, ih, ow // sw] += dout[n, c, oh, ow]
    return dx


@njit(parallel=True, cache=True)
def upsample_bilinear2d_forward(x, h0, h1, lh, w0, w1, lw):
    """out[.., oh, ow] = sum over the 4 neighbours of their bilinear weight times x.

    Row oh reads rows h0[oh] (weight 1 - lh[oh]) and h1[oh] (weight lh[oh]); columns alike.
    """
    N, C, H, W = x.shape
    Ho, Wo = h0.shape[0], w0.shape[0]
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for p in prange(N * C):
        n = p // C
        c = p % C
        for oh in range(Ho):
            a0, a1, b = h0[oh], h1[oh], lh[oh]
            for ow in range(Wo):
                c0, c1, d = w0[ow], w1[ow], lw[ow]
                top = (1 - d) * x[n, c, a0, c0] + d * x[n, c, a0, c1]
                bottom = (1 - d) * x[n, c, a1, c0] + d * x[n, c, a1, c1]
                out[n, c, oh, ow] = (1 - b) * top + b * bottom
    return out


@njit(parallel=True, cache=True)
def upsample_bilinear2d_backward(dout, H, W, h0, h1, lh, w0, w1, lw):
    """Scatter each dout[.., oh, ow] to its 4 neighbours with the forward's weights."""
    N, C, Ho, Wo = dout.shape
    dx = np.zeros((N, C, H, W), dtype=dout.dtype)
    for p in prange(N * C):
        n = p // C
        c = p % C
        for oh in range(Ho):
            a0, a1, b = h0[oh], h1[oh], lh[oh]
            for ow in range(Wo):
                c0, c1, d = w0[ow], w1[ow], lw[ow]
                g = dout[n, c, oh, ow]
                dx[n, c, a0, c0] += (1 - b) * (1 - d) * g
                dx[n, c, a0, c1] += (1 - b) * d * g
                dx[n, c, a1, c0] += b * (1 - d) * g
                dx[n, c, a1, c1] += b * d * g
    return dx
