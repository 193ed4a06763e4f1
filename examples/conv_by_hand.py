# %% [markdown]
# # Convolution by hand, three ways
#
# Nested Python loops, im2col + one matrix product in NumPy, and numcnn's numba kernels.
# Same numbers, very different speeds.
#
# A convolution layer (cross-correlation, as in PyTorch) computes
#
#     y[n, f, oh, ow] = b[f] + sum_{c, i, j} w[f, c, i, j] * x_pad[n, c, oh*s + i, ow*s + j].
#
# 1. `conv2d_naive`: that formula as seven nested loops in plain Python.
# 2. `conv2d_im2col`: copy every kh x kw window of the input into one column of a matrix
#    X_col (C*kh*kw rows, one column per output pixel), then do all the multiply-adds as one
#    matrix product Y = W_mat @ X_col, which BLAS runs at close to the machine's peak.
#    `im2col` is written here in NumPy, one strided slice per kernel tap (i, j).
# 3. `numcnn.functional.conv2d_forward`: the same im2col + GEMM, with im2col as a numba loop
#    (`numcnn.kernels.im2col`).
#
# The loops take thousands of times longer than the other two, which are about equally fast:
# the matrix product does the work, and NumPy's strided copies (one per kernel tap) are as
# quick as the numba loop at these sizes.
#
# The script prints the im2col matrix of a tiny 1x1x4x4 input with a 2x2 kernel and draws its
# patches (`im2col_tiny.png`), checks that the three ways agree (max |difference|) and times
# them on a few sizes: a table on the terminal and a bar chart (`conv_timings.png`, log
# scale; hatched bars are extrapolated from the measured time per multiply-add, where the
# loops would take too long to run).
#
# Run: `python examples/conv_by_hand.py` (about half a minute; `--quick`: seconds).

