"""Small helpers shared by the dataset loaders: argument checks and optional imports."""

from __future__ import annotations

import numpy as np

from .._validate import integer, real

INSTALL_HINT = "pip install 'numcnn[data]'"
MAX_BYTES = 2 ** 30  # what a generated data set may take: far beyond any teaching size
MAX_OBJECTS = 100  # shapes or digits per image: more never fit at the smallest sizes


def check_int(op: str, name: str, v, minimum: int) -> int:
    """``numcnn._validate.integer`` (kept for nuclei.py; new code calls that directly)."""
    return integer(op, name, v, minimum)


def check_fraction(op: str, name: str, v) -> float:
    """``v`` must be a finite number strictly between 0 and 1."""
    return real(op, name, v, 0.0, 1.0, min_open=True, max_open=True)


def check_seed(op: str, seed) -> int:
    """A seed is a non-negative int (what ``numpy.random.default_rng`` takes)."""
    return integer(op, "seed", seed, 0)


def check_size(op: str, n: int, size: int) -> None:
    """Refuse ``n`` float32 images and int64 masks of ``size`` x ``size`` that would take
    more than ``MAX_BYTES``, before allocating them."""
    nbytes = n * size * size * (4 + 8)
    if nbytes > MAX_BYTES:
        raise ValueError(f"{op}: n={n} images of {size}x{size} would take "
                         f"{nbytes / 2**30:.1f} GiB, more than the {MAX_BYTES / 2**30:.0f} GiB "
                         f"a generated data set may take; ask for fewer or smaller images")


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
