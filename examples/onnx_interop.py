# %% [markdown]
# # ONNX both ways: a numcnn model in onnxruntime, a PyTorch model trained in numcnn
#
# ONNX is a file format for computation graphs: nodes (Conv, Relu, Gemm ...) with their
# attributes, the tensors that connect them, and the weights as initializers.  Every runtime
# reads it, so it is the way out of numcnn (`numcnn.onnx.export`) and the way in
# (`numcnn.onnx.load`, docs/onnx.md).
#
# Part 1, out.  A SeedCNN is trained for a moment on scikit-learn's 8x8 digits, exported,
# and run by onnxruntime: the same logits (the largest relative difference is printed), the
# same test accuracy, on a batch size other than the one exported.  Then both engines time
# the same inference batches, for the SeedCNN and for a U-Net (`onnx_timings.png`):
# onnxruntime is a compiled engine tuned for inference, numcnn is NumPy and a handful of
# numba loops, so expect numcnn to be several times slower; the ratio is the point of the
# figure, not a verdict (the numbers are one run's on whatever machine runs it).
#
# Part 2, in.  A small PyTorch CNN (with batch norm) is exported by `torch.onnx.export` and
# loaded by numcnn.  Its outputs match PyTorch's; one SGD step taken by numcnn's
# hand-written backward (the reverse walk of the graph) leaves the same parameters as
# PyTorch's autograd; then numcnn goes on training it on the digits
# (`pytorch_in_numcnn.png`, the loss per step).  Part 2 needs PyTorch (skipped without).
#
# Run: `python examples/onnx_interop.py` (about 10 s on 2 cores; `--quick`: a few seconds).

# %%
"""ONNX both ways: a numcnn model in onnxruntime, a PyTorch model trained in numcnn."""

from __future__ import annotations

import argparse
import io as _io
import os
import time
import warnings

import numpy as np
from matplotlib.figure import Figure

