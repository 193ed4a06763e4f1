"""Exercise relu: the ReLU layer, forward and backward.

    y = max(x, 0)               forward
    dx = dout * [x > 0]         backward: the chain rule, dL/dx = dL/dy * dy/dx

At x = 0 ReLU has no derivative; numcnn (like PyTorch) takes it as 0, so the mask is x > 0.

Check:  numcnn check relu relu.py      (docs/activations.md has the derivation)
"""

import numpy as np  # noqa: F401  (you will need it)


def relu_forward(x):
    """x: any shape, float32 or float64.  Returns (out, cache): out = max(x, 0) with x's
    shape and dtype, and whatever your relu_backward needs (e.g. x itself)."""
    raise NotImplementedError("relu_forward: write it")


def relu_backward(dout, cache):
    """dout: dL/dout, out's shape.  Returns dx = dL/dx, x's shape and dtype.

    Do not modify dout (compute a new array): the layer below may still need it.
    """
    raise NotImplementedError("relu_backward: write it")
