"""Exercise conv2d_backward: the gradients of a convolution layer.

The forward (numcnn.reference.conv2d_forward) computed, with stride s and padding p,

    y[n, f, oh, ow] = b[f] + sum_{c, i, j} w[f, c, i, j] * x_pad[n, c, oh*s + i, ow*s + j]

so with dout = dL/dy the chain rule gives

    dw[f, c, i, j] = sum_{n, oh, ow} dout[n, f, oh, ow] * x_pad[n, c, oh*s + i, ow*s + j]
    dx_pad[n, c, oh*s + i, ow*s + j] += sum_f w[f, c, i, j] * dout[n, f, oh, ow]
    db[f] = sum_{n, oh, ow} dout[n, f, oh, ow]
    dx = dx_pad[:, :, p:p+H, p:p+W]         (the padding's gradient is dropped)

Windows overlap when s < kh: an input pixel then gets contributions from several windows,
which add up.  For tap (i, j), the pixels x_pad[:, :, oh*s + i, ow*s + j] of all windows
are one strided slice, x_pad[:, :, i:i + s*Ho:s, j:j + s*Wo:s], so a loop over the kh*kw
taps with one tensordot/einsum each is enough to train a U-Net; loops over n, f, oh, ow
are far too slow for that.

Check:  numcnn check conv2d_backward conv2d_backward.py
Train:  with numcnn.use(conv2d_backward=conv2d_backward): ...   (docs/labs.md, lab 3)
"""

import numpy as np  # noqa: F401  (you will need it)


def conv2d_backward(dout, cache):
    """dout (N, F, Ho, Wo): dL/dy.

    cache: what numcnn.reference.conv2d_forward returned,
        (x, w, has_bias, (s_h, s_w), (p_top, p_left, p_bottom, p_right), (d_h, d_w),
         groups)
    with x (N, C, H, W) and w (F, C, kh, kw); you may assume dilation (1, 1), groups 1.

    Returns (dx, dw, db): dx (N, C, H, W), dw (F, C, kh, kw), db (F,) or None when
    has_bias is False; dout's dtype (float32 in, float32 out).  Do not modify dout.
    """
    x, w, has_bias, (sh, sw), (ph, pw, _, _), dilation, groups = cache  # pads: top, left, ...
    raise NotImplementedError("conv2d_backward: write it")
