"""Max and average pooling: numba kernels vs numcnn.reference's loops (float32 and float64),
numerical gradients, the tie rule."""

import numpy as np
import pytest
import rounding
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn import reference as R
from numcnn.gradcheck import check_function


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
