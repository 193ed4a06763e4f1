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
(``numcnn.predict.probs_to_instances``), with its thresholds chosen on the training
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
BASELINE_EPOCHS = 40        # of the 2-class U-Net (the former demo's recipe)
BOUNDARY_WIDTH = 2          # pixels of the boundary class (instances_to_target)
BOUNDARY_WEIGHT = 3.0       # cross-entropy weight of the boundary class (background, interior: 1)
INTERIOR_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)   # tried on the training rows
MIN_DISTANCES = (None, 5, 7, 9, 12)   # seeds cut from touching interiors (None: not cut)
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
                        quiet=quiet, train_metrics=False,
                        overwrite=True)  # the demo rebuilds its whole folder every run
    return model, history


def score_instances(pred: np.ndarray, target: np.ndarray,
                    bands: list[slice] | None = None) -> dict[str, float]:
    """AP@0.5, F1, PQ, DSB score, AJI and foreground IoU of a label image against the truth
    (both (H, W) int), plus the counts; with ``bands`` (row slices), on those rows only,
    each band matched on its own and the counts pooled (``metrics.InstanceMetrics``)."""
    m = metrics.InstanceMetrics()
    inter = union = 0
    for rows in bands or [slice(None)]:
        m.update(pred[rows], target[rows])
        fg_p, fg_t = pred[rows] > 0, target[rows] > 0
        inter += np.count_nonzero(fg_p & fg_t)
        union += np.count_nonzero(fg_p | fg_t)
    r = m.compute()
    return {"ap": r["ap"], "f1": r["f1"], "pq": r["pq"], "dsb": r["dsb"], "aji": r["aji"],
            "fg_iou": inter / union if union else 0.0, "tp": r["tp"], "fp": r["fp"],
            "fn": r["fn"], "n_true": r["n_true"], "n_pred": r["n_pred"]}


def choose_postprocessing(probs: np.ndarray, target: np.ndarray,
                          bands: list[slice]) -> dict:
    """The ``interior_threshold`` of ``INTERIOR_THRESHOLDS`` and ``min_distance`` of
    ``MIN_DISTANCES`` with the best AP@0.5 (then DSB) of ``probs_to_instances`` on the rows
    ``bands`` (the training rows: never the validation).  Returns them as a dict of keyword
    arguments of ``probs_to_instances``."""
    def key(kw):
        s = score_instances(probs_to_instances(probs, **kw), target, bands)
        return s["ap"], s["dsb"]
    return max((dict(interior_threshold=t, min_distance=d) for t in INTERIOR_THRESHOLDS
                for d in MIN_DISTANCES), key=key)


def training_bands(ds) -> list[slice]:
    """The rows of ``ds.image`` outside its validation band, as one or two slices."""
    H = ds.image.shape[0]
    return [s for s in (slice(0, ds.val_start), slice(ds.val_stop, H)) if s.stop > s.start]


