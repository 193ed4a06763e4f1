"""Exercise linear: the fully connected layer, forward and backward.

    y[n, f] = sum_k x[n, k] w[f, k] + b[f]        i.e.  y = x W^T + b

numcnn stores w as (out_features, in_features), as PyTorch does (CS231n and Deep Learning
from Scratch store (in, out) and write x W).  By the chain rule, with dout = dL/dy:

    dx = dout W            (N, in)
    dW = dout^T x          (out, in): a sum over the batch
    db = sum_n dout[n]     (out,)

Check:  numcnn check linear linear.py      (docs/linear.md has the derivation)
"""


def linear_forward(x, w, b=None):
    """x (N, in_features), w (out_features, in_features), b (out_features,) or None.

    Returns (out, cache): out (N, out_features), x's dtype; cache: what backward needs.
    """
    raise NotImplementedError("linear_forward: write it")


def linear_backward(dout, cache):
    """dout (N, out_features).  Returns (dx, dw, db): x's, w's and b's shapes and dtype;
    db is None when there was no bias.  Do not modify dout."""
    raise NotImplementedError("linear_backward: write it")
