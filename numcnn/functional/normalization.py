"""Batch normalisation and dropout (docs/normalization.md).

Batch norm symbols: per channel c, over the M = N*H*W values x_k of that channel,
mu = (1/M) sum_k x_k,  var = (1/M) sum_k (x_k - mu)^2  (biased),  xhat = (x - mu) / sqrt(var + eps),
y = gamma * xhat + beta.
"""

from __future__ import annotations

import numpy as np

from ._validate import dout_array, float_array, same_dtype


def _channel_view(a: np.ndarray, ndim: int) -> np.ndarray:
    """A per-channel vector (C,) shaped to broadcast against (N, C) or (N, C, H, W)."""
    return a.reshape(1, -1, *([1] * (ndim - 2)))


def batch_norm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                       running_mean: np.ndarray | None = None,
                       running_var: np.ndarray | None = None, training: bool = True,
                       momentum: float = 0.1, eps: float = 1e-5):
    """Batch norm over the batch (and spatial) axes, PyTorch's semantics.

    training: normalise with the batch's mu and biased var; if running stats are given,
    update them in place: running = (1 - momentum) * running + momentum * batch_stat, with
    the *unbiased* variance var * M / (M - 1) for running_var.
    eval: normalise with running_mean / running_var.

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
    axes = (0, *range(2, x.ndim))
    M = x.size // C
    if training:
        if M < 2:
            raise ValueError(f"{op}: training needs more than one value per channel to "
                             f"estimate a variance; got input of shape {x.shape}")
        mu = x.mean(axis=axes)
        xc = x - _channel_view(mu, x.ndim)
        var = np.square(xc).mean(axis=axes)
        if running_mean is not None and running_var is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mu
            running_var *= 1 - momentum
            running_var += momentum * var * (M / (M - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: eval mode needs running_mean and running_var")
        mu, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
        xc = x - _channel_view(mu, x.ndim)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xc * _channel_view(inv_std, x.ndim)
    out = xhat * _channel_view(gamma, x.ndim) + _channel_view(beta, x.ndim)
    return out, (xhat, inv_std, gamma, training)


def batch_norm_backward(dout: np.ndarray, cache):
    """Gradients of :func:`batch_norm_forward`.

    dbeta = sum_k dy_k,  dgamma = sum_k dy_k * xhat_k, and with g = dy * gamma:
    training:  dx = (inv_std / M) * (M g - sum_k g_k - xhat * sum_k g_k xhat_k)
               (mu and var depend on x, hence the two correction terms);
    eval:      dx = g * inv_std  (the running statistics are constants).

    Returns
    -------
    dx : x's shape;  dgamma : (C,);  dbeta : (C,)
    """
    xhat, inv_std, gamma, training = cache
    dout = dout_array("batch_norm_backward", dout, xhat.shape, xhat.dtype)
    axes = (0, *range(2, xhat.ndim))
    M = xhat.size // xhat.shape[1]
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    scale = _channel_view(gamma * inv_std, xhat.ndim)
    if not training:
        return dout * scale, dgamma, dbeta
    # sum_k g_k = gamma * dbeta and sum_k g_k xhat_k = gamma * dgamma: reuse the two sums
    dx = dout - _channel_view(dbeta / M, xhat.ndim) - xhat * _channel_view(dgamma / M, xhat.ndim)
    dx *= scale
    return dx, dgamma, dbeta


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
