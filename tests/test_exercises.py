"""The exercises: every worked solution passes the checker, and typical wrong solutions fail
it with the hint that names their mistake.  The wrong solutions are small edits of the
worked ones (``broken(name, **replacements)``)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from numcnn import exercises as E

pytest.importorskip("hypothesis")


def solution(name: str) -> types.ModuleType:
    return E.load(E.solution_path(name))


def broken(name: str, **functions) -> types.SimpleNamespace:
    """The worked solution of ``name`` with some of its functions replaced."""
    good = solution(name)
    ns = {f: getattr(good, f) for f in E.EXERCISES[name].functions}
    ns.update(functions)
    return types.SimpleNamespace(**ns)


def failing(name: str, student, *hints: str) -> str:
    report = E.check(name, student, train=False)
    text = str(report)
    assert not report.ok, text
    for hint in hints:
        assert hint in text, f"hint {hint!r} missing from:\n{text}"
    return text


# ------------------------------------------------------------------- every solution passes
@pytest.mark.slow
@pytest.mark.parametrize("name", list(E.EXERCISES))
def test_the_worked_solution_passes_and_trains(name):
    report = E.check(name, E.solution_path(name))
    assert report.ok, str(report)
    assert "training a tiny model: all right" in str(report)


@pytest.mark.parametrize("name", list(E.EXERCISES))
def test_the_stub_is_reported_as_not_implemented(name):
    report = E.check(name, E.stub_path(name))
    assert not report.ok and "not implemented yet" in str(report)


# ------------------------------------------------------------------------------- relu
def test_relu_mistakes():
    failing("relu", broken("relu", relu_backward=lambda dout, x: dout * (x >= 0)),
            "not x >= 0")

    def mutates(dout, x):
        dout[x <= 0] = 0
        return dout
    failing("relu", broken("relu", relu_backward=mutates), "changed dout in place")
    failing("relu", broken("relu", relu_backward=lambda dout, x: (x > 0).astype(dout.dtype)),
            "multiplies it by dout")


# ------------------------------------------------------------------------------ linear
def test_linear_mistakes():
    def forward_untransposed(x, w, b=None):
        return x @ w + (0 if b is None else b), (x, w, b is not None)
    failing("linear", broken("linear", linear_forward=forward_untransposed),
            "(out_features, in_features)")

    def dw_transposed(dout, cache):
        x, w, has_bias = cache
        return dout @ w, x.T @ dout, dout.sum(0) if has_bias else None
    failing("linear", broken("linear", linear_backward=dw_transposed), "dw",
            "transposed")

    def db_averaged(dout, cache):
        x, w, has_bias = cache
        return dout @ w, dout.T @ x, dout.mean(0) if has_bias else None
    failing("linear", broken("linear", linear_backward=db_averaged), "batch *average*")


# ---------------------------------------------------------------------- conv2d_forward
def _conv_loops(x, w, b, stride, padding, offset):
    """A forward with the window of (oh, ow) at (oh*stride*offset, ...): offset 0 drops the
    stride from the indexing (the mistake), offset 1 is right."""
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    s, p = stride, padding
    Ho, Wo = (H + 2 * p - kh) // s + 1, (W + 2 * p - kw) // s + 1
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.zeros((N, F, Ho, Wo), x.dtype)
    for oh in range(Ho):
        for ow in range(Wo):
            r, c = oh * (s if offset else 1), ow * (s if offset else 1)
            out[:, :, oh, ow] = np.tensordot(xp[:, :, r:r + kh, c:c + kw], w,
                                             axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += b[None, :, None, None]
    return out, (x, w, b is not None, (s, s), (p,) * 4, (1, 1), 1)


def test_conv2d_forward_mistakes():
    good = solution("conv2d_forward").conv2d_forward

    def flipped(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        out = good(x, np.ascontiguousarray(w[..., ::-1, ::-1]), b, stride, padding)[0]
        return out, good(x, w, b, stride, padding)[1]
    failing("conv2d_forward", broken("conv2d_forward", conv2d_forward=flipped),
            "flipped the kernel")

    def no_stride(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        return _conv_loops(x, w, b, stride, padding, offset=0)
    failing("conv2d_forward", broken("conv2d_forward", conv2d_forward=no_stride),
            "passes with stride 1")

    def padded_on_one_side(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        x = np.pad(x, ((0, 0), (0, 0), (padding, 0), (padding, 0)))
        out, _ = _conv_loops(x, w, b, stride, 0, offset=1)
        return out, (x, w, b is not None, (stride, stride), (padding,) * 4, (1, 1), 1)
    failing("conv2d_forward", broken("conv2d_forward", conv2d_forward=padded_on_one_side),
            "passes without padding", "on all four sides")

    def short_cache(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        return good(x, w, b, stride, padding)[0], (x, w, b, stride, padding)
    failing("conv2d_forward", broken("conv2d_forward", conv2d_forward=short_cache),
            "the cache numcnn.reference.conv2d_backward reads")


# --------------------------------------------------------------------- conv2d_backward
def _window_backward(dout, cache, accumulate=True, crop_at_p=True):
    """conv2d_backward window by window; accumulate=False overwrites where windows overlap,
    crop_at_p=False crops the padded gradient at its top left corner."""
    x, w, has_bias, (sh, sw), (ph, pw, _, _), _, _ = cache
    H, W = x.shape[2:]
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for oh in range(dout.shape[2]):
        for ow in range(dout.shape[3]):
            win = (slice(None), slice(None), slice(oh * sh, oh * sh + kh),
                   slice(ow * sw, ow * sw + kw))
            share = np.tensordot(dout[:, :, oh, ow], w, axes=([1], [0]))
            if accumulate:
                dxp[win] += share
            else:
                dxp[win] = share
            dw += np.tensordot(dout[:, :, oh, ow], xp[win], axes=([0], [0]))
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    top, left = (ph, pw) if crop_at_p else (0, 0)
    return dxp[:, :, top:top + H, left:left + W], dw, db


def test_conv2d_backward_mistakes():
    good = solution("conv2d_backward").conv2d_backward
    assert E.check("conv2d_backward", types.SimpleNamespace(conv2d_backward=_window_backward),
                   train=False).ok  # the helper is right as it stands

    def first_sample_only(dout, cache):
        dx, _, _ = good(dout, cache)
        _, dw, db = good(dout[:1], (cache[0][:1], *cache[1:]))
        return dx, dw, db
    failing("conv2d_backward", broken("conv2d_backward", conv2d_backward=first_sample_only),
            "passes with a batch of one", "sum over all the samples")

    def dw_transposed(dout, cache):
        dx, dw, db = good(dout, cache)
        return dx, np.ascontiguousarray(dw.transpose(1, 0, 2, 3)), db
    failing("conv2d_backward", broken("conv2d_backward", conv2d_backward=dw_transposed),
            "dw is transposed")

    def mutates_dout(dout, cache):
        result = good(dout, cache)
        dout[0] = 0
        return result
    failing("conv2d_backward", broken("conv2d_backward", conv2d_backward=mutates_dout),
            "changed dout in place")

    def crops_at_the_corner(dout, cache):
        return _window_backward(dout, cache, crop_at_p=False)
    failing("conv2d_backward", broken("conv2d_backward", conv2d_backward=crops_at_the_corner),
            "passes without padding", "dx_pad[:, :, p:p+H, p:p+W]")

    def overwrites(dout, cache):
        return _window_backward(dout, cache, accumulate=False)
    failing("conv2d_backward", broken("conv2d_backward", conv2d_backward=overwrites),
            "add up (+=, not =)")

    def float64_dx(dout, cache):
        dx, dw, db = good(dout, cache)
        return dx.astype(np.float64), dw, db
    failing("conv2d_backward", broken("conv2d_backward", conv2d_backward=float64_dx),
            "float32 in must give float32 out")


# ------------------------------------------------------------------------------ im2col
def test_im2col_mistakes():
    good = solution("im2col").im2col
    failing("im2col", broken("im2col", im2col=lambda x, kh, kw, s=1, p=0: good(x, kh, kw, s,
                                                                               p).T),
            "Deep Learning from Scratch's layout")

    def columns_sample_fastest(x, kh, kw, s=1, p=0):
        cols = good(x, kh, kw, s, p)
        R, N = cols.shape[0], x.shape[0]
        return cols.reshape(R, N, -1).transpose(0, 2, 1).reshape(R, -1)
    failing("im2col", broken("im2col", im2col=columns_sample_fastest), "CS231n's")

    def rows_channel_fastest(x, kh, kw, s=1, p=0):
        cols = good(x, kh, kw, s, p)
        C = x.shape[1]
        return cols.reshape(C, kh, kw, -1).transpose(1, 2, 0, 3).reshape(C * kh * kw, -1)
    failing("im2col", broken("im2col", im2col=rows_channel_fastest), "rows run (i, j, c)")
    failing("im2col", broken("im2col", im2col=lambda x, kh, kw, s=1, p=0: good(x, kh, kw, s,
                                                                               0)),
            "passes without padding")


# -------------------------------------------------------------------------- max pooling
def _pool_backward(dout, cache, rule):
    x, k, s, p = cache
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    dxp = np.zeros_like(xp)
    n, c = np.indices((N, C))
    for oh in range(dout.shape[2]):
        for ow in range(dout.shape[3]):
            win = xp[:, :, oh * s:oh * s + k, ow * s:ow * s + k]
            if rule == "all maxima":
                mask = win == win.max(axis=(2, 3), keepdims=True)
                dxp[:, :, oh * s:oh * s + k, ow * s:ow * s + k] += (
                    mask * dout[:, :, oh, ow, None, None])
            else:
                i, j = np.divmod(win.reshape(N, C, -1).argmax(axis=2), k)
                dxp[n, c, oh * s + i, ow * s + j] = dout[:, :, oh, ow]  # = where += belongs
    return dxp[:, :, p:p + H, p:p + W]


def test_max_pool2d_mistakes():
    failing("max_pool2d", broken("max_pool2d", max_pool2d_backward=lambda d, c: _pool_backward(
        d, c, "all maxima")), "passes without ties", "only the first")
    failing("max_pool2d", broken("max_pool2d", max_pool2d_backward=lambda d, c: _pool_backward(
        d, c, "overwrite")), "no overlap", "(+=)")

    good = solution("max_pool2d")

    def zero_padded(x, kernel_size, stride=None, padding=0):
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        out, _ = good.max_pool2d_forward(xp, kernel_size, stride, 0)
        return out, good.max_pool2d_forward(x, kernel_size, stride, padding)[1]
    failing("max_pool2d", broken("max_pool2d", max_pool2d_forward=zero_padded), "-inf")


# --------------------------------------------------------------------------- batch norm
def _bn_backward(dout, cache, corrections=True, M_from_batch_only=False, with_gamma=True):
    """Batch norm's backward written out; the flags make its usual mistakes."""
    x3, x_shape, mu, inv_std, gamma, training = cache
    N, C, L = x3.shape
    M = N if M_from_batch_only else N * L
    d = dout.reshape(N, C, L)
    inv = inv_std.reshape(1, C, 1)
    xhat = (x3 - mu.reshape(1, C, 1)) * inv
    dxhat = d * gamma.reshape(1, C, 1) if with_gamma else d
    dx = dxhat * inv
    if training and corrections:
        dx = inv / M * (M * dxhat - dxhat.sum(axis=(0, 2), keepdims=True)
                        - xhat * (dxhat * xhat).sum(axis=(0, 2), keepdims=True))
    return dx.reshape(x_shape), (d * xhat).sum(axis=(0, 2)), d.sum(axis=(0, 2))


