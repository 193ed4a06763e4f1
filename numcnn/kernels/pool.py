"""Max and average pooling loops, one thread per (n, c) plane."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


# -------------------------------------------------------------------------------- max pooling
@njit(parallel=True, cache=True)
def _max_pool2d_inside_into(x, kh, kw, corner, out, arg):
    """Max pooling when every window lies inside the image (no padding).

    ``corner[q]`` is the flat index ih*W + iw of the top-left pixel of window q (q = oh*Wo +
    ow), so tap (i, j) of window q is pixel ``corner[q] + i*W + j``.
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
                off = i * W + j
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
def _max_pool2d_padded_into(x, kh, kw, sh, sw, ph, pw, out, arg):
    """Max pooling, any padding: the plain scan of each window's in-image pixels."""
    N, C, H, W = x.shape
    Ho, Wo = out.shape[2], out.shape[3]
    for p in prange(N * C):
        n = p // C
        c = p % C
        plane = x[n, c]
        for oh in range(Ho):
            h0 = oh * sh - ph
            h_start = max(h0, 0)
            h_end = min(h0 + kh, H)
            o_row = out[n, c, oh]
            a_row = arg[n, c, oh]
            for ow in range(Wo):
                w0 = ow * sw - pw
                w_start = max(w0, 0)
                w_end = min(w0 + kw, W)
                best = -np.inf
                best_idx = h_start * W + w_start
                for ih in range(h_start, h_end):
                    row = plane[ih]
                    for iw in range(w_start, w_end):
                        v = row[iw]
                        # strict '>' keeps the first of equal maxima; the first NaN wins
                        if v > best or (v != v and best == best):
                            best = v
                            best_idx = ih * W + iw
                o_row[ow] = best
                a_row[ow] = best_idx
    return out, arg


def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, Ho, Wo):
    """x (N, C, H, W) -> out (N, C, Ho, Wo), argmax (N, C, Ho, Wo) as flat ih*W + iw.

    Padding acts as -inf.  Ties: the first maximum in row-major window order wins (a later
    equal value does not replace it).  A NaN in the window is selected and propagates.
    """
    N, C, H, W = x.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    arg = np.empty((N, C, Ho, Wo), dtype=np.int64)
    if ph or pw:
        return _max_pool2d_padded_into(x, kh, kw, sh, sw, ph, pw, out, arg)
    corner = (np.arange(Ho)[:, None] * (sh * W) + np.arange(Wo) * sw).ravel()
    return _max_pool2d_inside_into(x, kh, kw, corner, out, arg)


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
def avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, Ho, Wo):
    """out[n, c, oh, ow] = (sum of the window's in-image pixels) / (kh*kw).

    Dividing by kh*kw whatever the padding is PyTorch's default ``count_include_pad=True``.
    """
    N, C, H, W = x.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    inv = 1.0 / (kh * kw)
    for p in prange(N * C):
        n = p // C
        c = p % C
        for oh in range(Ho):
            h0 = oh * sh - ph
            h_start = max(h0, 0)
            h_end = min(h0 + kh, H)
            for ow in range(Wo):
                w0 = ow * sw - pw
                w_start = max(w0, 0)
                w_end = min(w0 + kw, W)
                s = 0.0  # scalar accumulator
                for ih in range(h_start, h_end):
                    for iw in range(w_start, w_end):
                        s += x[n, c, ih, iw]
                out[n, c, oh, ow] = s * inv
    return out


@njit(parallel=True, cache=True)
def avg_pool2d_backward(dout, H, W, kh, kw, sh, sw, ph, pw):
    """Spread dout[n, c, oh, ow] / (kh*kw) over the window's in-image pixels (summing)."""
    N, C, Ho, Wo = dout.shape
    dx = np.zeros((N, C, H, W), dtype=dout.dtype)
    inv = 1.0 / (kh * kw)
    for p in prange(N * C):
        n = p // C
        c = p % C
        for oh in range(Ho):
            h0 = oh * sh - ph
            h_start = max(h0, 0)
            h_end = min(h0 + kh, H)
            for ow in range(Wo):
                w0 = ow * sw - pw
                w_start = max(w0, 0)
                w_end = min(w0 + kw, W)
                g = dout[n, c, oh, ow] * inv
                for ih in range(h_start, h_end):
                    for iw in range(w_start, w_end):
                        dx[n, c, ih, iw] += g
    return dx
