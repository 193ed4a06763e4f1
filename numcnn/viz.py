"""Figures people would rather look at than read.  Headless-safe: built on
``matplotlib.figure.Figure`` directly (no pyplot, no display needed).  Every function returns
the figure and, given ``path``, also saves it as PNG."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

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
    for ax in (ax_loss, ax_metric):  # whole epochs only (matplotlib would tick 1.5, 2.5...)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _finish(fig, path)


def plot_segmentation(image: np.ndarray, target: np.ndarray, pred: np.ndarray,
                      num_classes: int | None = None, path=None,
                      title: str | None = None) -> Figure:
    """Four panels: image, ground truth, prediction, and errors (wrong pixels in yellow; for
    two classes: false positives red, false negatives blue).

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


# ------------------------------------------------------------------ looking inside the network
# These figures place their panels with ``subplots_adjust`` instead of a layout engine:
# tight/constrained layout measure every text box and cost seconds for grids of small panels.
def _save(fig: Figure, path: str | os.PathLike | None) -> Figure:
    """Save (if ``path``) a figure laid out by hand; return it."""
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig


def _grid(n: int) -> tuple[int, int]:
    """(rows, cols) of a near-square grid for n panels."""
    cols = int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / cols)), cols


def _show_image(ax, img: np.ndarray, dim: bool = False) -> None:
    """Draw (H, W), (1, H, W) grey or (3, H, W) colour (scaled to [0, 1] for display);
    ``dim``: at half brightness, as a background for an overlay."""
    img = _image2d(img)
    lo, hi = float(img.min()), float(img.max())
    scaled = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1) * (0.5 if dim else 1.0)
    if img.ndim == 3 and img.shape[0] == 3:
        ax.imshow(scaled.transpose(1, 2, 0))
    elif img.ndim == 2:
        ax.imshow(scaled, cmap="gray", vmin=0, vmax=1)
    else:
        raise ValueError(f"expected an image (H, W), (1, H, W) or (3, H, W); got shape "
                         f"{img.shape}")
    ax.set_axis_off()


def _as_batch(op: str, image: np.ndarray, maps: np.ndarray, what: str):
    """Bring ``image`` to (N, C, H, W) and ``maps`` to (N, H, W) or (N, C, H, W).

    One image may be given as (H, W) or (C, H, W) with its map as (H, W) or (C, H, W)."""
    image, maps = np.asarray(image), np.asarray(maps)
    if image.ndim == 2:
        image = image[None]
    if image.ndim == 3:  # one image: a batch of one
        image = image[None]
        maps = maps[None]
    if image.ndim != 4:
        raise ValueError(f"{op}: image must be (H, W), (C, H, W) or (N, C, H, W); got "
                         f"{image.shape}")
    if maps.ndim not in (3, 4) or maps.shape[0] != image.shape[0] \
            or maps.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"{op}: {what} must have one map per image, of the image's height and "
                         f"width {image.shape[-2:]}; got {what} of shape {maps.shape} for "
                         f"images of shape {image.shape}")
    return image, maps


