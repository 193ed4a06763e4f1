"""Max and average pooling: numba kernels vs numcnn.reference's loops (float32 and float64),
numerical gradients, the tie rule."""

import numpy as np
import pytest
import rounding
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn import nn
from numcnn import reference as R
from numcnn.gradcheck import check_function, check_module


def check_against_reference(op, x, kwargs, out_terms, dx_terms):
    """``op``'s fast pair against the reference pair in float32 and float64: max pooling's
    output exactly, sums within rounding (``*_terms``: the number of terms summed)."""
    fwd, bwd = getattr(F, f"{op}_forward"), getattr(F, f"{op}_backward")
    rfwd, rbwd = getattr(R, f"{op}_forward"), getattr(R, f"{op}_backward")
    mag_out, mag_cache = rfwd(np.abs(x), **kwargs)
    dy64 = np.random.default_rng(0).standard_normal(mag_out.shape)
    for dtype in (np.float32, np.float64):
        xd, dy = x.astype(dtype), dy64.astype(dtype)
        out, cache = fwd(xd, **kwargs)
        rout, rcache = rfwd(xd, **kwargs)
        if op.startswith("max"):
            assert out.dtype == dtype
            np.testing.assert_array_equal(out, rout)
            # |dout| routed along x's argmax (|x|'s may differ): magnitudes from x's cache
            mag_dx = rbwd(np.abs(dy64), rfwd(x, **kwargs)[1])
        else:
            rounding.assert_within(out, rout, out_terms, mag_out, f"{op} out {dtype.__name__}")
            mag_dx = rbwd(np.abs(dy64), mag_cache)
        rounding.assert_within(bwd(dy, cache), rbwd(dy, rcache), dx_terms, mag_dx,
                               f"{op} dx {dtype.__name__}")


@st.composite
def pool_case(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    assume(H + 2 * p[0] >= k[0] and W + 2 * p[1] >= k[1])
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # tie-free: a shuffled arange, scaled so neighbours differ by far more than eps
    x = rng.permutation(N * C * H * W).reshape(N, C, H, W) / (N * C * H * W)
    return x, k, s, p


def windows_per_pixel(k, s):
    """At most this many windows share one input pixel."""
    return -(-k[0] // s[0]) * -(-k[1] // s[1])


@given(pool_case())
def test_max_pool_matches_loops_and_gradcheck(case):
    x, k, s, p = case
    kwargs = dict(kernel_size=k, stride=s, padding=p)
    check_against_reference("max_pool2d", x, kwargs, 0, windows_per_pixel(k, s))
    result = check_function(F.max_pool2d_forward, F.max_pool2d_backward, dict(x=x), kwargs)
    assert result.ok, str(result)


@given(pool_case())
def test_avg_pool_matches_loops_and_gradcheck(case):
    x, k, s, p = case
    kwargs = dict(kernel_size=k, stride=s, padding=p)
    # + 1: the division (forward) or the share dout / (k_h k_w) (backward) rounds once more
    check_against_reference("avg_pool2d", x, kwargs, k[0] * k[1] + 1, windows_per_pixel(k, s) + 1)
    result = check_function(F.avg_pool2d_forward, F.avg_pool2d_backward, dict(x=x), kwargs)
    assert result.ok, str(result)


@settings(max_examples=10)
@given(pool_case(), st.sampled_from(["max_pool2d", "avg_pool2d"]))
def test_reference_pool_gradcheck(case, op):
    """The reference is itself checked against numerical gradients."""
    x, k, s, p = case
    result = check_function(getattr(R, f"{op}_forward"), getattr(R, f"{op}_backward"),
                            dict(x=x), dict(kernel_size=k, stride=s, padding=p))
    assert result.ok, str(result)


def test_overlapping_windows_accumulate():
    """k=3, s=2: the shared row/column of two windows can win both and gets both gradients."""
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0  # the centre belongs to all four 3x3 windows
    out, cache = F.max_pool2d_forward(x, 3, 2)
    assert out.shape == (1, 1, 2, 2) and np.all(out == 1.0)
    dx = F.max_pool2d_backward(np.ones_like(out), cache)
    assert dx[0, 0, 2, 2] == 4.0 and dx.sum() == 4.0
    out, cache = F.avg_pool2d_forward(x, 3, 2)
    dx = F.avg_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_allclose(dx[0, 0, 2, 2], 4 / 9)


def test_max_pool_tie_goes_to_first_in_row_major_order():
    x = np.array([[[[1.0, 3.0],
                    [3.0, 3.0]]]])
    out, cache = F.max_pool2d_forward(x, 2)
    dx = F.max_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0.0, 1.0], [0.0, 0.0]])
    # an all-equal window: the top-left element wins
    out, cache = F.max_pool2d_forward(np.full((1, 1, 2, 2), 7.0), 2)
    np.testing.assert_array_equal(F.max_pool2d_backward(np.ones_like(out), cache)[0, 0],
                                  [[1.0, 0.0], [0.0, 0.0]])


