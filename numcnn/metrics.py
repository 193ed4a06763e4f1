"""Classification and segmentation metrics, as functions and as streaming objects.

Functions (``accuracy``, ``top_k_accuracy``, ``confusion_matrix``) score one set of
predictions.  Metric objects (``Accuracy``, ``TopKAccuracy``, ``ConfusionMatrix``,
``SegmentationMetrics``) accumulate integer counts over many batches, so the score of a
whole data set is exact however it is split into batches; the training loop uses them as::

    metric.reset()
    for xb, yb in loader:
        metric.update(model(xb), yb)
    metric.compute()  # -> {"accuracy": 0.93}

Predictions may be given as logits / scores of shape (N, C, ...) (the class is the argmax
over axis 1) or as integer class maps of the targets' shape (N, ...).

Conventions: the confusion matrix ``cm[t, p]`` counts pixels (or samples) of true class
``t`` predicted as class ``p`` (rows are the truth, as in scikit-learn).
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "accuracy", "top_k_accuracy", "confusion_matrix", "segmentation_scores",
    "Metric", "Accuracy", "TopKAccuracy", "ConfusionMatrix", "SegmentationMetrics",
]


# ----------------------------------------------------------------------------- input checks
def _int_targets(op: str, targets) -> np.ndarray:
    targets = np.asarray(targets)
    if not (np.issubdtype(targets.dtype, np.integer) or targets.dtype == np.bool_):
        raise ValueError(f"{op}: targets must be integer class labels; got dtype "
                         f"{targets.dtype} (convert with targets.astype(np.int64))")
    if targets.ndim < 1:
        raise ValueError(f"{op}: targets must have a batch axis, shape (N,) or (N, H, W); "
                         f"got shape {targets.shape}")
    return targets.astype(np.int64, copy=False)


def _as_pred(op: str, pred, targets: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Class predictions of the targets' shape, from logits (N, C, ...) or a class map."""
    pred = np.asarray(pred)
    if pred.ndim == targets.ndim + 1:
        expected = (targets.shape[0], num_classes or pred.shape[1], *targets.shape[1:])
        if pred.shape != expected:
            raise ValueError(f"{op}: logits for targets of shape {targets.shape} must have "
                             f"shape (N, C, ...) = {expected}; got {pred.shape}")
        if pred.shape[1] == 0:
            raise ValueError(f"{op}: logits have no classes (shape {pred.shape})")
        return pred.argmax(axis=1)
    if pred.ndim == targets.ndim:
        if pred.shape != targets.shape:
            raise ValueError(f"{op}: predictions must have the targets' shape "
                             f"{targets.shape} (class map) or (N, C, ...) (logits); got "
                             f"{pred.shape}")
        if not (np.issubdtype(pred.dtype, np.integer) or pred.dtype == np.bool_):
            raise ValueError(f"{op}: a prediction with the targets' shape {targets.shape} "
                             f"must be an integer class map; got dtype {pred.dtype} (pass "
                             f"logits of shape (N, C, ...) to take the argmax)")
        return pred.astype(np.int64, copy=False)
    raise ValueError(f"{op}: predictions must be logits (N, C, ...) with "
                     f"{targets.ndim + 1} dims or a class map with the targets' shape "
                     f"{targets.shape}; got shape {pred.shape}")


def _check_num_classes(op: str, num_classes) -> int:
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) \
            or num_classes < 1:
        raise ValueError(f"{op}: num_classes must be a positive int; got {num_classes!r}")
    return int(num_classes)


def _check_range(op: str, name: str, values: np.ndarray, num_classes: int) -> None:
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        bad = np.unique(values[(values < 0) | (values >= num_classes)])
        raise ValueError(f"{op}: {name} must be classes in [0, {num_classes}); got values "
                         f"{bad[:10].tolist()}")


def _kept(targets: np.ndarray, ignore_index: int | None) -> np.ndarray | None:
    """Boolean mask of the entries that count (None: all of them)."""
    return None if ignore_index is None else targets != ignore_index


# -------------------------------------------------------------------------------- functions
def _accuracy_counts(op, pred, targets, ignore_index) -> tuple[int, int]:
    targets = _int_targets(op, targets)
    pred = _as_pred(op, pred, targets)
    keep = _kept(targets, ignore_index)
    hits = pred == targets
    if keep is not None:
        hits = hits[keep]
    return int(hits.sum()), int(hits.size)


