"""Layers for segmentation networks: upsampling and the skip-connection concat."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .module import Module


class Upsample(Module):
    """Upsample (N, C, H, W) -> (N, C, H*s, W*s) by an integer ``scale_factor``.

    ``mode="nearest"`` copies each pixel into an s x s block; ``mode="bilinear"`` interpolates
    with PyTorch's index rule for the given ``align_corners``.
    """

    def __init__(self, scale_factor=2, mode: str = "nearest", align_corners: bool | None = None):
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"Upsample: mode must be 'nearest' or 'bilinear'; got {mode!r}")
        if mode == "nearest" and align_corners:
            raise ValueError("Upsample: align_corners only applies to mode='bilinear'")
        self.scale_factor, self.mode = scale_factor, mode
        self.align_corners = bool(align_corners)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.mode == "nearest":
            out, cache = F.upsample_nearest2d_forward(x, self.scale_factor)
        else:
            out, cache = F.upsample_bilinear2d_forward(x, self.scale_factor, self.align_corners)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.mode == "nearest":
            return F.upsample_nearest2d_backward(dout, self._saved())
        return F.upsample_bilinear2d_backward(dout, self._saved())

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        return int(np.prod(out_shape)) * (1 if self.mode == "nearest" else 7)

    def extra_repr(self) -> str:
        ac = f", align_corners={self.align_corners}" if self.mode == "bilinear" else ""
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}{ac}"


class Concat(Module):
    """Join inputs along the channel axis: ``out = concat(a, b, ...)``; ``backward(dout)``
    returns the tuple of the slices of dout that belong to each input."""

    def __init__(self, axis: int = 1):
        super().__init__()
        self.axis = axis

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        out, cache = F.concat_forward(list(xs), self.axis)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> tuple:
        return F.concat_backward(dout, self._saved())
