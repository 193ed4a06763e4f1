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
