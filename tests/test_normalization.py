"""Batch norm and dropout: numba kernels vs the textbook formulas (numcnn.reference),
numerical gradients, float32 accuracy, and what bad arguments get."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn import nn
from numcnn.gradcheck import check_function
from numcnn.reference import normalization as ref


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
    expected, ref_cache = ref.batch_norm_forward(x, gamma, beta)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    axes = (0, *range(2, x.ndim))
    M = x.size // x.shape[1]
    np.testing.assert_allclose(rm, 0.1 * x.mean(axis=axes), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(axis=axes) * M / (M - 1), rtol=1e-12)
    dy = rng.standard_normal(x.shape)
    for got, want in zip(F.batch_norm_backward(dy, cache), ref.batch_norm_backward(dy, ref_cache)):
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
    expected, ref_cache = ref.batch_norm_forward(x, gamma, beta, rm, rv, training=False)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    dy = rng.standard_normal(x.shape)
    want = ref.batch_norm_backward(dy, ref_cache)
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
    want, ref_cache = ref.batch_norm_forward(x64, g64, beta.astype(np.float64))
    wants = [want, *ref.batch_norm_backward(dy.astype(np.float64), ref_cache)]
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


def test_batch_norm_argument_errors():
    x = np.zeros((2, 3, 4, 4), np.float32)
    g, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    cases = [
        (dict(running_mean=np.zeros(2, np.float32), running_var=rv), ValueError,
         r"running_mean must have one entry per channel, shape \(3,\); got \(2,\)"),
        (dict(running_mean=rm, running_var=np.ones((3, 1), np.float32)), ValueError,
         r"running_var must be 1-D"),
        (dict(running_mean=rm), ValueError, "give both running_mean and running_var"),
        (dict(running_mean=rm, running_var=rv.astype(np.float64)), TypeError,
         "running_var has dtype float64 but x has float32"),
        (dict(running_mean=list(rm), running_var=rv), TypeError,
         "running_mean must be a numpy array"),
        (dict(momentum=float("nan")), ValueError, r"momentum must be a finite number in "
                                                  r"\[0.0, 1.0\]; got nan"),
        (dict(eps=-1.0), ValueError, r"eps must be a finite number in \(0.0, inf\); got -1.0"),
        (dict(eps="1e-5"), TypeError, "eps must be a finite number"),
        (dict(training="yes"), TypeError, "training must be True or False"),
    ]
    for kw, err, msg in cases:
        with pytest.raises(err, match=msg):
            F.batch_norm_forward(x, g, b, **kw)
    for dtype in (np.float16, np.longdouble):
        with pytest.raises(TypeError, match=r"x must be float32 or float64 .*got dtype"):
            F.batch_norm_forward(x.astype(dtype), g.astype(dtype), b.astype(dtype))
    with pytest.raises(TypeError, match="x must be a floating-point array"):
        F.batch_norm_forward(x.astype(np.complex64), g, b)
    with pytest.raises(TypeError, match="cache must be the BatchNormCache"):
        F.batch_norm_backward(x, (x, x))


def test_batch_norm_layer_arguments():
    for kw, err, msg in [
        (dict(momentum=float("nan")), ValueError, "BatchNorm2d: momentum must be a finite number"),
        (dict(eps=-1), ValueError, r"BatchNorm2d: eps must be a finite number in \(0.0, inf\)"),
        (dict(num_features=0), ValueError, "num_features must be a positive int; got 0"),
        (dict(num_features=2.0), TypeError, "num_features must be a positive int; got 2.0"),
        (dict(dtype=np.float16), TypeError, "dtype must be float32 or float64"),
        (dict(dtype="int32"), TypeError, "dtype must be a floating-point type"),
    ]:
        with pytest.raises(err, match=msg):
            nn.BatchNorm2d(**{"num_features": 3, **kw})
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match="expected input"):
        bn(np.zeros((2, 4, 2, 2), np.float32))
    assert int(bn.num_batches_tracked) == 0  # a refused forward changes no state


def test_dropout_arguments_and_no_upcast():
    x = np.ones((3, 4), np.float32)
    out, cache = F.dropout_forward(x, 0.5, mask=np.ones((3, 4), bool))
    assert out.dtype == np.float32 and F.dropout_backward(out, cache).dtype == np.float32
    with pytest.raises(TypeError, match=r"mask must be a boolean array .*got int64"):
        F.dropout_forward(x, 0.5, mask=np.ones((3, 4), np.int64))
    with pytest.raises(ValueError, match=r"mask must have x's shape \(3, 4\); got \(4, 3\)"):
        F.dropout_forward(x, 0.5, mask=np.ones((4, 3), bool))
    for p, err in [(1.0, ValueError), (-0.1, ValueError), ("0.5", TypeError),
                   (float("nan"), ValueError), (True, TypeError)]:
        with pytest.raises(err, match=r"p \(the drop probability\) must be a finite number in "
                                      r"\[0.0, 1.0\)"):
            F.dropout_forward(x, p, rng=np.random.default_rng(0))
        with pytest.raises(err, match=r"Dropout: p \(the drop probability\)"):
            nn.Dropout(p)
    with pytest.raises(TypeError, match="training mode needs rng="):
        F.dropout_forward(x, 0.5)
    for training in (True, False):  # the eval cache knows the shape too
        _, cache = F.dropout_forward(x, 0.5, training, rng=np.random.default_rng(0))
        with pytest.raises(ValueError, match=r"dout must have the forward output's shape "
                                             r"\(3, 4\); got \(4, 3\)"):
            F.dropout_backward(np.ones((4, 3), np.float32), cache)
        with pytest.raises(TypeError, match="dout must have the forward output's dtype"):
            F.dropout_backward(np.ones((3, 4)), cache)