def plot_filters(weight, path=None, title: str | None = None) -> Figure:
    """A grid of convolution filters, typically the first layer's.

    Grey-scale input (C = 1; for C > 3 input channel 0 is shown): one diverging colour
    scale shared by all filters (red > 0 > blue), so that their strengths compare.  Colour
    input (C = 3): each filter as an RGB patch on one shared scale (mid-grey = 0).

    weight : (F, C, kh, kw) array, or a ``Parameter`` (its ``.data`` is used)
    """
    w = np.asarray(getattr(weight, "data", weight), dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: weight must be (F, C, kh, kw); got shape {w.shape}")
    n, c = w.shape[:2]
    rows, cols = _grid(n)
    width = 0.9 * cols + 1.8  # inches: the grid, then 1.7 for the colour bar and its labels
    fig = Figure(figsize=(width, 0.9 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    right = (0.9 * cols + 0.1) / width
    fig.subplots_adjust(left=0.02, right=right, bottom=0.02, top=1 - 0.5 / (0.9 * rows + 0.6),
                        wspace=0.1, hspace=0.3)
    m = float(np.abs(w).max()) or 1.0
    image = None
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= n:
            continue
        if c == 3:
            ax.imshow(np.clip(w[k].transpose(1, 2, 0) / (2 * m) + 0.5, 0, 1),
                      interpolation="nearest")
        else:
            image = ax.imshow(w[k, 0], cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
        ax.set_title(str(k), fontsize=7, pad=2)
    if image is not None:
        fig.colorbar(image, cax=fig.add_axes((right + 0.2 / width, 0.1, 0.15 / width, 0.7)),
                     label="weight")
    shown = "" if c in (1, 3) else f" (input channel 0 of {c})"
    fig.suptitle((title or f"{n} filters {w.shape[2]}x{w.shape[3]}") + shown, fontsize=10)
    return _save(fig, path)


def plot_feature_maps(maps: np.ndarray, path=None, max_maps: int = 16,
                      title: str | None = None, order: str = "index",
                      image: np.ndarray | None = None) -> Figure:
    """The channels of one layer's output for one image, each with its own colour scale
    (viridis: dark = low; the panel title gives the channel and its maximum).

    maps : (K, h, w), or (1, K, h, w) (one sample)
    max_maps : at most this many channels are drawn
    order : "index" (channels 0, 1, ...) or "strongest" (largest mean activation first)
    image : (H, W) or (C, H, W), optional; the input, drawn in the first panel
    """
    maps = np.asarray(maps)
    if maps.ndim == 4:
        if maps.shape[0] != 1:
            raise ValueError(f"plot_feature_maps: pass the maps of one image, (K, h, w) or "
                             f"(1, K, h, w); got {maps.shape} (use maps[i])")
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"plot_feature_maps: maps must be (K, h, w); got shape {maps.shape}")
    if order not in ("index", "strongest"):
        raise ValueError(f"plot_feature_maps: order must be 'index' or 'strongest'; got "
                         f"{order!r}")
    k_all = maps.shape[0]
    channels = np.arange(k_all)
    if order == "strongest":
        channels = np.argsort(-maps.reshape(k_all, -1).mean(axis=1), kind="stable")
    channels = channels[:max(1, int(max_maps))]
    rows, cols = _grid(len(channels) + (image is not None))
    height = 1.6 * rows + 0.5
    fig = Figure(figsize=(1.6 * cols, height))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.5 / height,
                        wspace=0.1, hspace=0.25)
    for ax in axes:
        ax.set_axis_off()
    if image is not None:
        _show_image(axes[0], image)
        axes[0].set_title("input", fontsize=8, pad=2)
        axes = axes[1:]
    for ax, k in zip(axes, channels):
        ax.imshow(maps[k], cmap="viridis", interpolation="nearest")
        ax.set_title(f"ch {k}: max {maps[k].max():.2g}", fontsize=8, pad=2)
    fig.suptitle(title or f"{len(channels)} of {k_all} feature maps ({maps.shape[1]}x"
                          f"{maps.shape[2]})", fontsize=10)
    return _save(fig, path)


def _explanation_rows(image: np.ndarray, maps: np.ndarray, titles, title: str | None,
                      draw_map, draw_overlay, dim: bool) -> Figure:
    """One row per image: the image, a map with its colour bar, the map over the image
    (``dim``: over the image at half brightness)."""
    n = image.shape[0]
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles: expected one per image ({n}); got {len(titles)}")
    head = 0.65 if title else 0.3          # inches above the first row's panel titles
    height = 2.2 * n + head
    fig = Figure(figsize=(7.2, height))
    axes = np.atleast_2d(fig.subplots(n, 3))
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - head / height,
                        wspace=0.15, hspace=0.3)
    for i in range(n):
        _show_image(axes[i, 0], image[i])
        axes[i, 0].set_title(titles[i] if titles is not None else "image", fontsize=9)
        im = draw_map(axes[i, 1], maps[i])
        axes[i, 1].set_axis_off()
        fig.colorbar(im, ax=axes[i, 1], fraction=0.046, pad=0.04)
        _show_image(axes[i, 2], image[i], dim=dim)
        draw_overlay(axes[i, 2], maps[i])
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.12 / height, va="top")
    return fig


