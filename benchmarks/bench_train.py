"""Benchmark: whole networks, numcnn vs PyTorch (and onnxruntime), as a user runs them.

Run from the repository root (``numcnn bench train`` runs the same)::

    .venv/bin/python benchmarks/bench_train.py                     # every table, 2 threads
    .venv/bin/python benchmarks/bench_train.py --only train,infer --rounds 5
    .venv/bin/python benchmarks/bench_train.py --threads 2,1 --only train

Tables (float32):
- train: one training step (zero_grad, forward, loss, backward, Adam step) of the seed
  article's CNN (batch 64, 3x28x28, 10 classes) and of the U-Net
  UNet(1, 3, base 16, depth 3, no batch norm; batch 8, 1x64x64, per-pixel cross-entropy);
- infer: UNet(1, 2, 16, 3) with batch norm in eval mode, one 1x512x512 image: numcnn under
  ``no_grad``, PyTorch eager under ``torch.no_grad()``, onnxruntime on numcnn's ONNX export;
- memory: peak memory of each training step (see ``--memory`` below for the method);
- scaling: U-Net train step and inference at 64..512 pixels, batch 1, 8, 32: time and peak
  memory (combinations above a pixel budget are skipped, so the run stays a few minutes).

How it times, so that the numbers are what a user's script gets: each engine runs in its own
worker process, which imports NumPy *first* (as every user script does) and then numcnn, and
sizes every thread pool to the thread count under test.  The parent asks the workers in turn
for one round of a case (a sustained loop of steps, 25 for the training steps), alternating
which engine goes first, so that machine noise falls on all alike.  Tables show the median
step time over all rounds, +- half the interquartile range of the steps (in % of the
median), and the ratio numcnn / other with its range over the rounds (ratio of the round
medians).  Below 1, numcnn is faster.

Memory (``--memory``): for each engine one fresh process runs the cases one after the
other: two warm-up steps, then Linux's peak-RSS counter is reset (``/proc/self/clear_refs``)
and three steps run; the peak is VmHWM minus the resident memory just before them, i.e.
what one step needs on top of the model and data.  Both engines' processes run with
``MALLOC_MMAP_THRESHOLD_=65536``, so that memory a step frees goes back to the OS at once
and the baseline is not inflated by allocator caches.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from time import perf_counter, sleep

from _timing import SETTLE, Worker, WorkerError, quantiles, serve, set_threads, thread_env

SEED = dict(model="seed", kind="train", N=64, C=3, H=28, classes=10)
UNET = dict(model="unet", kind="train", N=8, C=1, H=64, classes=3)
UNET_BN = dict(model="unet_bn", kind="infer", N=1, C=1, H=512, classes=2)
MAIN = {"seed CNN train N=64 3x28x28": SEED,
        "U-Net train   N=8  1x64x64": UNET,
        "U-Net BN infer N=1 1x512x512": UNET_BN}

SIDES, BATCHES = (64, 128, 256, 512), (1, 8, 32)
# pixel budgets (N*H*W) of the scaling table: about 1.5 s per numcnn step at most
TRAIN_PIXELS, INFER_PIXELS = 8 * 256 * 256, 8 * 512 * 512


def scaling_cases() -> dict[str, dict]:
    cases = {}
    for kind, model, budget in (("train", "unet", TRAIN_PIXELS),
                                ("infer", "unet_bn", INFER_PIXELS)):
        for side in SIDES:
            for n in BATCHES:
                if n * side * side <= budget:
                    cases[f"{kind} {side:>3}px N={n:<2}"] = dict(
                        model=model, kind=kind, N=n, C=1, H=side,
                        classes=3 if kind == "train" else 2)
    return cases


def all_cases() -> dict[str, dict]:
    return {**MAIN, **scaling_cases()}


def _data(spec: dict):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((spec["N"], spec["C"], spec["H"], spec["H"])).astype(np.float32)
    shape = (spec["N"],) if spec["model"] == "seed" else (spec["N"], spec["H"], spec["H"])
    return x, rng.integers(0, spec["classes"], shape)


def _numcnn_model(spec: dict):
    from numcnn.models import SeedCNN, UNet

    if spec["model"] == "seed":
        return SeedCNN(spec["C"], spec["classes"], spec["H"], rng=0)
    return UNet(spec["C"], spec["classes"], 16, 3, batchnorm=spec["model"] == "unet_bn", rng=0)


def numcnn_step(spec: dict):
    import numcnn
    from numcnn import nn, optim

    model = _numcnn_model(spec)
    x, y = _data(spec)
    if spec["kind"] == "infer":
        model.eval()

        def infer():
            with numcnn.no_grad():
                model(x)
        return infer
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        opt.step()
    return step


def torch_step(spec: dict):
    import torch
    import torch_models

    if spec["model"] == "seed":
        model = torch_models.SeedCNN(spec["C"], spec["classes"], spec["H"])
    else:
        model = torch_models.UNet(spec["C"], spec["classes"], 16, 3,
                                  batchnorm=spec["model"] == "unet_bn")
    x, y = (torch.from_numpy(a) for a in _data(spec))
    if spec["kind"] == "infer":
        model.eval()

        def infer():
            with torch.no_grad():
                model(x)
        return infer
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def ort_step(spec: dict, threads: int):
    """onnxruntime on numcnn's ONNX export of the same (eval-mode) model."""
    import onnxruntime as ort

    from numcnn.onnx import to_model

    x, _ = _data(spec)
    proto = to_model(_numcnn_model(spec).eval(), x.shape)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(proto.SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"input": x})


