"""Shared helpers for the benchmarks: thread counts, quantiles, and worker processes.

Why worker processes: thread pools (OpenBLAS, numba's OpenMP, PyTorch's OpenMP) read their
size from the environment when they start, and two engines in one process would share (and
fight over) the same cores.  So each engine is timed in its own process, started with the
thread count under test, and the parent asks the workers in turn for one *round* of timings
at a time: interleaved rounds mean that a burst of machine noise hits both engines alike.

Protocol: the worker prints one JSON line when it is ready (or ``{"error": ...}``), then
answers each JSON line it reads on stdin with one JSON line on stdout.  Everything else the
worker prints goes to stderr, so stray output can never corrupt the protocol.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

# Pause after a worker's round before the next worker starts, so that its idle threads have
# stopped spinning: numcnn's OpenBLAS workers spin 2**12 cycles (numcnn/_threads.py), PyTorch's
# and onnxruntime's OpenMP threads under 10 ms.  (Without numcnn's setting, OpenBLAS's spin
# for about 0.1 s after each GEMM and the next worker's round would start on one core.)
SETTLE = {"numcnn": 0.02, "baseline": 0.02, "torch": 0.02, "ort": 0.02}  # seconds


def thread_env(threads: int) -> dict[str, str]:
    """A copy of the environment that sizes every thread pool to ``threads`` at start-up."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    return env


_limits = []  # keeps threadpoolctl's limiter alive for the life of the process


def set_threads(threads: int) -> None:
    """Set the thread count of every pool already imported (numba, BLAS, torch)."""
    if "numba" in sys.modules:
        sys.modules["numba"].set_num_threads(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the environment variables of thread_env() already did it
        return
    _limits.append(threadpool_limits(limits=threads))


def cpu_busy_seconds() -> float | None:
    """CPU-seconds all processes have spent busy since boot (Linux /proc/stat; else None)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def quantiles(xs: list[float]) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile) of ``xs``, by linear interpolation."""
    s = sorted(xs)

    def q(p: float) -> float:
        pos = p * (len(s) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)

    return q(0.25), q(0.5), q(0.75)


class WorkerError(RuntimeError):
    pass


class Worker:
    """A benchmark process started as ``python script *args``, answering JSON requests."""

    def __init__(self, script: str, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, script, *args], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=1)
        hello = self._read()
        if "error" in hello:
            self.close()
            raise WorkerError(hello["error"])
        self.info = hello

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise WorkerError(f"worker exited (code {self.proc.wait()})")
        return json.loads(line)

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.wait(timeout=30)


def serve(setup: Callable[[], tuple[dict, Callable[[dict], dict]]]) -> None:
    """Worker side: run ``setup()`` -> (hello info, handler), then answer requests until EOF."""
    channel = sys.stdout
    sys.stdout = sys.stderr  # anything else printed must not reach the protocol channel

    def send(msg: dict) -> None:
        channel.write(json.dumps(msg) + "\n")
        channel.flush()

    try:
        info, handle = setup()
    except Exception as e:  # e.g. ImportError: tell the parent instead of a bare traceback
        send({"error": f"{type(e).__name__}: {e}"})
        return
    send(info)
    for line in sys.stdin:
        if line.strip():
            send(handle(json.loads(line)))
