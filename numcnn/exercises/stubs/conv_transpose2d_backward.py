"""Exercise conv_transpose2d_backward: the gradients of a transposed convolution (the
learned upsampling of a U-Net's decoder).

The forward (numcnn.reference.conv_transpose2d_forward) scatters each input pixel, with
stride s and padding p, onto a full frame and crops it:

    y_full[n, f, h*s + i, v*s + j] += w[c, f, i, j] * x[n, c, h, v]     (overlaps add up)
    y = y_full[:, :, p:p + Ho, p:p + Wo] + b[f]
    Ho = (H - 1)*s - 2p + kh + output_padding

So the backward puts dout back into the full frame (zeros where the forward cropped) and,
for each tap (i, j), gathers what every input pixel sent there:

    dout_full[:, :, p:p + Ho, p:p + Wo] = dout
    dx[n, c, h, v] = sum_{f, i, j} w[c, f, i, j] * dout_full[n, f, h*s + i, v*s + j]
    dw[c, f, i, j] = sum_{n, h, v} x[n, c, h, v] * dout_full[n, f, h*s + i, v*s + j]
    db[f] = sum_{n, oh, ow} dout[n, f, oh, ow]

(This is a plain convolution's gather: the transposed convolution is the adjoint of one.)

Check:  numcnn check conv_transpose2d_backward conv_transpose2d_backward.py
"""

import numpy as np  # noqa: F401  (you will need it)


def conv_transpose2d_backward(dout, cache):
    """dout (N, F, Ho, Wo): dL/dy.

    cache: what numcnn.reference.conv_transpose2d_forward returned,
        (x, w, has_bias, (s_h, s_w), (p_top, p_left, p_bottom, p_right), (d_h, d_w),
         groups, (Ho, Wo))
    with x (N, C, H, W) and w (C, F, kh, kw) (PyTorch's layout for ConvTranspose2d); you
    may assume dilation (1, 1) and groups 1.

    Returns (dx, dw, db): x's and w's shapes, db (F,) or None when has_bias is False;
    dout's dtype.  Do not modify dout.
    """
    x, w, has_bias, (sh, sw), (ph, pw, _, _), dilation, groups, (Ho, Wo) = cache
    raise NotImplementedError("conv_transpose2d_backward: write it")
