"""Soft multi-class Dice loss on logits (docs/losses.md).

Symbols: p = softmax(z) over classes, y = one-hot(t), m = 1 on positions whose target is not
ignore_index; per class c, summed over the whole batch (n, d1, ..., dk):
I_c = sum m p_c y_c,  S_c = sum m p_c + sum m y_c,  dice_c = (2 I_c + s) / (S_c + s),
loss = 1 - (1/C) sum_c dice_c.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validate import integer, real
from .loss import _softmax, check_logits, check_targets, scalar_dloss


class DiceCache(NamedTuple):
    probs: np.ndarray          # p = softmax(z), logits' shape
    onehot: np.ndarray         # y, bool, logits' shape (0 where ignored)
    valid: np.ndarray          # m, bool, (N, 1, d1, ...)
    intersection: np.ndarray   # I_c, float64 (C,)
    sizes: np.ndarray          # S_c, float64 (C,)
    smooth: float              # s


def dice_loss_forward(logits: np.ndarray, targets: np.ndarray, smooth: float = 1.0,
                      ignore_index: int = -100):
    """Soft Dice loss of softmax(logits) against integer targets.

    Parameters
    ----------
    logits : (N, C, d1, ..., dk), e.g. (N, C, H, W) or (N, C)
    targets : (N, d1, ..., dk) ints in [0, C) or ignore_index
    smooth : s >= 0, finite; s > 0 keeps the ratio smooth for a class absent from both
        prediction and target (its dice tends to 1: nothing to find, nothing found).  With
        s = 0 a class whose S_c is exactly 0 scores 1 and gets no gradient (instead of 0/0).
        NaN logits give a NaN loss (never a silent 0).

    Returns
    -------
    loss : float;  cache : DiceCache
    """
    op = "dice_loss"
    logits = check_logits(op, logits)
    ignore_index = integer(op, "ignore_index", ignore_index, minimum=None)
    targets = check_targets(op, targets, logits.shape, ignore_index)
    s = real(op, "smooth", smooth, 0.0)
    C = logits.shape[1]
    axes = (0, *range(2, logits.ndim))
    valid = (targets != ignore_index)[:, None]                    # m, (N, 1, ...)
    classes = np.arange(C).reshape(1, C, *([1] * (logits.ndim - 2)))
    y = (targets[:, None] == classes) & valid                      # one-hot, 0 where ignored
    p = _softmax(logits, 1)
    pm = p * valid
    inter = (pm * y).sum(axis=axes, dtype=np.float64)             # I_c
    sizes = pm.sum(axis=axes, dtype=np.float64) + y.sum(axis=axes)  # S_c
    total = sizes + s
    empty = total == 0                                             # only with s = 0; NaN is not
    dice = np.where(empty, 1.0, (2 * inter + s) / np.where(empty, 1.0, total))
    loss = float(1.0 - dice.mean())
    return loss, DiceCache(p, y, valid, inter, sizes, s)


def dice_loss_backward(dloss: float, cache: DiceCache) -> np.ndarray:
    """dL/dp_c = -(m / C) * (2 y_c (S_c + s) - (2 I_c + s)) / (S_c + s)^2, then through the
    softmax: dz = p * (dL/dp - sum_c p_c dL/dp_c).

    Returns
    -------
    dlogits : logits' shape and dtype
    """
    op = "dice_loss_backward"
    if not isinstance(cache, DiceCache):
        raise TypeError(f"{op}: cache must be the DiceCache that dice_loss_forward returned; "
                        f"got {type(cache).__name__}")
    g = scalar_dloss(op, dloss)
    p, y, valid, inter, sizes, s = cache
    C = p.shape[1]
    shape = (1, C, *([1] * (p.ndim - 2)))
    total = sizes + s
    empty = total == 0                            # a class with S_c + s = 0 gets no gradient
    d2 = np.where(empty, 1.0, total) ** 2
    a = np.where(empty, 0.0, -2.0 * total / d2 / C * g)
    b = np.where(empty, 0.0, (2 * inter + s) / d2 / C * g)
    a, b = a.astype(p.dtype).reshape(shape), b.astype(p.dtype).reshape(shape)
    dp = (y * a + b) * valid                                      # dL/dp
    return p * (dp - (p * dp).sum(axis=1, keepdims=True))
