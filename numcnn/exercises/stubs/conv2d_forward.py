"""Exercise conv2d_forward: a convolution layer's forward pass, written as its definition.

With stride s and zero padding p (x_pad: x with p zeros on every side),

    y[n, f, oh, ow] = b[f] + sum_{c, i, j} w[f, c, i, j] * x_pad[n, c, oh*s + i, ow*s + j]
    Ho = (H + 2p - kh) // s + 1,   Wo = (W + 2p - kw) // s + 1

This is a cross-correlation, as in PyTorch: the kernel is not flipped.  Loops over n, f, oh
and ow (with the sum over one window as one NumPy expression) are the point here; speed
comes later (exercise im2col).

Check:  numcnn check conv2d_forward conv2d_forward.py      (docs/convolution.md)
"""

import numpy as np  # noqa: F401  (you will need it)


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """x (N, C, H, W), w (F, C, kh, kw), b (F,) or None; stride and padding are ints (you
    may assume dilation=1 and groups=1).

    Returns (out, cache):
      out (N, F, Ho, Wo), x's dtype;
      cache = (x, w, b is not None, (stride, stride), (padding,) * 4, (1, 1), 1), the
      cache numcnn.reference.conv2d_backward reads, so that the reference's backward can
      train with your forward.
    """
    raise NotImplementedError("conv2d_forward: write it")
