"""Gradient checking: compare a hand-written backward with central differences.

For an op y = f(x) and a random upstream gradient g (same shape as y), the backward must
return dL/dx for L = <f(x), g> = sum(f(x) * g).  The numerical estimate is

    dL/dx_k ~ (L(x + eps e_k) - L(x - eps e_k)) / (2 eps),

whose error is O(eps^2) truncation plus O(machine_eps / eps) rounding: in float64 with
eps = 1e-6 both are ~1e-10 relative, so a correct backward shows errors around 1e-9 and a
wrong one errors near 1.  See docs/gradcheck.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass
class GradcheckResult:
    """Outcome of a check: ``errors`` maps each checked name to its relative error."""

    errors: dict[str, float]
    rtol: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(e <= self.rtol for e in self.errors.values())

    def __str__(self) -> str:
        width = max([len(n) for n in self.errors] + [4])
        lines = [f"{'name':<{width}}  rel. error  {'ok' if self.ok else 'FAILED'}"]
        for name, err in self.errors.items():
            flag = "ok" if err <= self.rtol else f"> rtol {self.rtol:.0e}"
            lines.append(f"{name:<{width}}  {err:10.2e}  {flag}")
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)

    def __bool__(self) -> bool:
        return self.ok


def relative_error(analytic: np.ndarray, numerical: np.ndarray, floor: float = 1e-8) -> float:
    """max|a - n| / max(max|a|, max|n|, floor): the worst deviation relative to the scale of
    the gradient.

    An element-wise ratio would flag tiny entries whose absolute error is at rounding level,
    so the scale is taken over the whole array; ``floor`` does the same for a gradient that
    is zero in exact arithmetic (a constant function) and ~1e-17 in floating point.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numerical, dtype=np.float64)
    if a.size == 0:
        return 0.0
    scale = max(np.abs(a).max(), np.abs(n).max(), floor)
    return float(np.abs(a - n).max() / scale)


def numerical_gradient(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout,
                       eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of L(x) = sum(f(x) * dout) with respect to x, in float64.

    Parameters
    ----------
    f : callable taking an array shaped like x and returning an array shaped like dout
    x : the point; a float64 copy is perturbed, x itself is never modified
    dout : upstream gradient, the shape of f(x) (a scalar for a scalar f)

    Returns
    -------
    grad : float64 array of x's shape
    """
    xp = np.array(x, dtype=np.float64)
    dout = np.asarray(dout, dtype=np.float64)
    flat = xp.reshape(-1)  # a view: writing into it perturbs xp
    grad = np.empty(flat.shape, dtype=np.float64)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        plus = float(np.sum(np.asarray(f(xp), dtype=np.float64) * dout))
        flat[k] = old - eps
        minus = float(np.sum(np.asarray(f(xp), dtype=np.float64) * dout))
        flat[k] = old
        grad[k] = (plus - minus) / (2 * eps)
    return grad.reshape(xp.shape)


def _is_float(v) -> bool:
    return isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)


def check_function(forward: Callable, backward: Callable, inputs: Mapping[str, np.ndarray],
                   kwargs: Mapping | None = None, seed: int = 0, rtol: float = 1e-6,
                   eps: float = 1e-6) -> GradcheckResult:
    """Check a functional pair ``out, cache = forward(**inputs, **kwargs)``,
    ``grads = backward(dout, cache)`` numerically, in float64.

    Floating-point inputs are cast to float64 and differentiated; other inputs (integer
    targets) are passed through.  ``backward`` returns one gradient or a tuple whose entries
    are matched, in order, with the floating-point inputs (extra trailing entries, such as a
    ``db`` of None, are ignored).  The upstream gradient is random normal (seeded), so that
    errors which cancel under an all-ones gradient still show.  The check also fails when
    backward changes its ``dout`` or an input in place, or returns a gradient of the wrong
    shape.

    Returns
    -------
    GradcheckResult with ``.ok``, ``.errors`` (name -> relative error) and a readable str().
    """
    kwargs = dict(kwargs or {})
    x64 = {k: (v.astype(np.float64) if _is_float(v) else v) for k, v in inputs.items()}
    names = [k for k, v in x64.items() if _is_float(v)]
    if not names:
        raise ValueError("check_function: inputs has no floating-point array to differentiate")
    snapshot = {k: np.copy(v) for k, v in x64.items() if isinstance(v, np.ndarray)}

    out, cache = forward(**x64, **kwargs)
    out = np.asarray(out, dtype=np.float64)
    rng = np.random.default_rng(seed)
    dout = rng.standard_normal(out.shape)
    dout_arg = dout.copy() if out.ndim else float(dout)
    grads = backward(dout_arg, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)

    problems = []
    if out.ndim and not np.array_equal(dout_arg, dout):
        problems.append("backward modified its dout argument in place")
    for k, v in snapshot.items():
        if not np.array_equal(x64[k], v, equal_nan=True):
            problems.append(f"forward or backward modified input {k!r} in place")
    if len(grads) < len(names):
        raise ValueError(f"check_function: backward returned {len(grads)} gradient(s) for "
                         f"the {len(names)} floating-point inputs {names}")

    errors = {}
    for name, g in zip(names, grads):
        if g is None or np.shape(g) != x64[name].shape:
            problems.append(f"gradient for {name!r} has shape {np.shape(g)}; expected "
                            f"{x64[name].shape}")
            continue

        def f(v, name=name):
            return forward(**{**x64, name: v}, **kwargs)[0]

        errors[name] = relative_error(g, numerical_gradient(f, x64[name], dout, eps))
    return GradcheckResult(errors, rtol, problems)
