"""ONNX in and out (``pip install numcnn[onnx]``; docs/onnx.md).

- :func:`export` writes a numcnn model as an ONNX file that onnxruntime (or any ONNX
  runtime) runs; built-in layers and models describe their graph, a Module of your own
  gives a ``to_onnx(graph, x)`` method.
- :func:`load` turns an ONNX graph into a numcnn Module (:class:`GraphModule`) whose forward
  runs the nodes with ``numcnn.functional`` and whose backward walks the graph in reverse,
  summing the gradients of every tensor read more than once: a model exported from PyTorch
  becomes one you can train and inspect with hand-written backprop.
- :mod:`numcnn.onnx.backend` is an ``onnx.backend.base.Backend``, so ONNX's own operator
  test cases run against numcnn.
"""

try:
    import onnx as _onnx  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised without the extra installed
    raise ImportError("numcnn.onnx needs the onnx package: pip install numcnn[onnx]") from e

from . import backend
from .export import ExportError, Graph, export, register_exporter, to_model
from .graph import GraphModule, load
from .ops import OPS, UnsupportedError

__all__ = ["export", "to_model", "load", "GraphModule", "Graph", "register_exporter",
           "ExportError", "UnsupportedError", "OPS", "backend"]
