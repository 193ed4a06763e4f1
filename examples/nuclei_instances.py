# %% [markdown]
# # Nuclei as individual objects: 4-fold cross-validation against the classical methods.
#
# The demo (`numcnn demo`) scores its U-Net on one strip of 36 nuclei, where one nucleus
# more or less moves AP@0.5 by about 0.03.  Here the 512x512 stardist image (125 nuclei) is
# cut into four 128-row strips; each in turn is the validation strip and the other three
# train (each training band is tiled on its own: no tile crosses into the validation
# strip, and the intensity normalisation and every threshold come from the training rows).
# Four methods, on the same folds:
#
# - numcnn's 3-class U-Net (background / interior / boundary) + watershed: `numcnn.demo`'s
#   recipe (`numcnn.demo.compare`);
# - numcnn's 2-class U-Net + connected components (the foreground alone);
# - Otsu threshold + distance-transform watershed (`numcnn.predict.otsu_watershed`);
# - a random forest (scikit-learn) on scikit-image's pixel features
#   (`skimage.feature.multiscale_basic_features`: intensity, edges and texture at several
#   scales), trained on the same three classes and post-processed like the U-Net.
#
# Scores (`numcnn.metrics`): objects matched one-to-one at IoU >= 0.5; AP@0.5 =
# TP / (TP + FP + FN), F1, panoptic quality, the DSB 2018 score (AP averaged over IoU
# thresholds 0.5 ... 0.95), AJI, foreground IoU; per fold and as mean +- sd over the folds.
#
# For context only (other data, other images, other protocols): StarDist reports AP@0.5
# 0.835 and F1 0.910 on its DSB2018 validation images (Schmidt et al., MICCAI 2018); the
# DSB2018 winner scored 0.63 on the harder stage-2 test set (Kaggle leaderboard).  The
# numbers below are from one 512x512 image of one kind of nuclei and are not comparable.
#
# Writes to `runs/nuclei_instances/` (or `--out`): `folds.png` (AP@0.5 and DSB per fold and
# method), `fold_K.png` (each validation strip, the U-Net's nuclei coloured, errors marked),
# `cv.md` (the table) and `metrics.json`.  Run: `python examples/nuclei_instances.py`
# (`--quick`: a seconds-long smoke run; `--folds 0 2`: some folds only).

# %%
"""Nuclei as individual objects: 4-fold cross-validation against the classical methods."""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from matplotlib.figure import Figure

from numcnn import demo, viz
from numcnn.datasets import load_nuclei
from numcnn.notebook import run_example
from numcnn.predict import probs_to_instances

STRIP = 128
RF = "random forest on pixel features + watershed"
KEYS = ("ap", "f1", "pq", "dsb", "aji", "fg_iou")


# %% [markdown]
# ## The random-forest baseline
#
# The same three classes as the U-Net, learned pixel by pixel from hand-made features; its
# class probabilities go through the U-Net's post-processing (interior seeds, watershed into
# the foreground, the threshold chosen on the training rows), so only the pixel classifier
# differs.

# %%
def random_forest_instances(ds, seed: int = 0, n_pixels: int = 30000,
                            n_estimators: int = 50) -> np.ndarray:
    """Label image of ``ds.image`` from a random forest trained on ``n_pixels`` pixels of
    the training rows (drawn at random, ``seed``)."""
    from skimage.feature import multiscale_basic_features
    from sklearn.ensemble import RandomForestClassifier

    features = multiscale_basic_features(ds.image, sigma_min=1, sigma_max=8)  # (H, W, F)
    bands = demo.training_bands(ds)
    rows = np.concatenate([np.arange(b.start, b.stop) for b in bands])
    rng = np.random.default_rng(seed)
    pick_r = rng.choice(rows, n_pixels)
    pick_c = rng.integers(0, ds.image.shape[1], n_pixels)
    forest = RandomForestClassifier(n_estimators=n_estimators, max_depth=12, n_jobs=1,
                                    random_state=seed)
    forest.fit(features[pick_r, pick_c], ds.target[pick_r, pick_c])
    H, W, F = features.shape
    probs = forest.predict_proba(features.reshape(-1, F)).T.reshape(3, H, W)
    return probs_to_instances(probs, **demo.choose_postprocessing(probs, ds.instances, bands))


# %% [markdown]
# ## One fold, then all four

# %%
def run_fold(fold: int, epochs: int, baseline_epochs: int, quick: bool, seed: int) -> dict:
    """Train and score every method with strip ``fold`` as the validation rows."""
    ds = load_nuclei(target="3class", tile=64, boundary_width=demo.BOUNDARY_WIDTH,
                     val_rows=(fold * STRIP, (fold + 1) * STRIP))
    recipe = dict(base_channels=4, depth=2) if quick else {}
    result = demo.compare(ds, epochs, baseline_epochs, n_tiles=8 if quick else None,
                          seed=seed, **recipe)
    val = [slice(ds.val_start, ds.val_stop)]
    forest = random_forest_instances(ds, seed, n_pixels=2000 if quick else 30000,
                                     n_estimators=5 if quick else 50)
    result["labels"][RF] = forest
    result["scores"][RF] = demo.score_instances(forest, ds.instances, val)
    result["ds"] = ds
    return result


