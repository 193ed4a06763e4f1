"""numcnn: a convolutional-network engine in NumPy with every backward pass written by hand.

Floors (each imports only the ones below it, see docs/design.md):
``kernels`` (numba loops) -> ``functional`` (forward/backward pairs) -> ``nn``, ``models`` ->
``optim``, ``data``, ``datasets`` -> ``train``, ``metrics``, ``io``, ``predict``,
``interpret``, ``viz`` (the last three load on first use).
"""

import os

# numba's OpenMP threads and OpenBLAS's threads share 2 cores on small machines; a thread
# that spin-waits after its parallel region steals a core from the other pool's next one.
# OMP_WAIT_POLICY: numba's threads sleep at once (a training step measured 1.8x slower
# without).  OPENBLAS_THREAD_TIMEOUT: OpenBLAS's workers spin 2**12 cycles, not 2**28
# (~0.1 s), after a GEMM (a U-Net step measured 10-15% faster).  Both are read when the
# thread pool starts: OpenBLAS's when NumPy is first imported, so the second takes effect
# only if numcnn is imported before NumPy, or is set in the shell (docs/performance.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "12")

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
from .nn.module import no_grad  # noqa: E402
from .summary import profile, summary  # noqa: E402

__version__ = "0.1.0"

_LAZY = ("viz", "interpret", "predict", "demo", "tour")  # matplotlib etc. load on first use


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'numcnn' has no attribute {name!r}")
__all__ = ["data", "datasets", "functional", "gradcheck", "io", "metrics", "models", "nn", "optim",
           "reference",
           "train", "manual_seed", "default_rng", "no_grad", "summary", "profile",
           "__version__"]
