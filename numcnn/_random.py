"""The one global random generator numcnn falls back on when no ``rng=`` is given."""

from __future__ import annotations

import numpy as np

_global_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed numcnn's global generator (used by layers built without ``rng=``)."""
    global _global_rng
    _global_rng = np.random.default_rng(seed)
    return _global_rng


def default_rng(rng: np.random.Generator | int | None = None) -> np.random.Generator:
    """Return ``rng`` itself, a new generator seeded with an int, or the global generator."""
    if rng is None:
        return _global_rng
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None; got {type(rng)}")
