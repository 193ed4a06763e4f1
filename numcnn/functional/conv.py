"""Convolution and transposed convolution as im2col + one GEMM (docs/convolution.md).

Symbols: input x[n, c, h, w], weights w[f, c, i, j], output y[n, f, oh, ow]; stride (s_h, s_w),
padding (p_h, p_w), dilation (d_h, d_w).  "Convolution" is cross-correlation, as in PyTorch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _threads, kernels
from .._validate import integer
from ._validate import (
    cache_of,
    dout_array,
    float_array,
    kernel_dtype,
    out_size,
    padding4,
    pair,
    same_dtype,
)


def _block_matmul(a: np.ndarray, b: np.ndarray, groups: int, ta: bool = False,
                  tb: bool = False) -> np.ndarray:
    """Stack of op(a_g) @ op(b_g) over the ``groups`` row blocks a_g of a and b_g of b."""
    pairs = zip(np.split(a, groups), np.split(b, groups)) if groups > 1 else [(a, b)]
    blocks = [(ag.T if ta else ag) @ (bg.T if tb else bg) for ag, bg in pairs]
    return blocks[0] if groups == 1 else np.concatenate(blocks)


# Above this many bytes, im2col's matrix is built a chunk at a time (_chunks).
_CHUNK_ABOVE = 2 << 20
_CHUNK_BYTES = 1 << 20  # the size of one chunk's column matrix: about one core's L2
_MIN_CHUNK_COLS = 2048  # but never fewer columns than this: small GEMMs run slowly
_MIN_THREAD_COLS = 1024  # split a small matrix over threads only into chunks this wide


class Chunk(NamedTuple):
    """Samples ``n`` (a slice) and output rows [row0, row1) whose columns are built at once."""

    n: slice
    row0: int
    row1: int


def _chunks(N: int, Ho: int, Wo: int, rows: int, itemsize: int,
            threads: int = 1) -> list[Chunk]:
    """Pieces of the output whose im2col matrices (rows, columns) are about _CHUNK_BYTES each,
    at least ``threads`` of them (a multiple of it) when there are columns enough.

    im2col's matrix is kh*kw times bigger than the input (38 MB for a 3x3 kernel on
    8x32x64x64 float32; 151 MB for 16 channels on one 512x512 image).  Built whole it has
    left the CPU caches by the time the GEMM reads it; built a few samples at a time it is
    still in cache, and the memory held drops to one chunk.  Measured (U-Net train step,
    8x1x64x64, 1 thread): 8 MB / 4 MB chunks -> 2 MB / 1 MB took the CPU time per step
    from 379 to 354 ms and the step's peak memory from 38.9 to 31.4 MB (seed CNN: same
    time); below the threshold one chunk is as fast or faster (fewer, bigger GEMMs).
    With several threads each chunk runs whole on one of them (``_threads.map_chunks``).
    When one sample alone is too big (a large image), a chunk is a band of its output rows.
    """
    total = N * Ho * Wo
    if total == 0:  # an empty batch: one (empty) chunk
        return [Chunk(slice(0, N), 0, Ho)]
    k = 1
    if rows * total * itemsize > _CHUNK_ABOVE:
        k = -(-total // max(_MIN_CHUNK_COLS, _CHUNK_BYTES // (rows * itemsize)))
    if threads > 1 and total >= threads * _MIN_THREAD_COLS:
        k = -(-k // threads) * threads  # every thread gets as many chunks
    if k <= N:  # whole samples per chunk
        per = -(-N // k)
        return [Chunk(slice(a, min(a + per, N)), 0, Ho) for a in range(0, N, per)]
    band = -(-Ho // min(Ho, -(-k // N)))  # output rows per chunk, one sample at a time
    return [Chunk(slice(n, n + 1), r, min(r + band, Ho))
            for n in range(N) for r in range(0, Ho, band)]


def _band(geom: ConvGeometry, c: Chunk) -> ConvGeometry:
    """The geometry of a chunk's output rows: im2col / col2im of output rows [row0, row1)
    are those of a convolution whose padding on top is row0*stride rows smaller."""
    if c.row0 == 0 and c.row1 == geom.out_h:
        return geom
    return geom._replace(pad_h=geom.pad_h - c.row0 * geom.stride_h, out_h=c.row1 - c.row0)


def _rows(a: np.ndarray, c: Chunk) -> np.ndarray:
    """The chunk's samples and rows [row0, row1) of an (N, C, H, W) array (a view)."""
    return a[c.n] if c.row0 == 0 and c.row1 == a.shape[2] else a[c.n, :, c.row0:c.row1]


