"""Soft Dice loss (docs/losses.md), class by class.

Same signatures, return values and caches as ``numcnn.functional``.  Per class c, over every
position of the batch whose target is not ignore_index (chi = 1): I_c = sum p_c [t = c],
S_c = sum p_c + sum [t = c], dice_c = (2 I_c + smooth) / (S_c + smooth),
L = 1 - (1/C) sum_c dice_c.
"""

from __future__ import annotations

import numpy as np

from ..functional.dice import DiceCache
from .loss import softmax


def dice_loss_forward(logits: np.ndarray, targets: np.ndarray, smooth: float = 1.0,
                      ignore_index: int = -100):
    """logits (N, C, d1, ...), targets (N, d1, ...).  A class with S_c + smooth = 0
    (smooth = 0 and the class absent everywhere) scores 1.  Returns (loss, DiceCache)."""
    C = logits.shape[1]
    p = softmax(logits, 1)
    valid = (targets != ignore_index)[:, None]
    onehot = np.stack([targets == c for c in range(C)], axis=1) & valid
    smooth = float(smooth)
    inter, sizes, dice = np.zeros(C), np.zeros(C), np.zeros(C)
    for c in range(C):
        pc = p[:, c][valid[:, 0]].astype(np.float64)             # counted positions only
        tc = onehot[:, c][valid[:, 0]]                            # [t = c]
        inter[c] = np.sum(pc * tc)
        sizes[c] = np.sum(pc) + np.sum(tc)
        total = sizes[c] + smooth
        dice[c] = 1.0 if total == 0 else (2 * inter[c] + smooth) / total
    return float(1 - dice.mean()), DiceCache(p, onehot, valid, inter, sizes, smooth)


def dice_loss_backward(dloss: float, cache: DiceCache) -> np.ndarray:
    """Quotient rule per class: dp_c = -(chi / C) (2 [t = c] (S_c + smooth) - (2 I_c + smooth))
    / (S_c + smooth)^2 (0 for a class with S_c + smooth = 0), then through the softmax at
    each position: dz_c' = p_c' (dp_c' - sum_c p_c dp_c).  Returns dlogits."""
    p, onehot, valid, inter, sizes, smooth = cache
    C = p.shape[1]
    dp = np.zeros(p.shape)
    for c in range(C):
        total = sizes[c] + smooth
        if total == 0:
            continue
        dp[:, c] = -(2 * onehot[:, c] * total - (2 * inter[c] + smooth)) / total ** 2 / C
    dp *= valid * float(dloss)
    dz = p * (dp - (p * dp).sum(axis=1, keepdims=True))
    return dz.astype(p.dtype)
