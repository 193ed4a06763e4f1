"""Per-sample transforms for images and, jointly, their masks.

Every transform is called as ``x, y = t(x, y, rng)``:

- ``x`` is one image (C, H, W), float32 in the loader;
- ``y`` is its target: a scalar class label (passed through untouched) or a mask (H, W),
  which gets exactly the same flip / rotation / crop as the image;
- ``rng`` is the ``numpy.random.Generator`` of the ``DataLoader``: the only source of
  randomness, so a loader's seed reproduces every augmentation.

Masks are never interpolated: only flips, quarter turns and crops, which move pixels
without mixing them.  Transforms return new arrays or views and never write into ``x``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validate import integer, real


def _generator(op: str, rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{op}: rng must be a numpy.random.Generator (the DataLoader passes "
                        f"its own); got {type(rng).__name__}")
    return rng


def _is_mask(x: np.ndarray, y: Any, op: str) -> bool:
    """True if ``y`` is a mask of ``x`` (H, W); False for a scalar label; error otherwise."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
        raise TypeError(f"{op}: expected an image x as a real numpy array (C, H, W); got "
                        f"{type(x).__name__}" + (f" of dtype {x.dtype}"
                                                 if isinstance(x, np.ndarray) else ""))
    if x.ndim != 3:
        raise ValueError(f"{op}: expected an image of shape (C, H, W); got shape {x.shape}")
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{op}: expected a target y that is a number (a class label) or a "
                        f"mask array; got {type(y).__name__} of dtype {y.dtype}")
    if y.ndim == 0:
        return False
    if y.shape != x.shape[1:]:
        raise ValueError(f"{op}: expected a scalar label or a mask of shape {x.shape[1:]} "
                         f"(the image's H, W); got target of shape {y.shape}")
    return True


class Compose:
    """Apply transforms in order: ``Compose([RandomCrop(32), RandomHorizontalFlip()])``."""

    def __init__(self, transforms: Sequence) -> None:
        if not isinstance(transforms, (list, tuple)):
            raise TypeError(f"Compose: expected a list of transforms, e.g. Compose([t1, t2]); "
                            f"got {type(transforms).__name__}")
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable as t(x, y, rng); "
                                f"got {type(t).__name__}")
        self.transforms = list(transforms)

    def __call__(self, x: np.ndarray, y: Any, rng: np.random.Generator):
        for t in self.transforms:
            x, y = t(x, y, rng)
        return x, y

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class Normalize:
    """``(x[c] - mean[c]) / std[c]`` for each channel ``c`` of a (C, H, W) image.

    Parameters
    ----------
    mean, std : float or sequence of C floats
        Per-channel statistics, e.g. from ``compute_mean_std(x_train)``; ``std > 0``.
    """

    def __init__(self, mean, std) -> None:
        self.mean, self.std = self._stat("mean", mean), self._stat("std", std)
        if not np.all(self.std > 0):
            raise ValueError(f"Normalize: std must be > 0 in every channel; got "
                             f"{self.std.tolist()}")
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise ValueError(f"Normalize: mean and std must have one value per channel (or "
                             f"one for all); got {len(self.mean)} and {len(self.std)} values")

    @staticmethod
    def _stat(name: str, v) -> np.ndarray:
        """A scalar or a sequence of per-channel values, as a finite float32 (C,) array."""
        a = np.asarray(v)
        if a.dtype.kind not in "biuf" or a.ndim > 1 or a.size == 0:
            error = ValueError if a.dtype.kind in "biuf" else TypeError
            raise error(f"Normalize: {name} must be a number or a non-empty sequence of "
                        f"per-channel numbers; got {v!r}")
        a = np.atleast_1d(a.astype(np.float32))
        if not np.isfinite(a).all():
            raise ValueError(f"Normalize: {name} must be finite in every channel; got "
                             f"{a.tolist()}")
        return a

    def __call__(self, x: np.ndarray, y: Any, rng: np.random.Generator | None = None):
        _is_mask(x, y, "Normalize")
        if x.dtype.kind != "f":
            raise TypeError(f"Normalize: expected a floating-point image (the DataLoader "
                            f"gives float32); got dtype {x.dtype} (convert with "
                            f"x.astype(np.float32))")
        c = x.shape[0]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {name} has {len(v)} values but the image has "
                                 f"{c} channels (shape {x.shape})")
        # Statistics are float32, so a float32 image stays float32.
        return (x - self.mean[:, None, None]) / self.std[:, None, None], y

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class _RandomFlip:
    axis = -1
    name = ""

    def __init__(self, p: float = 0.5) -> None:
        self.p = real(self.name, "p", p, 0.0, 1.0)

    def __call__(self, x: np.ndarray, y: Any, rng: np.random.Generator):
        mask = _is_mask(x, y, self.name)
        rng = _generator(self.name, rng)
        # One draw per sample whatever p is, so changing p does not shift later draws.
        if rng.random() < self.p:
            x = np.flip(x, axis=self.axis)
            if mask:
                y = np.flip(y, axis=self.axis)
        return x, y

    def __repr__(self) -> str:
        return f"{self.name}(p={self.p})"


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right (the W axis) with probability ``p``."""

    axis = -1
    name = "RandomHorizontalFlip"


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom (the H axis) with probability ``p``."""

    axis = -2
    name = "RandomVerticalFlip"