# %%
"""Convolution by hand, three ways: Python loops, im2col + GEMM in NumPy, numcnn."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from numcnn import functional as F
from numcnn import kernels
from numcnn.notebook import run_example


def output_size(size: int, k: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - k) // stride + 1


# %% [markdown]
# ## 1. the loops

# %%
def conv2d_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1,
                 padding: int = 0) -> np.ndarray:
    """The definition, one multiply-add at a time, in plain Python.

    Parameters
    ----------
    x : (N, C, H, W);  w : (F, C, kh, kw);  b : (F,) or None

    Returns
    -------
    y : (N, F, Ho, Wo), x's dtype (accumulated in Python floats, i.e. float64)
    """
    N, C, H, W = x.shape
    F_, _, kh, kw = w.shape
    Ho, Wo = output_size(H, kh, stride, padding), output_size(W, kw, stride, padding)
    p = padding
    # nested lists: indexing them is several times faster than indexing numpy arrays
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))).tolist()
    wl = w.tolist()
    y = np.zeros((N, F_, Ho, Wo))
    for n in range(N):
        for f in range(F_):
            for oh in range(Ho):
                for ow in range(Wo):
                    acc = 0.0 if b is None else float(b[f])
                    for c in range(C):
                        for i in range(kh):
                            row = xp[n][c][oh * stride + i]
                            for j in range(kw):
                                acc += wl[f][c][i][j] * row[ow * stride + j]
                    y[n, f, oh, ow] = acc
    return y.astype(x.dtype)


# %% [markdown]
# ## 2. im2col + GEMM

# %%
def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Every kh x kw window of x as one column.

    Row (c, i, j) of the result is tap (i, j) of channel c in every window; column
    (n, oh, ow) is the window of output pixel (oh, ow) of image n (the layout of
    ``numcnn.kernels.im2col``).  Tap (i, j) of all windows at once is a strided slice of the
    padded input, so there is one loop iteration per tap, not per pixel.

    Parameters
    ----------
    x : (N, C, H, W)

    Returns
    -------
    cols : (C*kh*kw, N*Ho*Wo)
    """
    N, C, H, W = x.shape
    Ho, Wo = output_size(H, kh, stride, padding), output_size(W, kw, stride, padding)
    p = padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.empty((C, kh, kw, N, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            window_tap = xp[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]
            cols[:, i, j] = window_tap.transpose(1, 0, 2, 3)      # (C, N, Ho, Wo)
    return cols.reshape(C * kh * kw, N * Ho * Wo)


def im2col_strided(x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """The same matrix (stride 1, no padding) from ``sliding_window_view``, the safe form of
    ``as_strided``: a (N, C, Ho, Wo, kh, kw) *view* of x, copied once by the reshape."""
    N, C, _, _ = x.shape
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(C * kh * kw, -1)


def conv2d_im2col(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1,
                  padding: int = 0) -> np.ndarray:
    """Y = W_mat @ X_col: every multiply-add of the layer in one matrix product.

    Parameters
    ----------
    x : (N, C, H, W);  w : (F, C, kh, kw);  b : (F,) or None

    Returns
    -------
    y : (N, F, Ho, Wo)
    """
    N, _, H, W = x.shape
    F_, _, kh, kw = w.shape
    Ho, Wo = output_size(H, kh, stride, padding), output_size(W, kw, stride, padding)
    cols = im2col(x, kh, kw, stride, padding)                 # (C*kh*kw, N*Ho*Wo)
    y = w.reshape(F_, -1) @ cols                              # (F, N*Ho*Wo)
    if b is not None:
        y += b[:, None]
    return np.ascontiguousarray(y.reshape(F_, N, Ho, Wo).transpose(1, 0, 2, 3))


# %% [markdown]
# ## 3. numcnn

# %%
def conv2d_numcnn(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1,
                  padding: int = 0) -> np.ndarray:
    """numcnn's forward: im2col as a parallel numba loop, then the same GEMM."""
    return F.conv2d_forward(x, w, b, stride=stride, padding=padding)[0]


METHODS = {"naive (Python loops)": conv2d_naive, "im2col + GEMM (NumPy)": conv2d_im2col,
           "numcnn (numba im2col + GEMM)": conv2d_numcnn}


# %% [markdown]
# ## Tiny example

# %%
def show_tiny_im2col(out: str) -> None:
    """Print and draw the im2col matrix of a 1x1x4x4 input with a 2x2 kernel."""
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4)
    w = np.array([[[[1, 2], [3, 4]]]], dtype=np.float32)
    cols = im2col(x, 2, 2)                                    # (4, 9)
    assert np.array_equal(cols, im2col_strided(x, 2, 2))
    assert np.array_equal(cols, kernels.im2col(x, 2, 2, 1, 1, 0, 0, 1, 1, 3, 3))
    y = (w.reshape(1, -1) @ cols).reshape(3, 3)

    print("A 1x1x4x4 input and a 2x2 kernel [[1, 2], [3, 4]] (stride 1, no padding):")
    print(x[0, 0].astype(int))
    print("\nim2col: one column per output pixel (9 windows), one row per kernel tap (4):")
    header = "".join(f"{f'({k // 3},{k % 3})':>6}" for k in range(9))
    print(f"{'tap':<10}{header}")
    for r in range(4):
        print(f"{f'({r // 2},{r % 2})':<10}" + "".join(f"{v:6.0f}" for v in cols[r]))
    print("\nw as a row [1, 2, 3, 4] @ cols -> every output pixel at once "
          "(e.g. 1*1 + 2*2 + 3*5 + 4*6 = 44):")
    print(y.astype(int))
    print("(the same matrix as numcnn.kernels.im2col and as sliding_window_view: checked)\n")

    fig = Figure(figsize=(12, 4.6))
    grid = fig.add_gridspec(3, 7, width_ratios=[1, 1, 1, 0.25, 2.2, 0.25, 0.9],
                            left=0.02, right=0.98, top=0.86, bottom=0.06, wspace=0.15,
                            hspace=0.35)
    colours = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#0097a7", "#f032e6",
               "#9a6324", "#808000"]
    for k in range(9):
        oh, ow = divmod(k, 3)
        ax = fig.add_subplot(grid[oh, ow])
        ax.imshow(x[0, 0], cmap="Greys", vmin=-8, vmax=40)
        for (r, c), v in np.ndenumerate(x[0, 0]):
            inside = oh <= r < oh + 2 and ow <= c < ow + 2
            ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=8,
                    fontweight="bold" if inside else "normal",
                    color=colours[k] if inside else "0.55")
        ax.add_patch(Rectangle((ow - 0.5, oh - 0.5), 2, 2, fill=False, lw=2.5,
                               edgecolor=colours[k]))
        ax.set_title(f"window {k}: out({oh},{ow})", fontsize=8, color=colours[k], pad=2)
        ax.set_axis_off()

    ax = fig.add_subplot(grid[:, 4])
    ax.imshow(np.zeros_like(cols), cmap="Greys", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(np.arange(-0.5, 9), minor=True)
    ax.set_yticks(np.arange(-0.5, 4), minor=True)
    ax.grid(which="minor", color="0.8")
    ax.tick_params(which="minor", length=0)
    for (r, c), v in np.ndenumerate(cols):
        ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=10, color=colours[c],
                fontweight="bold")
    ax.set_xticks(range(9), [str(k) for k in range(9)])
    ax.set_yticks(range(4), ["tap (0,0)", "tap (0,1)", "tap (1,0)", "tap (1,1)"])
    ax.set_xlabel("column k = window k (one per output pixel)")
    ax.set_title("X_col = im2col(x): 4 x 9", fontsize=10)

    ax = fig.add_subplot(grid[:, 6])
    ax.imshow(np.zeros_like(y), cmap="Greys", vmin=0, vmax=1)
    ax.set_xticks(np.arange(-0.5, 3), minor=True)
    ax.set_yticks(np.arange(-0.5, 3), minor=True)
    ax.grid(which="minor", color="0.8")
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    for (r, c), v in np.ndenumerate(y):
        ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=10,
                color=colours[3 * r + c], fontweight="bold")
    ax.set_title("y = [1, 2, 3, 4] @ X_col\n(reshaped 3 x 3)", fontsize=9)
    fig.suptitle("im2col: each 2x2 window of the 4x4 input becomes one column; the convolution "
                 "is then one matrix product")
    fig.savefig(os.path.join(out, "im2col_tiny.png"), dpi=110)


