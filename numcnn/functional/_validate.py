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


def out_size(op: str, size: int, k: int, s: int, p: int, d: int, axis: str) -> int:
    """floor((size + 2p - d(k-1) - 1) / s) + 1, or a clear error when the kernel does not fit."""
    span = d * (k - 1) + 1
    if size + 2 * p < span:
        raise ValueError(
            f"{op}: the kernel (extent {span} along {axis}, kernel_size={k}, dilation={d}) is "
            f"larger than the padded input ({size} + 2*{p} = {size + 2 * p})")
    return (size + 2 * p - span) // s + 1


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
