"""Soft Dice loss (docs/losses.md), class by class.

Same signatures, return values and caches as ``numcnn.functional``.  Per class c, over every
position of the batch whose target is not ignore_index (m = 1): I_c = sum p_c y_c,
S_c = sum p_c + sum y_c, dice_c = (2 I_c + s) / (S_c + s), L = 1 - (1/C) sum_c dice_c.
"""

from __future__ import annotations

import numpy as np

from ..functional.dice import DiceCache
from .loss import softmax


def dice_loss_forward(logits: np.ndarray, targets: np.ndarray, smooth: float = 1.0,
                      ignore_index: int = -100):
    """logits (N, C, d1, ...), targets (N, d1, ...).  A class with S_c + s = 0 (s = 0 and
    the class absent everywhere) scores 1.  Returns (loss, DiceCache)."""
    C = logits.shape[1]
    p = softmax(logits, 1)
    valid = (targets != ignore_index)[:, None]
    y = np.stack([targets == c for c in range(C)], axis=1) & valid
    s = float(smooth)
    inter, sizes, dice = np.zeros(C), np.zeros(C), np.zeros(C)
    for c in range(C):
        pc = p[:, c][valid[:, 0]].astype(np.float64)             # counted positions only
        yc = y[:, c][valid[:, 0]]
        inter[c] = np.sum(pc * yc)
        sizes[c] = np.sum(pc) + np.sum(yc)
        dice[c] = 1.0 if sizes[c] + s == 0 else (2 * inter[c] + s) / (sizes[c] + s)
    return float(1 - dice.mean()), DiceCache(p, y, valid, inter, sizes, s)


def dice_loss_backward(dloss: float, cache: DiceCache) -> np.ndarray:
    """Quotient rule per class: dL/dp_c = -(m/C) (2 y_c (S_c + s) - (2 I_c + s)) / (S_c + s)^2
    (0 for a class with S_c + s = 0), then through the softmax at each position:
    dz_k = p_k (dL/dp_k - sum_c p_c dL/dp_c).  Returns dlogits."""
    p, y, valid, inter, sizes, s = cache
    C = p.shape[1]
    dp = np.zeros(p.shape)
    for c in range(C):
        total = sizes[c] + s
        if total == 0:
            continue
        dp[:, c] = -(2 * y[:, c] * total - (2 * inter[c] + s)) / total ** 2 / C
    dp *= valid * float(dloss)
    dz = p * (dp - (p * dp).sum(axis=1, keepdims=True))
    return dz.astype(p.dtype)
