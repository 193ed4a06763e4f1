"""Batch normalisation and dropout (docs/normalization.md), channel by channel.

Same signatures, return values and caches as ``numcnn.functional``.  Batch norm, per channel
c over its M = N H W values x_k: mu = (1/M) sum_k x_k, var = (1/M) sum_k (x_k - mu)^2,
xhat = (x - mu) / sqrt(var + eps), y = gamma xhat + beta.
"""

from __future__ import annotations

import numpy as np

from ..functional.normalization import BatchNormCache, DropoutCache


def batch_norm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                       running_mean: np.ndarray | None = None,
                       running_var: np.ndarray | None = None, training: bool = True,
                       momentum: float = 0.1, eps: float = 1e-5):
    """x (N, C) or (N, C, H, W); gamma, beta, running_* (C,).  Training normalises with the
    batch statistics and updates the running ones in place (running = (1 - momentum) running
    + momentum stat, with the unbiased var M/(M-1) for running_var); eval normalises with the
    running statistics.  Returns (y, BatchNormCache)."""
    N, C = x.shape[:2]
    x3 = x.reshape(N, C, int(np.prod(x.shape[2:])))              # (N, C, L)
    y3 = np.empty_like(x3)
    mus, inv_stds = np.empty(C, dtype=x.dtype), np.empty(C, dtype=x.dtype)
    for c in range(C):
        xc = x3[:, c].astype(np.float64)                          # the M values of channel c
        M = xc.size
        if training:
            mu = xc.mean()
            var = ((xc - mu) ** 2).mean()                         # biased
            if running_mean is not None:
                running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mu
                running_var[c] = (1 - momentum) * running_var[c] + momentum * var * M / (M - 1)
        else:
            mu, var = float(running_mean[c]), float(running_var[c])
        mus[c], inv_stds[c] = mu, 1 / np.sqrt(var + eps)
        xhat = (x3[:, c] - mus[c]) * inv_stds[c]
        y3[:, c] = gamma[c] * xhat + beta[c]
    return y3.reshape(x.shape), BatchNormCache(x3, x.shape, mus, inv_stds, gamma, training)


def batch_norm_backward(dout: np.ndarray, cache: BatchNormCache):
    """The chain rule step by step, through var and then mu (CS231n's derivation), per
    channel; in eval mu and var are constants and only the first term remains.
    Returns (dx, dgamma, dbeta)."""
    x3, x_shape, mus, inv_stds, gamma, training = cache
    N, C, L = x3.shape
    d3 = dout.reshape(N, C, L)
    dx3 = np.empty_like(x3)
    dgamma, dbeta = np.empty(C, dtype=x3.dtype), np.empty(C, dtype=x3.dtype)
    for c in range(C):
        xc, d = x3[:, c].astype(np.float64), d3[:, c].astype(np.float64)
        mu, inv = float(mus[c]), float(inv_stds[c])
        M = xc.size
        xhat = (xc - mu) * inv
        dgamma[c], dbeta[c] = np.sum(d * xhat), np.sum(d)
        dxhat = d * float(gamma[c])
        if not training:
            dx3[:, c] = dxhat * inv
            continue
        dvar = np.sum(dxhat * (xc - mu)) * -0.5 * inv ** 3        # d/dvar of (var + eps)^-1/2
        dmu = -np.sum(dxhat) * inv + dvar * np.mean(-2 * (xc - mu))
        dx3[:, c] = dxhat * inv + dvar * 2 * (xc - mu) / M + dmu / M
    return dx3.reshape(x_shape), dgamma, dbeta


def dropout_forward(x: np.ndarray, p: float = 0.5, training: bool = True,
                    rng: np.random.Generator | None = None, mask: np.ndarray | None = None):
    """y = x m / (1 - p), each m_k kept (True) with probability 1 - p: the same draw as
    numcnn.functional (rng.random(x.shape, float32) >= p) unless ``mask`` is given; y = x
    at eval.  Returns (y, DropoutCache)."""
    if not training or p == 0:
        return x.copy(), DropoutCache(None, x.shape, x.dtype)
    if mask is None:
        mask = rng.random(x.shape, dtype=np.float32) >= p
    scaled = np.where(mask, x.dtype.type(1 / (1 - p)), x.dtype.type(0))
    return x * scaled, DropoutCache(scaled, x.shape, x.dtype)


def dropout_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """The mask is a constant of the forward pass: dx = dout m / (1 - p) (dout at eval)."""
    return dout.copy() if cache.scaled_mask is None else dout * cache.scaled_mask
