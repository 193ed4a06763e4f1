# %% [markdown]
# # What the network sees: filters, feature maps, saliency and Grad-CAM of two small CNNs.
#
# Part 1, a classifier.  A SeedCNN (conv 3x3 -> 32, ReLU, pool, conv 3x3 -> 64, ReLU, pool,
# linear) is trained for a few epochs on scikit-learn's 8x8 handwritten digits (or loaded from
# `--checkpoint`).  Then we look inside it:
#
# - `digits_filters.png`: the 32 first-layer 3x3 filters (red weights > 0 > blue).
# - `digits_feature_maps.png`: one test digit and what those filters (after the ReLU) make
#   of it: the 15 most active of the 32 maps.
# - `digits_saliency.png`: dS/dx, the gradient of the predicted class's logit with respect to
#   each input pixel, computed by the network's own hand-written backward pass.  Red: making
#   that pixel brighter raises the score; blue: lowers it.
# - `digits_grad_cam.png`: Grad-CAM at the second conv block (4x4 feature maps, upsampled to
#   8x8): which regions carry the evidence for the predicted class.
#
# Part 2, a segmenter.  A small U-Net is trained briefly on synthetic shapes (circles,
# squares, triangles on a noisy background; `numcnn.datasets.make_shapes`).  For a U-Net the
# score of class c is its logit summed over pixels, here over the pixels predicted as c:
#
# - `shapes_prediction.png`: image, truth, prediction and errors for one validation image.
# - `shapes_saliency.png`: one image per class; the gradient of that class's score with
#   respect to the input concentrates on the shape's outline.
# - `shapes_grad_cam.png`: Grad-CAM for the same scores at the deepest encoder level
#   (`model.encoders[-1]`, 8x8 maps).  For the square and the triangle it lands on the
#   shape.  For the circle it lands on the background around it: Grad-CAM shows only
#   *positive*, channel-averaged evidence, and whatever makes this network call a round blob
#   a circle (perhaps the absence of corners) is not that.  A heuristic, not a ground truth.
# - `shapes_grad_cam_per_class.png`: one image, one row per class (the logit summed over
#   the whole image), one colour scale: "square" lights up the square and "triangle" the
#   triangle, each not the other shapes (Grad-CAM is class-discriminative); "circle" shows
#   nothing, as above.
#
# Run: `python examples/what_the_network_sees.py` (about 1-2 minutes on 2 cores;
# `--quick` for a seconds-long smoke run with barely trained networks).