class ConvWindow(NamedTuple):
    """A convolution's hyper-parameters, validated (``conv_window``)."""

    stride: tuple[int, int]
    padding: tuple[int, int, int, int]  # (top, left, bottom, right)
    dilation: tuple[int, int]
    output_padding: tuple[int, int]  # (0, 0) for conv2d


def conv_window(op: str, kernel_size, stride, padding, dilation,
                output_padding=None) -> ConvWindow:
    """Check the hyper-parameters that do not depend on the input (also what the nn layers
    check when they are built); ``output_padding=None`` means a plain convolution.

    ``padding`` is an int, an (h, w) pair, (top, left, bottom, right), or, for a plain
    convolution, PyTorch's "valid" (no padding) or "same" (stride 1 only: d(k-1) in all,
    the odd one on the bottom / right, so that the output has the input's size).
    """
    stride = pair(op, "stride", stride)
    dilation = pair(op, "dilation", dilation)
    if isinstance(padding, str):
        if output_padding is not None or padding not in ("same", "valid"):
            what = '"same" or "valid"' if output_padding is None else "ints"
            raise ValueError(f"{op}: padding must be {what} (as in PyTorch); got {padding!r}")
        if padding == "same" and stride != (1, 1):
            raise ValueError(f"{op}: padding='same' needs stride 1 (as in PyTorch); got "
                             f"stride={stride}")
        total = [d * (k - 1) if padding == "same" else 0
                 for k, d in zip(pair(op, "kernel_size", kernel_size), dilation)]
        padding = (total[0] // 2, total[1] // 2, total[0] - total[0] // 2,
                   total[1] - total[1] // 2)
    padding = padding4(op, padding)
    if output_padding is None:
        return ConvWindow(stride, padding, dilation, (0, 0))
    output_padding = pair(op, "output_padding", output_padding, 0)
    if any(o >= max(s, d) for o, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{op}: output_padding must be smaller than stride or dilation; got "
                         f"output_padding={output_padding}, stride={stride}, "
                         f"dilation={dilation}")
    return ConvWindow(stride, padding, dilation, output_padding)


class ConvArguments(NamedTuple):
    """The arguments of conv2d / conv_transpose2d, validated (``conv_arguments``)."""

    x: np.ndarray                  # (N, C, H, W), C-contiguous
    w: np.ndarray                  # conv: (F, C/g, kh, kw); transposed: (C, F/g, kh, kw)
    b: np.ndarray | None           # (F,) or None
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]  # (top, left, bottom, right)
    dilation: tuple[int, int]
    groups: int
    output_padding: tuple[int, int]  # (0, 0) for conv2d
    out_size: tuple[int, int]        # (Ho, Wo)


