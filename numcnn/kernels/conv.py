"""im2col / col2im and the NCHW <-> (C, N*H*W) layout copies around convolution's GEMMs."""

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
def _im2col_into(x, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, cols):
    N, C, H, W = x.shape
    K = kh * kw
    xf = x.reshape(N * C * H * W)
    u = np.uint64  # unsigned flat indices: no wraparound test, so the copies vectorise
    for r in prange(C * K):
        c = r // K
        i = (r // kw) % kh
        j = r % kw
        h_lo, h_hi = _valid_range(i, dil_h, sh, ph, H, Ho)
        w_lo, w_hi = _valid_range(j, dil_w, sw, pw, W, Wo)
        w_first = w_lo * sw + j * dil_w - pw  # input column read by output column w_lo
        row = cols[r]
        for n in range(N):
            if sh == 1 and sw == 1 and Wo == W and h_lo < h_hi and w_lo < w_hi:
                # "Same" convolution: output rows h_lo..h_hi-1 read input rows that follow
                # each other with the same pitch W, so they are ONE contiguous copy (from
                # output pixel (h_lo, w_lo) to (h_hi-1, w_hi-1)).  That copy also fills the
                # first w_lo and last W-w_hi columns of each row with pixels of the
                # neighbouring row; the loop below overwrites them with the padding's 0s.
                out = u((n * Ho + h_lo) * Wo + w_lo)
                src = u(((n * C + c) * H + h_lo - ph + i * dil_h) * W + w_first)
                for k in range(u((h_hi - h_lo - 1) * W + w_hi - w_lo)):
                    row[out + k] = xf[src + k]
                for oh in range(Ho):
                    out = u((n * Ho + oh) * Wo)
                    if oh < h_lo or oh >= h_hi:
                        for k in range(u(Wo)):
                            row[out + k] = 0
                    else:
                        for k in range(u(w_lo)):
                            row[out + k] = 0
                        for k in range(u(w_hi), u(Wo)):
                            row[out + k] = 0
                continue
            for oh in range(Ho):
                out = u((n * Ho + oh) * Wo)  # this output row's start in `row`
                if oh < h_lo or oh >= h_hi:  # the tap reads a padding row
                    for k in range(u(Wo)):
                        row[out + k] = 0
                    continue
                for k in range(u(w_lo)):
                    row[out + k] = 0
                src = u(((n * C + c) * H + oh * sh - ph + i * dil_h) * W + w_first)
                dst = out + u(w_lo)
                if sw == 1:  # the common case: a contiguous copy
                    for k in range(u(w_hi - w_lo)):
                        row[dst + k] = xf[src + k]
                else:
                    for k in range(u(w_hi - w_lo)):
                        row[dst + k] = xf[src + k * u(sw)]
                for k in range(u(w_hi), u(Wo)):
                    row[out + k] = 0
    return cols


def im2col(x, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo):
    """x (N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo), channel-first.

    ``cols[(c*kh + i)*kw + j, (n*Ho + oh)*Wo + ow]
    = x[n, c, oh*sh - ph + i*dil_h, ow*sw - pw + j*dil_w]``
    (0 where that index falls in the padding).  One thread per row.
    """
    N, C = x.shape[:2]
    cols = np.empty((C * kh * kw, N * Ho * Wo), dtype=x.dtype)
    return _im2col_into(x, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, cols)


@njit(parallel=True, cache=True)
def _col2im_into(cols, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, x):
    N, C, H, W = x.shape
    K = kh * kw
    xf = x.reshape(N * C * H * W)
    u = np.uint64  # unsigned flat indices: no wraparound test, so the adds vectorise
    for p in prange(N * C):
        n = p // C
        c = p % C
        for i in range(kh):
            h_lo, h_hi = _valid_range(i, dil_h, sh, ph, H, Ho)
            for j in range(kw):
                w_lo, w_hi = _valid_range(j, dil_w, sw, pw, W, Wo)
                w_first = w_lo * sw + j * dil_w - pw
                row = cols[c * K + i * kw + j]
                for oh in range(h_lo, h_hi):
                    src = u((n * Ho + oh) * Wo + w_lo)
                    dst = u((p * H + oh * sh - ph + i * dil_h) * W + w_first)  # p = n*C + c
                    if sw == 1:
                        for k in range(u(w_hi - w_lo)):
                            xf[dst + k] += row[src + k]
                    else:
                        for k in range(u(w_hi - w_lo)):
                            xf[dst + k * u(sw)] += row[src + k]
    return x


def col2im(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, out=None):
    """Adjoint of :func:`im2col`: cols (C*kh*kw, N*Ho*Wo) -> x (N, C, H, W).

    Every column entry is *added* to the input pixel it was copied from, so pixels covered
    by several windows receive the sum.  Padding entries are dropped.  One thread per
    (n, c) plane: a plane's pixels are written only by its own thread (race-free).
    ``out``, if given, is a C-contiguous (N, C, H, W) array that the columns are added into
    (pass zeros for a plain col2im); otherwise a zeroed one is allocated.
    """
    x = np.zeros((N, C, H, W), dtype=cols.dtype) if out is None else out
    return _col2im_into(cols, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, x)


# ------------------------------------------------------------------ NCHW <-> (C, N*H*W) layout
# These two copies run on one thread.  They are memory-bound and always follow or precede a
# GEMM, and after a GEMM OpenBLAS's worker thread keeps spinning on the second core for a
# while: a parallel split then only adds a thread wake-up and waits for that core (measured
# 0.6-0.8 ms instead of 0.15 ms for the 64x64x14x14 benchmark layer, 2 threads).
@njit(cache=True)
def _cn_to_nchw_into(m, bias, out):
    N, C, L = out.shape
    for p in range(N * C):
        n = p // C
        c = p % C
        b = bias[c]
        dst = out[n, c]
        src = m[c, n * L:(n + 1) * L]
        for k in range(L):
            dst[k] = src[k] + b
    return out


def cn_to_nchw(m, N, bias, out=None):
    """m (C, N*H*W) plus bias (C,) -> (N, C, H*W); the GEMM result put back in NCHW order.

    ``out``, if given, is the C-contiguous (N, C, H*W) array to write.
    """
    if out is None:
        out = np.empty((N, m.shape[0], m.shape[1] // max(N, 1)), dtype=m.dtype)  # N = 0: empty
    return _cn_to_nchw_into(m, bias, out)


@njit(cache=True)
def _nchw_to_cn_into(x, out):
    N, C, L = x.shape
    for p in range(N * C):
        n = p // C
        c = p % C
        dst = out[c, n * L:(n + 1) * L]
        src = x[n, c]
        for k in range(L):
            dst[k] = src[k]
    return out


def nchw_to_cn(x):
    """x (N, C, H, W) -> (C, N*H*W); the layout the GEMMs of convolution use."""
    N, C, H, W = x.shape
    out = np.empty((C, N * H * W), dtype=x.dtype)
    return _nchw_to_cn_into(x.reshape(N, C, H * W), out)
