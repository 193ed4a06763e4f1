"""Layers: stateful wrappers around the ``functional`` pairs, PyTorch's names and defaults."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._random import default_rng
from ..functional._validate import pair
from .module import Module
from .parameter import Parameter


def _uniform(rng: np.random.Generator, shape: tuple, bound: float, dtype) -> Parameter:
    """U(-bound, bound), drawn in float64 then cast, so a seed gives the same values in any
    dtype."""
    return Parameter(rng.uniform(-bound, bound, size=shape).astype(dtype))


def _kaiming_uniform(rng, shape: tuple, fan_in: int, dtype) -> Parameter:
    """PyTorch's default for conv and linear weights: kaiming_uniform_(a=sqrt(5)), which is
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)): gain sqrt(2/(1+5)) times sqrt(3/fan_in)."""
    return _uniform(rng, shape, np.sqrt(1.0 / 3.0) * np.sqrt(3.0 / fan_in), dtype)


class _WeightBias(Module):
    """A layer with a ``weight`` and an optional ``bias`` Parameter."""

    def _weight_bias(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.weight.data, (self.bias.data if self.bias is not None else None)

    def _accumulate(self, dw: np.ndarray, db: np.ndarray | None) -> None:
        """Backward *adds* into the gradients (they sum over calls until zero_grad)."""
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db


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


class Linear(_WeightBias):
    """y = x W^T + b.  (N, in_features) -> (N, out_features); weight (out, in)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=np.float32, rng=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        rng = default_rng(rng)
        self.weight = _kaiming_uniform(rng, (out_features, in_features), in_features, dtype)
        self.bias = _uniform(rng, (out_features,), 1 / np.sqrt(in_features), dtype) \
            if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input_dtype(x)
        out, cache = F.linear_forward(x, *self._weight_bias())
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = F.linear_backward(dout, self._saved())
        self._accumulate(dw, db)
        return dx

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        return 2 * int(np.prod(out_shape)) * self.in_features

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}"
                + (", bias=False" if self.bias is None else ""))


class _Pool(Module):
    _forward = _backward = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, cache = type(self)._forward(x, self.kernel_size, self.stride, self.padding)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return type(self)._backward(dout, self._saved())

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        kh, kw = pair("pool", "kernel_size", self.kernel_size)
        return int(np.prod(out_shape)) * kh * kw

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool):
    """Max pooling (padding counts as -inf; ties go to the first maximum in row-major order)."""

    _forward = staticmethod(F.max_pool2d_forward)
    _backward = staticmethod(F.max_pool2d_backward)


class AvgPool2d(_Pool):
    """Average pooling (divides by kh*kw, padding included, as PyTorch's default)."""

    _forward = staticmethod(F.avg_pool2d_forward)
    _backward = staticmethod(F.avg_pool2d_backward)


class _Activation(Module):
    _forward = _backward = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, cache = type(self)._forward(x)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return type(self)._backward(dout, self._saved())

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        return int(np.prod(out_shape))


class ReLU(_Activation):
    """y = max(x, 0)."""

    _forward = staticmethod(F.relu_forward)
    _backward = staticmethod(F.relu_backward)


class Sigmoid(_Activation):
    """y = 1 / (1 + exp(-x))."""

    _forward = staticmethod(F.sigmoid_forward)
    _backward = staticmethod(F.sigmoid_backward)


class Tanh(_Activation):
    """y = tanh(x)."""

    _forward = staticmethod(F.tanh_forward)
    _backward = staticmethod(F.tanh_backward)


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, cache = F.leaky_relu_forward(x, self.negative_slope)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.leaky_relu_backward(dout, self._saved())

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Identity(Module):
    """y = x (a placeholder, e.g. where a model optionally has no normalisation)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._save(True)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._saved()
        return dout


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...) from ``start_dim`` on; backward reshapes back."""

    def __init__(self, start_dim: int = 1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._save(x.shape)
        return x.reshape(*x.shape[:self.start_dim], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self._saved())


class Dropout(Module):
    """Inverted dropout: zero each unit with probability ``p`` and scale the rest by 1/(1-p)
    while training; the identity in eval mode.  Masks come from ``rng`` (seedable)."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p (the drop probability) must be in [0, 1); got {p!r}")
        self.p = p
        self.rng = default_rng(rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, cache = F.dropout_forward(x, self.p, self.training, self.rng)
        self._save((cache,))
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        (cache,) = self._saved()
        return F.dropout_backward(dout, cache)

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
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
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
        if self.training:
            self.num_batches_tracked = self.num_batches_tracked + 1
        out, cache = F.batch_norm_forward(x, self.weight.data, self.bias.data,
                                          self.running_mean, self.running_var, self.training,
                                          self.momentum, self.eps)
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
