"""Solution: one SGD step with momentum and weight decay, PyTorch's form."""


def sgd_momentum_step(param, grad, buf, lr, momentum=0.9, weight_decay=0.0):
    g = grad + weight_decay * param
    buf = g.copy() if buf is None else momentum * buf + g
    return param - lr * buf, buf
