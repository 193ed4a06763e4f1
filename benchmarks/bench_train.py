"""Benchmark: one training step of whole networks, numcnn vs PyTorch (a report, not a test).

Run from the repository root::

    .venv/bin/python benchmarks/bench_train.py                # threads 2 then 1
    .venv/bin/python benchmarks/bench_train.py --threads 2 --rounds 10

Models (float32, Adam, cross-entropy):
- seed CNN: the seed article's network, batch 64, 3x28x28, 10 classes;
- U-Net: UNet(1, 3, base_channels=16, depth=3, BatchNorm, transposed-conv up), batch 8,
  1x64x64, 3 classes, per-pixel cross-entropy.

A step is zero_grad, forward, loss, backward, optimizer step.  Each engine runs in its own
worker process with every thread pool sized to the thread count under test; the parent asks
them in turn for one round of timed steps, alternating which goes first, and reports the
median step time and the ratio numcnn / PyTorch (below 1: numcnn is faster).
"""

from __future__ import annotations

import argparse
import sys
from time import perf_counter, sleep

from _timing import SETTLE, Worker, WorkerError, quantiles, serve, set_threads, thread_env

MODELS = {
    "seed CNN  N=64 3x28x28": dict(kind="seedcnn", N=64, C=3, H=28, classes=10),
    "U-Net     N=8  1x64x64": dict(kind="unet", N=8, C=1, H=64, classes=3),
}


def _data(spec: dict):
    import numpy as np  # here, not at the top: the numcnn worker imports numcnn first

    rng = np.random.default_rng(0)
    x = rng.standard_normal((spec["N"], spec["C"], spec["H"], spec["H"])).astype(np.float32)
    shape = (spec["N"],) if spec["kind"] == "seedcnn" else (spec["N"], spec["H"], spec["H"])
    return x, rng.integers(0, spec["classes"], shape)


def numcnn_step(spec: dict):
    from numcnn import nn, optim
    from numcnn.models import SeedCNN, UNet

    model = (SeedCNN(spec["C"], spec["classes"], spec["H"], rng=0) if spec["kind"] == "seedcnn"
             else UNet(spec["C"], spec["classes"], 16, 3, rng=0))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = _data(spec)

    def step():
        opt.zero_grad()
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        opt.step()
    return step


def torch_step(spec: dict):
    import torch
    import torch_models

    model = (torch_models.SeedCNN(spec["C"], spec["classes"], spec["H"])
             if spec["kind"] == "seedcnn" else torch_models.UNet(spec["C"], spec["classes"], 16, 3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = (torch.from_numpy(a) for a in _data(spec))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def worker_main(engine: str, threads: int, steps: int) -> None:
    def setup():
        make = numcnn_step if engine == "numcnn" else torch_step
        if engine == "torch":
            import torch  # noqa: F401  (so set_threads sees it)
        else:  # before NumPy, so that numcnn's thread settings (OpenBLAS's spin) apply
            import numcnn  # noqa: F401
        set_threads(threads)
        fns = {name: make(spec) for name, spec in MODELS.items()}
        for fn in fns.values():  # warm-up: numba compiles, allocators settle
            fn()
            fn()

        def handle(req: dict) -> dict:
            times = {}
            for name, fn in fns.items():
                ts = []
                for _ in range(steps):
                    t = perf_counter()
                    fn()
                    ts.append(perf_counter() - t)
                times[name] = ts
            return times
        return {"engine": engine}, handle
    serve(setup)


def measure(threads: int, rounds: int, steps: int) -> dict[str, dict[str, list[float]]]:
    env = thread_env(threads)
    args = ["--threads", str(threads), "--steps", str(steps)]
    workers = {"numcnn": Worker(__file__, ["--worker", "numcnn", *args], env)}
    try:
        workers["torch"] = Worker(__file__, ["--worker", "torch", *args], env)
    except WorkerError as e:
        print(f"(PyTorch not measured: {e})")
    samples = {e: {name: [] for name in MODELS} for e in workers}
    try:
        for r in range(rounds):
            order = list(workers) if r % 2 == 0 else list(reversed(workers))
            for engine in order:
                for name, ts in workers[engine].ask(round=r).items():
                    samples[engine][name] += ts
                sleep(SETTLE[engine])  # let this worker's threads stop spinning
    finally:
        for w in workers.values():
            w.close()
    return samples


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="2,1", help="comma-separated thread counts")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--worker", choices=["numcnn", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker, int(args.threads), args.steps)
        return
    for threads in [int(t) for t in args.threads.split(",")]:
        samples = measure(threads, args.rounds, args.steps)
        print(f"\n{threads} thread(s): median ms per training step (+- half IQR)")
        print(f"{'model':<26}{'numcnn':>16}{'PyTorch':>16}{'ratio':>8}")
        for name in MODELS:
            row, med = f"{name:<26}", {}
            for engine in ("numcnn", "torch"):
                if engine in samples:
                    q1, m, q3 = quantiles(samples[engine][name])
                    med[engine] = m
                    row += f"{m * 1e3:>9.1f} +-{(q3 - q1) / 2 / m * 100:>3.0f}%"
                else:
                    row += f"{'-':>16}"
            if len(med) == 2:
                row += f"{med['numcnn'] / med['torch']:>8.2f}"
            print(row, flush=True)


if __name__ == "__main__":
    sys.exit(main())