def test_batch_norm_backward_mistakes():
    name = "batch_norm_backward"
    assert E.check(name, types.SimpleNamespace(batch_norm_backward=_bn_backward),
                   train=False).ok  # the helper is right as it stands
    failing(name, broken(name, batch_norm_backward=lambda d, c: _bn_backward(
        d, c, corrections=False)), "passes in eval mode", "two more terms")
    failing(name, broken(name, batch_norm_backward=lambda d, c: _bn_backward(
        d, c._replace(training=True))), "passes in training mode", "constants")
    failing(name, broken(name, batch_norm_backward=lambda d, c: _bn_backward(
        d, c, M_from_batch_only=True)), "M = N*H*W values")
    failing(name, broken(name, batch_norm_backward=lambda d, c: _bn_backward(
        d, c, with_gamma=False)), "lacks the factor gamma")

    def per_activation(dout, cache):  # Deep Learning from Scratch: one gamma per activation
        dx, _, _ = _bn_backward(dout, cache)
        xhat = ((cache.x3 - cache.mu[None, :, None]) * cache.inv_std[None, :, None]
                ).reshape(cache.x_shape)
        return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)
    failing(name, broken(name, batch_norm_backward=per_activation),
            "one value per activation", "axes 0, 2 and 3")

    def averaged(dout, cache):
        dx, dgamma, dbeta = _bn_backward(dout, cache)
        M = cache.x3.shape[0] * cache.x3.shape[2]
        return dx, dgamma / M, dbeta / M
    failing(name, broken(name, batch_norm_backward=averaged), "dgamma is the *average*")


