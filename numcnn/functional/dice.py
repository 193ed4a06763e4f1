"""Soft multi-class Dice loss on logits (docs/losses.md).

Symbols: p = softmax(z) over classes, y = one-hot(t), m = 1 on pixels whose target is not
ignore_index; per class c, summed over the whole batch (n, h, w):
I_c = sum m p_c y_c,  S_c = sum m p_c + sum m y_c,  dice_c = (2 I_c + s) / (S_c + s),
loss = 1 - (1/C) sum_c dice_c.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validate import float_array
from .loss import check_targets, softmax


def dice_loss_forward(logits: np.ndarray, targets: np.ndarray, smooth: float = 1.0,
                      ignore_index: int = -100):
    """Soft Dice loss of softmax(logits) against integer targets.

    Parameters
    ----------
    logits : (N, C, H, W) (or (N, C));  targets : (N, H, W) (or (N,)) ints in [0, C)
    smooth : s >= 0; s > 0 keeps the ratio smooth for a class absent from both prediction
        and target (its dice tends to 1: nothing to find, nothing found).  With s = 0 a
        class whose S_c is exactly 0 scores 1 and gets no gradient (instead of 0/0).

    Returns
    -------
    loss : float;  cache
    """
    op = "dice_loss"
    logits = float_array(op, "logits", logits, (2, 4), "(N, C) or (N, C, H, W)")
    targets = check_targets(op, targets, logits.shape, ignore_index)
    if not isinstance(smooth, numbers.Real) or smooth < 0:
        raise ValueError(f"{op}: smooth must be a number >= 0; got {smooth!r}")
    C = logits.shape[1]
    axes = (0, *range(2, logits.ndim))
    valid = (targets != ignore_index)[:, None]                    # m, (N, 1, ...)
    classes = np.arange(C).reshape(1, C, *([1] * (logits.ndim - 2)))
    y = (targets[:, None] == classes) & valid                      # one-hot, 0 where ignored
    p = softmax(logits)
    pm = p * valid
    inter = (pm * y).sum(axis=axes, dtype=np.float64)             # I_c
    denom = pm.sum(axis=axes, dtype=np.float64) + y.sum(axis=axes)  # S_c
    total = denom + smooth
    dice = np.where(total > 0, (2 * inter + smooth) / np.where(total > 0, total, 1.0), 1.0)
    loss = float(1.0 - dice.mean())
    return loss, (p, y, valid, inter, denom, float(smooth))


def dice_loss_backward(dloss: float, cache) -> np.ndarray:
    """dL/dp_c = -(m / C) * (2 y_c (S_c + s) - (2 I_c + s)) / (S_c + s)^2, then through the
    softmax: dz = p * (dL/dp - sum_c p_c dL/dp_c).

    Returns
    -------
    dlogits : logits' shape and dtype
    """
    p, y, valid, inter, denom, s = cache
    C = p.shape[1]
    shape = (1, C, *([1] * (p.ndim - 2)))
    total = denom + s
    d2 = np.where(total > 0, total, 1.0) ** 2  # a class with S_c + s = 0 gets no gradient
    a = np.where(total > 0, -2.0 * total / d2 / C * float(dloss), 0.0)
    b = np.where(total > 0, (2 * inter + s) / d2 / C * float(dloss), 0.0)
    a, b = a.astype(p.dtype).reshape(shape), b.astype(p.dtype).reshape(shape)
    dp = (y * a + b) * valid                                      # dL/dp
    return p * (dp - (p * dp).sum(axis=1, keepdims=True))
