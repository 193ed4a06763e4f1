"""Exercise softmax_cross_entropy: the classification loss, per image or per pixel.

Logits z (N, C) or (N, C, H, W), integer targets t (N,) or (N, H, W).  For each target i
(an image, or a pixel) that is not ignore_index:

    log p[i, c] = z[i, c] - max_c z[i, c] - log sum_c exp(z[i, c] - max_c z[i, c])
    loss = -(1 / M) sum_i log p[i, t_i]         M = the number of non-ignored targets

(Subtracting the max keeps exp from overflowing; loss = 0 when every target is ignored.)
The gradient is
    dz[i, c] = (p[i, c] - [c = t_i]) / M * dloss,   and 0 for an ignored target.

Check:  numcnn check softmax_cross_entropy softmax_cross_entropy.py     (docs/losses.md)
"""

import numpy as np  # noqa: F401  (you will need it)


def softmax_cross_entropy_forward(logits, targets, weight=None, ignore_index=-100,
                                  reduction="mean", label_smoothing=0.0):
    """logits (N, C) or (N, C, H, W) float; targets (N,) or (N, H, W) int in [0, C) or
    ignore_index.  Only weight=None, reduction="mean" and label_smoothing=0 are asked for
    (numcnn.nn.CrossEntropyLoss passes these defaults).

    Returns (loss, cache): loss a Python float; cache: what your backward needs.
    """
    raise NotImplementedError("softmax_cross_entropy_forward: write it")


def softmax_cross_entropy_backward(dloss, cache):
    """dloss: a number, dL/dloss.  Returns dlogits, logits' shape and dtype."""
    raise NotImplementedError("softmax_cross_entropy_backward: write it")
