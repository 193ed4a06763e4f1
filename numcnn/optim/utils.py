"""Gradient clipping by global L2 norm."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .._validate import real
from ..nn.parameter import Parameter

# float32 gradients are widened to float64 this many elements at a time, so that the sum of
# squares accumulates in float64 without a float64 copy of the whole gradient
_CHUNK = 1 << 13  # small: a 16K-element ddot went multi-threaded here and ran 5x slower


def _sum_squares(g: np.ndarray, buf: np.ndarray) -> float:
    flat = g.reshape(-1)
    total = 0.0
    for start in range(0, flat.size, _CHUNK):
        piece = flat[start:start + _CHUNK]
        if piece.dtype != np.float64:
            wide = buf[: piece.size]
            np.copyto(wide, piece)
            piece = wide
        total += float(np.dot(piece, piece))
    return total


def clip_grad_norm(params: Iterable[Parameter] | Parameter, max_norm: float,
                   eps: float = 1e-6, error_if_nonfinite: bool = False) -> float:
    r"""Scale gradients in place so that their global L2 norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: with :math:`N = \sqrt{\sum_p \|g_p\|^2}` over
    all parameters with ``requires_grad=True``, every gradient is multiplied by
    :math:`\min(1, \text{max\_norm} / (N + \text{eps}))` (a ``.grad`` of None is left
    out, as the optimizers skip it).  Call it between ``backward`` and ``optimizer.step()``.

    Parameters
    ----------
    params : iterable of Parameter, or one Parameter
    max_norm : float
        Largest allowed global norm, >= 0.
    eps : float
        Guards the division when :math:`N` is 0.
    error_if_nonfinite : bool
        Raise ``ValueError`` if :math:`N` is NaN or inf.  Otherwise a NaN norm leaves the
        gradients untouched and an inf norm zeroes the finite ones (inf entries become NaN).

    Returns
    -------
    float
        :math:`N`, the norm *before* clipping (summed in float64 whatever the grads' dtype).
    """
    if isinstance(params, Parameter):
        params = [params]
    if not (hasattr(params, "__iter__") and not isinstance(params, (str, bytes))):
        raise TypeError(f"clip_grad_norm: params must be a Parameter or an iterable of them "
                        f"(model.parameters()); got {params!r}")
    params = list(params)
    if not all(isinstance(p, Parameter) for p in params):
        bad = next(p for p in params if not isinstance(p, Parameter))
        raise TypeError(f"clip_grad_norm: params must be Parameters; got {bad!r}")
    max_norm = real("clip_grad_norm", "max_norm", max_norm, 0.0)
    grads = [p.grad for p in params if p.requires_grad and p.grad is not None]
    buf = np.empty(_CHUNK, dtype=np.float64)
    total_sq = sum(_sum_squares(g, buf) for g in grads)
    norm = math.sqrt(total_sq)
    if error_if_nonfinite and not math.isfinite(norm):
        raise ValueError(f"the total gradient norm is {norm}; cannot clip "
                         "(pass error_if_nonfinite=False to clip anyway)")
    coef = max_norm / (norm + eps)
    if coef < 1.0:
        for g in grads:
            # coef is a Python float, so the product stays in the gradient's dtype
            np.multiply(g, coef, out=g)
    return norm
