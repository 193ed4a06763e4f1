"""How far two correct implementations of the same sums may differ by rounding alone.

Two orders of summing the same n terms t_k each land within gamma_n * sum|t_k| of the exact
sum (Higham, "Accuracy and Stability of Numerical Algorithms", 3.1), gamma_n = n u / (1 - n u)
with u = eps / 2, so they differ by at most 2 gamma_n * sum|t_k|.  sum|t_k| is the same
linear op evaluated on the absolute values of its inputs, in float64.
"""

import numpy as np


def bound(n_terms: int, dtype, magnitude: np.ndarray) -> np.ndarray:
    """2 gamma_n * magnitude for sums of ``n_terms`` terms computed in ``dtype``."""
    u = np.finfo(dtype).eps / 2
    return 2 * n_terms * u / (1 - n_terms * u) * np.asarray(magnitude, dtype=np.float64)


def assert_within(actual, expected, n_terms: int, magnitude, what: str = "") -> None:
    """actual and expected share a dtype and differ by no more than rounding can explain."""
    assert actual.dtype == expected.dtype, f"{what}: {actual.dtype} vs {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: {actual.shape} vs {expected.shape}"
    err = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    limit = bound(n_terms, actual.dtype, magnitude)
    bad = err > limit
    if bad.any():
        k = np.argmax(np.where(bad, err - limit, -np.inf))
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} entries differ beyond "
                             f"rounding, e.g. by {err.flat[k]:.3g} where {limit.flat[k]:.3g} "
                             f"is allowed")
