"""Plain, obviously-correct reference implementations (loops over output positions and taps).

These follow the formulas of docs/ literally, so that numcnn's fast paths (im2col + GEMM,
numba kernels) are checked against the math, not against themselves.
"""

import numpy as np


def _pad(x, ph, pw, value=0.0):
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def conv2d(x, w, b, stride, padding, dilation, groups):
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    N, C, H, W = x.shape
    F, Cg, kh, kw = w.shape
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = _pad(x, ph, pw)
    y = np.zeros((N, F, Ho, Wo))
    Fg = F // groups
    for g in range(groups):
        cs, fs = slice(g * Cg, (g + 1) * Cg), slice(g * Fg, (g + 1) * Fg)
        for oh in range(Ho):
            for ow in range(Wo):
                for i in range(kh):
                    for j in range(kw):
                        patch = xp[:, cs, oh * sh + i * dh, ow * sw + j * dw]  # (N, Cg)
                        y[:, fs, oh, ow] += patch @ w[fs, :, i, j].T
    if b is not None:
        y += b[None, :, None, None]
    return y


def conv2d_backward(dy, x, w, stride, padding, dilation, groups):
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    N, C, H, W = x.shape
    F, Cg, kh, kw = w.shape
    Ho, Wo = dy.shape[2:]
    xp = _pad(x, ph, pw)
    dxp = np.zeros_like(xp)
    dwt = np.zeros_like(w)
    Fg = F // groups
    for g in range(groups):
        cs, fs = slice(g * Cg, (g + 1) * Cg), slice(g * Fg, (g + 1) * Fg)
        for oh in range(Ho):
            for ow in range(Wo):
                for i in range(kh):
                    for j in range(kw):
                        r, c = oh * sh + i * dh, ow * sw + j * dw
                        dxp[:, cs, r, c] += dy[:, fs, oh, ow] @ w[fs, :, i, j]
                        dwt[fs, :, i, j] += dy[:, fs, oh, ow].T @ xp[:, cs, r, c]
    return dxp[:, :, ph:ph + H, pw:pw + W], dwt, dy.sum(axis=(0, 2, 3))


def conv_transpose2d(x, w, b, stride, padding, output_padding, dilation, groups):
    """Scatter form: every input pixel adds w * x onto the output (then crop the padding)."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    N, C, H, W = x.shape
    Cin, Fg, kh, kw = w.shape
    F = Fg * groups
    Cg = C // groups
    full = np.zeros((N, F, (H - 1) * sh + dh * (kh - 1) + 1 + oph,
                     (W - 1) * sw + dw * (kw - 1) + 1 + opw))
    for g in range(groups):
        cs, fs = slice(g * Cg, (g + 1) * Cg), slice(g * Fg, (g + 1) * Fg)
        for h in range(H):
            for v in range(W):
                for i in range(kh):
                    for j in range(kw):
                        full[:, fs, h * sh + i * dh, v * sw + j * dw] += (
                            x[:, cs, h, v] @ w[cs, :, i, j])
    y = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def conv_transpose2d_backward(dy, x, w, stride, padding, output_padding, dilation, groups):
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation  # output_padding: in dy's size
    N, C, H, W = x.shape
    Cin, Fg, kh, kw = w.shape
    Cg = C // groups
    full = np.zeros((N, dy.shape[1], dy.shape[2] + 2 * ph, dy.shape[3] + 2 * pw))
    full[:, :, ph:ph + dy.shape[2], pw:pw + dy.shape[3]] = dy
    dx = np.zeros_like(x)
    dwt = np.zeros_like(w)
    for g in range(groups):
        cs, fs = slice(g * Cg, (g + 1) * Cg), slice(g * Fg, (g + 1) * Fg)
        for h in range(H):
            for v in range(W):
                for i in range(kh):
                    for j in range(kw):
                        d = full[:, fs, h * sh + i * dh, v * sw + j * dw]  # (N, Fg)
                        dx[:, cs, h, v] += d @ w[cs, :, i, j].T
                        dwt[cs, :, i, j] += x[:, cs, h, v].T @ d
    return dx, dwt, dy.sum(axis=(0, 2, 3))


def _windows(x, k, s, p, value):
    (kh, kw), (sh, sw), (ph, pw) = k, s, p
    N, C, H, W = x.shape
    Ho = (H + 2 * ph - kh) // sh + 1
    Wo = (W + 2 * pw - kw) // sw + 1
    xp = _pad(x, ph, pw, value)
    for oh in range(Ho):
        for ow in range(Wo):
            yield oh, ow, xp[:, :, oh * sh:oh * sh + kh, ow * sw:ow * sw + kw]


def max_pool2d(x, k, s, p):
    """Forward and backward (for a given dy): the gradient goes to np.argmax's choice, which is
    the first maximum in row-major window order."""
    outs = {}
    for oh, ow, win in _windows(x, k, s, p, -np.inf):
        outs[oh, ow] = win.reshape(*win.shape[:2], -1)
    Ho = max(o[0] for o in outs) + 1
    Wo = max(o[1] for o in outs) + 1
    y = np.zeros((x.shape[0], x.shape[1], Ho, Wo), dtype=x.dtype)
    for (oh, ow), flat in outs.items():
        y[:, :, oh, ow] = flat.max(axis=2)
    return y


def max_pool2d_backward(dy, x, k, s, p):
    kw, (sh, sw), (ph, pw) = k[1], s, p
    dxp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))
    for oh, ow, win in _windows(x, k, s, p, -np.inf):
        flat = win.reshape(*win.shape[:2], -1)
        arg = flat.argmax(axis=2)  # first maximum in row-major order
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                i, j = divmod(arg[n, c], kw)
                dxp[n, c, oh * sh + i, ow * sw + j] += dy[n, c, oh, ow]
    return dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]


def avg_pool2d(x, k, s, p):
    (kh, kw) = k
    Ho = (x.shape[2] + 2 * p[0] - kh) // s[0] + 1
    Wo = (x.shape[3] + 2 * p[1] - kw) // s[1] + 1
    y = np.zeros((x.shape[0], x.shape[1], Ho, Wo))
    for oh, ow, win in _windows(x, k, s, p, 0.0):
        y[:, :, oh, ow] = win.sum(axis=(2, 3)) / (kh * kw)
    return y


def avg_pool2d_backward(dy, x, k, s, p):
    (kh, kw), (sh, sw), (ph, pw) = k, s, p
    dxp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))
    for oh, ow, _ in _windows(x, k, s, p, 0.0):
        dxp[:, :, oh * sh:oh * sh + kh, ow * sw:ow * sw + kw] += \
            dy[:, :, oh, ow][:, :, None, None] / (kh * kw)
    return dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
