"""Small helpers shared by the dataset loaders: argument checks and optional imports."""

from __future__ import annotations

import numbers

import numpy as np

INSTALL_HINT = "pip install 'numcnn[data]'"


def check_int(op: str, name: str, v, minimum: int) -> int:
    """``v`` must be an int >= ``minimum``; return it as a Python int."""
    if not isinstance(v, numbers.Integral) or isinstance(v, bool):
        raise TypeError(f"{op}: {name} must be an int; got {type(v).__name__} {v!r}")
    if v < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}; got {v}")
    return int(v)


def check_fraction(op: str, name: str, v) -> float:
    """``v`` must be a number strictly between 0 and 1."""
    if not isinstance(v, numbers.Real) or not 0.0 < float(v) < 1.0:
        raise ValueError(f"{op}: {name} must be a fraction strictly between 0 and 1; got {v!r}")
    return float(v)


def place_boxes(rng: np.random.Generator, canvas: int, sizes: list[int],
                tries: int = 20) -> list[tuple[int, int, int]]:
    """Top-left corners for square boxes of ``sizes`` on a ``canvas`` x ``canvas`` image.

    Each box is tried at up to ``tries`` uniform positions and kept at the first that does
    not overlap a box already placed; a box that never fits is left out.  Returns
    ``(top, left, index_into_sizes)`` for the boxes kept (the first always fits).
    """
    placed: list[tuple[int, int, int]] = []
    for i, s in enumerate(sizes):
        for _ in range(tries):
            top, left = (int(v) for v in rng.integers(0, canvas - s + 1, size=2))
            if all(top + s <= t or t + sizes[j] <= top or left + s <= l or l + sizes[j] <= left
                   for t, l, j in placed):
                placed.append((top, left, i))
                break
    return placed
