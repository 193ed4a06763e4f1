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
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

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



# ------------------------------------------------------------------ numcnn's own threads
# A convolution is a loop over chunks of its batch (numcnn.functional.conv): im2col, a GEMM,
# a layout copy, on ~1 MB of data each.  Run with numba's threads for the copies and
# OpenBLAS's for the GEMM, every chunk hands both cores from one pool to the other several
# times, and OpenBLAS splits GEMMs of this size poorly: a 64x288 @ 288x2048 product took
# 1.11 ms on 2 OpenBLAS threads and 0.50 ms per product with two threads each running its
# own products on one core.  So numcnn runs whole chunks on threads of its own, OpenBLAS set
# to one thread meanwhile (each caller then computes its GEMM itself), the copies in
# GIL-free numba loops: no pool ever waits for the other.

_BLAS_NAMES = {  # the prefixes NumPy's OpenBLAS builds give these functions
    "get": ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
            "scipy_openblas_get_num_threads", "openblas_get_num_threads"),
    "set": ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads", "openblas_set_num_threads"),
}
_blas = None  # {"get": fn, "set": fn} of NumPy's OpenBLAS, or {} where there is none
_serial = threading.Lock()
_serial_depth = 0
_saved_blas_threads = 1


def _openblas() -> dict:
    global _blas
    if _blas is None:
        _blas = {}
        for path in _loaded_openblas():
            lib = ctypes.CDLL(path)
            fns = {k: next((getattr(lib, n) for n in names if hasattr(lib, n)), None)
                   for k, names in _BLAS_NAMES.items()}
            if None not in fns.values():
                _blas = fns
                break
    return _blas


def threads_for(n_items: int) -> int:
    """How many threads :func:`map_chunks` uses on ``n_items`` items: numba's thread count
    (``numba.set_num_threads``, ``NUMBA_NUM_THREADS``) capped by OpenBLAS's (as
    threadpoolctl or ``OPENBLAS_NUM_THREADS`` set it) and by ``n_items``; 1 when NumPy's
    BLAS is not an OpenBLAS whose thread count numcnn can set."""
    blas = _openblas()
    if n_items < 2 or not blas:
        return 1
    import numba

    blas_threads = _saved_blas_threads if _serial_depth else blas["get"]()
    return max(1, min(n_items, numba.get_num_threads(), blas_threads))


def _blas_serial(enter: bool) -> None:
    """Set OpenBLAS to one thread while any map_chunks runs (it is one global setting),
    and back to what it was when the last one ends."""
    global _serial_depth, _saved_blas_threads
    blas = _openblas()
    with _serial:
        if enter:
            if _serial_depth == 0:
                _saved_blas_threads = blas["get"]()
                blas["set"](1)
            _serial_depth += 1
        else:
            _serial_depth -= 1
            if _serial_depth == 0:
                blas["set"](_saved_blas_threads)


_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, size, executor)


def _executor(size: int) -> ThreadPoolExecutor:
    """numcnn's worker threads (made again after a fork: threads do not survive one)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid() or _pool[1] < size:
        _pool = (os.getpid(), size, ThreadPoolExecutor(size, thread_name_prefix="numcnn"))
    return _pool[2]


def map_chunks(fn, items: list, threads: int) -> list:
    """``[fn(item) for item in items]`` on ``threads`` threads (the caller's and
    threads - 1 of numcnn's), each taking the next item when it is done with one; OpenBLAS
    runs single-threaded meanwhile, so ``fn`` computes its GEMMs on its own thread and must
    call only GIL-free numba loops (``parallel=False``) and NumPy.  With ``threads=1`` the
    items run on the caller's thread as they are.  The results come in the items' order, so
    a sum over them does not depend on which thread ran what."""
    if threads <= 1:
        return [fn(item) for item in items]
    results = [None] * len(items)
    tickets = itertools.count()  # next() on it is atomic: each item is taken once
    failed = []  # once one item has raised, the other threads take no more

    def drain():
        for k in tickets:
            if k >= len(items) or failed:
                return
            try:
                results[k] = fn(items[k])
            except BaseException:
                failed.append(k)
                raise

    _blas_serial(True)
    try:
        helpers = [_executor(threads - 1).submit(drain) for _ in range(threads - 1)]
        try:
            drain()
        finally:
            done = [h.exception() for h in helpers]  # waits: nothing runs on after return
    finally:
        _blas_serial(False)
    for error in done:
        if error is not None:
            raise error
    return results
