"""``numcnn.use``: run every module on your own functional ops, or on ``numcnn.reference``'s.

    with numcnn.use(conv2d_backward=my_conv2d_backward):
        train.fit(model, ...)              # every Conv2d's backward is now yours
    with numcnn.use(numcnn.reference):
        train.fit(model, ...)              # every op is the plain NumPy reference

How it works: modules look their pair up at call time, as attributes of
``numcnn.functional`` (``F.conv2d_forward(...)``), so replacing those attributes for the
duration of the block replaces the op for every layer, model and tool; on leaving the block
(also through an exception) the previous functions come back.  The swap is global to the
process, so it is not thread-safe: do not train in two threads under different ``use``.

A backward reads the cache its own forward made, and a student's backward is written
against the cache of ``numcnn.reference`` (the exercise stubs describe it).  So replacing
only ``op_backward`` also replaces ``op_forward`` by the reference's (for a convolution,
one loop over the kernel taps: about twice the fast forward's time), and replacing only
``op_forward`` pairs it with the reference's backward.

Checks on the first call of each replacement (``check=True``): it must return what
numcnn's own op returns on the same inputs (how many arrays, their shapes and dtypes, the
values within rounding) and leave ``dout`` and its inputs unchanged; ``gradcheck=True``
adds a numerical spot check of a backward: central differences in float64 at a few entries
of each input (corners included) against the gradient it returned.  A failure raises a
``ValueError`` saying which output is wrong and by how much; after a passing first call the
replacement is called directly.  The reference's own functions are trusted, not checked.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import inspect

import numpy as np

from . import functional as F

#: every op with a forward/backward pair, e.g. "conv2d" for conv2d_forward/conv2d_backward
PAIRS = tuple(sorted({n.rsplit("_", 1)[0] for n in F.__all__
                      if n.endswith("_forward") and f"{n[:-8]}_backward" in F.__all__}))
NAMES = tuple(f"{op}_{half}" for op in PAIRS for half in ("forward", "backward"))
_OWN = {name: getattr(F, name) for name in NAMES}  # numcnn's fast ops, whatever is swapped in


def is_swapped(name: str) -> bool:
    """True while a ``use(...)`` block has replaced ``numcnn.functional.<name>`` (so a fast
    path that bypasses the op, such as the fused inference path, must not be taken)."""
    return getattr(F, name) is not _OWN[name]

# relative errors above these fail the first-call comparison with numcnn's own op
_VALUE_RTOL = {np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-7}
_SPOT_RTOL = 1e-2   # float64 central differences against a (float32) backward
_SPOT_EPS = 1e-6


def _reference():
    from . import reference
    return reference


def _reference_cache_forward(op: str):
    """The forward whose cache the reference's backward (and a student's) reads."""
    return getattr(_reference(), f"{op}_forward")


# ------------------------------------------------------------------------------- helpers
def _describe(value) -> str:
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"array {value.shape} {value.dtype}"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


def _snapshot(value):
    """A copy of the arrays and random generators in an argument (for a second run)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, np.random.Generator):
        return copy.deepcopy(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(v) for v in value)
    return value


def _as_tuple(result) -> tuple:
    return result if isinstance(result, tuple) else (result,)


def _rel_error(got, want, floor: float = 0.0) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.size == 0:
        return 0.0
    scale = max(float(np.abs(want).max()), float(np.abs(got).max()), floor)
    diff = np.abs(got - want)
    if not np.isfinite(diff).all():
        return float("inf")
    return 0.0 if scale == 0.0 else float(diff.max() / scale)


