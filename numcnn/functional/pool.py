"""Max and average pooling (docs/pooling.md).

Symbols: x[n, c, h, w], window (k_h, k_w), stride (s_h, s_w), padding (p_h, p_w);
the window of output (oh, ow) covers rows oh*s_h - p_h ... oh*s_h - p_h + k_h - 1.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ._validate import dout_array, float_array, out_size, pair


def _pool_geometry(op: str, x, kernel_size, stride, padding):
    x = float_array(op, "x", x, 4, "(N, C, H, W)")
    kh, kw = pair(op, "kernel_size", kernel_size)
    sh, sw = (kh, kw) if stride is None else pair(op, "stride", stride)
    ph, pw = pair(op, "padding", padding, 0)
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"{op}: padding must be at most half the kernel size; got "
                         f"padding={(ph, pw)} for kernel_size={(kh, kw)}")
    Ho = out_size(op, x.shape[2], kh, sh, ph, 1, "H")
    Wo = out_size(op, x.shape[3], kw, sw, pw, 1, "W")
    return x, (kh, kw, sh, sw, ph, pw, Ho, Wo)


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
    cache : (input shape, argmax as flat h*W + w per output)
    """
    x, (kh, kw, sh, sw, ph, pw, Ho, Wo) = _pool_geometry("max_pool2d", x, kernel_size, stride,
                                                         padding)
    out, arg = kernels.max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, Ho, Wo)
    return out, (x.shape, x.dtype, arg)


def max_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx[n, c, h, w] = sum of dout[n, c, oh, ow] over the outputs whose argmax is (h, w).

    Returns
    -------
    dx : (N, C, H, W)
    """
    (N, C, H, W), dtype, arg = cache
    dout = dout_array("max_pool2d_backward", dout, arg.shape, dtype)
    return kernels.max_pool2d_backward(dout, arg, H, W)


def avg_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0):
    """y[n, c, oh, ow] = (1 / (k_h k_w)) * sum over the window of x_pad (padding is 0).

    The divisor is always k_h*k_w, padded taps included: PyTorch's default
    ``count_include_pad=True``.

    Returns
    -------
    out : (N, C, Ho, Wo);  cache
    """
    x, geom = _pool_geometry("avg_pool2d", x, kernel_size, stride, padding)
    out = kernels.avg_pool2d_forward(x, *geom)
    return out, (x.shape, x.dtype, geom)


def avg_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx[n, c, h, w] = sum over the windows containing (h, w) of dout[n, c, oh, ow] / (k_h k_w).

    Returns
    -------
    dx : (N, C, H, W)
    """
    (N, C, H, W), dtype, (kh, kw, sh, sw, ph, pw, Ho, Wo) = cache
    dout = dout_array("avg_pool2d_backward", dout, (N, C, Ho, Wo), dtype)
    return kernels.avg_pool2d_backward(dout, H, W, kh, kw, sh, sw, ph, pw)
