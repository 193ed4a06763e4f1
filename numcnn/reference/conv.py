"""Convolution and transposed convolution, written as the formulas of docs/convolution.md.

One loop over the groups and the kernel taps (i, j); for each tap, the sum over channels is
one ``einsum`` over a strided slice of the padded input.  No im2col, no col2im: this is the
obviously-correct version that ``numcnn.functional``'s im2col + GEMM path is tested against.
"""

from __future__ import annotations

import numpy as np

from ..functional._validate import dout_array
from ..functional.conv import conv_arguments


def _taps(start: int, step: int, count: int) -> slice:
    """Rows start, start + step, ..., count of them: the slice one tap reads for every output."""
    return slice(start, start + step * (count - 1) + 1, step)


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, f, oh, ow] = b[f] + sum_{c, i, j} w[f, c, i, j] x_pad[n, g_f C_g + c, oh s_h + i d_h,
    ow s_w + j d_w], with g_f = f // F_g the group of filter f; x_pad is x with p_t rows of
    zeros above, p_b below, p_l columns left and p_r right.

    x (N, C, H, W), w (F, C/g, k_h, k_w), b (F,) or None  ->  y (N, F, H_o, W_o),
    H_o = (H + p_t + p_b - d_h (k_h - 1) - 1) // s_h + 1 (W_o alike); cache for the backward.
    """
    a = conv_arguments("conv2d", x, w, b, stride, padding, dilation, groups)
    x, w, b = a.x, a.w, a.b
    (s_h, s_w), (p_t, p_l, p_b, p_r), (d_h, d_w), g = a.stride, a.padding, a.dilation, a.groups
    N, C, H, W = x.shape
    F, C_g, k_h, k_w = w.shape
    F_g = F // g
    H_o = (H + p_t + p_b - d_h * (k_h - 1) - 1) // s_h + 1
    W_o = (W + p_l + p_r - d_w * (k_w - 1) - 1) // s_w + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (p_t, p_b), (p_l, p_r)))
    y = np.zeros((N, F, H_o, W_o), dtype=x.dtype)
    for grp in range(g):
        cs, fs = slice(grp * C_g, (grp + 1) * C_g), slice(grp * F_g, (grp + 1) * F_g)
        for i in range(k_h):
            for j in range(k_w):
                # tap (i, j) of every window: x_pad[n, c, oh s_h + i d_h, ow s_w + j d_w]
                x_tap = x_pad[:, cs, _taps(i * d_h, s_h, H_o), _taps(j * d_w, s_w, W_o)]
                y[:, fs] += np.einsum("fc,nchw->nfhw", w[fs, :, i, j], x_tap, optimize=True)
    if b is not None:
        y += b[None, :, None, None]
    return y, (x, w, b is not None, a.stride, a.padding, a.dilation, g)


def conv2d_backward(dout, cache):
    """The chain rule through each tap of :func:`conv2d_forward`:

    dx_pad[n, c, oh s_h + i d_h, ow s_w + j d_w] += sum_f w[f, c, i, j] dout[n, f, oh, ow],
    dw[f, c, i, j] = sum_{n, oh, ow} dout[n, f, oh, ow] x_pad[n, c, oh s_h + i d_h, ...],
    db[f] = sum_{n, oh, ow} dout[n, f, oh, ow];  dx = dx_pad without its padding.

    Returns dx (N, C, H, W), dw (F, C/g, k_h, k_w), db (F,) or None (no bias).
    """
    x, w, has_bias, (s_h, s_w), (p_t, p_l, p_b, p_r), (d_h, d_w), g = cache
    N, C, H, W = x.shape
    F, C_g, k_h, k_w = w.shape
    F_g = F // g
    H_o = (H + p_t + p_b - d_h * (k_h - 1) - 1) // s_h + 1
    W_o = (W + p_l + p_r - d_w * (k_w - 1) - 1) // s_w + 1
    dout = dout_array("conv2d_backward", dout, (N, F, H_o, W_o), w.dtype)
    x_pad = np.pad(x, ((0, 0), (0, 0), (p_t, p_b), (p_l, p_r)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for grp in range(g):
        cs, fs = slice(grp * C_g, (grp + 1) * C_g), slice(grp * F_g, (grp + 1) * F_g)
        for i in range(k_h):
            for j in range(k_w):
                rows, cols = _taps(i * d_h, s_h, H_o), _taps(j * d_w, s_w, W_o)
                dw[fs, :, i, j] = np.einsum("nfhw,nchw->fc", dout[:, fs],
                                            x_pad[:, cs, rows, cols], optimize=True)
                # one tap reads each padded pixel at most once, so += adds no duplicates
                dx_pad[:, cs, rows, cols] += np.einsum("fc,nfhw->nchw", w[fs, :, i, j],
                                                       dout[:, fs], optimize=True)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx_pad[:, :, p_t:p_t + H, p_l:p_l + W], dw, db


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1,
                             groups=1):
    """The scatter form: every input pixel adds a weighted copy of the kernel onto the output,

    y_full[n, g_c F_g + f, ih s_h + i d_h, iw s_w + j d_w] += w[c, f, i, j] x[n, c, ih, iw],

    with g_c = c // C_g the group of input channel c; then y = y_full cropped (p_t rows off
    the top, p_b off the bottom, p_l and p_r columns; output_padding rows of zeros kept at
    the bottom) + b.
    x (N, C, H, W), w (C, F/g, k_h, k_w) -> y (N, F, H_o, W_o),
    H_o = (H - 1) s_h - p_t - p_b + d_h (k_h - 1) + output_padding_h + 1.
    """
    a = conv_arguments("conv_transpose2d", x, w, b, stride, padding, dilation, groups,
                       output_padding)
    x, w, b = a.x, a.w, a.b
    (s_h, s_w), (p_t, p_l, p_b, p_r), (d_h, d_w), g = a.stride, a.padding, a.dilation, a.groups
    N, C, H, W = x.shape
    _, F_g, k_h, k_w = w.shape
    C_g = C // g
    H_o = (H - 1) * s_h - p_t - p_b + d_h * (k_h - 1) + a.output_padding[0] + 1
    W_o = (W - 1) * s_w - p_l - p_r + d_w * (k_w - 1) + a.output_padding[1] + 1
    y_full = np.zeros((N, F_g * g, p_t + H_o + p_b, p_l + W_o + p_r), dtype=x.dtype)
    for grp in range(g):
        cs, fs = slice(grp * C_g, (grp + 1) * C_g), slice(grp * F_g, (grp + 1) * F_g)
        for i in range(k_h):
            for j in range(k_w):
                y_tap = y_full[:, fs, _taps(i * d_h, s_h, H), _taps(j * d_w, s_w, W)]
                y_tap += np.einsum("cf,nchw->nfhw", w[cs, :, i, j], x[:, cs], optimize=True)
    y = y_full[:, :, p_t:p_t + H_o, p_l:p_l + W_o].copy()
    if b is not None:
        y += b[None, :, None, None]
    return y, (x, w, b is not None, a.stride, a.padding, a.dilation, g, (H_o, W_o))


def conv_transpose2d_backward(dout, cache):
    """Each input pixel's gradient gathers what its scattered copies received:

    dx[n, c, ih, iw] = sum_{f, i, j} w[c, f, i, j] dout_full[n, g_c F_g + f, ih s_h + i d_h, ...],
    dw[c, f, i, j] = sum_{n, ih, iw} x[n, c, ih, iw] dout_full[n, ..., ih s_h + i d_h, ...],
    db[f] = sum_{n, oh, ow} dout[n, f, oh, ow]  (dout_full: dout put back into y_full's frame).

    Returns dx (N, C, H, W), dw (C, F/g, k_h, k_w), db (F,) or None.
    """
    x, w, has_bias, (s_h, s_w), (p_t, p_l, p_b, p_r), (d_h, d_w), g, (H_o, W_o) = cache
    N, C, H, W = x.shape
    _, F_g, k_h, k_w = w.shape
    C_g = C // g
    dout = dout_array("conv_transpose2d_backward", dout, (N, F_g * g, H_o, W_o), w.dtype)
    dout_full = np.zeros((N, F_g * g, p_t + H_o + p_b, p_l + W_o + p_r), dtype=dout.dtype)
    dout_full[:, :, p_t:p_t + H_o, p_l:p_l + W_o] = dout
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for grp in range(g):
        cs, fs = slice(grp * C_g, (grp + 1) * C_g), slice(grp * F_g, (grp + 1) * F_g)
        for i in range(k_h):
            for j in range(k_w):
                d_tap = dout_full[:, fs, _taps(i * d_h, s_h, H), _taps(j * d_w, s_w, W)]
                dx[:, cs] += np.einsum("cf,nfhw->nchw", w[cs, :, i, j], d_tap, optimize=True)
                dw[cs, :, i, j] = np.einsum("nchw,nfhw->cf", x[:, cs], d_tap, optimize=True)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db
