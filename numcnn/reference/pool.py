"""Max and average pooling, written as the formulas of docs/pooling.md: one loop over the
output positions (oh, ow), each window a slice of the padded input (all n and c at once)."""

from __future__ import annotations

import numpy as np

from ..functional._validate import dout_array
from ..functional.pool import pool_arguments


def _padded(x, p_h, p_w, value):
    return np.pad(x, ((0, 0), (0, 0), (p_h, p_h), (p_w, p_w)), constant_values=value)


def _out_size(H, W, k_h, k_w, s_h, s_w, p_h, p_w):
    return (H + 2 * p_h - k_h) // s_h + 1, (W + 2 * p_w - k_w) // s_w + 1


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """y[n, c, oh, ow] = max_{i < k_h, j < k_w} x_pad[n, c, oh s_h + i, ow s_w + j], with
    x_pad = -inf outside the image.

    x (N, C, H, W) -> y (N, C, H_o, W_o), H_o = (H + 2 p_h - k_h) // s_h + 1; cache.
    """
    a = pool_arguments("max_pool2d", x, kernel_size, stride, padding)
    x, (k_h, k_w), (s_h, s_w), (p_h, p_w) = a.x, a.kernel_size, a.stride, a.padding
    N, C, H, W = x.shape
    H_o, W_o = _out_size(H, W, k_h, k_w, s_h, s_w, p_h, p_w)
    x_pad = _padded(x, p_h, p_w, -np.inf)
    y = np.empty((N, C, H_o, W_o), dtype=x.dtype)
    for oh in range(H_o):
        for ow in range(W_o):
            window = x_pad[:, :, oh * s_h:oh * s_h + k_h, ow * s_w:ow * s_w + k_w]
            y[:, :, oh, ow] = window.max(axis=(2, 3))
    return y, (x, a.kernel_size, a.stride, a.padding)


def max_pool2d_backward(dout, cache):
    """dx[n, c, h, w] = sum of dout[n, c, oh, ow] over the windows whose maximum is x[n, c, h, w];
    of equal maxima, the first in row-major window order (``np.argmax``'s choice) wins.

    Returns dx (N, C, H, W).
    """
    x, (k_h, k_w), (s_h, s_w), (p_h, p_w) = cache
    N, C, H, W = x.shape
    H_o, W_o = _out_size(H, W, k_h, k_w, s_h, s_w, p_h, p_w)
    dout = dout_array("max_pool2d_backward", dout, (N, C, H_o, W_o), x.dtype)
    x_pad = _padded(x, p_h, p_w, -np.inf)
    dx_pad = np.zeros_like(x_pad)
    n, c = np.indices((N, C))
    for oh in range(H_o):
        for ow in range(W_o):
            window = x_pad[:, :, oh * s_h:oh * s_h + k_h, ow * s_w:ow * s_w + k_w]
            i, j = np.divmod(window.reshape(N, C, -1).argmax(axis=2), k_w)  # the winner's tap
            dx_pad[n, c, oh * s_h + i, ow * s_w + j] += dout[:, :, oh, ow]
    return dx_pad[:, :, p_h:p_h + H, p_w:p_w + W]


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """y[n, c, oh, ow] = (1 / (k_h k_w)) sum_{i, j} x_pad[n, c, oh s_h + i, ow s_w + j], with
    x_pad = 0 outside the image (the divisor counts the padded taps: count_include_pad).

    x (N, C, H, W) -> y (N, C, H_o, W_o); cache.
    """
    a = pool_arguments("avg_pool2d", x, kernel_size, stride, padding)
    x, (k_h, k_w), (s_h, s_w), (p_h, p_w) = a.x, a.kernel_size, a.stride, a.padding
    N, C, H, W = x.shape
    H_o, W_o = _out_size(H, W, k_h, k_w, s_h, s_w, p_h, p_w)
    x_pad = _padded(x, p_h, p_w, 0)
    y = np.empty((N, C, H_o, W_o), dtype=x.dtype)
    for oh in range(H_o):
        for ow in range(W_o):
            window = x_pad[:, :, oh * s_h:oh * s_h + k_h, ow * s_w:ow * s_w + k_w]
            y[:, :, oh, ow] = window.sum(axis=(2, 3)) / (k_h * k_w)
    return y, (x.shape, x.dtype, a.kernel_size, a.stride, a.padding)


def avg_pool2d_backward(dout, cache):
    """Each window passes dout[n, c, oh, ow] / (k_h k_w) to every tap; overlaps add up and
    the padded taps' shares are dropped.  Returns dx (N, C, H, W)."""
    (N, C, H, W), dtype, (k_h, k_w), (s_h, s_w), (p_h, p_w) = cache
    H_o, W_o = _out_size(H, W, k_h, k_w, s_h, s_w, p_h, p_w)
    dout = dout_array("avg_pool2d_backward", dout, (N, C, H_o, W_o), dtype)
    dx_pad = np.zeros((N, C, H + 2 * p_h, W + 2 * p_w), dtype=dtype)
    for oh in range(H_o):
        for ow in range(W_o):
            share = dout[:, :, oh, ow, None, None] / (k_h * k_w)
            dx_pad[:, :, oh * s_h:oh * s_h + k_h, ow * s_w:ow * s_w + k_w] += share
    return dx_pad[:, :, p_h:p_h + H, p_w:p_w + W]