def _compare(name: str, what: list[str], got, want) -> None:
    """``got`` (a user's results) must match ``want`` entry by entry: kind, shape, dtype,
    values."""
    got, want = _as_tuple(got), _as_tuple(want)
    if len(got) != len(want):
        raise TypeError(f"numcnn.use: your {name} returned {len(got)} value(s) "
                        f"({', '.join(_describe(g) for g in got)}); numcnn's returns "
                        f"{len(want)} ({', '.join(what[:len(want)])})")
    for label, g, w in zip(what, got, want):
        if w is None or g is None:
            if (w is None) != (g is None):
                raise TypeError(f"numcnn.use: your {name} returned {_describe(g)} for {label}"
                                f"; expected {_describe(w)}")
            continue
        if isinstance(w, (list, tuple)):
            _compare(name, [f"{label}[{k}]" for k in range(len(w))], tuple(g), tuple(w))
            continue
        if np.ndim(w) == 0:  # a scalar loss
            if np.ndim(g) != 0:
                raise ValueError(f"numcnn.use: your {name} returned {_describe(g)} for {label};"
                                 f" expected a scalar")
        else:
            if not isinstance(g, np.ndarray) or g.shape != w.shape:
                raise ValueError(f"numcnn.use: your {name} returned {_describe(g)} for {label};"
                                 f" expected shape {w.shape}")
            if g.dtype != w.dtype:
                raise TypeError(f"numcnn.use: your {name} returned {label} as {g.dtype}; "
                                f"expected {w.dtype} (float32 in, float32 out)")
        dtype = np.result_type(w) if np.ndim(w) else np.dtype(np.float64)
        err = _rel_error(g, w)
        rtol = _VALUE_RTOL.get(dtype, 1e-3)
        if err > rtol:
            raise ValueError(f"numcnn.use: your {name} computed a wrong {label}: relative "
                             f"error {err:.2e} against numcnn's (above {rtol:.0e}); "
                             f"run `numcnn check` on it for a detailed report")


def _float_inputs(op: str, args: tuple, kwargs: dict) -> list[tuple[str, np.ndarray]]:
    """The floating-point array arguments of a forward call, in signature order: the
    inputs a backward's gradients belong to."""
    bound = inspect.signature(_OWN[f"{op}_forward"]).bind(*args, **kwargs)
    return [(k, v) for k, v in bound.arguments.items()
            if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)]


def _spot_entries(shape: tuple, rng: np.random.Generator, n_random: int = 4) -> np.ndarray:
    """Flat indices of the first and last entry, the corners of the first image, and a few
    random entries: errors at the borders (padding) show at corners."""
    size = int(np.prod(shape))
    picks = {0, size - 1}
    if len(shape) == 4:
        N, C, H, W = shape
        picks |= {int(np.ravel_multi_index(i, shape))
                  for i in [(0, 0, 0, W - 1), (0, 0, H - 1, 0), (0, C - 1, H - 1, W - 1)]}
    picks |= set(rng.integers(0, size, n_random).tolist())
    return np.array(sorted(picks))


def _spot_check(op: str, name: str, record, dout, grads) -> None:
    """Central differences of numcnn's forward, in float64, at a few entries of each input,
    against the gradients a backward returned for the same call."""
    args, kwargs = record
    forward = _OWN[f"{op}_forward"]
    inputs = _float_inputs(op, args, kwargs)
    if not inputs:
        return
    bound = inspect.signature(forward).bind(*args, **kwargs)
    base = {k: (v.astype(np.float64) if isinstance(v, np.ndarray)
                and np.issubdtype(v.dtype, np.floating) else v)
            for k, v in bound.arguments.items()}
    d = np.asarray(dout, np.float64)

    def loss(key, flat_index, delta):
        call = {k: _snapshot(v) for k, v in base.items()}
        if flat_index is not None:
            call[key].reshape(-1)[flat_index] += delta
        out = forward(**call)[0]
        return float(np.sum(np.asarray(out, np.float64) * d))

    rng = np.random.default_rng(0)
    center = loss(None, None, 0.0)
    for (key, value), g in zip(inputs, grads):
        if g is None or not isinstance(g, np.ndarray) or g.shape != value.shape:
            continue
        floor = 1e-3 * float(np.abs(g).max())
        analytic, numerical = [], []
        for k in _spot_entries(value.shape, rng):
            plus, minus = loss(key, k, _SPOT_EPS), loss(key, k, -_SPOT_EPS)
            right, left = (plus - center) / _SPOT_EPS, (center - minus) / _SPOT_EPS
            if abs(right - left) > 1e-3 * max(abs(right), abs(left), floor, 1e-12):
                continue  # a kink (ReLU at 0, a tie in max pooling): no derivative to compare
            analytic.append(float(g.reshape(-1)[k]))
            numerical.append((plus - minus) / (2 * _SPOT_EPS))
        err = _rel_error(analytic, numerical, floor)
        if err > _SPOT_RTOL:
            raise ValueError(
                f"numcnn.use: your {name} failed the numerical spot check for d{key}: at "
                f"{len(analytic)} entries its gradient differs from central differences by a "
                f"relative error of {err:.2e} (above {_SPOT_RTOL:.0e}); yours "
                f"{np.round(analytic[:4], 6).tolist()}, numerical "
                f"{np.round(numerical[:4], 6).tolist()}.  `numcnn check` gives a detailed "
                f"report; use(..., gradcheck=False) skips this check")


