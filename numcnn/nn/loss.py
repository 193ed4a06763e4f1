"""Losses in the explicit style: ``loss = fn(logits, targets)``, ``dlogits = fn.backward()``."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._validate import integer, real
from ..functional.loss import _REDUCTIONS, check_class_weight, scalar_dloss


class CrossEntropyLoss:
    """Softmax cross-entropy for (N, C) or (N, C, d1, ..., dk) logits against class indices
    or class probabilities, PyTorch's semantics (see
    ``functional.softmax_cross_entropy_forward``).

    ``loss_fn(logits, targets)`` returns the loss (a Python float, or an array for
    ``reduction="none"``); ``loss_fn.backward()`` returns dloss/dlogits (for "none", pass
    the upstream gradient of the per-position losses, default ones).
    """

    def __init__(self, weight: np.ndarray | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        op = "CrossEntropyLoss"
        if weight is not None:
            w = np.asarray(weight)
            if w.dtype == object or not (np.issubdtype(w.dtype, np.floating)
                                         or np.issubdtype(w.dtype, np.integer)):
                raise TypeError(f"{op}: weight must be an array of numbers, one per class; "
                                f"got {weight!r}")
            weight = check_class_weight(op, w.astype(np.float64), w.size)
        self.weight = weight
        self.ignore_index = integer(op, "ignore_index", ignore_index, minimum=None)
        if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
            raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}; got {reduction!r}")
        self.reduction = reduction
        self.label_smoothing = real(op, "label_smoothing", label_smoothing, 0.0, 1.0)
        self._cache = None

    def __call__(self, logits: np.ndarray, targets: np.ndarray):
        return self.forward(logits, targets)

    def forward(self, logits: np.ndarray, targets: np.ndarray):
        weight = self.weight
        if weight is not None and isinstance(logits, np.ndarray):
            weight = weight.astype(logits.dtype, copy=False)
        loss, self._cache = F.softmax_cross_entropy_forward(
            logits, targets, weight, self.ignore_index, self.reduction, self.label_smoothing)
        return loss

    def backward(self, dloss=None) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("CrossEntropyLoss.backward() called before the loss was computed")
        if dloss is None:
            dloss = (np.ones(self._cache.loss_shape, self._cache.log_probs.dtype)
                     if self.reduction == "none" else 1.0)
        return F.softmax_cross_entropy_backward(dloss, self._cache)

    def __repr__(self) -> str:
        return (f"CrossEntropyLoss(ignore_index={self.ignore_index}, "
                f"reduction={self.reduction!r}, label_smoothing={self.label_smoothing})")


class DiceLoss:
    """Soft multi-class Dice on logits (softmax inside), summed over the batch per class and
    averaged over classes (see ``functional.dice_loss_forward``).

    ``loss = fn(logits, targets)`` returns a float; ``fn.backward()`` returns dloss/dlogits.
    """

    def __init__(self, smooth: float = 1.0, ignore_index: int = -100):
        self.smooth = real("DiceLoss", "smooth", smooth, 0.0)
        self.ignore_index = integer("DiceLoss", "ignore_index", ignore_index, minimum=None)
        self._cache = None

    def __call__(self, logits: np.ndarray, targets: np.ndarray) -> float:
        return self.forward(logits, targets)

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> float:
        loss, self._cache = F.dice_loss_forward(logits, targets, self.smooth, self.ignore_index)
        return loss

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("DiceLoss.backward() called before the loss was computed")
        return F.dice_loss_backward(dloss, self._cache)

    def __repr__(self) -> str:
        return f"DiceLoss(smooth={self.smooth}, ignore_index={self.ignore_index})"


class DiceCELoss:
    """ce_weight * CrossEntropyLoss + dice_weight * DiceLoss on the same logits: cross-entropy
    gives every pixel a gradient, Dice counters class imbalance.  The gradient is the same
    weighted sum of the two gradients."""

    def __init__(self, ce_weight: float = 1.0, dice_weight: float = 1.0,
                 weight: np.ndarray | None = None, ignore_index: int = -100,
                 smooth: float = 1.0, label_smoothing: float = 0.0):
        self.ce_weight = real("DiceCELoss", "ce_weight", ce_weight)
        self.dice_weight = real("DiceCELoss", "dice_weight", dice_weight)
        self.ce = CrossEntropyLoss(weight, ignore_index, "mean", label_smoothing)
        self.dice = DiceLoss(smooth, ignore_index)

    def __call__(self, logits: np.ndarray, targets: np.ndarray) -> float:
        return self.forward(logits, targets)

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> float:
        return (self.ce_weight * self.ce(logits, targets)
                + self.dice_weight * self.dice(logits, targets))

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        g = scalar_dloss("DiceCELoss.backward", dloss)
        d = self.ce.backward(self.ce_weight * g)
        d += self.dice.backward(self.dice_weight * g)
        return d

    def __repr__(self) -> str:
        return f"DiceCELoss(ce_weight={self.ce_weight}, dice_weight={self.dice_weight})"
