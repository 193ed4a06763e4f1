"""Exercise batch_norm_backward: the gradients of batch normalisation.

For one channel c the forward (numcnn.reference.batch_norm_forward) took the M values x_k of
that channel in the batch (M = N for an (N, C) input, M = N*H*W for (N, C, H, W): axes 0,
2 and 3) and computed

    mu = (1/M) sum_k x_k,   var = (1/M) sum_k (x_k - mu)^2   (biased)
    inv_std = 1 / sqrt(var + eps),   xhat_k = (x_k - mu) * inv_std
    y_k = gamma * xhat_k + beta

in training mode; in eval mode mu and var were the running statistics, constants.  With
dout = dL/dy and dxhat_k = gamma * dout_k (docs/normalization.md derives the rest):

    dbeta  = sum_k dout_k
    dgamma = sum_k dout_k * xhat_k
    dx_j   = (inv_std / M) * (M dxhat_j - sum_k dxhat_k - xhat_j sum_k dxhat_k xhat_k)
                                                      (training: mu and var depend on x)
    dx_j   = dxhat_j * inv_std                        (eval: mu and var are constants)

Check:  numcnn check batch_norm_backward batch_norm_backward.py
"""

import numpy as np  # noqa: F401  (you will need it)


def batch_norm_backward(dout, cache):
    """dout: dL/dy, the input's shape, (N, C) or (N, C, H, W).

    cache: what numcnn.reference.batch_norm_forward returned, a named tuple
        (x3, x_shape, mu, inv_std, gamma, training)
    with x3 the input viewed as (N, C, L) (L = H*W, or 1), x_shape the input's shape,
    mu and inv_std (C,) the mean subtracted and 1/sqrt(var + eps), gamma (C,), and
    training True (batch statistics) or False (running statistics).

    Returns (dx, dgamma, dbeta): dx the input's shape, dgamma and dbeta (C,); dout's dtype
    (float32 in, float32 out).  Do not modify dout.
    """
    x3, x_shape, mu, inv_std, gamma, training = cache
    raise NotImplementedError("batch_norm_backward: write it")
