"""The main demo: a U-Net with hand-written backprop segments nuclei in a real microscopy image.

Data: the 512x512 fluorescence image of 125 hand-labelled nuclei that the ``stardist``
package bundles.  Rows 0-383 are cut into 64x64 training tiles, rows 384-511 into validation
tiles; the two regions never overlap.  Training: UNet(base 16, depth 3, BatchNorm), Adam with
a one-cycle learning rate, Dice + cross-entropy loss, flips and 90-degree rotations applied
to image and mask together.  Then the whole image is segmented with overlapping windows.

Writes to ``runs/demo/`` (or ``--out``): ``learning_curves.png``, ``validation.png`` (image /
truth / prediction / errors of the validation region), ``prediction.png`` (the full image
with its predicted mask), ``metrics.json``, ``model.npz`` (for ``numcnn predict``) and the
training checkpoints.

Run: ``python -m numcnn.demo`` (``--quick`` for a seconds-long smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import data, io, metrics, nn, optim, train, viz
from .datasets import load_nuclei
from .models import UNet
from .predict import sliding_window


def run(out: str = "runs/demo", epochs: int = 40, base_channels: int = 16, depth: int = 3,
        batch_size: int = 8, lr: float = 3e-3, seed: int = 0, quick: bool = False,
        quiet: bool = False) -> dict:
    """Train, evaluate and plot; return the metrics written to ``metrics.json``."""
    t_start = time.perf_counter()
    if quick:
        epochs, base_channels, depth = 2, 4, 2
    ds = load_nuclei(target="binary", tile=64)
    x_train, y_train = ds.x_train, ds.y_train
    if quick:
        x_train, y_train = x_train[:8], y_train[:8]
    augment = data.Compose([data.RandomHorizontalFlip(), data.RandomVerticalFlip(),
                            data.RandomRotate90()])
    train_loader = data.DataLoader(data.ArrayDataset(x_train, y_train), batch_size,
                                   shuffle=True, seed=seed, transform=augment)
    val_loader = data.DataLoader(data.ArrayDataset(ds.x_val, ds.y_val), 16)

    model = UNet(1, ds.num_classes, base_channels=base_channels, depth=depth, rng=seed)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * len(train_loader),
                                 pct_start=0.15)
    history = train.fit(model, nn.DiceCELoss(), optimizer, train_loader, val_loader,
                        epochs=epochs, metrics=[metrics.SegmentationMetrics(ds.num_classes)],
                        scheduler=scheduler, scheduler_interval="batch",
                        checkpoint_dir=os.path.join(out, "checkpoints"),
                        monitor="val_fg_iou", mode="max", quiet=quiet, train_metrics=False,
                        overwrite=True)  # the demo rebuilds its whole folder every run
    t_train = time.perf_counter() - t_start

    # the whole image, window by window; scores on the validation rows only
    labels, _ = sliding_window(model, ds.image, tile=64, overlap=16)
    val_rows = slice(ds.val_start, None)
    seg = metrics.SegmentationMetrics(ds.num_classes)
    seg.update(labels[None, val_rows], ds.target[None, val_rows])
    scores = seg.compute()
    result = {
        "val_fg_iou": float(scores["fg_iou"]), "val_fg_dice": float(scores["fg_dice"]),
        "val_pixel_accuracy": float(scores["pixel_accuracy"]),
        "val_miou": float(scores["miou"]),
        "best_epoch_val_fg_iou_tiles": float(max(history["val_fg_iou"])),
        "epochs": epochs, "train_seconds": round(t_train, 1),
        "total_seconds": round(time.perf_counter() - t_start, 1),
        "model": f"UNet(1, {ds.num_classes}, base_channels={base_channels}, depth={depth})",
        "parameters": int(sum(p.size for p in model.parameters())),
    }

    os.makedirs(out, exist_ok=True)
    viz.plot_history(history, os.path.join(out, "learning_curves.png"),
                     title="U-Net on nuclei: loss")
    viz.plot_segmentation(ds.image[val_rows], ds.target[val_rows], labels[val_rows], 2,
                          os.path.join(out, "validation.png"),
                          title=f"Validation region (rows {ds.val_start}-511): "
                                f"IoU {result['val_fg_iou']:.3f}, "
                                f"Dice {result['val_fg_dice']:.3f}")
    viz.plot_overlay(ds.image, labels, 2, path=os.path.join(out, "prediction.png"),
                     title=f"Predicted nuclei (below the dashed line: validation rows "
                           f"{ds.val_start}-511)", split_row=ds.val_start)
    history.to_json(os.path.join(out, "history.json"))
    spec = {"name": "unet", "in_channels": 1, "num_classes": ds.num_classes,
            "base_channels": base_channels, "depth": depth}
    io.save_checkpoint(os.path.join(out, "model.npz"), model,
                       extra={"model_spec": json.dumps(spec)})  # for `numcnn predict`
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(result, f, indent=2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="numcnn demo", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a tiny run, for smoke tests")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    result = run(args.out, epochs=args.epochs, seed=args.seed, quick=args.quick,
                 quiet=args.quiet)
    print(f"validation (rows 384-511, whole-image prediction): foreground IoU "
          f"{result['val_fg_iou']:.3f}, Dice {result['val_fg_dice']:.3f}, pixel accuracy "
          f"{result['val_pixel_accuracy']:.3f}; trained {result['epochs']} epochs in "
          f"{result['train_seconds']:.0f}s, total {result['total_seconds']:.0f}s")
    print(f"figures and metrics.json in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
