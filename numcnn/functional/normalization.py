"""Batch normalisation and dropout (docs/normalization.md).

Batch norm symbols: per channel c, over the M = N*H*W values x_k of that channel,
mu = (1/M) sum_k x_k,  var = (1/M) sum_k (x_k - mu)^2  (biased),  xhat = (x - mu) / sqrt(var + eps),
y = gamma * xhat + beta.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import kernels
from .._validate import real
from ._validate import cache_of, dout_array, flag, float_array, kernel_dtype, same_dtype


class BatchNormCache(NamedTuple):
    x3: np.ndarray             # x viewed as (N, C, L), L = H*W (or 1)
    x_shape: tuple
    mu: np.ndarray             # (C,) the mean subtracted (batch or running), x's dtype
    inv_std: np.ndarray        # (C,) 1 / sqrt(var + eps), x's dtype
    gamma: np.ndarray          # (C,)
    training: bool             # batch statistics (True) or running statistics (False)


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
    (float64 sums), one for the output; ``numcnn.reference.batch_norm_forward`` is the same
    formula channel by channel.

    Parameters
    ----------
    x : (N, C) or (N, C, H, W), float32 or float64;  gamma, beta : (C,), x's dtype;
    running_mean, running_var : (C,) of x's dtype (both or neither; needed in eval)
    momentum : in [0, 1];  eps : > 0

    Returns
    -------
    out : x's shape;  cache : BatchNormCache
    """
    op = "batch_norm"
    x = float_array(op, "x", x, (2, 4), "(N, C) or (N, C, H, W)")
    kernel_dtype(op, "x", x)
    gamma = float_array(op, "gamma", gamma, 1, "(C,)")
    beta = float_array(op, "beta", beta, 1, "(C,)")
    same_dtype(op, x=x, gamma=gamma, beta=beta)
    training = flag(op, "training", training)
    momentum = real(op, "momentum", momentum, 0.0, 1.0)
    eps = real(op, "eps", eps, 0.0, min_open=True)
    C = x.shape[1]
    if gamma.shape != (C,) or beta.shape != (C,):
        raise ValueError(f"{op}: expected {C} channels at axis 1 of x {x.shape} to match gamma "
                         f"{gamma.shape} and beta {beta.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    for name, r in (("running_mean", running_mean), ("running_var", running_var)):
        if r is None:
            continue
        if not isinstance(r, np.ndarray):  # float_array's copy would hide the in-place update
            raise TypeError(f"{op}: {name} must be a numpy array (updated in place); got "
                            f"{type(r).__name__}")
        float_array(op, name, r, 1, "(C,)")
        same_dtype(op, x=x, **{name: r})
        if r.shape != (C,):
            raise ValueError(f"{op}: {name} must have one entry per channel, shape ({C},); "
                             f"got {r.shape}")
    M = x.size // C if C else 0
    x3 = x.reshape(x.shape[0], C, int(np.prod(x.shape[2:])))  # (N, C, L): L = H*W, or 1
    if training:
        if M < 2:
            raise ValueError(f"{op}: training needs more than one value per channel to "
                             f"estimate a variance; got input of shape {x.shape}")
        mu, var = kernels.channel_mean_var(x3)                  # float64, two-pass
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mu
            running_var *= 1 - momentum
            running_var += momentum * var * (M / (M - 1))
    else:
        if running_mean is None:
            raise ValueError(f"{op}: eval mode needs running_mean and running_var")
        mu, var = running_mean.astype(np.float64), running_var.astype(np.float64)
    mu = mu.astype(x.dtype)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    # out = xhat * gamma + beta with xhat = (x - mu) * inv_std, in one pass
    out = kernels.batch_norm_apply(x3, mu, inv_std * gamma, beta)
    return out.reshape(x.shape), BatchNormCache(x3, x.shape, mu, inv_std, gamma, training)


def batch_norm_backward(dout: np.ndarray, cache: BatchNormCache):
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
    cache_of("batch_norm_backward", cache, BatchNormCache, "batch_norm_forward")
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


class DropoutCache(NamedTuple):
    scaled_mask: np.ndarray | None  # m / (1 - p) in x's dtype; None: the identity (eval, p=0)
    shape: tuple
    dtype: np.dtype


def dropout_forward(x: np.ndarray, p: float = 0.5, training: bool = True,
                    rng: np.random.Generator | None = None, mask: np.ndarray | None = None):
    """Inverted dropout: y = x * m / (1 - p), m_k ~ Bernoulli(1 - p) (kept with prob. 1 - p).

    The expectation of y equals x, so nothing changes at eval time (y = x).  Pass ``mask``
    (boolean, x's shape) to fix which units are kept, e.g. for a gradient check.

    Returns
    -------
    out : x's shape;  cache : DropoutCache
    """
    op = "dropout"
    x = float_array(op, "x", x)
    p = real(op, "p (the drop probability)", p, 0.0, 1.0, max_open=True)
    training = flag(op, "training", training)
    if mask is not None:
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            got = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
            raise TypeError(f"{op}: mask must be a boolean array (True = kept) of x's shape "
                            f"{x.shape}; got {got}")
        if mask.shape != x.shape:
            raise ValueError(f"{op}: mask must have x's shape {x.shape}; got {mask.shape}")
    if not training or p == 0.0:
        return x.copy(), DropoutCache(None, x.shape, x.dtype)
    if mask is None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{op}: training mode needs rng= (a numpy Generator) or mask=; "
                            f"got rng={rng!r}")
        mask = rng.random(x.shape, dtype=np.float32) >= p
    scaled = mask * x.dtype.type(1.0 / (1.0 - p))
    return x * scaled, DropoutCache(scaled, x.shape, x.dtype)


def dropout_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """dx = dout * m / (1 - p)  (dout itself at eval)."""
    cache_of("dropout_backward", cache, DropoutCache, "dropout_forward")
    dout = dout_array("dropout_backward", dout, cache.shape, cache.dtype)
    return dout.copy() if cache.scaled_mask is None else dout * cache.scaled_mask
