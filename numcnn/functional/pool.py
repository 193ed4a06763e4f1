"""Max, average and adaptive pooling (docs/pooling.md).

Symbols: x[n, c, ih, iw], window (k_h, k_w), stride (s_h, s_w), padding (p_t, p_l, p_b, p_r)
(top, left, bottom, right; p_h = p_t = p_b when symmetric), dilation (d_h, d_w).  Tap i of
the window of output row oh reads input row oh*s_h - p_t + i*d_h (columns alike); taps in
the padding are -inf for max pooling and 0 for average pooling.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import kernels
from .._validate import integer
from ._validate import (
    cache_of,
    dout_array,
    flag,
    float_array,
    kernel_dtype,
    out_size,
    padding4,
    pair,
)


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
    o*s - before + i*d.  The one place that computes pooling's window bounds (in ceil mode
    the last window may reach past the padding: those taps count nowhere, as in PyTorch)."""
    pos = (np.arange(out) * s - before)[:, None] + d * np.arange(k)  # (out, k) tap indices
    inside = (pos >= 0) & (pos < size)
    taps = inside.sum(axis=1)
    first = np.where(taps > 0, pos[np.arange(out), inside.argmax(axis=1)], 0)
    return AxisWindows(first, first + (taps - 1) * d + 1, taps,
                       (pos < size + after).sum(axis=1))


def adaptive_windows(size: int, out: int) -> AxisWindows:
    """PyTorch's adaptive pooling windows: window o covers [floor(o*size/out),
    ceil((o+1)*size/out)), so together they cover the axis, overlapping by at most one."""
    o = np.arange(out)
    start, stop = o * size // out, -(-(o + 1) * size // out)
    return AxisWindows(start, stop, stop - start, stop - start)


class PoolWindow(NamedTuple):
    """A pooling op's hyper-parameters, validated (``pool_window``)."""

    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]  # (top, left, bottom, right)
    dilation: tuple[int, int]
    ceil_mode: bool


def pool_window(op: str, kernel_size, stride, padding, dilation=1,
                ceil_mode=False) -> PoolWindow:
    """Check the hyper-parameters that do not depend on the input (also what the nn layers
    check when they are built).  ``stride=None`` means the kernel size; padding is an int,
    an (h, w) pair or (top, left, bottom, right)."""
    kernel_size = pair(op, "kernel_size", kernel_size)
    stride = kernel_size if stride is None else pair(op, "stride", stride)
    padding = padding4(op, padding)
    dilation = pair(op, "dilation", dilation)
    ceil_mode = flag(op, "ceil_mode", ceil_mode)
    spans = [d * (k - 1) for k, d in zip(kernel_size, dilation)] * 2
    if any(p > span for p, span in zip(padding, spans)):
        raise ValueError(f"{op}: padding {padding} puts a whole window in the padding for "
                         f"kernel_size={kernel_size}, dilation={dilation}: each side must be "
                         f"at most dilation*(kernel_size-1) (PyTorch asks for at most half "
                         f"the kernel size)")
    return PoolWindow(kernel_size, stride, padding, dilation, ceil_mode)


class PoolArguments(NamedTuple):
    """The arguments of a pooling op, validated (``pool_arguments``)."""

    x: np.ndarray  # (N, C, H, W), C-contiguous
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    dilation: tuple[int, int]
    ceil_mode: bool
    out_size: tuple[int, int]  # (Ho, Wo)
    rows: AxisWindows
    cols: AxisWindows


def pool_arguments(op: str, x, kernel_size, stride, padding, dilation=1,
                   ceil_mode=False) -> PoolArguments:
    """Check the arguments of max / average pooling and compute the output size and the
    windows; shared by the pooling ops and their ``numcnn.reference`` versions (so their
    errors match).  Every window must hold at least one input pixel."""
    x = float_array(op, "x", x, 4, "(N, C, H, W)")
    kernel_dtype(op, "x", x)
    win = pool_window(op, kernel_size, stride, padding, dilation, ceil_mode)
    (kh, kw), (sh, sw), (top, left, bottom, right), (dil_h, dil_w) = win[:4]
    H, W = x.shape[2:]
    Ho = out_size(op, H, kh, sh, top, bottom, dil_h, "H", win.ceil_mode)
    Wo = out_size(op, W, kw, sw, left, right, dil_w, "W", win.ceil_mode)
    rows = axis_windows(H, kh, sh, top, bottom, dil_h, Ho)
    cols = axis_windows(W, kw, sw, left, right, dil_w, Wo)
    for axis, windows, size in (("H", rows, H), ("W", cols, W)):
        empty = np.flatnonzero(windows.taps == 0)
        if empty.size:
            raise ValueError(f"{op}: window {empty[0]} along {axis} has no input pixel: all "
                             f"its taps fall in the padding (input {size}, kernel_size="
                             f"{win.kernel_size}, stride={win.stride}, padding={win.padding}, "
                             f"dilation={win.dilation})")
    return PoolArguments(x, *win, (Ho, Wo), rows, cols)


