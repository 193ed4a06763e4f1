"""Convolution and transposed convolution: the fast path vs numcnn.reference (float32 and
float64, within rounding), vs numerical gradients, and vs PyTorch."""

import numpy as np
import pytest
import rounding
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn import nn
from numcnn import reference as R
from numcnn.gradcheck import check_function


def check_against_reference(op, x, w, b, kw, terms, seed=1):
    """``op``'s fast pair against the reference pair, forward and backward, in float32 and
    float64; ``terms`` = the number of summed terms in (out, dx, dw, db)."""
    fwd, bwd = getattr(F, f"{op}_forward"), getattr(F, f"{op}_backward")
    rfwd, rbwd = getattr(R, f"{op}_forward"), getattr(R, f"{op}_backward")
    absb = None if b is None else np.abs(b)
    mag_out, mag_cache = rfwd(np.abs(x), np.abs(w), absb, **kw)  # sums of |terms|, float64
    dy64 = np.random.default_rng(seed).standard_normal(mag_out.shape)
    mags = rbwd(np.abs(dy64), mag_cache)
    for dtype in (np.float32, np.float64):
        xd, wd, bd = x.astype(dtype), w.astype(dtype), None if b is None else b.astype(dtype)
        out, cache = fwd(xd, wd, bd, **kw)
        rout, rcache = rfwd(xd, wd, bd, **kw)
        rounding.assert_within(out, rout, terms[0], mag_out, f"{op} out {dtype.__name__}")
        dy = dy64.astype(dtype)
        for name, g, rg, mag, n in zip(("dx", "dw", "db"), bwd(dy, cache), rbwd(dy, rcache),
                                       mags, terms[1:]):
            if rg is None:
                assert g is None, name
            else:
                rounding.assert_within(g, rg, n, mag, f"{op} {name} {dtype.__name__}")


