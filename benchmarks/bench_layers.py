"""Benchmark: float32 conv2d and max-pool forward+backward, numcnn vs PyTorch (a report).

Run from the repository root::

    .venv/bin/python benchmarks/bench_layers.py                 # threads 2 then 1, ~1 minute
    .venv/bin/python benchmarks/bench_layers.py --threads 2 --rounds 15
    .venv/bin/python benchmarks/bench_layers.py --quick         # a rough look in ~20 s
    .venv/bin/python benchmarks/bench_layers.py --baseline /tmp/old  # before/after a change

For each thread count, numcnn and PyTorch each run in a worker process of their own, started
with every thread pool (numba, OpenBLAS, MKL, OpenMP) sized to that count.  The parent asks
them in turn for one round of timings per case, alternating which engine goes first, so that
machine noise falls on both; the table shows medians over all the calls of all rounds.
Between rounds the parent pauses until the last worker's threads have stopped spinning
(``SETTLE``), and it reports how much CPU *other* processes used meanwhile: above ~10%,
rerun when the machine is quiet, because a multi-threaded GEMM that must share its cores
slows down many-fold (OpenBLAS threads busy-wait for each other).

Columns
-------
ms            median time of forward + backward (fwd / bwd medians alongside)
GFLOP/s       conv: 3 GEMMs of 2*N*F*Ho*Wo*C*kh*kw flops each (forward, dW, dX) per time
%gemm         that rate as a fraction of this machine's float32 GEMM speed (numpy ``@`` on
              a large square matrix, same thread count): how close to the BLAS ceiling we are
ratio         numcnn time / PyTorch time (below 1: numcnn is faster)
new/base      numcnn time / the --baseline numcnn's time
+-            half the interquartile range of the per-call times, in % of the median

PyTorch runs ``y = op(x)`` then ``y.backward(g)`` with x and the weights requiring grad
(its default CPU paths, NCHW, its default OpenMP wait policy); numcnn runs the public
``numcnn.functional`` forward/backward pair (validation included).  Both workers import
NumPy first, as a user's script does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from time import perf_counter

from _timing import (
    SETTLE,
    Worker,
    WorkerError,
    cpu_busy_seconds,
    quantiles,
    serve,
    set_threads,
    thread_env,
)


@dataclass(frozen=True)
class Case:
    kind: str            # "conv" or "maxpool"
    N: int
    C: int
    H: int
    W: int
    k: int
    F: int = 0           # conv: output channels
    stride: int = 1
    padding: int = 0

    @property
    def out_hw(self) -> tuple[int, int]:
        s = self.stride if self.kind == "conv" else self.k
        return ((self.H + 2 * self.padding - self.k) // s + 1,
                (self.W + 2 * self.padding - self.k) // s + 1)

    @property
    def name(self) -> str:
        if self.kind == "maxpool":
            return f"maxpool {self.k}x{self.k} N{self.N} C{self.C} {self.H}x{self.W}"
        s = f" s{self.stride}" if self.stride != 1 else ""
        return (f"conv N{self.N} {self.C}->{self.F} {self.H}x{self.W} "
                f"k{self.k}{s} p{self.padding}")

    @property
    def flops(self) -> float:
        """Forward + backward: three GEMMs (Y, dW, dX) of 2*N*F*Ho*Wo*C*kh*kw each; 0 for pools."""
        if self.kind != "conv":
            return 0.0
        Ho, Wo = self.out_hw
        return 3 * 2.0 * self.N * self.F * Ho * Wo * self.C * self.k * self.k


CASES = [
    Case("conv", N=64, C=3, F=32, H=28, W=28, k=3, padding=1),
    Case("conv", N=64, C=32, F=64, H=14, W=14, k=3, padding=1),
    Case("conv", N=8, C=32, F=32, H=64, W=64, k=3, padding=1),
    Case("conv", N=8, C=128, F=128, H=16, W=16, k=3, padding=1),
    Case("conv", N=32, C=16, F=32, H=32, W=32, k=3, stride=2, padding=1),
    Case("maxpool", N=64, C=32, H=28, W=28, k=2),
]
GEMM_N = 2048  # the machine's float32 GEMM speed is measured on (GEMM_N x GEMM_N) @ (same)


def make_arrays(case: Case):
    """float32 inputs, the same in both workers: x, weights, bias and the upstream gradient."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((case.N, case.C, case.H, case.W), dtype=np.float32)
    Ho, Wo = case.out_hw
    if case.kind == "maxpool":
        return x, None, None, rng.standard_normal((case.N, case.C, Ho, Wo), dtype=np.float32)
    w = rng.standard_normal((case.F, case.C, case.k, case.k), dtype=np.float32)
    w *= 1 / (case.C * case.k * case.k) ** 0.5
    b = rng.standard_normal(case.F, dtype=np.float32)
    g = rng.standard_normal((case.N, case.F, Ho, Wo), dtype=np.float32)
    return x, w, b, g