class RandomRotate90:
    """Rotate by ``k`` quarter turns, ``k`` uniform in {0, 1, 2, 3}.

    Needs square images (H == W), otherwise samples of one batch would differ in shape.
    """

    def __call__(self, x: np.ndarray, y: Any, rng: np.random.Generator):
        mask = _is_mask(x, y, "RandomRotate90")
        rng = _generator("RandomRotate90", rng)
        if x.shape[1] != x.shape[2]:
            raise ValueError(f"RandomRotate90: expected a square image (H == W) so that a "
                             f"batch keeps one shape; got shape {x.shape}")
        k = int(rng.integers(4))
        x = np.rot90(x, k, axes=(1, 2))
        if mask:
            y = np.rot90(y, k, axes=(0, 1))
        return x, y

    def __repr__(self) -> str:
        return "RandomRotate90()"


class RandomCrop:
    """Cut a window of ``size`` (an int or (h, w)) at a uniformly random position.

    ``padding`` (an int or (h, w)) first pads that many pixels on each side: the image with
    ``fill``, a mask with ``mask_fill`` (default -100, the losses' and metrics' default
    ``ignore_index``, so padded pixels are never scored).  With ``padding=p`` and ``size``
    the image's own size this is a random shift by up to p pixels, as in PyTorch's
    ``RandomCrop(size, padding=p)``.
    """

    def __init__(self, size: int | tuple[int, int], padding: int | tuple[int, int] = 0,
                 fill: float = 0.0, mask_fill: int = -100) -> None:
        self.size = self._pair("size", size, 1)
        self.padding = self._pair("padding", padding, 0)
        self.fill = real("RandomCrop", "fill", fill)
        self.mask_fill = integer("RandomCrop", "mask_fill", mask_fill, None)

    @staticmethod
    def _pair(name: str, v, minimum: int) -> tuple[int, int]:
        """An int or a pair (h, w) of ints >= ``minimum``."""
        pair = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
        what = "positive" if minimum else "non-negative"
        if len(pair) != 2:
            raise ValueError(f"RandomCrop: {name} must be a {what} int or a pair (h, w) of "
                             f"{what} ints; got {v!r}")
        try:
            return tuple(integer("RandomCrop", name, s, minimum) for s in pair)
        except (TypeError, ValueError) as e:
            raise type(e)(f"RandomCrop: {name} must be a {what} int or a pair (h, w) of "
                          f"{what} ints; got {v!r}") from None

    def __call__(self, x: np.ndarray, y: Any, rng: np.random.Generator):
        mask = _is_mask(x, y, "RandomCrop")
        rng = _generator("RandomCrop", rng)
        h, w = self.size
        ph, pw = self.padding
        H, W = x.shape[1] + 2 * ph, x.shape[2] + 2 * pw
        if h > H or w > W:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the image "
                             f"(H, W) = {x.shape[1:]} with padding {self.padding}")
        top = int(rng.integers(H - h + 1))
        left = int(rng.integers(W - w + 1))
        if ph or pw:
            x = np.pad(x, ((0, 0), (ph, ph), (pw, pw)), constant_values=self.fill)
            if mask:
                y = np.asarray(y)
                if not np.can_cast(np.min_scalar_type(self.mask_fill), y.dtype):
                    raise ValueError(f"RandomCrop: mask_fill={self.mask_fill} does not fit the "
                                     f"mask's dtype {y.dtype}; pass a mask_fill it can hold "
                                     f"or an int64 mask")
                y = np.pad(y, ((ph, ph), (pw, pw)), constant_values=self.mask_fill)
        x = x[:, top:top + h, left:left + w]
        if mask:
            y = y[top:top + h, left:left + w]
        return x, y

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


def compute_mean_std(x: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over (N, H, W), for ``Normalize``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    chunk : int
        Images summed at a time: the sums are float64 (60 000 float32 images summed in
        float32 would lose digits) without a float64 copy of the whole array.

    Returns
    -------
    mean, std : ndarray, float32, shape (C,)
    """
    op = "compute_mean_std"
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.size == 0:
        shape = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"{op}: expected a non-empty array (N, C, H, W); got {shape}")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{op}: expected a real array (N, C, H, W); got dtype {x.dtype}")
    chunk = integer(op, "chunk", chunk)
    # Shift by a first guess of the mean so that E[(x-s)^2] - E[x-s]^2 does not cancel.
    shift = x[:1].mean(axis=(0, 2, 3), dtype=np.float64)[:, None, None]
    s1 = np.zeros(x.shape[1])
    s2 = np.zeros(x.shape[1])
    for i in range(0, len(x), chunk):
        d = x[i:i + chunk].astype(np.float64) - shift
        s1 += d.sum(axis=(0, 2, 3))
        s2 += np.square(d).sum(axis=(0, 2, 3))
    if not (np.isfinite(s1).all() and np.isfinite(s2).all()):
        bad = int(sum(np.count_nonzero(~np.isfinite(x[i:i + chunk]))
                      for i in range(0, len(x), chunk)))
        raise ValueError(f"{op}: x must be finite; it holds {bad} NaN or inf values" if bad
                         else f"{op}: the sums overflowed float64 (values of magnitude up "
                              f"to {np.abs(x).max():.3g}); rescale x first")
    count = x.shape[0] * x.shape[2] * x.shape[3]
    m = s1 / count
    var = np.maximum(s2 / count - m * m, 0.0)
    mean, std = m + shift[:, 0, 0], np.sqrt(var)
    if max(np.abs(mean).max(), std.max()) > np.finfo(np.float32).max:
        raise ValueError(f"{op}: the mean or standard deviation ({mean.tolist()}, "
                         f"{std.tolist()}) exceeds float32's range; rescale x first")
    return mean.astype(np.float32), std.astype(np.float32)
