"""Batch norm: numba kernels vs the textbook formulas, numerical gradients, float32 accuracy."""

import numpy as np
import pytest
import reference as ref
from hypothesis import assume, given
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn.gradcheck import check_function


@st.composite
def bn_case(draw):
    N, C = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    spatial = draw(st.sampled_from([(), (1, 1), (3, 1), (2, 5), (4, 4)]))
    # three values per channel: with two, they normalise to -1 and +1 whatever x is, so dx
    # is only eps-sized (~1e-4) and a central difference of it measures rounding noise
    assume(N * int(np.prod(spatial)) >= 3)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((N, C, *spatial)) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)
    return x, rng.standard_normal(C), rng.standard_normal(C), rng


@given(bn_case())
def test_training_matches_formulas_and_gradcheck(case):
    x, gamma, beta, rng = case
    rm, rv = np.zeros(x.shape[1]), np.ones(x.shape[1])
    out, cache = F.batch_norm_forward(x, gamma, beta, rm, rv, training=True, momentum=0.1)
    expected, mu, var = ref.batch_norm(x, gamma, beta)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    M = x.size // x.shape[1]
    np.testing.assert_allclose(rm, 0.1 * mu, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * var * M / (M - 1), rtol=1e-12)
    dy = rng.standard_normal(x.shape)
    for got, want in zip(F.batch_norm_backward(dy, cache), ref.batch_norm_backward(dy, x, gamma)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)
    result = check_function(F.batch_norm_forward, F.batch_norm_backward,
                            dict(x=x, gamma=gamma, beta=beta), dict(training=True))
    assert result.ok, str(result)


@given(bn_case())
def test_eval_matches_formulas_and_gradcheck(case):
    x, gamma, beta, rng = case
    C = x.shape[1]
    rm, rv = rng.standard_normal(C), rng.uniform(0.2, 2.0, C)
    out, cache = F.batch_norm_forward(x, gamma, beta, rm.copy(), rv.copy(), training=False)
    np.testing.assert_allclose(out, ref.batch_norm(x, gamma, beta, rm, rv)[0], rtol=1e-10,
                               atol=1e-12)
    dy = rng.standard_normal(x.shape)
    want = ref.batch_norm_backward(dy, x, gamma, training=False, mean=rm, var=rv)
    for got, w in zip(F.batch_norm_backward(dy, cache), want):
        np.testing.assert_allclose(got, w, rtol=1e-9, atol=1e-10)
    result = check_function(F.batch_norm_forward, F.batch_norm_backward,
                            dict(x=x, gamma=gamma, beta=beta),
                            dict(running_mean=rm, running_var=rv, training=False))
    assert result.ok, str(result)


@pytest.mark.parametrize("offset", [0.0, 1e2, 1e4])
def test_float32_stays_float32_and_accurate(offset):
    """float32 in, float32 out, within float32 rounding of the float64 formulas.  Rounding
    x - mu in float32 costs up to eps32 * |x| against a spread of 0.5, so the bound grows
    with the offset; a one-pass variance E[x^2] - E[x]^2 in float32 would be off by O(1)
    at offset 1e4 (eps32 * 1e8 against a variance of 0.25)."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((8, 16, 32, 32)) * 0.5 + offset).astype(np.float32)
    gamma = rng.standard_normal(16).astype(np.float32)
    beta = rng.standard_normal(16).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    out, cache = F.batch_norm_forward(x, gamma, beta)
    grads = F.batch_norm_backward(dy, cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    x64, g64 = x.astype(np.float64), gamma.astype(np.float64)
    bound = 20 * np.finfo(np.float32).eps * (1 + offset / 0.5)
    wants = [ref.batch_norm(x64, g64, beta.astype(np.float64))[0],
             *ref.batch_norm_backward(dy, x64, g64)]
    for got, want in zip([out, *grads], wants):
        assert np.abs(got - want).max() <= bound * np.abs(want).max()


def test_dout_of_the_wrong_shape():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    _, cache = F.batch_norm_forward(x, np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape "
                                         r"\(2, 3, 4, 4\); got \(2, 3, 16\)"):
        F.batch_norm_backward(np.ones((2, 3, 16)), cache)


def test_empty_batch():
    """Eval mode passes an empty batch through; training says why it cannot."""
    x = np.zeros((0, 3, 4, 4), np.float32)
    g, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    out, cache = F.batch_norm_forward(x, g, b, np.zeros(3, np.float32), np.ones(3, np.float32),
                                      training=False)
    dx, dgamma, dbeta = F.batch_norm_backward(out, cache)
    assert out.shape == dx.shape == x.shape and np.all(dgamma == 0) and np.all(dbeta == 0)
    with pytest.raises(ValueError, match=r"more than one value per channel.*\(0, 3, 4, 4\)"):
        F.batch_norm_forward(x, g, b)