def test_max_pool_padding_is_minus_infinity():
    x = -np.ones((1, 1, 2, 2))  # all negative: a zero pad would win if pads were 0
    out, _ = F.max_pool2d_forward(x, 2, stride=1, padding=1)
    assert np.all(out == -1.0)


def test_max_pool_propagates_nan():
    x = np.array([[[[1.0, np.nan], [5.0, 2.0]]]])
    out, _ = F.max_pool2d_forward(x, 2)
    assert np.isnan(out[0, 0, 0, 0])


def test_avg_pool_counts_padding_like_pytorch():
    x = np.ones((1, 1, 2, 2))
    out, _ = F.avg_pool2d_forward(x, 2, stride=1, padding=1)
    # the corner window holds one real pixel and three pads: 1/4, as count_include_pad=True
    assert out[0, 0, 0, 0] == 0.25 and out[0, 0, 1, 1] == 1.0


@pytest.mark.parametrize("op", ["max", "avg"])
def test_pool_float32_preserved(op):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    fwd = getattr(F, f"{op}_pool2d_forward")
    bwd = getattr(F, f"{op}_pool2d_backward")
    out, cache = fwd(x, 2)
    assert out.dtype == np.float32 and bwd(np.ones_like(out), cache).dtype == np.float32


def test_torch_parity_pool():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 7)).astype(np.float32)
    for k, s, p in [(2, 2, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0))]:
        out, _ = F.max_pool2d_forward(x, k, s, p)
        t = torch.nn.functional.max_pool2d(torch.from_numpy(x), k, s, p).numpy()
        np.testing.assert_array_equal(out, t)
        out, _ = F.avg_pool2d_forward(x, k, s, p)
        t = torch.nn.functional.avg_pool2d(torch.from_numpy(x), k, s, p).numpy()
        np.testing.assert_allclose(out, t, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make, error, msg", [
    (lambda: nn.MaxPool2d(0), ValueError, r"MaxPool2d: kernel_size must be >= 1; got 0"),
    (lambda: nn.MaxPool2d(2.0), TypeError, r"kernel_size must be an int or a pair of ints"),
    (lambda: nn.AvgPool2d(2, stride=0), ValueError, r"AvgPool2d: stride must be >= 1; got 0"),
    (lambda: nn.AvgPool2d(2, padding=(0, 2)), ValueError,
     r"padding \(0, 2, 0, 2\) puts a whole window in the padding"),
    (lambda: nn.MaxPool2d(2, ceil_mode=1), TypeError, r"ceil_mode must be True or False"),
    (lambda: nn.MaxPool2d(2, return_indices=True), ValueError, r"return_indices=True is not"),
    (lambda: nn.MaxPool2d(2, dilation=0), ValueError, r"dilation must be >= 1"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError,
     r"divisor_override must be a positive int; got 0"),
    (lambda: nn.AvgPool2d(2, count_include_pad=None), TypeError, r"count_include_pad must be"),
    (lambda: nn.AdaptiveAvgPool2d(0), ValueError, r"output_size must be a positive int; got 0"),
    (lambda: nn.AdaptiveMaxPool2d((2, 2, 2)), TypeError, r"output_size must be an int or a"),
])
def test_pool_layer_constructors_check_their_arguments(make, error, msg):
    with pytest.raises(error, match=msg):
        make()