def _import_engine(engine: str) -> None:
    import numpy  # noqa: F401  first, as in a user's script: numcnn must be fast anyway

    if engine == "torch":
        import torch  # noqa: F401  (so that set_threads sees it)
    else:
        import numcnn  # noqa: F401


def _make(engine: str, spec: dict, threads: int):
    if engine == "ort":
        return ort_step(spec, threads)
    return (numcnn_step if engine == "numcnn" else torch_step)(spec)


def worker_main(engine: str, threads: int, names: list[str], target: float) -> None:
    def setup():
        _import_engine(engine)
        if engine == "ort":
            import onnxruntime  # noqa: F401  (ImportError -> not measured)
        set_threads(threads)
        cases = all_cases()
        fns, steps = {}, {}
        for name in names:
            fn = _make(engine, cases[name], threads)
            fn()  # warm-up: numba loads its cache, pools start, allocators settle
            t0 = perf_counter()
            fn()
            steps[name] = max(3, min(25, round(target / (perf_counter() - t0))))
            fns[name] = fn

        def handle(req: dict) -> dict:
            fn, ts = fns[req["case"]], []
            for _ in range(steps[req["case"]]):
                t = perf_counter()
                fn()
                ts.append(perf_counter() - t)
            return {"times": ts}
        return {"engine": engine}, handle
    serve(setup)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_main(engine: str, threads: int, names: list[str]) -> None:
    """One process: for each case, the peak resident memory of a step over the baseline."""
    def setup():
        _import_engine(engine)
        set_threads(threads)
        cases = all_cases()

        def handle(req: dict) -> dict:
            fn = _make(engine, cases[req["case"]], threads)
            fn()
            fn()
            gc.collect()
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM (the peak) to the current VmRSS
            base = _status_kb("VmRSS")
            for _ in range(3):
                fn()
            peak = _status_kb("VmHWM") - base
            del fn
            gc.collect()
            return {"peak_mb": peak / 1024}
        return {"engine": engine}, handle
    serve(setup)


ENGINES = ("numcnn", "torch", "ort")


def _workers(mode: str, threads: int, names: list[str], engines, extra=()) -> dict:
    env = thread_env(threads)
    if mode == "--memory":
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    workers = {}
    for engine in engines:
        mine = [n for n in names if engine != "ort" or all_cases()[n]["kind"] == "infer"]
        if not mine:
            continue
        try:
            workers[engine] = (Worker(__file__, [mode, engine, "--threads", str(threads),
                                                 "--cases", "|".join(mine), *extra], env),
                               mine)
        except WorkerError as e:
            if engine == "numcnn":
                raise
            print(f"({engine} not measured: {e})", file=sys.stderr)
    return workers


def measure_times(threads: int, rounds: int, names: list[str], target: float) -> dict:
    """{engine: {case: [[step times of round 0], [round 1], ...]}}"""
    workers = _workers("--worker", threads, names, ENGINES, ["--target", str(target)])
    samples = {e: {n: [] for n in mine} for e, (_, mine) in workers.items()}
    try:
        for r in range(rounds):
            for name in names:
                order = list(workers) if r % 2 == 0 else list(reversed(workers))
                for engine in order:
                    w, mine = workers[engine]
                    if name in mine:
                        samples[engine][name].append(w.ask(case=name)["times"])
                        sleep(SETTLE[engine])
    finally:
        for w, _ in workers.values():
            w.close()
    return samples