# ---------------------------------------------------------------- softmax cross-entropy
def test_softmax_cross_entropy_mistakes():
    good = solution("softmax_cross_entropy")

    def counts_ignored(logits, targets, weight=None, ignore_index=-100, reduction="mean",
                       label_smoothing=0.0):
        loss, (logp, t, valid, count) = good.softmax_cross_entropy_forward(logits, targets)
        return loss * count / valid.size, (logp, t, valid, valid.size)
    failing("softmax_cross_entropy", broken(
        "softmax_cross_entropy", softmax_cross_entropy_forward=counts_ignored),
        "not counted in the mean's denominator")

    def no_max(logits, targets, weight=None, ignore_index=-100, reduction="mean",
               label_smoothing=0.0):
        with np.errstate(all="ignore"):
            e = np.exp(logits)
            logp = np.log(e / e.sum(axis=1, keepdims=True))
        valid = targets != ignore_index
        t = np.where(valid, targets, 0)[:, None]
        count = int(valid.sum())
        picked = np.take_along_axis(logp, t, axis=1)[:, 0]
        return -float((picked * valid).sum()) / count, (logp, t, valid, count)
    failing("softmax_cross_entropy", broken(
        "softmax_cross_entropy", softmax_cross_entropy_forward=no_max),
        "subtract each pixel's maximum")

    def ignored_get_gradient(dloss, cache):
        logp, t, valid, count = cache
        dz = np.exp(logp)
        np.put_along_axis(dz, t, np.take_along_axis(dz, t, axis=1) - 1, axis=1)
        return dz * (dloss / count)
    failing("softmax_cross_entropy", broken(
        "softmax_cross_entropy", softmax_cross_entropy_backward=ignored_get_gradient),
        "zero gradient")


