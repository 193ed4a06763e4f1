"""numcnn model -> ONNX file: each module describes its part of the graph.

``export`` walks the model from its root.  A module is described by its own
``to_onnx(graph, *inputs)`` method if it has one, else by the function registered for its
class (or the nearest base class) with :func:`register_exporter`; containers describe
themselves by describing their children (``graph.module(child, x)``) in forward order.
Every node is evaluated on a probe batch as it is added (by the same op mapping that
:func:`numcnn.onnx.load` uses), so a description can read the shapes it needs
(``graph.value(x).shape``), and at the end the graph's output is compared with the model's.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .. import nn
from ..functional.conv import conv_window
from ..functional.pool import adaptive_arguments
from ..io import atomic_write
from ..models import UNet
from ..nn.module import no_grad
from .graph import GraphModule
from .ops import OPS, Context


class ExportError(ValueError):
    """A module that cannot be exported (says which and why)."""


EXPORTERS: dict[type, Callable] = {}


def register_exporter(*types: type):
    """Register ``fn(graph, module, *inputs) -> output name(s)`` as the ONNX description of
    modules of these classes (and their subclasses without a closer registration)."""
    def wrap(fn):
        for t in types:
            EXPORTERS[t] = fn
        return fn
    return wrap


class Graph:
    """The graph being built: nodes, initializers, and each tensor's value on the probe batch.

    Descriptions use :meth:`node`, :meth:`initializer`, :meth:`module` and :meth:`value`;
    tensors are referred to by name (strings).  Names follow the module names:
    nodes are named after the module that adds them (``encoders.0.0``), initializers after
    the module and the attribute (``encoders.0.0.weight``, the ``state_dict`` key).
    """

    def __init__(self, model: nn.Module, opset: int):
        self.opset = opset
        self.nodes: list = []
        self.initializers: OrderedDict[str, np.ndarray] = OrderedDict()
        self.values: dict[str, np.ndarray] = {}
        self._names = {id(m): name for name, m in model.named_modules()}
        self._prefix = ""
        self._used: set[str] = set()
        self._ctx = Context(training=False, rng=np.random.default_rng(0))

    # ------------------------------------------------------------------------ for users
    def value(self, name: str) -> np.ndarray:
        """The tensor's value on the probe batch (read its shape or dtype)."""
        return self.values[name]

    def initializer(self, name: str, array, prefix: bool = True) -> str:
        """Store ``array`` as an initializer ``<module name>.<name>``; returns its name."""
        full = f"{self._prefix}.{name}" if prefix and self._prefix else name
        full = self._unique(full)
        value = np.array(array, copy=True)
        self.initializers[full] = value
        self.values[full] = value
        return full

    def node(self, op_type: str, inputs: list[str], n_outputs: int = 1,
             attributes: list | None = None, **attrs) -> str | list[str]:
        """Add a node (attributes as keywords, None ones left out); returns its output name
        (a list of names when ``n_outputs > 1``)."""
        import onnx

        name = self._unique(self._prefix or op_type)
        outs = [name] if n_outputs == 1 else [f"{name}:{i}" for i in range(n_outputs)]
        node = onnx.helper.make_node(op_type, list(inputs), outs, name=name,
                                     **{k: v for k, v in attrs.items() if v is not None})
        if attributes:
            node.attribute.extend(attributes)
        if op_type not in OPS:
            raise ExportError(f"numcnn.onnx.export: node {name!r}: numcnn cannot evaluate "
                              f"{op_type} nodes (it can {', '.join(sorted(OPS))})")
        op = OPS[op_type](node, self.opset)
        ys, _ = op.forward([self.values[i] if i else None for i in inputs], self._ctx)
        for o, y in zip(outs, ys):
            self.values[o] = y
        self.nodes.append(node)
        self._used.update(outs)
        return outs[0] if n_outputs == 1 else outs

    def module(self, module: nn.Module, *inputs: str):
        """Describe a child module here (its nodes take the child's name)."""
        outer = self._prefix
        self._prefix = self._names.get(id(module), outer)
        try:
            return describe(self, module, *inputs)
        finally:
            self._prefix = outer

    # ---------------------------------------------------------------------------- inside
    def _unique(self, name: str) -> str:
        if name not in self._used and name not in self.initializers:
            self._used.add(name)
            return name
        k = 1
        while f"{name}/{k}" in self._used or f"{name}/{k}" in self.initializers:
            k += 1
        self._used.add(f"{name}/{k}")
        return f"{name}/{k}"

    @property
    def _where(self) -> str:
        return repr(self._prefix) if self._prefix else "the model"


