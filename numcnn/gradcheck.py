"""Gradient checking: compare a hand-written backward with central differences.

For an op y = op(x) and a random upstream gradient dout (same shape as y), the backward must
return dx = dL/dx for L = <op(x), dout> = sum(op(x) * dout).  The numerical estimate moves
one entry x_k by the step h (the ``eps`` argument):

    dx_k ~ (L(x_k + h) - L(x_k - h)) / (2 h),

whose error is O(h^2) truncation (~1e-12) plus O(machine_eps / h) rounding (~1e-10): in
float64 with h = 1e-6 a correct backward shows errors around 1e-9 and a wrong one errors
near 1.  See docs/gradcheck.md.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ._random import find_generators
from .nn.module import no_grad


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


def relative_error(analytic: np.ndarray, numerical: np.ndarray, floor: float = 0.0) -> float:
    """max|a - n| / max(max|a|, max|n|, floor): the worst deviation relative to the scale of
    the gradient.

    An element-wise ratio would flag tiny entries whose absolute error is at rounding level,
    so the scale is taken over the whole array.  ``floor`` keeps a gradient that is zero in
    exact arithmetic (a conv bias before batch norm) from turning rounding noise into a
    large ratio; the checks below set it so that only errors above the noise of the
    central difference can fail.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numerical, dtype=np.float64)
    if a.size == 0:
        return 0.0
    scale = max(np.abs(a).max(), np.abs(n).max(), floor)
    return 0.0 if scale == 0.0 else float(np.abs(a - n).max() / scale)


def noise_floor(out: np.ndarray, dout: np.ndarray, eps: float, rtol: float) -> float:
    """The scale below which a gradient is compared in absolute terms.

    Evaluating L = sum(out * dout) rounds with an error up to about
    machine_eps * max(sum|out * dout|, 1) (the 1: intermediates of order one round too), so
    a central difference cannot resolve gradient errors below that divided by eps.
    Dividing by rtol makes an error of that size score exactly rtol.
    """
    magnitude = max(float(np.sum(np.abs(out * dout))), 1.0)
    noise = np.finfo(np.float64).eps * magnitude / eps
    return noise / rtol if rtol > 0 else 0.0


def numerical_gradient(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout,
                       eps: float = 1e-6, indices: np.ndarray | None = None) -> np.ndarray:
    """Central-difference gradient of L(x) = sum(f(x) * dout) with respect to x, in float64.

    Parameters
    ----------
    f : callable taking an array shaped like x and returning an array shaped like dout
    x : the point; a float64 copy is perturbed, x itself is never modified
    dout : upstream gradient, the shape of f(x) (a scalar for a scalar f)
    indices : flat indices of the entries to estimate (default: all); the others are NaN

    Returns
    -------
    grad : float64 array of x's shape
    """
    xp = np.array(x, dtype=np.float64)
    dout = np.asarray(dout, dtype=np.float64)
    flat = xp.reshape(-1)  # a view: writing into it perturbs xp
    grad = np.full(flat.shape, np.nan)
    for k in (range(flat.size) if indices is None else indices):
        old = flat[k]
        flat[k] = old + eps
        plus = float(np.sum(np.asarray(f(xp), dtype=np.float64) * dout))
        flat[k] = old - eps
        minus = float(np.sum(np.asarray(f(xp), dtype=np.float64) * dout))
        flat[k] = old
        grad[k] = (plus - minus) / (2 * eps)
    return grad.reshape(xp.shape)


def upstream_gradient(shape: tuple, seed: int = 0) -> np.ndarray:
    """A random normal upstream gradient (float64) for a check.

    Its stream is salted so that it never equals data drawn with ``default_rng(seed)``: with
    dout == x, batch norm's true input gradient nearly cancels and the check would measure
    only rounding noise.
    """
    return np.random.default_rng([seed, 0x67726164]).standard_normal(shape)


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
    dout = upstream_gradient(out.shape, seed)
    floor = noise_floor(out, dout, eps, rtol)
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

        errors[name] = relative_error(g, numerical_gradient(f, x64[name], dout, eps), floor)
    return GradcheckResult(errors, rtol, problems)


def check_module(module, x: np.ndarray, seed: int = 0, rtol: float = 1e-6,
                 eps: float = 1e-6, max_entries: int | None = None) -> GradcheckResult:
    """Check an nn module's ``backward`` numerically: the input gradient and the gradient of
    every named parameter, in float64 (on a deep copy cast to float64; ``module`` itself is
    not touched), with a random upstream gradient.

    Random layers (Dropout) are made deterministic by restoring every Generator in the module
    to its state before each forward, so all evaluations see the same mask.  The module is
    checked in its current mode (``train()`` or ``eval()``).  ``max_entries`` checks at most
    that many randomly chosen (seeded) entries of each array, for big models (each entry
    costs two forward passes); None checks every entry.

    Returns
    -------
    GradcheckResult with errors keyed "input" and each parameter name ("0.weight", ...).
    """
    m = copy.deepcopy(module).to(np.float64)
    gens = [g for _, g in find_generators(m)]
    states = [copy.deepcopy(g.bit_generator.state) for g in gens]

    def run(v: np.ndarray) -> np.ndarray:
        for g, s in zip(gens, states):
            g.bit_generator.state = copy.deepcopy(s)
        return m.forward(v)

    x64 = np.array(x, dtype=np.float64)
    out = run(x64)
    dout = upstream_gradient(np.shape(out), seed)
    floor = noise_floor(out, dout, eps, rtol)
    m.zero_grad()
    dout_arg = dout.copy()
    dx = m.backward(dout_arg)
    problems = []
    if not np.array_equal(dout_arg, dout):
        problems.append("backward modified its dout argument in place")
    analytic = {name: p.grad.copy() for name, p in m.named_parameters()}

    pick = np.random.default_rng(seed)

    def compare(f, point, grad):
        idx = None
        if max_entries is not None and point.size > max_entries:
            idx = pick.choice(point.size, max_entries, replace=False)
        numerical = numerical_gradient(f, point, dout, eps, idx)
        sel = slice(None) if idx is None else idx
        return relative_error(grad.reshape(-1)[sel], numerical.reshape(-1)[sel], floor)

    with no_grad():  # the numerical passes need no caches: none pile up
        errors = {"input": compare(run, x64, dx)}
        for name, p in m.named_parameters():
            original = p.data.copy()

            def f(v, p=p):
                p.data[...] = v
                return run(x64)

            errors[name] = compare(f, original, analytic[name])
            p.data[...] = original
    return GradcheckResult(errors, rtol, problems)