# ------------------------------------------------------------------------------ the two workers
def numcnn_step(case: Case):
    import numcnn.functional as F

    x, w, b, g = make_arrays(case)
    if case.kind == "maxpool":
        def step():
            t0 = perf_counter()
            _, cache = F.max_pool2d_forward(x, case.k)
            t1 = perf_counter()
            F.max_pool2d_backward(g, cache)
            return t0, t1, perf_counter()
    else:
        def step():
            t0 = perf_counter()
            _, cache = F.conv2d_forward(x, w, b, stride=case.stride, padding=case.padding)
            t1 = perf_counter()
            F.conv2d_backward(g, cache)
            return t0, t1, perf_counter()
    return step


def torch_step(case: Case):
    import torch
    import torch.nn.functional as tf

    x, w, b, g = (None if a is None else torch.from_numpy(a) for a in make_arrays(case))
    x.requires_grad_(True)
    if case.kind == "maxpool":
        def step():
            x.grad = None
            t0 = perf_counter()
            y = tf.max_pool2d(x, case.k)
            t1 = perf_counter()
            y.backward(g)
            return t0, t1, perf_counter()
    else:
        w.requires_grad_(True)
        b.requires_grad_(True)

        def step():
            x.grad = w.grad = b.grad = None  # no accumulation into old gradients
            t0 = perf_counter()
            y = tf.conv2d(x, w, b, stride=case.stride, padding=case.padding)
            t1 = perf_counter()
            y.backward(g)
            return t0, t1, perf_counter()
    return step


def gemm_gflops(reps: int = 3) -> float:
    """This process's float32 GEMM speed: numpy ``@`` on GEMM_N-square matrices."""
    import numpy as np

    rng = np.random.default_rng(1)
    a = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    b = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    times = []
    for _ in range(reps):
        t0 = perf_counter()
        a @ b
        times.append(perf_counter() - t0)
    return 2.0 * GEMM_N**3 / quantiles(times)[1] / 1e9


def worker_main(engine: str, threads: int, target: float, cases: list[Case]) -> None:
    def setup():
        import numpy  # noqa: F401  first, as in a user's script
        if engine == "numcnn":
            import numcnn  # noqa: F401  (calms the thread pools: numcnn/_threads.py)
            make = numcnn_step
        else:
            import torch  # noqa: F401
            make = torch_step
        set_threads(threads)
        steps, reps = [], []
        for case in cases:
            step = make(case)
            for _ in range(2):  # warm up: numba compiles (or loads its cache), pools start
                t0, _, t2 = step()
            steps.append(step)
            # enough calls that one round of this case takes about `target` seconds
            reps.append(max(1, min(50, round(target / (t2 - t0)))))
        if engine == "numcnn":
            gemm_gflops(1)
        info = {"engine": engine, "threads": threads}
        if engine == "numcnn":
            info["from"] = os.path.dirname(os.path.dirname(sys.modules["numcnn"].__file__))
        if engine == "torch":
            info["torch"] = sys.modules["torch"].__version__

        def handle(req: dict) -> dict:
            # "cpu": this process's CPU time, so the parent can tell our load from others'
            if req["cmd"] == "ping":
                return {"cpu": time.process_time()}
            if req["cmd"] == "gemm":
                return {"gflops": gemm_gflops(), "cpu": time.process_time()}
            i = req["case"]
            fwd, bwd = [], []
            for _ in range(reps[i]):
                t0, t1, t2 = steps[i]()
                fwd.append(t1 - t0)
                bwd.append(t2 - t1)
            return {"fwd": fwd, "bwd": bwd, "cpu": time.process_time()}

        return info, handle

    serve(setup)


