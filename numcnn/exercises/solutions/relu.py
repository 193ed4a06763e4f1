"""Solution: ReLU forward and backward."""

import numpy as np


def relu_forward(x):
    out = np.maximum(x, 0)
    return out, x


def relu_backward(dout, cache):
    x = cache
    return dout * (x > 0)  # a new array: dout itself is left alone
