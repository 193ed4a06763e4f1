"""The main demo: a U-Net with hand-written backprop finds every nucleus in a real microscopy
image, as its own object, and is scored beside the classical methods the way the field
scores nuclei (one-to-one matching at IoU >= 0.5).

Data: the 512x512 fluorescence image of 125 hand-labelled nuclei that the ``stardist``
package bundles.  Rows 0-383 are cut into 64x64 training tiles, rows 384-511 (36 nuclei) are
the validation rows; the two regions never overlap.  The network: ``UNet(1, 3)`` (base 16,
depth 3, BatchNorm) learns three classes, background / interior / boundary (the boundary
class keeps touching nuclei apart); Adam with a one-cycle learning rate, Dice +
cross-entropy with the rare boundary class weighted up, flips and quarter turns applied to
image and mask together.  The whole image is segmented with overlapping windows; the
interiors are the seeds of a watershed that grows them back into the foreground
(``numcnn.predict.probs_to_instances``), with the interior threshold chosen on the training
rows.  Baselines in the same run, on the same rows: Otsu + distance-transform watershed
(``numcnn.predict.otsu_watershed``, no learning) and a 2-class U-Net + connected components
(what the foreground alone gives: touching nuclei merge).

Writes to ``runs/demo/`` (or ``--out``): ``instances.npy`` (512x512 int32, 0 background,
one id per nucleus), ``instances.png`` (the validation rows, each nucleus its own colour,
true outlines, errors marked), ``metrics.json``, ``comparison.md`` (the table printed at the
end), ``learning_curves.png``, ``validation.png`` (image / truth / prediction / errors of
the three classes), ``prediction.png`` (the whole image), ``model.npz`` (for
``numcnn predict``) and the training checkpoints.

Run: ``python -m numcnn.demo`` (``--quick`` for a seconds-long smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from . import data, io, metrics, nn, optim, train, viz
from .datasets import load_nuclei
from .models import UNet
from .predict import otsu_watershed, probs_to_instances, sliding_window

EPOCHS = 80                 # of the 3-class U-Net
BOUNDARY_WIDTH = 2          # pixels of the boundary class (instances_to_target)
BOUNDARY_WEIGHT = 3.0       # cross-entropy weight of the boundary class (background, interior: 1)
INTERIOR_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)   # tried on the training rows
METHODS = ("3-class U-Net + watershed", "2-class U-Net + connected components",
           "Otsu + distance-transform watershed")


def train_unet(x: np.ndarray, y: np.ndarray, num_classes: int, epochs: int,
               base_channels: int = 16, depth: int = 3, batch_size: int = 8,
               lr: float = 3e-3, seed: int = 0, val: tuple | None = None,
               checkpoint_dir: str | None = None, quiet: bool = True):
    """Train ``UNet(1, num_classes)`` on tiles x (N, 1, T, T) float32, y (N, T, T) int64 with
    the demo's recipe (flips and quarter turns, Adam with a one-cycle rate, Dice +
    cross-entropy; for 3 classes the boundary class weighted ``BOUNDARY_WEIGHT``).
    ``val = (x_val, y_val)`` tiles are scored after every epoch.  Returns (model, history)."""
    augment = data.Compose([data.RandomHorizontalFlip(), data.RandomVerticalFlip(),
                            data.RandomRotate90()])
    train_loader = data.DataLoader(data.ArrayDataset(x, y), batch_size, shuffle=True,
                                   seed=seed, transform=augment)
    val_loader = None if val is None else data.DataLoader(data.ArrayDataset(*val), 16)
    model = UNet(1, num_classes, base_channels=base_channels, depth=depth, rng=seed)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * len(train_loader),
                                 pct_start=0.15)
    weight = None if num_classes == 2 else np.array([1.0, 1.0, BOUNDARY_WEIGHT])
    history = train.fit(model, nn.DiceCELoss(weight=weight), optimizer, train_loader,
                        val_loader, epochs=epochs,
                        metrics=None if val is None else [metrics.SegmentationMetrics(
                            num_classes)],
                        scheduler=scheduler, scheduler_interval="batch",
                        checkpoint_dir=checkpoint_dir,
                        monitor="val_loss" if val is not None else "train_loss",
                        quiet=quiet, train_metrics=False)
    return model, history


def score_instances(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """AP@0.5, F1, PQ, DSB score, AJI and foreground IoU of one label image against the
    truth (both (H, W) int), as plain floats, plus the counts."""
    m = metrics.InstanceMetrics()
    m.update(pred, target)
    r = m.compute()
    fg_p, fg_t = pred > 0, target > 0
    union = np.count_nonzero(fg_p | fg_t)
    return {"ap": r["ap"], "f1": r["f1"], "pq": r["pq"], "dsb": r["dsb"], "aji": r["aji"],
            "fg_iou": np.count_nonzero(fg_p & fg_t) / union if union else 0.0,
            "tp": r["tp"], "fp": r["fp"], "fn": r["fn"], "n_true": r["n_true"],
            "n_pred": r["n_pred"]}


def choose_interior_threshold(probs: np.ndarray, target: np.ndarray) -> float:
    """The threshold of ``INTERIOR_THRESHOLDS`` with the best AP@0.5 (then DSB) of
    ``probs_to_instances`` on these rows (pass the training rows: never the validation)."""
    def key(t):
        s = score_instances(probs_to_instances(probs, t), target)
        return s["ap"], s["dsb"]
    return max(INTERIOR_THRESHOLDS, key=key)


def comparison_table(scores: dict[str, dict], title: str) -> str:
    """A Markdown table: one row per method, the instance scores as columns."""
    lines = [title, "", "| method | AP@0.5 | F1 | PQ | DSB | AJI | fg IoU | TP | FP | FN |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in scores.items():
        lines.append(f"| {name} | {s['ap']:.3f} | {s['f1']:.3f} | {s['pq']:.3f} | "
                     f"{s['dsb']:.3f} | {s['aji']:.3f} | {s['fg_iou']:.3f} | {s['tp']} | "
                     f"{s['fp']} | {s['fn']} |")
    return "\n".join(lines) + "\n"


def run(out: str = "runs/demo", epochs: int = EPOCHS, base_channels: int = 16, depth: int = 3,
        batch_size: int = 8, lr: float = 3e-3, seed: int = 0, quick: bool = False,
        quiet: bool = False, baseline_epochs: int = 40) -> dict:
    """Train, segment, compare, plot; return the metrics written to ``metrics.json``."""
    t_start = time.perf_counter()
    if quick:
        epochs, baseline_epochs, base_channels, depth = 2, 1, 4, 2
    ds = load_nuclei(target="3class", tile=64, boundary_width=BOUNDARY_WIDTH)
    x_train, y_train = ds.x_train, ds.y_train
    if quick:
        x_train, y_train = x_train[:8], y_train[:8]
    shape = dict(base_channels=base_channels, depth=depth, batch_size=batch_size, lr=lr,
                 seed=seed)
    model, history = train_unet(x_train, y_train, 3, epochs, val=(ds.x_val, ds.y_val),
                                checkpoint_dir=os.path.join(out, "checkpoints"),
                                quiet=quiet, **shape)
    t_train = time.perf_counter() - t_start

    # the whole image, window by window; the threshold from the training rows only
    train_rows, val_rows = slice(0, ds.val_start), slice(ds.val_start, None)
    _, probs = sliding_window(model, ds.image, tile=64, overlap=16)
    threshold = choose_interior_threshold(probs[:, train_rows], ds.instances[train_rows])
    instances = probs_to_instances(probs, threshold)
    truth = ds.instances[val_rows]
    scores = {METHODS[0]: score_instances(instances[val_rows], truth)}

    # baselines on the same rows: the foreground alone, and no learning at all
    binary = (ds.y_train[: len(x_train)] > 0).astype(np.int64)
    model2, _ = train_unet(x_train, binary, 2, baseline_epochs, **shape)
    _, probs2 = sliding_window(model2, ds.image, tile=64, overlap=16)
    scores[METHODS[1]] = score_instances(probs_to_instances(probs2)[val_rows], truth)
    from skimage.filters import gaussian, threshold_otsu

    otsu = threshold_otsu(gaussian(ds.image[train_rows], 1.0, preserve_range=True))
    scores[METHODS[2]] = score_instances(otsu_watershed(ds.image, threshold=otsu)[val_rows],
                                         truth)
    total = time.perf_counter() - t_start

    classes = probs.argmax(axis=0)
    pixel = metrics.SegmentationMetrics(3)
    pixel.update(classes[None, val_rows], ds.target[None, val_rows])
    pixel = pixel.compute()
    ours = scores[METHODS[0]]
    result = {
        **{f"val_{k}": v for k, v in ours.items()},
        "val_fg_dice": 2 * ours["fg_iou"] / (1 + ours["fg_iou"]),
        "val_pixel_miou_3class": float(pixel["miou"]),
        "interior_threshold": threshold,
        "baselines": {name: s for name, s in scores.items() if name != METHODS[0]},
        "epochs": epochs, "baseline_epochs": baseline_epochs,
        "train_seconds": round(t_train, 1), "total_seconds": round(total, 1),
        "model": f"UNet(1, 3, base_channels={base_channels}, depth={depth})",
        "parameters": int(sum(p.size for p in model.parameters())),
        "boundary_width": BOUNDARY_WIDTH, "boundary_weight": BOUNDARY_WEIGHT,
        "val_rows": [ds.val_start, ds.val_stop],
    }

    os.makedirs(out, exist_ok=True)
    io.atomic_write(os.path.join(out, "instances.npy"), lambda f: np.save(f, instances))
    table = comparison_table(scores, f"Validation rows {ds.val_start}-{ds.val_stop - 1} "
                                     f"({ours['n_true']} nuclei), one run, seed {seed}:")
    io.atomic_write(os.path.join(out, "comparison.md"), lambda f: f.write(table.encode()))
    viz.plot_instances(ds.image[val_rows], instances[val_rows], truth,
                       os.path.join(out, "instances.png"),
                       title=f"Validation rows {ds.val_start}-{ds.val_stop - 1}: "
                             f"AP@0.5 {ours['ap']:.2f}, PQ {ours['pq']:.2f}, "
                             f"DSB {ours['dsb']:.2f}")
    viz.plot_history(history, os.path.join(out, "learning_curves.png"),
                     title="3-class U-Net on nuclei: loss")
    viz.plot_segmentation(ds.image[val_rows], ds.target[val_rows], classes[val_rows], 3,
                          os.path.join(out, "validation.png"),
                          title=f"Validation rows {ds.val_start}-511: background / interior "
                                f"/ boundary")
    viz.plot_overlay(ds.image, classes, 3, path=os.path.join(out, "prediction.png"),
                     title=f"Predicted interior (red) and boundary (green); below the dashed "
                           f"line: validation rows {ds.val_start}-511", split_row=ds.val_start)
    history.to_json(os.path.join(out, "history.json"))
    spec = {"name": "unet", "in_channels": 1, "num_classes": 3,
            "base_channels": base_channels, "depth": depth}
    io.save_checkpoint(os.path.join(out, "model.npz"), model,
                       extra={"model_spec": json.dumps(spec)})  # for `numcnn predict`
    io.atomic_write(os.path.join(out, "metrics.json"),
                    lambda f: f.write(json.dumps(result, indent=2).encode()))
    result["table"] = table
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="numcnn demo", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a tiny run, for smoke tests")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    result = run(args.out, epochs=args.epochs, seed=args.seed, quick=args.quick,
                 quiet=args.quiet)
    print(result["table"])
    print(f"trained {result['epochs']} epochs in {result['train_seconds']:.0f}s, total "
          f"{result['total_seconds']:.0f}s (both U-Nets and the baselines)")
    print(f"instances.npy, figures, comparison.md and metrics.json in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
