"""ONNX operators mapped onto numcnn.functional: one class per op type.

Each op is built once per graph node (its attributes are checked then, so an unsupported one
fails at load time with the node's name) and then works like a functional pair:

    outputs, cache = op.forward(inputs, ctx)     # lists aligned with node.output / node.input
    dinputs = op.backward(douts, cache)          # None where an input gets no gradient

The arithmetic of every layer-like op is a ``numcnn.functional`` call (looked up at call time,
so ``numcnn.use`` swaps it here too); what is written here is the translation of ONNX's
attributes into numcnn's arguments, reshapes (a 1-D op runs as a 2-D one on a height-1
image) and graph plumbing (Add, Reshape, Shape ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F


class UnsupportedError(ValueError):
    """An ONNX node numcnn cannot run: names the node, its op type and the attribute."""

    def __init__(self, node: str, op_type: str, attribute: str, why: str):
        self.node, self.op_type, self.attribute = node, op_type, attribute
        super().__init__(f"ONNX node {node!r} ({op_type}): {attribute}: {why}")


@dataclass
class Context:
    """What a forward needs besides its inputs: the module's mode and its generator."""

    training: bool
    rng: np.random.Generator


def _decode(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return [_decode(e) for e in v]
    return v


def node_attributes(node) -> dict:
    import onnx

    return {a.name: _decode(onnx.helper.get_attribute_value(a)) for a in node.attribute}


OPS: dict[str, type[Op]] = {}


def register(*op_types: str):
    def wrap(cls):
        for t in op_types:
            OPS[t] = cls
        return cls
    return wrap


class Op:
    """Base class: attribute checking and the input slots' roles.

    ``attributes`` maps every supported attribute to its default; ``params`` are the input
    slots whose floating initializers become trainable ``Parameter``s, ``buffers`` those
    that are state (BatchNorm's running statistics), ``control`` those read as plain values
    (shapes, scales, ratios: never cast, never differentiated).
    """

    attributes: dict = {}
    params: tuple[int, ...] = ()
    buffers: tuple[int, ...] = ()
    control: tuple[int, ...] = ()

    def __init__(self, node, opset: int):
        self.op_type = node.op_type
        self.name = node.name or (node.output[0] if node.output else node.op_type)
        self.opset = opset
        self.outputs = list(node.output)
        given = node_attributes(node)
        for a in given:
            if a not in self.attributes:
                raise self.unsupported(a, f"numcnn does not implement this attribute "
                                          f"(value {given[a]!r})")
        self.given = given
        self.attrs = {**self.attributes, **given}
        self.stateful = False  # set by the graph when the buffer slots hold its buffers
        self.setup()

    def setup(self) -> None:
        """Check attribute values (raise ``self.unsupported(...)``)."""

    def unsupported(self, attribute: str, why: str) -> UnsupportedError:
        return UnsupportedError(self.name, self.op_type, attribute, why)

    def wants(self, i: int) -> bool:
        """Whether the node asks for its i-th output."""
        return i < len(self.outputs) and self.outputs[i] != ""

    def forward(self, xs: list, ctx: Context):
        raise NotImplementedError

    def backward(self, douts: list, cache) -> list:
        raise NotImplementedError


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting stretched, back to ``shape``."""
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, s in enumerate(shape) if s == 1 and g.shape[extra + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def _same_dtype(op: Op, **arrays) -> None:
    named = [(k, a) for k, a in arrays.items() if a is not None]
    for k, a in named[1:]:
        if a.dtype != named[0][1].dtype:
            raise TypeError(f"ONNX node {op.name!r} ({op.op_type}): input {k} has dtype "
                            f"{a.dtype} but {named[0][0]} has {named[0][1].dtype} (numcnn "
                            f"never upcasts silently)")


# ------------------------------------------------------------------ elementwise activations
class _Unary(Op):
    fn = ""  # the functional pair's name

    def forward(self, xs, ctx):
        out, cache = getattr(F, f"{self.fn}_forward")(xs[0])
        return [out], cache

    def backward(self, douts, cache):
        return [getattr(F, f"{self.fn}_backward")(douts[0], cache)]


@register("Relu")
class Relu(_Unary):
    fn = "relu"


@register("Sigmoid")
class Sigmoid(_Unary):
    fn = "sigmoid"


@register("Tanh")
class Tanh(_Unary):
    fn = "tanh"


@register("LeakyRelu")
class LeakyRelu(Op):
    attributes = {"alpha": 0.01}

    def forward(self, xs, ctx):
        out, cache = F.leaky_relu_forward(xs[0], float(self.attrs["alpha"]))
        return [out], cache

    def backward(self, douts, cache):
        return [F.leaky_relu_backward(douts[0], cache)]


# ------------------------------------------------------------------------ spatial geometry
def _spatial_pads(op: Op, in_sizes, kernel, strides, dilations) -> list[tuple[int, int]]:
    """ONNX's (begin, end) padding per spatial axis, from ``pads`` or ``auto_pad``."""
    n = len(in_sizes)
    auto = op.attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for size, k, s, d in zip(in_sizes, kernel, strides, dilations):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return out
    if auto == "VALID":
        return [(0, 0)] * n
    if auto != "NOTSET":
        raise op.unsupported("auto_pad", f"unknown value {auto!r}")
    pads = op.attrs.get("pads") or [0] * (2 * n)
    if len(pads) != 2 * n:
        raise op.unsupported("pads", f"expected {2 * n} values for {n} spatial axes; got "
                                     f"{pads}")
    return [(int(pads[i]), int(pads[i + n])) for i in range(n)]


def _ints(op: Op, name: str, n: int, default: int) -> list[int]:
    v = op.attrs.get(name)
    if v is None:
        return [default] * n
    if len(v) != n:
        raise op.unsupported(name, f"expected {n} values for {n} spatial axes; got {list(v)}")
    return [int(e) for e in v]


def _as_2d(op: Op, x: np.ndarray, what: str) -> np.ndarray:
    """(N, C, L) -> (N, C, 1, L): a 1-D op is the 2-D op on a height-1 image."""
    if x.ndim == 3:
        return x[:, :, None, :]
    if x.ndim == 4:
        return x
    raise op.unsupported("input", f"{x.ndim - 2}-D spatial input of shape {x.shape}: numcnn "
                                  f"has 1-D (as 2-D) and 2-D {what} only")


def _pair_1d(values: list[int], fill: int) -> list[int]:
    return [fill, *values] if len(values) == 1 else list(values)


# ---------------------------------------------------------------------------- convolution
class _Conv(Op):
    """What Conv and ConvTranspose share: the attributes read per spatial axis, the 1-D case
    lifted to 2-D (a height-1 image and kernel), the backward."""

    fn = ""  # the functional pair: "conv2d" or "conv_transpose2d"
    params = (1, 2)

    def _window(self, x, w):
        """(spatial axes, kernel, strides, dilations) after checking kernel_shape."""
        n = x.ndim - 2
        kernel = list(w.shape[2:])
        if self.attrs["kernel_shape"] is not None and list(self.attrs["kernel_shape"]) != kernel:
            raise self.unsupported("kernel_shape", f"{self.attrs['kernel_shape']} differs from "
                                                   f"the weight's {kernel}")
        return n, kernel, _ints(self, "strides", n, 1), _ints(self, "dilations", n, 1)

    def _run(self, x, w, b, strides, pads, dilations, *extra):
        """The functional forward on (N, C, H, W), a 1-D input as height 1 (``pads``: ONNX's
        (begin, end) per spatial axis of x, which are numcnn's (top, left, bottom, right);
        ``extra``: per spatial axis)."""
        n = x.ndim - 2
        x4 = _as_2d(self, x, "convolution")
        if n == 1:
            w = w[:, :, None, :]
            strides, dilations = [1, *strides], [1, *dilations]
            pads, extra = [(0, 0), *pads], [[0, *e] for e in extra]
        padding = (pads[0][0], pads[1][0], pads[0][1], pads[1][1])
        out, cache = getattr(F, f"{self.fn}_forward")(
            x4, w, b, tuple(strides), padding, *map(tuple, extra), tuple(dilations),
            int(self.attrs["group"]))
        return [out[:, :, 0] if n == 1 else out], (cache, n)

    def backward(self, douts, cache):
        cache, n = cache
        dout = douts[0][:, :, None] if n == 1 else douts[0]
        dx, dw, db = getattr(F, f"{self.fn}_backward")(dout, cache)
        return [dx[:, :, 0], dw[:, :, 0], db] if n == 1 else [dx, dw, db]


@register("Conv")
class Conv(_Conv):
    fn = "conv2d"
    attributes = {"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None,
                  "pads": None, "strides": None}

    def forward(self, xs, ctx):
        x, w, b = (xs + [None])[:3]
        n, kernel, strides, dilations = self._window(x, w)
        pads = _spatial_pads(self, x.shape[2:], kernel, strides, dilations)
        return self._run(x, w, b, strides, pads, dilations)


@register("ConvTranspose")
class ConvTranspose(_Conv):
    fn = "conv_transpose2d"
    attributes = {"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None,
                  "output_padding": None, "output_shape": None, "pads": None, "strides": None}

    def forward(self, xs, ctx):
        x, w, b = (xs + [None])[:3]
        n, kernel, strides, dilations = self._window(x, w)
        extra = _ints(self, "output_padding", n, 0)
        pads = self._pads(x.shape[2:], kernel, strides, dilations, extra)
        # numcnn crops (begin, end) and then adds output_padding rows / columns at the end:
        # a negative end crop (output_shape asking for more) is more output_padding, and
        # output_padding beyond numcnn's bound max(stride, dilation) - 1 a smaller end crop
        crops, out_pad = [], []
        for (begin, end), o, s_, d in zip(pads, extra, strides, dilations):
            end -= o
            o = max(-end, 0)
            end = max(end, 0)
            if begin < 0 or o >= max(s_, d):
                raise self.unsupported(
                    "pads" if self.attrs["output_shape"] is None else "output_shape",
                    f"pads {pads} (begin, end per axis) with output_padding {extra} and "
                    f"strides {strides} would extend the output beyond output_padding < "
                    f"max(stride, dilation), what numcnn.functional.conv_transpose2d_forward "
                    f"adds")
            crops.append((begin, end))
            out_pad.append(o)
        if n == 3:
            return self._run_3d(x, w, b, strides, crops, dilations, out_pad)
        return self._run(x, w, b, strides, crops, dilations, out_pad)

    def _run_3d(self, x, w, b, strides, crops, dilations, out_pad):
        """A 3-D transposed convolution as k_d 2-D ones: depth tap i of the kernel scatters
        every input plane d onto output plane d*s_d + i*d_d - crop_begin, so each tap is the
        2-D op on all N*D planes (kernel slice w[:, :, i]), added into the planes it lands
        on.  A loop over the k_d taps, not over pixels; the bias is added once."""
        N, C, D, H, W = x.shape
        (begin, end), s_d, d_d = crops[0], strides[0], dilations[0]
        depth = (D - 1) * s_d + d_d * (w.shape[2] - 1) + 1 + out_pad[0] - begin - end
        planes = np.ascontiguousarray(x.transpose(0, 2, 1, 3, 4)).reshape(N * D, C, H, W)
        out, taps = None, []
        for i in range(w.shape[2]):
            y, cache = self._run(planes, np.ascontiguousarray(w[:, :, i]), None, strides[1:],
                                 crops[1:], dilations[1:], out_pad[1:])
            y = y[0].reshape(N, D, *y[0].shape[1:])
            if out is None:
                out = np.zeros((N, y.shape[2], depth, *y.shape[3:]), x.dtype)
            od = np.arange(D) * s_d + i * d_d - begin
            kept = (od >= 0) & (od < depth)
            out[:, :, od[kept]] += y[:, kept].transpose(0, 2, 1, 3, 4)
            taps.append((cache, od, kept))
        if b is not None:
            out += b.reshape(1, -1, 1, 1, 1)
        return [out], ("3d", taps, x.shape, w.shape, b is not None)

    def backward(self, douts, cache):
        if cache[0] != "3d":
            return super().backward(douts, cache)
        _, taps, (N, C, D, H, W), w_shape, has_bias = cache
        dy = douts[0]
        dx = np.zeros((N * D, C, H, W), dy.dtype)
        dw = np.empty(w_shape, dy.dtype)
        for i, (c, od, kept) in enumerate(taps):
            dplanes = np.zeros((N, D, dy.shape[1], *dy.shape[3:]), dy.dtype)
            dplanes[:, kept] = dy[:, :, od[kept]].transpose(0, 2, 1, 3, 4)
            dxi, dw[:, :, i], _ = super().backward(
                [dplanes.reshape(N * D, *dplanes.shape[2:])], c)
            dx += dxi
        dx = dx.reshape(N, D, C, H, W).transpose(0, 2, 1, 3, 4)
        return [dx, dw, dy.sum(axis=(0, 2, 3, 4)) if has_bias else None]

    def _pads(self, in_sizes, kernel, strides, dilations, extra):
        """ONNX's begin/end cropping of the full transposed-convolution output."""
        shape, auto = self.attrs["output_shape"], self.attrs["auto_pad"]
        n = len(in_sizes)
        if shape is None and auto not in ("SAME_UPPER", "SAME_LOWER"):
            if auto not in ("NOTSET", "VALID"):
                raise self.unsupported("auto_pad", f"unknown value {auto!r}")
            pads = self.attrs["pads"] or [0] * (2 * n)
            if auto == "VALID":
                pads = [0] * (2 * n)
            return [(int(pads[i]), int(pads[i + n])) for i in range(n)]
        if shape is None:
            shape = [size * s for size, s in zip(in_sizes, strides)]
        shape = list(shape)[-n:]
        out = []
        for size, k, s, d, o, want in zip(in_sizes, kernel, strides, dilations, extra, shape):
            total = s * (size - 1) + o + (k - 1) * d + 1 - int(want)
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return out


# -------------------------------------------------------------------------------- pooling
class _Pool(Op):
    kind = ""  # "max_pool2d" or "avg_pool2d"

    def setup(self):
        if self.attrs["kernel_shape"] is None:
            raise self.unsupported("kernel_shape", "is required")

    def _geometry(self, x):
        kernel = [int(k) for k in self.attrs["kernel_shape"]]
        n = len(kernel)
        if x.ndim != n + 2:
            raise self.unsupported("kernel_shape", f"{kernel} does not match the input's "
                                                   f"{x.ndim - 2} spatial axes")
        strides = _ints(self, "strides", n, 1)
        dilations = _ints(self, "dilations", n, 1)
        pads = _spatial_pads(self, x.shape[2:], kernel, strides, dilations)
        return kernel, strides, dilations, pads

    def _pool2d(self, x4, kernel, strides, dilations, pads):
        """One numcnn 2-D pooling call: ONNX's (begin, end) pads per axis are numcnn's
        (top, left, bottom, right); ceil_mode, dilations and count_include_pad map one to
        one (ONNX's reference and PyTorch share the last-window rule and the divisors)."""
        padding = (pads[0][0], pads[1][0], pads[0][1], pads[1][1])
        ceil = bool(int(self.attrs["ceil_mode"]))
        if self.kind == "max_pool2d":
            return F.max_pool2d_forward(x4, tuple(kernel), tuple(strides), padding,
                                        tuple(dilations), ceil)
        return F.avg_pool2d_forward(x4, tuple(kernel), tuple(strides), padding, ceil,
                                    bool(int(self.attrs["count_include_pad"])),
                                    dilation=tuple(dilations))

    def forward(self, xs, ctx):
        x = xs[0]
        if not np.issubdtype(x.dtype, np.floating):
            raise self.unsupported("X", f"{x.dtype} input: numcnn averages floating-point "
                                        f"tensors only")
        kernel, strides, dilations, pads = self._geometry(x)
        if len(kernel) == 1:
            out, cache = self._pool2d(x[:, :, None, :], [1, *kernel], [1, *strides],
                                      [1, *dilations], [(0, 0), *pads])
            return self._outputs(out[:, :, 0], cache, x), ("1d", cache)
        if len(kernel) == 2:
            out, cache = self._pool2d(x, kernel, strides, dilations, pads)
            return self._outputs(out, cache, x), ("2d", cache)
        if len(kernel) == 3:
            if self.wants(1):
                raise self.unsupported("Indices", "the argmax output of a 3-D pooling is "
                                                  "not supported")
            # A box's max (or mean) is the max (mean) over depth of each slice's: pool the
            # (H, W) planes, then the depth axis with a (kd, 1) window.
            N, C, D, H, W = x.shape
            a, cache_a = self._pool2d(x.reshape(N, C * D, H, W), kernel[1:], strides[1:],
                                      dilations[1:], pads[1:])
            Ho, Wo = a.shape[2:]
            b, cache_b = self._pool2d(a.reshape(N, C, D, Ho * Wo), [kernel[0], 1],
                                      [strides[0], 1], [dilations[0], 1], [pads[0], (0, 0)])
            Do = b.shape[2]
            return [b.reshape(N, C, Do, Ho, Wo)], ("3d", (cache_a, cache_b, x.shape, a.shape))
        raise self.unsupported("kernel_shape", f"{len(kernel)}-D pooling: numcnn pools 1-D, "
                                               f"2-D and 3-D inputs")

    def _outputs(self, out, cache, x):
        return [out]

    def backward(self, douts, cache):
        back = getattr(F, f"{self.kind}_backward")
        how, c = cache
        dout = douts[0]
        if how == "1d":
            return [back(dout[:, :, None], c)[:, :, 0]]
        if how == "2d":
            return [back(dout, c)]
        cache_a, cache_b, x_shape, a_shape = c
        N, C, Do, Ho, Wo = dout.shape
        da = back(dout.reshape(N, C, Do, Ho * Wo), cache_b).reshape(a_shape)
        return [back(da, cache_a).reshape(x_shape)]


@register("MaxPool")
class MaxPool(_Pool):
    kind = "max_pool2d"
    attributes = {"auto_pad": "NOTSET", "ceil_mode": 0, "dilations": None,
                  "kernel_shape": None, "pads": None, "storage_order": 0, "strides": None}

    def forward(self, xs, ctx):
        x = xs[0]
        if x.dtype not in (np.int8, np.uint8):
            return super().forward(xs, ctx)
        # ONNX's int8 / uint8 MaxPool (an image of bytes): the max of small integers is
        # exact in float64, and an integer output has no gradient
        outs, _ = super().forward([x.astype(np.float64)], ctx)
        return [outs[0].astype(x.dtype), *outs[1:]], None

    def backward(self, douts, cache):
        if cache is None:
            raise self.unsupported("X", "an integer input has no gradient")
        return super().backward(douts, cache)

    def _outputs(self, out, cache, x):
        if not self.wants(1):
            return [out]
        if x.ndim != 4:
            raise self.unsupported("Indices", "the argmax output is supported for 2-D "
                                              "pooling only")
        # the cache's documented argmax: flat index h*W + w into each (n, c) plane
        (N, C, H, W), _, arg = cache
        arg = arg.astype(np.int64)
        if int(self.attrs["storage_order"]):
            arg = (arg % W) * H + arg // W
        plane = (np.arange(N * C, dtype=np.int64) * (H * W)).reshape(N, C, 1, 1)
        return [out, arg + plane]


@register("AveragePool")
class AveragePool(_Pool):
    kind = "avg_pool2d"
    attributes = {"auto_pad": "NOTSET", "ceil_mode": 0, "count_include_pad": 0,
                  "dilations": None, "kernel_shape": None, "pads": None, "strides": None}


@register("GlobalAveragePool", "GlobalMaxPool")
class GlobalPool(Op):
    """The mean (or max) over all spatial axes: numcnn's global (adaptive, output size 1)
    pooling of the spatial axes flattened into one row."""

    def forward(self, xs, ctx):
        x = xs[0]
        N, C = x.shape[:2]
        fn = "adaptive_avg_pool2d" if self.op_type == "GlobalAveragePool" \
            else "adaptive_max_pool2d"
        out, cache = getattr(F, f"{fn}_forward")(x.reshape(N, C, 1, -1), 1)
        return [out.reshape(N, C, *([1] * (x.ndim - 2)))], (cache, x.shape)

    def backward(self, douts, cache):
        cache, x_shape = cache
        N, C = x_shape[:2]
        fn = "adaptive_avg_pool2d" if self.op_type == "GlobalAveragePool" \
            else "adaptive_max_pool2d"
        dx = getattr(F, f"{fn}_backward")(douts[0].reshape(N, C, 1, 1), cache)
        return [dx.reshape(x_shape)]


# ------------------------------------------------------------------------ dense algebra
@register("Gemm")
class Gemm(Op):
    """Y = alpha * A' B' + beta * C: numcnn's linear (x W^T + b) with W = B'^T."""

    attributes = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
    params = (1, 2)

    def forward(self, xs, ctx):
        a, b, c = (xs + [None])[:3]
        alpha, beta = float(self.attrs["alpha"]), float(self.attrs["beta"])
        ta, tb = int(self.attrs["transA"]), int(self.attrs["transB"])
        x = a.T if ta else a
        w = b if tb else b.T
        # a (F,) bias added once is linear's own b; any other C is added after (broadcast)
        as_bias = c is not None and beta == 1.0 and c.shape == (w.shape[0],)
        y, cache = F.linear_forward(x, w, c if as_bias else None)
        if alpha != 1.0:
            y *= np.asarray(alpha, dtype=y.dtype)
        if c is not None and not as_bias:
            _same_dtype(self, A=a, C=c)
            y = y + np.asarray(beta, dtype=c.dtype) * c
        return [y], (cache, as_bias, None if c is None else c.shape)

    def backward(self, douts, cache):
        cache, as_bias, c_shape = cache
        alpha, beta = float(self.attrs["alpha"]), float(self.attrs["beta"])
        dy = douts[0]
        dscaled = dy * np.asarray(alpha, dtype=dy.dtype) if alpha != 1.0 else dy
        dx, dw, db = F.linear_backward(dscaled, cache)
        if c_shape is not None and not as_bias:
            db = unbroadcast(dy * np.asarray(beta, dtype=dy.dtype), c_shape)
        da = dx.T if int(self.attrs["transA"]) else dx
        dbm = dw if int(self.attrs["transB"]) else dw.T
        return [da, dbm, db]


@register("MatMul")
class MatMul(Op):
    """NumPy's matmul: each matrix product is numcnn's linear (x W^T) with W = B^T; stacks
    of matrices run one linear per matrix, broadcast over the leading axes."""

    params = (0, 1)

    def forward(self, xs, ctx):
        a, b = xs
        _same_dtype(self, A=a, B=b)
        a2 = a[None, :] if a.ndim == 1 else a        # ONNX's (NumPy's) 1-D promotions
        b2 = b[:, None] if b.ndim == 1 else b
        if b2.ndim == 2:  # one weight matrix: a single linear over all leading axes of a
            y, cache = F.linear_forward(a2, b2.T)
            caches, batch = [cache], None
        else:
            batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
            ab = np.broadcast_to(a2, (*batch, *a2.shape[-2:]))
            bb = np.broadcast_to(b2, (*batch, *b2.shape[-2:]))
            y = np.empty((*batch, a2.shape[-2], b2.shape[-1]), dtype=a.dtype)
            caches = []
            for idx in np.ndindex(*batch):
                y[idx], cache = F.linear_forward(ab[idx], bb[idx].T)
                caches.append(cache)
        full = y.shape
        if b.ndim == 1:
            y = y[..., 0]
        if a.ndim == 1:
            y = y[..., 0, :] if b.ndim > 1 else y[..., 0]
        return [y], (caches, batch, full, a.shape, b.shape, a2.shape, b2.shape)

    def backward(self, douts, cache):
        caches, batch, full, a_shape, b_shape, a2_shape, b2_shape = cache
        dy = douts[0].reshape(full)
        if batch is None:
            dx, dw, _ = F.linear_backward(dy, caches[0])
            da2, db2 = dx, dw.T
        else:
            da2 = np.empty((*batch, *a2_shape[-2:]), dtype=dy.dtype)
            db2 = np.empty((*batch, *b2_shape[-2:]), dtype=dy.dtype)
            for idx, c in zip(np.ndindex(*batch), caches):
                dx, dw, _ = F.linear_backward(dy[idx], c)
                da2[idx], db2[idx] = dx, dw.T
            da2, db2 = unbroadcast(da2, a2_shape), unbroadcast(db2, b2_shape)
        return [da2.reshape(a_shape), db2.reshape(b_shape)]


@register("Add")
class Add(Op):
    """a + b with NumPy broadcasting (a residual connection, a bias): each input's gradient
    is dout summed over the axes broadcasting stretched."""

    params = (0, 1)

    def forward(self, xs, ctx):
        a, b = xs
        _same_dtype(self, A=a, B=b)
        return [a + b], (a.shape, b.shape)

    def backward(self, douts, cache):
        return [unbroadcast(douts[0], cache[0]), unbroadcast(douts[0], cache[1])]


# -------------------------------------------------------------------------- normalisation
@register("BatchNormalization")
class BatchNormalization(Op):
    """Eval: the running statistics.  Training (the module's ``train()``, or the node's
    ``training_mode=1``): the batch statistics; with ``train()`` the running-statistics
    buffers are updated in place as ``nn.BatchNorm2d`` does (PyTorch's momentum = 1 - ONNX's,
    unbiased variance); ``training_mode=1`` outputs ONNX's new statistics instead (biased
    variance) and leaves its inputs alone."""

    attributes = {"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0, "spatial": 1}
    params = (1, 2)
    buffers = (3, 4)

    def setup(self):
        if int(self.attrs["spatial"]) != 1:
            raise self.unsupported("spatial", "0 (per-activation statistics) is not "
                                              "supported")
        if (self.wants(1) or self.wants(2)) and not int(self.attrs["training_mode"]):
            raise self.unsupported("outputs", "running statistics are outputs only with "
                                              "training_mode=1")

    def forward(self, xs, ctx):
        x, scale, bias, mean, var = xs
        shape = x.shape
        x4 = x if x.ndim in (2, 4) else x.reshape(shape[0], shape[1], -1, 1)
        onnx_training = bool(int(self.attrs["training_mode"]))
        training = onnx_training or ctx.training
        eps = float(self.attrs["epsilon"])
        m = float(self.attrs["momentum"])
        if not training:
            out, cache = F.batch_norm_forward(x4, scale, bias, mean, var, False, eps=eps)
            return [out.reshape(shape)], cache
        if onnx_training or not self.stateful:
            mean, var = mean.copy(), var.copy()
        old_var = var.copy() if onnx_training else None
        out, cache = F.batch_norm_forward(x4, scale, bias, mean, var, True, 1.0 - m, eps)
        outs = [out.reshape(shape)]
        if onnx_training:
            # numcnn's update used the unbiased variance v_u: new = m*old + (1 - m)*v_u;
            # ONNX's uses the biased one, (M - 1)/M * v_u, i.e. new - (new - m*old)/M
            M = x.size // x.shape[1]
            biased = var - (var - np.asarray(m, var.dtype) * old_var) / np.asarray(M, var.dtype)
            outs += [mean, biased]
        return outs, cache

    def backward(self, douts, cache):
        dx, dgamma, dbeta = F.batch_norm_backward(
            douts[0].reshape(cache[1]), cache)
        return [dx.reshape(douts[0].shape), dgamma, dbeta, None, None]


@register("Dropout")
class Dropout(Op):
    """Eval (the default): the identity.  Training (the ``training_mode`` input if given,
    else the module's mode): inverted dropout.  With a ``seed`` attribute every call draws
    the mask ONNX's reference implementation draws (NumPy's legacy generator seeded with it);
    without, from the module's generator."""

    attributes = {"seed": None, "ratio": 0.5, "is_test": 0}
    control = (1, 2)

    def setup(self):
        if self.opset >= 12 and "ratio" in self.given:
            raise self.unsupported("ratio", "is an input since opset 12")

    def forward(self, xs, ctx):
        x = xs[0]
        ratio = float(np.asarray(xs[1])) if len(xs) > 1 and xs[1] is not None \
            else float(self.attrs["ratio"])
        if len(xs) > 2 and xs[2] is not None:
            training = bool(np.asarray(xs[2]))
        else:
            training = ctx.training and not int(self.attrs["is_test"])
        mask = None
        if training and ratio > 0 and self.attrs["seed"] is not None:
            legacy = np.random.RandomState(int(self.attrs["seed"]))
            mask = legacy.uniform(0.0, 1.0, x.shape) >= ratio
        out, cache = F.dropout_forward(x, ratio, training, ctx.rng, mask)
        outs = [out]
        if self.wants(1):
            kept = cache.scaled_mask
            outs.append(np.ones(x.shape, dtype=bool) if kept is None else kept != 0)
        return outs, cache

    def backward(self, douts, cache):
        return [F.dropout_backward(douts[0], cache), None, None]


# --------------------------------------------------------------------------- shape plumbing
@register("Flatten")
class Flatten(Op):
    attributes = {"axis": 1}

    def forward(self, xs, ctx):
        x = xs[0]
        axis = int(self.attrs["axis"])
        axis = axis + x.ndim if axis < 0 else axis
        return [x.reshape(int(np.prod(x.shape[:axis])), -1)], x.shape

    def backward(self, douts, cache):
        return [douts[0].reshape(cache)]


@register("Reshape")
class Reshape(Op):
    attributes = {"allowzero": 0}
    control = (1,)

    def forward(self, xs, ctx):
        x, shape = xs[0], [int(v) for v in np.asarray(xs[1]).reshape(-1)]
        if not int(self.attrs["allowzero"]):
            shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
        return [x.reshape(shape)], x.shape

    def backward(self, douts, cache):
        return [douts[0].reshape(cache), None]


@register("Identity")
class Identity(Op):
    def forward(self, xs, ctx):
        return [xs[0]], None

    def backward(self, douts, cache):
        return [douts[0]]


@register("Transpose")
class Transpose(Op):
    attributes = {"perm": None}

    def forward(self, xs, ctx):
        x = xs[0]
        perm = self.attrs["perm"]
        perm = list(range(x.ndim))[::-1] if perm is None else [int(p) for p in perm]
        return [x.transpose(perm)], perm

    def backward(self, douts, cache):
        return [douts[0].transpose(np.argsort(cache))]


@register("Shape")
class Shape(Op):
    attributes = {"start": None, "end": None}

    def forward(self, xs, ctx):
        s = np.array(xs[0].shape, dtype=np.int64)
        start, end = self.attrs["start"], self.attrs["end"]
        return [s[slice(start, end)]], None

    def backward(self, douts, cache):
        return [None]


def _axes(op: Op, xs) -> list[int]:
    """The axes attribute (opset < 13) or input."""
    axes = op.attrs.get("axes")
    if len(xs) > 1 and xs[1] is not None:
        axes = np.asarray(xs[1]).reshape(-1)
    return [] if axes is None else [int(a) for a in axes]


@register("Unsqueeze")
class Unsqueeze(Op):
    attributes = {"axes": None}
    control = (1,)

    def forward(self, xs, ctx):
        x = np.asarray(xs[0])
        axes = _axes(self, xs)
        out = np.expand_dims(x, tuple(a % (x.ndim + len(axes)) for a in axes))
        return [out], x.shape

    def backward(self, douts, cache):
        return [douts[0].reshape(cache), None]


@register("Squeeze")
class Squeeze(Op):
    attributes = {"axes": None}
    control = (1,)

    def forward(self, xs, ctx):
        x = xs[0]
        axes = tuple(a % x.ndim for a in _axes(self, xs))
        out = np.squeeze(x, axis=axes) if axes else np.squeeze(x)
        return [out], x.shape

    def backward(self, douts, cache):
        return [douts[0].reshape(cache), None]


@register("Slice")
class Slice(Op):
    """data[starts:ends:steps] along ``axes`` (inputs since opset 10, attributes before);
    the gradient is dout placed back in the sliced positions, zeros elsewhere.  PyTorch's
    exporter slices shapes with it (F.interpolate to a size keeps Shape(x)[:2])."""

    attributes = {"starts": None, "ends": None, "axes": None}
    control = (1, 2, 3, 4)

    def forward(self, xs, ctx):
        x = np.asarray(xs[0])
        if self.opset < 10:
            starts, ends, axes, steps = (self.attrs["starts"], self.attrs["ends"],
                                         self.attrs["axes"], None)
        else:
            starts, ends, axes, steps = (list(xs[1:5]) + [None] * 4)[:4]
        starts = [int(v) for v in np.asarray(starts).reshape(-1)]
        ends = [int(v) for v in np.asarray(ends).reshape(-1)]
        axes = range(len(starts)) if axes is None else np.asarray(axes).reshape(-1)
        steps = [1] * len(starts) if steps is None else np.asarray(steps).reshape(-1)
        index = [slice(None)] * x.ndim
        for a, b, e, st in zip(axes, starts, ends, steps):
            # Python's slicing clamps out-of-range bounds as ONNX does (INT64_MAX: the end)
            index[int(a) % x.ndim] = slice(b, e, int(st))
        index = tuple(index)
        return [x[index]], (x.shape, x.dtype, index)

    def backward(self, douts, cache):
        shape, dtype, index = cache
        dx = np.zeros(shape, dtype)
        dx[index] = douts[0]
        return [dx, None, None, None, None]


@register("Cast")
class Cast(Op):
    """x as the ``to`` type (PyTorch's exporter casts shapes and sizes between integer types);
    a floating cast is the model's own, explicit, and its gradient is cast back."""

    attributes = {"to": None, "saturate": 1, "round_mode": "up"}

    def setup(self):
        import onnx

        if self.attrs["to"] is None:
            raise self.unsupported("to", "is required")
        self.dtype = onnx.helper.tensor_dtype_to_np_dtype(int(self.attrs["to"]))

    def forward(self, xs, ctx):
        x = np.asarray(xs[0])
        return [x.astype(self.dtype)], x.dtype

    def backward(self, douts, cache):
        floats = np.issubdtype(cache, np.floating) and np.issubdtype(self.dtype, np.floating)
        return [douts[0].astype(cache) if floats else None]


@register("Gather")
class Gather(Op):
    """Index arithmetic on shapes (``x.view(x.size(0), -1)`` exports a Shape -> Gather ->
    Unsqueeze -> Concat -> Reshape chain); gathering from a float tensor is not supported."""

    attributes = {"axis": 0}
    control = (0, 1)

    def forward(self, xs, ctx):
        data, idx = np.asarray(xs[0]), np.asarray(xs[1])
        if np.issubdtype(data.dtype, np.floating):
            raise self.unsupported("data", "gathering from a floating-point tensor (an "
                                           "embedding lookup) is not supported")
        return [np.take(data, idx, axis=int(self.attrs["axis"]))], None

    def backward(self, douts, cache):
        return [None, None]


@register("Concat")
class Concat(Op):
    attributes = {"axis": None}

    def setup(self):
        if self.attrs["axis"] is None:
            raise self.unsupported("axis", "is required")

    def forward(self, xs, ctx):
        arrays = [np.asarray(x) for x in xs if x is not None]
        axis = int(self.attrs["axis"]) % max(arrays[0].ndim, 1)
        if not np.issubdtype(arrays[0].dtype, np.floating):
            # integer tensors are shape arithmetic (Shape -> Concat -> Resize's sizes):
            # no gradient, so not numcnn's concat pair
            return [np.concatenate(arrays, axis=axis)], None
        _same_dtype(self, **{f"input {i}": a for i, a in enumerate(arrays)})
        out, cache = F.concat_forward(arrays, axis)
        return [out], cache

    def backward(self, douts, cache):
        return list(F.concat_backward(douts[0], cache))


@register("Constant")
class Constant(Op):
    attributes = {"value": None, "value_float": None, "value_floats": None,
                  "value_int": None, "value_ints": None}

    def setup(self):
        from onnx import numpy_helper

        a = self.attrs
        if a["value"] is not None:
            self.value = numpy_helper.to_array(a["value"])
        elif a["value_float"] is not None:
            self.value = np.array(a["value_float"], dtype=np.float32)
        elif a["value_floats"] is not None:
            self.value = np.array(a["value_floats"], dtype=np.float32)
        elif a["value_int"] is not None:
            self.value = np.array(a["value_int"], dtype=np.int64)
        elif a["value_ints"] is not None:
            self.value = np.array(a["value_ints"], dtype=np.int64)
        else:
            raise self.unsupported("value", "a Constant needs a value attribute")

    def forward(self, xs, ctx):
        return [self.value], None

    def backward(self, douts, cache):
        return []


# ------------------------------------------------------------------------------- resizing
@register("Resize")
class Resize(Op):
    """Nearest and linear resizing of the (H, W) axes of (N, C, H, W), by
    ``numcnn.functional.interpolate_forward`` with ONNX's coordinate rules: any scale or size,
    every coordinate_transformation_mode, nearest_mode, keep_aspect_ratio_policy, axes, and
    tf_crop_and_resize's roi and extrapolation_value."""

    attributes = {"antialias": 0, "axes": None, "coordinate_transformation_mode": "half_pixel",
                  "cubic_coeff_a": -0.75, "exclude_outside": 0, "extrapolation_value": 0.0,
                  "keep_aspect_ratio_policy": "stretch", "mode": "nearest",
                  "nearest_mode": "round_prefer_floor"}
    control = (1, 2, 3)

    def setup(self):
        a = self.attrs
        if self.opset < 11:  # Resize-10 is Upsample's rule: out[o] = in[floor(o / scale)]
            a["coordinate_transformation_mode"], a["nearest_mode"] = "asymmetric", "floor"
        if a["mode"] not in ("nearest", "linear"):
            raise self.unsupported("mode", f"{a['mode']!r}: numcnn resizes with 'nearest' and "
                                           f"'linear' only")
        if int(a["antialias"]):
            raise self.unsupported("antialias", "1: antialiased resizing is not supported")
        if int(a["exclude_outside"]):
            raise self.unsupported("exclude_outside", "applies to cubic resizing only")
        if a["keep_aspect_ratio_policy"] not in ("stretch", "not_larger", "not_smaller"):
            raise self.unsupported("keep_aspect_ratio_policy",
                                   f"unknown value {a['keep_aspect_ratio_policy']!r}")

    def _geometry(self, x, xs):
        """(sizes, scales, roi) over all axes of x, as ONNX's reference resolves them:
        sizes (an int per axis) or None, scales (a float per axis) or None, roi (starts, ends)."""
        if self.opset < 11:  # Resize-10: (X, scales)
            roi, scales, sizes = None, xs[1], None
        else:
            roi, scales, sizes = (list(xs[1:4]) + [None] * 3)[:3]
        rank = x.ndim
        axes = self.attrs["axes"]
        axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes]

        def full(values, fill):
            out = list(fill)
            for a, v in zip(axes, np.asarray(values).reshape(-1)):
                out[a] = v
            return out

        starts, ends = [0.0] * rank, [1.0] * rank
        if roi is not None and np.size(roi):
            r = np.asarray(roi).reshape(-1)
            starts, ends = full(r[:len(axes)], starts), full(r[len(axes):], ends)
        if sizes is not None and np.size(sizes):
            sizes = [int(v) for v in full(sizes, x.shape)]
            scales = [o / i for o, i in zip(sizes, x.shape)]
            policy = self.attrs["keep_aspect_ratio_policy"]
            if policy != "stretch":
                scale = (min if policy == "not_larger" else max)(scales[a] for a in axes)
                scales = [scale if a in axes else 1.0 for a in range(rank)]
                sizes = [int(scale * n + 0.5) if a in axes else n  # ONNX rounds halves up
                         for a, n in enumerate(x.shape)]
            return sizes, scales, (starts, ends)
        if scales is not None and np.size(scales):
            scales = [float(v) for v in full(scales, [1.0] * rank)]
            return None, scales, (starts, ends)
        raise self.unsupported("scales", "Resize needs scales or sizes")

    def forward(self, xs, ctx):
        x = xs[0]
        sizes, scales, (starts, ends) = self._geometry(x, xs)
        a = self.attrs
        mode = a["coordinate_transformation_mode"]
        same = [s == 1.0 and (sizes is None or sizes[k] == x.shape[k])
                and (mode != "tf_crop_and_resize" or (starts[k], ends[k]) == (0, 1))
                for k, s in enumerate(scales)]
        if x.ndim != 4 or not same[0] or not same[1]:
            raise self.unsupported("scales", f"{scales} (sizes {sizes}) on a tensor of shape "
                                             f"{x.shape}: numcnn resizes the (H, W) axes of "
                                             f"an (N, C, H, W) tensor")
        kw = dict(coordinate_transformation_mode=mode,
                  mode="bilinear" if a["mode"] == "linear" else "nearest")
        if a["mode"] == "nearest":
            kw["nearest_mode"] = a["nearest_mode"]
        if mode == "tf_crop_and_resize":
            kw.update(roi=((starts[2], ends[2]), (starts[3], ends[3])),
                      extrapolation_value=float(a["extrapolation_value"]))
        if sizes is None:  # the output size is floor(n * scale), as numcnn's
            kw["scale_factor"] = tuple(scales[2:])
        else:              # the output has `sizes`; coordinates use `scales` if they differ
            kw["size"] = tuple(sizes[2:])
            if any(s != o / n for s, o, n in zip(scales[2:], sizes[2:], x.shape[2:])):
                kw["scale_factor"] = tuple(scales[2:])
        out, cache = F.interpolate_forward(x, **kw)
        return [out], cache

    def backward(self, douts, cache):
        return [F.interpolate_backward(douts[0], cache), None, None, None]


# ------------------------------------------------------------------ softmax and the loss
def _softmax_2d(op: Op, x):
    """Opset < 13 coerces the input to 2-D at ``axis`` and normalises each row."""
    axis = int(op.attrs["axis"]) % x.ndim
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


@register("Softmax", "LogSoftmax")
class Softmax(Op):
    """numcnn's softmax / log-softmax pair along ``axis``; before opset 13 the input is
    coerced to 2-D at ``axis`` and each row normalised."""

    attributes = {"axis": None}

    def setup(self):
        if self.attrs["axis"] is None:
            self.attrs["axis"] = -1 if self.opset >= 13 else 1

    def forward(self, xs, ctx):
        x = xs[0]
        fn = "softmax" if self.op_type == "Softmax" else "log_softmax"
        if self.opset >= 13:
            out, cache = getattr(F, f"{fn}_forward")(x, int(self.attrs["axis"]))
            return [out], (cache, None)
        out, cache = getattr(F, f"{fn}_forward")(_softmax_2d(self, x), 1)
        return [out.reshape(x.shape)], (cache, x.shape)

    def backward(self, douts, cache):
        cache, shape = cache
        fn = "softmax" if self.op_type == "Softmax" else "log_softmax"
        d = douts[0] if shape is None else douts[0].reshape(cache[0].shape)
        dx = getattr(F, f"{fn}_backward")(d, cache)
        return [dx if shape is None else dx.reshape(shape)]


@register("SoftmaxCrossEntropyLoss")
class SoftmaxCrossEntropyLoss(Op):
    """numcnn's softmax cross-entropy on (N, C) or (N, C, d1, ..., dk) scores, with class
    weights, ignore_index and every reduction; the optional log_prob output is
    log_softmax(scores) along the classes, and its gradient joins the loss's."""

    attributes = {"ignore_index": None, "reduction": "mean"}
    control = (1,)

    def setup(self):
        if self.attrs["reduction"] not in ("mean", "sum", "none"):
            raise self.unsupported("reduction", f"unknown value {self.attrs['reduction']!r}")

    def forward(self, xs, ctx):
        scores, labels = xs[0], xs[1]
        weights = xs[2] if len(xs) > 2 else None
        ii = self.attrs["ignore_index"]
        ignore = int(ii) if ii is not None else int(np.iinfo(np.int64).min)
        if weights is not None:
            _same_dtype(self, scores=scores, weights=weights)
        loss, cache = F.softmax_cross_entropy_forward(
            scores, labels.astype(np.int64, copy=False), weights, ignore,
            self.attrs["reduction"])
        outs, log_prob_cache = [np.asarray(loss, dtype=scores.dtype)], None
        if self.wants(1):
            log_prob, log_prob_cache = F.log_softmax_forward(scores, 1)
            outs.append(log_prob)
        return outs, (cache, log_prob_cache)

    def backward(self, douts, cache):
        cache, log_prob_cache = cache
        d = douts[0] if self.attrs["reduction"] == "none" else float(douts[0])
        dx = F.softmax_cross_entropy_backward(d, cache)
        if len(douts) > 1 and douts[1] is not None:  # the log_prob output is read too
            dx = dx + F.log_softmax_backward(douts[1], log_prob_cache)
        return [dx, None, None]
