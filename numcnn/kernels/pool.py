"""Max and average pooling loops, one thread per (n, c) plane."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


# -------------------------------------------------------------------------------- max pooling
# Windows are given per axis: window (oh, ow) reads the in-image rows h_start[oh],
# h_start[oh] + dil_h, ... (< h_stop[oh]) and the columns w_start[ow], ... alike.  Taps in the
# padding are not listed: they are -inf for max pooling and 0 for average pooling, so they
# never change a maximum or a sum.  Every window has at least one tap (the caller checks).
@njit(parallel=True, cache=True)
def _max_pool2d_uniform_into(x, corner, kh, kw, row_step, col_step, out, arg):
    """Max pooling when every window has kh x kw in-image taps (no padding in the way).

    ``corner[q]`` is the flat index ih*W + iw of the first tap of window q (q = oh*Wo + ow),
    so tap (i, j) of window q is pixel ``corner[q] + i*row_step + j*col_step``.
    """
    N, C, H, W = x.shape
    Q = corner.size
    for p in prange(N * C):
        n = p // C
        c = p % C
        plane = x[n, c].ravel()
        best = out[n, c].ravel()  # running max of every window of this plane
        where = arg[n, c].ravel()  # and its flat index
        tap = np.empty(Q, dtype=x.dtype)
        for q in range(Q):  # the first tap starts every window's scan
            best[q] = plane[corner[q]]
            where[q] = corner[q]
        # Taps in row-major order, each over all windows at once.  Per window this is the
        # usual scan (strict '>' keeps the first of equal maxima; the first NaN wins), but
        # the update loop runs over all Ho*Wo windows: long enough for LLVM to turn its
        # selects into SIMD blends.  A per-window loop of kh*kw steps stays scalar and
        # branches on every comparison, mispredicting about half of them on real data.
        for i in range(kh):
            for j in range(kw):
                if i == 0 and j == 0:
                    continue
                off = i * row_step + j * col_step
                for q in range(Q):  # gather this tap of every window (no comparisons)
                    tap[q] = plane[corner[q] + off]
                for q in range(Q):
                    v = tap[q]
                    b = best[q]
                    a = where[q]
                    take = (v > b) | ((v != v) & (b == b))
                    best[q] = v if take else b
                    where[q] = a + take * (corner[q] + off - a)  # arithmetic, not a branch
    return out, arg


@njit(parallel=True, cache=True)
def _max_pool2d_windows_into(x, h_start, h_stop, w_start, w_stop, dil_h, dil_w, out, arg):
    """Max pooling, any windows: the plain scan of each window's in-image taps."""
    N, C, H, W = x.shape
    Ho, Wo = out.shape[2], out.shape[3]
    for p in prange(N * C):
        n = p // C
        c = p % C
        plane = x[n, c]
        for oh in range(Ho):
            o_row = out[n, c, oh]
            a_row = arg[n, c, oh]
            for ow in range(Wo):
                best = plane[h_start[oh], w_start[ow]]
                best_idx = h_start[oh] * W + w_start[ow]
                for ih in range(h_start[oh], h_stop[oh], dil_h):
                    row = plane[ih]
                    for iw in range(w_start[ow], w_stop[ow], dil_w):
                        v = row[iw]
                        # strict '>' keeps the first of equal maxima; the first NaN wins
                        if v > best or (v != v and best == best):
                            best = v
                            best_idx = ih * W + iw
                o_row[ow] = best
                a_row[ow] = best_idx
    return out, arg


def _taps(start, stop, step):
    return (stop - start - 1) // step + 1


def max_pool2d_forward(x, h_start, h_stop, w_start, w_stop, dil_h, dil_w):
    """x (N, C, H, W) -> out (N, C, Ho, Wo), argmax (N, C, Ho, Wo) as flat ih*W + iw, over the
    windows described above (Ho = h_start.size, Wo = w_start.size).

    Ties: the first maximum in row-major window order wins (a later equal value does not
    replace it).  A NaN in the window is selected and propagates.
    """
    N, C, H, W = x.shape
    Ho, Wo = h_start.size, w_start.size
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    arg = np.empty((N, C, Ho, Wo), dtype=np.int64)
    taps_h, taps_w = _taps(h_start, h_stop, dil_h), _taps(w_start, w_stop, dil_w)
    if np.all(taps_h == taps_h[0]) and np.all(taps_w == taps_w[0]):
        corner = (h_start[:, None] * W + w_start).ravel()
        return _max_pool2d_uniform_into(x, corner, taps_h[0], taps_w[0], dil_h * W, dil_w, out,
                                        arg)
    return _max_pool2d_windows_into(x, h_start, h_stop, w_start, w_stop, dil_h, dil_w, out, arg)


@njit(parallel=True, cache=True)
def _max_pool2d_backward_into(dout, arg, dx):
    N, C, L = dout.shape
    for p in prange(N * C):
        n = p // C
        c = p % C
        d = dx[n, c]
        a = arg[n, c]
        g = dout[n, c]
        for k in range(L):
            d[a[k]] += g[k]
    return dx


def max_pool2d_backward(dout, arg, H, W):
    """Route each dout[n, c, oh, ow] to the input pixel that won the max (summing repeats)."""
    N, C, Ho, Wo = dout.shape
    dx = np.zeros((N, C, H * W), dtype=dout.dtype)
    _max_pool2d_backward_into(dout.reshape(N, C, Ho * Wo), arg.reshape(N, C, Ho * Wo), dx)
    return dx.reshape(N, C, H, W)


# ---------------------------------------------------------------------------- average pooling
@njit(parallel=True, cache=True)
def avg_pool2d_forward(x, h_start, h_stop, w_start, w_stop, dil_h, dil_w, scale):
    """out[n, c, oh, ow] = scale[oh, ow] * (sum of window (oh, ow)'s in-image taps).

    ``scale`` (Ho, Wo) is 1 / divisor, the divisor chosen by the caller (with or without the
    padded taps, or an override).  The sum is accumulated in float64.
    """
    N, C, H, W = x.shape
    Ho, Wo = scale.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for p in prange(N * C):
        n = p // C
        c = p % C
        for oh in range(Ho):
            for ow in range(Wo):
                s = 0.0  # scalar accumulator
                for ih in range(h_start[oh], h_stop[oh], dil_h):
                    for iw in range(w_start[ow], w_stop[ow], dil_w):
                        s += x[n, c, ih, iw]
                out[n, c, oh, ow] = s * scale[oh, ow]
    return out


@njit(parallel=True, cache=True)
def avg_pool2d_backward(dout, H, W, h_start, h_stop, w_start, w_stop, dil_h, dil_w, scale):
    """Spread dout[n, c, oh, ow] * scale[oh, ow] over the window's in-image taps (summing)."""
    N, C, Ho, Wo = dout.shape
    dx = np.zeros((N, C, H, W), dtype=dout.dtype)
    for p in prange(N * C):
        n = p // C
        c = p % C
        for oh in range(Ho):
            for ow in range(Wo):
                g = dout[n, c, oh, ow] * scale[oh, ow]
                for ih in range(h_start[oh], h_stop[oh], dil_h):
                    for iw in range(w_start[ow], w_stop[ow], dil_w):
                        dx[n, c, ih, iw] += g
    return dx