def adaptive_arguments(op: str, x, output_size):
    """x checked, and the output size (Ho, Wo): an int, or a pair whose None entries keep
    the input's size."""
    x = float_array(op, "x", x, 4, "(N, C, H, W)")
    kernel_dtype(op, "x", x)
    if 0 in x.shape[2:]:
        raise ValueError(f"{op}: x must have H, W >= 1 (an empty window has no mean or "
                         f"max); got shape {x.shape}")
    if not isinstance(output_size, (tuple, list)):
        return x, (integer(op, "output_size", output_size),) * 2
    if len(output_size) != 2:
        raise TypeError(f"{op}: output_size must be an int or a pair (Ho, Wo); got "
                        f"{output_size!r}")
    return x, tuple(x.shape[2 + a] if o is None else integer(op, "output_size", o)
                    for a, o in enumerate(output_size))


# --------------------------------------------------------------------------------- max pooling
class MaxPoolCache(NamedTuple):
    """What :func:`max_pool2d_backward` needs."""

    x_shape: tuple
    dtype: np.dtype
    indices: np.ndarray  # (N, C, Ho, Wo) int64: each window's argmax as flat h*W + w


def _max_pool(x, rows: AxisWindows, cols: AxisWindows, dil_h: int, dil_w: int):
    out, indices = kernels.max_pool2d_forward(x, rows.start, rows.stop, cols.start, cols.stop,
                                              dil_h, dil_w)
    return out, MaxPoolCache(x.shape, x.dtype, indices)


