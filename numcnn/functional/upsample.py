"""Resizing (nearest and bilinear) with PyTorch's and ONNX's index rules, and concatenation
(docs/upsampling.md).

Resizing is separable: along each spatial axis, output index o reads source coordinate
src(o), and the output pixel (oh, ow) combines the source rows of oh with the source columns
of ow.  Nearest takes one source index per axis, bilinear two with weights (1 - lam, lam),
lam = src - floor(src); source indices are clamped to [0, n_in - 1] (the edge repeats).
The per-axis tables are :class:`Taps`; numba kernels apply them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import kernels
from .._validate import integer, real
from ._validate import cache_of, dout_array, float_array, kernel_dtype, pair, same_dtype

MODES = ("nearest", "nearest-exact", "bilinear")
COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                    "asymmetric", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


class Taps(NamedTuple):
    """Where the outputs along one axis read: index0 (nearest), or index0 and index1 with
    weights 1 - weight1 and weight1 (bilinear)."""

    index0: np.ndarray                 # int64 (n_out,), in [0, n_in)
    index1: np.ndarray | None = None   # bilinear: the second source index
    weight1: np.ndarray | None = None  # bilinear: lam, x's dtype
    inside: np.ndarray | None = None   # tf_crop_and_resize: False where the output is
    #                                    extrapolation_value (no gradient flows there)


class InterpolateCache(NamedTuple):
    x_shape: tuple                     # (N, C, H, W)
    dtype: np.dtype
    kind: str                          # "nearest" or "bilinear": how the taps are read
    rows: Taps
    cols: Taps
    block: tuple[int, int] | None      # nearest with taps o // s: the integer factors (r_h, r_w)


# ------------------------------------------------------------------ source coordinates
def _torch_nearest_index(n_out: int, n_in: int, scale_factor, exact: bool) -> np.ndarray:
    """PyTorch's 'nearest' (floor(o * scale)) and 'nearest-exact' (floor((o + 0.5) * scale)),
    scale = 1 / scale_factor or n_in / n_out, in float32 arithmetic as PyTorch computes it
    (so that ties at exact integers break the same way)."""
    o = np.arange(n_out)
    if not exact and n_out == n_in:
        return o
    if not exact and n_out == 2 * n_in:
        return o >> 1
    scale = (np.float32(1.0 / scale_factor) if scale_factor is not None
             else np.float32(n_in) / np.float32(n_out))
    src = (((o + 0.5) * np.float64(scale)).astype(np.float32) if exact
           else o.astype(np.float32) * scale)
    return np.minimum(np.floor(src).astype(np.int64), n_in - 1)


def _torch_linear_source(n_out: int, n_in: int, scale_factor, align_corners: bool,
                         dtype) -> np.ndarray:
    """PyTorch's bilinear source coordinate, in the input's precision as PyTorch computes it:
    align_corners: src = o (n_in - 1) / (n_out - 1) (0 if n_out = 1);
    else:          src = max((o + 0.5) * scale - 0.5, 0), scale = 1 / scale_factor or n_in / n_out.
    """
    t = np.dtype(dtype).type
    o = np.arange(n_out).astype(dtype)
    if align_corners:
        return o * (t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0))
    scale = t(1.0 / scale_factor) if scale_factor is not None else t(n_in) / t(n_out)
    return np.maximum(scale * (o + t(0.5)) - t(0.5), t(0))


def _onnx_source(mode: str, n_out: int, n_in: int, scale: float, roi=(0.0, 1.0)) -> np.ndarray:
    """ONNX Resize's x_original for each output index x (float64), with its ``scale``
    (the given scale, or n_out / n_in) and the resized length as a real number,
    L = scale * n_in (what the ONNX reference uses where the spec says length_resized):

    half_pixel           (x + 0.5) / scale - 0.5
    half_pixel_symmetric offset + (x + 0.5) / scale - 0.5, offset = (n_in / 2)(1 - n_out / L)
    pytorch_half_pixel   (x + 0.5) / scale - 0.5, or -0.5 if L = 1
    align_corners        x (n_in - 1) / (L - 1), or 0 if L = 1
    asymmetric           x / scale
    tf_crop_and_resize   start (n_in - 1) + x (end - start)(n_in - 1) / (L - 1),
                         or (start + end)(n_in - 1) / 2 if L = 1

    Rounded as ONNX's reference rounds them (that decides the nearest pixel at exact
    halves): the roi is float32 (ONNX's roi tensor, ``np.float32`` in the rule), so
    end - start, (end - start)(n_in - 1) / 2 and start (n_in - 1) are float32 numbers;
    everything else is float64 (NumPy's promotion rules do this).
    """
    x = np.arange(n_out, dtype=np.float64)
    length = scale * n_in
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / length)
        return offset + (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return np.full(n_out, -0.5) if length == 1 else (x + 0.5) / scale - 0.5
    if mode == "align_corners":
        return np.zeros(n_out) if length == 1 else x * (n_in - 1) / (length - 1)
    if mode == "asymmetric":
        return x / scale
    start, end = roi  # tf_crop_and_resize
    if length == 1:
        return np.full(n_out, (end - start) * (n_in - 1) / 2, np.float64) + start * (n_in - 1)
    return x * (end - start) * (n_in - 1) / (length - 1) + start * (n_in - 1)


def _onnx_nearest_index(src: np.ndarray, nearest_mode: str, n_in: int) -> np.ndarray:
    """Round x_original as ONNX's nearest_mode says (halves down, halves up, floor, ceil)."""
    low = np.floor(src)
    frac = src - low
    if nearest_mode == "floor":
        index = low
    elif nearest_mode == "ceil":
        index = np.ceil(src)
    elif nearest_mode == "round_prefer_floor":
        index = np.where(frac <= 0.5, low, low + 1)
    else:  # round_prefer_ceil
        index = np.where(frac < 0.5, low, low + 1)
    return np.clip(index, 0, n_in - 1).astype(np.int64)


def _linear_taps(src: np.ndarray, n_in: int, dtype) -> Taps:
    """index0 = floor(src), index1 = index0 + 1 (both clamped to the input), lam = src - floor."""
    low = np.floor(src)
    i0 = np.clip(low, 0, n_in - 1).astype(np.int64)
    i1 = np.clip(low + 1, 0, n_in - 1).astype(np.int64)
    return Taps(i0, i1, (src - low).astype(dtype))


class _Rule(NamedTuple):
    """The resolved semantics of one interpolate call."""

    mode: str                       # one of MODES
    align_corners: bool
    coordinate_mode: str | None     # None: PyTorch's rules; else ONNX's
    nearest_mode: str | None
    roi: tuple                      # ((h_start, h_end), (w_start, w_end)), tf_crop_and_resize,
    #                                 np.float32 with ONNX's rules (see _onnx_source)


def _axis_taps(rule: _Rule, n_out: int, n_in: int, scale_factor, roi, dtype) -> Taps:
    if rule.coordinate_mode is None:
        if rule.mode == "bilinear":
            src = _torch_linear_source(n_out, n_in, scale_factor, rule.align_corners, dtype)
            return _linear_taps(src, n_in, dtype)
        return Taps(_torch_nearest_index(n_out, n_in, scale_factor,
                                         rule.mode == "nearest-exact"))
    scale = scale_factor if scale_factor is not None else n_out / n_in
    src = _onnx_source(rule.coordinate_mode, n_out, n_in, scale, roi)
    taps = (_linear_taps(src, n_in, dtype) if rule.mode == "bilinear"
            else Taps(_onnx_nearest_index(src, rule.nearest_mode, n_in)))
    if rule.coordinate_mode == "tf_crop_and_resize":
        inside = (src >= 0) & (src <= n_in - 1)
        taps = taps._replace(inside=None if inside.all() else inside)
    return taps


# --------------------------------------------------------------------------- arguments
def _scale_pair(op: str, scale_factor) -> tuple[float, float]:
    if isinstance(scale_factor, (tuple, list)):
        if len(scale_factor) != 2:
            raise ValueError(f"{op}: scale_factor must be a number or a pair (r_h, r_w); got "
                             f"{scale_factor!r}")
        return tuple(real(op, "scale_factor", s, 0.0, min_open=True) for s in scale_factor)
    s = real(op, "scale_factor", scale_factor, 0.0, min_open=True)
    return s, s


def _roi_pairs(op: str, roi) -> tuple:
    """((h_start, h_end), (w_start, w_end)), normalised coordinates (ONNX's roi per axis)."""
    if roi is None:
        return ((0.0, 1.0), (0.0, 1.0))

    def is_pair(v) -> bool:
        return ((isinstance(v, (tuple, list)) and len(v) == 2)
                or (isinstance(v, np.ndarray) and v.shape == (2,)))

    if ((isinstance(roi, np.ndarray) and roi.shape == (2, 2))
            or (isinstance(roi, (tuple, list)) and len(roi) == 2 and all(map(is_pair, roi)))):
        return tuple((real(op, "roi", v[0]), real(op, "roi", v[1])) for v in roi)
    raise ValueError(f"{op}: roi must be ((h_start, h_end), (w_start, w_end)) in normalised "
                     f"coordinates; got {roi!r}")


def _resolve(op: str, mode, align_corners, recompute_scale_factor, size, coordinate_mode,
             nearest_mode, roi, extrapolation_value: float) -> _Rule:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"{op}: mode must be one of {MODES}; got {mode!r}")
    for name, v in (("align_corners", align_corners),
                    ("recompute_scale_factor", recompute_scale_factor)):
        if v is not None and not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{op}: {name} must be True, False or None; got {v!r}")
    if recompute_scale_factor and size is not None:
        raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an explicit size")
    if coordinate_mode is None:  # PyTorch's F.interpolate
        if align_corners is not None and mode != "bilinear":
            raise ValueError(f"{op}: align_corners only applies to mode='bilinear'; got "
                             f"mode={mode!r} with align_corners={align_corners}")
        for name, v in (("nearest_mode", nearest_mode), ("roi", roi)):
            if v is not None:
                raise ValueError(f"{op}: {name} belongs to ONNX's rules: give "
                                 f"coordinate_transformation_mode too")
        return _Rule(mode, bool(align_corners), None, None, _roi_pairs(op, None))
    if not isinstance(coordinate_mode, str) or coordinate_mode not in COORDINATE_MODES:
        raise ValueError(f"{op}: coordinate_transformation_mode must be one of "
                         f"{COORDINATE_MODES}; got {coordinate_mode!r}")
    if mode == "nearest-exact":
        raise ValueError(f"{op}: 'nearest-exact' is PyTorch's; with ONNX's rules use "
                         f"mode='nearest' and nearest_mode= (it is half_pixel with "
                         f"round_prefer_ceil)")
    if align_corners is not None or recompute_scale_factor is not None:
        raise ValueError(f"{op}: align_corners and recompute_scale_factor are PyTorch's; with "
                         f"ONNX's rules use coordinate_transformation_mode alone")
    if mode == "nearest":
        nearest_mode = "round_prefer_floor" if nearest_mode is None else nearest_mode
        if not isinstance(nearest_mode, str) or nearest_mode not in NEAREST_MODES:
            raise ValueError(f"{op}: nearest_mode must be one of {NEAREST_MODES}; got "
                             f"{nearest_mode!r}")
    elif nearest_mode is not None:
        raise ValueError(f"{op}: nearest_mode only applies to mode='nearest'")
    crop = coordinate_mode == "tf_crop_and_resize"
    if not crop and (roi is not None or extrapolation_value != 0.0):
        raise ValueError(f"{op}: roi and extrapolation_value only apply to "
                         f"coordinate_transformation_mode='tf_crop_and_resize'")
    roi = tuple(tuple(map(np.float32, p)) for p in _roi_pairs(op, roi))
    return _Rule(mode, False, coordinate_mode, nearest_mode, roi)


# ---------------------------------------------------------------------------- the pair
def interpolate_forward(x: np.ndarray, size=None, scale_factor=None, mode: str = "nearest",
                        align_corners: bool | None = None,
                        recompute_scale_factor: bool | None = None, *,
                        coordinate_transformation_mode: str | None = None,
                        nearest_mode: str | None = None, roi=None,
                        extrapolation_value: float = 0.0):
    """Resize (N, C, H, W) to a ``size`` or by a ``scale_factor`` (one of the two), nearest or
    bilinear.

    Without ``coordinate_transformation_mode``: PyTorch's ``F.interpolate`` (mode 'nearest':
    src = floor(o * scale); 'nearest-exact': floor((o + 0.5) * scale); 'bilinear' with
    ``align_corners``; scale = 1 / scale_factor, or n_in / n_out when a ``size`` is given or
    ``recompute_scale_factor=True``).  With it: ONNX's Resize (``mode`` 'nearest' rounded by
    ``nearest_mode``, or 'bilinear' for ONNX's 'linear'; see :func:`_onnx_source`; ``roi``
    and ``extrapolation_value`` for 'tf_crop_and_resize'; ``size`` and ``scale_factor`` may
    then both be given, as ONNX's keep_aspect_ratio_policy needs: the output has ``size``, the
    coordinates use ``scale_factor``).  The output size is ``size``, or
    floor(n_in * scale_factor) per axis.

    Parameters
    ----------
    x : (N, C, H, W) float32 or float64
    size : int or (H_out, W_out);  scale_factor : positive number or (r_h, r_w)

    Returns
    -------
    out : (N, C, H_out, W_out);  cache : InterpolateCache
    """
    op = "interpolate"
    x = float_array(op, "x", x, 4, "(N, C, H, W)")
    kernel_dtype(op, "x", x)
    value = real(op, "extrapolation_value", extrapolation_value)
    rule = _resolve(op, mode, align_corners, recompute_scale_factor, size,
                    coordinate_transformation_mode, nearest_mode, roi, value)
    N, C, H, W = x.shape
    onnx_both = rule.coordinate_mode is not None and size is not None and scale_factor is not None
    if (size is None) == (scale_factor is None) and not onnx_both:
        raise ValueError(f"{op}: give exactly one of size and scale_factor; got size={size!r}, "
                         f"scale_factor={scale_factor!r}")
    scales = (None, None) if scale_factor is None else _scale_pair(op, scale_factor)
    if size is not None:
        out_hw = pair(op, "size", size)
    else:
        out_hw = (math.floor(H * scales[0]), math.floor(W * scales[1]))
        if min(out_hw) < 1:
            raise ValueError(f"{op}: scale_factor {scale_factor!r} turns the input's {H}x{W} "
                             f"into {out_hw[0]}x{out_hw[1]}; the output needs at least one "
                             f"pixel per axis")
        if recompute_scale_factor:
            scales = (None, None)
    if H == 0 or W == 0:
        raise ValueError(f"{op}: x must have at least one pixel per axis; got shape {x.shape}")
    rows = _axis_taps(rule, out_hw[0], H, scales[0], rule.roi[0], x.dtype)
    cols = _axis_taps(rule, out_hw[1], W, scales[1], rule.roi[1], x.dtype)
    kind = "bilinear" if rule.mode == "bilinear" else "nearest"
    block = None
    if kind == "nearest" and rows.inside is None and cols.inside is None:
        sh, sw = out_hw[0] // H, out_hw[1] // W
        if (out_hw == (H * sh, W * sw) and np.array_equal(rows.index0, np.arange(H * sh) // sh)
                and np.array_equal(cols.index0, np.arange(W * sw) // sw)):
            block = (sh, sw)
    if block is not None:
        out = kernels.upsample_nearest2d_forward(x, *block)
    elif kind == "nearest":
        out = kernels.nearest2d_gather(x, rows.index0, cols.index0)
    else:
        out = kernels.upsample_bilinear2d_forward(x, *rows[:3], *cols[:3])
    if rows.inside is not None:
        out[:, :, ~rows.inside] = value
    if cols.inside is not None:
        out[:, :, :, ~cols.inside] = value
    return out, InterpolateCache(x.shape, x.dtype, kind, rows, cols, block)


def interpolate_backward(dout: np.ndarray, cache: InterpolateCache) -> np.ndarray:
    """dx = the transpose of the interpolation: each dout entry goes back to its source
    pixels with the weights it was read with (summed where several outputs read one pixel;
    none from outputs set to extrapolation_value).

    Returns
    -------
    dx : (N, C, H, W)
    """
    op = "interpolate_backward"
    cache_of(op, cache, InterpolateCache, "interpolate_forward")
    N, C, H, W = cache.x_shape
    rows, cols = cache.rows, cache.cols
    dout = dout_array(op, dout, (N, C, rows.index0.shape[0], cols.index0.shape[0]), cache.dtype)
    if rows.inside is not None or cols.inside is not None:
        dout = dout.copy()
        if rows.inside is not None:
            dout[:, :, ~rows.inside] = 0
        if cols.inside is not None:
            dout[:, :, :, ~cols.inside] = 0
    if cache.block is not None:
        return kernels.upsample_nearest2d_backward(dout, *cache.block)
    if cache.kind == "nearest":
        return kernels.nearest2d_scatter(dout, H, W, rows.index0, cols.index0)
    return kernels.upsample_bilinear2d_backward(dout, H, W, *rows[:3], *cols[:3])


# -------------------------------------------------------------------- the thin 2-D forms
def upsample_nearest2d_forward(x: np.ndarray, scale_factor=2):
    """out[n, c, oh, ow] = x[n, c, floor(oh / r_h), floor(ow / r_w)]: each pixel copied into
    an r_h x r_w block; ``interpolate_forward(x, scale_factor=r, mode='nearest')``.

    Parameters
    ----------
    x : (N, C, H, W);  scale_factor : positive int or (r_h, r_w)

    Returns
    -------
    out : (N, C, H*r_h, W*r_w);  cache : InterpolateCache
    """
    s = pair("upsample_nearest2d", "scale_factor", scale_factor)
    return interpolate_forward(x, scale_factor=s, mode="nearest")


def upsample_nearest2d_backward(dout: np.ndarray, cache: InterpolateCache) -> np.ndarray:
    """dx[n, c, ih, iw] = sum of dout over the r_h x r_w block copied from x[n, c, ih, iw]."""
    return interpolate_backward(dout, cache)


def upsample_bilinear2d_forward(x: np.ndarray, scale_factor=2, align_corners: bool = False):
    """out[.., oh, ow] = (1-phi_h)(1-phi_w) x[h0, w0] + (1-phi_h) phi_w x[h0, w1]
    + phi_h (1-phi_w) x[h1, w0] + phi_h phi_w x[h1, w1], with source rows h0, h1 and the
    weight phi_h of the second from oh (columns w0, w1, phi_w alike);
    ``interpolate_forward(x, scale_factor=r, mode='bilinear', align_corners=...)``.

    Returns
    -------
    out : (N, C, H*r_h, W*r_w);  cache : InterpolateCache
    """
    s = pair("upsample_bilinear2d", "scale_factor", scale_factor)
    return interpolate_forward(x, scale_factor=s, mode="bilinear",
                               align_corners=bool(align_corners))


def upsample_bilinear2d_backward(dout: np.ndarray, cache: InterpolateCache) -> np.ndarray:
    """dx = the transpose of the interpolation: each dout entry goes back to its 4 source
    pixels with the same weights."""
    return interpolate_backward(dout, cache)


# -------------------------------------------------------------------------------- concat
class ConcatCache(NamedTuple):
    sizes: tuple               # each input's extent along axis
    axis: int
    shape: tuple               # the output's shape
    dtype: np.dtype


def concat_forward(xs, axis: int = 1):
    """Concatenate arrays of one dtype along ``axis`` (channels for skip connections); all
    other axes must match.  Returns (out, cache : ConcatCache)."""
    op = "concat"
    if not isinstance(xs, (list, tuple)) or len(xs) < 1:
        raise TypeError(f"{op}: expected a non-empty list of arrays; got "
                        f"{type(xs).__name__ if not isinstance(xs, (list, tuple)) else '[]'}")
    arrays = [float_array(op, f"xs[{i}]", x) for i, x in enumerate(xs)]
    same_dtype(op, **{f"xs[{i}]": a for i, a in enumerate(arrays)})
    ref = arrays[0].shape
    if not ref:
        raise ValueError(f"{op}: the inputs must have at least one axis; got 0-d arrays")
    axis = integer(op, "axis", axis, minimum=-len(ref), maximum=len(ref) - 1) % len(ref)
    for i, a in enumerate(arrays):
        s = a.shape
        if len(s) != len(ref) or any(u != v for k, (u, v) in enumerate(zip(s, ref)) if k != axis):
            raise ValueError(f"{op}: all inputs must match except along axis {axis}; input "
                             f"{i} has shape {s}, input 0 has {ref}")
    out = np.concatenate(arrays, axis=axis)
    return out, ConcatCache(tuple(a.shape[axis] for a in arrays), axis, out.shape, out.dtype)


def concat_backward(dout: np.ndarray, cache: ConcatCache) -> tuple:
    """Split dout back into the pieces' sizes along ``axis``: each input gets its slice."""
    cache_of("concat_backward", cache, ConcatCache, "concat_forward")
    dout = dout_array("concat_backward", dout, cache.shape, cache.dtype)
    return tuple(np.split(dout, np.cumsum(cache.sizes)[:-1], axis=cache.axis))