def summarise(per_fold: dict[int, dict]) -> dict:
    """method -> key -> (mean, sd) over the folds (sd with ddof=1; 0 for one fold)."""
    methods = next(iter(per_fold.values())).keys()
    out = {}
    for m in methods:
        out[m] = {}
        for k in KEYS:
            v = np.array([per_fold[f][m][k] for f in per_fold])
            out[m][k] = (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0)
    return out


def cv_table(per_fold: dict[int, dict], summary: dict) -> str:
    folds = list(per_fold)
    head = " | ".join(f"fold {f} AP" for f in folds)
    lines = [f"| method | {head} | AP@0.5 mean +- sd | DSB mean +- sd | PQ | F1 | AJI | "
             f"fg IoU |", "|---" * (len(folds) + 7) + "|"]
    for m, s in summary.items():
        ap = " | ".join(f"{per_fold[f][m]['ap']:.3f}" for f in folds)
        lines.append(f"| {m} | {ap} | {s['ap'][0]:.3f} +- {s['ap'][1]:.3f} | "
                     f"{s['dsb'][0]:.3f} +- {s['dsb'][1]:.3f} | {s['pq'][0]:.3f} | "
                     f"{s['f1'][0]:.3f} | {s['aji'][0]:.3f} | {s['fg_iou'][0]:.3f} |")
    return "\n".join(lines) + "\n"


def plot_folds(per_fold: dict[int, dict], path: str) -> None:
    """AP@0.5 and DSB per fold, one bar per method."""
    folds = list(per_fold)
    methods = list(per_fold[folds[0]])
    fig = Figure(figsize=(11, 4.6))
    for ax, key, name in zip(fig.subplots(1, 2), ("ap", "dsb"), ("AP@0.5", "DSB score")):
        width = 0.8 / len(methods)
        for i, m in enumerate(methods):
            ax.bar(np.arange(len(folds)) + i * width, [per_fold[f][m][key] for f in folds],
                   width, label=m)
        ax.set_xticks(np.arange(len(folds)) + 0.4 - width / 2)
        ax.set_xticklabels([f"rows {f * STRIP}-{(f + 1) * STRIP - 1}" for f in folds])
        ax.set(ylabel=name, ylim=(0, 1), title=f"{name} on each validation strip")
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="lower center", ncol=2,
               fontsize=8)
    fig.tight_layout(rect=(0, 0.13, 1, 1))  # room for the legend below the bars
    fig.savefig(path, dpi=110)


# %% [markdown]
# ## Run
#
# As a script: `python examples/nuclei_instances.py [--quick]`.
# In a notebook the options come from the environment variable `NUMCNN_EXAMPLE_ARGS`
# (empty: the full run), and the figures appear below the cell.

# %%
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/nuclei_instances")
    parser.add_argument("--epochs", type=int, default=demo.EPOCHS)
    parser.add_argument("--baseline-epochs", type=int, default=demo.BASELINE_EPOCHS)
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3],
                        choices=range(4))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a tiny run, for smoke tests")
    args = parser.parse_args(argv)
    epochs, baseline_epochs = (2, 1) if args.quick else (args.epochs, args.baseline_epochs)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    per_fold, thresholds = {}, {}
    for fold in args.folds:
        r = run_fold(fold, epochs, baseline_epochs, args.quick, args.seed)
        per_fold[fold], thresholds[fold] = r["scores"], r["postprocessing"]
        ds, rows = r["ds"], slice(r["ds"].val_start, r["ds"].val_stop)
        s = r["scores"][demo.METHODS[0]]
        viz.plot_instances(ds.image[rows], r["labels"][demo.METHODS[0]][rows],
                           ds.instances[rows], os.path.join(args.out, f"fold_{fold}.png"),
                           title=f"Fold {fold}, rows {ds.val_start}-{ds.val_stop - 1}: "
                                 f"AP@0.5 {s['ap']:.2f}, DSB {s['dsb']:.2f}")
        print(demo.comparison_table(r["scores"], f"fold {fold} (rows {ds.val_start}-"
                                                 f"{ds.val_stop - 1}, {s['n_true']} "
                                                 f"nuclei), {time.perf_counter() - t0:.0f}s:"))
    summary = summarise(per_fold)
    table = cv_table(per_fold, summary)
    ours = demo.METHODS[0]
    ahead = all(per_fold[f][ours]["ap"] > per_fold[f][m]["ap"]
                for f in per_fold for m in per_fold[f] if m != ours)
    print(table)
    print(f"3-class U-Net ahead of every baseline (AP@0.5) on every fold: {ahead}")
    seconds = round(time.perf_counter() - t0, 1)
    print(f"{len(per_fold)} folds in {seconds:.0f}s")
    plot_folds(per_fold, os.path.join(args.out, "folds.png"))
    with open(os.path.join(args.out, "cv.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump({"per_fold": {str(k): v for k, v in per_fold.items()},
                   "mean_sd": summary, "postprocessing": thresholds,
                   "ahead_on_every_fold": ahead, "epochs": epochs,
                   "baseline_epochs": baseline_epochs, "quick": args.quick,
                   "seconds": seconds}, f, indent=2)
    return 0


if __name__ == "__main__":
    run_example(main, "runs/nuclei_instances")