def describe(g: Graph, module: nn.Module, *inputs: str):
    """Add ``module``'s nodes to ``g``: its ``to_onnx`` method, else its registered exporter."""
    if hasattr(module, "to_onnx"):
        return module.to_onnx(g, *inputs)
    for cls in type(module).__mro__:
        if cls in EXPORTERS:
            return EXPORTERS[cls](g, module, *inputs)
    raise ExportError(f"numcnn.onnx.export: module {g._where} ({type(module).__name__}) has no "
                      f"ONNX description: give it a to_onnx(graph, x) method or register one "
                      f"with numcnn.onnx.register_exporter (docs/onnx.md)")


def _attr_pair(v) -> list[int]:
    return [int(v), int(v)] if np.isscalar(v) else [int(e) for e in v]


def _attr_pair_float(v) -> list[float]:
    return [float(v), float(v)] if np.isscalar(v) else [float(e) for e in v]


# --------------------------------------------------------------------------- the layers
@register_exporter(nn.Sequential)
def _sequential(g, m, x):
    for child in m:
        x = g.module(child, x)
    return x


@register_exporter(nn.ModuleList)
def _module_list(g, m, x):
    raise ExportError(f"numcnn.onnx.export: module {g._where} (ModuleList) has no forward of "
                      f"its own: export the module that uses it")


def _weight_bias(g, m):
    w = g.initializer("weight", m.weight.data)
    return [w] if m.bias is None else [w, g.initializer("bias", m.bias.data)]


def _conv_pads(m) -> list[int]:
    """ONNX's pads (begins of H and W, then their ends) are numcnn's (top, left, bottom,
    right), "same" and "valid" resolved as the layer resolves them."""
    return list(conv_window(type(m).__name__, m.kernel_size, m.stride, m.padding,
                            m.dilation).padding)


@register_exporter(nn.Conv2d)
def _conv2d(g, m, x):
    return g.node("Conv", [x, *_weight_bias(g, m)], kernel_shape=list(m.kernel_size),
                  strides=_attr_pair(m.stride), pads=_conv_pads(m),
                  dilations=_attr_pair(m.dilation), group=int(m.groups))


@register_exporter(nn.ConvTranspose2d)
def _conv_transpose2d(g, m, x):
    return g.node("ConvTranspose", [x, *_weight_bias(g, m)], kernel_shape=list(m.kernel_size),
                  strides=_attr_pair(m.stride), pads=_conv_pads(m),
                  output_padding=_attr_pair(m.output_padding),
                  dilations=_attr_pair(m.dilation), group=int(m.groups))


@register_exporter(nn.Linear)
def _linear(g, m, x):
    if g.value(x).ndim == 2:
        return g.node("Gemm", [x, *_weight_bias(g, m)], transB=1)
    w = g.initializer("weight", m.weight.data)
    y = g.node("MatMul", [x, g.node("Transpose", [w], perm=[1, 0])])
    return y if m.bias is None else g.node("Add", [y, g.initializer("bias", m.bias.data)])


@register_exporter(nn.Flatten)
def _flatten(g, m, x):
    rank = g.value(x).ndim
    start = m.start_dim % rank
    if start == 1:
        return g.node("Flatten", [x], axis=1)
    shape = g.initializer("shape", np.array([0] * start + [-1], dtype=np.int64))
    return g.node("Reshape", [x, shape])


@register_exporter(nn.Identity)
def _identity(g, m, x):
    return g.node("Identity", [x])


@register_exporter(nn.ReLU)
def _relu(g, m, x):
    return g.node("Relu", [x])


@register_exporter(nn.Sigmoid)
def _sigmoid(g, m, x):
    return g.node("Sigmoid", [x])


@register_exporter(nn.Tanh)
def _tanh(g, m, x):
    return g.node("Tanh", [x])


@register_exporter(nn.LeakyReLU)
def _leaky_relu(g, m, x):
    return g.node("LeakyRelu", [x], alpha=float(m.negative_slope))


def _pool_attrs(m) -> dict:
    w = m._window  # the layer's checked hyper-parameters; pads as (top, left, bottom, right)
    return dict(kernel_shape=list(w.kernel_size), strides=list(w.stride), pads=list(w.padding),
                dilations=list(w.dilation), ceil_mode=int(w.ceil_mode))


@register_exporter(nn.MaxPool2d)
def _max_pool(g, m, x):
    return g.node("MaxPool", [x], **_pool_attrs(m))


@register_exporter(nn.AvgPool2d)
def _avg_pool(g, m, x):
    if m.divisor_override is not None:
        raise ExportError(f"numcnn.onnx.export: module {g._where} (AvgPool2d): ONNX's "
                          f"AveragePool has no divisor_override")
    attrs = _pool_attrs(m)
    del attrs["dilations"]  # AvgPool2d has none (1), and AveragePool's needs opset 19
    return g.node("AveragePool", [x], count_include_pad=int(m.count_include_pad), **attrs)


