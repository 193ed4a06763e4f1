"""Convolution layers: stateful wrappers around the ``functional`` convolution pairs."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._random import default_rng
from ..functional._validate import pair
from ._weights import _kaiming_uniform, _uniform, _WeightBias


class Conv2d(_WeightBias):
    """2-D convolution.  Input (N, C_in, H, W) -> output (N, C_out, Ho, Wo).

    weight (C_out, C_in/groups, kh, kw), bias (C_out,); see ``functional.conv2d_forward``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, dtype=np.float32, rng=None):
        super().__init__()
        kh, kw = pair("Conv2d", "kernel_size", kernel_size)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.dilation, self.groups = dilation, groups
        rng = default_rng(rng)
        fan_in = in_channels // groups * kh * kw
        self.weight = _kaiming_uniform(rng, (out_channels, in_channels // groups, kh, kw),
                                       fan_in, dtype)
        self.bias = _uniform(rng, (out_channels,), 1 / np.sqrt(fan_in), dtype) if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input_dtype(x)
        out, cache = F.conv2d_forward(x, *self._weight_bias(), self.stride, self.padding,
                                      self.dilation, self.groups)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = F.conv2d_backward(dout, self._saved())
        self._accumulate(dw, db)
        return dx

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        """Multiply-adds counted as 2 FLOPs: 2 * N * C_out * Ho * Wo * (C_in/groups) * kh * kw."""
        kh, kw = self.kernel_size
        return 2 * int(np.prod(out_shape)) * (self.in_channels // self.groups) * kh * kw

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}"
                + (f", dilation={self.dilation}" if self.dilation != 1 else "")
                + (f", groups={self.groups}" if self.groups != 1 else "")
                + (", bias=False" if self.bias is None else ""))


class ConvTranspose2d(_WeightBias):
    """Transposed convolution (learned upsampling).  (N, C_in, H, W) -> (N, C_out, Ho, Wo),
    Ho = (H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1.

    weight (C_in, C_out/groups, kh, kw), bias (C_out,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 dtype=np.float32, rng=None):
        super().__init__()
        kh, kw = pair("ConvTranspose2d", "kernel_size", kernel_size)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"ConvTranspose2d: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.output_padding, self.groups, self.dilation = output_padding, groups, dilation
        rng = default_rng(rng)
        # PyTorch computes fan_in from weight.shape[1] * kh * kw for this layout too
        fan_in = out_channels // groups * kh * kw
        self.weight = _kaiming_uniform(rng, (in_channels, out_channels // groups, kh, kw),
                                       fan_in, dtype)
        self.bias = _uniform(rng, (out_channels,), 1 / np.sqrt(fan_in), dtype) if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input_dtype(x)
        out, cache = F.conv_transpose2d_forward(x, *self._weight_bias(), self.stride,
                                                self.padding, self.output_padding,
                                                self.dilation, self.groups)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = F.conv_transpose2d_backward(dout, self._saved())
        self._accumulate(dw, db)
        return dx

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        kh, kw = self.kernel_size
        return 2 * int(np.prod(in_shape)) * (self.out_channels // self.groups) * kh * kw

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}"
                + (f", output_padding={self.output_padding}" if self.output_padding else ""))
