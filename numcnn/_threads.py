"""Keep numba's and OpenBLAS's thread pools from fighting, whichever was imported first.

numba's parallel kernels (OpenMP) and NumPy's GEMMs (OpenBLAS's own threads) take turns on
the same cores.  A worker that has finished spins for a while before it sleeps, and a
spinning worker steals a core from the other pool's next job (docs/performance.md,
"Threads"):

- ``OMP_WAIT_POLICY=PASSIVE``: numba's OpenMP threads sleep at once.  OpenMP reads it when
  numba's pool starts, at the first parallel kernel, so setting it at import is enough.
- OpenBLAS's thread timeout: its workers spin 2**12 cycles after a GEMM instead of 2**28
  (~0.1 s).  OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` when its library loads, i.e. when
  NumPy is first imported, usually before numcnn.  So :func:`calm_openblas` sets the
  variable, asks the already-loaded library to read its environment again
  (``openblas_read_env``) and stops its workers (``blas_thread_shutdown_``); OpenBLAS
  starts them again at the next GEMM, with the new timeout.

A variable the user has set is never changed.
"""

from __future__ import annotations

import ctypes
import os

OPENBLAS_TIMEOUT = 12  # log2 of the cycles an idle OpenBLAS worker spins


def _loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries loaded in this process (Linux: /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:  # not Linux: nothing to re-read; the variable applies if set in time
        return []
    return sorted(p for p in paths if p.startswith("/"))


def calm_openblas() -> int:
    """Apply the OpenBLAS thread timeout to every OpenBLAS NumPy has already loaded.

    Returns the number of libraries whose workers were restarted (0 when nothing needed
    it: the variable was read in time, or the library lacks the two entry points).
    """
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", str(OPENBLAS_TIMEOUT))
    import numpy  # noqa: F401  (loads OpenBLAS, which reads the variable if it is first)

    want = int(os.environ["OPENBLAS_THREAD_TIMEOUT"])
    restarted = 0
    for path in _loaded_openblas():
        try:
            lib = ctypes.CDLL(path)
            current = lib.openblas_thread_timeout
            read_env, shutdown = lib.openblas_read_env, lib.blas_thread_shutdown_
        except (OSError, AttributeError):  # another build without these symbols
            continue
        if current() == want:
            continue
        read_env()   # os.environ writes through to the C environment, which this reads
        shutdown()   # the workers restart at the next GEMM, reading the new timeout
        restarted += 1
    return restarted


def calm_thread_pools() -> None:
    """Called once by ``import numcnn``."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    calm_openblas()
