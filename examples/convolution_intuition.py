# %% [markdown]
# # What a convolution does, and why CNNs are built from them
#
# Five small experiments, each with a figure, for docs/intuition.md:
#
# 1. **Hand-made filters** on a real photograph (scikit-image's `camera`): a 5x5 blur and
#    the two Sobel edge detectors, run through `numcnn.functional.conv2d_forward`.  A
#    filter is a pattern detector: the output is large where the image looks like it.
# 2. **Translation equivariance**: shifting the input shifts a convolution's output by the
#    same amount (exactly, away from the border).  A stride-2 pooling keeps that only for
#    even shifts.
# 3. **Receptive field**: which input pixels one output pixel depends on, measured with the
#    hand-written backward pass (the support of d out[centre] / d x) and compared with the
#    formula r_l = r_{l-1} + (k_l - 1) * j_{l-1}, j_l = j_{l-1} * s_l.
# 4. **Parameter sharing**: one 3x3 filter bank serves every position; the layers that
#    would map the same input to the same output without sharing need 1000x more weights.
# 5. **First-layer filters before and after training** a small CNN on Fashion-MNIST
#    (scikit-learn's 8x8 digits when Debian's `dataset-fashion-mnist` is not installed):
#    random noise becomes edge, blob and stripe detectors.
#
# Writes to `runs/convolution_intuition/` (or `--out`): `filters_on_camera.png`,
# `equivariance.png`, `receptive_field.png`, `filters_before.png`, `filters_after.png`.
# Run: `python examples/convolution_intuition.py` (`--quick`: seconds).

# %%
"""What a convolution does: filters, equivariance, receptive fields, sharing, learning."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from matplotlib.figure import Figure

from numcnn import data, functional, metrics, nn, optim, train, viz
from numcnn.datasets import load_digits, load_fashion_mnist
from numcnn.notebook import run_example

# %% [markdown]
# ## 1. Hand-made filters on a photograph

# %%
def camera(step: int = 1) -> np.ndarray:
    """scikit-image's 512x512 camera man as (1, 1, H, W) float32 in [0, 1] (every
    ``step``-th pixel)."""
    from skimage import data as skdata

    img = skdata.camera()[::step, ::step].astype(np.float32) / 255.0
    return img[None, None]


KERNELS = {
    "blur (5x5 mean)": np.full((5, 5), 1 / 25),
    "vertical edges (Sobel x)": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float),
    "horizontal edges (Sobel y)": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], float),
}


def apply(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One hand-made filter as a conv layer, w of shape (1, 1, k, k), on x padded by
    mirroring its border (zero padding would draw a false edge around the photograph)."""
    p = kernel.shape[0] // 2
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="reflect")
    return functional.conv2d_forward(x_pad, kernel.astype(x.dtype)[None, None])[0][0, 0]


def show_filters(x: np.ndarray, path: str) -> dict:
    outputs = {name: apply(x, k) for name, k in KERNELS.items()}
    gx, gy = outputs["vertical edges (Sobel x)"], outputs["horizontal edges (Sobel y)"]
    outputs["edge strength sqrt(gx^2 + gy^2)"] = np.sqrt(gx**2 + gy**2)
    fig = Figure(figsize=(15, 3.6))
    axes = fig.subplots(1, 5)
    axes[0].imshow(x[0, 0], cmap="gray")
    axes[0].set_title("input (scikit-image camera)", fontsize=9)
    for ax, (name, out) in zip(axes[1:], outputs.items()):
        signed = "Sobel" in name and "strength" not in name
        m = float(np.abs(out).max())
        ax.imshow(out, cmap="RdBu_r" if signed else "gray", vmin=-m if signed else None,
                  vmax=m if signed else None)
        ax.set_title(name, fontsize=9)
        kernel = KERNELS.get(name)
        if kernel is not None:  # the kernel itself, as an inset
            inset = ax.inset_axes((0.70, 0.70, 0.28, 0.28))
            km = float(np.abs(kernel).max())
            inset.imshow(kernel, cmap="RdBu_r", vmin=-km, vmax=km)
            inset.set_xticks([])
            inset.set_yticks([])
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Three 'neurons' with hand-set weights: each output pixel is the weighted "
                 "sum of a window (blue < 0 < red)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return {name: (float(out.min()), float(out.max())) for name, out in outputs.items()}


# %% [markdown]
# ## 2. Translation equivariance

# %%
def shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """x moved down by dy and right by dx, zeros coming in."""
    out = np.zeros_like(x)
    out[..., dy:, dx:] = x[..., :x.shape[-2] - dy, :x.shape[-1] - dx]
    return out


