"""Segmentation scenes made of real handwritten digits (scikit-learn's 8x8 digits).

Each canvas holds 1 to 3 upscaled digits at random, non-overlapping places; the mask gives
every stroke pixel its digit's class + 1 (0 is background), so a network must both find
and read the digits: 11 classes.
"""

from __future__ import annotations

import numpy as np

from .._validate import integer
from ._common import MAX_OBJECTS, check_fraction, check_seed, check_size, place_boxes
from .digits import load_digits


def load_digit_scenes(n: int, size: int = 64, seed: int = 0, scale: int = 3,
                      max_digits: int = 3, threshold: float = 0.5,
                      split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """``n`` canvases with 1..``max_digits`` digits each, and their stroke masks.

    Parameters
    ----------
    n : int
        Number of canvases (>= 1).
    size : int
        Canvas side; at least ``8 * scale`` so that one digit fits.
    seed : int
        Seeds the choice of digits, their number and places: same seed, same scenes.
    scale : int
        Each 8x8 digit is enlarged ``scale`` times by pixel repetition (no interpolation).
    max_digits : int
        At most this many digits per canvas (fewer if they do not fit without overlap);
        at most 100.
    threshold : float
        A pixel of a digit is a stroke (labelled) where its intensity is above this.
    split : {"all", "train", "test"}
        Which digits to draw from (``load_digits``' split): scenes for validation can use
        digits never seen in training.

    Returns
    -------
    x : ndarray, float32, shape (n, 1, size, size), values in [0, 1]
    y : ndarray, int64, shape (n, size, size); 0 background, 1 + digit class on strokes

    Both together may take at most 1 GiB (about 20 000 canvases of 64 x 64).
    """
    op = "load_digit_scenes"
    n = integer(op, "n", n)
    scale = integer(op, "scale", scale)
    size = integer(op, "size", size, 8 * scale)
    max_digits = integer(op, "max_digits", max_digits, 1, MAX_OBJECTS)
    threshold = check_fraction(op, "threshold", threshold)
    seed = check_seed(op, seed)
    check_size(op, n, size)
    if split not in ("all", "train", "test"):
        raise ValueError(f"{op}: split must be one of ('all', 'train', 'test'); got {split!r}")
    digits, labels = load_digits(split=split)
    side = 8 * scale
    big = digits[:, 0].repeat(scale, axis=1).repeat(scale, axis=2)  # (M, side, side)
    rng = np.random.default_rng(seed)
    x = np.zeros((n, size, size), dtype=np.float32)
    y = np.zeros((n, size, size), dtype=np.int64)
    for i in range(n):  # one iteration per canvas, each digit pasted as a block
        k = int(rng.integers(1, max_digits + 1))
        picks = rng.integers(len(big), size=k)
        for top, left, j in place_boxes(rng, size, [side] * k):
            d = big[picks[j]]
            region = (i, slice(top, top + side), slice(left, left + side))
            x[region] = d
            y[region] = np.where(d > threshold, labels[picks[j]] + 1, 0)
    return x[:, None], y
