"""The checker's engine: run a student's functions on many cases, compare them with numcnn's
own ops and with numerical gradients, and explain the first failure.

A case is a dict of parameters (``N``, ``stride``, ``seed``...) from which an exercise
builds its arrays.  Cases come from a list of explicit examples (small and simple first, so
the first failure is the easiest one to read) and then from hypothesis, which draws more
(no shrinking: a report must come quickly).  For the first failing case the engine also
tries simpler variants of it (a batch of one, no padding, stride 1...): the variants that
pass point at the mistake.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..gradcheck import noise_floor, numerical_gradient, relative_error, upstream_gradient

RTOL_NUMERICAL = 1e-6   # float64 central differences (numcnn.gradcheck's tolerance)
RTOL_REFERENCE = 1e-7   # float64, against numcnn's own op: only the summation order differs
RTOL_FLOAT32 = 1e-4


@dataclass
class Row:
    """One checked output of one case: its name, the errors and a verdict."""

    what: str
    ok: bool
    detail: str
    hints: list[str] = field(default_factory=list)


class StudentError(Exception):
    """The student's function raised: carries a short, readable traceback."""

    def __init__(self, function: str, error: BaseException):
        self.function, self.error = function, error
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if "numcnn" not in Path(f.filename).parts or "site-packages" in f.filename]
        where = f" (line {frames[-1].lineno}: {frames[-1].line})" if frames else ""
        if isinstance(error, NotImplementedError):
            text = f"{function} is not implemented yet: fill in the stub"
        else:
            text = f"{function} raised {type(error).__name__}: {error}{where}"
        super().__init__(text)


