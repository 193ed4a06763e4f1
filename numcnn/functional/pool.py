"""Max and average pooling (docs/pooling.md).

Symbols: x[n, c, h, w], window (k_h, k_w), stride (s_h, s_w), padding (p_h, p_w);
the window of output (oh, ow) covers rows oh*s_h - p_h ... oh*s_h - p_h + k_h - 1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import kernels
from ._validate import dout_array, float_array, out_size, pair


class PoolArguments(NamedTuple):
    """The arguments of a pooling op, validated (``pool_arguments``)."""

    x: np.ndarray  # (N, C, H, W), C-contiguous
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    out_size: tuple[int, int]  # (Ho, Wo)


def pool_arguments(op: str, x, kernel_size, stride, padding) -> PoolArguments:
    """Check the arguments of max / average pooling and compute the output size; shared by
    the pooling ops and their ``numcnn.reference`` versions (so their errors match)."""
    x = float_array(op, "x", x, 4, "(N, C, H, W)")
    kh, kw = kernel_size = pair(op, "kernel_size", kernel_size)
    stride = kernel_size if stride is None else pair(op, "stride", stride)
    ph, pw = padding = pair(op, "padding", padding, 0)
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"{op}: padding must be at most half the kernel size; got "
                         f"padding={(ph, pw)} for kernel_size={(kh, kw)}")
    out = (out_size(op, x.shape[2], kh, stride[0], ph, 1, "H"),
           out_size(op, x.shape[3], kw, stride[1], pw, 1, "W"))
    return PoolArguments(x, kernel_size, stride, padding, out)


def _pool_geometry(op: str, x, kernel_size, stride, padding):
    a = pool_arguments(op, x, kernel_size, stride, padding)
    return a.x, (*a.kernel_size, *a.stride, *a.padding, *a.out_size)


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
