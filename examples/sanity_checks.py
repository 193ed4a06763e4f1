# %% [markdown]
# # Sanity checks before and during training
#
# The checks that catch most training bugs before an hour is lost (CS231n's list), each
# with `numcnn.sanity`:
#
# 1. **The starting loss is about ln(C).**  An untrained classifier's softmax is nearly
#    uniform, so its cross-entropy is -ln(1/C) = ln(10) = 2.303 for ten classes.  Weights
#    initialised ten times too large give confident, random logits and a much higher loss.
# 2. **A model overfits one batch.**  Thirty-two images, a hundred steps: the loss must go
#    to nearly zero.  The same run with a broken loss backward (it forgot to subtract the
#    one-hot targets; let through with `numcnn.use(..., check=False)`) never falls below
#    ln(10).
# 3. **Per-layer statistics over training** (`sanity.track`, on module hooks): activation
#    spread, the share of dead ReLU outputs and each layer's weight-gradient norm.
#    `viz.plot_gradient_norms` makes vanishing gradients visible: through eight sigmoid
#    layers the first layer's gradient ends about 1e-6 of the last one's; with ReLUs the
#    gap is a factor of 10-50, and in the SeedCNN about 2 (docs/sanity.md has the figures
#    and the measured numbers).
#
# Data: Fashion-MNIST (Debian's `dataset-fashion-mnist`), or scikit-learn's 8x8 digits when
# it is not installed (the script says so).  Writes `overfit_one_batch.png`,
# `gradient_norms_sigmoid.png`, `gradient_norms_relu.png`, `gradient_norms_seedcnn.png` to
# `runs/sanity_checks/` (or `--out`).  Run: `python examples/sanity_checks.py` (`--quick`).

# %%
"""Sanity checks: the starting loss, overfitting one batch, gradient norms per layer."""

from __future__ import annotations

import argparse
import os

import numpy as np
from matplotlib.figure import Figure

import numcnn
from numcnn import exercises, nn, optim, sanity, viz
from numcnn.datasets import load_digits, load_fashion_mnist
from numcnn.models import SeedCNN
from numcnn.notebook import run_example

# %% [markdown]
# ## Data

# %%
def load(n: int):
    """n standardised training images of Fashion-MNIST, or of the digits when absent."""
    try:
        x, y = load_fashion_mnist(split="train")
        name = "Fashion-MNIST"
    except FileNotFoundError:
        print("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): "
              "using scikit-learn's 8x8 digits instead")
        x, y = load_digits("train")
        name = "digits"
    x, y = x[:n], y[:n]
    return name, ((x - x.mean()) / x.std()).astype(np.float32), y


# %% [markdown]
# ## 1. The starting loss

# %%
def starting_loss(x, y, seed: int) -> list:
    model = SeedCNN(1, 10, input_size=x.shape[-1], rng=seed)
    results = [("default initialisation", sanity.initial_loss(model, nn.CrossEntropyLoss(),
                                                              x, y))]
    for p in model.parameters():
        p.data *= 10
    results.append(("weights x 10", sanity.initial_loss(model, nn.CrossEntropyLoss(), x, y)))
    return results


# %% [markdown]
# ## 2. Overfitting one batch, and what a bug looks like

# %%
def forgot_the_one_hot(dloss, cache):
    """A wrong softmax_cross_entropy_backward: p / M instead of (p - one_hot) / M, the
    gradient of the log-sum-exp term alone.  It lowers every logit in proportion to its
    probability and nothing raises the right class's: the labels are never seen."""
    logp, t, valid, count = cache  # the cache of the exercise's worked solution
    return np.exp(logp) * valid[:, None] * (dloss / max(count, 1))