from numcnn import data, nn, optim, train
from numcnn import onnx as nx
from numcnn.datasets import load_digits
from numcnn.models import SeedCNN, UNet
from numcnn.nn.module import no_grad
from numcnn.notebook import run_example


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b|."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def best_time(fn, repeats: int) -> float:
    """The fastest of ``repeats`` calls, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


# %% [markdown]
# ## Part 1: numcnn -> ONNX -> onnxruntime

# %%
def part_one(out: str, quick: bool) -> dict:
    import onnxruntime as ort

    xt, yt = load_digits("train")
    xv, yv = load_digits("test")
    if quick:
        xt, yt = xt[:256], yt[:256]
    model = SeedCNN(1, 10, 8, rng=0)
    train.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=2e-3),
              data.DataLoader(data.ArrayDataset(xt, yt), 32, shuffle=True, seed=0),
              epochs=1 if quick else 3, quiet=True)
    path = os.path.join(out, "seedcnn.onnx")
    nx.export(model, path, (1, 1, 8, 8))                   # exported with a batch of 1
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    with no_grad():
        ours = model.eval()(xv)                            # ... run on the whole test set
    theirs = session.run(None, {"input": xv})[0]
    acc = [float((logits.argmax(1) == yv).mean()) for logits in (ours, theirs)]
    print(f"SeedCNN on {len(xv)} test digits: numcnn accuracy {acc[0]:.3f}, onnxruntime "
          f"{acc[1]:.3f}; logits differ by {rel(theirs, ours):.1e} (relative)")

    timings = {}
    unet = UNet(1, 2, 8, 2, rng=0)
    upath = os.path.join(out, "unet.onnx")
    nx.export(unet, upath, (1, 1, 64, 64))
    usession = ort.InferenceSession(upath, providers=["CPUExecutionProvider"])
    x64 = np.random.default_rng(0).standard_normal((8, 1, 64, 64)).astype(np.float32)
    repeats = 3 if quick else 10
    for name, m, sess, x in (("SeedCNN, 359 digits", model, session, xv),
                             ("U-Net, 8 x 64x64", unet.eval(), usession, x64)):
        with no_grad():
            t_ours = best_time(lambda m=m, x=x: m(x), repeats)
        t_theirs = best_time(lambda s=sess, x=x: s.run(None, {"input": x}), repeats)
        timings[name] = (t_ours, t_theirs)
        print(f"{name:<22} numcnn {1e3 * t_ours:7.1f} ms   onnxruntime {1e3 * t_theirs:7.1f} "
              f"ms   ratio {t_ours / t_theirs:4.1f}")
    with no_grad():
        print(f"U-Net: onnxruntime's output differs from numcnn's by "
              f"{rel(usession.run(None, {'input': x64})[0], unet(x64)):.1e} (relative)")
    return timings


def plot_timings(timings: dict, path: str) -> None:
    fig = Figure(figsize=(6.5, 3.2))
    ax = fig.subplots()
    names = list(timings)
    pos = np.arange(len(names))
    ax.barh(pos + 0.2, [1e3 * timings[n][0] for n in names], 0.4, label="numcnn")
    ax.barh(pos - 0.2, [1e3 * timings[n][1] for n in names], 0.4, label="onnxruntime")
    ax.set_yticks(pos, names)
    ax.set_xlabel("inference time per batch (ms, best of several runs)")
    ax.legend()
    ax.set_title("The same ONNX graph, two engines")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# %% [markdown]
# ## Part 2: PyTorch -> ONNX -> numcnn, trained by numcnn's backward

# %%
def torch_model():
    import torch.nn as tnn

    return tnn.Sequential(tnn.Conv2d(1, 8, 3, padding=1), tnn.BatchNorm2d(8), tnn.ReLU(),
                          tnn.MaxPool2d(2), tnn.Conv2d(8, 16, 3, padding=1), tnn.ReLU(),
                          tnn.Flatten(), tnn.Linear(16 * 4 * 4, 10))


def part_two(quick: bool) -> list[float] | None:
    try:
        import torch
    except ImportError:
        print("Part 2 skipped: PyTorch is not installed")
        return None
    torch.manual_seed(0)
    tm = torch_model().eval()
    f = _io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        # no constant folding: BatchNorm stays a node of its own (else it is folded into the
        # conv before it, and would not train as batch norm)
        torch.onnx.export(tm, (torch.zeros(1, 1, 8, 8),), f, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
                          do_constant_folding=False)
    g = nx.load(f.getvalue())
    print(f"loaded from PyTorch: {len(g._nodes)} nodes, parameters "
          f"{[k for k, _ in g.named_parameters()]}")
    xt, yt = load_digits("train")
    x, y = xt[:64], yt[:64]
    with torch.no_grad(), no_grad():
        print(f"outputs: numcnn vs PyTorch differ by "
              f"{rel(g(x), tm(torch.from_numpy(x)).numpy()):.1e} (relative)")

    tm.train()  # one SGD step each, on the same batch (batch statistics in both)
    loss = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    torch.optim.SGD(tm.parameters(), lr=0.1).step()
    g.train()
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(g(x), y)
    g.backward(loss_fn.backward())
    optim.SGD(g.parameters(), lr=0.1).step()
    torch_params = dict(tm.named_parameters())
    worst = max(rel(p.data, torch_params[k].detach().numpy()) for k, p in g.named_parameters())
    print(f"after one SGD step the parameters differ by at most {worst:.1e} (relative)")

    losses = []  # and numcnn trains it on
    opt = optim.Adam(g.parameters(), lr=2e-3)
    loader = data.DataLoader(data.ArrayDataset(xt, yt), 32, shuffle=True, seed=0)
    for step, (xb, yb) in enumerate(loader):
        if step == (20 if quick else 45):
            break
        opt.zero_grad()
        losses.append(loss_fn(g(xb), yb))
        g.backward(loss_fn.backward())
        opt.step()
    print(f"training in numcnn: loss {losses[0]:.3f} -> {losses[-1]:.3f} in {len(losses)} "
          f"steps")
    return losses


def plot_losses(losses: list[float], path: str) -> None:
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    ax.plot(losses, marker=".")
    ax.set_xlabel("step (batches of 32 digits)")
    ax.set_ylabel("cross-entropy")
    ax.set_title("A PyTorch model, trained by numcnn's backward")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# %% [markdown]
# ## Run
#
# As a script: `python examples/onnx_interop.py [--quick]`.  In a notebook the options come
# from the environment variable `NUMCNN_EXAMPLE_ARGS` (empty: the full run).

# %%
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/onnx_interop",
                        help="output folder (default runs/onnx_interop)")
    parser.add_argument("--quick", action="store_true", help="less training, fewer timings")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    plot_timings(part_one(args.out, args.quick), os.path.join(args.out, "onnx_timings.png"))
    losses = part_two(args.quick)
    if losses is not None:
        plot_losses(losses, os.path.join(args.out, "pytorch_in_numcnn.png"))
    print(f"files in {args.out}/")
    return 0


if __name__ == "__main__":
    run_example(main, "runs/onnx_interop")
