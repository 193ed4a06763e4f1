"""Adam (L2 weight decay in the gradient) and AdamW (decoupled weight decay)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..nn.parameter import Parameter
from .optimizer import Optimizer, ParamsT, check_nonneg


class Adam(Optimizer):
    r"""Adam, exactly as ``torch.optim.Adam`` (``amsgrad=False``).

    For each parameter :math:`\theta` with gradient :math:`g`, at step :math:`t = 1, 2, \dots`
    (counted per parameter)::

        g <- g + weight_decay * theta               (L2 penalty, if weight_decay != 0)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t),   v_hat = v / (1 - beta2**t)
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)

    The update is in place on ``p.data`` in its own dtype; ``p.grad`` is not modified.

    Parameters
    ----------
    params : iterable of Parameter or of param-group dicts
    lr : float
        Learning rate, >= 0.
    betas : (float, float)
        Decay rates of the first and second moment averages, each in [0, 1).
    eps : float
        Added to :math:`\sqrt{\hat v}` (not under the root), >= 0.
    weight_decay : float
        L2 penalty added to the gradient, >= 0.  For decoupled decay use :class:`AdamW`.

    State
    -----
    ``step`` (int), ``exp_avg`` (m) and ``exp_avg_sq`` (v) per parameter.
    """

    _buffer_names = ("exp_avg", "exp_avg_sq")
    _count_names = ("step",)

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        check_nonneg(group, "lr", "eps", "weight_decay")
        betas = tuple(group["betas"])
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2); got {group['betas']!r}")
        for i, beta in enumerate(betas):
            if not 0.0 <= float(beta) < 1.0:
                raise ValueError(f"betas[{i}] must be in [0, 1); got {beta!r}")
        group["betas"] = (float(betas[0]), float(betas[1]))

    def _decay(self, p: Parameter, g: np.ndarray, scratch: np.ndarray, lr: float,
               wd: float) -> np.ndarray:
        """Weight decay; returns the gradient to use.  Adam: L2, ``g + wd * theta``."""
        if wd == 0.0:
            return g
        np.multiply(p.data, wd, out=scratch)
        np.add(g, scratch, out=scratch)
        return scratch

    def _step_group(self, group: dict[str, Any]) -> None:
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        for p in self._active(group):
            state = self._param_state(p)
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(p.data)
                state["exp_avg_sq"] = np.zeros_like(p.data)
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            s1, s2 = self._scratch_pair(p)
            g = self._decay(p, p.grad, s1, lr, wd)
            # m = beta1 m + (1 - beta1) g
            m *= beta1
            np.multiply(g, 1.0 - beta1, out=s2)
            m += s2
            # v = beta2 v + (1 - beta2) g^2
            v *= beta2
            np.multiply(g, g, out=s2)
            s2 *= 1.0 - beta2
            v += s2
            # the bias corrections are scalars, computed in Python float64 as in PyTorch
            bias1 = 1.0 - beta1**t
            bias2 = 1.0 - beta2**t
            # denominator sqrt(v_hat) + eps = sqrt(v) / sqrt(bias2) + eps
            np.sqrt(v, out=s2)
            s2 /= math.sqrt(bias2)
            s2 += eps
            # theta -= (lr / bias1) * m / denom
            np.divide(m, s2, out=s2)
            s2 *= lr / bias1
            np.subtract(p.data, s2, out=p.data)


class AdamW(Adam):
    r"""Adam with decoupled weight decay, exactly as ``torch.optim.AdamW``.

    Before the Adam update (whose gradient has no L2 term), each parameter shrinks::

        theta <- theta * (1 - lr * weight_decay)

    so the decay does not pass through the adaptive scaling (Loshchilov & Hutter, 2019).
    Parameters and state as :class:`Adam`; ``weight_decay`` defaults to ``1e-2``.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _decay(self, p: Parameter, g: np.ndarray, scratch: np.ndarray, lr: float,
               wd: float) -> np.ndarray:
        """AdamW: decoupled, ``theta *= 1 - lr * wd``; the gradient is used as is."""
        if wd != 0.0:
            p.data *= 1.0 - lr * wd
        return g