# ----------------------------------------------------------------------- the replacements
def _structure(value):
    """The shape of a cache: nested containers, array shapes and dtypes, other types."""
    if isinstance(value, np.ndarray):
        return ("array", value.shape, str(value.dtype))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_structure(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _structure(v)) for k, v in sorted(value.items())))
    return type(value).__name__


class _Pair:
    """The two functions installed for one op, with the state of their first-call checks."""

    def __init__(self, op: str, forward, backward, user_forward: bool, user_backward: bool,
                 check: bool, gradcheck: bool):
        self.op, self.gradcheck = op, gradcheck
        self.raw_forward, self.raw_backward = forward, backward
        self.user_forward, self.user_backward = user_forward, user_backward
        self.forward_pending = check and user_forward
        self.backward_pending = check and user_backward
        self.records: dict[int, tuple] = {}  # id(cache) -> the forward's arguments

    def forward(self, *args, **kwargs):
        if not (self.forward_pending or self.backward_pending):
            return self.raw_forward(*args, **kwargs)
        saved = (_snapshot(args), _snapshot(kwargs))
        if self.forward_pending:
            out, cache = self._checked_forward(args, kwargs, saved)
        else:
            out, cache = self.raw_forward(*args, **kwargs)
        if self.backward_pending:
            self.records[id(cache)] = saved
        return out, cache

    def _checked_forward(self, args, kwargs, saved):
        name = f"{self.op}_forward"
        trial = _snapshot(saved)                    # numcnn's op runs on copies
        own = _OWN[name](*trial[0], **trial[1])
        if not self.user_backward:  # the reference's backward will read this cache
            model = _snapshot(saved)
            want_cache = _reference_cache_forward(self.op)(*model[0], **model[1])[1]
        result = self.raw_forward(*args, **kwargs)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError(f"numcnn.use: your {name} must return (out, cache); got "
                            f"{_describe(result)}")
        _compare(name, ["out"], result[0], own[0])
        for (key, after), (_, own_after), (_, before) in zip(
                _float_inputs(self.op, args, kwargs), _float_inputs(self.op, *trial),
                _float_inputs(self.op, *saved)):
            if _rel_error(after, own_after) > _VALUE_RTOL.get(after.dtype, 1e-3):
                how = ("modified its argument" if np.array_equal(own_after, before)
                       else "updated its argument")
                raise ValueError(f"numcnn.use: your {name} {how} {key!r} differently from "
                                 f"numcnn's (which "
                                 f"{'leaves it unchanged' if how[0] == 'm' else 'updates it'})")
        if not self.user_backward and _structure(result[1]) != _structure(want_cache):
            raise ValueError(f"numcnn.use: the cache your {name} returned, "
                             f"{_structure(result[1])}, is not laid out like "
                             f"numcnn.reference's, {_structure(want_cache)}, which "
                             f"{self.op}_backward reads; return the same cache (see its "
                             f"docstring), or replace {self.op}_backward too")
        self.forward_pending = False
        return result

    def backward(self, dout, cache):
        if not self.backward_pending:
            return self.raw_backward(dout, cache)
        name = f"{self.op}_backward"
        record = self.records.get(id(cache))
        dout_before = _snapshot(dout)
        grads = self.raw_backward(dout, cache)
        if isinstance(dout, np.ndarray) and not np.array_equal(dout, dout_before):
            raise ValueError(f"numcnn.use: your {name} modified dout in place; the layer "
                             f"below may still need it (a skip connection sums two "
                             f"gradients): compute into a new array instead")
        if not self.user_forward:  # the cache is the reference's: compare with its backward
            want = getattr(_reference(), name)(_snapshot(dout_before), cache)
            labels = ([f"d{k}" for k, _ in _float_inputs(self.op, *record)] if record
                      else [])
            n = len(_as_tuple(want))
            labels += [f"gradient {k}" for k in range(len(labels), n)]
            _compare(name, labels, grads, want)
        if self.gradcheck and record is not None:
            _spot_check(self.op, name, record, dout_before, _as_tuple(grads))
        self.backward_pending = False
        self.records.clear()
        return grads

    def installed(self) -> dict:
        """The two functions to set on numcnn.functional, named and documented like the
        ones they run."""
        @functools.wraps(self.raw_forward)
        def forward(*args, **kwargs):
            return self.forward(*args, **kwargs)

        @functools.wraps(self.raw_backward)
        def backward(dout, cache):
            return self.backward(dout, cache)

        return {f"{self.op}_forward": forward, f"{self.op}_backward": backward}


