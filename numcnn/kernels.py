"""The only numba code in numcnn: the loops NumPy does badly.

Every kernel is ``@njit(cache=True)``; the parallel ones split work so that no two threads
ever write the same element (col2im and the pooling backwards work one (n, c) plane per
thread, because overlapping windows add into the same input pixel).  Kernels allocate
their output with the input's dtype, so float32 stays float32.

Three habits make these loops fast (each measured, see benchmarks/bench_layers.py):

* The innermost loop runs ``for k in range(n)`` over 1-D *views* (``row[a:b]``), indexed by
  ``k`` alone.  numba wraps negative indices (``a[-1]``), so ``a[base + k]`` costs a
  sign test per element that stops LLVM from vectorising; ``view[k]`` with ``k >= 0`` from
  ``range`` does not.  Stride-1 copies then become SIMD loads and stores.
* Big outputs are allocated by NumPy in a thin Python wrapper and filled by a
  ``_*_into`` kernel: NumPy asks Linux for huge pages on large arrays and numba's allocator
  does not, so a 38 MB im2col matrix took ~20 ms of page faults when numba allocated it.
* Per-element choices are written as selects over long loops that LLVM turns into SIMD
  blends (max pooling): a data-dependent branch per element mispredicts half the time.

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
@njit(inline="always")
def _gather(dst, src, start, step):
    """dst[k] = src[start + k*step] for every k; the step-1 loop is a plain (SIMD) copy."""
    if step == 1:
        s = src[start:start + dst.size]
        for k in range(dst.size):
            dst[k] = s[k]
    else:
        for k in range(dst.size):
            dst[k] = src[start + k * step]


@njit(inline="always")
def _scatter_add(dst, start, step, src):
    """dst[start + k*step] += src[k] for every k; the step-1 loop is a plain (SIMD) add."""
    if step == 1:
        d = dst[start:start + src.size]
        for k in range(src.size):
            d[k] += src[k]
    else:
        for k in range(src.size):
            dst[start + k * step] += src[k]


@njit(parallel=True, cache=True)
def _im2col_into(x, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, cols):
    N, C, H, W = x.shape
    K = kh * kw
    for r in prange(C * K):
        c = r // K
        i = (r // kw) % kh
        j = r % kw
        h_lo, h_hi = _valid_range(i, dh, sh, ph, H, Ho)
        w_lo, w_hi = _valid_range(j, dw, sw, pw, W, Wo)
        w_first = w_lo * sw + j * dw - pw  # input column read by output column w_lo
        row = cols[r]
        for n in range(N):
            plane = x[n, c]
            for oh in range(Ho):
                seg = row[(n * Ho + oh) * Wo:(n * Ho + oh + 1) * Wo]  # one output row
                if oh < h_lo or oh >= h_hi:  # the tap reads a padding row
                    seg[:] = 0
                    continue
                seg[:w_lo] = 0
                _gather(seg[w_lo:w_hi], plane[oh * sh - ph + i * dh], w_first, sw)
                seg[w_hi:] = 0
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
    L = Ho * Wo
    for p in prange(N * C):
        n = p // C
        c = p % C
        plane = x[n, c]
        for i in range(kh):
            h_lo, h_hi = _valid_range(i, dh, sh, ph, H, Ho)
            for j in range(kw):
                w_lo, w_hi = _valid_range(j, dw, sw, pw, W, Wo)
                w_first = w_lo * sw + j * dw - pw
                row = cols[c * K + i * kw + j]
                for oh in range(h_lo, h_hi):
                    start = n * L + oh * Wo
                    _scatter_add(plane[oh * sh - ph + i * dh], w_first, sw,
                                 row[start + w_lo:start + w_hi])
    return x


def col2im(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo):
    """Adjoint of :func:`im2col`: cols (C*kh*kw, N*Ho*Wo) -> x (N, C, H, W).

    Every column entry is *added* to the input pixel it was copied from, so pixels covered
    by several windows receive the sum.  Padding entries are dropped.  One thread per
    (n, c) plane: a plane's pixels are written only by its own thread (race-free).
    """
    x = np.zeros((N, C, H, W), dtype=cols.dtype)
    return _col2im_into(cols, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, x)


# ------------------------------------------------------------------ NCHW <-> (C, N*H*W) layout
@njit(parallel=True, cache=True)
def _cn_to_nchw_into(m, bias, out):
    N, C, L = out.shape
    for p in prange(N * C):
        n = p // C
        c = p % C
        b = bias[c]
        dst = out[n, c]
        src = m[c, n * L:(n + 1) * L]
        for k in range(L):
            dst[k] = src[k] + b
    return out


def cn_to_nchw(m, N, bias):
    """m (C, N*H*W) plus bias (C,) -> (N, C, H*W); the GEMM result put back in NCHW order."""
    out = np.empty((N, m.shape[0], m.shape[1] // N), dtype=m.dtype)
    return _cn_to_nchw_into(m, bias, out)


@njit(parallel=True, cache=True)
def _nchw_to_cn_into(x, out):
    N, C, L = x.shape
    for p in prange(N * C):
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
def _max_pool2d_forward_into(x, kh, kw, sh, sw, ph, pw, out, arg):
    N, C, H, W = x.shape
    Ho, Wo = out.shape[2], out.shape[3]
    Q = Ho * Wo
    lowest = x.dtype.type(-np.inf)
    for p in prange(N * C):
        n = p // C
        c = p % C
        plane = x[n, c]
        best = out[n, c].reshape(Q)  # running max of every window of this plane
        where = arg[n, c].reshape(Q)  # and its flat index ih*W + iw
        tap = np.empty(Q, dtype=x.dtype)  # one tap (i, j) of every window
        tap_at = np.empty(Q, dtype=np.int64)  # where that tap reads
        best[:] = lowest
        where[:] = -1
        # Taps in row-major order, each over all windows at once.  Per window this is the
        # usual scan (strict '>' keeps the first of equal maxima; the first NaN wins), but
        # the update loop below runs over Ho*Wo windows, long enough for LLVM to vectorise
        # its selects into blends; a per-window loop of kh*kw steps stays scalar and
        # branches on every comparison.
        for i in range(kh):
            for j in range(kw):
                w_lo, w_hi = _valid_range(j, 1, sw, pw, W, Wo)
                w_first = w_lo * sw + j - pw
                for oh in range(Ho):
                    t = tap[oh * Wo:(oh + 1) * Wo]
                    ih = oh * sh - ph + i
                    if ih < 0 or ih >= H:  # padding row: -inf never beats a real pixel
                        t[:] = lowest
                        continue
                    t[:w_lo] = lowest
                    t[w_hi:] = lowest
                    _gather(t[w_lo:w_hi], plane[ih], w_first, sw)
                    at = tap_at[oh * Wo + w_lo:oh * Wo + w_hi]
                    for k in range(at.size):
                        at[k] = ih * W + w_first + k * sw
                for q in range(Q):
                    v = tap[q]
                    b = best[q]
                    a = where[q]
                    take = (v > b) | ((v != v) & (b == b))
                    best[q] = v if take else b
                    where[q] = a + take * (tap_at[q] - a)  # arithmetic, not a branch
        # A window whose real pixels are all -inf took none of them: point it at its first
        # real pixel, as the scan above would (rare, so this branch is predictable).
        for q in range(Q):
            if where[q] < 0:
                oh = q // Wo
                ow = q % Wo
                where[q] = max(oh * sh - ph, 0) * W + max(ow * sw - pw, 0)
    return out, arg


def max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, Ho, Wo):
    """x (N, C, H, W) -> out (N, C, Ho, Wo), argmax (N, C, Ho, Wo) as flat ih*W + iw.

    Padding acts as -inf.  Ties: the first maximum in row-major window order wins (a later
    equal value does not replace it).  A NaN in the window is selected and propagates.
    """
    N, C = x.shape[:2]
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    arg = np.empty((N, C, Ho, Wo), dtype=np.int64)
    return _max_pool2d_forward_into(x, kh, kw, sh, sw, ph, pw, out, arg)


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
