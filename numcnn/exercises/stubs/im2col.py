"""Exercise im2col: every kh x kw window of the input as one column of a matrix.

Then a convolution is one matrix product, which BLAS runs at close to the machine's peak:

    Y = W_mat @ X_col,   W_mat = w.reshape(F, C*kh*kw),   X_col = im2col(x)

numcnn's layout (numcnn.kernels.im2col):
    row    c*kh*kw + i*kw + j     (channel, then kernel row i, then kernel column j)
    column n*Ho*Wo + oh*Wo + ow   (sample, then output row, then output column)
    X_col[row, column] = x_pad[n, c, oh*s + i, ow*s + j]

(Deep Learning from Scratch stores the transpose, CS231n orders the columns (oh, ow, n).)
Tap (i, j) of every window is one strided slice of x_pad, so a loop over the taps, or
np.lib.stride_tricks.sliding_window_view, avoids a loop over pixels.

Check:  numcnn check im2col im2col.py      (examples/conv_by_hand.py shows it at work)
"""

import numpy as np  # noqa: F401  (you will need it)


def im2col(x, kh, kw, stride=1, padding=0):
    """x (N, C, H, W); kernel kh x kw; stride and padding ints.

    Returns X_col (C*kh*kw, N*Ho*Wo) in x's dtype, Ho = (H + 2*padding - kh) // stride + 1.
    """
    raise NotImplementedError("im2col: write it")