def conv_arguments(op: str, x, w, b, stride, padding, dilation, groups,
                   output_padding=None) -> ConvArguments:
    """Check the arguments of a convolution (``output_padding=None``) or of a transposed
    convolution, and compute the output size; the one validation that conv2d,
    conv_transpose2d and their ``numcnn.reference`` versions share (so their errors match).
    """
    transposed = output_padding is not None
    x = float_array(op, "x", x, 4, "(N, C, H, W)")
    w = float_array(op, "w", w, 4, "(C_in, C_out/groups, kh, kw)" if transposed
                    else "(C_out, C_in/groups, kh, kw)")
    if b is not None:
        b = float_array(op, "b", b, 1, "(C_out,)")
    kernel_dtype(op, "x", x)
    same_dtype(op, x=x, w=w, b=b)
    groups = integer(op, "groups", groups)
    if transposed:
        C, F = w.shape[0], w.shape[1] * groups
        if C % groups:
            raise ValueError(f"{op}: in_channels ({C}) must be divisible by groups ({groups})")
        weights = f"weights {w.shape}"
    else:
        C, F = w.shape[1] * groups, w.shape[0]
        if F % groups:
            raise ValueError(f"{op}: out_channels ({F}) must be divisible by groups ({groups})")
        weights = f"weights {w.shape} with groups={groups}"
    if x.shape[1] != C:
        hint = ""
        if x.shape[-1] == C:
            hint = (" The input looks NHWC (channels last); numcnn is NCHW: use "
                    "x.transpose(0, 3, 1, 2).")
        raise ValueError(f"{op}: expected {C} input channels at axis 1 (NCHW, {weights}); "
                         f"got x of shape {x.shape}.{hint}")
    if b is not None and b.shape != (F,):
        raise ValueError(f"{op}: b must have shape ({F},) to match w; got {b.shape}")
    if 0 in w.shape:  # no filter, no input channel or an empty kernel: nothing to compute
        raise ValueError(f"{op}: w must have no empty axis; got {weights}")
    kh, kw = w.shape[2:]
    win = conv_window(op, (kh, kw), stride, padding, dilation, output_padding)
    (sh, sw), (top, left, bottom, right), (dil_h, dil_w) = win.stride, win.padding, win.dilation
    H, W = x.shape[2:]
    if not transposed:
        Ho = out_size(op, H, kh, sh, top, bottom, dil_h, "H")
        Wo = out_size(op, W, kw, sw, left, right, dil_w, "W")
    else:
        Ho = (H - 1) * sh - top - bottom + dil_h * (kh - 1) + win.output_padding[0] + 1
        Wo = (W - 1) * sw - left - right + dil_w * (kw - 1) + win.output_padding[1] + 1
        if Ho < 1 or Wo < 1:
            pads = win.padding[:2] if win.padding[:2] == win.padding[2:] else win.padding
            raise ValueError(f"{op}: the output would be {Ho}x{Wo}; padding {pads} is too "
                             f"large for a {H}x{W} input")
    return ConvArguments(x, w, b, *win[:3], groups, win.output_padding, (Ho, Wo))


class ConvGeometry(NamedTuple):
    """Where a convolution's windows sit, in the order the kernels take them
    (``kernels.im2col(x, *geom)``): output pixel (oh, ow) and tap (i, j) read input pixel
    (oh*stride_h - pad_h + i*dil_h, ow*stride_w - pad_w + j*dil_w)."""

    kh: int
    kw: int
    stride_h: int
    stride_w: int
    pad_h: int  # zero rows above the input
    pad_w: int  # zero columns left of it
    dil_h: int
    dil_w: int
    out_h: int
    out_w: int


def _geometry(a: ConvArguments, out_h: int, out_w: int) -> ConvGeometry:
    """The bottom / right padding is not in the geometry: it only makes the output taller or
    wider (out_h, out_w), and taps beyond the input read 0 anyway."""
    return ConvGeometry(*a.w.shape[2:], *a.stride, *a.padding[:2], *a.dilation, out_h, out_w)


class ConvCache(NamedTuple):
    """What :func:`conv2d_backward` needs from :func:`conv2d_forward`."""

    x: np.ndarray
    w: np.ndarray
    has_bias: bool
    geom: ConvGeometry
    groups: int
    chunks: list[Chunk]  # the forward's chunks (see _chunks)


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1,
                   padding=0, dilation=1, groups: int = 1):
    """2-D convolution (cross-correlation).

    y[n, f, oh, ow] = b[f] + sum_{c, i, j} w[f, c, i, j] * x_pad[n, g*C_g + c, oh*s_h + i*d_h,
    ow*s_w + j*d_w]  (g = the group of f), computed as Y = W_mat @ X_col, where
    X_col = im2col(x) has shape (C*kh*kw, N*Ho*Wo) and W_mat = w.reshape(F, C_g*kh*kw)
    (for a large X_col, a chunk of samples or of output rows at a time: see ``_chunks``).

    Parameters
    ----------
    x : (N, C, H, W) float array
    w : (F, C/groups, kh, kw), same dtype as x
    b : (F,) or None
    stride, dilation : int or (h, w) pair
    padding : int, (h, w), (top, left, bottom, right) (ONNX's ``pads``), or PyTorch's
        "valid" (0) / "same" (stride 1; d(k-1) in all, the odd row / column at the bottom /
        right)
    groups : int, dividing C and F

    Returns
    -------
    out : (N, F, Ho, Wo) with Ho = floor((H + p_top + p_bottom - d_h(kh-1) - 1) / s_h) + 1
    cache : a :class:`ConvCache`, what :func:`conv2d_backward` needs
    """
    a = conv_arguments("conv2d", x, w, b, stride, padding, dilation, groups)
    geom = _geometry(a, *a.out_size)
    out, chunks = _conv_gemm(a.x, a.w, a.b, geom, a.groups)
    return out, ConvCache(a.x, a.w, a.b is not None, geom, a.groups, chunks)


