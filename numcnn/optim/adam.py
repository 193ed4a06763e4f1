"""Adam (L2 weight decay in the gradient) and AdamW (decoupled weight decay)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.parameter import Parameter
from .optimizer import Optimizer, ParamsT


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
    _nonnegative_buffers = ("exp_avg_sq",)

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        for name in ("lr", "eps", "weight_decay"):
            self._number(group, name)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{type(self).__name__}: betas must be a pair (beta1, beta2) of "
                            f"numbers in [0, 1); got {betas!r}")
        pair = {"betas[0]": betas[0], "betas[1]": betas[1]}
        for name in pair:
            self._number(pair, name, maximum=1.0, max_open=True)
        group["betas"] = (pair["betas[0]"], pair["betas[1]"])

    def _gradient(self, p: Parameter, lr: float, weight_decay: float) -> np.ndarray:
        """The gradient the moments see.  Adam: L2 decay, ``g + weight_decay * theta``."""
        return p.grad + weight_decay * p.data if weight_decay != 0 else p.grad

    def _step_group(self, group: dict[str, Any]) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        for p in self._active(group):
            state = self._param_state(p)
            if not state:
                state.update(step=0, exp_avg=np.zeros_like(p.data),
                             exp_avg_sq=np.zeros_like(p.data))
            state["step"] += 1
            t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
            theta, g = p.data, self._gradient(p, lr, weight_decay)
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            m_hat = m / (1 - beta1**t)  # the bias corrections are Python floats, as in PyTorch
            v_hat = v / (1 - beta2**t)
            theta -= lr * m_hat / (np.sqrt(v_hat) + eps)


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

    def _gradient(self, p: Parameter, lr: float, weight_decay: float) -> np.ndarray:
        """AdamW: the decay shrinks theta itself, ``theta *= 1 - lr * weight_decay``; the
        gradient is used as it is."""
        if weight_decay != 0:
            p.data *= 1 - lr * weight_decay
        return p.grad
