"""Layers for segmentation networks: upsampling and the skip-connection concat."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .._validate import integer
from ..functional._validate import pair
from ..functional.upsample import _resolve, _scale_pair
from .module import Module


class Upsample(Module):
    """Resize (N, C, H, W) to ``size`` or by ``scale_factor`` (give one), PyTorch's
    ``nn.Upsample``: ``mode`` 'nearest' (copies, floor(o * scale)), 'nearest-exact'
    (floor((o + 0.5) * scale)) or 'bilinear' (with ``align_corners``, default False); see
    ``numcnn.functional.interpolate_forward``.  ``Upsample(scale_factor=2)`` copies each
    pixel into a 2 x 2 block.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__()
        op = "Upsample"
        _resolve(op, mode, align_corners, recompute_scale_factor, size, None, None, None, 0.0)
        if (size is None) == (scale_factor is None):
            raise ValueError(f"{op}: give exactly one of size and scale_factor; got "
                             f"size={size!r}, scale_factor={scale_factor!r}")
        if size is not None:
            pair(op, "size", size)
        else:
            sh, sw = _scale_pair(op, scale_factor)
            scale_factor = (sh, sw) if isinstance(scale_factor, (tuple, list)) else sh
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, cache = F.interpolate_forward(x, self.size, self.scale_factor, self.mode,
                                           self.align_corners, self.recompute_scale_factor)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.interpolate_backward(dout, self._saved())

    def flops(self, in_shape: tuple, out_shape: tuple) -> int:
        return int(np.prod(out_shape)) * (7 if self.mode == "bilinear" else 1)

    def extra_repr(self) -> str:
        info = (f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None
                else f"size={self.size!r}")
        ac = "" if self.align_corners is None else f", align_corners={self.align_corners}"
        return f"{info}, mode={self.mode!r}{ac}"


class Concat(Module):
    """Join inputs along the channel axis: ``out = concat(a, b, ...)``; ``backward(dout)``
    returns the tuple of the slices of dout that belong to each input."""

    def __init__(self, axis: int = 1):
        super().__init__()
        self.axis = integer("Concat", "axis", axis, minimum=None)

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        out, cache = F.concat_forward(list(xs), self.axis)
        self._save(cache)
        return out

    def backward(self, dout: np.ndarray) -> tuple:
        return F.concat_backward(dout, self._saved())