def conv2d_terms(x, w, out_shape, groups):
    N, Ho, Wo = out_shape[0], *out_shape[2:]
    F_out, Cg, kh, kw = w.shape
    return (Cg * kh * kw + 1, F_out // groups * kh * kw, N * Ho * Wo, N * Ho * Wo)

small = st.integers(1, 9)


def pads4(padding, kernel, dilation):
    """(top, left, bottom, right) for every padding form (PyTorch's "same": d(k-1) in all,
    the odd one at the bottom / right)."""
    if padding in ("same", "valid"):
        total = [d * (k - 1) if padding == "same" else 0 for k, d in zip(kernel, dilation)]
        return total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2
    return (*padding, *padding) if len(padding) == 2 else tuple(padding)


def padding_forms(draw, stride):
    """A pair (as before), four sides, or "same" (stride 1) / "valid"."""
    form = draw(st.sampled_from(["pair", "four", "string"]))
    if form == "pair":
        return (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    if form == "four":
        return tuple(draw(st.integers(0, 2)) for _ in range(4))
    return draw(st.sampled_from(["same", "valid"] if stride == (1, 1) else ["valid"]))


@st.composite
def conv_case(draw, asymmetric=True):
    groups = draw(st.integers(1, 2))
    cg, fg = draw(st.integers(1, 4 // groups)), draw(st.integers(1, 4 // groups))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(small), draw(small)
    # stride 1 half the time: backward then takes its other dx path (a flipped-kernel conv)
    stride = (1, 1) if draw(st.booleans()) else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if asymmetric:
        padding = padding_forms(draw, stride)
    else:
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    top, left, bottom, right = pads4(padding, (kh, kw), dilation)
    assume(H + top + bottom >= dilation[0] * (kh - 1) + 1)
    assume(W + left + right >= dilation[1] * (kw - 1) + 1)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    N = draw(st.integers(1, 3))
    x = rng.standard_normal((N, cg * groups, H, W))
    w = rng.standard_normal((fg * groups, cg, kh, kw))
    b = rng.standard_normal(fg * groups) if draw(st.booleans()) else None
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@given(conv_case())
def test_conv2d_matches_loops(case):
    """The fast path against numcnn.reference's loops, forward and backward."""
    x, w, b, kw = case
    out, _ = R.conv2d_forward(x, w, b, **kw)
    check_against_reference("conv2d", x, w, b, kw, conv2d_terms(x, w, out.shape, kw["groups"]))


@pytest.mark.parametrize("C, F_out, N, H, kw", [
    (4, 2, 2, 7, dict(padding=1)),                          # F < C: dx by flipped conv
    (3, 3, 2, 6, dict(padding=(2, 0), dilation=(2, 1))),    # F == C, dilated
    (4, 4, 1, 5, dict(padding=(3, 1), groups=2)),           # p > d*(k-1) on one axis: col2im
    (2, 4, 2, 7, dict(padding=1)),                          # F > C: col2im
    (4, 2, 2, 8, dict(stride=2, padding=1)),                # stride 2: col2im
    (8, 6, 4, 64, dict(padding=1)),                         # chunked (im2col > 2 MB), flipped
    (6, 8, 4, 64, dict(padding=1, dilation=2)),             # chunked, col2im
])
def test_conv2d_backward_both_dx_paths_match_loops(C, F_out, N, H, kw):
    """Each way backward computes dx (col2im of W^T dY, or a convolution of dout with the
    flipped kernel), with and without chunks, against the loop reference."""
    rng = np.random.default_rng(C * 100 + F_out)
    groups = kw.get("groups", 1)
    x = rng.standard_normal((N, C, H, H))
    w = rng.standard_normal((F_out, C // groups, 3, 3))
    out, _ = R.conv2d_forward(x, w, None, **kw)
    check_against_reference("conv2d", x, w, None, kw, conv2d_terms(x, w, out.shape, groups))


@given(conv_case())
def test_conv2d_gradcheck(case):
    x, w, b, kw = case
    inputs = dict(x=x, w=w) if b is None else dict(x=x, w=w, b=b)
    result = check_function(F.conv2d_forward, F.conv2d_backward, inputs, kw)
    assert result.ok, str(result)


@st.composite
def conv_t_case(draw):
    groups = draw(st.integers(1, 2))
    cg, fg = draw(st.integers(1, 4 // groups)), draw(st.integers(1, 4 // groups))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = padding_forms(draw, (0, 0))  # a pair, four sides or "valid": not "same"
    padding = (0, 0) if padding == "valid" else padding
    top, left, bottom, right = pads4(padding, (kh, kw), dilation)
    out_pad = (draw(st.integers(0, max(stride[0], dilation[0]) - 1)),
               draw(st.integers(0, max(stride[1], dilation[1]) - 1)))
    assume((H - 1) * stride[0] - top - bottom + dilation[0] * (kh - 1) + out_pad[0] >= 0)
    assume((W - 1) * stride[1] - left - right + dilation[1] * (kw - 1) + out_pad[1] >= 0)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    N = draw(st.integers(1, 3))
    x = rng.standard_normal((N, cg * groups, H, W))
    w = rng.standard_normal((cg * groups, fg, kh, kw))
    b = rng.standard_normal(fg * groups) if draw(st.booleans()) else None
    return x, w, b, dict(stride=stride, padding=padding, output_padding=out_pad,
                         dilation=dilation, groups=groups)


@given(conv_t_case())
def test_conv_transpose2d_matches_loops(case):
    """The fast path against numcnn.reference's scatter loops, forward and backward."""
    x, w, b, kw = case
    out, _ = R.conv_transpose2d_forward(x, w, b, **kw)
    (N, C, H, W), (_, Fg, kh, kwid) = x.shape, w.shape
    terms = (C // kw["groups"] * kh * kwid + 1, Fg * kh * kwid, N * H * W,
             N * out.shape[2] * out.shape[3])
    check_against_reference("conv_transpose2d", x, w, b, kw, terms, seed=2)


@settings(max_examples=10)
@given(st.one_of(conv_case().map(lambda c: ("conv2d", c)),
                 conv_t_case().map(lambda c: ("conv_transpose2d", c))))
def test_reference_conv_gradcheck(op_case):
    """The reference is itself checked against numerical gradients."""
    op, (x, w, b, kw) = op_case
    inputs = dict(x=x, w=w) if b is None else dict(x=x, w=w, b=b)
    result = check_function(getattr(R, f"{op}_forward"), getattr(R, f"{op}_backward"),
                            inputs, kw)
    assert result.ok, str(result)


@pytest.mark.parametrize("op, kw", [
    ("conv2d", dict(stride=0)), ("conv2d", dict(padding=-1)), ("conv2d", dict(groups=3)),
    ("conv2d", dict(dilation=(1, 2, 3))), ("conv_transpose2d", dict(output_padding=1)),
    ("conv_transpose2d", dict(groups=2)), ("conv_transpose2d", dict(padding=5)),
])
def test_reference_rejects_what_functional_rejects(op, kw):
    x = np.zeros((1, 3, 4, 4))
    w = np.zeros((4, 3, 3, 3) if op == "conv2d" else (3, 2, 3, 3))
    errors = []
    for fwd in (getattr(F, f"{op}_forward"), getattr(R, f"{op}_forward")):
        with pytest.raises((TypeError, ValueError)) as e:
            fwd(x, w, None, **kw)
        errors.append((type(e.value), str(e.value)))
    assert errors[0] == errors[1]


@given(conv_t_case())
def test_conv_transpose2d_gradcheck(case):
    x, w, b, kw = case
    inputs = dict(x=x, w=w) if b is None else dict(x=x, w=w, b=b)
    result = check_function(F.conv_transpose2d_forward, F.conv_transpose2d_backward, inputs, kw)
    assert result.ok, str(result)


@given(conv_case(asymmetric=False))
def test_adjoint_identity(case):
    """<conv(x), y> = <x, conv_transpose(y)> with the same weights and geometry."""
    x, w, _, kw = case
    out, _ = F.conv2d_forward(x, w, None, **kw)
    y = np.random.default_rng(3).standard_normal(out.shape)
    # the transposed conv must reproduce x's size: output_padding makes up the rows that
    # the strided forward dropped (only possible when they are fewer than the stride)
    extra = [x.shape[2 + a] - ((out.shape[2 + a] - 1) * kw["stride"][a] - 2 * kw["padding"][a]
                               + kw["dilation"][a] * (w.shape[2 + a] - 1) + 1) for a in (0, 1)]
    assume(all(0 <= e < max(kw["stride"][a], kw["dilation"][a]) for a, e in enumerate(extra)))
    groups = kw["groups"]
    # conv weights (F, C/g, kh, kw) seen as transposed-conv weights (F, C/g, kh, kw): in=F
    back, _ = F.conv_transpose2d_forward(y, w, None, stride=kw["stride"],
                                         padding=kw["padding"], output_padding=tuple(extra),
                                         dilation=kw["dilation"], groups=groups)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(out * y), np.sum(x * back), rtol=1e-10)


def test_uneven_stride_leaves_unused_rows_with_zero_gradient():
    # H=6, k=3, s=2, p=0: windows start at rows 0, 2 -> row 5 never enters the output
    x = np.random.default_rng(0).standard_normal((1, 1, 6, 6))
    w = np.ones((1, 1, 3, 3))
    out, cache = F.conv2d_forward(x, w, stride=2)
    assert out.shape == (1, 1, 2, 2)
    dx, _, _ = F.conv2d_backward(np.ones_like(out), cache)
    assert np.all(dx[0, 0, 5, :] == 0) and np.all(dx[0, 0, :, 5] == 0)
    assert np.all(dx[0, 0, :5, :5] > 0)


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_float32_in_float32_out(op):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    w_shape = (3, 4, 3, 3) if op == "conv2d" else (4, 2, 3, 3)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = np.zeros(w_shape[0] if op == "conv2d" else w_shape[1], dtype=np.float32)
    fwd, bwd = getattr(F, op + "_forward"), getattr(F, op + "_backward")
    out, cache = fwd(x, w, b, padding=1)
    grads = bwd(np.ones_like(out), cache)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


def test_backward_does_not_mutate_dout():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    out, cache = F.conv2d_forward(x, w, np.zeros(4), padding=1)
    dout = rng.standard_normal(out.shape)
    keep = dout.copy()
    F.conv2d_backward(dout, cache)
    np.testing.assert_array_equal(dout, keep)


def test_torch_parity_conv():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 2)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2)
    out, _ = F.conv2d_forward(x, w, b, **kw)
    t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                   torch.from_numpy(b), **kw).numpy()
    np.testing.assert_allclose(out, t, rtol=1e-4, atol=1e-4)
    wt = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    kt = dict(stride=2, padding=1, output_padding=1, dilation=1, groups=2)
    out, _ = F.conv_transpose2d_forward(x, wt, None, **kt)
    t = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(wt),
                                             **kt).numpy()
    np.testing.assert_allclose(out, t, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("make, error, msg", [
    (lambda: nn.Conv2d(0, 4, 3), ValueError, r"Conv2d: in_channels must be a positive int; got 0"),
    (lambda: nn.Conv2d(3.0, 4, 3), TypeError, r"in_channels must be a positive int; got 3\.0"),
    (lambda: nn.Conv2d(3, -1, 3), ValueError, r"out_channels must be a positive int; got -1"),
    (lambda: nn.Conv2d(4, 4, 3, groups=0), ValueError, r"groups must be a positive int; got 0"),
    (lambda: nn.Conv2d(4, 4, 3, groups=3), ValueError,
     r"in_channels \(4\) and out_channels \(4\) must be divisible by groups \(3\)"),
    (lambda: nn.Conv2d(4, 4, 0), ValueError, r"kernel_size must be >= 1; got 0"),
    (lambda: nn.Conv2d(4, 4, (3, 3, 3)), TypeError, r"kernel_size must be an int or a pair"),
    (lambda: nn.Conv2d(4, 4, 3, stride=0), ValueError, r"stride must be >= 1; got 0"),
    (lambda: nn.Conv2d(4, 4, 3, padding=-1), ValueError, r"padding must be >= 0; got -1"),
    (lambda: nn.Conv2d(4, 4, 3, dilation="2"), TypeError, r"dilation must be an int or a pair"),
    (lambda: nn.Conv2d(4, 4, 3, bias=None), TypeError, r"bias must be True or False"),
    (lambda: nn.Conv2d(4, 4, 3, dtype=np.int32), TypeError,
     r"dtype must be np.float32 or np.float64"),
    (lambda: nn.ConvTranspose2d(4, 4, 3, groups=2.5), TypeError,
     r"ConvTranspose2d: groups must be a positive int"),
    (lambda: nn.ConvTranspose2d(4, 4, 3, stride=2, output_padding=2), ValueError,
     r"output_padding must be smaller than stride or dilation"),
])
def test_conv_layer_constructors_check_their_arguments(make, error, msg):
    with pytest.raises(error, match=msg):
        make()


def test_conv_layers_draw_pytorch_init_from_the_seed():
    """weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) then bias alike, fan_in = weight.shape[1]*kh*kw,
    drawn in float64 from the seeded generator; reset_parameters draws again in place."""
    for layer, fan_in in ((nn.Conv2d(4, 6, (2, 3), groups=2, rng=3), 2 * 2 * 3),
                          (nn.ConvTranspose2d(4, 6, 3, groups=2, rng=3), 3 * 3 * 3)):
        rng = np.random.default_rng(3)
        bound = 1 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, layer.weight.shape).astype(np.float32)
        b = rng.uniform(-bound, bound, layer.bias.shape).astype(np.float32)
        np.testing.assert_allclose(layer.weight.data, w, rtol=1e-6)
        np.testing.assert_allclose(layer.bias.data, b, rtol=1e-6)
        weight = layer.weight
        layer.reset_parameters(np.random.default_rng(3))
        assert layer.weight is weight  # in place: an optimizer's reference stays valid
        np.testing.assert_allclose(layer.weight.data, w, rtol=1e-6)


def _torch_conv(torch, x, w, b, kw, transposed=False):
    """PyTorch's output and gradients (dx, dw, db) for the upstream gradient ones; four-sided
    padding by F.pad first (PyTorch takes (left, right, top, bottom)), or for a transposed
    conv by cropping its output."""
    tf = torch.nn.functional
    tx, tw = (torch.from_numpy(a).requires_grad_(True) for a in (x, w))
    tb = None if b is None else torch.from_numpy(b).requires_grad_(True)
    kw = dict(kw)
    pad = kw.pop("padding")
    if transposed:
        top, left, bottom, right = pad
        y = tf.conv_transpose2d(tx, tw, tb, **kw)
        y = y[:, :, top:y.shape[2] - bottom, left:y.shape[3] - right]
    elif isinstance(pad, str) or len(pad) == 2:
        y = tf.conv2d(tx, tw, tb, padding=pad, **kw)
    else:
        top, left, bottom, right = pad
        y = tf.conv2d(tf.pad(tx, (left, right, top, bottom)), tw, tb, **kw)
    y.backward(torch.ones_like(y))
    return y.detach().numpy(), [None if t is None else t.grad.numpy() for t in (tx, tw, tb)]


@settings(max_examples=15)
@given(conv_case())
def test_torch_parity_conv_padding_forms(case):
    """padding "same" / "valid" / (h, w) / four sides: output and gradients as PyTorch's."""
    torch = pytest.importorskip("torch")
    x, w, b = (None if a is None else a.astype(np.float32) for a in case[:3])
    kw = case[3]
    out, cache = F.conv2d_forward(x, w, b, **kw)
    grads = F.conv2d_backward(np.ones_like(out), cache)
    t_out, t_grads = _torch_conv(torch, x, w, b, kw)
    np.testing.assert_allclose(out, t_out, rtol=1e-4, atol=1e-4)
    for g, tg in zip(grads, t_grads):
        assert (g is None) == (tg is None)
        if g is not None:
            np.testing.assert_allclose(g, tg, rtol=1e-4, atol=1e-3)


def test_torch_parity_conv_transpose_four_sided_padding():
    """PyTorch's transposed conv pads symmetrically; four sides = its output cropped."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 5, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    kw = dict(stride=(2, 3), padding=(1, 0, 2, 1), dilation=(1, 2), groups=2)
    out, cache = F.conv_transpose2d_forward(x, w, b, output_padding=(1, 0), **kw)
    grads = F.conv_transpose2d_backward(np.ones_like(out), cache)
    t_out, t_grads = _torch_conv(torch, x, w, b, dict(kw, output_padding=(1, 0)),
                                 transposed=True)
    np.testing.assert_allclose(out, t_out, rtol=1e-4, atol=1e-4)
    for g, tg in zip(grads, t_grads):
        np.testing.assert_allclose(g, tg, rtol=1e-4, atol=1e-3)


def test_same_padding_keeps_the_size_and_puts_the_odd_row_last():
    """k=4, d=1: 3 rows of padding, 1 above and 2 below (PyTorch's choice)."""
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 0, 0] = 1.0
    w = np.zeros((1, 1, 4, 4))
    w[0, 0, 1, 1] = 1.0  # picks x_pad[oh + 1, ow + 1] = x[oh, ow] when top = left = 1
    out, _ = F.conv2d_forward(x, w, padding="same")
    assert out.shape == x.shape
    np.testing.assert_array_equal(out, x)
    out, _ = F.conv2d_forward(x, w, padding="valid")
    assert out.shape == (1, 1, 2, 2)


@pytest.mark.parametrize("op, kw, error, msg", [
    ("conv2d", dict(padding="same", stride=2), ValueError, r"padding='same' needs stride 1"),
    ("conv2d", dict(padding="full"), ValueError, r'padding must be "same" or "valid"'),
    ("conv2d", dict(padding=(1, 2, 3)), TypeError, r"padding must be an int, a pair \(h, w\) "
                                                   r"or four ints \(top, left, bottom, right\)"),
    ("conv2d", dict(padding=(1, -1, 0, 0)), ValueError, r"padding must be >= 0"),
    ("conv_transpose2d", dict(padding="same"), ValueError, r"padding must be ints"),
    ("conv_transpose2d", dict(padding=(3, 0, 3, 0)), ValueError, r"the output would be 0x6"),
])
def test_conv_padding_errors(op, kw, error, msg):
    x = np.zeros((1, 3, 4, 4))
    w = np.zeros((4, 3, 3, 3) if op == "conv2d" else (3, 2, 3, 3))
    for fwd in (getattr(F, f"{op}_forward"), getattr(R, f"{op}_forward")):
        with pytest.raises(error, match=msg):
            fwd(x, w, **kw)


def test_conv_layers_take_every_padding_form():
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 6)).astype(np.float32)
    assert nn.Conv2d(2, 3, 4, padding="same", rng=0)(x).shape == (1, 3, 5, 6)
    assert nn.Conv2d(2, 3, 3, padding=(0, 0, 2, 0), rng=0)(x).shape == (1, 3, 5, 4)
    with pytest.raises(ValueError, match=r"Conv2d: padding='same' needs stride 1"):
        nn.Conv2d(2, 3, 3, stride=2, padding="same")


@settings(max_examples=40)
@given(conv_case(), st.booleans())
def test_conv2d_in_chunks_of_rows_matches_loops(case, one_column):
    """With chunks forced down to bands of a few output rows (what one large image gets;
    col2im adds up the halos), forward and backward still match the loop reference."""
    from unittest import mock

    import numcnn.functional.conv as conv

    x, w, b, kw = case
    out, _ = R.conv2d_forward(x, w, b, **kw)
    limits = dict(_CHUNK_ABOVE=0, _CHUNK_BYTES=1, _MIN_CHUNK_COLS=1 if one_column else 3)
    with mock.patch.multiple(conv, **limits):
        chunks = conv._chunks(x.shape[0], *out.shape[2:], x.shape[1] * w[0, 0].size, 4)
        assume(chunks[0].row1 - chunks[0].row0 < out.shape[2])  # bands of rows, really
        check_against_reference("conv2d", x, w, b, kw,
                                conv2d_terms(x, w, out.shape, kw["groups"]))
