"""numcnn as an ONNX backend (``onnx.backend.base.Backend``), so that ONNX's own test cases
and anything written against the backend API run on numcnn:

    rep = numcnn.onnx.backend.prepare(model)      # or Backend.prepare(model, "CPU")
    outputs = rep.run([x])                        # a tuple of arrays, one per graph output
"""

from __future__ import annotations

import onnx
from onnx.backend.base import Backend as _Base
from onnx.backend.base import BackendRep as _BaseRep

from ..nn.module import no_grad
from .graph import GraphModule


class BackendRep(_BaseRep):
    """A prepared model: ``run(inputs)`` with a list (graph input order), a dict keyed by
    input name, or one array."""

    def __init__(self, module: GraphModule):
        self.module = module

    def run(self, inputs, **kwargs) -> tuple:
        m = self.module
        if isinstance(inputs, dict):
            inputs = [inputs[n] for n in m.input_names]
        elif not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        with no_grad():
            out = m(*inputs)
        return out if isinstance(out, tuple) else (out,)


class Backend(_Base):
    """numcnn's ONNX backend: CPU only; models run in eval mode unless a node says
    otherwise (BatchNormalization's training_mode, Dropout's training_mode input)."""

    @classmethod
    def prepare(cls, model, device: str = "CPU", **kwargs) -> BackendRep:
        if not cls.supports_device(device):
            raise ValueError(f"numcnn's ONNX backend runs on the CPU; got device {device!r}")
        return BackendRep(GraphModule(model).eval())

    @classmethod
    def run_node(cls, node, inputs, device: str = "CPU", outputs_info=None, **kwargs):
        """Run one node on its inputs (a graph of that single node, built around it)."""
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        names = [n for n in node.input if n]
        ins = [onnx.helper.make_tensor_value_info(
            n, onnx.helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
            for n, x in zip(names, inputs)]
        # output types and shapes are not needed to run (the loader infers them)
        first = ins[0].type.tensor_type.elem_type if ins else onnx.TensorProto.FLOAT
        outs = [onnx.helper.make_tensor_value_info(n, first, None) for n in node.output if n]
        graph = onnx.helper.make_graph([node], "node", ins, outs)
        model = onnx.helper.make_model(graph, opset_imports=[
            onnx.helper.make_opsetid("", opset)])
        return cls.prepare(model, device).run(list(inputs))

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.split(":")[0].upper() == "CPU"


prepare = Backend.prepare
run_model = Backend.run_model
run_node = Backend.run_node
supports_device = Backend.supports_device