@st.composite
def window_case(draw, op):
    """Every window option: dilation, padding of any form (up to d(k-1) a side, beyond
    PyTorch's k/2 as ONNX allows), ceil_mode; for average pooling count_include_pad and
    divisor_override.  Cases where a window would hold no input pixel are left out (they are
    an error: tests below)."""
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    spans = [d[a] * (k[a] - 1) for a in (0, 1)]
    form = draw(st.sampled_from(["int", "pair", "four"]))
    if form == "int":
        p = draw(st.integers(0, min(spans)))
    elif form == "pair":
        p = tuple(draw(st.integers(0, spans[a])) for a in (0, 1))
    else:
        p = tuple(draw(st.integers(0, spans[a % 2])) for a in range(4))
    kwargs = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=draw(st.booleans()))
    if op == "avg_pool2d":
        kwargs["count_include_pad"] = draw(st.booleans())
        kwargs["divisor_override"] = draw(st.sampled_from([None, None, 1, 5]))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.permutation(N * C * H * W).reshape(N, C, H, W) / (N * C * H * W)
    try:
        R.__dict__[f"{op}_forward"](x[:1, :1], **kwargs)
    except ValueError:
        assume(False)  # the kernel does not fit, or a window would be all padding
    return x, kwargs


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@settings(max_examples=30)
@given(data=st.data())
def test_pool_options_match_reference_and_gradcheck(op, data):
    x, kwargs = data.draw(window_case(op))
    k = kwargs["kernel_size"]
    per_pixel = k[0] * k[1]  # each tap (i, j) puts a pixel in at most one window
    terms = (0, per_pixel) if op == "max_pool2d" else (k[0] * k[1] + 1, per_pixel + 1)
    check_against_reference(op, x, kwargs, *terms)
    for pair in (F, R) if data.draw(st.booleans()) else (F,):
        result = check_function(getattr(pair, f"{op}_forward"), getattr(pair, f"{op}_backward"),
                                dict(x=x), kwargs)
        assert result.ok, f"{pair.__name__}\n{result}"


@st.composite
def adaptive_case(draw):
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    size = draw(st.one_of(st.integers(1, 10), st.tuples(st.integers(1, 10), st.integers(1, 10)),
                          st.tuples(st.none(), st.integers(1, 10))))
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.permutation(N * C * H * W).reshape(N, C, H, W) / (N * C * H * W), size


