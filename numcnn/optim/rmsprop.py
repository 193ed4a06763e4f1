"""RMSprop: divide the gradient by a running root mean square of its recent values."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsT


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture 6e; CS231n's third update rule), exactly as
    ``torch.optim.RMSprop``.

    For each parameter :math:`\theta` with gradient :math:`g`::

        g <- g + weight_decay * theta                    (if weight_decay != 0)
        v <- alpha * v + (1 - alpha) * g * g             (square_avg)
        centered:  gbar <- alpha * gbar + (1 - alpha) * g  (grad_avg)
                   d = sqrt(v - gbar * gbar) + eps
        otherwise: d = sqrt(v) + eps
        momentum:  b <- momentum * b + g / d,   theta <- theta - lr * b
        otherwise: theta <- theta - lr * g / d

    ``v``, ``gbar`` and ``b`` start at 0.  The update is in place on ``p.data`` in its own
    dtype; ``p.grad`` is not modified.

    Parameters
    ----------
    params : iterable of Parameter or of param-group dicts
    lr : float
        Learning rate, >= 0 (PyTorch's default 1e-2).
    alpha : float
        Decay of the running averages, in [0, 1].
    eps : float
        Added to the root (not under it), >= 0.
    weight_decay : float
        L2 penalty added to the gradient, >= 0.
    momentum : float
        Momentum on the scaled step, in [0, 1] (0: none).
    centered : bool
        Divide by the running *variance* (the mean square minus the squared mean) instead of
        the mean square.

    State
    -----
    ``step`` (int) and ``square_avg`` per parameter; ``momentum_buffer`` when
    ``momentum > 0``, ``grad_avg`` when ``centered``.
    """

    _buffer_names = ("square_avg", "momentum_buffer", "grad_avg")
    _count_names = ("step",)
    _nonnegative_buffers = ("square_avg",)

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _check_group(self, group: dict[str, Any]) -> None:
        for name in ("lr", "eps", "weight_decay"):
            self._number(group, name)
        self._number(group, "alpha", maximum=1.0)
        self._number(group, "momentum", maximum=1.0)
        self._flag(group, "centered")

    def _required_state(self, group: dict[str, Any]) -> set[str]:
        return ({"step", "square_avg"} | ({"momentum_buffer"} if group["momentum"] > 0
                                          else set())
                | ({"grad_avg"} if group["centered"] else set()))

    def _step_group(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        for p in self._active(group):
            state = self._param_state(p)
            if not state:
                state.update(step=0, square_avg=np.zeros_like(p.data))
            state["step"] += 1
            theta, g, v = p.data, p.grad, state["square_avg"]
            if weight_decay != 0:
                g = g + weight_decay * theta
            v *= alpha
            v += (1 - alpha) * g * g
            if group["centered"]:
                gbar = state.setdefault("grad_avg", np.zeros_like(theta))
                gbar *= alpha
                gbar += (1 - alpha) * g
                d = np.sqrt(v - gbar * gbar) + eps
            else:
                d = np.sqrt(v) + eps
            if momentum > 0:
                b = state.setdefault("momentum_buffer", np.zeros_like(theta))
                b *= momentum
                b += g / d
                theta -= lr * b
            else:
                theta -= lr * g / d
