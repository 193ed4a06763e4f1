"""Solution: the convolution's backward pass, one loop over the kernel taps.

Tap (i, j) of every window is one strided slice of the padded input, x_pad[:, :, i::s, j::s]
(Ho x Wo of it), so each tap's share of dw and dx is one tensordot over all samples and
output pixels: vectorised enough to train a U-Net.
"""

import numpy as np


def conv2d_backward(dout, cache):
    x, w, has_bias, (sh, sw), (ph, pw, _, _), dilation, groups = cache  # pads: top, left, ...
    if dilation != (1, 1) or groups != 1:
        raise NotImplementedError("only dilation=1 and groups=1")
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho, Wo = dout.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for i in range(kh):
        for j in range(kw):
            rows, cols = slice(i, i + sh * Ho, sh), slice(j, j + sw * Wo, sw)
            x_tap = x_pad[:, :, rows, cols]                        # (N, C, Ho, Wo)
            # dw[f, c, i, j] = sum_{n, oh, ow} dout[n, f, oh, ow] x_pad[n, c, oh s + i, ow s + j]
            dw[:, :, i, j] = np.tensordot(dout, x_tap, axes=([0, 2, 3], [0, 2, 3]))
            # each padded pixel this tap read gets sum_f w[f, c, i, j] dout[n, f, oh, ow]
            dx_pad[:, :, rows, cols] += np.tensordot(dout, w[:, :, i, j],
                                                     axes=([1], [0])).transpose(0, 3, 1, 2)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx_pad[:, :, ph:ph + H, pw:pw + W], dw, db
