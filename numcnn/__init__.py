"""numcnn: a convolutional-network engine in NumPy with every backward pass written by hand.

Floors (each imports only the ones below it, see docs/design.md):
``kernels`` (numba loops) -> ``functional`` (forward/backward pairs) -> ``nn``, ``models`` ->
``optim``, ``data``, ``datasets`` -> ``train``, ``metrics``, ``io``, ``predict``,
``interpret``, ``onnx``, ``viz`` (the last four load on first use).
"""

from ._malloc import keep_freed_memory
from ._threads import calm_thread_pools

# numba's and OpenBLAS's threads share the cores: make idle workers of both sleep soon,
# whether NumPy was imported before numcnn or not (numcnn/_threads.py says how and why).
calm_thread_pools()
# a step's arrays reuse the last step's memory instead of fresh pages (numcnn/_malloc.py)
keep_freed_memory()

from . import (  # noqa: E402,E501
    data,
    datasets,
    functional,
    gradcheck,
    io,
    metrics,
    models,
    nn,
    optim,
    reference,
    train,
)
from ._random import default_rng, manual_seed  # noqa: E402
from .dispatch import use  # noqa: E402
from .nn.module import no_grad  # noqa: E402
from .summary import profile, summary  # noqa: E402

__version__ = "0.1.0"

# loaded on first use: matplotlib etc., and the onnx extra (pip install numcnn[onnx])
_LAZY = ("viz", "interpret", "predict", "demo", "tour", "onnx")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'numcnn' has no attribute {name!r}")
__all__ = ["data", "datasets", "functional", "gradcheck", "io", "metrics", "models", "nn", "optim",
           "reference",
           "train", "manual_seed", "default_rng", "no_grad", "summary", "profile", "use",
           "__version__"]
