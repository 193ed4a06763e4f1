"""Figures people would rather look at than read.  Headless-safe: built on
``matplotlib.figure.Figure`` directly (no pyplot, no display needed).  Every function returns
the figure and, given ``path``, also saves it as PNG."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

# class colours for masks: background black, then distinct hues
_CLASS_COLORS = ["#000000", "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
                 "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#469990", "#dcbeff"]


def _finish(fig: Figure, path: str | os.PathLike | None) -> Figure:
    fig.tight_layout()
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig


def class_cmap(num_classes: int) -> ListedColormap:
    """A colour map with one distinct colour per class (0 = black)."""
    return ListedColormap([_CLASS_COLORS[i % len(_CLASS_COLORS)] for i in range(num_classes)])


def _image2d(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    return img[0] if img.ndim == 3 and img.shape[0] == 1 else img


def plot_history(history, path=None, title: str = "Learning curves") -> Figure:
    """Loss curves (train/val) on the left, every other validation metric on the right.

    ``history`` is a ``numcnn.train.History`` or a dict name -> list of per-epoch values."""
    records = {k: list(v) for k, v in (history.as_dict() if hasattr(history, "as_dict")
                                       else dict(history)).items()}
    epochs = records.get("epoch") or list(range(1, 1 + len(next(iter(records.values())))))
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_metric = fig.subplots(1, 2)
    for key in ("train_loss", "val_loss"):
        if key in records:
            ax_loss.plot(epochs, records[key], marker=".", label=key)
    ax_loss.set(xlabel="epoch", ylabel="loss", title=title)
    ax_loss.legend()
    scalar = [k for k, v in records.items() if k.startswith("val_") and k != "val_loss"
              and all(isinstance(e, (int, float)) and e is not None for e in v)]
    for key in scalar:
        ax_metric.plot(epochs, records[key], marker=".", label=key)
    ax_metric.set(xlabel="epoch", ylabel="score", title="Validation metrics")
    if scalar:
        ax_metric.legend()
    return _finish(fig, path)


def plot_segmentation(image: np.ndarray, target: np.ndarray, pred: np.ndarray,
                      num_classes: int | None = None, path=None,
                      title: str | None = None) -> Figure:
    """Four panels: image, ground truth, prediction, and errors (each wrong pixel coloured
    by the class that was *missed*; for two classes: false positives red, false negatives
    blue).

    image (C, H, W) or (H, W); target, pred (H, W) ints."""
    num_classes = num_classes or int(max(target.max(), pred.max())) + 1
    cmap = class_cmap(num_classes)
    H, W = target.shape
    if W > 2 * H:  # a wide strip: panels one above the other
        fig = Figure(figsize=(10, 4 * (10 * H / W + 0.5)))
        axes = fig.subplots(4, 1)
    else:
        fig = Figure(figsize=(14, 14 * H / W / 4 + 1))
        axes = fig.subplots(1, 4)
    axes[0].imshow(_image2d(image), cmap="gray")
    axes[0].set_title("image")
    axes[1].imshow(target, cmap=cmap, vmin=0, vmax=num_classes - 1, interpolation="nearest")
    axes[1].set_title("ground truth")
    axes[2].imshow(pred, cmap=cmap, vmin=0, vmax=num_classes - 1, interpolation="nearest")
    axes[2].set_title("prediction")
    errors = np.zeros((*target.shape, 3))
    wrong = pred != target
    if num_classes == 2:
        errors[wrong & (pred == 1)] = (1.0, 0.2, 0.2)   # false positive
        errors[wrong & (pred == 0)] = (0.2, 0.4, 1.0)   # false negative
        axes[3].set_title(f"errors: {wrong.mean():.1%} of pixels (red FP, blue FN)")
    else:
        errors[wrong] = (1.0, 1.0, 0.2)
        axes[3].set_title(f"errors: {wrong.mean():.1%} of pixels")
    axes[3].imshow(errors, interpolation="nearest")
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_overlay(image: np.ndarray, mask: np.ndarray, num_classes: int | None = None,
                 alpha: float = 0.45, path=None, title: str | None = None,
                 split_row: int | None = None) -> Figure:
    """The image in grey with the class mask laid over it (class 0 transparent); a dashed
    line at ``split_row`` marks where e.g. the validation region starts."""
    num_classes = num_classes or int(mask.max()) + 1
    fig = Figure(figsize=(7, 7))
    ax = fig.subplots()
    ax.imshow(_image2d(image), cmap="gray")
    colours = class_cmap(num_classes)(np.asarray(mask))
    colours[..., 3] = np.where(np.asarray(mask) > 0, alpha, 0.0)
    ax.imshow(colours, interpolation="nearest")
    if split_row is not None:
        ax.axhline(split_row - 0.5, color="yellow", linestyle="--", linewidth=1.5)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def plot_confusion_matrix(cm: np.ndarray, class_names=None, path=None,
                          title: str = "Confusion matrix (rows: truth)") -> Figure:
    """Counts, with each row normalised to its recall for the colour."""
    cm = np.asarray(cm)
    names = class_names or [str(i) for i in range(len(cm))]
    recall = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(1 + 0.6 * len(cm), 0.6 * len(cm) + 0.8))
    ax = fig.subplots()
    ax.imshow(recall, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(cm)):
        for j in range(len(cm)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if recall[i, j] > 0.5 else "black")
    ax.set(xticks=range(len(cm)), yticks=range(len(cm)), xlabel="predicted", ylabel="true",
           title=title)
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticklabels(names)
    return _finish(fig, path)
