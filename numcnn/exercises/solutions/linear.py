"""Solution: the fully connected layer, y = x W^T + b."""


def linear_forward(x, w, b=None):
    out = x @ w.T
    if b is not None:
        out = out + b
    return out, (x, w, b is not None)


def linear_backward(dout, cache):
    x, w, has_bias = cache
    dx = dout @ w                                   # (N, out) @ (out, in) -> (N, in)
    dw = dout.T @ x                                 # (out, N) @ (N, in): summed over n
    db = dout.sum(axis=0) if has_bias else None
    return dx, dw, db
