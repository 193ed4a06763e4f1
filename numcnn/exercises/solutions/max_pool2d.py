"""Solution: max pooling, one loop over the output positions."""

import numpy as np


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    k, p = kernel_size, padding
    s = k if stride is None else stride
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for oh in range(Ho):
        for ow in range(Wo):
            out[:, :, oh, ow] = x_pad[:, :, oh * s:oh * s + k, ow * s:ow * s + k].max(axis=(2, 3))
    return out, (x, k, s, p)


def max_pool2d_backward(dout, cache):
    x, k, s, p = cache
    N, C, H, W = x.shape
    Ho, Wo = dout.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    dx_pad = np.zeros_like(x_pad)
    n, c = np.indices((N, C))
    for oh in range(Ho):
        for ow in range(Wo):
            window = x_pad[:, :, oh * s:oh * s + k, ow * s:ow * s + k].reshape(N, C, -1)
            i, j = np.divmod(window.argmax(axis=2), k)  # the first maximum's tap
            dx_pad[n, c, oh * s + i, ow * s + j] += dout[:, :, oh, ow]  # overlaps add up
    return dx_pad[:, :, p:p + H, p:p + W]
