"""Solution: batch norm's backward, vectorised over each channel's M = N*L values (the sums
run over axes 0 and 2 of the (N, C, L) view, keepdims so that (C,) broadcasts)."""


def batch_norm_backward(dout, cache):
    x3, x_shape, mu, inv_std, gamma, training = cache
    N, C, L = x3.shape
    M = N * L
    d = dout.reshape(N, C, L)
    inv = inv_std.reshape(1, C, 1)
    xhat = (x3 - mu.reshape(1, C, 1)) * inv
    dbeta = d.sum(axis=(0, 2))
    dgamma = (d * xhat).sum(axis=(0, 2))
    dxhat = d * gamma.reshape(1, C, 1)
    if training:  # mu and var are functions of x: the two correction terms
        dx = inv / M * (M * dxhat - dxhat.sum(axis=(0, 2), keepdims=True)
                        - xhat * (dxhat * xhat).sum(axis=(0, 2), keepdims=True))
    else:
        dx = dxhat * inv
    return dx.reshape(x_shape), dgamma, dbeta