def equivariance(x: np.ndarray, path: str) -> dict:
    kernel = KERNELS["vertical edges (Sobel x)"]
    dy, dx = 24, 40
    a = shift(apply(x, kernel)[None, None], dy, dx)[0, 0]     # conv, then shift
    b = apply(shift(x, dy, dx), kernel)                       # shift, then conv
    inner = (slice(dy + 2, -2), slice(dx + 2, -2))            # away from every border
    conv_diff = float(np.abs(a - b)[inner].max())

    def pool(v):
        return functional.max_pool2d_forward(v, 2)[0][0, 0]

    def pooled_shift(k):
        return shift(pool(x)[None, None], k, k)[0, 0]
    # an even shift of the input is a shift of the pooled map by half as much; an odd one
    # is neither the pooled map shifted by 0 nor by 1
    even = float(np.abs(pool(shift(x, 2, 2)) - pooled_shift(1))[2:-2, 2:-2].max())
    odd = min(float(np.abs(pool(shift(x, 1, 1)) - pooled_shift(k))[2:-2, 2:-2].max())
              for k in (0, 1))

    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 4)
    m = float(np.abs(a).max())
    for ax, img, title in [(axes[0], shift(x, dy, dx)[0, 0], f"input shifted by ({dy}, {dx})"),
                           (axes[1], a, "conv(x), then shifted"),
                           (axes[2], b, "conv(shifted x)")]:
        ax.imshow(img, cmap="gray" if ax is axes[0] else "RdBu_r",
                  vmin=None if ax is axes[0] else -m, vmax=None if ax is axes[0] else m)
        ax.set_title(title, fontsize=9)
    im = axes[3].imshow(np.abs(a - b), cmap="magma", vmin=0, vmax=m)
    axes[3].set_title(f"|difference|: {conv_diff:.1e} inside,\nnon-zero only at the borders",
                      fontsize=9)
    fig.colorbar(im, ax=axes[3], shrink=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Translation equivariance: conv(shift(x)) = shift(conv(x))", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return {"conv_max_diff_inside": conv_diff, "maxpool2_even_shift_diff": even,
            "maxpool2_odd_shift_diff": odd}


# %% [markdown]
# ## 3. Receptive fields, measured with the backward pass

# %%
STACKS = {
    "conv3": [("conv", 3, 1)],
    "conv3, conv3": [("conv", 3, 1)] * 2,
    "conv3 x 3": [("conv", 3, 1)] * 3,
    "conv3, pool2, conv3, conv3": [("conv", 3, 1), ("pool", 2, 2), ("conv", 3, 1),
                                   ("conv", 3, 1)],
}


def formula(layers) -> int:
    """r_l = r_{l-1} + (k_l - 1) * j_{l-1};  j_l = j_{l-1} * s_l  (r_0 = 1, j_0 = 1)."""
    r, j = 1, 1
    for _, k, s in layers:
        r, j = r + (k - 1) * j, j * s
    return r