def accuracy(logits_or_pred, targets, ignore_index: int | None = None) -> float:
    """Share of correct predictions.

    Parameters
    ----------
    logits_or_pred : ndarray, (N, C, ...) scores or (N, ...) integer classes
    targets : ndarray of int, shape (N, ...)
    ignore_index : int, optional
        Targets equal to this value are left out (e.g. -100 for unlabelled pixels).

    Returns
    -------
    float in [0, 1]
    """
    correct, total = _accuracy_counts("accuracy", logits_or_pred, targets, ignore_index)
    if total == 0:
        raise ValueError("accuracy: no samples to score (empty input or all ignored)")
    return correct / total


def _top_k_counts(op, logits, targets, k) -> tuple[int, int]:
    targets = _int_targets(op, targets)
    logits = np.asarray(logits)
    if logits.ndim != targets.ndim + 1:
        raise ValueError(f"{op}: logits must have shape (N, C, ...) for targets of shape "
                         f"{targets.shape}; got {logits.shape}")
    C = logits.shape[1]
    _as_pred(op, logits[:, :1], targets)  # shape check only (N and trailing dims)
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not 1 <= k <= C:
        raise ValueError(f"{op}: k must be an int in [1, C={C}]; got {k!r}")
    _check_range(op, "targets", targets, C)
    # Rank of the true class in a *stable* descending sort: classes with a larger score, plus
    # equal scores at a smaller index.  No sort needed, and k=1 agrees with argmax on ties.
    t = targets[:, None]
    true_score = np.take_along_axis(logits, t, axis=1)
    classes = np.arange(C).reshape((1, C) + (1,) * (targets.ndim - 1))
    rank = (logits > true_score).sum(axis=1) + ((logits == true_score) & (classes < t)).sum(1)
    return int((rank < k).sum()), int(rank.size)


def top_k_accuracy(logits: np.ndarray, targets: np.ndarray, k: int = 5) -> float:
    """Share of samples whose true class is among the ``k`` highest scores.

    Ties are broken as ``argmax`` does (the smaller class index ranks first), so ``k=1``
    equals ``accuracy``.

    Parameters
    ----------
    logits : ndarray, shape (N, C, ...)
    targets : ndarray of int, shape (N, ...), classes in [0, C)
    k : int in [1, C]
    """
    correct, total = _top_k_counts("top_k_accuracy", logits, targets, k)
    if total == 0:
        raise ValueError("top_k_accuracy: no samples to score (empty input)")
    return correct / total


def _confusion(op, pred, targets, num_classes, ignore_index) -> np.ndarray:
    targets = _int_targets(op, targets)
    pred = _as_pred(op, pred, targets, num_classes)
    keep = _kept(targets, ignore_index)
    if keep is not None:
        targets, pred = targets[keep], pred[keep]
    _check_range(op, "targets", targets, num_classes)
    _check_range(op, "predictions", pred, num_classes)
    # one bincount over the flat index t * C + p fills the whole matrix at once
    flat = targets.ravel() * num_classes + pred.ravel()
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes,
                                                                           num_classes)


def confusion_matrix(pred, targets, num_classes: int,
                     ignore_index: int | None = None) -> np.ndarray:
    """Counts ``cm[t, p]`` of samples (or pixels) of true class ``t`` predicted as ``p``.

    Parameters
    ----------
    pred : ndarray, (N, ...) integer classes or (N, C, ...) logits
    targets : ndarray of int, shape (N, ...)
    num_classes : int
    ignore_index : int, optional
        Targets equal to this value are not counted.

    Returns
    -------
    ndarray of int64, shape (num_classes, num_classes)
    """
    num_classes = _check_num_classes("confusion_matrix", num_classes)
    return _confusion("confusion_matrix", pred, targets, num_classes, ignore_index)


def segmentation_scores(cm: np.ndarray) -> dict[str, float | np.ndarray]:
    """Pixel accuracy, IoU and Dice from a confusion matrix ``cm[t, p]``.

    With TP = cm[c, c], FP = column sum - TP, FN = row sum - TP:

    - ``iou[c]  = TP / (TP + FP + FN)``
    - ``dice[c] = 2 TP / (2 TP + FP + FN)``

    A class that appears neither in the targets nor in the predictions has 0/0: its entry
    is NaN, and the means (``miou``, ``mean_dice``) leave it out (it was not confused with
    anything, but scoring it 1 would inflate the mean and scoring it 0 would punish a
    prediction that is right).  For two classes, ``fg_iou``/``fg_dice`` are class 1's.

    Returns
    -------
    dict with ``pixel_accuracy``, ``iou`` (C,), ``miou``, ``dice`` (C,), ``mean_dice``,
    ``confusion_matrix`` (a copy), and ``fg_iou``, ``fg_dice`` when C == 2.
    """
    cm = np.asarray(cm, dtype=np.int64)
    total = int(cm.sum())
    if total == 0:
        raise ValueError("segmentation_scores: the confusion matrix is empty (no pixels "
                         "counted: no update yet, or every pixel ignored)")
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    present = (tp + fp + fn) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(present, tp / (tp + fp + fn), np.nan)
        dice = np.where(present, 2 * tp / (2 * tp + fp + fn), np.nan)
    out: dict[str, float | np.ndarray] = {
        "pixel_accuracy": float(tp.sum() / total),
        "iou": iou,
        "miou": float(iou[present].mean()),
        "dice": dice,
        "mean_dice": float(dice[present].mean()),
        "confusion_matrix": cm.copy(),
    }
    if len(cm) == 2:
        out["fg_iou"], out["fg_dice"] = float(iou[1]), float(dice[1])
    return out


