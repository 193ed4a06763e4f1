"""Classification, pixel and instance metrics, as functions and as streaming objects.

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

Instance metrics (``match_instances``, ``dsb_score``, ``aji``, ``InstanceMetrics``) score
label images (0 background, each object its own positive id) the way nuclei papers and the
2018 Data Science Bowl do: every predicted object is matched one-to-one to a true one at
IoU >= thresh, with the semantics of stardist's ``matching`` (see docs/segmentation.md).
Every function takes the prediction first and the truth second, as the pixel metrics do.
"""

from __future__ import annotations

import numpy as np

from ._validate import integer, real

__all__ = [
    "accuracy", "top_k_accuracy", "confusion_matrix", "segmentation_scores",
    "Metric", "Accuracy", "TopKAccuracy", "ConfusionMatrix", "SegmentationMetrics",
    "DSB_THRESHOLDS", "instance_iou", "match_instances", "dsb_score", "aji",
    "InstanceMetrics",
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


def _real_logits(op: str, logits) -> np.ndarray:
    """Scores must be real numbers without NaN: argmax and ranking have no answer for NaN
    (NumPy's argmax would call it the largest, a comparison the smallest)."""
    logits = np.asarray(logits)
    if not (np.issubdtype(logits.dtype, np.floating) or np.issubdtype(logits.dtype, np.integer)):
        raise TypeError(f"{op}: logits must be real scores (float or int); got dtype "
                        f"{logits.dtype}")
    if np.issubdtype(logits.dtype, np.floating) and np.isnan(logits).any():
        raise ValueError(f"{op}: logits contain {int(np.isnan(logits).sum())} NaN value(s); "
                         f"a diverged model has no class to score (check the training loss)")
    return logits


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
        return _real_logits(op, pred).argmax(axis=1)
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


def _check_ignore_index(op: str, ignore_index) -> int | None:
    return None if ignore_index is None else integer(op, "ignore_index", ignore_index, None)


def _check_range(op: str, name: str, values: np.ndarray, num_classes: int) -> None:
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        bad = np.unique(values[(values < 0) | (values >= num_classes)])
        raise ValueError(f"{op}: {name} must be classes in [0, {num_classes}); got values "
                         f"{bad[:10].tolist()}")


def _kept(op: str, targets: np.ndarray, ignore_index: int | None) -> np.ndarray | None:
    """Boolean mask of the entries that count (None: all of them)."""
    ignore_index = _check_ignore_index(op, ignore_index)
    return None if ignore_index is None else targets != ignore_index


# -------------------------------------------------------------------------------- functions
def _accuracy_counts(op, pred, targets, ignore_index) -> tuple[int, int]:
    targets = _int_targets(op, targets)
    pred = _as_pred(op, pred, targets)
    keep = _kept(op, targets, ignore_index)
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
    logits = _real_logits(op, logits)  # NaN is refused here as in accuracy: k=1 agrees
    k = integer(op, "k", k, 1, C)
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
    keep = _kept(op, targets, ignore_index)
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
    num_classes = integer("confusion_matrix", "num_classes", num_classes)
    return _confusion("confusion_matrix", pred, targets, num_classes, ignore_index)


def _counts_matrix(op: str, cm) -> np.ndarray:
    """A confusion matrix: square (C, C), C >= 1, of non-negative whole numbers; as int64."""
    cm = np.asarray(cm)
    if not (np.issubdtype(cm.dtype, np.integer) or np.issubdtype(cm.dtype, np.floating)):
        raise TypeError(f"{op}: the confusion matrix must hold counts (ints); got dtype "
                        f"{cm.dtype}")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"{op}: the confusion matrix must be square, shape (C, C) with "
                         f"C >= 1 (cm[t, p], rows the truth); got shape {cm.shape}")
    bad = ~np.isfinite(cm) | (cm < 0) | (cm != np.round(cm)) if cm.dtype.kind == "f" \
        else cm < 0
    if bad.any():
        raise ValueError(f"{op}: the confusion matrix must hold non-negative whole counts; "
                         f"got {cm[bad][:5].tolist()}")
    return cm.astype(np.int64)


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

    Raises
    ------
    TypeError, ValueError
        ``cm`` is not a square (C, C) matrix of non-negative whole counts.
    """
    cm = _counts_matrix("segmentation_scores", cm)
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
    ``compute() -> dict`` of named results (floats or arrays).

    ``names`` lists the scalar results ``compute()`` reports, so that ``fit`` can refuse a
    ``monitor`` no epoch will report before it trains (None: not known in advance)."""

    names: tuple[str, ...] | None = None

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

    names = ("accuracy",)

    def __init__(self, ignore_index: int | None = None) -> None:
        self.ignore_index = _check_ignore_index("Accuracy", ignore_index)
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
        self.k = integer("TopKAccuracy", "k", k)
        self.names = (f"top{self.k}_accuracy",)
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

    names = ()

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        self.num_classes = integer(type(self).__name__, "num_classes", num_classes)
        self.ignore_index = _check_ignore_index(type(self).__name__, ignore_index)
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
        scores = segmentation_scores(np.eye(self.num_classes, dtype=np.int64))
        self.names = tuple(k for k, v in scores.items() if np.ndim(v) == 0)

    def compute(self) -> dict[str, float | np.ndarray]:
        if self.matrix.sum() == 0:
            raise self._empty()
        return segmentation_scores(self.matrix)


