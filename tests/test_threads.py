"""numcnn's thread settings apply whichever of NumPy and numcnn a script imports first."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# After a GEMM, how much CPU time the process uses while the main thread sleeps: OpenBLAS's
# idle workers spin ~25 ms of it with the default timeout, ~0.1 ms with numcnn's.
PROBE = textwrap.dedent("""
    import ctypes, json, sys, time
    import numpy as np
    a = np.ones((600, 600), np.float32)
    a @ a                       # OpenBLAS's workers have started before numcnn is imported
    import numcnn
    from numcnn._threads import _loaded_openblas
    libs = [ctypes.CDLL(p) for p in _loaded_openblas()]
    spins = []
    for _ in range(3):
        a @ a
        t0 = time.process_time()
        time.sleep(0.2)
        spins.append(time.process_time() - t0)
    print(json.dumps({"timeouts": [lib.openblas_thread_timeout() for lib in libs],
                      "spin": min(spins)}))
""")


def _probe(**env):
    env = {**{k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"},
           "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "2", **env}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True).stdout
    import json
    return json.loads(out.splitlines()[-1])


def test_openblas_workers_stop_spinning_when_numpy_was_imported_first():
    got = _probe()
    assert got["timeouts"] and set(got["timeouts"]) == {12}, got
    assert got["spin"] < 0.005, f"OpenBLAS's idle workers still spin: {got}"


def test_a_timeout_the_user_set_is_kept():
    assert set(_probe(OPENBLAS_THREAD_TIMEOUT="20")["timeouts"]) == {20}
