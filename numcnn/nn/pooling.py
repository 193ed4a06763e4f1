"""Pooling layers: max and average pooling over kh x kw windows, and adaptive pooling to a
given output size (PyTorch's names and arguments)."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._validate import integer
from ..functional._validate import flag
from ..functional.pool import adaptive_arguments, pool_window
from .module import Module


class _Pool(Module):
    _op: str  # the functional pair, looked up at call time so that numcnn.use can swap it
    # Options passed only when they differ from these defaults, so that a function with the
    # textbook signature (x, kernel_size, stride, padding) can stand in through numcnn.use.
    _optional = {"dilation": 1, "ceil_mode": False, "count_include_pad": True,
                 "divisor_override": None}

    def _hyperparameters(self) -> dict:
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        forward = getattr(F, f"{self._op}_forward")
        options = {k: v for k, v in self._hyperparameters().items()
                   if k not in self._optional or v != self._optional[k]}
        out, cache = forward(x, **options)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return getattr(F, f"{self._op}_backward")(dout, self._saved())

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        """One operation per window tap: about the input's size times the overlap."""
        return int(np.prod(out_shape)) * self._taps(in_shape, out_shape)


class _WindowPool(_Pool):
    def __init__(self, kernel_size, stride, padding, dilation, ceil_mode):
        super().__init__()
        self._window = pool_window(type(self).__name__, kernel_size, stride, padding, dilation,
                                   ceil_mode)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode = ceil_mode

    def _taps(self, in_shape, out_shape) -> int:
        kh, kw = self._window.kernel_size
        return kh * kw

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                + (", ceil_mode=True" if self.ceil_mode else ""))


class MaxPool2d(_WindowPool):
    """Max pooling (padding counts as -inf; ties go to the first maximum in row-major order).

    As PyTorch's, except that ``return_indices=True`` is refused (a layer returns one array):
    the indices are ``functional.max_pool2d_forward``'s ``cache.indices``.
    """

    _op = "max_pool2d"

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        if flag("MaxPool2d", "return_indices", return_indices):
            raise ValueError("MaxPool2d: return_indices=True is not supported (a layer "
                             "returns one array); functional.max_pool2d_forward's cache has "
                             "them as cache.indices")
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        self.dilation = dilation

    def _hyperparameters(self) -> dict:
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    dilation=self.dilation, ceil_mode=self.ceil_mode)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", dilation={self.dilation}" if self.dilation != 1
                                       else "")


class AvgPool2d(_WindowPool):
    """Average pooling.  By default it divides by kh*kw, padding included
    (``count_include_pad=True``), as PyTorch's."""

    _op = "avg_pool2d"

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = flag("AvgPool2d", "count_include_pad", count_include_pad)
        if divisor_override is not None:
            integer("AvgPool2d", "divisor_override", divisor_override)
        self.divisor_override = divisor_override

    def _hyperparameters(self) -> dict:
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad,
                    divisor_override=self.divisor_override)

    def extra_repr(self) -> str:
        return (super().extra_repr()
                + ("" if self.count_include_pad else ", count_include_pad=False")
                + ("" if self.divisor_override is None
                   else f", divisor_override={self.divisor_override}"))


class _AdaptivePool(_Pool):
    def __init__(self, output_size):
        super().__init__()
        # checked against a 1x1 placeholder: None entries are fine, sizes must be positive
        adaptive_arguments(type(self).__name__, np.zeros((1, 1, 1, 1), np.float32),
                           output_size)
        self.output_size = output_size

    def _hyperparameters(self) -> dict:
        return dict(output_size=self.output_size)

    def _taps(self, in_shape, out_shape) -> int:
        return -(-in_shape[2] // out_shape[2]) * -(-in_shape[3] // out_shape[3])

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptivePool):
    """Average pooling to a fixed output size (N, C, H, W) -> (N, C, *output_size): output row
    oh averages input rows floor(oh*H/Ho) ... ceil((oh+1)*H/Ho) - 1.
    ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    _op = "adaptive_avg_pool2d"


class AdaptiveMaxPool2d(_AdaptivePool):
    """Max pooling to a fixed output size, over the windows of :class:`AdaptiveAvgPool2d`
    (``return_indices=True`` is refused, as in :class:`MaxPool2d`)."""

    _op = "adaptive_max_pool2d"

    def __init__(self, output_size, return_indices: bool = False):
        if flag("AdaptiveMaxPool2d", "return_indices", return_indices):
            raise ValueError("AdaptiveMaxPool2d: return_indices=True is not supported (a "
                             "layer returns one array); the functional cache has them as "
                             "cache.indices")
        super().__init__(output_size)
