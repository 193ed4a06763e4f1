"""Argument checks at the boundary of every public function.

Each raises ``TypeError`` or ``ValueError`` with ``"<op>: <what was expected>; got <what arrived>"``
so that a user never meets a deep NumPy broadcasting error instead.
"""

from __future__ import annotations

import numbers

import numpy as np


def float_array(op: str, name: str, x, ndim: int | tuple[int, ...] | None = None,
                layout: str = "") -> np.ndarray:
    """Check that ``x`` is a floating ndarray of the given rank; return it C-contiguous."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy array; got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{op}: {name} must be a floating-point array (float32 or float64); got dtype "
            f"{x.dtype} (convert with {name}.astype(np.float32))")
    if ndim is not None:
        ok = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in ok:
            want = " or ".join(f"{d}-D" for d in ok)
            raise ValueError(f"{op}: {name} must be {want}{' ' + layout if layout else ''}; "
                             f"got shape {x.shape}")
    return np.ascontiguousarray(x)


KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def kernel_dtype(op: str, name: str, x: np.ndarray) -> None:
    """The numba kernels are compiled for float32 and float64 only (float16, longdouble:
    a clear error here rather than numba's typing error)."""
    if x.dtype not in KERNEL_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64 (numcnn's kernels are "
                        f"compiled for those); got dtype {x.dtype} (convert with "
                        f"{name}.astype(np.float32))")


def same_dtype(op: str, **arrays) -> None:
    """All given arrays (None skipped) share one dtype: numcnn never upcasts silently."""
    named = [(k, a) for k, a in arrays.items() if a is not None]
    first_name, first = named[0]
    for name, a in named[1:]:
        if a.dtype != first.dtype:
            raise TypeError(f"{op}: {name} has dtype {a.dtype} but {first_name} has "
                            f"{first.dtype}; cast them to one dtype (numcnn never upcasts "
                            f"silently)")


def pair(op: str, name: str, v, minimum: int = 1) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, each >= ``minimum``."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        t = (int(v), int(v))
    elif (isinstance(v, (tuple, list)) and len(v) == 2
          and all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in v)):
        t = (int(v[0]), int(v[1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints (h, w); got {v!r}")
    if t[0] < minimum or t[1] < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}; got {v!r}")
    return t


def padding4(op: str, v) -> tuple[int, int, int, int]:
    """Zero padding as (top, left, bottom, right): an int (every side), an (h, w) pair
    (top = bottom = h, left = right = w, as in PyTorch) or four ints in that order (ONNX's
    ``pads`` for 2-D: the begins of H and W, then their ends), each >= 0."""
    if isinstance(v, (tuple, list)) and len(v) == 4:
        if not all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in v):
            raise TypeError(f"{op}: padding must be an int, a pair (h, w) or four ints "
                            f"(top, left, bottom, right); got {v!r}")
        if min(v) < 0:
            raise ValueError(f"{op}: padding must be >= 0; got {v!r}")
        return tuple(int(e) for e in v)
    if not (isinstance(v, numbers.Integral) or (isinstance(v, (tuple, list)) and len(v) == 2)):
        raise TypeError(f"{op}: padding must be an int, a pair (h, w) or four ints "
                        f"(top, left, bottom, right); got {v!r}")
    ph, pw = pair(op, "padding", v, 0)
    return ph, pw, ph, pw


def out_size(op: str, size: int, k: int, s: int, before: int, after: int, d: int, axis: str,
             ceil_mode: bool = False) -> int:
    """floor((size + before + after - d(k-1) - 1) / s) + 1 (ceil with ``ceil_mode``, as in
    PyTorch: the last window must then start inside the input or its leading padding), or a
    clear error when the kernel does not fit."""
    span = d * (k - 1) + 1
    padded = size + before + after
    if padded < span:
        pads = f"{before} + {after}" if before != after else f"2*{before}"
        raise ValueError(
            f"{op}: the kernel (extent {span} along {axis}, kernel_size={k}, dilation={d}) is "
            f"larger than the padded input ({size} + {pads} = {padded})")
    out = (padded - span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + before:
        out -= 1
    return out


def dout_array(op: str, dout, shape: tuple, dtype) -> np.ndarray:
    """The upstream gradient must match the forward output's shape and dtype."""
    dout = float_array(op, "dout", dout)
    if dout.shape != tuple(shape):
        raise ValueError(f"{op}: dout must have the forward output's shape {tuple(shape)}; "
                         f"got {dout.shape}")
    if dout.dtype != dtype:
        raise TypeError(f"{op}: dout must have the forward output's dtype {dtype}; "
                        f"got {dout.dtype}")
    return dout


def cache_of(op: str, cache, kind: type, forward: str):
    """``cache`` if it is the ``kind`` (a NamedTuple, or ``np.ndarray`` for the activations
    that cache their output) that ``forward`` returned, else a ``TypeError`` naming both."""
    if not isinstance(cache, kind):
        raise TypeError(f"{op}: cache must be the {kind.__name__} that {forward} returned; "
                        f"got {type(cache).__name__}")
    return cache


def flag(op: str, name: str, v) -> bool:
    """A bool (NumPy's too), nothing else: ``ceil_mode=1`` or ``"False"`` are errors."""
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be True or False; got {v!r}")
    return bool(v)
