"""Exercise dice: the soft Dice loss on logits, forward and backward.

p = softmax(z) over the class axis, y = one-hot(t), m = 1 where t is not ignore_index.
Per class c, summed over the whole batch (n, h, w):

    I_c = sum m p_c y_c,    S_c = sum m p_c + sum m y_c,    dice_c = (2 I_c + s) / (S_c + s)
    loss = 1 - (1/C) sum_c dice_c

Backward: first dL/dp_c = -(m / C) * (2 y_c (S_c + s) - (2 I_c + s)) / (S_c + s)^2, then
through the softmax (its Jacobian): dz = p * (dL/dp - sum_c p_c dL/dp_c).

Check:  numcnn check dice dice.py      (docs/losses.md)
"""

import numpy as np  # noqa: F401  (you will need it)


def dice_loss_forward(logits, targets, smooth=1.0, ignore_index=-100):
    """logits (N, C, H, W) float; targets (N, H, W) int in [0, C) or ignore_index;
    smooth s > 0.  Returns (loss, cache): loss a Python float."""
    raise NotImplementedError("dice_loss_forward: write it")


def dice_loss_backward(dloss, cache):
    """dloss: a number.  Returns dlogits, logits' shape and dtype (float32 in, float32 out:
    mind that a sum of booleans is an int64 array)."""
    raise NotImplementedError("dice_loss_backward: write it")
