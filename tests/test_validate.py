"""The shared scalar checks: what they accept, and the messages they give."""

import numpy as np
import pytest

from numcnn._validate import integer, real


def test_integer_accepts_python_and_numpy_ints():
    assert integer("op", "n", 3) == 3
    assert type(integer("op", "n", np.int64(3))) is int
    assert integer("op", "n", 0, minimum=0) == 0


@pytest.mark.parametrize("value, error, message", [
    (0, ValueError, "op: n must be a positive int; got 0"),
    (-2, ValueError, "op: n must be a positive int; got -2"),
    (3.0, TypeError, "op: n must be a positive int; got 3.0"),
    (True, TypeError, "op: n must be a positive int; got True"),
    ("3", TypeError, "op: n must be a positive int; got '3'"),
])
def test_integer_refuses(value, error, message):
    with pytest.raises(error) as e:
        integer("op", "n", value)
    assert str(e.value) == message


def test_integer_ranges_are_named():
    with pytest.raises(ValueError, match=r"n must be a non-negative int; got -1"):
        integer("op", "n", -1, minimum=0)
    with pytest.raises(ValueError, match=r"n must be an int in \[1, 4\]; got 5"):
        integer("op", "n", 5, maximum=4)


def test_real_accepts_ints_and_floats():
    assert real("op", "lr", 1) == 1.0 and type(real("op", "lr", np.float32(0.5))) is float
    assert real("op", "lr", 0, 0) == 0.0


@pytest.mark.parametrize("value, kwargs, error, message", [
    (float("nan"), {}, ValueError, "op: x must be a finite number; got nan"),
    (float("inf"), {"minimum": 0}, ValueError, r"op: x must be a finite number in \[0, inf\)"),
    (-1.0, {"minimum": 0}, ValueError, r"in \[0, inf\); got -1.0"),
    (0.0, {"minimum": 0, "min_open": True}, ValueError, r"in \(0, inf\); got 0.0"),
    (1.0, {"minimum": 0, "maximum": 1, "max_open": True}, ValueError, r"in \[0, 1\); got 1.0"),
    ("0.1", {}, TypeError, "op: x must be a finite number; got '0.1'"),
    (None, {}, TypeError, "op: x must be a finite number; got None"),
    (False, {}, TypeError, "got False"),
])
def test_real_refuses(value, kwargs, error, message):
    with pytest.raises(error, match=message):
        real("op", "x", value, **kwargs)
