# %% [markdown]
# # Your conv2d_backward trains the U-Net
#
# The moment lab 3 builds up to (docs/labs.md): the convolution backward a student wrote in
# `numcnn exercise start conv2d_backward` replaces numcnn's in *every* convolution of the
# demo's U-Net, and the U-Net still learns to segment the nuclei to the demo's numbers.
#
#     with numcnn.use(conv2d_backward=yours.conv2d_backward):
#         numcnn.demo.run(...)
#
# `numcnn.use` swaps the op for the duration of the block; since a backward reads the
# cache its forward made, the forward becomes `numcnn.reference.conv2d_forward` (whose
# cache the stub describes).  The first call is checked against numcnn's own backward and
# against central differences, so a wrong function stops at once with a message instead
# of training garbage.
#
# Without `--backward FILE` the worked solution (`numcnn/exercises/solutions/
# conv2d_backward.py`: one loop over the 3x3 kernel taps, a tensordot each) stands in for
# the student's.  `--compare` also trains the demo with numcnn's own ops, for the numbers
# side by side.
#
# Measured with the worked solution (seed 0, 2 shared cores): 3 epochs of the demo's
# recipe give numcnn's losses to a relative 3.6e-4 at 4.3 times the CPU time; the full run
# is about four times the demo's time (docs/labs.md, lab 3).
#
# Writes the demo's figures and `metrics.json` to `runs/your_backward/` (or `--out`).

# %%
"""Your conv2d_backward trains the U-Net of numcnn's demo (lab 3's last step)."""

from __future__ import annotations

import argparse
import json
import os
import time

import numcnn
from numcnn import demo, exercises, io
from numcnn.notebook import run_example

# %% [markdown]
# ## Train with your backward

# %%
def train_with(backward_file: str | None, out: str, epochs: int | None, quick: bool,
               seed: int = 0) -> dict:
    """The demo, with ``conv2d_backward`` from ``backward_file`` (default: the worked
    solution) in every convolution; returns the demo's metrics.  ``epochs`` None: the
    demo's own number."""
    path = backward_file or exercises.solution_path("conv2d_backward")
    yours = exercises.load(path)
    t0 = time.perf_counter()
    with numcnn.use(conv2d_backward=yours.conv2d_backward):
        result = run_demo(out, epochs, seed, quick)
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    result["backward"] = str(path)
    return result


def run_demo(out: str, epochs: int | None, seed: int, quick: bool) -> dict:
    options = {} if epochs is None else {"epochs": epochs}
    return demo.run(out, seed=seed, quick=quick, quiet=True, **options)


# the demo's scores on the validation rows, those this version of the demo reports
SCORES = (("val_ap", "AP@0.5"), ("val_pq", "PQ"), ("val_dsb", "DSB"),
          ("val_fg_iou", "foreground IoU"), ("val_fg_dice", "Dice"))


def report(label: str, r: dict) -> None:
    scores = ", ".join(f"{name} {r[key]:.3f}" for key, name in SCORES if key in r)
    print(f"{label:<26} {scores}; trained {r['epochs']} epochs in {r['train_seconds']:.0f} s "
          f"({r['wall_seconds']:.0f} s in all)")


# %% [markdown]
# ## Run
#
# As a script: `python examples/your_backward_trains_the_unet.py [--quick]`.
# In a notebook the options come from the environment variable `NUMCNN_EXAMPLE_ARGS`
# (empty: the full run), and the figures appear below the cell.

# %%
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backward", help="your conv2d_backward.py (default: the worked "
                                           "solution)")
    parser.add_argument("--out", default="runs/your_backward",
                        help="output folder (default runs/your_backward)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: the demo's)")
    parser.add_argument("--compare", action="store_true",
                        help="also train with numcnn's own ops")
    parser.add_argument("--quick", action="store_true", help="a tiny run, for smoke tests")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    mine = train_with(args.backward, args.out, args.epochs, args.quick)
    report("your conv2d_backward:", mine)
    results = {"yours": mine}
    if args.compare:
        t0 = time.perf_counter()
        own = run_demo(os.path.join(args.out, "numcnn_ops"), args.epochs, 0, args.quick)
        own["wall_seconds"] = round(time.perf_counter() - t0, 1)
        report("numcnn's own ops:", own)
        results["numcnn"] = own
    io.atomic_write(os.path.join(args.out, "comparison.json"),
                    lambda f: f.write(json.dumps(results, indent=2).encode()))
    print(f"figures and metrics in {args.out}/")
    return 0


if __name__ == "__main__":
    run_example(main, "runs/your_backward")
