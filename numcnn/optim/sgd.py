"""Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, ParamsT


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
        Momentum factor, in [0, 1] (0 disables the buffer).
    nesterov : bool
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    weight_decay : float
        L2 penalty added to the gradient, >= 0.
    dampening : float
        Dampening of the gradient in the momentum buffer, in [0, 1].

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
        self._number(group, "lr")
        self._number(group, "momentum", maximum=1.0)
        self._number(group, "dampening", maximum=1.0)
        self._number(group, "weight_decay")
        self._flag(group, "nesterov")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening == 0; got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _step_group(self, group: dict[str, Any]) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay, nesterov = group["weight_decay"], group["nesterov"]
        for p in self._active(group):
            theta, g = p.data, p.grad
            if weight_decay != 0:
                g = g + weight_decay * theta
            if momentum != 0:
                state = self._param_state(p)
                b = state.get("momentum_buffer")
                if b is None:                      # the first step: b = g, undamped
                    b = state["momentum_buffer"] = g.copy()
                else:
                    b *= momentum
                    b += (1 - dampening) * g
                g = g + momentum * b if nesterov else b
            theta -= lr * g
