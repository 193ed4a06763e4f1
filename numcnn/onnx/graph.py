"""An ONNX graph as a numcnn Module: forward runs the nodes in order, backward walks back.

    forward:   for each node (in topological order): outputs = op(inputs), cache kept
    backward:  for each node, last first: d(inputs) = op.backward(d(outputs), cache),
               and a tensor read by k nodes gets the *sum* of the k gradients

The second line is all of backpropagation on a graph: every tensor's gradient is complete
once every node that read it has been walked back, which the reverse order guarantees.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

from .._random import default_rng
from ..nn.module import Module
from ..nn.parameter import Parameter
from .ops import OPS, Context, UnsupportedError


def _read_model(model):
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (str, os.PathLike)):
        if not os.path.isfile(model):
            raise FileNotFoundError(f"numcnn.onnx.load: no such file: {os.fspath(model)}")
        return onnx.load(os.fspath(model))
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    raise TypeError(f"numcnn.onnx.load: expected a path, bytes or an onnx.ModelProto; got "
                    f"{type(model).__name__}")


def _opset(model) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    raise ValueError("numcnn.onnx.load: the model imports no version of the default ONNX "
                     "operator set")


def _dims(value_info) -> tuple | None:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                 for d in t.shape.dim)


class GraphModule(Module):
    """An ONNX graph that numcnn runs, trains and checks like any other Module.

    Floating initializers that an op uses as weights (Conv's W and B, Gemm's B and C,
    BatchNormalization's scale and bias, MatMul's or Add's operands) are ``Parameter``s,
    keyed by their ONNX names (a PyTorch export keeps PyTorch's ``state_dict`` keys);
    BatchNormalization's mean and variance are buffers; everything else (shapes, scales,
    ratios) is a constant.  ``forward(*inputs)`` returns one array, or a tuple when the graph
    has several outputs; ``backward(dout)`` (a tuple of douts for several outputs, None where
    an output gets no gradient) returns dL/dinput (a tuple for several inputs) and adds into
    every ``Parameter.grad``.  BatchNormalization and Dropout follow ``train()`` / ``eval()``
    unless the node itself fixes the mode; ``load`` returns the module in eval mode.
    """

    def __init__(self, model, rng=None):
        super().__init__()
        import onnx
        from onnx import numpy_helper

        model = _read_model(model)
        if any(not o.type.tensor_type.HasField("shape") for o in model.graph.output):
            model = onnx.shape_inference.infer_shapes(model)  # the checker wants them
        onnx.checker.check_model(model)
        opset = _opset(model)
        graph = model.graph
        inits = OrderedDict((i.name, numpy_helper.to_array(i)) for i in graph.initializer)
        self.opset, self.graph_name = opset, graph.name
        self.input_names = [i.name for i in graph.input if i.name not in inits]
        self.input_shapes = {i.name: _dims(i) for i in graph.input if i.name not in inits}
        self.input_types = {i.name: i.type.tensor_type.elem_type for i in graph.input
                            if i.name not in inits}
        self.output_names = [o.name for o in graph.output]
        self.output_shapes = {o.name: _dims(o) for o in graph.output}
        kept = []
        for node in graph.node:
            if node.op_type == "Identity" and node.input[0] in inits:
                # a copy of an initializer is one of its own: PyTorch's exporter writes a
                # parameter equal to another (fresh BatchNorm weights) as Identity(other)
                inits[node.output[0]] = inits[node.input[0]].copy()
            else:
                kept.append(node)
        nodes, roles = [], {}
        for k, node in enumerate(kept):
            name = node.name or f"{node.op_type}_{k}"
            if node.domain not in ("", "ai.onnx"):
                raise UnsupportedError(name, node.op_type, "domain",
                                       f"operators of domain {node.domain!r} are not supported")
            if node.op_type not in OPS:
                raise UnsupportedError(name, node.op_type, "op_type",
                                       f"numcnn has no mapping for this operator (it runs "
                                       f"{', '.join(sorted(OPS))})")
            op = OPS[node.op_type](node, opset)
            op.name = name
            for slot, inp in enumerate(node.input):
                if inp in inits:
                    role = ("param" if slot in op.params else "buffer" if slot in op.buffers
                            else "constant")
                    if role == "param" and not np.issubdtype(inits[inp].dtype, np.floating):
                        role = "constant"
                    order = ("constant", "buffer", "param")
                    roles[inp] = max(roles.get(inp, "constant"), role, key=order.index)
            nodes.append((op, list(node.input), list(node.output)))
        self._constants = OrderedDict()
        for name, value in inits.items():
            role = roles.get(name, "constant")
            if role == "param":
                self._parameters[name] = Parameter(value.copy())
            elif role == "buffer":
                self._buffers[name] = value.copy()
            else:
                self._constants[name] = value
        for op, ins, _ in nodes:
            if op.buffers:
                op.stateful = all(i < len(ins) and ins[i] in self._buffers for i in op.buffers)
        self._nodes = nodes
        self._protos = [onnx.NodeProto.FromString(n.SerializeToString()) for n in kept]
        self.rng = default_rng(rng)
        self.eval()

    # ------------------------------------------------------------------ forward / backward
    def _check_inputs(self, inputs) -> None:
        if len(inputs) != len(self.input_names):
            raise TypeError(f"GraphModule: the graph takes {len(self.input_names)} input(s) "
                            f"{self.input_names}; got {len(inputs)}")
        for name, x in zip(self.input_names, inputs):
            if not isinstance(x, np.ndarray):
                raise TypeError(f"GraphModule: input {name!r} must be a numpy array; got "
                                f"{type(x).__name__}")
            if np.issubdtype(x.dtype, np.floating):
                self.check_input_dtype(x)
            dims = self.input_shapes[name]
            if dims is not None and (len(dims) != x.ndim or any(
                    isinstance(d, int) and d > 0 and d != s for d, s in zip(dims, x.shape))):
                want = "(" + ", ".join(str(d) for d in dims) + ")"
                raise ValueError(f"GraphModule: input {name!r} must have shape {want} (named "
                                 f"dimensions are free); got {x.shape}")

    def forward(self, *inputs: np.ndarray):
        inputs = tuple(np.asarray(x) if isinstance(x, np.generic) else x for x in inputs)
        self._check_inputs(inputs)
        values = dict(self._constants)
        values.update((k, p.data) for k, p in self._parameters.items())
        values.update(self._buffers)
        values.update(zip(self.input_names, inputs))
        ctx = Context(self.training, self.rng)
        caches = []
        for op, ins, outs in self._nodes:
            try:
                xs = [values[n] if n else None for n in ins]
            except KeyError as e:
                raise ValueError(f"ONNX node {op.name!r} ({op.op_type}): input {e.args[0]!r} "
                                 f"is computed by no earlier node") from None
            ys, cache = op.forward(xs, ctx)
            meta = []
            for n, y in zip(outs, ys):
                if n:
                    values[n] = y
                meta.append((np.shape(y), np.asarray(y).dtype))
            caches.append((cache, meta))
        self._save(caches)
        result = tuple(values[n] for n in self.output_names)
        return result[0] if len(result) == 1 else result

    def backward(self, dout):
        caches = self._saved()
        douts = tuple(dout) if len(self.output_names) > 1 else (dout,)
        if len(douts) != len(self.output_names):
            raise ValueError(f"GraphModule.backward: the graph has {len(self.output_names)} "
                             f"outputs; got {len(douts)} gradients")
        grads: dict[str, np.ndarray] = {}

        def add(name: str, g: np.ndarray) -> None:
            # never in place: g may be the caller's dout or another node's array
            grads[name] = g if name not in grads else grads[name] + g

        for name, d in zip(self.output_names, douts):
            if d is not None:
                add(name, d)
        for (op, ins, outs), (cache, meta) in zip(reversed(self._nodes), reversed(caches)):
            ds = [grads.pop(n, None) if n else None for n in outs]
            if all(d is None for d in ds):
                continue  # nothing downstream depends on this node's outputs
            ds = [np.zeros(shape, dtype) if d is None and np.issubdtype(dtype, np.floating)
                  else d for d, (shape, dtype) in zip(ds, meta)]
            for n, g in zip(ins, op.backward(ds, cache)):
                if n and g is not None and n not in self._constants and n not in self._buffers:
                    add(n, g)
        for name, p in self._parameters.items():
            if name in grads:
                p.grad += grads[name]
        dxs = tuple(grads.get(n) for n in self.input_names)
        return dxs[0] if len(dxs) == 1 else dxs

    # -------------------------------------------------------------------------- the rest
    def extra_repr(self) -> str:
        return f"{len(self._nodes)} nodes, opset {self.opset}"

    def __repr__(self) -> str:
        lines = [f"GraphModule({self.extra_repr()}; inputs {self.input_names} -> outputs "
                 f"{self.output_names}"]
        for op, ins, outs in self._nodes:
            lines.append(f"  {op.name} ({op.op_type}): {', '.join(i for i in ins if i)} -> "
                         f"{', '.join(o for o in outs if o)}")
        return "\n".join(lines) + "\n)"


def load(model, rng=None) -> GraphModule:
    """An ONNX model (a path, bytes or an ``onnx.ModelProto``) as a numcnn Module.

    The module runs every node with ``numcnn.functional`` and its ``backward`` walks the graph
    in reverse (see :class:`GraphModule`).  It comes in eval mode; ``train()`` switches
    BatchNormalization to batch statistics and Dropout on.  ``rng`` (a Generator or seed)
    draws Dropout's masks.  A node numcnn cannot run raises ``UnsupportedError`` naming the
    node, its op type and the attribute.
    """
    return GraphModule(model, rng=rng)