def measure_memory(threads: int, names: list[str]) -> dict:
    """{engine: {case: peak MB}}; each engine's cases run in one fresh process."""
    out = {}
    for engine, (w, mine) in _workers("--memory", threads, names, ("numcnn", "torch")).items():
        try:
            out[engine] = {n: w.ask(case=n)["peak_mb"] for n in mine}
        finally:
            w.close()
    return out


def _time_cell(rounds: list[list[float]]) -> tuple[float, str]:
    q1, m, q3 = quantiles([t for r in rounds for t in r])
    return m, f"{m * 1e3:>9.1f} +-{(q3 - q1) / 2 / m * 100:>3.0f}%"


def _ratio_cell(mine: list[list[float]], other: list[list[float]]) -> str:
    ratios = [quantiles(a)[1] / quantiles(b)[1] for a, b in zip(mine, other)]
    med = quantiles([t for r in mine for t in r])[1] / quantiles([t for r in other for t in r])[1]
    return f"{med:>6.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def time_table(names: list[str], samples: dict) -> list[str]:
    others = [e for e in ("torch", "ort") if e in samples]
    head = f"{'case':<30}{'numcnn ms':>16}"
    for e in others:
        label = "PyTorch" if e == "torch" else "onnxrt"
        head += f"{label + ' ms':>16}{'ratio (range)':>20}"
    lines = [head]
    for name in names:
        row = f"{name:<30}" + _time_cell(samples["numcnn"][name])[1]
        for e in others:
            if name in samples[e]:
                row += _time_cell(samples[e][name])[1]
                row += f"{_ratio_cell(samples['numcnn'][name], samples[e][name]):>20}"
            else:
                row += f"{'-':>16}{'':>20}"
        lines.append(row)
    return lines


def memory_table(names: list[str], mem: dict) -> list[str]:
    lines = [f"{'case':<30}{'numcnn MB':>12}{'PyTorch MB':>12}{'ratio':>8}"]
    for name in names:
        a, b = mem.get("numcnn", {}).get(name), mem.get("torch", {}).get(name)
        row = f"{name:<30}{a:>12.1f}" + (f"{b:>12.1f}{a / b:>8.2f}" if b else f"{'-':>12}")
        lines.append(row)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="2", help="comma-separated thread counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--target", type=float, default=2.0,
                        help="seconds per round and case (25 steps at most, 3 at least)")
    parser.add_argument("--only", default="train,infer,memory,scaling",
                        help="tables to print: train, infer, memory, scaling")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--memory", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--cases", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker or args.memory:
        names = args.cases.split("|")
        if args.worker:
            worker_main(args.worker, int(args.threads), names, args.target)
        else:
            memory_main(args.memory, int(args.threads), names)
        return 0
    only = set(args.only.split(","))
    if not only <= {"train", "infer", "memory", "scaling"}:
        parser.error(f"--only: unknown table in {args.only!r}")
    train = [n for n, s in MAIN.items() if s["kind"] == "train"]
    infer = [n for n, s in MAIN.items() if s["kind"] == "infer"]
    scaling = list(scaling_cases())
    print(f"numcnn bench: numpy imported first in every worker; load before: "
          f"{os.getloadavg()[0]:.2f}")
    for threads in [int(t) for t in args.threads.split(",")]:
        timed = (train if "train" in only else []) + (infer if "infer" in only else [])
        if timed:
            samples = measure_times(threads, args.rounds, timed, args.target)
            print(f"\n{threads} thread(s): median ms per step +- half IQR; ratio = numcnn / "
                  f"other, (min-max over {args.rounds} rounds)")
            print("\n".join(time_table(timed, samples)), flush=True)
        if "memory" in only:
            print(f"\n{threads} thread(s): peak memory of one step above the process's "
                  f"resident memory before it (MB)")
            print("\n".join(memory_table(train + infer, measure_memory(threads, train + infer))),
                  flush=True)
        if "scaling" in only:
            samples = measure_times(threads, max(2, args.rounds - 1), scaling, args.target / 2)
            mem = measure_memory(threads, scaling)
            print(f"\n{threads} thread(s): scaling, U-Net train step (no BN) and BN inference "
                  f"(skipped: N*H*W above {TRAIN_PIXELS} train / {INFER_PIXELS} infer)")
            rows = time_table(scaling, {e: s for e, s in samples.items() if e != "ort"})
            mrows = memory_table(scaling, mem)
            print("\n".join(r + m[30:] for r, m in zip(rows, mrows)), flush=True)
    print(f"\nload after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
