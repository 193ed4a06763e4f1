"""Max, average and adaptive pooling, written as the formulas of docs/pooling.md: first the
list of input rows (and columns) each window reads, then one loop over the windows (all n
and c at once)."""

from __future__ import annotations

import numpy as np

from .._validate import integer
from ..functional._validate import dout_array, flag
from ..functional.pool import adaptive_arguments, pool_arguments


def _windows(size, k, s, before, after, d, ceil_mode):
    """Window o reads input indices o s - before + i d (i < k); the in-image ones, for each o,
    and the number of its taps inside the padded input (before + size + after).

    The number of windows is H_o = floor((size + before + after - d (k - 1) - 1) / s) + 1,
    rounded up instead in ceil_mode, and then one less if the last window would start past
    the input and its leading padding (PyTorch's rule)."""
    n = size + before + after - d * (k - 1) - 1
    out = (-(-n // s) if ceil_mode else n // s) + 1
    if ceil_mode and (out - 1) * s >= size + before:
        out -= 1
    taps = [o * s - before + d * np.arange(k) for o in range(out)]
    return [t[(t >= 0) & (t < size)] for t in taps], [int(np.sum(t < size + after)) for t in taps]


def _adaptive_windows(size, out):
    """Window o of an adaptive pooling covers floor(o size / out) ... ceil((o+1) size / out) - 1."""
    return [np.arange(o * size // out, -(-(o + 1) * size // out)) for o in range(out)]


def _max_pool(x, rows, cols):
    N, C = x.shape[:2]
    y = np.empty((N, C, len(rows), len(cols)), dtype=x.dtype)
    for oh, r in enumerate(rows):
        for ow, c in enumerate(cols):
            y[:, :, oh, ow] = x[:, :, r[:, None], c].max(axis=(2, 3))
    return y, (x, rows, cols)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """y[n, c, oh, ow] = max_{i < k_h, j < k_w} x_pad[n, c, oh s_h + i d_h, ow s_w + j d_w],
    with x_pad = -inf outside the image: the max over the window's in-image pixels.

    x (N, C, H, W) -> y (N, C, H_o, W_o); cache.
    """
    a = pool_arguments("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    (k_h, k_w), (s_h, s_w), (p_t, p_l, p_b, p_r), (d_h, d_w) = a[1:5]
    H, W = a.x.shape[2:]
    rows, _ = _windows(H, k_h, s_h, p_t, p_b, d_h, a.ceil_mode)
    cols, _ = _windows(W, k_w, s_w, p_l, p_r, d_w, a.ceil_mode)
    return _max_pool(a.x, rows, cols)


def max_pool2d_backward(dout, cache):
    """dx[n, c, ih, iw] = sum of dout[n, c, oh, ow] over the windows whose maximum is
    x[n, c, ih, iw]; of equal maxima, the first in row-major window order (``np.argmax``'s
    choice) wins.

    Returns dx (N, C, H, W).
    """
    return _max_unpool("max_pool2d_backward", dout, cache)


def _max_unpool(op, dout, cache):
    x, rows, cols = cache
    N, C = x.shape[:2]
    dout = dout_array(op, dout, (N, C, len(rows), len(cols)), x.dtype)
    dx = np.zeros_like(x)
    n, c = np.indices((N, C))
    for oh, r in enumerate(rows):
        for ow, q in enumerate(cols):
            window = x[:, :, r[:, None], q].reshape(N, C, -1)
            i, j = np.divmod(window.argmax(axis=2), len(q))  # the winner, per (n, c)
            dx[n, c, r[i], q[j]] += dout[:, :, oh, ow]
    return dx


def adaptive_max_pool2d_forward(x, output_size):
    """y[n, c, oh, ow] = max of x[n, c] over rows floor(oh H / H_o) ... ceil((oh+1) H / H_o) - 1
    and the columns alike.  x (N, C, H, W) -> y (N, C, H_o, W_o); cache."""
    x, (H_o, W_o) = adaptive_arguments("adaptive_max_pool2d", x, output_size)
    return _max_pool(x, _adaptive_windows(x.shape[2], H_o), _adaptive_windows(x.shape[3], W_o))


def adaptive_max_pool2d_backward(dout, cache):
    """As :func:`max_pool2d_backward`: each gradient goes to its window's maximum."""
    return _max_unpool("adaptive_max_pool2d_backward", dout, cache)


def _avg_pool(x, rows, cols, divisors):
    N, C = x.shape[:2]
    y = np.empty((N, C, len(rows), len(cols)), dtype=x.dtype)
    for oh, r in enumerate(rows):
        for ow, c in enumerate(cols):
            y[:, :, oh, ow] = x[:, :, r[:, None], c].sum(axis=(2, 3)) / divisors[oh][ow]
    return y, (x.shape, x.dtype, rows, cols, divisors)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                       count_include_pad=True, divisor_override=None, dilation=1):
    """y[n, c, oh, ow] = (1 / D) sum_{i, j} x_pad[n, c, oh s_h + i d_h, ow s_w + j d_w], with
    x_pad = 0 outside the image: the sum of the window's in-image pixels over D =
    ``divisor_override``, or (count_include_pad) its taps inside the padded input, or its
    in-image taps.  x (N, C, H, W) -> y (N, C, H_o, W_o); cache.
    """
    op = "avg_pool2d"
    a = pool_arguments(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    (k_h, k_w), (s_h, s_w), (p_t, p_l, p_b, p_r), (d_h, d_w) = a[1:5]
    H, W = a.x.shape[2:]
    rows, padded_rows = _windows(H, k_h, s_h, p_t, p_b, d_h, a.ceil_mode)
    cols, padded_cols = _windows(W, k_w, s_w, p_l, p_r, d_w, a.ceil_mode)
    count_include_pad = flag(op, "count_include_pad", count_include_pad)
    if divisor_override is not None:
        divisor_override = integer(op, "divisor_override", divisor_override)
    divisors = [[divisor_override if divisor_override is not None
                 else ph * pw if count_include_pad else len(r) * len(c)
                 for c, pw in zip(cols, padded_cols)] for r, ph in zip(rows, padded_rows)]
    return _avg_pool(a.x, rows, cols, divisors)


def avg_pool2d_backward(dout, cache):
    """Each window passes dout[n, c, oh, ow] / D to each of its in-image pixels; overlaps add
    up (the padded taps' shares go nowhere).  Returns dx (N, C, H, W)."""
    return _avg_unpool("avg_pool2d_backward", dout, cache)


def _avg_unpool(op, dout, cache):
    (N, C, H, W), dtype, rows, cols, divisors = cache
    dout = dout_array(op, dout, (N, C, len(rows), len(cols)), dtype)
    dx = np.zeros((N, C, H, W), dtype=dtype)
    for oh, r in enumerate(rows):
        for ow, c in enumerate(cols):
            # a window lists each pixel once, so += adds no duplicates
            dx[:, :, r[:, None], c] += dout[:, :, oh, ow, None, None] / divisors[oh][ow]
    return dx


def adaptive_avg_pool2d_forward(x, output_size):
    """y[n, c, oh, ow] = the mean of x[n, c] over the adaptive window (oh, ow) (see
    :func:`adaptive_max_pool2d_forward`).  x (N, C, H, W) -> y (N, C, H_o, W_o); cache."""
    x, (H_o, W_o) = adaptive_arguments("adaptive_avg_pool2d", x, output_size)
    rows = _adaptive_windows(x.shape[2], H_o)
    cols = _adaptive_windows(x.shape[3], W_o)
    return _avg_pool(x, rows, cols, [[len(r) * len(c) for c in cols] for r in rows])


def adaptive_avg_pool2d_backward(dout, cache):
    """As :func:`avg_pool2d_backward`: each gradient is shared evenly by its window."""
    return _avg_unpool("adaptive_avg_pool2d_backward", dout, cache)
