"""Exercise max_pool2d: max pooling, forward and backward.

    y[n, c, oh, ow] = max_{i < k, j < k} x_pad[n, c, oh*s + i, ow*s + j]

The padding counts as -inf: it can never be the maximum.  The gradient of a maximum goes to
the entry that was the maximum; of several equal maxima, only the *first* in row-major
window order (top row first, left to right: np.argmax's choice) gets it, as in PyTorch.
Windows overlap when s < k: an entry that is the maximum of two windows gets both
gradients (they add up).

Check:  numcnn check max_pool2d max_pool2d.py      (docs/pooling.md)
"""

import numpy as np  # noqa: F401  (you will need it)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """x (N, C, H, W); kernel_size k, stride s (None means k), padding p <= k // 2: ints.

    Returns (out, cache): out (N, C, Ho, Wo), Ho = (H + 2p - k) // s + 1, x's dtype; cache:
    what your backward needs.
    """
    raise NotImplementedError("max_pool2d_forward: write it")


def max_pool2d_backward(dout, cache):
    """dout (N, C, Ho, Wo).  Returns dx (N, C, H, W), dout's dtype.  Do not modify dout."""
    raise NotImplementedError("max_pool2d_backward: write it")