def _resolve(source, ops: dict) -> dict:
    """name -> function for every op named in ``source`` (a module or object) and ``ops``."""
    chosen = {}
    if source is not None:
        chosen = {n: getattr(source, n) for n in NAMES if callable(getattr(source, n, None))}
        if not chosen:
            raise TypeError(f"numcnn.use: {source!r} has none of the functional ops "
                            f"({', '.join(NAMES[:4])}, ...)")
    for name, fn in ops.items():
        if name not in NAMES:
            close = difflib.get_close_matches(name, NAMES, 3)
            raise TypeError(f"numcnn.use: {name!r} is not a functional op"
                            + (f"; did you mean {' or '.join(close)}?" if close else
                               f"; the ops are {', '.join(NAMES)}"))
        if not callable(fn):
            raise TypeError(f"numcnn.use: {name} must be a function; got {_describe(fn)}")
        chosen[name] = fn
    return chosen


@contextlib.contextmanager
def use(source=None, /, *, check: bool = True, gradcheck: bool = True, **ops):
    """Replace functional ops for every module inside a ``with`` block (see the module doc).

    Parameters
    ----------
    source : module or object, optional
        Every ``<op>_forward`` / ``<op>_backward`` attribute it has replaces numcnn's, e.g.
        ``numcnn.reference`` or a student's solutions module.
    check : bool
        Compare the first call of each replacement with numcnn's own op.
    gradcheck : bool
        Also spot-check a replaced backward against central differences on its first call.
    **ops
        ``name=function`` replacements, e.g. ``conv2d_backward=my_conv2d_backward``; they
        take precedence over ``source``.

    Not thread-safe: the replacement is visible to every thread while the block runs.
    """
    chosen = _resolve(source, ops)
    installed = {}
    for op in PAIRS:
        fwd, bwd = chosen.get(f"{op}_forward"), chosen.get(f"{op}_backward")
        if fwd is None and bwd is None:
            continue
        ref = _reference() if fwd is None or bwd is None or source is not None else None
        user_fwd = fwd is not None and fwd is not getattr(ref, f"{op}_forward", None)
        user_bwd = bwd is not None and bwd is not getattr(ref, f"{op}_backward", None)
        if fwd is None:
            fwd = _reference_cache_forward(op)
        if bwd is None:
            bwd = getattr(ref, f"{op}_backward")
        installed.update(_Pair(op, fwd, bwd, user_fwd, user_bwd, check, gradcheck).installed())
    previous = {name: getattr(F, name) for name in installed}
    try:
        for name, fn in installed.items():
            setattr(F, name, fn)
        yield
    finally:
        for name, fn in previous.items():
            setattr(F, name, fn)
