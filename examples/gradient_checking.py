# %% [markdown]
# # Gradient checking
#
# A correct backward passes, a broken one is caught, and the report says which gradient is
# wrong.
#
# Every backward pass in numcnn is written by hand, so every one can be wrong.  The check
# compares it with central differences: for an op y = f(x) and a random upstream gradient g,
# the backward must return dL/dx for L = sum(f(x) * g), and
#
#     dL/dx_k  ~  (L(x + eps e_k) - L(x - eps e_k)) / (2 eps)      (float64, eps = 1e-6).
#
# The relative error max|analytic - numerical| / max(|analytic|, |numerical|) is ~1e-9 for a
# correct backward and ~0.1-1 for a wrong one (`numcnn.gradcheck`).
#
# What the script does:
#
# 1. `check_function` passes for numcnn's own conv2d (stride 2) and linear layers.
# 2. Three deliberately broken backwards, each caught, the report naming the culprit:
#    - conv2d whose col2im *overwrites* where windows overlap instead of adding (wrong "x";
#      "w" and "b" still pass);
#    - dropout that forgets to rescale the gradient by 1/(1-p) (wrong "x");
#    - linear whose weight gradient is transposed, x^T dY instead of dY^T x (wrong "w"; a
#      square W so that the shapes cannot give it away).
# 3. `check_module` on a small model (conv, batch norm, ReLU, max-pool, dropout, linear) in
#    training mode: the input and every parameter pass; the same model with the overwriting
#    conv fails on "input" only (the parameters' gradients are still right).  The conv's bias
#    shows ~1e-7 rather than ~1e-9: before a batch norm its true gradient is exactly zero (the
#    norm subtracts the mean), so only rounding noise is measured, which the check's noise
#    floor keeps below the tolerance.
#
# Figures: `gradient_check_scatter.png` plots every analytic gradient entry against its
# numerical estimate: a correct backward puts them all on the diagonal, a broken one moves
# the wrong entries off it (red).  `gradient_check_conv_overlap.png` shows, for the broken
# conv, that the wrong entries of dL/dx are exactly the input pixels covered by more than one
# window.
#
# Run: `python examples/gradient_checking.py` (a few seconds).

# %%
"""Gradient checking: a correct backward passes, a broken one is caught and named."""

from __future__ import annotations

import argparse
import os

import numpy as np
from matplotlib.figure import Figure

from numcnn import functional as F
from numcnn import nn
from numcnn.gradcheck import (
    check_function,
    check_module,
    numerical_gradient,
    upstream_gradient,
)
from numcnn.notebook import run_example

# %% [markdown]
# ## The bugs

# %%
def col2im_overwrite(dcols: np.ndarray, x_shape: tuple, kh: int, kw: int, stride: int,
                     padding: int) -> np.ndarray:
    """col2im with the classic bug: ``=`` where it must be ``+=``.

    Each column of dcols (C*kh*kw, N*Ho*Wo) holds the gradient of one window; col2im must
    *add* each window's gradient into the input pixels it covers, because a pixel that sits
    in several windows influenced several outputs.  Assigning keeps only the last window.
    """
    N, C, H, W = x_shape
    Ho = (H + 2 * padding - kh) // stride + 1
    Wo = (W + 2 * padding - kw) // stride + 1
    d = dcols.reshape(C, kh, kw, N, Ho, Wo)
    dx = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            taps = dx[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]
            taps[...] = d[:, i, j].transpose(1, 0, 2, 3)     # BUG: should be +=
    return dx[:, :, padding:padding + H, padding:padding + W]


def conv_dx_overwrite(dout: np.ndarray, w: np.ndarray, x_shape: tuple, stride: int,
                      padding: int) -> np.ndarray:
    """dL/dx of a convolution, the right way (dX_col = W_mat^T @ dY_mat) up to col2im, which
    is the broken one.  dout (N, F, Ho, Wo), w (F, C, kh, kw) -> (N, C, H, W)."""
    F_, _, kh, kw = w.shape
    dy = dout.transpose(1, 0, 2, 3).reshape(F_, -1)            # (F, N*Ho*Wo)
    dcols = w.reshape(F_, -1).T @ dy                           # (C*kh*kw, N*Ho*Wo)
    return col2im_overwrite(dcols, x_shape, kh, kw, stride, padding)


def conv_forward(x, w, b, stride=1, padding=0):
    """numcnn's conv2d forward, keeping what the broken backward needs as well."""
    out, cache = F.conv2d_forward(x, w, b, stride=stride, padding=padding)
    return out, (cache, x.shape, w, stride, padding)


def conv_backward_correct(dout, cache):
    return F.conv2d_backward(dout, cache[0])


def conv_backward_overwrite(dout, cache):
    """dw and db from numcnn (correct); dx from the overwriting col2im (wrong)."""
    inner, x_shape, w, stride, padding = cache
    _, dw, db = F.conv2d_backward(dout, inner)
    return conv_dx_overwrite(dout, w, x_shape, stride, padding), dw, db