def call(function: str, fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # a student's bug, reported as such
        raise StudentError(function, e) from e


# --------------------------------------------------------------------------- comparisons
def _close(a, b, rtol: float = 1e-6) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and relative_error(a, b) <= rtol


def shape_row(what: str, got, want: np.ndarray, hints: list[str] | None = None) -> Row | None:
    """A row for a missing or wrongly shaped result, None when the shape is right."""
    if not isinstance(got, np.ndarray):
        kind = "None" if got is None else type(got).__name__
        return Row(what, False, f"is {kind}; expected an array of shape {want.shape}",
                   hints or [])
    if got.shape != want.shape:
        extra = list(hints or [])
        if got.ndim == want.ndim and sorted(got.shape) == sorted(want.shape):
            extra.append(f"{what} has the right sizes in the wrong order: transposed? "
                         f"(got {got.shape}, expected {want.shape})")
        return Row(what, False, f"has shape {got.shape}; expected {want.shape}", extra)
    return None


def compare(what: str, got, want: np.ndarray, numerical: np.ndarray | None = None,
            floor: float = 0.0, detectors=(), params: dict | None = None) -> Row:
    """``got`` against numcnn's ``want`` (and a numerical estimate), with the hints of those
    ``detectors`` (functions ``(what, got, want, params) -> str | None``) that recognise the
    error."""
    if np.ndim(want) == 0:  # a loss: a number
        if np.ndim(got) != 0 or not isinstance(got, (float, int, np.number, np.ndarray)):
            return Row(what, False, f"is {type(got).__name__}; expected a number (the loss)")
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    bad = shape_row(what, got, want)
    if bad is not None:
        for detect in detectors:
            hint = detect(what, np.asarray(got), want, params or {}) if isinstance(
                got, np.ndarray) else None
            if hint:
                bad.hints.insert(0, hint)
                break
        return bad
    rtol = RTOL_FLOAT32 if want.dtype == np.float32 else RTOL_REFERENCE
    err_ref = relative_error(got, want, floor)
    parts = [f"relative error {err_ref:.1e} against numcnn's"]
    ok = err_ref <= rtol and np.isfinite(np.asarray(got, np.float64)).all()
    if numerical is not None:
        err_num = relative_error(got, numerical, floor)
        parts.append(f"{err_num:.1e} against numerical gradients")
        ok = ok and err_num <= RTOL_NUMERICAL
    if not np.isfinite(np.asarray(got, np.float64)).all():
        parts.insert(0, "contains NaN or inf")
    hints = []
    if not ok:
        for detect in detectors:  # the first that recognises the error (most specific first)
            hint = detect(what, np.asarray(got), want, params or {})
            if hint:
                hints.append(hint)
                break
    return Row(what, ok, ", ".join(parts) + ("" if ok else f" (right: below {rtol:.0e})"),
               hints)


def dtype_row(what: str, got, dtype) -> Row:
    ok = isinstance(got, np.ndarray) and got.dtype == dtype
    got_dtype = got.dtype if isinstance(got, np.ndarray) else type(got).__name__
    return Row(f"{what} dtype", ok, f"{got_dtype} for {np.dtype(dtype)} inputs",
               [] if ok else [f"{np.dtype(dtype)} in must give {np.dtype(dtype)} out: "
                              f"np.zeros(shape) is float64 (use np.zeros_like(x) or "
                              f"dtype=x.dtype), and float32 combined with a float64 or "
                              f"int64 array (mask.sum() is int64) becomes float64"])


def unchanged_row(what: str, before, after) -> Row | None:
    if isinstance(before, np.ndarray) and not np.array_equal(before, after, equal_nan=True):
        return Row(what, False, "was modified in place",
                   [f"your function changed {what} in place (e.g. `{what}[mask] = 0` or "
                    f"`{what} *= ...`): the caller still needs it (a skip connection sums "
                    f"two gradients); compute into a new array (`{what} * mask`)"])
    return None


# ------------------------------------------------------------------ common mistakes seen
def batch_averaged(what, got, want, params):
    N = params.get("N", 1)
    if N > 1 and _close(got * N, want):
        return (f"{what} is the batch *average*: the loss's mean already divides by the "
                f"batch size, so the gradients of shared parameters sum over n")
    return None


def transposed(what, got, want, params):
    if got.ndim >= 2 and got.shape == want.swapaxes(0, 1).shape and _close(
            got, want.swapaxes(0, 1)):
        return (f"{what} is transposed (axes 0 and 1 swapped): numcnn stores weights as "
                f"PyTorch does, (out, in, ...), not (in, out) as CS231n's linear layer")
    return None


def flipped(what, got, want, params):
    if got.ndim == 4 and _close(got, want[..., ::-1, ::-1]):
        return (f"{what} is flipped in both spatial axes: numcnn (like PyTorch) computes a "
                f"cross-correlation, so the kernel is not flipped")
    return None


def scaled(what, got, want, params):
    if got.shape != want.shape:
        return None
    g, w = np.asarray(got, np.float64).ravel(), np.asarray(want, np.float64).ravel()
    denom = float(w @ w)
    if denom == 0 or _close(got, want):
        return None
    c = float(g @ w) / denom
    if abs(c) > 1e-12 and _close(got, c * want, 1e-6):
        if abs(c + 1) < 1e-6:
            return f"{what} has the wrong sign"
        return f"{what} is off by a constant factor: {c:.4g} times the right value"
    return None


def border_only(what, got, want, params):
    if (not params.get("padding") or got.ndim != 4 or got.shape != want.shape
            or min(got.shape[2:]) < 3):
        return None
    diff = np.abs(np.asarray(got, np.float64) - want)
    inner = diff[:, :, 1:-1, 1:-1]
    if diff.max() > 0 and inner.max() <= 1e-9 * max(np.abs(want).max(), 1e-300):
        return (f"{what} is wrong only on the image's border rows and columns: check the "
                f"padding (pad p on both sides; crop dx_pad[:, :, p:p+H, p:p+W])")
    return None


DETECTORS = (batch_averaged, transposed, flipped, scaled, border_only)


# ------------------------------------------------------------------------------ numerics
def numerical(forward: Callable, inputs: dict, kwargs: dict, name: str, dout) -> np.ndarray:
    """Central differences of ``sum(forward(...)[0] * dout)`` with respect to inputs[name]."""
    def f(v):
        call_inputs = {k: (np.copy(a) if isinstance(a, np.ndarray) else a)
                       for k, a in inputs.items()}
        call_inputs[name] = v
        return forward(**call_inputs, **kwargs)[0]
    return numerical_gradient(f, inputs[name], dout)


def upstream(out) -> np.ndarray | float:
    """A random upstream gradient shaped like ``out`` (a number for a scalar loss)."""
    if np.ndim(out) == 0:
        return 1.7
    return upstream_gradient(np.shape(out)).astype(np.asarray(out).dtype)


def grad_rows(names: list[str], grads, want: tuple, forward: Callable, inputs: dict,
              kwargs: dict, dout, params: dict, detectors=DETECTORS,
              with_numerical: bool = True) -> list[Row]:
    """Rows comparing a backward's gradients with numcnn's and with numerical gradients."""
    grads = grads if isinstance(grads, tuple) else (grads,)
    if len(grads) < len(names):
        return [Row("gradients", False, f"the backward returned {len(grads)} value(s); "
                    f"expected {len(names)}: {', '.join('d' + n for n in names)}")]
    out = forward(**{k: (np.copy(v) if isinstance(v, np.ndarray) else v)
                     for k, v in inputs.items()}, **kwargs)[0]
    floor = noise_floor(np.asarray(out, np.float64), np.asarray(dout, np.float64), 1e-6,
                        RTOL_NUMERICAL)
    rows = []
    for name, got, w in zip(names, grads, want):
        if w is None:
            if got is not None:
                rows.append(Row(f"d{name}", False, f"is {type(got).__name__}; expected None "
                                "(there is no bias)"))
            continue
        num = (numerical(forward, inputs, kwargs, name, dout) if with_numerical else None)
        rows.append(compare(f"d{name}", got, w, num, floor, detectors, params))
    return rows


# ------------------------------------------------------------------------- the case loop
@dataclass
class Failure:
    params: dict
    rows: list[Row]
    hints: list[str]


@dataclass
class SearchResult:
    cases: int
    failure: Failure | None


class _Stop(Exception):
    pass


def search(run: Callable[[dict], list[Row]], examples: list[dict], strategy,
           max_examples: int) -> SearchResult:
    """Run ``run(params)`` on the explicit examples, then on up to ``max_examples`` cases
    drawn by hypothesis (derandomised: the same cases every time); stop at the first case
    with a failing row."""
    from hypothesis import HealthCheck, Phase, Verbosity, example, given, settings

    count, failures = [0], []

    def test(params):
        count[0] += 1
        rows = run(params)
        if any(not r.ok for r in rows):
            failures.append(Failure(params, rows, []))
            raise _Stop

    test = given(strategy)(test)
    for ex in reversed(examples):
        test = example(ex)(test)
    test = settings(max_examples=max_examples, phases=(Phase.explicit, Phase.generate),
                    derandomize=True, database=None, deadline=None,
                    verbosity=Verbosity.quiet, report_multiple_bugs=False,
                    suppress_health_check=list(HealthCheck))(test)
    try:
        test()
    except _Stop:
        pass
    return SearchResult(count[0], failures[0] if failures else None)


def variant_hints(run: Callable[[dict], list[Row]], params: dict,
                  variants: list[tuple[dict, str]]) -> list[str]:
    """For each (changes, hint): if the failing case with those changes passes, the hint."""
    hints = []
    for changes, hint in variants:
        changed = {**params, **changes}
        if changed == params:
            continue
        if all(r.ok for r in run(changed)):
            hints.append(hint)
    return hints


def describe(params: dict, keys: tuple[str, ...] = ()) -> str:
    """'N=2, C=3, stride=2' for the parameters a student can read (no seeds)."""
    shown = [k for k in (keys or params) if k in params and k not in ("seed",)]
    return ", ".join(f"{k}={params[k]}" for k in shown)


# ---------------------------------------------------------------------- tiny trainings
@dataclass
class Training:
    ok: bool
    text: str


def classifier_data(n: int = 32, seed: int = 0):
    """1x8x8 images; class 1 when the left half is brighter than the right half."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :, :4].mean(axis=(1, 2)) > x[:, 0, :, 4:].mean(axis=(1, 2))).astype(np.int64)
    return x, y


def segmenter_data(n: int = 16, seed: int = 0):
    """1x8x8 images of noisy squares; targets 1 inside a square, the border pixels ignored."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    y = np.zeros((n, 8, 8), np.int64)
    for k in range(n):
        r, c = rng.integers(1, 5, 2)
        x[k, 0, r:r + 3, c:c + 3] += 1.0
        y[k, r:r + 3, c:c + 3] = 1
    y[:, 0, :] = -100
    return x, y


def train_tiny(build: Callable[[], Any], data, loss_fn: Callable[[], Any],
               replacements: dict | None = None, steps: int = 30,
               optimizer: Callable | None = None,
               student_optimizer: Callable | None = None) -> Training:
    """Train the same tiny model twice, with numcnn's ops and with the student's
    ``replacements`` (under ``numcnn.use``) or ``student_optimizer``, and compare the loss
    curves.  ``optimizer(params)`` builds numcnn's optimizer (default SGD, lr 0.1, momentum
    0.9)."""
    from .. import dispatch, optim

    own_optimizer = optimizer or (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9))

    def run(use: bool) -> list[float]:
        model = build()
        loss = loss_fn()
        make = student_optimizer if use and student_optimizer else own_optimizer
        opt = make(list(model.parameters()))
        x, y = data
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            value = loss(model(x), y)
            model.backward(loss.backward())
            opt.step()
            losses.append(float(value))
        return losses

    own = run(False)
    with dispatch.use(**(replacements or {})):
        mine = run(True)
    close = abs(mine[-1] - own[-1]) <= 1e-3 * abs(own[-1]) + 1e-4
    learned = mine[-1] < 0.9 * mine[0]
    text = (f"loss {mine[0]:.4f} -> {mine[-1]:.4f} in {steps} steps with yours; "
            f"{own[0]:.4f} -> {own[-1]:.4f} with numcnn's")
    if not np.isfinite(mine).all():
        text += "; the loss became NaN or inf"
    elif not close:
        text += "; the curves should match"
    elif not learned:
        text += "; the loss should fall"
    return Training(close and learned and bool(np.isfinite(mine).all()), text)