# ------------------------------------------------------------------------- streaming metrics
class Metric:
    """A streaming metric: ``reset()``, ``update(logits, targets)`` per batch, then
    ``compute() -> dict`` of named results (floats or arrays)."""

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, logits: np.ndarray, targets: np.ndarray) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float | np.ndarray]:
        raise NotImplementedError

    def _empty(self) -> ValueError:
        return ValueError(f"{type(self).__name__}.compute(): nothing counted yet; call "
                          f"update(logits, targets) first")


class Accuracy(Metric):
    """Running share of correct predictions: ``{"accuracy": float}``.

    Parameters
    ----------
    ignore_index : int, optional
        Targets equal to this value are not counted.
    """

    def __init__(self, ignore_index: int | None = None) -> None:
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        self.correct = self.total = 0

    def update(self, logits, targets) -> None:
        c, n = _accuracy_counts("Accuracy.update", logits, targets, self.ignore_index)
        self.correct += c
        self.total += n

    def compute(self) -> dict[str, float]:
        if self.total == 0:
            raise self._empty()
        return {"accuracy": self.correct / self.total}

    def __repr__(self) -> str:
        return f"Accuracy(ignore_index={self.ignore_index})"


class TopKAccuracy(Metric):
    """Running top-k accuracy: ``{"top{k}_accuracy": float}`` (see ``top_k_accuracy``)."""

    def __init__(self, k: int = 5) -> None:
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
            raise ValueError(f"TopKAccuracy: k must be a positive int; got {k!r}")
        self.k = int(k)
        self.reset()

    def reset(self) -> None:
        self.correct = self.total = 0

    def update(self, logits, targets) -> None:
        c, n = _top_k_counts("TopKAccuracy.update", logits, targets, self.k)
        self.correct += c
        self.total += n

    def compute(self) -> dict[str, float]:
        if self.total == 0:
            raise self._empty()
        return {f"top{self.k}_accuracy": self.correct / self.total}

    def __repr__(self) -> str:
        return f"TopKAccuracy(k={self.k})"


class ConfusionMatrix(Metric):
    """Running confusion matrix: ``{"confusion_matrix": ndarray (C, C) int64}``.

    ``matrix[t, p]`` counts samples of true class ``t`` predicted as ``p``.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        self.num_classes = _check_num_classes(type(self).__name__, num_classes)
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, logits, targets) -> None:
        self.matrix += _confusion(f"{type(self).__name__}.update", logits, targets,
                                  self.num_classes, self.ignore_index)

    def compute(self) -> dict[str, float | np.ndarray]:
        return {"confusion_matrix": self.matrix.copy()}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_classes={self.num_classes}, "
                f"ignore_index={self.ignore_index})")


class SegmentationMetrics(ConfusionMatrix):
    """Pixel accuracy, per-class IoU and Dice, streamed into one confusion matrix.

    ``update(pred, target)`` takes ``pred`` as logits (N, C, H, W) or a class map (N, H, W)
    of ints, and ``target`` (N, H, W) of ints in [0, C) or ``ignore_index``; ignored pixels
    are not counted.  Because only counts are summed, any split into batches gives exactly
    the numbers of one update with everything.

    ``compute()`` returns ``pixel_accuracy``, ``iou`` (C,), ``miou``, ``dice`` (C,),
    ``mean_dice``, ``confusion_matrix`` and, for C == 2, ``fg_iou``/``fg_dice`` (class 1).
    ``miou``/``mean_dice`` average over the classes that appear in the targets or the
    predictions; see ``segmentation_scores``.

    Parameters
    ----------
    num_classes : int
    ignore_index : int
        Target value of unlabelled pixels (-100, as in ``CrossEntropyLoss``).
    """

    def __init__(self, num_classes: int, ignore_index: int = -100) -> None:
        super().__init__(num_classes, ignore_index)

    def compute(self) -> dict[str, float | np.ndarray]:
        if self.matrix.sum() == 0:
            raise self._empty()
        return segmentation_scores(self.matrix)