# -------------------------------------------------------------------------- instance metrics
DSB_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
"""IoU thresholds of the 2018 Data Science Bowl score: 0.5, 0.55, ..., 0.95 (as written,
not accumulated by repeated addition, so an IoU of exactly 0.6 passes 0.6)."""


def _label_image(op: str, name: str, labels) -> np.ndarray:
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):  # bool is not an integer dtype here
        hint = (" (a mask is not a label image: number its objects with "
                "scipy.ndimage.label)" if labels.dtype == np.bool_ else "")
        raise TypeError(f"{op}: {name} must be an integer label image (0 background, one "
                        f"positive id per object); got dtype {labels.dtype}{hint}")
    if labels.ndim == 0:
        raise ValueError(f"{op}: {name} must be a label image with at least one axis; got a "
                         f"scalar")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{op}: {name} must hold non-negative ids (0 background); got "
                         f"{int(labels.min())}")
    return labels


def _indexed(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, index): ``ids[index] == labels`` with ``ids[0] == 0`` (the background), so object
    k's row is ``k >= 1`` whether or not the image has background pixels."""
    ids, index = np.unique(labels.ravel(), return_inverse=True)
    if ids.size == 0 or ids[0] != 0:
        ids, index = np.concatenate([[0], ids]).astype(ids.dtype), index + 1
    return ids, index.ravel()