def dropout_backward_no_rescale(dout, cache):
    """Inverted dropout scales kept units by 1/(1-p) in the forward; the gradient must be
    scaled the same way.  BUG: only the mask is applied."""
    return dout * (cache != 0)


def linear_forward(x, w, b):
    """y = x W^T + b: x (N, in), w (out, in), b (out,)."""
    return x @ w.T + b, (x, w)


def linear_backward_transposed(dout, cache):
    """dx = dY W and db = sum_n dY are right; dW should be dY^T x (out, in).
    BUG: x^T dY is its transpose, which a square W does not reject by shape."""
    x, w = cache
    return dout @ w, x.T @ dout, dout.sum(axis=0)


class OverwritingConv2d(nn.Conv2d):
    """A Conv2d module whose backward uses the overwriting col2im for dL/dx."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x_shape = x.shape
        return super().forward(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        super().backward(dout)             # the parameter gradients, correctly
        return conv_dx_overwrite(dout, self.weight.data, self.x_shape, self.stride,
                                 self.padding)


# %% [markdown]
# ## The checks

# %%
def cases(rng: np.random.Generator) -> list[dict]:
    """The functional pairs to check: name, forward, backward, inputs, kwargs, and which
    gradient (if any) the bug breaks."""
    x_img = rng.standard_normal((2, 3, 7, 7))
    w_conv = rng.standard_normal((4, 3, 3, 3))
    b_conv = rng.standard_normal(4)
    x_vec = rng.standard_normal((6, 5))
    w_sq = rng.standard_normal((5, 5))
    b_vec = rng.standard_normal(5)
    keep = rng.random((4, 10)) >= 0.5
    conv_in = dict(x=x_img, w=w_conv, b=b_conv)
    return [
        dict(name="conv2d 3->4, k3, stride 2 (numcnn)", forward=conv_forward,
             backward=conv_backward_correct, inputs=conv_in, kwargs=dict(stride=2),
             broken=None, plot="x"),
        dict(name="linear 5->5 (numcnn)", forward=F.linear_forward,
             backward=F.linear_backward, inputs=dict(x=x_vec, w=w_sq, b=b_vec), kwargs={},
             broken=None, plot=None),
        dict(name="conv2d, col2im overwrites overlaps", forward=conv_forward,
             backward=conv_backward_overwrite, inputs=conv_in, kwargs=dict(stride=2),
             broken="x", plot="x"),
        dict(name="dropout p=0.5, no 1/(1-p) in backward", forward=F.dropout_forward,
             backward=dropout_backward_no_rescale, inputs=dict(x=rng.standard_normal((4, 10))),
             kwargs=dict(p=0.5, training=True, mask=keep), broken="x", plot="x"),
        dict(name="linear, weight gradient transposed", forward=linear_forward,
             backward=linear_backward_transposed, inputs=dict(x=x_vec, w=w_sq, b=b_vec),
             kwargs={}, broken="w", plot="w"),
    ]


def analytic_and_numerical(case: dict, name: str, seed: int = 0):
    """The analytic and numerical gradient of one input, with check_function's upstream
    gradient (so the scatter shows exactly what the check measured)."""
    inputs = {k: np.asarray(v, dtype=np.float64) for k, v in case["inputs"].items()}
    out, cache = case["forward"](**inputs, **case["kwargs"])
    dout = upstream_gradient(out.shape, seed)
    grads = case["backward"](dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    a = grads[list(inputs).index(name)]        # gradients come in the order of the inputs

    def f(v):
        return case["forward"](**{**inputs, name: v}, **case["kwargs"])[0]

    return a, numerical_gradient(f, inputs[name], dout)


def small_model(conv: type = nn.Conv2d) -> nn.Sequential:
    """conv 3x3 -> 4, batch norm, ReLU, max-pool 2, flatten, dropout, linear -> 3;
    input (N, 1, 8, 8)."""
    rng = np.random.default_rng(0)
    return nn.Sequential(conv(1, 4, 3, padding=1, rng=rng), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3, rng=rng),
                         nn.Linear(4 * 4 * 4, 3, rng=rng))


def run_checks(quick: bool) -> tuple[list[tuple[dict, object]], list[tuple[str, object]]]:
    """Print every report; return the function checks and the module checks."""
    rng = np.random.default_rng(0)
    results = []
    for case in cases(rng):
        result = check_function(case["forward"], case["backward"], case["inputs"],
                                case["kwargs"])
        expect = "should pass" if case["broken"] is None else \
            f"broken on purpose: '{case['broken']}' is wrong"
        print(f"== check_function: {case['name']}  ({expect})")
        print(result, end="\n\n")
        results.append((case, result))

    x = np.random.default_rng(1).standard_normal((2 if quick else 4, 1, 8, 8))
    modules = []
    for label, conv in (("small model", nn.Conv2d),
                        ("small model with the overwriting conv", OverwritingConv2d)):
        model = small_model(conv).train()
        result = check_module(model, x, max_entries=40 if quick else None)
        print(f"== check_module: {label} (train mode: batch statistics, a fixed dropout "
              f"mask)")
        print(result, end="\n\n")
        modules.append((label, result))
    return results, modules


# %% [markdown]
# ## The figures

# %%
def plot_scatter(results, path: str) -> None:
    """Analytic vs numerical, entry by entry, for every case with a ``plot`` input."""
    shown = [(c, r) for c, r in results if c["plot"]]
    fig = Figure(figsize=(4.0 * len(shown), 4.4))
    axes = fig.subplots(1, len(shown))
    for ax, (case, result) in zip(axes, shown):
        name = case["plot"]
        a, n = (g.ravel() for g in analytic_and_numerical(case, name))
        scale = max(np.abs(a).max(), np.abs(n).max())
        wrong = np.abs(a - n) > 1e-6 * scale
        lim = 1.08 * scale
        ax.plot([-lim, lim], [-lim, lim], color="0.6", lw=1, zorder=0)
        ax.scatter(n[~wrong], a[~wrong], s=12, color="#1f77b4",
                   label=f"agree ({(~wrong).sum()})")
        if wrong.any():
            ax.scatter(n[wrong], a[wrong], s=12, color="#d62728",
                       label=f"wrong ({wrong.sum()})")
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal",
               xlabel=f"numerical dL/d{name}", ylabel=f"analytic dL/d{name} (backward)")
        status = "ok" if result.ok else "FAILED"
        ax.set_title(f"{case['name']}\nrel. error {result.errors[name]:.1e}: {status}",
                     fontsize=9, color="black" if result.ok else "#d62728")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle("Gradient check: every entry of the backward's gradient against central "
                 "differences (diagonal = agreement)")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=110)


def plot_conv_overlap(results, path: str) -> None:
    """For the overwriting conv: windows covering each pixel vs where dL/dx is wrong."""
    case = next(c for c, _ in results if c["backward"] is conv_backward_overwrite)
    a, n = analytic_and_numerical(case, "x")
    x = case["inputs"]["x"]
    stride, (kh, kw) = case["kwargs"]["stride"], case["inputs"]["w"].shape[2:]
    # how many windows read each input pixel: col2im of all-ones columns, done right
    ones = np.ones((1, 1, (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1))
    _, cache = F.conv2d_forward(np.zeros((1, 1, *x.shape[2:])), np.ones((1, 1, kh, kw)),
                                stride=stride)
    coverage = F.conv2d_backward(ones, cache)[0][0, 0]
    error = np.abs(a - n)[0, 0]

    fig = Figure(figsize=(9, 4.2))
    axes = fig.subplots(1, 2)
    im = axes[0].imshow(coverage, cmap="Blues", vmin=0)
    for (r, c), v in np.ndenumerate(coverage):
        axes[0].text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=9)
    axes[0].set_title(f"windows covering each input pixel\n({kh}x{kw} kernel, stride {stride})",
                      fontsize=10)
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    im = axes[1].imshow(error, cmap="Reds", vmin=0)
    axes[1].set_title("|analytic - numerical| of dL/dx\n(overwriting col2im; image 0, "
                      "channel 0)", fontsize=10)
    fig.colorbar(im, ax=axes[1], shrink=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("The broken conv backward is wrong exactly where windows overlap")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=110)


# %% [markdown]
# ## Run
#
# As a script: `python examples/gradient_checking.py [--quick]`.
# In a notebook the options come from the environment variable `NUMCNN_EXAMPLE_ARGS`
# (empty: the full run), and the figures appear below the cell.

# %%
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/gradient_checking",
                        help="output folder (default runs/gradient_checking)")
    parser.add_argument("--quick", action="store_true",
                        help="check_module on a smaller batch and 40 entries per array")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    results, modules = run_checks(args.quick)
    plot_scatter(results, os.path.join(args.out, "gradient_check_scatter.png"))
    plot_conv_overlap(results, os.path.join(args.out, "gradient_check_conv_overlap.png"))

    print("Summary")
    as_expected = True
    for case, result in results:
        failing = sorted(k for k, e in result.errors.items() if e > result.rtol)
        if case["broken"] is None:
            verdict = "passes" if result.ok else f"FAILS on {failing} (unexpected!)"
            as_expected &= result.ok
        else:
            caught = not result.ok and failing == [case["broken"]]
            verdict = (f"caught: wrong gradient for {failing}" if caught
                       else f"NOT caught as expected (failing: {failing})")
            as_expected &= caught
        print(f"  {case['name']:<52} {verdict}")
    for label, result in modules:
        failing = sorted(k for k, e in result.errors.items() if e > result.rtol)
        broken = "overwriting" in label
        ok = failing == ["input"] if broken else result.ok
        as_expected &= ok
        verdict = (f"caught: wrong gradient for {failing}" if broken and ok
                   else "passes" if ok else f"unexpected: failing {failing}")
        print(f"  {'check_module, ' + label:<52} {verdict}")
    print(f"figures in {args.out}/")
    return 0 if as_expected else 1


if __name__ == "__main__":
    run_example(main, "runs/gradient_checking")