# %%
"""What the network sees: filters, feature maps, saliency and Grad-CAM of two small CNNs."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from numcnn import data, interpret, io, metrics, nn, optim, train, viz
from numcnn.datasets import SHAPE_CLASSES, load_digits, make_shapes
from numcnn.functional import softmax
from numcnn.models import SeedCNN, UNet
from numcnn.notebook import run_example

# %% [markdown]
# ## Part 1: a classifier

# %%
def digits_model(out: str, quick: bool, seed: int, checkpoint: str | None,
                 epochs: int) -> tuple[SeedCNN, np.ndarray, np.ndarray]:
    """A SeedCNN for 8x8 digits, trained here (or loaded); returns it and the test set."""
    x_train, y_train = load_digits("train", seed=seed)
    x_test, y_test = load_digits("test", seed=seed)
    model = SeedCNN(in_channels=1, num_classes=10, input_size=8, rng=seed)
    if checkpoint:
        io.load_checkpoint(checkpoint, model)
        print(f"digits: loaded SeedCNN weights from {checkpoint}")
    else:
        if quick:
            x_train, y_train, epochs = x_train[:128], y_train[:128], 1
        loader = data.DataLoader(data.ArrayDataset(x_train, y_train), batch_size=32,
                                 shuffle=True, seed=seed)
        optimizer = optim.Adam(model.parameters(), lr=2e-3)
        train.fit(model, nn.CrossEntropyLoss(), optimizer, loader, epochs=epochs, quiet=True,
                  checkpoint_dir=os.path.join(out, "checkpoints"), monitor="train_loss",
                  overwrite=True)  # this script rebuilds its folder on every run
        print(f"digits: trained SeedCNN for {epochs} epoch(s) on {len(x_train)} images "
              f"(weights in {out}/checkpoints/last.npz; reuse with --checkpoint)")
    with nn.no_grad():
        model.eval()
        acc = metrics.accuracy(model(x_test), y_test)
    print(f"digits: test accuracy {acc:.3f} on {len(x_test)} images")
    return model, x_test, y_test


def look_at_digits(model: SeedCNN, x_test: np.ndarray, y_test: np.ndarray, out: str,
                   n_show: int) -> None:
    """Filters, feature maps, saliency and Grad-CAM of the digits classifier."""
    # one test image of each of the first n_show classes
    idx = np.array([np.flatnonzero(y_test == c)[0] for c in range(n_show)])
    x, y = x_test[idx], y_test[idx]
    with nn.no_grad():
        model.eval()
        logits = model(x)
    pred = logits.argmax(axis=1)
    prob = softmax(logits)
    labels = [f"true {t}, predicted {p} ({prob[i, p]:.0%})"
              for i, (t, p) in enumerate(zip(y, pred))]

    conv1 = model[0]                     # Conv2d(1, 32, 3, padding=1)
    viz.plot_filters(conv1.weight, os.path.join(out, "digits_filters.png"),
                     title="SeedCNN on digits: first-layer filters")

    maps = interpret.feature_maps(model, x[:1], model[1])          # after the first ReLU
    viz.plot_feature_maps(maps[0], os.path.join(out, "digits_feature_maps.png"), max_maps=15,
                          order="strongest", image=x[0],
                          title=f"A digit {y[0]} and the 15 most active of 32 maps after "
                                f"conv1 + ReLU")

    grads = interpret.saliency(model, x, pred)                     # (n, 1, 8, 8)
    viz.plot_saliency(x, grads, os.path.join(out, "digits_saliency.png"), titles=labels,
                      title="Saliency: d(logit of the predicted class) / d(pixel)")

    cams = interpret.grad_cam(model, x, pred, layer=model[4])      # second ReLU, 4x4 maps
    viz.plot_grad_cam(x, cams, os.path.join(out, "digits_grad_cam.png"), titles=labels,
                      title="Grad-CAM at conv2 + ReLU (4x4, upsampled)")


# %% [markdown]
# ## Part 2: a segmenter

# %%
def shapes_model(quick: bool, seed: int, epochs: int) -> tuple[UNet, np.ndarray, np.ndarray]:
    """A small U-Net trained briefly on synthetic shapes; returns it and validation data."""
    n_train, base = (16, 4) if quick else (192, 8)
    epochs = 1 if quick else epochs
    x_train, y_train = make_shapes(n_train, size=32, seed=seed)
    x_val, y_val = make_shapes(16, size=32, seed=seed + 1000)
    model = UNet(in_channels=1, num_classes=len(SHAPE_CLASSES), base_channels=base, depth=2,
                 rng=seed)
    loader = data.DataLoader(data.ArrayDataset(x_train, y_train), batch_size=16, shuffle=True,
                             seed=seed)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    scheduler = optim.OneCycleLR(optimizer, max_lr=1e-2, total_steps=epochs * len(loader))
    train.fit(model, nn.DiceCELoss(), optimizer, loader, epochs=epochs, quiet=True,
              scheduler=scheduler, scheduler_interval="batch")
    with nn.no_grad():
        model.eval()
        pred = model(x_val).argmax(axis=1)
    seg = metrics.SegmentationMetrics(len(SHAPE_CLASSES))
    seg.update(pred, y_val)
    print(f"shapes: trained UNet(base {base}, depth 2) for {epochs} epoch(s) on {n_train} "
          f"images; validation mean IoU {seg.compute()['miou']:.3f}")
    return model, x_val, y_val


def look_at_shapes(model: UNet, x_val: np.ndarray, y_val: np.ndarray, out: str) -> None:
    """Saliency and Grad-CAM of one foreground class per image, and per class for one."""
    with nn.no_grad():
        model.eval()
        pred = model(x_val).argmax(axis=1)                          # (N, H, W)
    viz.plot_segmentation(x_val[0], y_val[0], pred[0], len(SHAPE_CLASSES),
                          os.path.join(out, "shapes_prediction.png"),
                          title="U-Net on shapes (0 background, 1 circle, 2 square, "
                                "3 triangle)")

    # one image per foreground class: the first whose largest shape is of that class
    largest = np.array([np.bincount(y.ravel(), minlength=4)[1:].argmax() + 1 for y in y_val])
    show = [int(np.flatnonzero(largest == c)[0]) for c in (1, 2, 3) if (largest == c).any()]
    classes = largest[show]
    # the class score: its logit summed over the pixels *predicted* as that class (over the
    # true ones if the network predicts none, as a barely trained one may)
    masks = np.stack([pred[i] == c if (pred[i] == c).any() else y_val[i] == c
                      for i, c in zip(show, classes)])
    labels = [f"score of '{SHAPE_CLASSES[c]}'" for c in classes]
    x = x_val[show]
    grads = interpret.saliency(model, x, classes, mask=masks)
    viz.plot_saliency(x, grads, os.path.join(out, "shapes_saliency.png"), titles=labels,
                      title="U-Net: d(class logits summed over its predicted pixels) / "
                            "d(pixel)")
    bottleneck = model.encoders[-1]                  # the deepest encoder level, 8x8
    cams = interpret.grad_cam(model, x, classes, layer=bottleneck, mask=masks)
    viz.plot_grad_cam(x, cams, os.path.join(out, "shapes_grad_cam.png"), titles=labels,
                      title="Grad-CAM at the deepest encoder level (8x8, upsampled)")

    # the image with the most kinds of shape: Grad-CAM of every foreground class, its
    # logit summed over the whole image, on one colour scale
    i = int(np.argmax([len(np.unique(y)) for y in y_val]))
    fg = np.arange(1, len(SHAPE_CLASSES))
    xi = np.repeat(x_val[i:i + 1], len(fg), axis=0)
    per_class = interpret.grad_cam(model, xi, fg, layer=bottleneck, normalize=False)
    viz.plot_grad_cam(xi, per_class, os.path.join(out, "shapes_grad_cam_per_class.png"),
                      titles=[f"class '{SHAPE_CLASSES[c]}'" for c in fg], shared_scale=True,
                      title="Grad-CAM of each class, same image, one colour scale")


# %% [markdown]
# ## Run
#
# As a script: `python examples/what_the_network_sees.py [--quick]`.
# In a notebook the options come from the environment variable `NUMCNN_EXAMPLE_ARGS`
# (empty: the full run), and the figures appear below the cell.

# %%
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/what_the_network_sees",
                        help="output folder (default runs/what_the_network_sees)")
    parser.add_argument("--quick", action="store_true", help="tiny, barely trained networks")
    parser.add_argument("--checkpoint", help="SeedCNN digits checkpoint (.npz) to reuse "
                                             "instead of training")
    parser.add_argument("--epochs", type=int, default=6, help="digits epochs (default 6)")
    parser.add_argument("--unet-epochs", type=int, default=10, help="shapes epochs (10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()

    model, x_test, y_test = digits_model(args.out, args.quick, args.seed, args.checkpoint,
                                         args.epochs)
    look_at_digits(model, x_test, y_test, args.out, n_show=3 if args.quick else 6)
    t1 = time.perf_counter()
    print(f"digits part: {t1 - t0:.1f}s")

    unet, x_val, y_val = shapes_model(args.quick, args.seed, args.unet_epochs)
    look_at_shapes(unet, x_val, y_val, args.out)
    print(f"shapes part: {time.perf_counter() - t1:.1f}s")
    print(f"figures in {args.out}/")
    return 0


if __name__ == "__main__":
    run_example(main, "runs/what_the_network_sees")