def _output(op: str, make, shape: tuple, dtype) -> np.ndarray:
    """make(shape, dtype), or a MemoryError naming the shape (huge strides or dilations ask
    for more memory than there is; NumPy's "array is too big" is a ValueError)."""
    try:
        return make(shape, dtype=dtype)
    except (MemoryError, ValueError) as e:
        raise MemoryError(f"{op}: the output of shape {shape} does not fit in memory; check "
                          f"the stride, dilation and padding") from e


def _conv_gemm(x, w, b, geom: ConvGeometry, groups: int):
    """The forward's arithmetic on validated arguments: im2col + GEMM + bias, by chunks.

    Returns out (N, F, Ho, Wo) and the chunks.  The columns are not kept: backward
    rebuilds them from x (a copy, cheap next to the GEMMs), so that a training step holds
    kh*kw times less memory for each convolution (docs/performance.md, "Memory").
    """
    N, C = x.shape[:2]
    F = w.shape[0]
    w_mat = w.reshape(F, -1)
    bias = b if b is not None else np.zeros(F, dtype=x.dtype)
    out = _output("conv2d", np.empty, (N, F, geom.out_h, geom.out_w), x.dtype)
    rows = C * geom.kh * geom.kw
    chunks = _chunks(N, geom.out_h, geom.out_w, rows, x.itemsize, _threads.threads_for(2))
    threads = _threads.threads_for(len(chunks))

    def chunk(c: Chunk) -> None:
        cols = kernels.im2col(x[c.n], *_band(geom, c), parallel=threads == 1)  # (rows, cols)
        y_mat = _block_matmul(w_mat, cols, groups)                     # (F, n*rows*Wo)
        kernels.cn_to_nchw(y_mat, bias, _rows(out, c))                 # + b, in NCHW order

    _threads.map_chunks(chunk, chunks, threads)
    return out, chunks


def _flipped_pads(geom: ConvGeometry, F: int, C: int):
    """The paddings (d_h(kh-1) - p_h, d_w(kw-1) - p_w) of the flipped-kernel convolution
    when backward takes that path (stride 1, F <= C, neither padding negative), else None."""
    fph = geom.dil_h * (geom.kh - 1) - geom.pad_h
    fpw = geom.dil_w * (geom.kw - 1) - geom.pad_w
    stride_1 = geom.stride_h == geom.stride_w == 1
    return (fph, fpw) if stride_1 and F <= C and fph >= 0 and fpw >= 0 else None


