"""Max and average pooling (docs/pooling.md).

Symbols: x[n, c, h, w], window (k_h, k_w), stride (s_h, s_w), padding (p_h, p_w);
the window of output (oh, ow) covers rows oh*s_h - p_h ... oh*s_h - p_h + k_h - 1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import kernels
from ._validate import dout_array, float_array, out_size, pair


class AxisWindows(NamedTuple):
    """The windows along one axis: window o reads the in-image indices start[o],
    start[o] + d, ... < stop[o] (d: the dilation); its other taps fall in the padding."""

    start: np.ndarray  # (out,) int64
    stop: np.ndarray
    taps: np.ndarray  # in-image taps of each window
    padded_taps: np.ndarray  # taps inside the padded input (count_include_pad's divisor)


def axis_windows(size: int, k: int, s: int, before: int, after: int, d: int,
                 out: int) -> AxisWindows:
    """Where the ``out`` windows of kernel k, stride s, dilation d sit along an axis of
    ``size`` pixels padded by ``before`` / ``after``: tap i of window o reads index
    o*s - before + i*d.  The one place that computes pooling's window bounds."""
    pos = (np.arange(out) * s - before)[:, None] + d * np.arange(k)  # (out, k) tap indices
    inside = (pos >= 0) & (pos < size)
    taps = inside.sum(axis=1)
    first = np.where(taps > 0, pos[np.arange(out), inside.argmax(axis=1)], 0)
    return AxisWindows(first, first + (taps - 1) * d + 1, taps,
                       (pos < size + after).sum(axis=1))


class PoolWindow(NamedTuple):
    """A pooling op's hyper-parameters, validated (``pool_window``)."""

    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


def pool_window(op: str, kernel_size, stride, padding) -> PoolWindow:
    """Check the hyper-parameters that do not depend on the input (also what the nn layers
    check when they are built)."""
    kh, kw = kernel_size = pair(op, "kernel_size", kernel_size)
    stride = kernel_size if stride is None else pair(op, "stride", stride)
    ph, pw = padding = pair(op, "padding", padding, 0)
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"{op}: padding must be at most half the kernel size; got "
                         f"padding={(ph, pw)} for kernel_size={(kh, kw)}")
    return PoolWindow(kernel_size, stride, padding)


class PoolArguments(NamedTuple):
    """The arguments of a pooling op, validated (``pool_arguments``)."""

    x: np.ndarray  # (N, C, H, W), C-contiguous
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    out_size: tuple[int, int]  # (Ho, Wo)
    rows: AxisWindows
    cols: AxisWindows


def pool_arguments(op: str, x, kernel_size, stride, padding) -> PoolArguments:
    """Check the arguments of max / average pooling and compute the output size and the
    windows; shared by the pooling ops and their ``numcnn.reference`` versions (so their
    errors match)."""
    x = float_array(op, "x", x, 4, "(N, C, H, W)")
    (kh, kw), (sh, sw), (ph, pw) = win = pool_window(op, kernel_size, stride, padding)
    H, W = x.shape[2:]
    Ho, Wo = out_size(op, H, kh, sh, ph, 1, "H"), out_size(op, W, kw, sw, pw, 1, "W")
    rows = axis_windows(H, kh, sh, ph, ph, 1, Ho)
    cols = axis_windows(W, kw, sw, pw, pw, 1, Wo)
    return PoolArguments(x, *win, (Ho, Wo), rows, cols)


class MaxPoolCache(NamedTuple):
    """What :func:`max_pool2d_backward` needs."""

    x_shape: tuple
    dtype: np.dtype
    indices: np.ndarray  # (N, C, Ho, Wo) int64: each window's argmax as flat h*W + w


def max_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0):
    """y[n, c, oh, ow] = max over the window of x_pad (padding counts as -inf).

    Ties: the *first* maximum in row-major window order (top row first, then left to right)
    is the one that receives the gradient.  A NaN in a window is selected and propagates.

    Parameters
    ----------
    x : (N, C, H, W)
    kernel_size, stride (None means kernel_size), padding (<= kernel_size / 2): int or pair

    Returns
    -------
    out : (N, C, Ho, Wo) with Ho = floor((H + 2p_h - k_h) / s_h) + 1
    cache : a :class:`MaxPoolCache` (its ``indices`` are PyTorch's ``return_indices``)
    """
    a = pool_arguments("max_pool2d", x, kernel_size, stride, padding)
    out, indices = kernels.max_pool2d_forward(a.x, a.rows.start, a.rows.stop, a.cols.start,
                                              a.cols.stop, 1, 1)
    return out, MaxPoolCache(a.x.shape, a.x.dtype, indices)


def max_pool2d_backward(dout: np.ndarray, cache: MaxPoolCache) -> np.ndarray:
    """dx[n, c, h, w] = sum of dout[n, c, oh, ow] over the outputs whose argmax is (h, w).

    Returns
    -------
    dx : (N, C, H, W)
    """
    N, C, H, W = cache.x_shape
    dout = dout_array("max_pool2d_backward", dout, cache.indices.shape, cache.dtype)
    return kernels.max_pool2d_backward(dout, cache.indices, H, W)


class AvgPoolCache(NamedTuple):
    """What :func:`avg_pool2d_backward` needs."""

    x_shape: tuple
    dtype: np.dtype
    windows: tuple  # (h_start, h_stop, w_start, w_stop, dil_h, dil_w), as the kernels take it
    scale: np.ndarray  # (Ho, Wo) float64: 1 / each window's divisor


def avg_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0):
    """y[n, c, oh, ow] = (1 / (k_h k_w)) * sum over the window of x_pad (padding is 0).

    The divisor is always k_h*k_w, padded taps included: PyTorch's default
    ``count_include_pad=True``.

    Returns
    -------
    out : (N, C, Ho, Wo);  cache : an :class:`AvgPoolCache`
    """
    a = pool_arguments("avg_pool2d", x, kernel_size, stride, padding)
    windows = (a.rows.start, a.rows.stop, a.cols.start, a.cols.stop, 1, 1)
    scale = 1.0 / np.multiply.outer(a.rows.padded_taps, a.cols.padded_taps)
    out = kernels.avg_pool2d_forward(a.x, *windows, scale)
    return out, AvgPoolCache(a.x.shape, a.x.dtype, windows, scale)


def avg_pool2d_backward(dout: np.ndarray, cache: AvgPoolCache) -> np.ndarray:
    """dx[n, c, h, w] = sum over the windows containing (h, w) of dout[n, c, oh, ow] / (k_h k_w).

    Returns
    -------
    dx : (N, C, H, W)
    """
    N, C, H, W = cache.x_shape
    dout = dout_array("avg_pool2d_backward", dout, (N, C, *cache.scale.shape), cache.dtype)
    return kernels.avg_pool2d_backward(dout, H, W, *cache.windows, cache.scale)
