"""Batch normalisation and dropout: layers whose forward differs between train() and eval()."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._random import default_rng
from .._validate import integer, real
from ..functional._validate import KERNEL_DTYPES
from .linear import float_dtype
from .module import Module
from .parameter import Parameter


class Dropout(Module):
    """Inverted dropout: zero each unit with probability ``p`` and scale the rest by 1/(1-p)
    while training; the identity in eval mode.  Masks come from ``rng`` (seedable)."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        self.p = real("Dropout", "p (the drop probability)", p, 0.0, 1.0, max_open=True)
        self.rng = default_rng(rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, cache = F.dropout_forward(x, self.p, self.training, self.rng)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.dropout_backward(dout, self._saved())

    def extra_repr(self) -> str:
        return f"p={self.p}"


class BatchNorm2d(Module):
    """Batch norm over (N, H, W) per channel, PyTorch's semantics (see
    ``functional.batch_norm_forward``): batch statistics while training, running statistics
    in eval; weight (gamma) = 1 and bias (beta) = 0 at start; buffers running_mean,
    running_var (unbiased), num_batches_tracked."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        self.num_features = integer(name, "num_features", num_features)
        self.eps = real(name, "eps", eps, 0.0, min_open=True)
        self.momentum = real(name, "momentum", momentum, 0.0, 1.0)
        dtype = float_dtype(name, dtype)
        if dtype not in KERNEL_DTYPES:
            raise TypeError(f"{name}: dtype must be float32 or float64 (batch norm runs in "
                            f"numba kernels compiled for those); got {dtype}")
        self.weight = Parameter(np.ones(num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    _ndim = 4

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input_dtype(x)
        if x.ndim != self._ndim or x.shape[1] != self.num_features:
            layout = "(N, C, H, W)" if self._ndim == 4 else "(N, C)"
            raise ValueError(f"{type(self).__name__}: expected input {layout} with "
                             f"{self.num_features} channels at axis 1; got shape {x.shape}")
        out, cache = F.batch_norm_forward(x, self.weight.data, self.bias.data,
                                          self.running_mean, self.running_var, self.training,
                                          self.momentum, self.eps)
        if self.training:
            self.num_batches_tracked = self.num_batches_tracked + 1
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dgamma, dbeta = F.batch_norm_backward(dout, self._saved())
        self.weight.grad += dgamma
        self.bias.grad += dbeta
        return dx

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        return 2 * int(np.prod(out_shape))

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(BatchNorm2d):
    """Batch norm for (N, C) features (after Flatten / Linear)."""

    _ndim = 2
