"""Softmax, log-softmax and softmax cross-entropy (docs/losses.md), one row at a time.

Same signatures, return values and caches as ``numcnn.functional``.  Symbols: logits
z[n, c, d1, ..., dk]; i is one position (n, d1, ..., dk) and z[i] its row of C scores; class
weights w_c; smoothing eps; l = log_softmax(z), p = softmax(z) along the class axis.
"""

from __future__ import annotations

import numpy as np

from ..functional.loss import CrossEntropyCache, LogSoftmaxCache, SoftmaxCache


def _rows(x: np.ndarray, axis: int) -> np.ndarray:
    """x with ``axis`` moved last and the rest flattened: one row per position."""
    return np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis])


def _unrows(rows: np.ndarray, like: np.ndarray, axis: int) -> np.ndarray:
    """The inverse of :func:`_rows`."""
    return np.moveaxis(rows.reshape(np.moveaxis(like, axis, -1).shape), -1, axis)


def _log_softmax_row(z: np.ndarray) -> np.ndarray:
    """l_c = z_c - m - log sum_k e^{z_k - m}, m = max_k z_k (no overflow)."""
    m = z.max()
    return z - m - np.log(np.sum(np.exp(z - m)))


def log_softmax(x: np.ndarray, dim: int = 1) -> np.ndarray:
    """Log-probabilities along ``dim``."""
    return log_softmax_forward(x, dim)[0]


def softmax(x: np.ndarray, dim: int = 1) -> np.ndarray:
    """Probabilities along ``dim``."""
    return softmax_forward(x, dim)[0]


def softmax_forward(x: np.ndarray, dim: int = 1):
    """y_j = e^{x_j} / sum_k e^{x_k} along ``dim``, row by row.  Returns (y, SoftmaxCache)."""
    axis = dim % x.ndim
    rows = _rows(x, axis)
    y = np.empty_like(rows)
    for r in range(rows.shape[0]):
        y[r] = np.exp(_log_softmax_row(rows[r]))
    y = _unrows(y, x, axis)
    return y, SoftmaxCache(y, axis)


def softmax_backward(dout: np.ndarray, cache: SoftmaxCache) -> np.ndarray:
    """dy_j/dx_k = y_j ([j = k] - y_k), so dx_k = sum_j dout_j y_j ([j = k] - y_k)
    = y_k (dout_k - sum_j dout_j y_j): the Jacobian, row by row."""
    y, axis = cache
    Y, D = _rows(y, axis), _rows(dout, axis)
    dx = np.empty_like(Y)
    for r in range(Y.shape[0]):
        jacobian = np.diag(Y[r]) - np.outer(Y[r], Y[r])          # J[j, k] = dy_j / dx_k
        dx[r] = jacobian.T @ D[r]
    return _unrows(dx, y, axis)


def log_softmax_forward(x: np.ndarray, dim: int = 1):
    """y_j = x_j - log sum_k e^{x_k} along ``dim``.  Returns (y, LogSoftmaxCache)."""
    axis = dim % x.ndim
    rows = _rows(x, axis)
    y = np.empty_like(rows)
    for r in range(rows.shape[0]):
        y[r] = _log_softmax_row(rows[r])
    y = _unrows(y, x, axis)
    return y, LogSoftmaxCache(y, axis)


def log_softmax_backward(dout: np.ndarray, cache: LogSoftmaxCache) -> np.ndarray:
    """dy_j/dx_k = [j = k] - p_k, so dx_k = dout_k - p_k sum_j dout_j, p = e^y."""
    y, axis = cache
    Y, D = _rows(y, axis), _rows(dout, axis)
    dx = np.empty_like(Y)
    for r in range(Y.shape[0]):
        dx[r] = D[r] - np.exp(Y[r]) * D[r].sum()
    return _unrows(dx, y, axis)


def _target_row(cache: CrossEntropyCache, t_rows: np.ndarray, i: int, C: int):
    """q[i, :], the weighted target distribution of position i, and whether i counts."""
    w = np.ones(C) if cache.weight is None else cache.weight.astype(np.float64)
    eps = cache.label_smoothing
    if cache.probability_targets:
        return w * ((1 - eps) * t_rows[i] + eps / C), True
    t = t_rows[i]
    if t == cache.ignore_index:
        return np.zeros(C), False
    q = eps / C * w
    q[t] += (1 - eps) * w[t]
    return q, True


def softmax_cross_entropy_forward(logits: np.ndarray, targets: np.ndarray,
                                  weight: np.ndarray | None = None, ignore_index: int = -100,
                                  reduction: str = "mean", label_smoothing: float = 0.0):
    """loss_i = -sum_c q[i, c] l[i, c], one position i at a time, with
    q[i, c] = (1 - eps) w_{t_i} [c = t_i] + (eps/C) w_c for class indices t_i (none for
    ignore_index) and q[i, c] = w_c ((1 - eps) t[i, c] + eps/C) for probabilities.
    'mean' divides the sum by sum_i w_{t_i} (indices; 0 if that is 0) or by the number of
    positions M (probabilities).  Returns (loss, CrossEntropyCache)."""
    C = logits.shape[1]
    z = _rows(logits, 1)                                          # (M, C)
    probability = targets.shape == logits.shape
    t_rows = _rows(targets, 1) if probability else targets.reshape(-1)
    if weight is not None:
        weight = weight.astype(logits.dtype)
    l_rows = np.empty_like(z)
    for i in range(z.shape[0]):
        l_rows[i] = _log_softmax_row(z[i])
    log_probs = _unrows(l_rows, logits, 1)
    cache = CrossEntropyCache(log_probs, targets, weight, ignore_index, float(label_smoothing),
                              reduction, 0.0)
    per = np.zeros(z.shape[0])
    denominator = 0.0
    for i in range(z.shape[0]):
        q, counted = _target_row(cache, t_rows, i, C)
        per[i] = -np.sum(q * l_rows[i])
        if probability:
            denominator += 1
        elif counted:
            denominator += 1.0 if weight is None else float(weight[t_rows[i]])
    cache = cache._replace(denominator=denominator)
    if reduction == "none":
        return per.reshape(cache.loss_shape).astype(logits.dtype), cache
    if reduction == "sum":
        return float(per.sum()), cache
    return (float(per.sum()) / denominator if denominator > 0 else 0.0), cache


def softmax_cross_entropy_backward(dloss, cache: CrossEntropyCache) -> np.ndarray:
    """d loss_i / dz[i, k] = -sum_c q[i, c] ([c = k] - p[i, k]) = p[i, k] s_i - q[i, k],
    s_i = sum_c q[i, c]; then times dloss / denominator ('mean'), dloss ('sum') or dloss_i
    ('none').  Returns dlogits."""
    l_rows = _rows(cache.log_probs, 1)
    M, C = l_rows.shape
    probability = cache.probability_targets
    t_rows = _rows(cache.targets, 1) if probability else cache.targets.reshape(-1)
    if cache.reduction == "none":
        coef = np.asarray(dloss, dtype=np.float64).reshape(-1)
    elif cache.reduction == "sum":
        coef = np.full(M, float(dloss))
    else:
        d = cache.denominator
        coef = np.full(M, float(dloss) / d if d > 0 else 0.0)
    dz = np.zeros((M, C))
    for i in range(M):
        q, _ = _target_row(cache, t_rows, i, C)
        p = np.exp(l_rows[i].astype(np.float64))
        dz[i] = coef[i] * (p * q.sum() - q)
    return _unrows(dz.astype(cache.log_probs.dtype), cache.log_probs, 1)