class _Overlaps:
    """Every pair of overlapping (true, predicted) objects, from one count of pixel pairs.

    ``rows``/``cols`` index ``true_ids``/``pred_ids`` (>= 1: objects only), ``inter`` and
    ``union`` are pixel counts and ``iou = inter / union``; ``true_size``/``pred_size`` count
    each object's pixels (index 0 is the background).  Pairs that do not overlap are not
    stored: their IoU is 0 and they can never be matched.
    """

    def __init__(self, op: str, pred, target) -> None:
        target = _label_image(op, "target", target)
        pred = _label_image(op, "pred", pred)
        if pred.shape != target.shape:
            raise ValueError(f"{op}: pred and target must have the same shape; got "
                             f"{pred.shape} and {target.shape}")
        self.true_ids, t = _indexed(target)
        self.pred_ids, p = _indexed(pred)
        n_p = len(self.pred_ids)
        pairs, inter = np.unique(t * n_p + p, return_counts=True)
        rows, cols = np.divmod(pairs, n_p)
        objects = (rows > 0) & (cols > 0)
        self.true_size = np.bincount(t, minlength=len(self.true_ids))
        self.pred_size = np.bincount(p, minlength=n_p)
        self.rows, self.cols, self.inter = rows[objects], cols[objects], inter[objects]
        self.union = self.true_size[self.rows] + self.pred_size[self.cols] - self.inter
        self.iou = self.inter / self.union
        self.n_true, self.n_pred = len(self.true_ids) - 1, n_p - 1

    def match(self, thresh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The most pairs with IoU >= thresh that share no object, and among those the largest
        summed IoU: (rows, cols, iou) of the matched pairs."""
        ok = self.iou >= thresh
        rows, cols, iou = self.rows[ok], self.cols[ok], self.iou[ok]
        if len(np.unique(rows)) == rows.size and len(np.unique(cols)) == cols.size:
            return rows, cols, iou  # no object in two candidate pairs (always so if thresh > 0.5)
        from scipy.optimize import linear_sum_assignment  # loads on first use

        r, ri = np.unique(rows, return_inverse=True)
        c, ci = np.unique(cols, return_inverse=True)
        # Weight 1 + IoU / (2n) per candidate pair: n pairs add at most 1/2 of bonus, so the
        # assignment takes the most pairs first, then the largest summed IoU (stardist's rule).
        n = min(len(r), len(c))
        block = np.zeros((len(r), len(c)))
        block[ri, ci] = iou
        a, b = linear_sum_assignment(np.where(block > 0, 1.0 + block / (2 * n), 0.0),
                                     maximize=True)
        kept = block[a, b] > 0
        return r[a[kept]], c[b[kept]], block[a[kept], b[kept]]

    def aji_counts(self) -> tuple[int, int]:
        """(C, U) of the aggregated Jaccard index: each true object with the predicted object
        of highest IoU (ties: the smaller predicted id), plus every predicted object no true
        object chose, in U only."""
        order = np.lexsort((self.cols, -self.iou, self.rows))  # by row, best IoU first
        first = order[np.unique(self.rows[order], return_index=True)[1]]
        chosen = np.zeros(self.n_pred + 1, bool)
        chosen[self.cols[first]] = True
        alone = np.ones(self.n_true + 1, bool)  # true objects that overlap nothing
        alone[self.rows[first]] = False
        inter, union = int(self.inter[first].sum()), int(self.union[first].sum())
        union += int(self.true_size[1:][alone[1:]].sum() + self.pred_size[1:][~chosen[1:]].sum())
        return inter, union


def _rates(tp: int, n_true: int, n_pred: int, iou_sum: float) -> dict[str, float]:
    """Scores from counts, with stardist's convention that 0/0 (nothing matched) is 0."""
    fp, fn = n_pred - tp, n_true - tp

    def ratio(a, b):
        return float(a / b) if b > 0 and a > 0 else 0.0

    return {"precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn),
            "ap": ratio(tp, tp + fp + fn), "f1": ratio(2 * tp, 2 * tp + fp + fn),
            "mean_matched_iou": ratio(iou_sum, tp), "mean_true_iou": ratio(iou_sum, n_true),
            "pq": ratio(iou_sum, tp + fp / 2 + fn / 2)}


def _thresholds(op: str, thresh) -> list[float]:
    many = np.ndim(thresh) > 0
    values = list(thresh) if many else [thresh]
    if many and not values:
        raise ValueError(f"{op}: thresh must be a number in (0, 1] or a non-empty sequence "
                         f"of them; got an empty sequence")
    return [real(op, "thresh", t, 0.0, 1.0, min_open=True) for t in values]


def instance_iou(pred, target) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of every true object with every predicted object.

    Parameters
    ----------
    pred, target : integer label images of one shape (any number of axes); 0 is background,
        every positive id one object (ids need not be consecutive)

    Returns
    -------
    iou : ndarray, float64, shape (n_true, n_pred); ``iou[i, j]`` is
        ``|T_i & P_j| / |T_i | P_j|`` for the true object ``true_ids[i]`` and the predicted
        ``pred_ids[j]``
    true_ids, pred_ids : ndarrays of the ids in increasing order, shapes (n_true,), (n_pred,)
    """
    o = _Overlaps("instance_iou", pred, target)
    iou = np.zeros((o.n_true, o.n_pred))
    iou[o.rows - 1, o.cols - 1] = o.iou
    return iou, o.true_ids[1:], o.pred_ids[1:]


def match_instances(pred, target, thresh: float = 0.5):
    """Match predicted objects one-to-one to true ones at IoU >= thresh and score the match.

    The matching has the most pairs with IoU >= ``thresh`` in which no object appears twice,
    and among those the largest summed IoU (an optimal assignment,
    ``scipy.optimize.linear_sum_assignment``, as stardist's ``matching``; for
    ``thresh >= 0.5`` the pairs are unique anyway, since an object can overlap only one other
    by more than half).  With TP matched pairs, FP = n_pred - TP, FN = n_true - TP:

    - ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``
    - ``ap = TP / (TP + FP + FN)`` (stardist's "accuracy", the DSB 2018 "average precision")
    - ``f1 = 2 TP / (2 TP + FP + FN)``
    - ``mean_matched_iou`` = summed IoU of the matches / TP, ``mean_true_iou`` = / n_true
    - ``pq = summed IoU / (TP + FP / 2 + FN / 2)`` (panoptic quality, Kirillov et al. 2019)

    A ratio whose numerator or denominator is 0 is 0 (stardist's convention: an image with no
    object in either label image scores 0).

    Parameters
    ----------
    pred, target : integer label images of one shape (0 background, any positive ids)
    thresh : float in (0, 1], or a sequence of them (the overlaps are counted once)

    Returns
    -------
    dict (a list of dicts, one per threshold, if ``thresh`` is a sequence) with ``thresh``,
    ``n_true``, ``n_pred``, ``tp``, ``fp``, ``fn``, the scores above, ``matches`` (TP, 2) int64
    of (true id, predicted id) and ``matched_iou`` (TP,) float64.
    """
    op = "match_instances"
    thresholds = _thresholds(op, thresh)
    o = _Overlaps(op, pred, target)
    results = []
    for t in thresholds:
        rows, cols, iou = o.match(t)
        tp = len(rows)
        results.append({"thresh": t, "n_true": o.n_true, "n_pred": o.n_pred, "tp": tp,
                        "fp": o.n_pred - tp, "fn": o.n_true - tp,
                        **_rates(tp, o.n_true, o.n_pred, float(iou.sum())),
                        "matches": np.stack([o.true_ids[rows], o.pred_ids[cols]], axis=1
                                            ).astype(np.int64).reshape(tp, 2),
                        "matched_iou": iou.astype(np.float64)})
    return results if np.ndim(thresh) > 0 else results[0]


def dsb_score(pred, target, thresholds=DSB_THRESHOLDS) -> float:
    """The 2018 Data Science Bowl score of one image: the mean of ``ap`` =
    TP / (TP + FP + FN) over the IoU thresholds 0.5, 0.55, ..., 0.95 (see
    ``match_instances``)."""
    results = match_instances(pred, target, _thresholds("dsb_score", thresholds))
    return float(np.mean([r["ap"] for r in results]))


def aji(pred, target) -> float:
    """Aggregated Jaccard index (Kumar et al., IEEE TMI 2017) of two label images.

    Each true object T_i takes the predicted object P_j of highest IoU (ties: the smaller
    predicted id; a predicted object may be taken by several); C sums |T_i & P_j| and U sums
    |T_i | P_j| (|T_i| if T_i overlaps nothing); every predicted object no true object took
    adds its pixels to U.  AJI = C / U, 0 when neither image has an object.
    """
    inter, union = _Overlaps("aji", pred, target).aji_counts()
    return inter / union if union else 0.0


class InstanceMetrics(Metric):
    """Instance scores over a data set: pooled over the images and kept image by image.

    ``update(pred, target)`` adds one pair of label images (any shape, the same for both).
    ``compute()`` pools the counts over all images, as stardist's ``matching_dataset``:
    ``tp``, ``fp``, ``fn``, ``n_true``, ``n_pred`` and the scores of ``match_instances`` at
    ``thresh`` from those sums; ``dsb`` (the mean over ``DSB_THRESHOLDS`` of the pooled
    ``ap``); ``aji`` (the images' summed C over their summed U); ``n_images``.

    ``per_image`` holds one dict per update with the same keys for that image alone (the
    2018 competition averaged per-image DSB scores:
    ``np.mean([r["dsb"] for r in metric.per_image])``).

    Parameters
    ----------
    thresh : float in (0, 1]
        IoU threshold of the reported counts and scores (``dsb`` always uses 0.5...0.95).
    """

    def __init__(self, thresh: float = 0.5) -> None:
        self.thresh = real("InstanceMetrics", "thresh", thresh, 0.0, 1.0, min_open=True)
        self._all = sorted({self.thresh, *DSB_THRESHOLDS})
        self.reset()
        self.names = tuple(self._summary(self._tp, self._iou_sum, 0, 0, 0, 0, 0))

    def reset(self) -> None:
        self.per_image: list[dict[str, float | int]] = []
        self._tp = np.zeros(len(self._all), np.int64)
        self._iou_sum = np.zeros(len(self._all))
        self.n_true = self.n_pred = self._aji_inter = self._aji_union = 0

    def _summary(self, tp, iou_sum, n_true, n_pred, inter, union, n_images) -> dict:
        at = self._all.index(self.thresh)
        dsb = [_rates(int(tp[self._all.index(t)]), n_true, n_pred, 0.0)["ap"]
               for t in DSB_THRESHOLDS]
        return {"n_images": n_images, "n_true": n_true, "n_pred": n_pred,
                "tp": int(tp[at]), "fp": n_pred - int(tp[at]), "fn": n_true - int(tp[at]),
                **_rates(int(tp[at]), n_true, n_pred, float(iou_sum[at])),
                "dsb": float(np.mean(dsb)), "aji": inter / union if union else 0.0}

    def update(self, pred, target) -> None:
        o = _Overlaps("InstanceMetrics.update", pred, target)
        tp, iou_sum = np.zeros_like(self._tp), np.zeros_like(self._iou_sum)
        for k, t in enumerate(self._all):
            iou = o.match(t)[2]
            tp[k], iou_sum[k] = len(iou), iou.sum()
        inter, union = o.aji_counts()
        self.per_image.append(self._summary(tp, iou_sum, o.n_true, o.n_pred, inter, union, 1))
        self._tp += tp
        self._iou_sum += iou_sum
        self.n_true += o.n_true
        self.n_pred += o.n_pred
        self._aji_inter += inter
        self._aji_union += union

    def compute(self) -> dict[str, float | int]:
        if not self.per_image:
            raise self._empty()
        return self._summary(self._tp, self._iou_sum, self.n_true, self.n_pred,
                             self._aji_inter, self._aji_union, len(self.per_image))

    def __repr__(self) -> str:
        return f"InstanceMetrics(thresh={self.thresh})"
