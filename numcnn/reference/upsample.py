"""Resizing (nearest, bilinear) and concatenation (docs/upsampling.md), one output pixel at a
time.

Same signatures, return values and caches as ``numcnn.functional``.  Along each axis, output
index o reads the source coordinate src(o) of the chosen rule; nearest rounds it to one
source index, bilinear blends the two around it with weights (1 - lam, lam),
lam = src - floor(src); source indices are clamped to [0, n_in - 1].
"""

from __future__ import annotations

import math

import numpy as np

from ..functional.upsample import ConcatCache, InterpolateCache, Taps, _resolve, _scale_pair


# ------------------------------------------------------------------- one source coordinate
def _torch_nearest(o: int, n_out: int, n_in: int, scale_factor, exact: bool) -> int:
    """PyTorch: 'nearest' reads floor(o * scale), 'nearest-exact' floor((o + 0.5) * scale),
    scale = 1 / scale_factor (or n_in / n_out), computed in float32 as PyTorch does; plain
    'nearest' copies when n_out = n_in and halves o when n_out = 2 n_in."""
    if not exact and n_out == n_in:
        return o
    if not exact and n_out == 2 * n_in:
        return o // 2
    f32 = np.float32
    scale = f32(1.0 / scale_factor) if scale_factor is not None else f32(n_in) / f32(n_out)
    src = f32((o + 0.5) * float(scale)) if exact else f32(o) * scale
    return min(int(math.floor(src)), n_in - 1)


def _torch_linear(o: int, n_out: int, n_in: int, scale_factor, align_corners: bool, dtype):
    """PyTorch's bilinear source coordinate, in the input's precision."""
    t = np.dtype(dtype).type
    if align_corners:
        return t(o) * (t(n_in - 1) / t(n_out - 1)) if n_out > 1 else t(0)
    scale = t(1.0 / scale_factor) if scale_factor is not None else t(n_in) / t(n_out)
    return max(scale * (t(o) + t(0.5)) - t(0.5), t(0))


def _onnx(o: int, n_out: int, n_in: int, scale: float, mode: str, roi) -> float:
    """ONNX Resize's x_original, with L = scale * n_in the resized length as a real number
    (the roi is np.float32, as ONNX's reference takes it: see
    ``numcnn.functional.upsample._onnx_source``; o is a float64)."""
    o = np.float64(o)
    L = scale * n_in
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        return n_in / 2 * (1 - n_out / L) + (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return -0.5 if L == 1 else (o + 0.5) / scale - 0.5
    if mode == "align_corners":
        return 0.0 if L == 1 else o * (n_in - 1) / (L - 1)
    if mode == "asymmetric":
        return o / scale
    start, end = roi                                              # tf_crop_and_resize
    if L == 1:
        return np.float64((end - start) * (n_in - 1) / 2) + start * (n_in - 1)
    return o * (end - start) * (n_in - 1) / (L - 1) + start * (n_in - 1)


def _round(src: float, nearest_mode: str) -> int:
    """ONNX's nearest_mode: ties (a fraction of exactly 0.5) go down or up."""
    low = math.floor(src)
    frac = src - low
    if nearest_mode == "floor":
        return low
    if nearest_mode == "ceil":
        return math.ceil(src)
    if nearest_mode == "round_prefer_floor":
        return low if frac <= 0.5 else low + 1
    return low if frac < 0.5 else low + 1                         # round_prefer_ceil


def _axis(rule, n_out: int, n_in: int, scale_factor, roi, dtype) -> Taps:
    """The taps of every output index along one axis, one index at a time."""
    clamp = lambda i: min(max(i, 0), n_in - 1)  # noqa: E731 (the edge repeats)
    i0, i1, lam, inside = [], [], [], []
    for o in range(n_out):
        if rule.coordinate_mode is None:
            if rule.mode != "bilinear":
                i0.append(_torch_nearest(o, n_out, n_in, scale_factor,
                                         rule.mode == "nearest-exact"))
                continue
            src = _torch_linear(o, n_out, n_in, scale_factor, rule.align_corners, dtype)
        else:
            scale = scale_factor if scale_factor is not None else n_out / n_in
            src = _onnx(o, n_out, n_in, scale, rule.coordinate_mode, roi)
            inside.append(0 <= src <= n_in - 1)
            if rule.mode != "bilinear":
                i0.append(clamp(_round(src, rule.nearest_mode)))
                continue
        low = math.floor(src)
        i0.append(clamp(low))
        i1.append(clamp(low + 1))
        lam.append(src - low)
    crop = rule.coordinate_mode == "tf_crop_and_resize" and not all(inside)
    return Taps(np.array(i0, dtype=np.int64),
                np.array(i1, dtype=np.int64) if rule.mode == "bilinear" else None,
                np.array(lam, dtype=dtype) if rule.mode == "bilinear" else None,
                np.array(inside, dtype=bool) if crop else None)


# ---------------------------------------------------------------------------- the pair
def interpolate_forward(x: np.ndarray, size=None, scale_factor=None, mode: str = "nearest",
                        align_corners: bool | None = None,
                        recompute_scale_factor: bool | None = None, *,
                        coordinate_transformation_mode: str | None = None,
                        nearest_mode: str | None = None, roi=None,
                        extrapolation_value: float = 0.0):
    """x (N, C, H, W) -> (N, C, H_out, W_out), H_out = size[0] or floor(H * scale_factor)
    (likewise W).  Nearest: y[.., oh, ow] = x[.., row(oh), col(ow)].  Bilinear, with source
    rows h0, h1 of oh and the weight phi_h of the second (w0, w1, phi_w those of ow):
    y = (1-phi_h)(1-phi_w) x[h0, w0] + (1-phi_h) phi_w x[h0, w1] + phi_h (1-phi_w) x[h1, w0]
      + phi_h phi_w x[h1, w1].
    With tf_crop_and_resize, outputs whose source lies outside the input are
    extrapolation_value.  Returns (y, InterpolateCache)."""
    rule = _resolve("interpolate", mode, align_corners, recompute_scale_factor, size,
                    coordinate_transformation_mode, nearest_mode, roi, extrapolation_value)
    N, C, H, W = x.shape
    scales = (None, None) if scale_factor is None else _scale_pair("interpolate", scale_factor)
    if size is not None:
        Ho, Wo = (size, size) if np.ndim(size) == 0 else size
    else:
        Ho, Wo = math.floor(H * scales[0]), math.floor(W * scales[1])
        if recompute_scale_factor:
            scales = (None, None)
    rows = _axis(rule, Ho, H, scales[0], rule.roi[0], x.dtype)
    cols = _axis(rule, Wo, W, scales[1], rule.roi[1], x.dtype)
    bilinear = rule.mode == "bilinear"
    y = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for oh in range(Ho):
        for ow in range(Wo):
            if (rows.inside is not None and not rows.inside[oh]) or (
                    cols.inside is not None and not cols.inside[ow]):
                y[:, :, oh, ow] = extrapolation_value
                continue
            h0, w0 = rows.index0[oh], cols.index0[ow]
            if not bilinear:
                y[:, :, oh, ow] = x[:, :, h0, w0]
                continue
            h1, w1 = rows.index1[oh], cols.index1[ow]
            phi_h, phi_w = rows.weight1[oh], cols.weight1[ow]
            y[:, :, oh, ow] = ((1 - phi_h) * (1 - phi_w) * x[:, :, h0, w0]
                               + (1 - phi_h) * phi_w * x[:, :, h0, w1]
                               + phi_h * (1 - phi_w) * x[:, :, h1, w0]
                               + phi_h * phi_w * x[:, :, h1, w1])
    kind = "bilinear" if bilinear else "nearest"
    return y, InterpolateCache(x.shape, x.dtype, kind, rows, cols, None)


def interpolate_backward(dout: np.ndarray, cache: InterpolateCache) -> np.ndarray:
    """The transpose: each dout[.., oh, ow] goes back to the source pixels it was read from,
    with the same weights (added up where several outputs read one pixel; nothing from an
    extrapolated output).  Returns dx (N, C, H, W)."""
    rows, cols = cache.rows, cache.cols
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)
    for oh in range(rows.index0.shape[0]):
        for ow in range(cols.index0.shape[0]):
            if (rows.inside is not None and not rows.inside[oh]) or (
                    cols.inside is not None and not cols.inside[ow]):
                continue
            d_out = dout[:, :, oh, ow]
            h0, w0 = rows.index0[oh], cols.index0[ow]
            if cache.kind == "nearest":
                dx[:, :, h0, w0] += d_out
                continue
            h1, w1 = rows.index1[oh], cols.index1[ow]
            phi_h, phi_w = rows.weight1[oh], cols.weight1[ow]
            dx[:, :, h0, w0] += (1 - phi_h) * (1 - phi_w) * d_out
            dx[:, :, h0, w1] += (1 - phi_h) * phi_w * d_out
            dx[:, :, h1, w0] += phi_h * (1 - phi_w) * d_out
            dx[:, :, h1, w1] += phi_h * phi_w * d_out
    return dx