def build(layers, rng) -> nn.Sequential:
    mods = []
    for kind, k, s in layers:
        if kind == "conv":
            mods.append(nn.Conv2d(1, 1, k, padding=k // 2, bias=False, rng=rng))
        else:
            mods.append(nn.MaxPool2d(k, s))
    return nn.Sequential(*mods)


def measured_field(model, size: int, seed: int = 0) -> np.ndarray:
    """|d out[centre] / d x| summed over a few random inputs: its support is the receptive
    field of the centre output pixel (one random input could hide a pixel by chance)."""
    rng = np.random.default_rng(seed)
    total = np.zeros((size, size))
    for _ in range(4):
        x = rng.standard_normal((1, 1, size, size))
        out = model(x)
        dout = np.zeros_like(out)
        dout[0, 0, out.shape[2] // 2, out.shape[3] // 2] = 1.0
        total += np.abs(model.backward(dout)[0, 0])
    return total


def receptive_fields(path: str, unet: bool) -> dict:
    size = 33
    found = {}
    panels = []
    for name, layers in STACKS.items():
        model = build(layers, np.random.default_rng(1))
        model.to(np.float64)
        field = measured_field(model, size)
        rows = np.flatnonzero(field.sum(axis=1) > 0)
        found[name] = (int(rows[-1] - rows[0] + 1), formula(layers))
        panels.append((name, field, found[name]))
    if unet:  # the demo's U-Net on a 64x64 tile: does the centre pixel see all of it?
        from numcnn.models import UNet

        model = UNet(1, 1, base_channels=4, depth=3, rng=0).eval().to(np.float64)
        field = measured_field(model, 64)
        rows = np.flatnonzero(field.sum(axis=1) > 0)
        found["UNet depth 3"] = (int(rows[-1] - rows[0] + 1), None)
        panels.append(("the demo's U-Net (depth 3), 64x64 tile", field, found["UNet depth 3"]))
    fig = Figure(figsize=(3.2 * len(panels), 3.6))
    axes = fig.subplots(1, len(panels))
    for ax, (name, field, (measured, predicted)) in zip(axes, panels):
        ax.imshow(field > 0, cmap="Greys", vmin=0, vmax=1.4)
        c = field.shape[0] // 2
        ax.plot([c], [c], "r+", ms=10)
        note = f"formula {predicted}" if predicted else "wider than the tile"
        ax.set_title(f"{name}\nmeasured {measured}x{measured}, {note}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Receptive field of the centre output pixel (grey: the inputs it depends "
                 "on, found by the backward pass)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(path, dpi=80)
    return found


# %% [markdown]
# ## 4. Parameter sharing

# %%
def parameter_counts(H: int = 28, W: int = 28, F: int = 16, k: int = 3) -> dict:
    """One layer from a 1 x H x W image to F x H x W feature maps, three ways."""
    conv = nn.Conv2d(1, F, k, padding=k // 2)
    shared = sum(p.size for p in conv.parameters())
    local = F * H * W * (k * k + 1)          # a separate k x k filter at every position
    dense = (H * W) * (F * H * W) + F * H * W  # every output sees every input pixel
    return {"conv (shared 3x3 filters)": shared, "locally connected (no sharing)": local,
            "fully connected": dense}


# %% [markdown]
# ## 5. First-layer filters before and after training

# %%
def load_images(quick: bool):
    """Fashion-MNIST (Debian's dataset-fashion-mnist) or, when absent, the 8x8 digits."""
    try:
        x, y = load_fashion_mnist(split="train")
        xt, yt = load_fashion_mnist(split="test")
        name = "Fashion-MNIST"
    except FileNotFoundError:
        print("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): "
              "using scikit-learn's 8x8 digits instead")
        (x, y), (xt, yt) = load_digits("train"), load_digits("test")
        name = "digits"
    n, n_test = (256, 500) if quick else (20000, 10000)
    return name, (x[:n], y[:n]), (xt[:n_test], yt[:n_test])


def small_cnn(size: int, seed: int) -> nn.Sequential:
    """conv 5x5 -> 16, ReLU, pool, conv 3x3 -> 32, ReLU, pool, linear: big first filters,
    so that there is something to look at."""
    side = size // 4
    return nn.Sequential(nn.Conv2d(1, 16, 5, padding=2, rng=seed), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1, rng=seed + 1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * side * side, 10, rng=seed + 2))


def filters_before_after(out: str, quick: bool, seed: int) -> dict:
    name, (x, y), (xt, yt) = load_images(quick)
    mean, std = float(x.mean()), float(x.std())
    x, xt = (x - mean) / std, (xt - mean) / std
    model = small_cnn(x.shape[-1], seed)
    viz.plot_filters(model[0].weight, os.path.join(out, "filters_before.png"),
                     title="first layer before training (random)")
    t0 = time.perf_counter()
    loader = data.DataLoader(data.ArrayDataset(x, y), 64, shuffle=True, seed=seed)
    train.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=2e-3), loader,
              epochs=1, quiet=True, train_metrics=False)
    acc = train.evaluate(model, data.DataLoader(data.ArrayDataset(xt, yt), 500),
                         [metrics.Accuracy()])["accuracy"]
    viz.plot_filters(model[0].weight, os.path.join(out, "filters_after.png"),
                     title=f"after one epoch on {len(x)} {name} images "
                           f"(test accuracy {acc:.3f})")
    return {"data": name, "n_train": len(x), "test_accuracy": float(acc),
            "train_seconds": round(time.perf_counter() - t0, 1)}


# %% [markdown]
# ## Run
#
# As a script: `python examples/convolution_intuition.py [--quick]`.
# In a notebook the options come from the environment variable `NUMCNN_EXAMPLE_ARGS`
# (empty: the full run), and the figures appear below the cell.

# %%
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/convolution_intuition",
                        help="output folder (default runs/convolution_intuition)")
    parser.add_argument("--quick", action="store_true", help="small image, tiny training")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    x = camera(4 if args.quick else 1)
    ranges = show_filters(x, os.path.join(args.out, "filters_on_camera.png"))
    for name, (lo, hi) in ranges.items():
        print(f"{name:<34} output range [{lo:+.2f}, {hi:+.2f}]")
    eq = equivariance(x, os.path.join(args.out, "equivariance.png"))
    print(f"conv(shift(x)) vs shift(conv(x)), away from the borders: max |diff| "
          f"{eq['conv_max_diff_inside']:.1e}")
    print(f"max-pool 2x2 stride 2: an even shift (2) commutes (max |diff| "
          f"{eq['maxpool2_even_shift_diff']:.1e}); an odd one (1) does not "
          f"({eq['maxpool2_odd_shift_diff']:.2f})")
    fields = receptive_fields(os.path.join(args.out, "receptive_field.png"),
                              unet=not args.quick)
    for name, (measured, predicted) in fields.items():
        print(f"receptive field of {name:<28} measured {measured:>2}"
              + (f", formula {predicted}" if predicted else " (the whole 64x64 tile)"))
    for name, count in parameter_counts().items():
        print(f"1x28x28 -> 16x28x28, {name:<32} {count:>12,} parameters")
    r = filters_before_after(args.out, args.quick, args.seed)
    print(f"small CNN, one epoch on {r['n_train']} {r['data']} images: test accuracy "
          f"{r['test_accuracy']:.3f} ({r['train_seconds']:.0f} s)")
    print(f"figures in {args.out}/")
    return 0


if __name__ == "__main__":
    run_example(main, "runs/convolution_intuition")
