"""The public gradcheck tool catches broken backwards and reports them readably."""

import numpy as np

from numcnn import functional as F
from numcnn.gradcheck import check_function, numerical_gradient, relative_error


def test_numerical_gradient_of_known_function():
    x = np.array([0.3, -1.2, 2.0])
    g = numerical_gradient(lambda v: v ** 3, x, np.array([1.0, 2.0, -1.0]))
    np.testing.assert_allclose(g, 3 * x ** 2 * [1.0, 2.0, -1.0], rtol=1e-8)
    assert x.tolist() == [0.3, -1.2, 2.0]  # the point itself is untouched


def test_broken_backward_is_caught_and_named():
    def bad_backward(dout, cache):
        dx, dw, db = F.linear_backward(dout, cache)
        return dx, dw * 1.01, db  # a 1% error in dw only

    rng = np.random.default_rng(0)
    result = check_function(F.linear_forward, bad_backward,
                            dict(x=rng.standard_normal((3, 4)), w=rng.standard_normal((2, 4)),
                                 b=rng.standard_normal(2)))
    assert not result.ok
    assert result.errors["x"] < 1e-8 and result.errors["b"] < 1e-8
    assert result.errors["w"] > 1e-3
    text = str(result)
    assert "FAILED" in text and "w" in text and "> rtol" in text


def test_random_upstream_gradient_catches_what_ones_would_miss():
    # backward that returns the gradient of sum(out): right only for dout = ones
    def lazy_backward(dout, cache):
        return np.ones_like(cache)

    def forward(x):
        return x.copy(), x

    result = check_function(forward, lazy_backward, dict(x=np.arange(4.0)))
    assert not result.ok


def test_mutating_backward_is_reported():
    def forward(x):
        return 2 * x, None

    def mutating_backward(dout, cache):
        dout *= 2
        return dout

    result = check_function(forward, mutating_backward, dict(x=np.ones(3)))
    assert not result.ok
    assert any("dout" in p for p in result.problems)


def test_float32_inputs_are_checked_in_float64():
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    result = check_function(F.tanh_forward, F.tanh_backward, dict(x=x))
    assert result.ok and result.errors["x"] < 1e-8


def test_relative_error_scale():
    assert relative_error(np.array([1.0, 0.0]), np.array([1.0, 1e-7])) == 1e-7
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    # a gradient that is zero in exact arithmetic, seen through rounding noise
    assert relative_error(np.full(2, 1e-17), np.full(2, 1e-10)) > 0.99
    assert relative_error(np.full(2, 1e-17), np.full(2, 1e-10), floor=1e-4) < 1e-6
