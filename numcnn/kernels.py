"""The only numba code in numcnn: the loops NumPy does badly.

Every kernel is ``@njit(cache=True)``; the parallel ones split work so that no two threads
ever write the same element (col2im and the pooling backwards work one (n, c) plane per
thread, because overlapping windows add into the same input pixel).  Kernels allocate
their output with the input's dtype, so float32 stays float32.

Three habits make these loops fast (each measured, see benchmarks/bench_layers.py):

* Inner loops index with values LLVM can see are never negative: ``view[k]`` with ``k``
  from ``range``, or an unsigned ``np.uint64`` flat index.  numba wraps negative indices
  (``a[-1]``), so ``a[base + k]`` with a signed ``base`` costs a sign test per element,
  which stops LLVM from vectorising; stride-1 copies then become SIMD loads and stores
  (about 2x faster im2col/col2im on 14x14 planes than with views, 3x than before).
* Big outputs are allocated by NumPy in a thin Python wrapper and filled by a
  ``_*_into`` kernel: NumPy asks Linux for huge pages on large arrays and numba's allocator
  does not, so a 38 MB im2col matrix took ~20 ms of page faults when numba allocated it.
* Per-element choices are written as selects over long loops that LLVM turns into SIMD
  blends (max pooling): a data-dependent branch per element mispredicts about half the time.

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
def _im2col_into(x, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, cols):
    N, C, H, W = x.shape
    K = kh * kw
    xf = x.reshape(N * C * H * W)
    u = np.uint64  # unsigned flat indices: no wraparound test, so the copies vectorise
    for r in prange(C * K):
        c = r // K
        i = (r // kw) % kh
        j = r % kw
        h_lo, h_hi = _valid_range(i, dh, sh, ph, H, Ho)
        w_lo, w_hi = _valid_range(j, dw, sw, pw, W, Wo)
        w_first = w_lo * sw + j * dw - pw  # input column read by output column w_lo
        row = cols[r]
        for n in range(N):
            if sh == 1 and sw == 1 and Wo == W and h_lo < h_hi and w_lo < w_hi:
                # "Same" convolution: output rows h_lo..h_hi-1 read input rows that follow
                # each other with the same pitch W, so they are ONE contiguous copy (from
                # output pixel (h_lo, w_lo) to (h_hi-1, w_hi-1)).  That copy also fills the
                # first w_lo and last W-w_hi columns of each row with pixels of the
                # neighbouring row; the loop below overwrites them with the padding's 0s.
                out = u((n * Ho + h_lo) * Wo + w_lo)
                src = u(((n * C + c) * H + h_lo - ph + i * dh) * W + w_first)
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
                src = u(((n * C + c) * H + oh * sh - ph + i * dh) * W + w_first)
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


def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo):
    """x (N, C, H, W) -> cols (C*kh*kw, N*Ho*Wo), channel-first.

    ``cols[(c*kh + i)*kw + j, (n*Ho + oh)*Wo + ow] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]``
    (0 where that index falls in the padding).  One thread per row.
    """
    N, C = x.shape[:2]
    cols = np.empty((C * kh * kw, N * Ho * Wo), dtype=x.dtype)
    return _im2col_into(x, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, cols)


@njit(parallel=True, cache=True)
def _col2im_into(cols, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, x):
    N, C, H, W = x.shape
    K = kh * kw
    xf = x.reshape(N * C * H * W)
    u = np.uint64  # unsigned flat indices: no wraparound test, so the adds vectorise
    for p in prange(N * C):
        n = p // C
        c = p % C
        for i in range(kh):
            h_lo, h_hi = _valid_range(i, dh, sh, ph, H, Ho)
            for j in range(kw):
                w_lo, w_hi = _valid_range(j, dw, sw, pw, W, Wo)
                w_first = w_lo * sw + j * dw - pw
                row = cols[c * K + i * kw + j]
                for oh in range(h_lo, h_hi):
                    src = u((n * Ho + oh) * Wo + w_lo)
                    dst = u((p * H + oh * sh - ph + i * dh) * W + w_first)  # p = n*C + c
                    if sw == 1:
                        for k in range(u(w_hi - w_lo)):
                            xf[dst + k] += row[src + k]
                    else:
                        for k in range(u(w_hi - w_lo)):
                            xf[dst + k * u(sw)] += row[src + k]
    return x


def col2im(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, out=None):
    """Adjoint of :func:`im2col`: cols (C*kh*kw, N*Ho*Wo) -> x (N, C, H, W).

    Every column entry is *added* to the input pixel it was copied from, so pixels covered
    by several windows receive the sum.  Padding entries are dropped.  One thread per
    (n, c) plane: a plane's pixels are written only by its own thread (race-free).
    ``out``, if given, is a C-contiguous (N, C, H, W) array that the columns are added into
    (pass zeros for a plain col2im); otherwise a zeroed one is allocated.
    """
    x = np.zeros((N, C, H, W), dtype=cols.dtype) if out is None else out
    return _col2im_into(cols, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, x)


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
        out = np.empty((N, m.shape[0], m.shape[1] // N), dtype=m.dtype)
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
