"""Plain, obviously-correct reference implementations (loops over samples and channels).

These follow the formulas of docs/ literally, so that numcnn's fast paths are checked against
the math, not against themselves.  Convolution and pooling moved to ``numcnn.reference``.
"""

import numpy as np


def cross_entropy(logits, targets, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Per-sample loop over (n[, h, w]) with the textbook log-sum-exp."""
    C = logits.shape[1]
    z = np.moveaxis(logits, 1, -1).reshape(-1, C)
    t = targets.reshape(-1)
    wgt = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    per = np.zeros(len(t))
    denom = 0.0
    for i in range(len(t)):
        if t[i] == ignore_index:
            continue
        m = z[i].max()
        logp = z[i] - m - np.log(np.sum(np.exp(z[i] - m)))
        per[i] = (-(1 - label_smoothing) * wgt[t[i]] * logp[t[i]]
                  - label_smoothing / C * np.sum(wgt * logp))
        denom += wgt[t[i]]
    if reduction == "none":
        return per.reshape(targets.shape)
    if reduction == "sum":
        return per.sum()
    return per.sum() / denom if denom > 0 else 0.0


def _channels_last(x):
    """(N, C[, H, W]) -> (M, C): one column per channel."""
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def batch_norm(x, gamma, beta, mean=None, var=None, eps=1e-5):
    """Textbook batch norm, channel by channel; batch statistics unless mean/var are given.
    Returns (out, batch mean, biased batch var)."""
    cols = _channels_last(x).astype(np.float64)
    out = np.empty_like(cols)
    mus, vs = np.empty(cols.shape[1]), np.empty(cols.shape[1])
    for c in range(cols.shape[1]):
        mu = cols[:, c].mean() if mean is None else mean[c]
        v = ((cols[:, c] - mu) ** 2).mean() if var is None else var[c]
        out[:, c] = gamma[c] * (cols[:, c] - mu) / np.sqrt(v + eps) + beta[c]
        mus[c], vs[c] = mu, v
    out = np.moveaxis(out.reshape(*np.moveaxis(x, 1, -1).shape), -1, 1)
    return out, mus, vs


def batch_norm_backward(dy, x, gamma, training=True, mean=None, var=None, eps=1e-5):
    """The chain rule step by step (through var, then mu), as in the CS231n derivation.
    Returns (dx, dgamma, dbeta)."""
    X, D = _channels_last(x).astype(np.float64), _channels_last(dy).astype(np.float64)
    M = X.shape[0]
    dX = np.empty_like(X)
    dgamma, dbeta = np.empty(X.shape[1]), np.empty(X.shape[1])
    for c in range(X.shape[1]):
        x_, d = X[:, c], D[:, c]
        mu = x_.mean() if training else mean[c]
        v = ((x_ - mu) ** 2).mean() if training else var[c]
        inv = 1 / np.sqrt(v + eps)
        xhat = (x_ - mu) * inv
        dgamma[c], dbeta[c] = np.sum(d * xhat), np.sum(d)
        dxhat = d * gamma[c]
        if not training:
            dX[:, c] = dxhat * inv
            continue
        dvar = np.sum(dxhat * (x_ - mu)) * -0.5 * inv ** 3
        dmu = -np.sum(dxhat) * inv + dvar * np.mean(-2 * (x_ - mu))
        dX[:, c] = dxhat * inv + dvar * 2 * (x_ - mu) / M + dmu / M
    dx = np.moveaxis(dX.reshape(*np.moveaxis(x, 1, -1).shape), -1, 1)
    return dx, dgamma, dbeta