def overfit(x, y, steps: int, seed: int, path: str) -> dict:
    ce = exercises.load(exercises.solution_path("softmax_cross_entropy"))
    runs = {}
    for label, broken in [("right backward", False), ("forgot the one-hot (a bug)", True)]:
        model = SeedCNN(1, 10, input_size=x.shape[-1], rng=seed)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        if broken:  # check=False lets the wrong function through, to see what it does
            with numcnn.use(softmax_cross_entropy_forward=ce.softmax_cross_entropy_forward,
                            softmax_cross_entropy_backward=forgot_the_one_hot, check=False):
                runs[label] = sanity.overfit_one_batch(model, nn.CrossEntropyLoss(), opt, x, y,
                                                       steps)
        else:
            runs[label] = sanity.overfit_one_batch(model, nn.CrossEntropyLoss(), opt, x, y,
                                                   steps)
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for label, r in runs.items():
        ax.plot(np.arange(1, len(r.losses) + 1), r.losses, label=f"{label}: {r.losses[-1]:.3g}")
    ax.axhline(np.log(10), color="0.6", ls=":", label="ln(10), the starting loss")
    ax.set(yscale="log", xlabel="step", ylabel="loss on the one batch",
           title=f"SeedCNN overfitting one batch of {len(x)} images")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return runs


# %% [markdown]
# ## 3. Gradient norms per layer: vanishing made visible

# %%
def deep_mlp(activation, in_features: int, depth: int = 8, width: int = 64) -> nn.Sequential:
    layers, n = [nn.Flatten()], in_features
    for d in range(depth):
        layers += [nn.Linear(n, width, rng=d), activation()]
        n = width
    return nn.Sequential(*layers, nn.Linear(n, 10, rng=depth))


def tracked_training(model, x, y, steps: int, lr: float, seed: int):
    """SGD with momentum on random batches of 32, with every weighted layer tracked."""
    layers = [(name, m) for name, m in model.named_modules() if m._parameters]
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    rng = np.random.default_rng(seed)
    with sanity.track(model, layers) as stats:
        for _ in range(steps):
            idx = rng.choice(len(x), 32, replace=False)
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx])
            model.backward(loss_fn.backward())
            opt.step()
    return stats


def gradient_norms(x, y, steps: int, seed: int, out: str) -> dict:
    ratios = {}
    cases = [("sigmoid", deep_mlp(nn.Sigmoid, x[0].size), 0.1),
             ("relu", deep_mlp(nn.ReLU, x[0].size), 0.05),
             ("seedcnn", SeedCNN(1, 10, input_size=x.shape[-1], rng=seed), 0.05)]
    for name, model, lr in cases:
        stats = tracked_training(model, x, y, steps, lr, seed)
        norms = [v[-1] for v in stats.history("grad_norm").values()]
        ratios[name] = norms[0] / norms[-1]
        title = {"sigmoid": "8 sigmoid layers", "relu": "8 ReLU layers",
                 "seedcnn": "SeedCNN (conv, ReLU, pool, conv, ReLU, pool, linear)"}[name]
        viz.plot_gradient_norms(stats, os.path.join(out, f"gradient_norms_{name}.png"),
                                title=title)
        print(f"\n{title}: first layer's |dL/dW| / last layer's = {ratios[name]:.1e}")
        print(stats.summary())
    return ratios


# %% [markdown]
# ## Run
#
# As a script: `python examples/sanity_checks.py [--quick]`.
# In a notebook the options come from the environment variable `NUMCNN_EXAMPLE_ARGS`
# (empty: the full run), and the figures appear below the cell.

# %%
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/sanity_checks",
                        help="output folder (default runs/sanity_checks)")
    parser.add_argument("--quick", action="store_true", help="fewer steps, for smoke tests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    name, x, y = load(256 if args.quick else 4096)
    print(f"data: {len(x)} {name} images")
    for label, result in starting_loss(x[:256], y[:256], args.seed):
        print(f"{label:<24} {result}")
    runs = overfit(x[:32], y[:32], 20 if args.quick else 100, args.seed,
                   os.path.join(args.out, "overfit_one_batch.png"))
    for label, r in runs.items():
        print(f"{label:<28} {r}")
    gradient_norms(x, y, 5 if args.quick else 100, args.seed, args.out)
    print(f"figures in {args.out}/")
    return 0


if __name__ == "__main__":
    run_example(main, "runs/sanity_checks")