def plot_saliency(image: np.ndarray, saliency: np.ndarray, path=None, titles=None,
                  title: str | None = None) -> Figure:
    """Saliency maps, one row per image: the image; the gradient dS/dx (signed for one
    channel: red = a brighter pixel raises the score, blue = lowers it; for several
    channels the largest |gradient| over them); and |gradient| in "hot" colours laid over
    the image (opaque where it is largest).

    image : (H, W), (C, H, W) or (N, C, H, W)
    saliency : the gradient in x's shape ((C, H, W) or (N, C, H, W)), or already reduced to
        (H, W) / (N, H, W)
    titles : one label per row (e.g. "true 3, predicted 3")
    """
    image, sal = _as_batch("plot_saliency", image, saliency, "saliency")
    signed = sal.ndim == 3 or sal.shape[1] == 1
    if sal.ndim == 4:
        sal = sal[:, 0] if signed else np.abs(sal).max(axis=1)

    def draw_map(ax, s):
        m = float(np.abs(s).max()) or 1.0
        if signed:
            ax.set_title("gradient dS/dx", fontsize=9)
            return ax.imshow(s, cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
        ax.set_title("max |dS/dx| over channels", fontsize=9)
        return ax.imshow(s, cmap="hot", vmin=0, vmax=m, interpolation="nearest")

    def draw_overlay(ax, s):
        heat = np.abs(s) / (float(np.abs(s).max()) or 1.0)
        ax.imshow(heat, cmap="autumn", vmin=0, vmax=1, alpha=heat, interpolation="nearest")
        ax.set_title("|gradient| (yellow = largest)", fontsize=9)

    return _save(_explanation_rows(image, sal, titles, title, draw_map, draw_overlay, True),
                 path)


def plot_grad_cam(image: np.ndarray, cam: np.ndarray, path=None, titles=None,
                  title: str | None = None, alpha: float = 0.5,
                  shared_scale: bool = False) -> Figure:
    """Grad-CAM maps, one row per image: the image; the map ("jet": blue = no evidence, red
    = the strongest); and the map laid over the image with opacity ``alpha``.

    image : (H, W), (C, H, W) or (N, C, H, W)
    cam : (H, W) or (N, H, W), e.g. from ``numcnn.interpret.grad_cam``
    titles : one label per row
    shared_scale : colours run from 0 to the maximum over all rows (to compare rows, e.g.
        the classes of one image, computed with ``normalize=False``) instead of each row's
    """
    cam = np.asarray(cam)
    if cam.ndim == 2:  # one map: make image and map a batch of one
        image = np.asarray(image)
        image = (image[None] if image.ndim == 2 else image)[None]
        cam = cam[None]
    image, cam = _as_batch("plot_grad_cam", image, cam, "cam")
    if cam.ndim != 3:
        raise ValueError(f"plot_grad_cam: cam must be (H, W) or (N, H, W); got {cam.shape}")

    def top(c):
        return float(cam.max() if shared_scale else c.max()) or 1.0

    def draw_map(ax, c):
        ax.set_title("Grad-CAM", fontsize=9)
        return ax.imshow(c, cmap="jet", vmin=0, vmax=top(c))

    def draw_overlay(ax, c):
        ax.imshow(c, cmap="jet", vmin=0, vmax=top(c), alpha=alpha)
        ax.set_title("overlay", fontsize=9)

    return _save(_explanation_rows(image, cam, titles, title, draw_map, draw_overlay, False),
                 path)


# --------------------------------------------------------------------------- training health
def plot_gradient_norms(stats, path=None, title: str | None = None) -> Figure:
    """Vanishing and exploding gradients made visible: ||dL/dW|| of each layer over the
    training steps (left, log scale) and, layer by layer from input to output, at the first
    and the last step (right).  Gradients that shrink by orders of magnitude towards the
    input vanish; ones that grow, explode.

    ``stats``: what ``numcnn.sanity.track`` recorded, or a dict layer name -> sequence of
    gradient norms per step (in the network's order)."""
    norms = stats.history("grad_norm") if hasattr(stats, "history") else {
        k: np.asarray(v, dtype=np.float64) for k, v in dict(stats).items() if len(v)}
    if not norms:
        raise ValueError("plot_gradient_norms: no gradient norms to plot (train with the "
                         "hooks of numcnn.sanity.track in place first)")
    fig = Figure(figsize=(11, 4))
    ax_steps, ax_depth = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    colours = [_depth_colour(i, len(norms)) for i in range(len(norms))]
    for (name, v), colour in zip(norms.items(), colours):
        ax_steps.plot(np.arange(1, len(v) + 1), np.maximum(v, 1e-30), color=colour,
                      label=name, lw=1.2)
    ax_steps.set(yscale="log", xlabel="training step", ylabel="||dL/dW||",
                 title=title or "Gradient norm per layer")
    if len(norms) <= 12:
        ax_steps.legend(fontsize=7, ncol=2, loc="best")
    depth = np.arange(len(norms))
    first = [max(v[0], 1e-30) for v in norms.values()]
    last = [max(v[-1], 1e-30) for v in norms.values()]
    ax_depth.plot(depth, first, "o-", color="0.6", label="first step")
    ax_depth.plot(depth, last, "o-", color="C3", label="last step")
    ax_depth.set(yscale="log", xlabel="layer (input -> output)", ylabel="||dL/dW||",
                 title="Across the depth")
    ax_depth.set_xticks(depth, list(norms), rotation=60, ha="right", fontsize=7)
    ax_depth.legend(fontsize=8)
    return _finish(fig, path)


def _depth_colour(i: int, n: int):
    """Colour i of n along a perceptual map (input layers dark, output layers light)."""
    from matplotlib import colormaps
    return colormaps["viridis"](0.9 * i / max(n - 1, 1))


# ------------------------------------------------------------------ instance segmentation
def instance_errors(pred: np.ndarray, target: np.ndarray, thresh: float = 0.5) -> dict:
    """The objects that the one-to-one matching at IoU >= ``thresh`` leaves alone, sorted
    into the errors a reader of a nuclei figure looks for.

    - ``merged``: unmatched true ids that share one predicted object with another true
      nucleus (that object covers at least half of each of them: two nuclei became one);
    - ``missed``: the other unmatched true ids;
    - ``spurious``: unmatched predicted ids (a piece of a split nucleus, or nothing at all).

    pred, target : (H, W) integer label images, 0 background.  Returns lists of ids.
    """
    from .metrics import match_instances

    r = match_instances(pred, target, thresh)
    true_ids = np.setdiff1d(np.unique(target), [0])
    pred_ids = np.setdiff1d(np.unique(pred), [0])
    missed = np.setdiff1d(true_ids, r["matches"][:, 0])
    spurious = np.setdiff1d(pred_ids, r["matches"][:, 1]).tolist()
    # for each true object: the predicted object holding most of its pixels, and how much
    covered = {}
    for t in true_ids:
        p, n = np.unique(pred[target == t], return_counts=True)
        n, p = n[p > 0], p[p > 0]
        if n.size and 2 * n.max() >= np.count_nonzero(target == t):
            covered[int(t)] = int(p[n.argmax()])
    holders = list(covered.values())
    merged = [int(t) for t in missed if t in covered and holders.count(covered[t]) > 1]
    return {"merged": merged, "missed": [int(t) for t in missed if t not in merged],
            "spurious": spurious}


def _outline(labels: np.ndarray) -> np.ndarray:
    """Pixels of an object whose 4-neighbourhood holds another label (its outline), bool."""
    edge = np.zeros(labels.shape, bool)
    for axis in (0, 1):
        step = np.diff(labels, axis=axis) != 0
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        edge[tuple(lo)] |= step
        edge[tuple(hi)] |= step
    return edge & (labels > 0)


def plot_instances(image: np.ndarray, pred: np.ndarray, target: np.ndarray, path=None,
                   title: str | None = None, thresh: float = 0.5) -> Figure:
    """Predicted nuclei, each in its own colour, over the image with the true outlines in
    white; the errors of ``instance_errors`` marked: missed true nuclei outlined in red,
    merged ones in orange, spurious predicted objects in cyan (with a cross at their centre).
    Two panels: the image with the true outlines, then the prediction.

    image (H, W) or (1, H, W); pred, target (H, W) integer label images (0 background)."""
    img = _image2d(image)
    pred, target = np.asarray(pred), np.asarray(target)
    errors = instance_errors(pred, target, thresh)
    H, W = target.shape
    wide = W > 2 * H
    fig = Figure(figsize=(12, 2 * (12 * H / W) + 1.2) if wide else (12, 6 * H / W + 1))
    axes = fig.subplots(2, 1) if wide else fig.subplots(1, 2)
    rng = np.random.default_rng(0)  # colours only: the same figure every run
    palette = np.concatenate([[[0, 0, 0]], rng.uniform(0.25, 1.0, (int(pred.max()), 3))])
    lo, hi = float(img.min()), float(img.max())
    grey = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)[..., None] * np.ones(3)
    true_edge = _outline(target)
    shown = grey.copy()
    shown[true_edge] = 1.0
    axes[0].imshow(shown, interpolation="nearest")
    axes[0].set_title(f"image and the {len(np.setdiff1d(np.unique(target), [0]))} true "
                      f"nuclei (white outlines)")
    colours = np.where(pred[..., None] > 0, 0.35 * grey + 0.65 * palette[pred], 0.6 * grey)
    colours[true_edge] = 1.0
    for ids, labels, rgb in ((errors["missed"], target, (1.0, 0.1, 0.1)),
                             (errors["merged"], target, (1.0, 0.6, 0.0)),
                             (errors["spurious"], pred, (0.0, 1.0, 1.0))):
        colours[_outline(np.where(np.isin(labels, ids), labels, 0))] = rgb
    axes[1].imshow(colours, interpolation="nearest")
    for k in errors["spurious"]:
        r, c = np.argwhere(pred == k).mean(axis=0)
        axes[1].plot(c, r, marker="x", color="cyan", markersize=6)
    n_pred = len(np.setdiff1d(np.unique(pred), [0]))
    axes[1].set_title(f"{n_pred} predicted nuclei; red: missed {len(errors['missed'])}, "
                      f"orange: merged {len(errors['merged'])}, cyan x: spurious "
                      f"{len(errors['spurious'])}")
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return _finish(fig, path)
