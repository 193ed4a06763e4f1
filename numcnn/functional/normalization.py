"""Batch normalisation and dropout (docs/normalization.md).

Batch norm symbols: per channel c, over the M = N*H*W values x_k of that channel,
mu = (1/M) sum_k x_k,  var = (1/M) sum_k (x_k - mu)^2  (biased),  xhat = (x - mu) / sqrt(var + eps),
y = gamma * xhat + beta.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ._validate import dout_array, float_array, same_dtype


def batch_norm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                       running_mean: np.ndarray | None = None,
                       running_var: np.ndarray | None = None, training: bool = True,
                       momentum: float = 0.1, eps: float = 1e-5):
    """Batch norm over the batch (and spatial) axes, PyTorch's semantics.

    training: normalise with the batch's mu and biased var; if running stats are given,
    update them in place: running = (1 - momentum) * running + momentum * batch_stat, with
    the *unbiased* variance var * M / (M - 1) for running_var.
    eval: normalise with running_mean / running_var.
    The loops are numba kernels (``numcnn.kernels.norm``): two passes for the statistics
    (float64 sums), one for the output; tests/reference.py has the same formulas in NumPy.

    Parameters
    ----------
    x : (N, C) or (N, C, H, W);  gamma, beta : (C,);  running_mean, running_var : (C,) or None

    Returns
    -------
    out : x's shape;  cache
    """
    op = "batch_norm"
    x = float_array(op, "x", x, (2, 4), "(N, C) or (N, C, H, W)")
    gamma = float_array(op, "gamma", gamma, 1, "(C,)")
    beta = float_array(op, "beta", beta, 1, "(C,)")
    same_dtype(op, x=x, gamma=gamma, beta=beta)
    C = x.shape[1]
    if gamma.shape != (C,) or beta.shape != (C,):
        raise ValueError(f"{op}: expected {C} channels at axis 1 of x {x.shape} to match gamma "
                         f"{gamma.shape} and beta {beta.shape}")
    M = x.size // C
    x3 = x.reshape(x.shape[0], C, int(np.prod(x.shape[2:])))  # (N, C, L): L = H*W, or 1
    if training:
        if M < 2:
            raise ValueError(f"{op}: training needs more than one value per channel to "
                             f"estimate a variance; got input of shape {x.shape}")
        mu, var = kernels.channel_mean_var(x3)                  # float64, two-pass
        if running_mean is not None and running_var is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mu
            running_var *= 1 - momentum
            running_var += momentum * var * (M / (M - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: eval mode needs running_mean and running_var")
        mu, var = running_mean.astype(np.float64), running_var.astype(np.float64)
    mu = mu.astype(x.dtype)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    # out = xhat * gamma + beta with xhat = (x - mu) * inv_std, in one pass
    out = kernels.batch_norm_apply(x3, mu, inv_std * gamma, beta)
    return out.reshape(x.shape), (x3, x.shape, mu, inv_std, gamma, training)


def batch_norm_backward(dout: np.ndarray, cache):
    """Gradients of :func:`batch_norm_forward`.

    dbeta = sum_k dy_k,  dgamma = sum_k dy_k * xhat_k, and with g = dy * gamma:
    training:  dx = (inv_std / M) * (M g - sum_k g_k - xhat * sum_k g_k xhat_k)
               (mu and var depend on x, hence the two correction terms);
    eval:      dx = g * inv_std  (the running statistics are constants).
    Since sum_k g_k = gamma * dbeta and sum_k g_k xhat_k = gamma * dgamma, dx is
    a * dy + b * (x - mu) + c per channel, with a = gamma * inv_std, b = -a * inv_std *
    dgamma / M, c = -a * dbeta / M: two passes over the data (the sums, then dx).

    Returns
    -------
    dx : x's shape;  dgamma : (C,);  dbeta : (C,)
    """
    x3, x_shape, mu, inv_std, gamma, training = cache
    N, C, L = x3.shape
    dout = dout_array("batch_norm_backward", dout, x_shape, x3.dtype)
    d3 = dout.reshape(N, C, L)
    M = N * L
    s_dy, s_dyx = kernels.channel_grad_sums(d3, x3, mu.astype(np.float64))
    dgamma64 = s_dyx * inv_std                                    # float64 (C,)
    a = gamma * inv_std
    if training:  # the coefficients from the float64 sums, then rounded once
        b = (-a * inv_std * dgamma64 / M).astype(x3.dtype)
        c = (-a * s_dy / M).astype(x3.dtype)
    else:
        b = c = np.zeros(C, dtype=x3.dtype)
    dx = kernels.batch_norm_grad(d3, x3, mu, a, b, c)
    return dx.reshape(dout.shape), dgamma64.astype(x3.dtype), s_dy.astype(x3.dtype)


def dropout_forward(x: np.ndarray, p: float = 0.5, training: bool = True,
                    rng: np.random.Generator | None = None, mask: np.ndarray | None = None):
    """Inverted dropout: y = x * m / (1 - p), m_k ~ Bernoulli(1 - p) (kept with prob. 1 - p).

    The expectation of y equals x, so nothing changes at eval time (y = x).  Pass ``mask``
    (boolean, x's shape) to fix which units are kept, e.g. for a gradient check.

    Returns
    -------
    out : x's shape;  cache (the scaled mask, or None at eval)
    """
    op = "dropout"
    x = float_array(op, "x", x)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{op}: p (the drop probability) must be in [0, 1); got {p!r}")
    if not training or p == 0.0:
        return x.copy(), None
    if mask is None:
        if rng is None:
            raise ValueError(f"{op}: training mode needs rng= (a numpy Generator) or mask=")
        mask = rng.random(x.shape, dtype=np.float32) >= p
    elif mask.shape != x.shape:
        raise ValueError(f"{op}: mask must have x's shape {x.shape}; got {mask.shape}")
    scaled = mask * np.asarray(1.0 / (1.0 - p), dtype=x.dtype)
    return x * scaled, scaled


def dropout_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx = dout * m / (1 - p)  (dout itself at eval)."""
    if cache is None:
        return np.array(dout, copy=True)
    dout = dout_array("dropout_backward", dout, cache.shape, cache.dtype)
    return dout * cache
