"""Parameter: an array the optimizer updates, with the gradient that backward accumulates."""

from __future__ import annotations

import numpy as np


class Parameter:
    """A trainable array.

    Attributes
    ----------
    data : np.ndarray
        The value (float32 for training, float64 for gradient checks).
    grad : np.ndarray or None
        Same shape and dtype as ``data``; every ``Module.backward`` *adds* into it, so call
        ``zero_grad()`` between steps.  Allocated as zeros; setting it to None makes the
        optimizers skip the parameter (as PyTorch), and ``zero_grad()`` allocates it again.
    requires_grad : bool
        Optimizers skip parameters with ``requires_grad=False``.
    """

    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data: np.ndarray, requires_grad: bool = True):
        data = np.asarray(data)
        if not np.issubdtype(data.dtype, np.floating):
            raise TypeError(f"Parameter needs a floating-point array; got dtype {data.dtype}")
        self.data = np.ascontiguousarray(data)
        self.grad = np.zeros_like(self.data)
        self.requires_grad = requires_grad

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def zero_grad(self) -> None:
        if self.grad is None:
            self.grad = np.zeros_like(self.data)
        else:
            self.grad.fill(0)

    def astype(self, dtype) -> None:
        """Cast data and grad in place of the attributes (the object keeps its identity)."""
        self.data = self.data.astype(dtype)
        self.grad = None if self.grad is None else self.grad.astype(dtype)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"