# %% [markdown]
# ## Agree and time

# %%
def best_time(fn, *args, repeats: int, budget: float = 1.0) -> float:
    """The fastest of up to ``repeats`` runs (stopping early after ``budget`` seconds)."""
    best, spent = np.inf, 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
        if spent > budget:
            break
    return best


def compare(sizes, naive_limit: float, out: str) -> list[dict]:
    """Check agreement and time each method on each size; print a table; return the rows."""
    rng = np.random.default_rng(0)
    conv2d_numcnn(np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 1, 2, 2), np.float32))
    rows = []
    ns_per_mac = None
    print(f"{'x * w  (float32, 3x3, stride 1, pad 1)':<38}{'MACs':>8}  {'naive':>12}  "
          f"{'im2col':>9}  {'numcnn':>9}   max|im2col - ref|  max|numcnn - ref|  ref")
    for N, C, S, F_, k in sizes:
        x = rng.standard_normal((N, C, S, S)).astype(np.float32)
        w = (rng.standard_normal((F_, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32)
        b = rng.standard_normal(F_).astype(np.float32)
        macs = N * F_ * S * S * C * k * k
        row = {"label": f"{N}x{C}x{S}x{S} * {F_}x{C}x{k}x{k}", "macs": macs}
        y_im2col = conv2d_im2col(x, w, b, 1, 1)
        y_numcnn = conv2d_numcnn(x, w, b, 1, 1)
        if macs <= naive_limit:
            t0 = time.perf_counter()
            ref = conv2d_naive(x, w, b, 1, 1)
            row["naive"] = time.perf_counter() - t0
            row["naive_estimated"] = False
            ns_per_mac = row["naive"] / macs
            ref_name = "naive"
        else:  # too slow to run: extrapolate from the last measured size
            row["naive"] = ns_per_mac * macs if ns_per_mac else np.nan
            row["naive_estimated"] = True
            ref = conv2d_im2col(x.astype(np.float64), w.astype(np.float64),
                                b.astype(np.float64), 1, 1)
            ref_name = "float64"
        row["im2col"] = best_time(conv2d_im2col, x, w, b, 1, 1, repeats=20)
        row["numcnn"] = best_time(conv2d_numcnn, x, w, b, 1, 1, repeats=20)
        row["diff_im2col"] = float(np.abs(y_im2col - ref).max())
        row["diff_numcnn"] = float(np.abs(y_numcnn - ref).max())
        naive = (f"~{row['naive']:.3g} s est." if row["naive_estimated"]
                 else f"{row['naive'] * 1e3:.4g} ms")
        print(f"{row['label']:<38}{macs / 1e6:>7.2f}M  {naive:>12}  "
              f"{row['im2col'] * 1e3:>6.3g} ms  {row['numcnn'] * 1e3:>6.3g} ms   "
              f"{row['diff_im2col']:>17.1e}  {row['diff_numcnn']:>17.1e}  {ref_name}")
        rows.append(row)
    print("ref: the naive loops (accumulating in float64) where they ran, else im2col in "
          "float64.\nDifferences of ~1e-6 are float32 rounding: the sums are added up in "
          "another order.")
    plot_timings(rows, os.path.join(out, "conv_timings.png"))
    return rows


def plot_timings(rows: list[dict], path: str) -> None:
    """Grouped bars, one group per size, log-scale milliseconds; extrapolated bars hatched."""
    fig = Figure(figsize=(9, 4.8))
    ax = fig.subplots()
    names = list(METHODS)
    keys = ["naive", "im2col", "numcnn"]
    colours = ["#d62728", "#1f77b4", "#2ca02c"]
    width = 0.27
    pos = np.arange(len(rows))
    for m, (name, key, colour) in enumerate(zip(names, keys, colours)):
        ms = np.array([r[key] * 1e3 for r in rows])
        bars = ax.bar(pos + (m - 1) * width, ms, width, color=colour, label=name)
        for r, bar in zip(rows, bars):
            if key == "naive" and r["naive_estimated"]:
                bar.set_hatch("//")
                bar.set_alpha(0.45)
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() * 1.15,
                    f"{bar.get_height():.3g}", ha="center", va="bottom", fontsize=7,
                    rotation=90)
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 30)
    ax.set_xticks(pos, [f"{r['label']}\n{r['macs'] / 1e6:.3g}M multiply-adds" for r in rows],
                  fontsize=8)
    ax.set_ylabel("time per forward pass (ms, log scale)")
    ax.set_title("Convolution three ways (float32, 3x3, pad 1); hatched = extrapolated")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# %% [markdown]