def upsample_nearest2d_forward(x: np.ndarray, scale_factor=2):
    """Each pixel copied into an r_h x r_w block.  Returns (y, InterpolateCache)."""
    return interpolate_forward(x, scale_factor=scale_factor, mode="nearest")


def upsample_nearest2d_backward(dout: np.ndarray, cache: InterpolateCache) -> np.ndarray:
    """dx = the sum of dout over each block."""
    return interpolate_backward(dout, cache)


def upsample_bilinear2d_forward(x: np.ndarray, scale_factor=2, align_corners: bool = False):
    """Bilinear upsampling by integer factors.  Returns (y, InterpolateCache)."""
    return interpolate_forward(x, scale_factor=scale_factor, mode="bilinear",
                               align_corners=bool(align_corners))


def upsample_bilinear2d_backward(dout: np.ndarray, cache: InterpolateCache) -> np.ndarray:
    """dx = the transpose of the interpolation."""
    return interpolate_backward(dout, cache)


# -------------------------------------------------------------------------------- concat
def concat_forward(xs, axis: int = 1):
    """y = [x_0; x_1; ...] along ``axis``: each input copied into its slice.
    Returns (y, ConcatCache)."""
    axis = axis % xs[0].ndim
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    y = np.empty(shape, dtype=xs[0].dtype)
    start = 0
    for x in xs:
        index = [slice(None)] * y.ndim
        index[axis] = slice(start, start + x.shape[axis])
        y[tuple(index)] = x
        start += x.shape[axis]
    return y, ConcatCache(tuple(x.shape[axis] for x in xs), axis, y.shape, y.dtype)


def concat_backward(dout: np.ndarray, cache: ConcatCache) -> tuple:
    """Each input's gradient is its slice of dout: the copy sends each gradient back to where
    its value came from."""
    grads, start = [], 0
    for size in cache.sizes:
        index = [slice(None)] * dout.ndim
        index[cache.axis] = slice(start, start + size)
        grads.append(dout[tuple(index)])
        start += size
    return tuple(grads)
