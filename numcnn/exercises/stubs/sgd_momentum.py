"""Exercise sgd_momentum: one step of SGD with momentum and weight decay, as
numcnn.optim.SGD (and PyTorch) take it:

    g = grad + weight_decay * param
    b = g                      on the first step (buf is None)
    b = momentum * b + g       afterwards
    param = param - lr * b

(CS231n writes v = mu*v - lr*g, w += v: the same while lr is constant, not under a
learning-rate schedule.)

Check:  numcnn check sgd_momentum sgd_momentum.py      (docs/optimizers.md)
"""


def sgd_momentum_step(param, grad, buf, lr, momentum=0.9, weight_decay=0.0):
    """param, grad: arrays of one shape and dtype; buf: the momentum buffer from the last
    step, None on the first.  Returns (new_param, new_buf), in param's dtype."""
    raise NotImplementedError("sgd_momentum_step: write it")
