"""Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsT, check_nonneg


class SGD(Optimizer):
    r"""Stochastic gradient descent, exactly as ``torch.optim.SGD``.

    For each parameter :math:`\theta` with gradient :math:`g` (step :math:`t = 1, 2, \dots`)::

        g <- g + weight_decay * theta                       (if weight_decay != 0)
        b <- g                                   on the first step (momentum != 0)
        b <- momentum * b + (1 - dampening) * g  afterwards
        g <- g + momentum * b   (nesterov)   or   g <- b   (plain momentum)
        theta <- theta - lr * g

    The update is in place on ``p.data`` in its own dtype; ``p.grad`` is not modified.

    Parameters
    ----------
    params : iterable of Parameter or of param-group dicts
    lr : float
        Learning rate, >= 0.
    momentum : float
        Momentum factor, >= 0 (0 disables the buffer).
    nesterov : bool
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    weight_decay : float
        L2 penalty added to the gradient, >= 0.
    dampening : float
        Dampening of the gradient in the momentum buffer, >= 0.

    State
    -----
    ``momentum_buffer`` per parameter (only when ``momentum != 0``).
    """

    _buffer_names = ("momentum_buffer",)

    def __init__(self, params: ParamsT, lr: float, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, dampening: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check_group(self, group: dict[str, Any]) -> None:
        check_nonneg(group, "lr", "momentum", "dampening", "weight_decay")
        group["nesterov"] = bool(group["nesterov"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening == 0; got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _step_group(self, group: dict[str, Any]) -> None:
        lr, momentum = float(group["lr"]), float(group["momentum"])
        dampening, wd = float(group["dampening"]), float(group["weight_decay"])
        nesterov = bool(group["nesterov"])
        for p in self._active(group):
            s1, s2 = self._scratch_pair(p)
            g = p.grad
            if wd != 0.0:
                np.multiply(p.data, wd, out=s1)
                np.add(g, s1, out=s1)
                g = s1
            if momentum != 0.0:
                state = self._param_state(p)
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.copy()
                else:
                    buf *= momentum
                    if dampening == 0.0:
                        buf += g
                    else:
                        np.multiply(g, 1.0 - dampening, out=s2)
                        buf += s2
                if nesterov:
                    np.multiply(buf, momentum, out=s2)
                    np.add(g, s2, out=s2)
                    g = s2
                else:
                    g = buf
            # theta -= lr * g, with lr * g in a scratch array (g may be .grad or the buffer)
            tmp = g if (g is s1 or g is s2) else s2
            np.multiply(g, lr, out=tmp)
            np.subtract(p.data, tmp, out=p.data)
