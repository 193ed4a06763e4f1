"""Losses in the explicit style: ``loss = fn(logits, targets)``, ``dlogits = fn.backward()``."""

from __future__ import annotations

import numpy as np

from .. import functional as F


class CrossEntropyLoss:
    """Softmax cross-entropy for (N, C) or per-pixel (N, C, H, W) logits, PyTorch's semantics
    (see ``functional.softmax_cross_entropy_forward``).

    ``loss_fn(logits, targets)`` returns the loss (a Python float, or an array for
    ``reduction="none"``); ``loss_fn.backward()`` returns dloss/dlogits (for "none", pass
    the upstream gradient of the per-element losses, default ones).
    """

    def __init__(self, weight: np.ndarray | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        self.weight = None if weight is None else np.asarray(weight)
        self.ignore_index, self.reduction = ignore_index, reduction
        self.label_smoothing = label_smoothing
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
            dloss = np.ones(self._cache[3].shape) if self.reduction == "none" else 1.0
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
        self.smooth, self.ignore_index = smooth, ignore_index
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
        self.ce_weight, self.dice_weight = ce_weight, dice_weight
        self.ce = CrossEntropyLoss(weight, ignore_index, "mean", label_smoothing)
        self.dice = DiceLoss(smooth, ignore_index)

    def __call__(self, logits: np.ndarray, targets: np.ndarray) -> float:
        return self.forward(logits, targets)

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> float:
        return (self.ce_weight * self.ce(logits, targets)
                + self.dice_weight * self.dice(logits, targets))

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        d = self.ce.backward(self.ce_weight * dloss)
        d += self.dice.backward(self.dice_weight * dloss)
        return d

    def __repr__(self) -> str:
        return f"DiceCELoss(ce_weight={self.ce_weight}, dice_weight={self.dice_weight})"