def max_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0, dilation=1,
                       ceil_mode: bool = False):
    """y[n, c, oh, ow] = max_{i, j} x_pad[n, c, oh*s_h + i*d_h, ow*s_w + j*d_w], padding -inf.

    Ties: the *first* maximum in row-major window order (top row first, then left to right)
    is the one that receives the gradient.  A NaN in a window is selected and propagates.

    Parameters
    ----------
    x : (N, C, H, W)
    kernel_size, stride (None means kernel_size), dilation : int or pair
    padding : int, (h, w) or (top, left, bottom, right); every window must keep an input
        pixel (PyTorch asks for padding <= kernel_size / 2)
    ceil_mode : round the output size up, as PyTorch (the last window starts inside the
        input or its top / left padding)

    Returns
    -------
    out : (N, C, Ho, Wo) with Ho = floor((H + p_t + p_b - d_h(k_h-1) - 1) / s_h) + 1 (ceil
        in ceil_mode)
    cache : a :class:`MaxPoolCache` (its ``indices`` are PyTorch's ``return_indices``)
    """
    a = pool_arguments("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool(a.x, a.rows, a.cols, *a.dilation)


def max_pool2d_backward(dout: np.ndarray, cache: MaxPoolCache) -> np.ndarray:
    """dx[n, c, ih, iw] = sum of dout[n, c, oh, ow] over the outputs whose argmax is (ih, iw).

    Returns
    -------
    dx : (N, C, H, W)
    """
    return _max_unpool("max_pool2d_backward", dout, cache)


def _max_unpool(op: str, dout, cache: MaxPoolCache):
    cache = cache_of(op, cache, MaxPoolCache, op.replace("_backward", "_forward"))
    N, C, H, W = cache.x_shape
    dout = dout_array(op, dout, cache.indices.shape, cache.dtype)
    return kernels.max_pool2d_backward(dout, cache.indices, H, W)


def adaptive_max_pool2d_forward(x: np.ndarray, output_size):
    """Max over PyTorch's adaptive windows: output row oh covers input rows
    floor(oh*H/Ho) ... ceil((oh+1)*H/Ho) - 1 (columns alike); any output size.
    ``adaptive_max_pool2d_forward(x, 1)`` is global max pooling.

    Returns
    -------
    out : (N, C, Ho, Wo);  cache : a :class:`MaxPoolCache`
    """
    x, (Ho, Wo) = adaptive_arguments("adaptive_max_pool2d", x, output_size)
    return _max_pool(x, adaptive_windows(x.shape[2], Ho), adaptive_windows(x.shape[3], Wo),
                     1, 1)


def adaptive_max_pool2d_backward(dout: np.ndarray, cache: MaxPoolCache) -> np.ndarray:
    """Each dout[n, c, oh, ow] goes to its window's argmax (summing repeats).  dx (N, C, H, W)."""
    return _max_unpool("adaptive_max_pool2d_backward", dout, cache)


# ----------------------------------------------------------------------------- average pooling
class AvgPoolCache(NamedTuple):
    """What :func:`avg_pool2d_backward` needs."""

    x_shape: tuple
    dtype: np.dtype
    windows: tuple  # (h_start, h_stop, w_start, w_stop, dil_h, dil_w), as the kernels take it
    scale: np.ndarray  # (Ho, Wo) float64: 1 / each window's divisor


def _avg_pool(x, rows: AxisWindows, cols: AxisWindows, dil_h: int, dil_w: int, divisor):
    windows = (rows.start, rows.stop, cols.start, cols.stop, dil_h, dil_w)
    scale = 1.0 / divisor
    out = kernels.avg_pool2d_forward(x, *windows, scale)
    return out, AvgPoolCache(x.shape, x.dtype, windows, scale)


def avg_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0,
                       ceil_mode: bool = False, count_include_pad: bool = True,
                       divisor_override=None, dilation=1):
    """y[n, c, oh, ow] = (1 / D) * sum_{i, j} x_pad[n, c, oh*s_h + i*d_h, ow*s_w + j*d_w],
    padding 0.

    The divisor D: ``divisor_override`` if given; else with ``count_include_pad`` (PyTorch's
    default) the window's taps inside the padded input (k_h*k_w, fewer only where ceil_mode
    lets the last window reach past the padding); else its taps inside the image.

    Parameters
    ----------
    x : (N, C, H, W)
    kernel_size, stride, padding, ceil_mode : as :func:`max_pool2d_forward`
    count_include_pad : bool;  divisor_override : None or a positive int
    dilation : int or pair (ONNX's AveragePool ``dilations``; PyTorch's avg_pool2d has none)

    Returns
    -------
    out : (N, C, Ho, Wo);  cache : an :class:`AvgPoolCache`
    """
    op = "avg_pool2d"
    a = pool_arguments(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    count_include_pad = flag(op, "count_include_pad", count_include_pad)
    if divisor_override is not None:
        divisor = np.full(a.out_size, integer(op, "divisor_override", divisor_override))
    elif count_include_pad:
        divisor = np.multiply.outer(a.rows.padded_taps, a.cols.padded_taps)
    else:
        divisor = np.multiply.outer(a.rows.taps, a.cols.taps)
    return _avg_pool(a.x, a.rows, a.cols, *a.dilation, divisor)


def avg_pool2d_backward(dout: np.ndarray, cache: AvgPoolCache) -> np.ndarray:
    """dx[n, c, ih, iw] = sum over the windows (oh, ow) containing (ih, iw) of
    dout[n, c, oh, ow] / D(oh, ow).

    Returns
    -------
    dx : (N, C, H, W)
    """
    return _avg_unpool("avg_pool2d_backward", dout, cache)


def _avg_unpool(op: str, dout, cache: AvgPoolCache):
    cache = cache_of(op, cache, AvgPoolCache, op.replace("_backward", "_forward"))
    N, C, H, W = cache.x_shape
    dout = dout_array(op, dout, (N, C, *cache.scale.shape), cache.dtype)
    return kernels.avg_pool2d_backward(dout, H, W, *cache.windows, cache.scale)


def adaptive_avg_pool2d_forward(x: np.ndarray, output_size):
    """Mean over PyTorch's adaptive windows (see :func:`adaptive_max_pool2d_forward`), divided
    by each window's pixel count.  ``adaptive_avg_pool2d_forward(x, 1)`` is global average
    pooling (ONNX's GlobalAveragePool).

    Returns
    -------
    out : (N, C, Ho, Wo);  cache : an :class:`AvgPoolCache`
    """
    x, (Ho, Wo) = adaptive_arguments("adaptive_avg_pool2d", x, output_size)
    rows, cols = adaptive_windows(x.shape[2], Ho), adaptive_windows(x.shape[3], Wo)
    return _avg_pool(x, rows, cols, 1, 1, np.multiply.outer(rows.taps, cols.taps))


def adaptive_avg_pool2d_backward(dout: np.ndarray, cache: AvgPoolCache) -> np.ndarray:
    """Each dout[n, c, oh, ow] is spread evenly over its window.  dx (N, C, H, W)."""
    return _avg_unpool("adaptive_avg_pool2d_backward", dout, cache)