@register_exporter(nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
def _adaptive_pool(g, m, x):
    """Output size 1: a global pooling; an output size dividing the input's: a pooling with
    kernel = stride = input / output (the windows then tile the input exactly)."""
    H, W = g.value(x).shape[2:]
    _, (Ho, Wo) = adaptive_arguments(type(m).__name__, g.value(x), m.output_size)
    avg = isinstance(m, nn.AdaptiveAvgPool2d)
    if (Ho, Wo) == (1, 1):
        return g.node("GlobalAveragePool" if avg else "GlobalMaxPool", [x])
    if H % Ho or W % Wo:
        raise ExportError(f"numcnn.onnx.export: module {g._where} ({type(m).__name__}): "
                          f"output size {(Ho, Wo)} does not divide the input's {(H, W)}, so "
                          f"its windows are not one ONNX pooling's")
    k = [H // Ho, W // Wo]
    return g.node("AveragePool" if avg else "MaxPool", [x], kernel_shape=k, strides=k)


@register_exporter(nn.Softmax, nn.LogSoftmax)
def _softmax(g, m, x):
    return g.node("Softmax" if isinstance(m, nn.Softmax) else "LogSoftmax", [x],
                  axis=int(m.dim))


@register_exporter(nn.BatchNorm2d)  # BatchNorm1d is a subclass
def _batch_norm(g, m, x):
    ins = [x, g.initializer("weight", m.weight.data), g.initializer("bias", m.bias.data),
           g.initializer("running_mean", m.running_mean),
           g.initializer("running_var", m.running_var)]
    return g.node("BatchNormalization", ins, epsilon=float(m.eps),
                  momentum=1.0 - float(m.momentum))


@register_exporter(nn.Dropout)
def _dropout(g, m, x):
    # ONNX's Dropout is the identity unless told it is training: the eval semantics
    return g.node("Dropout", [x, g.initializer("ratio", np.array(m.p, dtype=np.float32))])


@register_exporter(nn.Upsample)
def _upsample(g, m, x):
    """PyTorch's rules in ONNX's terms (as torch.onnx.export writes them): 'nearest' is
    asymmetric coordinates rounded down, 'nearest-exact' half_pixel rounded half up,
    'bilinear' half_pixel or align_corners.  A size (or a recomputed scale) becomes the
    sizes input, batch and channels read from the input's Shape (the batch is dynamic)."""
    if m.mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                     nearest_mode="floor")
    elif m.mode == "nearest-exact":
        attrs = dict(mode="nearest", coordinate_transformation_mode="half_pixel",
                     nearest_mode="round_prefer_ceil")
    else:
        attrs = dict(mode="linear", coordinate_transformation_mode="align_corners"
                     if m.align_corners else "half_pixel")
    H, W = g.value(x).shape[2:]
    if m.size is not None:
        size = _attr_pair(m.size)
    else:
        sh, sw = _attr_pair_float(m.scale_factor)
        size = [int(np.floor(H * sh)), int(np.floor(W * sw))]
        # the output size a runtime computes from float32 scales: ONNX's reference
        # multiplies in float64, onnxruntime in float32; both must give numcnn's
        onnx_sizes = [[int(np.floor(n * float(np.float32(r)))) for n, r in ((H, sh), (W, sw))],
                      [int(np.floor(np.float32(n) * np.float32(r))) for n, r in ((H, sh), (W, sw))]]
        if not m.recompute_scale_factor:
            onnx_size = next((o for o in onnx_sizes if o != size), size)
            if onnx_size != size:
                raise ExportError(f"numcnn.onnx.export: module {g._where} (Upsample): scale "
                                  f"{m.scale_factor!r} in ONNX's float32 scales turns "
                                  f"{H}x{W} into {onnx_size}, not {size}: give a size or "
                                  f"recompute_scale_factor=True")
            scales = g.initializer("scales", np.array([1, 1, sh, sw], dtype=np.float32))
            return g.node("Resize", [x, "", scales], **attrs)
    batch_channels = g.node("Shape", [x], end=2)
    sizes = g.node("Concat", [batch_channels,
                              g.initializer("size", np.array(size, dtype=np.int64))], axis=0)
    return g.node("Resize", [x, "", "", sizes], **attrs)


@register_exporter(nn.Concat)
def _concat(g, m, *xs):
    return g.node("Concat", list(xs), axis=int(m.axis))


@register_exporter(UNet)
def _unet(g, m, x):
    skips, h = [], x
    for d, encoder in enumerate(m.encoders):
        if d > 0:
            h = g.module(m.pools[d - 1], h)
        h = g.module(encoder, h)
        skips.append(h)
    for i, (up, concat, decoder) in enumerate(zip(m.ups, m.concats, m.decoders)):
        h = g.module(decoder, g.module(concat, g.module(up, h), skips[m.depth - 1 - i]))
    return g.module(m.head, h)


@register_exporter(GraphModule)
def _graph_module(g, m, *xs):
    if g.opset != m.opset:
        raise ExportError(f"numcnn.onnx.export: module {g._where} is an ONNX graph of opset "
                          f"{m.opset}: export with opset={m.opset}")
    prefix = g._prefix
    names = dict(zip(m.input_names, xs))
    stored = [(k, p.data) for k, p in m._parameters.items()]
    for k, v in [*stored, *m._buffers.items(), *m._constants.items()]:
        names[k] = g.initializer(k, v)
    try:
        for proto in m._protos:
            g._prefix = f"{prefix}/{proto.name}" if prefix else (proto.name or proto.op_type)
            outs = g.node(proto.op_type, [names[i] if i else "" for i in proto.input],
                          n_outputs=len(proto.output), attributes=list(proto.attribute))
            names.update(zip(proto.output, [outs] if isinstance(outs, str) else outs))
    finally:
        g._prefix = prefix
    results = [names[o] for o in m.output_names]
    return results[0] if len(results) == 1 else tuple(results)


# --------------------------------------------------------------------------------- export
def _value_info(name: str, array: np.ndarray, batch: bool):
    import onnx

    dims = list(array.shape)
    if batch and dims:
        dims[0] = "N"
    return onnx.helper.make_tensor_value_info(
        name, onnx.helper.np_dtype_to_tensor_dtype(array.dtype), dims)


def to_model(model: nn.Module, input_shape, opset: int = 17, seed: int = 0):
    """The ONNX ``ModelProto`` of ``model`` (see :func:`export`)."""
    import onnx
    from onnx import numpy_helper

    if not isinstance(model, nn.Module):
        raise TypeError(f"numcnn.onnx.export: expected a numcnn Module; got "
                        f"{type(model).__name__}")
    shape = tuple(int(v) for v in input_shape)
    if len(shape) < 1 or any(v < 1 for v in shape):
        raise ValueError(f"numcnn.onnx.export: input_shape must be the full input shape, batch "
                         f"first, e.g. (1, 3, 32, 32); got {input_shape!r}")
    newest = onnx.defs.onnx_opset_version()
    if not 13 <= int(opset) <= newest:
        raise ValueError(f"numcnn.onnx.export: opset must be in [13, {newest}]; got {opset!r}")
    dtype = model.dtype or np.dtype(np.float32)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        g = Graph(model, int(opset))
        g.values["input"] = x
        g._used.add("input")
        out = describe(g, model, "input")
        with no_grad():
            want = model(x)
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    if not isinstance(out, str) or not isinstance(want, np.ndarray):
        raise ExportError("numcnn.onnx.export: the model must map one array to one array")
    got = g.values[out]
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1.0)
    if got.shape != want.shape or float(np.max(np.abs(got - want), initial=0.0)) > 1e-5 * scale:
        raise ExportError(f"numcnn.onnx.export: the graph's output does not reproduce the "
                          f"model's on a probe batch (shape {got.shape} vs {want.shape}): some "
                          f"module's ONNX description differs from its forward")
    if out == "input":
        out = g.node("Identity", ["input"])
    for node in g.nodes:  # the graph's output is called "output"
        node.output[:] = ["output" if o == out else o for o in node.output]
        node.input[:] = ["output" if i == out else i for i in node.input]
    graph = onnx.helper.make_graph(
        g.nodes, type(model).__name__, [_value_info("input", x, True)],
        [_value_info("output", got, got.ndim > 0 and got.shape[0] == shape[0])],
        [numpy_helper.from_array(v, k) for k, v in g.initializers.items()])
    opsets = [onnx.helper.make_opsetid("", int(opset))]
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="numcnn",
                                   ir_version=onnx.helper.find_min_ir_version_for(opsets))
    from .. import __version__

    proto.producer_version = __version__
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(model: nn.Module, path, input_shape, opset: int = 17):
    """Write ``model`` as an ONNX file (eval-mode semantics: BatchNorm with its running
    statistics, Dropout as the identity) and return the ``onnx.ModelProto``.

    Parameters
    ----------
    model : a numcnn Module mapping one array to one array
    path : the ``.onnx`` file to write (atomically: a reader sees the old file or the new)
    input_shape : the full input shape, batch first, e.g. (1, 3, 32, 32); the batch
        dimension is exported as the dynamic dimension "N"
    opset : the ONNX operator set version (13 or newer)

    Names: the graph's input is "input" and its output "output"; nodes are named after
    modules (``encoders.0.0``), initializers after ``state_dict`` keys.  A module without
    an ONNX description raises ``ExportError`` naming it (docs/onnx.md says how to give a
    Module of your own a description).
    """
    proto = to_model(model, input_shape, opset)
    atomic_write(os.fspath(path), lambda f: f.write(proto.SerializeToString()))
    return proto