@pytest.mark.parametrize("op", ["adaptive_max_pool2d", "adaptive_avg_pool2d"])
@settings(max_examples=20)
@given(case=adaptive_case())
def test_adaptive_pool_matches_reference_and_gradcheck(op, case):
    x, size = case
    H, W = x.shape[2:]
    Ho, Wo = (size, size) if isinstance(size, int) else (size[0] or H, size[1])
    # a window spans at most ceil(H / Ho) + 1 rows; a pixel lies in at most ceil(Ho / H) + 1
    taps = (-(-H // Ho) + 1) * (-(-W // Wo) + 1)
    per_pixel = (-(-Ho // H) + 1) * (-(-Wo // W) + 1)
    terms = (0, per_pixel) if op.startswith("adaptive_max") else (taps + 1, per_pixel + 1)
    check_against_reference(op, x, dict(output_size=size), *terms)
    out, _ = getattr(F, f"{op}_forward")(x, size)
    assert out.shape == (*x.shape[:2], Ho, Wo)
    result = check_function(getattr(F, f"{op}_forward"), getattr(F, f"{op}_backward"),
                            dict(x=x), dict(output_size=size))
    assert result.ok, str(result)


def test_global_pooling_is_the_plane_mean_and_max():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7))
    out, cache = F.adaptive_avg_pool2d_forward(x, 1)
    np.testing.assert_allclose(out, x.mean(axis=(2, 3), keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(F.adaptive_avg_pool2d_backward(np.ones_like(out), cache),
                               np.full(x.shape, 1 / 35), rtol=1e-14)
    out, _ = F.adaptive_max_pool2d_forward(x, (1, 1))
    np.testing.assert_array_equal(out, x.max(axis=(2, 3), keepdims=True))


@pytest.mark.parametrize("shape, kwargs, out_hw", [
    ((4, 4), dict(kernel_size=3, stride=2, ceil_mode=True), (2, 2)),  # ONNX maxpool_2d_ceil
    ((2, 2), dict(kernel_size=1, stride=2, ceil_mode=True), (1, 1)),  # ..._reduce_by_one
    ((2, 2), dict(kernel_size=3, stride=3, padding=1, ceil_mode=True), (1, 1)),  # starts on pad
    ((5, 5), dict(kernel_size=2, stride=2, ceil_mode=True), (3, 3)),
    ((5, 5), dict(kernel_size=2, stride=2), (2, 2)),
    ((4, 4), dict(kernel_size=2, dilation=2, stride=1), (2, 2)),      # ONNX maxpool_2d_dilations
    ((5, 5), dict(kernel_size=3, stride=2, padding=(0, 1, 2, 0)), (3, 2)),
])
def test_pool_output_size_rule(shape, kwargs, out_hw):
    """floor((H + p_t + p_b - d(k-1) - 1) / s) + 1, ceil in ceil_mode unless the last window
    would start past the input and its top padding (PyTorch's and ONNX's rule)."""
    out, _ = F.max_pool2d_forward(np.zeros((1, 1, *shape)), **kwargs)
    assert out.shape[2:] == out_hw


def test_avg_pool_divisors():
    x = np.ones((1, 1, 4, 4))
    # ceil_mode, count_include_pad: the last window (rows 3..5) has 2 taps in the padded input
    out, _ = F.avg_pool2d_forward(x, 3, stride=2, padding=1, ceil_mode=True)
    np.testing.assert_allclose(out[0, 0, 2, 2], 1 / (2 * 2))
    np.testing.assert_allclose(out[0, 0, 0, 0], 4 / 9)
    out, _ = F.avg_pool2d_forward(x, 3, stride=2, padding=1, count_include_pad=False)
    np.testing.assert_allclose(out, 1.0)  # the mean of the in-image pixels: all ones
    out, _ = F.avg_pool2d_forward(x, 2, divisor_override=3)
    np.testing.assert_allclose(out, 4 / 3)


def test_a_window_of_padding_only_is_an_error():
    """k=2, d=3 on 2 rows with padding 1: the window's taps are rows -1 and 2, both padding.
    (PyTorch accepts this and returns -inf with an index outside the input.)"""
    for op in ("max_pool2d", "avg_pool2d"):
        for pair in (F, R):
            with pytest.raises(ValueError, match=r"window 0 along H has no input pixel"):
                getattr(pair, f"{op}_forward")(np.zeros((1, 1, 2, 5)), 2, stride=1,
                                               padding=(1, 0), dilation=(3, 1))


@settings(max_examples=25)
@given(data=st.data())
def test_torch_parity_pool_options(data):
    """max/avg pooling with PyTorch-valid options (padding <= half the kernel):
    output and input gradient as PyTorch's, float32."""
    torch = pytest.importorskip("torch")
    op = data.draw(st.sampled_from(["max_pool2d", "avg_pool2d"]))
    x, kwargs = data.draw(window_case(op))
    k, p = kwargs["kernel_size"], kwargs["padding"]
    if op == "avg_pool2d":
        kwargs["dilation"] = 1
    if isinstance(p, tuple) and len(p) == 4:
        assume(p[:2] == p[2:])
        p = kwargs["padding"] = p[:2]
    ph, pw = (p, p) if isinstance(p, int) else p
    assume(2 * ph <= k[0] and 2 * pw <= k[1])  # PyTorch's rule: at most half the kernel
    try:
        F.__dict__[f"{op}_forward"](x, **kwargs)
    except ValueError:
        assume(False)  # an all-padding window, which PyTorch computes as -inf
    x = x.astype(np.float32)
    out, cache = getattr(F, f"{op}_forward")(x, **kwargs)
    dout = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    dx = getattr(F, f"{op}_backward")(dout, cache)
    tx = torch.from_numpy(x).requires_grad_(True)
    targs = dict(kwargs)
    if op == "avg_pool2d":
        targs.pop("dilation")
    t = getattr(torch.nn.functional, op)(tx, **targs)
    t.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, t.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-5, atol=1e-6)


@settings(max_examples=15)
@given(case=adaptive_case(), op=st.sampled_from(["adaptive_max_pool2d", "adaptive_avg_pool2d"]))
def test_torch_parity_adaptive_pool(case, op):
    torch = pytest.importorskip("torch")
    x, size = case
    x = x.astype(np.float32)
    out, cache = getattr(F, f"{op}_forward")(x, size)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    dx = getattr(F, f"{op}_backward")(dout, cache)
    tx = torch.from_numpy(x).requires_grad_(True)
    t = getattr(torch.nn.functional, op)(tx, size)
    t.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, t.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_pool_layers_pass_their_options():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6)).astype(np.float32)
    layers = [nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
              nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=4),
              nn.AdaptiveAvgPool2d((3, None)), nn.AdaptiveMaxPool2d(2)]
    expected = [F.max_pool2d_forward(x, 3, 2, 1, dilation=2, ceil_mode=True)[0],
                F.avg_pool2d_forward(x, 3, 2, 1, True, False, 4)[0],
                F.adaptive_avg_pool2d_forward(x, (3, 6))[0],
                F.adaptive_max_pool2d_forward(x, 2)[0]]
    for layer, want in zip(layers, expected):
        np.testing.assert_array_equal(layer(x), want)
        result = check_module(layer, x.astype(np.float64))
        assert result.ok, f"{layer}\n{result}"
    assert repr(layers[0]) == ("MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True, "
                               "dilation=2)")
