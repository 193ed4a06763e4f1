"""Convolution and transposed convolution: the fast path vs numcnn.reference (float32 and
float64, within rounding), vs numerical gradients, and vs PyTorch."""

import numpy as np
import pytest
import rounding
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numcnn import functional as F
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


@st.composite
def conv_case(draw):
    groups = draw(st.integers(1, 2))
    cg, fg = draw(st.integers(1, 4 // groups)), draw(st.integers(1, 4 // groups))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(small), draw(small)
    # stride 1 half the time: backward then takes its other dx path (a flipped-kernel conv)
    stride = (1, 1) if draw(st.booleans()) else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    assume(H + 2 * padding[0] >= dilation[0] * (kh - 1) + 1)
    assume(W + 2 * padding[1] >= dilation[1] * (kw - 1) + 1)
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
    (8, 6, 4, 64, dict(padding=1)),                         # chunked (im2col > 8 MB), flipped
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
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    out_pad = (draw(st.integers(0, max(stride[0], dilation[0]) - 1)),
               draw(st.integers(0, max(stride[1], dilation[1]) - 1)))
    assume((H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + out_pad[0] >= 0)
    assume((W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + out_pad[1] >= 0)
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


@given(conv_case())
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
