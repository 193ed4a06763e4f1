"""Convolution layers: stateful wrappers around the ``functional`` convolution pairs."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._validate import integer
from ..functional._validate import flag, pair
from ..functional.conv import conv_window
from ._weights import _WeightBias
from .parameter import Parameter


def _float_dtype(op: str, dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{op}: dtype must be np.float32 or np.float64; got {dtype!r}")
    return dt


class _ConvNd(_WeightBias):
    """What Conv2d and ConvTranspose2d share: checked hyper-parameters, a weight of shape
    ``weight_shape``, an optional bias (C_out,), PyTorch's initialisation
    (:meth:`reset_parameters`) and the call of the functional pair ``_op`` at call time."""

    _op: str  # "conv2d" or "conv_transpose2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, dtype, rng, output_padding=None):
        super().__init__()
        op = type(self).__name__
        self.in_channels = integer(op, "in_channels", in_channels)
        self.out_channels = integer(op, "out_channels", out_channels)
        self.groups = integer(op, "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{op}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        self.kernel_size = kh, kw = pair(op, "kernel_size", kernel_size)
        conv_window(op, self.kernel_size, stride, padding, dilation, output_padding)
        flag(op, "bias", bias)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        transposed = output_padding is not None
        if transposed:
            self.output_padding = output_padding
        c_in, c_out = (out_channels, in_channels) if transposed else (in_channels, out_channels)
        dtype = _float_dtype(op, dtype)
        self.weight = Parameter(np.empty((c_out, c_in // groups, kh, kw), dtype))
        self.bias = Parameter(np.empty(out_channels, dtype)) if bias else None
        self.reset_parameters(rng)

    def _hyperparameters(self) -> tuple:
        return self.stride, self.padding, self.dilation, self.groups

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input_dtype(x)
        forward = getattr(F, f"{self._op}_forward")  # looked up now: numcnn.use can swap it
        out, cache = forward(x, *self._weight_bias(), *self._hyperparameters())
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = getattr(F, f"{self._op}_backward")(dout, self._saved())
        self._accumulate(dw, db)
        return dx

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class Conv2d(_ConvNd):
    """2-D convolution.  Input (N, C_in, H, W) -> output (N, C_out, Ho, Wo).

    weight (C_out, C_in/groups, kh, kw), bias (C_out,); see ``functional.conv2d_forward``.
    """

    _op = "conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, dtype=np.float32, rng=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, dtype, rng)

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        """Multiply-adds counted as 2 FLOPs: 2 * N * C_out * Ho * Wo * (C_in/groups) * kh * kw."""
        kh, kw = self.kernel_size
        return 2 * int(np.prod(out_shape)) * (self.in_channels // self.groups) * kh * kw

    def extra_repr(self) -> str:
        return (super().extra_repr()
                + (f", dilation={self.dilation}" if self.dilation != 1 else "")
                + (f", groups={self.groups}" if self.groups != 1 else "")
                + (", bias=False" if self.bias is None else ""))


class ConvTranspose2d(_ConvNd):
    """Transposed convolution (learned upsampling).  (N, C_in, H, W) -> (N, C_out, Ho, Wo),
    Ho = (H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1.

    weight (C_in, C_out/groups, kh, kw), bias (C_out,).
    """

    _op = "conv_transpose2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 dtype=np.float32, rng=None):
        if output_padding is None:  # None is how the base class tells a plain convolution
            raise TypeError("ConvTranspose2d: output_padding must be an int or a pair of "
                            "ints (h, w); got None")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, dtype, rng, output_padding)

    def _hyperparameters(self) -> tuple:
        return self.stride, self.padding, self.output_padding, self.dilation, self.groups

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        kh, kw = self.kernel_size
        return 2 * int(np.prod(in_shape)) * (self.out_channels // self.groups) * kh * kw

    def extra_repr(self) -> str:
        return (super().extra_repr()
                + (f", output_padding={self.output_padding}" if self.output_padding else ""))
