"""numcnn's thread settings apply whichever of NumPy and numcnn a script imports first."""

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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


# Page faults per training step of a small seed CNN (batch 32): a step allocates and frees
# the same few-megabyte arrays every time.
FAULTS = textwrap.dedent("""
    import json, resource
    import numpy as np
    import numcnn
    from numcnn import nn, optim
    from numcnn.models import SeedCNN
    model = SeedCNN(3, 10, 28, rng=0)
    x = np.random.default_rng(0).standard_normal((32, 3, 28, 28), dtype=np.float32)
    y = np.arange(32) % 10
    opt, loss = optim.SGD(model.parameters(), lr=0.01), nn.CrossEntropyLoss()
    def step():
        opt.zero_grad(); loss(model(x), y); model.backward(loss.backward()); opt.step()
    for _ in range(3):
        step()
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    print(json.dumps({"faults_per_step": faults / 5}))
""")


def _faults(**env):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")},
           "PYTHONPATH": str(ROOT), **env}
    out = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True,
                         text=True, check=True).stdout
    import json
    return json.loads(out.splitlines()[-1])["faults_per_step"]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_a_training_step_reuses_freed_memory_and_a_users_threshold_is_kept():
    # numcnn's thresholds: the step's arrays come from memory freed by the step before
    assert _faults() < 100
    # a threshold set in the environment (here glibc's own default trim threshold) is left
    # as it is: the step's arrays are fresh pages again, about 16,900 faults (69 MB)
    assert _faults(MALLOC_TRIM_THRESHOLD_="131072") > 2000
