"""Nearest and bilinear upsampling with PyTorch's index rules (docs/upsampling.md)."""

from __future__ import annotations

import numpy as np

from .. import kernels
from ._validate import dout_array, float_array, pair


def upsample_nearest2d_forward(x: np.ndarray, scale_factor=2):
    """out[n, c, oh, ow] = x[n, c, floor(oh / s_h), floor(ow / s_w)].

    Parameters
    ----------
    x : (N, C, H, W);  scale_factor : positive int or (s_h, s_w)

    Returns
    -------
    out : (N, C, H*s_h, W*s_w);  cache
    """
    x = float_array("upsample_nearest2d", "x", x, 4, "(N, C, H, W)")
    sh, sw = pair("upsample_nearest2d", "scale_factor", scale_factor)
    return kernels.upsample_nearest2d_forward(x, sh, sw), (sh, sw, x.shape, x.dtype)


def upsample_nearest2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx[n, c, h, w] = sum of dout over the s_h x s_w block copied from x[n, c, h, w]."""
    sh, sw, (N, C, H, W), dtype = cache
    dout = dout_array("upsample_nearest2d_backward", dout, (N, C, H * sh, W * sw), dtype)
    return kernels.upsample_nearest2d_backward(dout, sh, sw)


def _source_index(out_size: int, in_size: int, scale: int, align_corners: bool, dtype):
    """For each output index: the two source indices and the weight of the second.

    align_corners=False: src = (o + 0.5) / scale - 0.5, clamped at 0 (pixel centres align);
    align_corners=True:  src = o * (in - 1) / (out - 1) (corner pixels align).
    """
    o = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = o * ((in_size - 1) / (out_size - 1)) if out_size > 1 else np.zeros_like(o)
    else:
        src = np.maximum((o + 0.5) / scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, (src - i0).astype(dtype)


def upsample_bilinear2d_forward(x: np.ndarray, scale_factor=2, align_corners: bool = False):
    """out[.., oh, ow] = (1-b)(1-d) x[h0, w0] + (1-b) d x[h0, w1] + b (1-d) x[h1, w0]
    + b d x[h1, w1], with (h0, h1, b) from the source row of oh and (w0, w1, d) likewise.

    Returns
    -------
    out : (N, C, H*s_h, W*s_w);  cache
    """
    x = float_array("upsample_bilinear2d", "x", x, 4, "(N, C, H, W)")
    sh, sw = pair("upsample_bilinear2d", "scale_factor", scale_factor)
    N, C, H, W = x.shape
    rows = _source_index(H * sh, H, sh, align_corners, x.dtype)
    cols = _source_index(W * sw, W, sw, align_corners, x.dtype)
    out = kernels.upsample_bilinear2d_forward(x, *rows, *cols)
    return out, (rows, cols, x.shape, x.dtype)


def upsample_bilinear2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx = the transpose of the interpolation: each dout entry goes back to its 4 source
    pixels with the same weights."""
    rows, cols, (N, C, H, W), dtype = cache
    dout = dout_array("upsample_bilinear2d_backward", dout,
                      (N, C, rows[0].shape[0], cols[0].shape[0]), dtype)
    return kernels.upsample_bilinear2d_backward(dout, H, W, *rows, *cols)


def concat_forward(xs, axis: int = 1):
    """Concatenate along ``axis`` (channels for skip connections).  Returns (out, cache)."""
    if not isinstance(xs, (list, tuple)) or len(xs) < 1:
        raise TypeError(f"concat: expected a list of arrays; got {type(xs).__name__}")
    shapes = [np.shape(x) for x in xs]
    ref = shapes[0]
    for i, s in enumerate(shapes):
        if len(s) != len(ref) or any(a != b for k, (a, b) in enumerate(zip(s, ref))
                                     if k != axis % len(ref)):
            raise ValueError(f"concat: all inputs must match except along axis {axis}; input "
                             f"{i} has shape {s}, input 0 has {ref}")
    return np.concatenate(xs, axis=axis), ([s[axis] for s in shapes], axis)


def concat_backward(dout: np.ndarray, cache) -> tuple:
    """Split dout back into the pieces' sizes along ``axis``: each input gets its slice."""
    sizes, axis = cache
    return tuple(np.split(dout, np.cumsum(sizes)[:-1], axis=axis))