# ## Run
#
# As a script: `python examples/conv_by_hand.py [--quick]`.
# In a notebook the options come from the environment variable `NUMCNN_EXAMPLE_ARGS`
# (empty: the full run), and the figures appear below the cell.

# %%
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/conv_by_hand",
                        help="output folder (default runs/conv_by_hand)")
    parser.add_argument("--quick", action="store_true", help="two small sizes only")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    show_tiny_im2col(args.out)
    # (N, C, size, F, k)
    sizes = [(1, 3, 16, 8, 3), (4, 8, 16, 16, 3)]
    if not args.quick:
        sizes += [(8, 16, 32, 32, 3), (32, 32, 32, 64, 3)]
    rows = compare(sizes, naive_limit=2e5 if args.quick else 2e6, out=args.out)
    biggest = rows[-1]
    print(f"\nlargest size: numcnn {biggest['naive'] / biggest['numcnn']:.0f}x faster than "
          f"the Python loops{' (extrapolated)' if biggest['naive_estimated'] else ''}, "
          f"{biggest['im2col'] / biggest['numcnn']:.2f}x the speed of im2col in NumPy.\n"
          f"The gain over the loops is the GEMM: BLAS does the multiply-adds; how im2col is "
          f"written (a numba loop, or one strided NumPy copy per kernel tap) matters little.")
    print(f"figures in {args.out}/")
    return 0


if __name__ == "__main__":
    run_example(main, "runs/conv_by_hand")