def compare(ds, epochs: int, baseline_epochs: int, n_tiles: int | None = None,
            checkpoint_dir: str | None = None, quiet: bool = True, **recipe) -> dict:
    """Train the 3-class U-Net (and the 2-class baseline) on ``ds``'s training tiles (a
    ``load_nuclei(target="3class")`` split; the first ``n_tiles`` only, if given), segment
    the whole image, and score every method of ``METHODS`` on the validation rows.

    Returns a dict: ``scores`` (method -> ``score_instances``), ``labels`` (method -> (H, W)
    int32 label image of the whole image), ``probs`` (3, H, W), ``model``, ``history`` and
    ``postprocessing`` (``probs_to_instances``'s options, chosen on the training rows) and
    ``train_seconds`` (of the 3-class U-Net)."""
    x, y = ds.x_train[:n_tiles], ds.y_train[:n_tiles]
    val = [slice(ds.val_start, ds.val_stop)]
    bands = training_bands(ds)
    t0 = time.perf_counter()
    model, history = train_unet(x, y, 3, epochs, val=(ds.x_val, ds.y_val),
                                checkpoint_dir=checkpoint_dir, quiet=quiet, **recipe)
    train_seconds = time.perf_counter() - t0
    _, probs = sliding_window(model, ds.image, tile=ds.tile, overlap=ds.tile // 4)
    post = choose_postprocessing(probs, ds.instances, bands)
    labels = {METHODS[0]: probs_to_instances(probs, **post)}

    # baselines on the same rows: the foreground alone, and no learning at all
    model2, _ = train_unet(x, (y > 0).astype(np.int64), 2, baseline_epochs, **recipe)
    labels[METHODS[1]] = probs_to_instances(sliding_window(model2, ds.image, tile=ds.tile,
                                                           overlap=ds.tile // 4)[1])
    from skimage.filters import gaussian, threshold_otsu

    smooth = gaussian(ds.image, 1.0, preserve_range=True)
    otsu = threshold_otsu(np.concatenate([smooth[b].ravel() for b in bands]))
    labels[METHODS[2]] = otsu_watershed(ds.image, threshold=otsu)
    scores = {name: score_instances(lab, ds.instances, val) for name, lab in labels.items()}
    return {"scores": scores, "labels": labels, "probs": probs, "model": model,
            "history": history, "postprocessing": post, "train_seconds": train_seconds}


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
        quiet: bool = False, baseline_epochs: int = BASELINE_EPOCHS) -> dict:
    """Train, segment, compare, plot; return the metrics written to ``metrics.json``."""
    t_start = time.perf_counter()
    if quick:
        epochs, baseline_epochs, base_channels, depth = 2, 1, 4, 2
    ds = load_nuclei(target="3class", tile=64, boundary_width=BOUNDARY_WIDTH)
    result = compare(ds, epochs, baseline_epochs, n_tiles=8 if quick else None,
                     checkpoint_dir=os.path.join(out, "checkpoints"), quiet=quiet,
                     base_channels=base_channels, depth=depth, batch_size=batch_size, lr=lr,
                     seed=seed)
    total = time.perf_counter() - t_start
    model, scores, instances = result["model"], result["scores"], result["labels"][METHODS[0]]
    val_rows = slice(ds.val_start, ds.val_stop)
    truth = ds.instances[val_rows]
    classes = result["probs"].argmax(axis=0)
    pixel = metrics.SegmentationMetrics(3)
    pixel.update(classes[None, val_rows], ds.target[None, val_rows])
    ours = scores[METHODS[0]]
    summary = {
        **{f"val_{k}": v for k, v in ours.items()},
        "val_fg_dice": 2 * ours["fg_iou"] / (1 + ours["fg_iou"]),
        "val_pixel_miou_3class": float(pixel.compute()["miou"]),
        "postprocessing": result["postprocessing"],
        "baselines": {name: s for name, s in scores.items() if name != METHODS[0]},
        "epochs": epochs, "baseline_epochs": baseline_epochs,
        "train_seconds": round(result["train_seconds"], 1), "total_seconds": round(total, 1),
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
    viz.plot_history(result["history"], os.path.join(out, "learning_curves.png"),
                     title="3-class U-Net on nuclei: loss")
    viz.plot_segmentation(ds.image[val_rows], ds.target[val_rows], classes[val_rows], 3,
                          os.path.join(out, "validation.png"),
                          title=f"Validation rows {ds.val_start}-{ds.val_stop - 1}: "
                                f"background / interior / boundary")
    viz.plot_overlay(ds.image, classes, 3, path=os.path.join(out, "prediction.png"),
                     title=f"Interior (red), boundary (green); rows {ds.val_start}-"
                           f"{ds.val_stop - 1} (validation) below the dashed line",
                     split_row=ds.val_start)
    result["history"].to_json(os.path.join(out, "history.json"))
    spec = {"name": "unet", "in_channels": 1, "num_classes": 3,
            "base_channels": base_channels, "depth": depth}
    io.save_checkpoint(os.path.join(out, "model.npz"), model,
                       extra={"model_spec": json.dumps(spec)})  # for `numcnn predict`
    io.atomic_write(os.path.join(out, "metrics.json"),
                    lambda f: f.write(json.dumps(summary, indent=2).encode()))
    summary["table"] = table
    return summary


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
    print(f"3-class U-Net {result['epochs']} epochs, 2-class {result['baseline_epochs']}; "
          f"{result['total_seconds']:.0f}s for both U-Nets and the baselines")
    print(f"instances.npy, figures, comparison.md and metrics.json in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
