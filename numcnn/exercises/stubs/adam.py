"""Exercise adam: one Adam step, as numcnn.optim.Adam (and PyTorch) take it:

    g = grad + weight_decay * param            (L2 decay in the gradient)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t),   v_hat = v / (1 - beta2**t)      (t = 1 on the first step)
    param = param - lr * m_hat / (sqrt(v_hat) + eps)

Check:  numcnn check adam adam.py      (docs/optimizers.md)
"""

import numpy as np  # noqa: F401  (you will need it)


def adam_step(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """param, grad, m, v: arrays of one shape and dtype (m and v start as zeros); t: the
    step number, 1 on the first step.  Returns (new_param, new_m, new_v)."""
    raise NotImplementedError("adam_step: write it")
