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
# Each loop body is written once (``_im2col_row``, ``_col2im_plane``) and driven twice: by a
# parallel loop (numba's threads split the rows / planes of one big matrix) and by a serial
# loop that releases the GIL (numcnn's own threads, one chunk of the batch each: see
# numcnn/_threads.py, ``map_chunks``).
@njit(inline="always")
def _im2col_row(xf, N, C, H, W, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, r, row):
    """Row r = (c*kh + i)*kw + j of the column matrix: tap (i, j) of channel c, every window."""
    K = kh * kw
    u = np.uint64  # unsigned flat indices: no wraparound test, so the copies vectorise
    c = r // K
    i = (r // kw) % kh
    j = r % kw
    h_lo, h_hi = _valid_range(i, dil_h, sh, ph, H, Ho)
    w_lo, w_hi = _valid_range(j, dil_w, sw, pw, W, Wo)
    w_first = w_lo * sw + j * dil_w - pw  # input column read by output column w_lo
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


@njit(parallel=True, cache=True)
def _im2col_into(x, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, cols):
    N, C, H, W = x.shape
    xf = x.reshape(N * C * H * W)
    for r in prange(C * kh * kw):
        _im2col_row(xf, N, C, H, W, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, r, cols[r])
    return cols


@njit(nogil=True, cache=True)
def _im2col_into_serial(x, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, cols):
    N, C, H, W = x.shape
    xf = x.reshape(N * C * H * W)
    for r in range(C * kh * kw):
        _im2col_row(xf, N, C, H, W, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, r, cols[r])
    return cols


def im2col(x, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, parallel=True):
    """x (N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo), channel-first.

    ``cols[(c*kh + i)*kw + j, (n*Ho + oh)*Wo + ow]
    = x[n, c, oh*sh - ph + i*dil_h, ow*sw - pw + j*dil_w]``
    (0 where that index falls in the padding).  One thread per row, or with
    ``parallel=False`` the calling thread alone (the GIL released).
    """
    N, C = x.shape[:2]
    cols = np.empty((C * kh * kw, N * Ho * Wo), dtype=x.dtype)
    into = _im2col_into if parallel else _im2col_into_serial
    return into(x, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, cols)


@njit(inline="always")
def _col2im_plane(cols, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, xf, C, H, W, p):
    """Add every column entry of plane p = n*C + c back onto the pixel it was copied from."""
    u = np.uint64  # unsigned flat indices: no wraparound test, so the adds vectorise
    n = p // C
    c = p % C
    for i in range(kh):
        h_lo, h_hi = _valid_range(i, dil_h, sh, ph, H, Ho)
        for j in range(kw):
            w_lo, w_hi = _valid_range(j, dil_w, sw, pw, W, Wo)
            w_first = w_lo * sw + j * dil_w - pw
            row = cols[(c * kh + i) * kw + j]
            for oh in range(h_lo, h_hi):
                src = u((n * Ho + oh) * Wo + w_lo)
                dst = u((p * H + oh * sh - ph + i * dil_h) * W + w_first)
                if sw == 1:
                    for k in range(u(w_hi - w_lo)):
                        xf[dst + k] += row[src + k]
                else:
                    for k in range(u(w_hi - w_lo)):
                        xf[dst + k * u(sw)] += row[src + k]


@njit(parallel=True, cache=True)
def _col2im_into(cols, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, x):
    N, C, H, W = x.shape
    xf = x.reshape(N * C * H * W)
    for p in prange(N * C):
        _col2im_plane(cols, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, xf, C, H, W, p)
    return x


@njit(nogil=True, cache=True)
def _col2im_into_serial(cols, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, x):
    N, C, H, W = x.shape
    xf = x.reshape(N * C * H * W)
    for p in range(N * C):
        _col2im_plane(cols, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, xf, C, H, W, p)
    return x


def col2im(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, out=None,
           parallel=True):
    """Adjoint of :func:`im2col`: cols (C*kh*kw, N*Ho*Wo) -> x (N, C, H, W).

    Every column entry is *added* to the input pixel it was copied from, so pixels covered
    by several windows receive the sum.  Padding entries are dropped.  One thread per
    (n, c) plane: a plane's pixels are written only by its own thread (race-free); with
    ``parallel=False`` the calling thread alone (the GIL released).
    ``out``, if given, is a C-contiguous (N, C, H, W) array that the columns are added into
    (pass zeros for a plain col2im); otherwise a zeroed one is allocated.
    """
    x = np.zeros((N, C, H, W), dtype=cols.dtype) if out is None else out
    into = _col2im_into if parallel else _col2im_into_serial
    return into(cols, kh, kw, sh, sw, ph, pw, dil_h, dil_w, Ho, Wo, x)


# ------------------------------------------------------------------ NCHW <-> (C, N*H*W) layout
# These two copies run on the calling thread (the GIL released).  They are memory-bound and
# always sit next to a GEMM: in numcnn's own threads each one is part of its thread's chunk,
# and beside a multi-threaded GEMM a parallel split only adds a thread wake-up while
# OpenBLAS's worker still holds the second core (measured 0.6-0.8 ms instead of 0.15 ms
# for the 64x64x14x14 benchmark layer, 2 threads).  Both take (n, C, rows, W) arrays that
# may be a band of rows of a bigger image; a whole image is passed as one row per plane.
@njit(nogil=True, cache=True)
def _cn_to_nchw_into(m, bias, out):
    N, C, R, W = out.shape
    for p in range(N * C):
        n = p // C
        c = p % C
        b = bias[c]
        for r in range(R):
            dst = out[n, c, r]
            src = m[c, (n * R + r) * W:(n * R + r + 1) * W]
            for k in range(W):
                dst[k] = src[k] + b
    return out


def _planes(a):
    """An (n, C, rows, W) array as (n, C, 1, rows*W) when it is contiguous (one long copy
    per plane), else as it is (a band of a bigger image: one copy per row)."""
    n, C, R, W = a.shape
    return a.reshape(n, C, 1, R * W) if a.flags.c_contiguous else a


def cn_to_nchw(m, bias, out):
    """out (n, C, rows, W) = m (C, n*rows*W) + bias (C,): a GEMM's result put back in NCHW
    order.  ``out`` may be a band of rows of a bigger (n, C, H, W) array."""
    _cn_to_nchw_into(m, bias, _planes(out))
    return out


@njit(nogil=True, cache=True)
def _nchw_to_cn_into(x, out):
    N, C, R, W = x.shape
    for p in range(N * C):
        n = p // C
        c = p % C
        for r in range(R):
            dst = out[c, (n * R + r) * W:(n * R + r + 1) * W]
            src = x[n, c, r]
            for k in range(W):
                dst[k] = src[k]
    return out


def nchw_to_cn(x):
    """x (n, C, rows, W) -> (C, n*rows*W); the layout the GEMMs of convolution use.  ``x``
    may be a band of rows of a bigger image."""
    N, C, H, W = x.shape
    out = np.empty((C, N * H * W), dtype=x.dtype)
    return _nchw_to_cn_into(_planes(x), out)
