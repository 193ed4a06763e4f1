"""Softmax, log-softmax and softmax cross-entropy (docs/losses.md).

Symbols: logits z[n, c, d1, ..., dk] (k >= 0 spatial axes; i stands for one position
(n, d1, ..., dk)), class targets t[i] or target probabilities t[i, c], class weights w_c,
smoothing eps, log-probabilities l = log_softmax(z) along the class axis 1, p = exp(l).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .._validate import integer, real
from ._validate import cache_of, dout_array, float_array, same_dtype

_REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------------------- softmax, log-softmax
def _dim(op: str, x: np.ndarray, dim) -> int:
    """``dim`` as a non-negative axis of x (negative counts from the end, as in PyTorch)."""
    if x.ndim == 0:
        raise ValueError(f"{op}: x must have at least one axis; got a 0-d array")
    return integer(op, "dim", dim, minimum=-x.ndim, maximum=x.ndim - 1) % x.ndim


def _log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    """l = z - m - log(sum(exp(z - m))), m = max(z): never overflows, even for |z| ~ 1e4.
    (``initial`` only matters for an empty axis, whose maximum would otherwise be an error.)"""
    shifted = z - z.max(axis=axis, keepdims=True, initial=-np.inf)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    """p = exp(z - m) / sum(exp(z - m)), m = max(z)."""
    e = np.exp(z - z.max(axis=axis, keepdims=True, initial=-np.inf))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, dim: int = 1) -> np.ndarray:
    """Log-probabilities along ``dim`` (the class axis 1 by default); see
    :func:`log_softmax_forward` for the pair with a backward."""
    x = float_array("log_softmax", "x", x)
    return _log_softmax(x, _dim("log_softmax", x, dim))


def softmax(x: np.ndarray, dim: int = 1) -> np.ndarray:
    """Probabilities along ``dim`` (the class axis 1 by default); see :func:`softmax_forward`
    for the pair with a backward."""
    x = float_array("softmax", "x", x)
    return _softmax(x, _dim("softmax", x, dim))


class SoftmaxCache(NamedTuple):
    probs: np.ndarray          # y = softmax(x, dim)
    dim: int


class LogSoftmaxCache(NamedTuple):
    log_probs: np.ndarray      # y = log_softmax(x, dim)
    dim: int


def softmax_forward(x: np.ndarray, dim: int = 1):
    """y_j = exp(x_j) / sum_k exp(x_k) along ``dim`` (any axis; negative counts from the end).

    Returns
    -------
    out : x's shape;  cache : SoftmaxCache
    """
    x = float_array("softmax", "x", x)
    axis = _dim("softmax", x, dim)
    y = _softmax(x, axis)
    return y, SoftmaxCache(y, axis)


def softmax_backward(dout: np.ndarray, cache: SoftmaxCache) -> np.ndarray:
    """dx = y * (dout - sum_k dout_k y_k), the sum along ``dim``  (the softmax Jacobian is
    dy_j/dx_k = y_j ([j = k] - y_k))."""
    cache_of("softmax_backward", cache, SoftmaxCache, "softmax_forward")
    y, axis = cache
    dout = dout_array("softmax_backward", dout, y.shape, y.dtype)
    return y * (dout - (dout * y).sum(axis=axis, keepdims=True))


def log_softmax_forward(x: np.ndarray, dim: int = 1):
    """y_j = x_j - log sum_k exp(x_k) along ``dim``, computed without overflow.

    Returns
    -------
    out : x's shape;  cache : LogSoftmaxCache
    """
    x = float_array("log_softmax", "x", x)
    axis = _dim("log_softmax", x, dim)
    y = _log_softmax(x, axis)
    return y, LogSoftmaxCache(y, axis)


def log_softmax_backward(dout: np.ndarray, cache: LogSoftmaxCache) -> np.ndarray:
    """dx = dout - exp(y) * sum_k dout_k, the sum along ``dim``  (dy_j/dx_k = [j = k] - p_k)."""
    cache_of("log_softmax_backward", cache, LogSoftmaxCache, "log_softmax_forward")
    y, axis = cache
    dout = dout_array("log_softmax_backward", dout, y.shape, y.dtype)
    return dout - np.exp(y) * dout.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------------------- cross-entropy
def check_logits(op: str, logits) -> np.ndarray:
    """Logits (N, C, d1, ..., dk), k >= 0 (an image (N, C), a pixel map (N, C, H, W), ...)."""
    logits = float_array(op, "logits", logits)
    if logits.ndim < 2:
        raise ValueError(f"{op}: logits must be (N, C) or (N, C, d1, ..., dk), with the classes "
                         f"on axis 1; got shape {logits.shape}")
    if logits.shape[1] == 0:
        raise ValueError(f"{op}: logits must have at least one class on axis 1; got shape "
                         f"{logits.shape}")
    return logits


def check_targets(op: str, targets, logits_shape: tuple, ignore_index: int,
                  hint: str = "") -> np.ndarray:
    """Integer class targets of shape (N, d1, ..., dk) with values in [0, C) or ignore_index."""
    expected = (logits_shape[0], *logits_shape[2:])
    if not isinstance(targets, np.ndarray) or not np.issubdtype(targets.dtype, np.integer):
        got = targets.dtype if isinstance(targets, np.ndarray) else type(targets).__name__
        raise TypeError(f"{op}: targets must be an integer array of class indices with shape "
                        f"{expected}{hint}; got {got}")
    if targets.shape != expected:
        raise ValueError(f"{op}: targets must have shape {expected} to match logits "
                         f"{tuple(logits_shape)} (the logits' shape without the class axis 1); "
                         f"got {targets.shape}")
    C = logits_shape[1]
    bad = (targets != ignore_index) & ((targets < 0) | (targets >= C))
    if bad.any():
        raise ValueError(f"{op}: targets must lie in [0, {C}) or equal ignore_index="
                         f"{ignore_index}; got values {np.unique(targets[bad])[:5].tolist()}")
    return targets


def check_class_weight(op: str, weight, C: int) -> np.ndarray:
    """Class weights: a finite, non-negative float array of shape (C,)."""
    weight = float_array(op, "weight", weight, 1, "(C,)")
    if weight.shape != (C,):
        raise ValueError(f"{op}: weight must have one entry per class, shape ({C},); "
                         f"got {weight.shape}")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ValueError(f"{op}: weight must be finite and >= 0 (a NaN weight would turn the "
                         f"loss into NaN or 0.0); got {weight.tolist()}")
    return weight


def scalar_dloss(op: str, dloss) -> float:
    """The upstream gradient of a scalar loss: a real number (NaN is passed on, as data)."""
    if isinstance(dloss, np.ndarray) and dloss.ndim == 0 and np.issubdtype(dloss.dtype,
                                                                          np.floating):
        return float(dloss)
    if not isinstance(dloss, numbers.Real) or isinstance(dloss, bool):
        shape = f" of shape {dloss.shape}" if isinstance(dloss, np.ndarray) else ""
        raise TypeError(f"{op}: dloss must be a real number (the gradient of the scalar loss); "
                        f"got {type(dloss).__name__}{shape}")
    return float(dloss)


class CrossEntropyCache(NamedTuple):
    log_probs: np.ndarray      # l = log_softmax(z) along axis 1, logits' shape
    targets: np.ndarray        # class indices (N, d1, ...) or probabilities (logits' shape)
    weight: np.ndarray | None  # w_c in the logits' dtype, None for all ones
    ignore_index: int
    label_smoothing: float     # eps
    reduction: str
    denominator: float         # 'mean' divides by it: sum_i w_{t_i} (indices) or M (probabilities)

    @property
    def probability_targets(self) -> bool:
        return self.targets.shape == self.log_probs.shape and np.issubdtype(
            self.targets.dtype, np.floating)

    @property
    def loss_shape(self) -> tuple:
        """The shape of the per-position losses (reduction 'none'): (N, d1, ..., dk)."""
        return (self.log_probs.shape[0], *self.log_probs.shape[2:])


def _class_weight_b(weight, ndim: int):
    """w_c shaped to broadcast along axis 1 of an ndim array (1 without weights)."""
    return 1 if weight is None else weight.reshape(1, -1, *([1] * (ndim - 2)))


def _target_distribution(cache: CrossEntropyCache) -> np.ndarray:
    """q[i, c] = w_c ((1 - eps) t[i, c] + eps / C) for probability targets."""
    l, t, eps = cache.log_probs, cache.targets, cache.label_smoothing
    q = t * l.dtype.type(1 - eps) + l.dtype.type(eps / l.shape[1]) if eps > 0 else t
    return q * _class_weight_b(cache.weight, l.ndim)


def softmax_cross_entropy_forward(logits: np.ndarray, targets: np.ndarray,
                                  weight: np.ndarray | None = None, ignore_index: int = -100,
                                  reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross-entropy of softmax(logits) against class indices or class probabilities, with
    PyTorch's semantics.  Both are loss_i = -sum_c q[i, c] l[i, c] for a target distribution q:

    class indices t_i (not ``ignore_index``):  q[i, c] = (1 - eps) w_{t_i} [c = t_i] + (eps/C) w_c
        reduction 'mean' = sum_i loss_i / sum_i w_{t_i} (the weighted mean over non-ignored
        targets; 0 when every target is ignored or has weight 0);
    probabilities t[i, c] (float, the logits' shape):  q[i, c] = w_c ((1 - eps) t[i, c] + eps/C)
        reduction 'mean' = sum_i loss_i / M, M = N d1 ... dk (no ignore_index);
    'sum' = sum_i loss_i, 'none' = loss_i (0 where ignored).

    Parameters
    ----------
    logits : (N, C) or (N, C, d1, ..., dk) float
    targets : (N, d1, ..., dk) int, values in [0, C) or ignore_index;
        or (N, C, d1, ..., dk) float probabilities (soft labels), the logits' dtype
    weight : (C,) finite class weights >= 0, or None (all ones)

    Returns
    -------
    loss : float for 'mean'/'sum', array (N, d1, ..., dk) for 'none';  cache : CrossEntropyCache
    """
    op = "softmax_cross_entropy"
    logits = check_logits(op, logits)
    ignore_index = integer(op, "ignore_index", ignore_index, minimum=None)
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    eps = real(op, "label_smoothing", label_smoothing, 0.0, 1.0)
    C = logits.shape[1]
    if weight is not None:
        weight = check_class_weight(op, weight, C).astype(logits.dtype, copy=False)
    logp = _log_softmax(logits, 1)
    w_b = _class_weight_b(weight, logits.ndim)

    if (isinstance(targets, np.ndarray) and np.issubdtype(targets.dtype, np.floating)
            and targets.ndim == logits.ndim):
        if targets.shape != logits.shape:
            raise ValueError(f"{op}: probability targets must have the logits' shape "
                             f"{logits.shape}; got {targets.shape}")
        same_dtype(op, logits=logits, targets=targets)
        if ignore_index != -100:
            raise ValueError(f"{op}: ignore_index applies to class-index targets only; "
                             f"got probability targets with ignore_index={ignore_index}")
        M = float(np.prod((logits.shape[0], *logits.shape[2:])))
        cache = CrossEntropyCache(logp, targets, weight, ignore_index, eps, reduction, M)
        per = -(_target_distribution(cache) * logp).sum(axis=1)
    else:
        targets = check_targets(op, targets, logits.shape, ignore_index,
                                hint=f", or probabilities of the logits' shape {logits.shape}")
        valid = targets != ignore_index
        t = np.where(valid, targets, 0)[:, None]                       # safe index, (N, 1, ...)
        w_t = weight[t[:, 0]] * valid if weight is not None else valid.astype(logits.dtype)
        per = -(1 - eps) * w_t * np.take_along_axis(logp, t, axis=1)[:, 0]
        if eps > 0:
            per -= (eps / C) * (logp * w_b).sum(axis=1) * valid
        cache = CrossEntropyCache(logp, targets, weight, ignore_index, eps, reduction,
                                  float(w_t.sum(dtype=np.float64)))

    if reduction == "none":
        return per, cache
    total = float(per.sum(dtype=np.float64))
    if reduction == "sum":
        return total, cache
    return (total / cache.denominator if cache.denominator > 0 else 0.0), cache


