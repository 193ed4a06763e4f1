"""Softmax cross-entropy, per image (N, C) or per pixel (N, C, H, W) (docs/losses.md).

Symbols: logits z[n, c(, h, w)], targets t[n(, h, w)], class weights w_c, smoothing eps,
log-probabilities l = log_softmax(z) along the class axis 1.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validate import float_array

_REDUCTIONS = ("mean", "sum", "none")


def log_softmax(z: np.ndarray, axis: int = 1) -> np.ndarray:
    """l = z - max(z) - log(sum(exp(z - max(z)))): never overflows, even for |z| ~ 1e4."""
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(z: np.ndarray, axis: int = 1) -> np.ndarray:
    """p = exp(z - max(z)) / sum(exp(z - max(z))) along ``axis``."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def check_targets(op: str, targets, logits_shape: tuple, ignore_index: int) -> np.ndarray:
    """Integer class targets of shape (N,) or (N, H, W) with values in [0, C) or ignore_index."""
    expected = (logits_shape[0], *logits_shape[2:])
    if not isinstance(targets, np.ndarray) or not np.issubdtype(targets.dtype, np.integer):
        got = targets.dtype if isinstance(targets, np.ndarray) else type(targets).__name__
        raise TypeError(f"{op}: targets must be an integer array of class indices with shape "
                        f"{expected}; got {got} (one-hot or probability targets are not "
                        f"accepted: use targets.argmax(1))")
    if targets.shape != expected:
        raise ValueError(f"{op}: targets must have shape {expected} to match logits "
                         f"{tuple(logits_shape)} (N{', H, W' if len(expected) > 1 else ''}); "
                         f"got {targets.shape}")
    C = logits_shape[1]
    bad = (targets != ignore_index) & ((targets < 0) | (targets >= C))
    if bad.any():
        raise ValueError(f"{op}: targets must lie in [0, {C}) or equal ignore_index="
                         f"{ignore_index}; got values {np.unique(targets[bad])[:5].tolist()}")
    return targets


def softmax_cross_entropy_forward(logits: np.ndarray, targets: np.ndarray,
                                  weight: np.ndarray | None = None, ignore_index: int = -100,
                                  reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross-entropy of softmax(logits) against integer targets, with PyTorch's semantics.

    Per target (n, h, w) that is not ``ignore_index``:
        loss_i = -(1 - eps) * w_{t_i} * l[i, t_i]  -  (eps / C) * sum_c w_c * l[i, c]
    reduction 'mean' = sum_i loss_i / sum_i w_{t_i} (the weighted mean over non-ignored targets;
    0 when every target is ignored), 'sum' = sum_i loss_i, 'none' = loss_i (0 where ignored).

    Parameters
    ----------
    logits : (N, C) or (N, C, H, W) float
    targets : (N,) or (N, H, W) int, values in [0, C) or ignore_index
    weight : (C,) class weights or None (all ones)

    Returns
    -------
    loss : float for 'mean'/'sum', array of the targets' shape for 'none'
    cache
    """
    op = "softmax_cross_entropy"
    logits = float_array(op, "logits", logits, (2, 4), "(N, C) or (N, C, H, W)")
    targets = check_targets(op, targets, logits.shape, ignore_index)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    if not isinstance(label_smoothing, numbers.Real) or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1]; got {label_smoothing!r}")
    C = logits.shape[1]
    if weight is not None:
        weight = float_array(op, "weight", weight, 1, "(C,)")
        if weight.shape != (C,):
            raise ValueError(f"{op}: weight must have one entry per class, shape ({C},); "
                             f"got {weight.shape}")
        weight = weight.astype(logits.dtype, copy=False)
    eps = float(label_smoothing)

    valid = targets != ignore_index
    t = np.where(valid, targets, 0)[:, None]                       # safe index, (N, 1, ...)
    logp = log_softmax(logits)
    w_t = (weight[t[:, 0]] if weight is not None else np.ones(t[:, 0].shape, logits.dtype))
    w_t = w_t * valid                                              # 0 where ignored
    per = -(1 - eps) * w_t * np.take_along_axis(logp, t, axis=1)[:, 0]
    if eps > 0:
        w_b = weight.reshape(1, C, *([1] * (logits.ndim - 2))) if weight is not None else 1
        per -= (eps / C) * (logp * w_b).sum(axis=1) * valid

    denom = float(w_t.sum(dtype=np.float64))
    if reduction == "none":
        loss = per
    elif reduction == "sum":
        loss = float(per.sum(dtype=np.float64))
    else:
        loss = float(per.sum(dtype=np.float64)) / denom if denom > 0 else 0.0
    cache = (logp, t, valid, w_t, weight, eps, reduction, denom)
    return loss, cache


def softmax_cross_entropy_backward(dloss, cache) -> np.ndarray:
    """dz[i, c] = coef_i * (p[i, c] * s_i - q[i, c]),  p = softmax(z), where
    q[i, c] = (1 - eps) w_{t_i} [c = t_i] + (eps / C) w_c,  s_i = sum_c q[i, c],
    coef_i = dloss / sum_i w_{t_i} ('mean'), dloss ('sum') or dloss_i ('none'); 0 if ignored.

    Parameters
    ----------
    dloss : float ('mean'/'sum') or array of the targets' shape ('none')

    Returns
    -------
    dlogits : logits' shape and dtype
    """
    logp, t, valid, w_t, weight, eps, reduction, denom = cache
    C = logp.shape[1]
    if reduction == "none":
        dloss = np.asarray(dloss)
        if dloss.shape != w_t.shape:
            raise ValueError(f"softmax_cross_entropy_backward: with reduction='none' dloss must "
                             f"have the targets' shape {w_t.shape}; got {dloss.shape}")
        coef = dloss.astype(logp.dtype, copy=False) * valid
    else:
        if np.ndim(dloss) != 0:
            raise ValueError(f"softmax_cross_entropy_backward: dloss must be a scalar for "
                             f"reduction={reduction!r}; got shape {np.shape(dloss)}")
        scale = float(dloss)
        if reduction == "mean":  # all targets ignored: the loss is the constant 0
            scale = scale / denom if denom > 0 else 0.0
        coef = valid * np.asarray(scale, dtype=logp.dtype)
    w_sum = float(weight.sum(dtype=np.float64)) if weight is not None else float(C)
    s = (1 - eps) * w_t + (eps / C) * w_sum * valid                 # sum_c q[i, c]
    dz = np.exp(logp)
    dz *= (coef * s)[:, None]
    at_t = np.take_along_axis(dz, t, axis=1)
    np.put_along_axis(dz, t, at_t - (coef * (1 - eps) * w_t)[:, None], axis=1)
    if eps > 0:
        w_b = weight.reshape(1, C, *([1] * (logp.ndim - 2))) if weight is not None else 1
        dz -= (coef * (eps / C))[:, None] * w_b
    return dz