# ---------------------------------------------------------------------------------- the parent
def measure(threads: int, rounds: int, target: float, cases: list[Case], with_torch: bool,
            baseline: str | None = None):
    env = thread_env(threads)
    common = ["--threads", str(threads), "--target", str(target),
              "--cases", ",".join(str(CASES.index(c)) for c in cases)]
    workers = {"numcnn": Worker(__file__, ["--worker", "numcnn", *common], env)}
    if baseline:  # the numcnn package found in that directory, e.g. an older checkout
        base_env = dict(env, PYTHONPATH=os.pathsep.join(
            p for p in (os.path.abspath(baseline), env.get("PYTHONPATH")) if p))
        workers["baseline"] = Worker(__file__, ["--worker", "numcnn", *common], base_env)
        if workers["baseline"].info["from"] == workers["numcnn"].info["from"]:
            raise SystemExit(f"--baseline {baseline}: no numcnn package there")
    torch_note = "not requested (--no-torch)"
    if with_torch:
        try:
            workers["torch"] = Worker(__file__, ["--worker", "torch", *common], env)
            torch_note = "torch " + workers["torch"].info["torch"]
        except WorkerError as e:
            torch_note = f"not measured ({e})"
    samples = {(eng, i): {"fwd": [], "bwd": [], "tot": []}
               for eng in workers for i in range(len(cases))}
    gemm = []
    cpu = {eng: [w.ask(cmd="ping")["cpu"]] * 2 for eng, w in workers.items()}  # first, last
    t0, busy0 = time.perf_counter(), cpu_busy_seconds()
    try:
        for r in range(rounds):
            res = workers["numcnn"].ask(cmd="gemm")
            gemm.append(res["gflops"])
            cpu["numcnn"][1] = res["cpu"]
            time.sleep(SETTLE["numcnn"])
            for i in range(len(cases)):
                order = list(workers) if r % 2 == 0 else list(workers)[::-1]
                for eng in order:
                    res = workers[eng].ask(cmd="run", case=i)
                    cpu[eng][1] = res["cpu"]
                    s = samples[eng, i]
                    s["fwd"] += res["fwd"]
                    s["bwd"] += res["bwd"]
                    s["tot"] += [f + b for f, b in zip(res["fwd"], res["bwd"])]
                    time.sleep(SETTLE[eng])  # let this worker's threads stop spinning
    finally:
        for w in workers.values():
            w.close()
    # how busy the machine was with *other* processes while we measured (0 = quiet)
    others = None
    busy1 = cpu_busy_seconds()
    if busy0 is not None and busy1 is not None:
        ours = sum(last - first for first, last in cpu.values())
        wall = time.perf_counter() - t0
        others = max(0.0, (busy1 - busy0 - ours) / (wall * os.cpu_count()))
    if baseline:
        torch_note += f"; baseline: numcnn from {workers['baseline'].info['from']}"
    return samples, quantiles(gemm)[1], torch_note, list(workers), others


