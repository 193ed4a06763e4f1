"""Solution: the transposed convolution's backward pass, one loop over the kernel taps.

The forward scattered w[c, f, i, j] * x[n, c, h, v] onto row h*s + i, column v*s + j of a
full frame, then cropped p rows and columns off each side; so the backward puts dout back
into that frame and, tap by tap, gathers what each input pixel sent.
"""

import numpy as np


def conv_transpose2d_backward(dout, cache):
    x, w, has_bias, (sh, sw), (ph, pw, _, _), dilation, groups, (Ho, Wo) = cache
    if dilation != (1, 1) or groups != 1:
        raise NotImplementedError("only dilation=1 and groups=1")
    N, C, H, W = x.shape
    _, F, kh, kw = w.shape
    full = np.zeros((N, F, Ho + 2 * ph, Wo + 2 * pw), dtype=dout.dtype)
    full[:, :, ph:ph + Ho, pw:pw + Wo] = dout
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for i in range(kh):
        for j in range(kw):
            d_tap = full[:, :, i:i + sh * H:sh, j:j + sw * W:sw]   # (N, F, H, W)
            dx += np.tensordot(w[:, :, i, j], d_tap, axes=([1], [1])).transpose(1, 0, 2, 3)
            dw[:, :, i, j] = np.tensordot(x, d_tap, axes=([0, 2, 3], [0, 2, 3]))
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db
