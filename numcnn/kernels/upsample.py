"""Nearest and bilinear resizing loops, one thread per (n, c) plane.

Integer-factor nearest upsampling copies blocks; any other nearest resize gathers with
per-axis source-index tables, any bilinear one blends with per-axis index and weight tables
(both built by ``numcnn.functional.upsample``).
"""

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
def _nearest2d_gather_into(x, rows, cols, out):
    N, C = x.shape[0], x.shape[1]
    Ho, Wo = rows.shape[0], cols.shape[0]
    for p in prange(N * C):
        plane = x[p // C, p % C]
        dst = out[p // C, p % C]
        for oh in range(Ho):
            src = plane[rows[oh]]
            o = dst[oh]
            for ow in range(Wo):
                o[ow] = src[cols[ow]]
    return out


def nearest2d_gather(x, rows, cols):
    """out[n, c, oh, ow] = x[n, c, rows[oh], cols[ow]].  x (N, C, H, W) -> (N, C, Ho, Wo)."""
    out = np.empty((x.shape[0], x.shape[1], rows.shape[0], cols.shape[0]), dtype=x.dtype)
    return _nearest2d_gather_into(x, rows, cols, out)


@njit(parallel=True, cache=True)
def _nearest2d_scatter_into(dout, rows, cols, dx):
    N, C, Ho, Wo = dout.shape
    for p in prange(N * C):
        g = dout[p // C, p % C]
        dst = dx[p // C, p % C]
        for oh in range(Ho):
            r = dst[rows[oh]]
            go = g[oh]
            for ow in range(Wo):
                r[cols[ow]] += go[ow]
    return dx


def nearest2d_scatter(dout, H, W, rows, cols):
    """The transpose of :func:`nearest2d_gather`: dx[n, c, rows[oh], cols[ow]] += dout[n, c,
    oh, ow].  dout (N, C, Ho, Wo) -> (N, C, H, W)."""
    dx = np.zeros((dout.shape[0], dout.shape[1], H, W), dtype=dout.dtype)
    return _nearest2d_scatter_into(dout, rows, cols, dx)


# Bilinear interpolation is separable: blend two input rows with the row weight, then two
# entries of that blended row with the column weight.  Per output row that is one
# vectorisable pass over W plus Wo two-point gathers, instead of four gathers per output
# pixel; backward runs the same two steps transposed (scatter along the row, then two
# vectorisable row updates).  Blends are written a + t*(b - a): no mixed int-float constant
# (1 - t would be float64 in numba), so float32 stays float32.
@njit(parallel=True, cache=True)
def _upsample_bilinear2d_into(x, h0, h1, lh, w0, w1, lw, out):
    N, C, H, W = x.shape
    Ho, Wo = out.shape[2], out.shape[3]
    for p in prange(N * C):
        plane = x[p // C, p % C]
        dst = out[p // C, p % C]
        row = np.empty(W, dtype=x.dtype)
        for oh in range(Ho):
            t = lh[oh]
            r0 = plane[h0[oh]]
            r1 = plane[h1[oh]]
            for k in range(W):                   # blend the two source rows
                row[k] = r0[k] + t * (r1[k] - r0[k])
            o = dst[oh]
            for ow in range(Wo):                 # then two entries of the blended row
                a = row[w0[ow]]
                o[ow] = a + lw[ow] * (row[w1[ow]] - a)
    return out


def upsample_bilinear2d_forward(x, h0, h1, lh, w0, w1, lw):
    """out[.., oh, ow] = bilinear blend of x's rows h0[oh], h1[oh] (weight of the second
    lh[oh]) and columns w0[ow], w1[ow] (weight lw[ow]).  x (N, C, H, W) -> (N, C, Ho, Wo)."""
    N, C = x.shape[:2]
    out = np.empty((N, C, h0.shape[0], w0.shape[0]), dtype=x.dtype)
    return _upsample_bilinear2d_into(x, h0, h1, lh, w0, w1, lw, out)


@njit(parallel=True, cache=True)
def _upsample_bilinear2d_backward_into(dout, h0, h1, lh, w0, w1, lw, dx):
    N, C, Ho, Wo = dout.shape
    W = dx.shape[3]
    for p in prange(N * C):
        g = dout[p // C, p % C]
        dst = dx[p // C, p % C]
        col = np.empty(W, dtype=dout.dtype)
        for oh in range(Ho):
            col[:] = 0
            go = g[oh]
            for ow in range(Wo):                 # each gradient back to its two columns
                v = go[ow]
                dv = lw[ow] * v
                col[w0[ow]] += v - dv
                col[w1[ow]] += dv
            t = lh[oh]
            ra = dst[h0[oh]]
            rb = dst[h1[oh]]                     # the same row as ra at a clamped edge
            for k in range(W):                   # then the row back to its two rows
                d = t * col[k]
                ra[k] += col[k] - d
                rb[k] += d
    return dx


def upsample_bilinear2d_backward(dout, H, W, h0, h1, lh, w0, w1, lw):
    """The transpose of :func:`upsample_bilinear2d_forward`: each dout entry goes back to
    its four source pixels with the same weights (summed).  dout (N, C, Ho, Wo) -> (N, C, H, W)."""
    N, C = dout.shape[:2]
    dx = np.zeros((N, C, H, W), dtype=dout.dtype)
    return _upsample_bilinear2d_backward_into(dout, h0, h1, lh, w0, w1, lw, dx)