def _flipped(w, groups):
    """w (F, C/g, kh, kw) -> w' (C, F/g, kh, kw) with w'[c, f, i, j] = w[f, c, kh-1-i, kw-1-j]
    (within each group): the kernel of the convolution that maps dout to dx."""
    F, Cg, kh, kw = w.shape
    wg = w.reshape(groups, F // groups, Cg, kh, kw).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(wg.reshape(groups * Cg, F // groups, kh, kw)[:, :, ::-1, ::-1])


def conv2d_backward(dout: np.ndarray, cache: ConvCache):
    """Gradients of :func:`conv2d_forward`.

    With dY_mat = dout as (F, N*Ho*Wo):  dW_mat = dY_mat @ X_col^T,  dX_col = W_mat^T @ dY_mat,
    dx = col2im(dX_col) (overlapping windows add up),  db[f] = sum_{n, oh, ow} dout[n, f, oh, ow].

    For stride 1 the same dx is a convolution of dout with the flipped kernel w':
    dx[n, c, h, w] = sum_{f, i, j} w'[c, f, i, j] * dout_pad[n, f, h + i*d_h, w + j*d_w],
    w'[c, f, i, j] = w[f, c, kh-1-i, kw-1-j], dout padded by d*(k-1) - p.  With D_col =
    im2col of dout_pad (F*kh*kw, N*H*W) that is dx = W'_mat @ D_col, and the same columns
    give dw too: dw'_mat = X_mat @ D_col^T (X_mat = x as (C, N*H*W)), dw = dw' flipped
    back.  When F <= C this path is the cheaper one (F*kh*kw rows of columns instead of
    C*kh*kw, no scatter-add, no im2col of x), so backward takes it then
    (docs/convolution.md, "dx as a convolution").

    Parameters
    ----------
    dout : (N, F, Ho, Wo)

    Returns
    -------
    dx : (N, C, H, W);  dw : (F, C/groups, kh, kw);  db : (F,) or None when there was no bias
    """
    cache = cache_of("conv2d_backward", cache, ConvCache, "conv2d_forward")
    x, w, geom, groups = cache.x, cache.w, cache.geom, cache.groups
    N, C, H, W = x.shape
    F = w.shape[0]
    dout = dout_array("conv2d_backward", dout, (N, F, geom.out_h, geom.out_w), w.dtype)
    db = dout.sum(axis=(0, 2, 3)) if cache.has_bias else None
    pads = _flipped_pads(geom, F, C)
    if pads is not None:
        dx, dw = _backward_by_flipped_conv(dout, x, w, geom, pads, groups)
        return dx, dw, db

    w_mat = w.reshape(F, -1)
    dx = np.zeros_like(x)
    # col2im adds each band's halo rows into its neighbours' rows: bands run one at a time
    banded = any(c.row0 or c.row1 != geom.out_h for c in cache.chunks)
    threads = 1 if banded else _threads.threads_for(len(cache.chunks))

    def chunk(c: Chunk) -> np.ndarray:
        g = _band(geom, c)
        cols = kernels.im2col(x[c.n], *g, parallel=threads == 1)      # (C*kh*kw, n*rows*Wo)
        dy = kernels.nchw_to_cn(_rows(dout, c))                        # (F, n*rows*Wo)
        dcols = _block_matmul(w_mat, dy, groups, ta=True)              # (C*kh*kw, n*rows*Wo)
        kernels.col2im(dcols, dx[c.n].shape[0], C, H, W, *g, out=dx[c.n],  # adds: halos sum
                       parallel=threads == 1)
        return _block_matmul(dy, cols, groups, tb=True)                # its part of dW

    dw = sum(_threads.map_chunks(chunk, cache.chunks, threads))        # (F, C_g*kh*kw)
    return dx, dw.reshape(w.shape), db


def _backward_by_flipped_conv(dout, x, w, geom: ConvGeometry, pads, groups):
    """dx and dw of a stride-1 conv from the columns of dout (see conv2d_backward)."""
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    flipped_geom = ConvGeometry(kh, kw, 1, 1, *pads, geom.dil_h, geom.dil_w, H, W)
    wf_mat = _flipped(w, groups).reshape(C, -1)                        # (C, F_g*kh*kw)
    zero = np.zeros(C, dtype=x.dtype)
    dx = np.empty_like(x)
    chunks = _chunks(N, H, W, F * kh * kw, x.itemsize, _threads.threads_for(2))
    threads = _threads.threads_for(len(chunks))

    def chunk(c: Chunk) -> np.ndarray:  # output rows of different chunks never overlap
        dcols = kernels.im2col(dout[c.n], *_band(flipped_geom, c),    # (F*kh*kw, n*rows*W)
                               parallel=threads == 1)
        kernels.cn_to_nchw(_block_matmul(wf_mat, dcols, groups), zero, _rows(dx, c))
        return _block_matmul(kernels.nchw_to_cn(_rows(x, c)), dcols, groups, tb=True)

    dwf = sum(_threads.map_chunks(chunk, chunks, threads))             # (C, F_g*kh*kw)
    return dx, _flipped(dwf.reshape(C, F // groups, kh, kw), groups)


class ConvTransposeCache(NamedTuple):
    """What :func:`conv_transpose2d_backward` needs from :func:`conv_transpose2d_forward`."""

    x_shape: tuple
    x: np.ndarray  # (N, C, H, W); held anyway by the layer before (no layout copy kept)
    w: np.ndarray
    has_bias: bool
    geom: ConvGeometry  # of the convolution from the output (Ho, Wo) back to x's (H, W)
    groups: int
    out_shape: tuple  # (N, F, Ho, Wo)


def conv_transpose2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                             stride=1, padding=0, output_padding=0, dilation=1,
                             groups: int = 1):
    """Transposed convolution: the adjoint (input-gradient) of :func:`conv2d_forward`.

    Each input pixel x[n, c, h, w] scatters w[c, f, i, j] * x[n, c, h, w] onto output pixel
    (h*s_h - p_h + i*d_h, w*s_w - p_w + j*d_w); overlaps add.  As matrices:
    Y_col = W_mat^T @ X_mat with X_mat = x as (C, N*H*W), W_mat = w.reshape(C, F_g*kh*kw),
    then y = col2im(Y_col) + b.

    Parameters
    ----------
    x : (N, C, H, W)
    w : (C, F/groups, kh, kw)  (PyTorch's layout for ConvTranspose2d)
    b : (F,) or None
    padding : int, (h, w) or (top, left, bottom, right): rows / columns cropped off each side
    output_padding : int or pair, < max(stride, dilation); extra rows/cols at the bottom/right

    Returns
    -------
    out : (N, F, Ho, Wo) with
        Ho = (H - 1)*s_h - p_top - p_bottom + d_h(kh - 1) + output_padding_h + 1
    cache : a :class:`ConvTransposeCache`
    """
    a = conv_arguments("conv_transpose2d", x, w, b, stride, padding, dilation, groups,
                       output_padding)
    x, w, groups = a.x, a.w, a.groups
    N, C, H, W = x.shape
    F = w.shape[1] * groups
    geom = _geometry(a, H, W)  # the conv that maps an (Ho, Wo) image to x's (H, W)
    w_mat = w.reshape(C, -1)                                           # (C, F_g*kh*kw)
    out = _output("conv_transpose2d", np.zeros, (N, F, *a.out_size), x.dtype)
    chunks = _sample_chunks(N, H, W, F * geom.kh * geom.kw, x.itemsize)
    threads = _threads.threads_for(len(chunks))

    def chunk(c: Chunk) -> None:  # the chunks' samples, and so their outputs, are disjoint
        y_cols = _block_matmul(w_mat, kernels.nchw_to_cn(x[c.n]), groups, ta=True)
        kernels.col2im(y_cols, out[c.n].shape[0], F, *a.out_size, *geom,  # (F*kh*kw, n*H*W)
                       out=out[c.n], parallel=threads == 1)

    _threads.map_chunks(chunk, chunks, threads)
    if a.b is not None:
        out += a.b[None, :, None, None]
    cache = ConvTransposeCache(x.shape, x, w, a.b is not None, geom, groups, out.shape)
    return out, cache


def _sample_chunks(N: int, H: int, W: int, rows: int, itemsize: int) -> list[Chunk]:
    """The transposed convolution's chunks: groups of whole samples (its col2im runs in
    the forward pass, and bands of rows would add into each other's halo rows)."""
    chunks = _chunks(N, H, W, rows, itemsize, _threads.threads_for(2))
    return chunks if all(c.row0 == 0 and c.row1 == H for c in chunks) else [
        Chunk(slice(n, n + 1), 0, H) for n in range(N)]


def conv_transpose2d_backward(dout: np.ndarray, cache: ConvTransposeCache):
    """Gradients of :func:`conv_transpose2d_forward`.

    dY_col = im2col(dout) (a plain convolution's gather), dX_mat = W_mat @ dY_col,
    dW_mat = X_mat @ dY_col^T, db[f] = sum_{n, oh, ow} dout[n, f, oh, ow].

    Returns
    -------
    dx : (N, C, H, W);  dw : (C, F/groups, kh, kw);  db : (F,) or None
    """
    cache = cache_of("conv_transpose2d_backward", cache, ConvTransposeCache,
                     "conv_transpose2d_forward")
    N, C, H, W = cache.x_shape
    w, groups = cache.w, cache.groups
    dout = dout_array("conv_transpose2d_backward", dout, cache.out_shape, w.dtype)
    zero = np.zeros(C, dtype=w.dtype)
    w_mat = w.reshape(C, -1)
    dx = np.empty(cache.x_shape, dtype=w.dtype)
    chunks = _sample_chunks(N, H, W, w.shape[1] * groups * w.shape[2] * w.shape[3],
                            w.itemsize)
    threads = _threads.threads_for(len(chunks))

    def chunk(c: Chunk) -> np.ndarray:
        dcols = kernels.im2col(dout[c.n], *cache.geom, parallel=threads == 1)  # (F*kh*kw, n*H*W)
        kernels.cn_to_nchw(_block_matmul(w_mat, dcols, groups), zero, dx[c.n])  # dX_mat
        return _block_matmul(kernels.nchw_to_cn(cache.x[c.n]), dcols, groups, tb=True)

    dw = sum(_threads.map_chunks(chunk, chunks, threads))              # (C, F_g*kh*kw)
    db = dout.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return dx, dw.reshape(w.shape), db
