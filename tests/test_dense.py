"""Linear layer and activations: numerical gradients, formulas, dtypes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn import nn
from numcnn.gradcheck import check_function


@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 5), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_linear_gradcheck_and_formula(n, fin, fout, bias, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((n, fin)), rng.standard_normal((fout, fin))
    b = rng.standard_normal(fout) if bias else None
    out, _ = F.linear_forward(x, w, b)
    expected = np.array([[sum(x[i, k] * w[f, k] for k in range(fin)) + (b[f] if bias else 0)
                          for f in range(fout)] for i in range(n)])
    # rounding is relative to the terms summed, not to the sum (which can cancel to ~0)
    scale = np.abs(x) @ np.abs(w).T + (np.abs(b) if bias else 0)
    assert np.all(np.abs(out - expected) <= 1e-13 * scale)
    inputs = dict(x=x, w=w) if b is None else dict(x=x, w=w, b=b)
    result = check_function(F.linear_forward, F.linear_backward, inputs)
    assert result.ok, str(result)


def test_linear_leading_axes():
    rng = np.random.default_rng(0)
    result = check_function(F.linear_forward, F.linear_backward,
                            dict(x=rng.standard_normal((2, 3, 4)), w=rng.standard_normal((5, 4)),
                                 b=rng.standard_normal(5)))
    assert result.ok, str(result)


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@given(seed=st.integers(0, 2**32 - 1), shape=st.sampled_from([(3,), (2, 5), (2, 3, 4, 4)]))
def test_activation_formula_and_gradcheck(name, seed, shape):
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink of relu / leaky relu
    fwd, bwd = getattr(F, f"{name}_forward"), getattr(F, f"{name}_backward")
    out, _ = fwd(x)
    np.testing.assert_allclose(out, ACTIVATIONS[name](x), rtol=1e-12, atol=1e-15)
    result = check_function(fwd, bwd, dict(x=x))
    assert result.ok, str(result)


def test_leaky_relu_slope_argument():
    x = np.array([-2.0, 3.0])
    out, cache = F.leaky_relu_forward(x, negative_slope=0.2)
    np.testing.assert_allclose(out, [-0.4, 3.0])
    np.testing.assert_allclose(F.leaky_relu_backward(np.ones(2), cache), [0.2, 1.0])


def test_sigmoid_is_finite_at_extremes():
    out, cache = F.sigmoid_forward(np.array([-1e4, 0.0, 1e4]))
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0])
    assert np.all(np.isfinite(F.sigmoid_backward(np.ones(3), cache)))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_activation_float32(name):
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    out, cache = getattr(F, f"{name}_forward")(x)
    dx = getattr(F, f"{name}_backward")(np.ones_like(out), cache)
    assert out.dtype == np.float32 and dx.dtype == np.float32


def test_linear_float32():
    x = np.ones((2, 3), np.float32)
    out, cache = F.linear_forward(x, np.ones((4, 3), np.float32), np.ones(4, np.float32))
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in F.linear_backward(np.ones_like(out), cache))


def test_layer_and_argument_errors():
    for make, err, msg in [
        (lambda: nn.Linear(4, -1), ValueError, "Linear: out_features must be a positive int; "
                                               "got -1"),
        (lambda: nn.Linear(4.0, 2), TypeError, "in_features must be a positive int; got 4.0"),
        (lambda: nn.Linear(4, 2, bias=None), TypeError, "bias must be True or False"),
        (lambda: nn.Linear(4, 2, dtype=np.int64), TypeError, "dtype must be a floating-point"),
        (lambda: nn.LeakyReLU(negative_slope="a"), TypeError,
         "LeakyReLU: negative_slope must be a finite number; got 'a'"),
        (lambda: nn.Flatten(start_dim="1"), TypeError, "start_dim must be an int"),
        (lambda: F.leaky_relu_forward(np.ones(2), negative_slope=None), TypeError,
         "negative_slope must be a finite number; got None"),
        (lambda: F.leaky_relu_forward(np.ones(2), negative_slope=float("inf")), ValueError,
         "negative_slope must be a finite number; got inf"),
        (lambda: F.relu_backward(np.ones(2), None), TypeError, "cache must be the output"),
        (lambda: F.linear_backward(np.ones(2), (1, 2, 3, 4)), TypeError,
         "cache must be the LinearCache"),
    ]:
        with pytest.raises(err, match=msg):
            make()


def test_flatten_checks_its_input_and_dout():
    flat = nn.Flatten()
    x = np.zeros((2, 3, 4), np.float32)
    assert flat(x).shape == (2, 12)
    with pytest.raises(ValueError, match=r"Flatten.backward: dout must have the forward "
                                         r"output's shape \(2, 12\); got \(2, 3, 4\)"):
        flat.backward(x)
    assert flat.backward(np.ones((2, 12), np.float32)).shape == (2, 3, 4)
    with pytest.raises(ValueError, match=r"start_dim=3 is not an axis of the input of shape"):
        nn.Flatten(3)(x)
    assert nn.Flatten(-2)(x).shape == (2, 12)
    assert nn.Flatten()(np.zeros((0, 3, 4), np.float32)).shape == (0, 12)
