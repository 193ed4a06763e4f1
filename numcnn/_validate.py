"""The scalar argument checks every floor shares: one place that says what an int or a
number argument must be.

Each raises ``TypeError`` (wrong kind) or ``ValueError`` (out of range) with
``"<op>: <name> must be <what>; got <what arrived>"``.  Array checks live in
``numcnn.functional._validate``.
"""

from __future__ import annotations

import math
import numbers


def _describe_int(minimum: int | None, maximum: int | None) -> str:
    if maximum is None:
        return {1: "a positive int", 0: "a non-negative int"}.get(
            minimum, "an int" if minimum is None else f"an int >= {minimum}")
    return f"an int in [{minimum}, {maximum}]"


def integer(op: str, name: str, value, minimum: int | None = 1,
            maximum: int | None = None) -> int:
    """``value`` as a Python int, if it is an integer (NumPy ints too, not bool) within
    [minimum, maximum]; the default is a positive int."""
    what = _describe_int(minimum, maximum)
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be {what}; got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{op}: {name} must be {what}; got {value!r}")
    return value


def real(op: str, name: str, value, minimum: float | None = None,
         maximum: float | None = None, *, min_open: bool = False,
         max_open: bool = False) -> float:
    """``value`` as a Python float, if it is a finite real number (not bool) within the
    range; ``min_open`` / ``max_open`` exclude the ends (``real(op, "lr", lr, 0)`` accepts
    0, ``real(op, "eps", eps, 0, min_open=True)`` does not)."""
    lo = "" if minimum is None else ("(" if min_open else "[") + f"{minimum}"
    hi = "" if maximum is None else f"{maximum}" + (")" if max_open else "]")
    what = "a finite number" + (f" in {lo or '(-inf'}, {hi or 'inf)'}" if lo or hi else "")
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be {what}; got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{op}: {name} must be {what}; got {value!r}")
    if minimum is not None and (value < minimum or (min_open and value == minimum)):
        raise ValueError(f"{op}: {name} must be {what}; got {value!r}")
    if maximum is not None and (value > maximum or (max_open and value == maximum)):
        raise ValueError(f"{op}: {name} must be {what}; got {value!r}")
    return value