def report(threads, cases, samples, gemm, torch_note, engines, others) -> list[dict]:
    print(f"\n== {threads} thread{'s' if threads > 1 else ''}: machine float32 GEMM "
          f"({GEMM_N}^3, numpy @) {gemm:.1f} GFLOP/s; PyTorch: {torch_note}")
    if others is not None:
        warn = ("  <- the machine was busy: rerun when quiet (multi-threaded BLAS slows down "
                "many-fold when it must share cores)" if others > 0.1 else "")
        print(f"   other processes used {100 * others:.0f}% of the CPUs meanwhile{warn}")
    has_torch = "torch" in engines
    head = (f"{'case':34s} {'numcnn ms':>9s} {'(fwd / bwd)':>15s} {'+-':>4s} {'GFLOP/s':>7s} "
            f"{'%gemm':>5s}")
    if has_torch:
        head += f" | {'torch ms':>8s} {'(fwd / bwd)':>15s} {'+-':>4s} {'GFLOP/s':>7s} {'ratio':>6s}"
    if "baseline" in engines:
        head += f" | {'base ms':>8s} {'(fwd / bwd)':>15s} {'new/base':>8s}"
    print(head)
    print("-" * len(head))
    engines = [e for e in ("numcnn", "torch", "baseline") if e in engines]
    rows = []
    for i, case in enumerate(cases):
        row = {"case": case.name, "threads": threads, "gemm_gflops": gemm, "others": others}
        line = f"{case.name:34s}"
        for eng in engines:
            s = samples[eng, i]
            q1, med, q3 = quantiles(s["tot"])
            fwd, bwd = quantiles(s["fwd"])[1], quantiles(s["bwd"])[1]
            rate = case.flops / med / 1e9
            row[eng] = {"ms": med * 1e3, "fwd_ms": fwd * 1e3, "bwd_ms": bwd * 1e3,
                        "gflops": rate, "calls": len(s["tot"])}
            split = f"({fwd * 1e3:.2f} / {bwd * 1e3:.2f})"
            spread = f"{50 * (q3 - q1) / med:3.0f}%"
            rate_s = f"{rate:7.1f}" if case.flops else f"{'-':>7s}"
            if eng == "numcnn":
                pct = f"{100 * rate / gemm:4.0f}%" if case.flops else f"{'-':>5s}"
                line += f" {med * 1e3:9.2f} {split:>15s} {spread:>4s} {rate_s} {pct}"
            elif eng == "torch":
                ratio = row["numcnn"]["ms"] / row["torch"]["ms"]
                row["ratio"] = ratio
                line += f" | {med * 1e3:8.2f} {split:>15s} {spread:>4s} {rate_s} {ratio:5.2f}x"
            else:
                speedup = row["numcnn"]["ms"] / row[eng]["ms"]
                row["vs_baseline"] = speedup
                line += f" | {med * 1e3:8.2f} {split:>15s} {speedup:7.2f}x"
        print(line)
        rows.append(row)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="2,1", help="comma-separated thread counts (2,1)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (7; quick 3)")
    p.add_argument("--quick", action="store_true", help="fewer rounds and calls: a rough look")
    p.add_argument("--only", default="", help="run only the cases whose name contains this")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--baseline", metavar="DIR",
                   help="also time the numcnn package in DIR (e.g. `git archive HEAD | tar -x "
                        "-C DIR`) to show before/after")
    # worker mode (internal): the parent starts this script again with these
    p.add_argument("--worker", choices=["numcnn", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--target", type=float, default=0.1, help=argparse.SUPPRESS)
    p.add_argument("--cases", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        cases = [CASES[int(i)] for i in args.cases.split(",")]
        worker_main(args.worker, int(args.threads), args.target, cases)
        return

    rounds = args.rounds or (3 if args.quick else 7)
    target = 0.04 if args.quick else 0.1  # seconds per case per round per engine
    cases = [c for c in CASES if args.only in c.name]
    if not cases:
        p.error(f"no case name contains {args.only!r}")
    load = os.getloadavg()[0]
    print(f"numcnn layer benchmark: {len(cases)} cases, {rounds} interleaved rounds, "
          f"{os.cpu_count()} CPUs, load average {load:.2f}")
    if load > 0.5:
        print("  note: the machine is busy; timings will be noisy (compare ratios, or rerun)")
    results = []
    for t in (int(s) for s in args.threads.split(",")):
        res = measure(t, rounds, target, cases, not args.no_torch, args.baseline)
        results += report(t, cases, *res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