# ---------------------------------------------------------------------------- Dice loss
def test_dice_mistakes():
    good = solution("dice")

    def per_image(logits, targets, smooth=1.0, ignore_index=-100):
        parts = [good.dice_loss_forward(logits[n:n + 1], targets[n:n + 1], smooth,
                                        ignore_index) for n in range(len(logits))]
        return float(np.mean([loss for loss, _ in parts])), [c for _, c in parts]

    def per_image_backward(dloss, caches):
        return np.concatenate([good.dice_loss_backward(dloss / len(caches), c)
                               for c in caches])
    failing("dice", broken("dice", dice_loss_forward=per_image,
                           dice_loss_backward=per_image_backward),
            "over the whole batch")

    def no_softmax_jacobian(dloss, cache):
        p, y, valid, inter, total, smooth = cache
        C = p.shape[1]
        I, T = inter.reshape(1, C, 1, 1), total.reshape(1, C, 1, 1)
        return -(dloss / C) * (2 * y * T - (2 * I + smooth)) / T**2 * valid
    failing("dice", broken("dice", dice_loss_backward=no_softmax_jacobian),
            "through the softmax")


# --------------------------------------------------------------------- transposed conv
def test_conv_transpose2d_backward_mistakes():
    good = solution("conv_transpose2d_backward").conv_transpose2d_backward

    def first_sample_only(dout, cache):
        dx, _, _ = good(dout, cache)
        _, dw, db = good(dout[:1], (cache[0][:1], *cache[1:]))
        return dx, dw, db
    failing("conv_transpose2d_backward", broken(
        "conv_transpose2d_backward", conv_transpose2d_backward=first_sample_only),
        "passes with a batch of one")

    def dout_at_the_corner(dout, cache):
        x, w, has_bias, (sh, sw), (ph, pw, _, _), _, _, (Ho, Wo) = cache
        H, W = x.shape[2:]
        kh, kw = w.shape[2:]
        full = np.zeros((*dout.shape[:2], Ho + 2 * ph, Wo + 2 * pw), dout.dtype)
        full[:, :, :Ho, :Wo] = dout  # the mistake: the forward cropped p off each side
        dx, dw = np.zeros_like(x), np.zeros_like(w)
        for i in range(kh):
            for j in range(kw):
                tap = full[:, :, i:i + sh * H:sh, j:j + sw * W:sw]
                dx += np.einsum("cf,nfhw->nchw", w[:, :, i, j], tap)
                dw[:, :, i, j] = np.einsum("nchw,nfhw->cf", x, tap)
        return dx, dw, dout.sum(axis=(0, 2, 3)) if has_bias else None
    failing("conv_transpose2d_backward", broken(
        "conv_transpose2d_backward", conv_transpose2d_backward=dout_at_the_corner),
        "passes without padding", "full frame")


