"""scikit-learn's 8x8 handwritten digits (1797 images, bundled with scikit-learn)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._common import INSTALL_HINT, check_fraction, check_seed

SPLITS = ("train", "test", "all")


@lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """Images (1797, 8, 8) float64 in 0..16 and labels, read once per process."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as e:
        raise ImportError(f"load_digits needs scikit-learn: {INSTALL_HINT}") from e
    d = sk_load_digits()
    images, target = d.images, d.target.astype(np.int64)
    images.setflags(write=False)
    target.setflags(write=False)
    return images, target


def split_indices(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """A stratified train/test split: ``test_fraction`` of each class goes to test.

    Returns sorted index arrays ``(train_idx, test_idx)``, the same for the same seed.
    """
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):  # one loop per class (10), not per sample
        idx = np.flatnonzero(labels == c)
        k = int(round(test_fraction * len(idx)))
        test.append(rng.permutation(idx)[:k])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx


def load_digits(split: str = "all", test_fraction: float = 0.2,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits as images in [0, 1].

    Parameters
    ----------
    split : {"train", "test", "all"}
        ``"train"`` and ``"test"`` are disjoint and together make ``"all"``.
    test_fraction : float
        Share of every class held out for ``"test"`` (stratified split).
    seed : int
        Seeds the split; the same seed always gives the same split.

    Returns
    -------
    x : ndarray, float32, shape (N, 1, 8, 8), values in [0, 1] (scikit-learn's 0..16 / 16)
    y : ndarray, int64, shape (N,), classes 0..9

    Raises
    ------
    ImportError
        If scikit-learn is not installed (``pip install 'numcnn[data]'``).
    """
    op = "load_digits"
    if split not in SPLITS:
        raise ValueError(f"{op}: split must be one of {SPLITS}; got {split!r}")
    test_fraction = check_fraction(op, "test_fraction", test_fraction)
    seed = check_seed(op, seed)
    images, labels = _raw_digits()
    if split == "all":
        idx = np.arange(len(labels))
    else:
        train_idx, test_idx = split_indices(labels, test_fraction, seed)
        idx = train_idx if split == "train" else test_idx
        if len(idx) == 0:
            raise ValueError(f"{op}: test_fraction={test_fraction} leaves the {split} split "
                             f"empty (each class has about {len(labels) // 10} images); use "
                             f"a fraction nearer 0.5")
    x = (images[idx] / 16.0).astype(np.float32)[:, None]
    return x, labels[idx].copy()
