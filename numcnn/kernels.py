"""The only numba code in numcnn: the loops NumPy does badly.

Every kernel is ``@njit(cache=True)``; the parallel ones split work so that no two threads
ever write the same element (col2im and the pooling backwards work one (n, c) plane per
thread, because overlapping windows add into the same input pixel).  Kernels allocate
their output with the input's dtype, so float32 stays float32.

Arguments are plain ints (not tuples) so numba compiles one specialisation per dtype.
Callers (``numcnn.functional``) validate shapes and pass C-contiguous arrays.

Index convention for 2-D windows, used throughout (see docs/convolution.md):
output pixel (oh, ow) and kernel tap (i, j) read input pixel
``ih = oh*sh - ph + i*dh``, ``iw = ow*sw - pw + j*dw``; taps outside the input read 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(inline="always")
def _valid_range(kk, d, s, p, size, out_size):
    """Output positions o in [lo, hi) whose input index o*s - p + kk*d lies in [0, size)."""
    off = kk * d - p  # input index = o*s + off
    lo = 0
    if off < 0:
        lo = (-off + s - 1) // s
    hi = out_size
    last = size - 1 - off  # o*s <= last
    if last < 0:
        hi = 0
    elif last // s + 1 < hi:
        hi = last // s + 1
    if hi < lo:
        hi = lo
    return lo, hi


# --------------------------------------------------------------------------- im2col / col2im
@njit(parallel=True, cache=True)
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo):
    """x (N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo), channel-first.

    ``cols[(c*kh + i)*kw + j, (n*Ho + oh)*Wo + ow] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]``
    (0 where that index falls in the padding).  One thread per row.
    """
    N, C, H, W = x.shape
    K = kh * kw
    L = Ho * Wo
    cols = np.empty((C * K, N * L), dtype=x.dtype)
    for r in prange(C * K):
        c = r // K
        i = (r // kw) % kh
        j = r % kw
        w_lo, w_hi = _valid_range(j, dw, sw, pw, W, Wo)
        off_w = j * dw - pw
        for n in range(N):
            for oh in range(Ho):
                base = n * L + oh * Wo
                ih = oh * sh - ph + i * dh
                if ih < 0 or ih >= H:
                    for ow in range(Wo):
                        cols[r, base + ow] = 0
                    continue
                for ow in range(w_lo):
                    cols[r, base + ow] = 0
                for ow in range(w_lo, w_hi):
                    cols[r, base + ow] = x[n, c, ih, ow * sw + off_w]
                for ow in range(w_hi, Wo):
                    cols[r, base + ow] = 0
    return cols


@njit(parallel=True, cache=True)
def col2im(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo):
    """Adjoint of :func:`im2col`: cols (C*kh*kw, N*Ho*Wo) -> x (N, C, H, W).

    Every column entry is *added* to the input pixel it was copied from, so pixels covered
    by several windows receive the sum.  Padding entries are dropped.  One thread per
    (n, c) plane: a plane's pixels are written only by its own thread (race-free).
    """
    K = kh * kw
    L = Ho * Wo
    x = np.zeros((N, C, H, W), dtype=cols.dtype)
    for p in prange(N * C):
        n = p // C
        c = p % C
        for i in range(kh):
            h_lo, h_hi = _valid_range(i, dh, sh, ph, H, Ho)
            for j in range(kw):
                w_lo, w_hi = _valid_range(j, dw, sw, pw, W, Wo)
                off_w = j * dw - pw
                r = c * K + i * kw + j
                for oh in range(h_lo, h_hi):
                    ih = oh * sh - ph + i * dh
                    base = n * L + oh * Wo
                    for ow in range(w_lo, w_hi):
                        x[n, c, ih, ow * sw + off_w] += cols[r, base + ow]
    return x


# ------------------------------------------------------------------ NCHW <-> (C, N*H*W) layout
@njit(parallel=True, cache=True)
def cn_to_nchw(m, N, bias):
    """m (C, N*H*W) plus bias (C,) -> (N, C, H, W); the GEMM result put back in NCHW order."""
    C = m.shape[0]
    L = m.shape[1] // N
    out = np.empty((N, C, L), dtype=m.dtype)
    for p in prange(N * C):
        n = p // C
        c = p % C
        b = bias[c]
        for k in range(L):
            out[n, c, k] = m[c, n * L + k] + b
    return out


@njit(parallel=True, cache=True)
def nchw_to_cn(x):
    """x (N, C, H, W) -> (C, N*H*W); the layout the GEMMs of convolution use."""
    N, C, H, W = x.shape
    L = H * W
    out = np.empty((C, N * L), dtype=x.dtype)
    for p in prange(N * C):
        n = p // C
        c = p % C
        for ih in range(H):
            for iw in range(W):
                out[c, n * L + ih * W + iw] = x[n, c, ih, iw]
    return out


# -------------------------------------------------------------------------------- max pooling
@njit(parallel=True, cache=True)
def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, Ho, Wo):
    """x (N, C, H, W) -> out (N, C, Ho, Wo), argmax (N, C, Ho, Wo) as flat ih*W + iw.

    Padding acts as -inf.  Ties: the first maximum in row-major window order wins (a later
    equal value does not replace it).  A NaN in the window is selected and propagates.
    """
    N, C, H, W = x.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    arg = np.empty((N, C, Ho, Wo), dtype=np.int64)
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
                best = -np.inf
                best_idx = h_start * W + w_start
                for ih in range(h_start, h_end):
                    for iw in range(w_start, w_end):
                        v = x[n, c, ih, iw]
                        # strict '>' keeps the first of equal maxima; the first NaN wins
                        if v > best or (v != v and best == best):
                            best = v
                            best_idx = ih * W + iw
                out[n, c, oh, ow] = best
                arg[n, c, oh, ow] = best_idx
    return out, arg


@njit(parallel=True, cache=True)
def max_pool2d_backward(dout, arg, H, W):
    """Route each dout[n, c, oh, ow] to the input pixel that won the max (summing repeats)."""
    N, C, Ho, Wo = dout.shape
    dx = np.zeros((N, C, H * W), dtype=dout.dtype)
    for p in prange(N * C):
        n = p // C
        c = p % C
        for oh in range(Ho):
            for ow in range(Wo):
                dx[n, c, arg[n, c, oh, ow]] += dout[n, c, oh, ow]
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