# --------------------------------------------------------------------------- optimizers
def test_sgd_momentum_mistakes():
    def cs231n(param, grad, buf, lr, momentum=0.9, weight_decay=0.0):
        v = np.zeros_like(param) if buf is None else buf
        v = momentum * v - lr * (grad + weight_decay * param)
        return param + v, v
    failing("sgd_momentum", broken("sgd_momentum", sgd_momentum_step=cs231n),
            "CS231n's form")

    def decay_after_momentum(param, grad, buf, lr, momentum=0.9, weight_decay=0.0):
        b = grad.copy() if buf is None else momentum * buf + grad
        return param - lr * (b + weight_decay * param), b
    failing("sgd_momentum", broken("sgd_momentum", sgd_momentum_step=decay_after_momentum),
            "before the momentum buffer")

    def ascends(param, grad, buf, lr, momentum=0.9, weight_decay=0.0):
        g = grad + weight_decay * param
        b = g.copy() if buf is None else momentum * buf + g
        return param + lr * b, b
    failing("sgd_momentum", broken("sgd_momentum", sgd_momentum_step=ascends), "wrong sign")


def test_adam_mistakes():
    def moments(param, grad, m, v, betas, weight_decay):
        g = grad + weight_decay * param
        return betas[0] * m + (1 - betas[0]) * g, betas[1] * v + (1 - betas[1]) * g * g

    def no_bias_correction(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                           weight_decay=0.0):
        m, v = moments(param, grad, m, v, betas, weight_decay)
        return param - lr * m / (np.sqrt(v) + eps), m, v
    failing("adam", broken("adam", adam_step=no_bias_correction), "bias corrections")

    def eps_inside(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=0.0):
        m, v = moments(param, grad, m, v, betas, weight_decay)
        m_hat, v_hat = m / (1 - betas[0]**t), v / (1 - betas[1]**t)
        return param - lr * m_hat / np.sqrt(v_hat + eps), m, v
    failing("adam", broken("adam", adam_step=eps_inside), "outside the square root")

    def eps_on_raw_v(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                     weight_decay=0.0):
        m, v = moments(param, grad, m, v, betas, weight_decay)
        lr_t = lr * np.sqrt(1 - betas[1]**t) / (1 - betas[0]**t)
        return param - lr_t * m / (np.sqrt(v) + eps), m, v
    failing("adam", broken("adam", adam_step=eps_on_raw_v), "lr_t")


# -------------------------------------------------------------------- files and the CLI
def test_start_writes_the_stub_and_never_overwrites(tmp_path):
    path = E.start("conv2d_backward", tmp_path)
    assert path == tmp_path / "conv2d_backward.py"
    assert path.read_text() == E.stub_path("conv2d_backward").read_text()
    path.write_text("# my work\n")
    with pytest.raises(FileExistsError, match="exists already"):
        E.start("conv2d_backward", tmp_path)
    assert path.read_text() == "# my work\n"
    with pytest.raises(ValueError, match="no exercise 'conv'"):
        E.start("conv", tmp_path)


def test_a_file_that_does_not_import_or_lacks_the_function_is_reported(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("def conv2d_backward(dout, cache)\n    return 1\n")
    report = E.check("conv2d_backward", bad)
    assert not report.ok and "cannot import" in str(report) and "SyntaxError" in str(report)
    other = tmp_path / "other.py"
    other.write_text("def something_else():\n    pass\n")
    report = E.check("conv2d_backward", other)
    assert not report.ok and "missing function(s): conv2d_backward" in str(report)


def test_the_commands_list_start_and_check(tmp_path, capsys):
    from numcnn.cli import main

    assert main(["exercise", "list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in E.EXERCISES) and "lab 3:" in listing
    assert main(["exercise", "start", "relu", str(tmp_path)]) == 0
    stub = tmp_path / "relu.py"
    assert "numcnn check relu" in capsys.readouterr().out
    assert main(["exercise", "start", "relu", str(tmp_path)]) == 2  # never overwritten
    assert "exists already" in capsys.readouterr().err
    assert main(["check", "relu", str(stub)]) == 1
    assert "not implemented yet" in capsys.readouterr().out
    stub.write_text(E.solution_path("relu").read_text())
    assert main(["check", "relu", str(stub), "--examples", "3", "--no-train"]) == 0
    assert "result: passed" in capsys.readouterr().out
    assert main(["check", "relu", str(tmp_path / "missing.py")]) == 2
    assert main(["check", "nope", str(stub)]) == 2
    assert "no exercise 'nope'" in capsys.readouterr().err