def softmax_cross_entropy_backward(dloss, cache: CrossEntropyCache) -> np.ndarray:
    """dz[i, c] = coef_i * (p[i, c] * s_i - q[i, c]),  s_i = sum_c q[i, c],  p = softmax(z),
    coef_i = dloss / denominator ('mean'), dloss ('sum') or dloss_i ('none'); 0 if ignored.
    For class indices q is never built: s_i = (1 - eps) w_{t_i} + (eps/C) sum_c w_c and the
    one-hot part is subtracted at t_i.

    Parameters
    ----------
    dloss : float ('mean'/'sum') or array of the per-position losses' shape ('none')

    Returns
    -------
    dlogits : logits' shape and dtype
    """
    op = "softmax_cross_entropy_backward"
    cache_of(op, cache, CrossEntropyCache, "softmax_cross_entropy_forward")
    logp, eps, weight = cache.log_probs, cache.label_smoothing, cache.weight
    C, dtype = logp.shape[1], logp.dtype
    if cache.reduction == "none":
        coef = dout_array(op, dloss, cache.loss_shape, dtype)
    else:
        scale = scalar_dloss(op, dloss)
        if cache.reduction == "mean":  # everything ignored: the loss is the constant 0
            scale = scale / cache.denominator if cache.denominator > 0 else 0.0
        coef = np.full(cache.loss_shape, scale, dtype=dtype)
    p = np.exp(logp)

    if cache.probability_targets:
        q = _target_distribution(cache)
        return coef[:, None] * (p * q.sum(axis=1, keepdims=True) - q)

    valid = cache.targets != cache.ignore_index
    t = np.where(valid, cache.targets, 0)[:, None]
    coef = coef * valid
    w_t = weight[t[:, 0]] if weight is not None else np.ones(t[:, 0].shape, dtype)
    w_sum = float(weight.sum(dtype=np.float64)) if weight is not None else float(C)
    s = (1 - eps) * w_t + (eps / C) * w_sum                          # sum_c q[i, c]
    dz = p
    dz *= (coef * s)[:, None]
    at_t = np.take_along_axis(dz, t, axis=1)
    np.put_along_axis(dz, t, at_t - (coef * (1 - eps) * w_t)[:, None], axis=1)
    if eps > 0:
        dz -= (coef * (eps / C))[:, None] * _class_weight_b(weight, logp.ndim)
    return dz
