"""Soft multi-class Dice loss on logits (docs/losses.md).

Symbols (docs/index.md): p = softmax(z) over classes, [t = c] the one-hot target, chi = 1 on
positions whose target is not ignore_index (``valid``); per class c, summed over the whole
batch (n, d1, ..., dk):
I_c = sum chi p_c [t = c],  S_c = sum chi p_c + sum chi [t = c],
dice_c = (2 I_c + smooth) / (S_c + smooth),  loss = 1 - (1/C) sum_c dice_c.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validate import integer, real
from ._validate import cache_of
from .loss import _softmax, check_logits, check_targets, scalar_dloss


class DiceCache(NamedTuple):
    probs: np.ndarray          # p = softmax(z), logits' shape
    onehot: np.ndarray         # [t = c], bool, logits' shape (0 where ignored)
    valid: np.ndarray          # chi, bool, (N, 1, d1, ...)
    intersection: np.ndarray   # I_c, float64 (C,)
    sizes: np.ndarray          # S_c, float64 (C,)
    smooth: float


def dice_loss_forward(logits: np.ndarray, targets: np.ndarray, smooth: float = 1.0,
                      ignore_index: int = -100):
    """Soft Dice loss of softmax(logits) against integer targets.

    Parameters
    ----------
    logits : (N, C, d1, ..., dk), e.g. (N, C, H, W) or (N, C)
    targets : (N, d1, ..., dk) ints in [0, C) or ignore_index
    smooth : >= 0, finite; smooth > 0 keeps the ratio defined for a class absent from both
        prediction and target (its dice is 1: nothing to find, nothing found).  With
        smooth = 0 a class whose S_c is exactly 0 scores 1 and gets no gradient (not 0/0).
        NaN logits give a NaN loss (never a silent 0).

    Returns
    -------
    loss : float;  cache : DiceCache
    """
    op = "dice_loss"
    logits = check_logits(op, logits)
    ignore_index = integer(op, "ignore_index", ignore_index, minimum=None)
    targets = check_targets(op, targets, logits.shape, ignore_index)
    smooth = real(op, "smooth", smooth, 0.0)
    C = logits.shape[1]
    axes = (0, *range(2, logits.ndim))
    valid = (targets != ignore_index)[:, None]                    # chi, (N, 1, ...)
    classes = np.arange(C).reshape(1, C, *([1] * (logits.ndim - 2)))
    onehot = (targets[:, None] == classes) & valid                 # 0 where ignored
    p = _softmax(logits, 1)
    pm = p * valid
    inter = (pm * onehot).sum(axis=axes, dtype=np.float64)        # I_c
    sizes = pm.sum(axis=axes, dtype=np.float64) + onehot.sum(axis=axes)  # S_c
    total = sizes + smooth
    empty = total == 0                                        # only with smooth = 0; NaN is not
    dice = np.where(empty, 1.0, (2 * inter + smooth) / np.where(empty, 1.0, total))
    loss = float(1.0 - dice.mean())
    return loss, DiceCache(p, onehot, valid, inter, sizes, smooth)


def dice_loss_backward(dloss: float, cache: DiceCache) -> np.ndarray:
    """dp_c = -(chi / C) (2 [t = c] (S_c + smooth) - (2 I_c + smooth)) / (S_c + smooth)^2,
    then through the softmax: dz_c' = p_c' (dp_c' - sum_c p_c dp_c).

    Returns
    -------
    dlogits : logits' shape and dtype
    """
    op = "dice_loss_backward"
    cache_of(op, cache, DiceCache, "dice_loss_forward")
    g = scalar_dloss(op, dloss)
    p, onehot, valid, inter, sizes, smooth = cache
    C = p.shape[1]
    shape = (1, C, *([1] * (p.ndim - 2)))
    total = sizes + smooth
    empty = total == 0                          # a class with S_c + smooth = 0: no gradient
    d2 = np.where(empty, 1.0, total) ** 2
    a = np.where(empty, 0.0, -2.0 * total / d2 / C * g)
    b = np.where(empty, 0.0, (2 * inter + smooth) / d2 / C * g)
    a, b = a.astype(p.dtype).reshape(shape), b.astype(p.dtype).reshape(shape)
    dp = (onehot * a + b) * valid                                 # dL/dp
    return p * (dp - (p * dp).sum(axis=1, keepdims=True))
