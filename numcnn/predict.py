"""Inference on whole images: overlapping windows blended into class probabilities, and
instance label images (one id per object) from them.

- ``sliding_window(model, image)`` -> per-pixel classes and probabilities, for an image of
  any size (optionally averaged over the 8 flips and quarter turns).
- ``probs_to_instances(probs)`` -> an int32 label image: connected components of the
  foreground (2 classes), or interiors grown into the foreground by a watershed (3 classes:
  background, interior, boundary).
- ``predict_instances(model, image)`` does both.
- ``otsu_watershed(image)``: the classical baseline without learning (an Otsu threshold,
  then a watershed on the distance transform), for comparison.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import relabel_sequential, watershed

from ._validate import integer, real
from .functional import softmax
from .nn.module import Module, no_grad


def _ramp(tile: int, overlap: int, dtype) -> np.ndarray:
    """1-D blending weight: rises linearly over the first ``overlap`` pixels, falls over the
    last, 1 in between; never 0, so every pixel is covered by a positive weight."""
    i = np.arange(tile) + 0.5
    if overlap == 0:
        return np.ones(tile, dtype=dtype)
    return np.minimum(1.0, np.minimum(i, tile - i) / overlap).astype(dtype)


def _starts(size: int, tile: int, step: int) -> list[int]:
    """Window starts covering [0, size): every ``step`` pixels, the last flush with the end."""
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, step))
    return starts + [size - tile]


# The 8 symmetries of a square: k quarter turns, then (if flip) a left-right mirror.
_SYMMETRIES = [(k, flip) for flip in (False, True) for k in range(4)]


def _transform(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    x = np.rot90(x, k, axes=(-2, -1))
    return x[..., ::-1] if flip else x


def _untransform(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    return np.rot90(x[..., ::-1] if flip else x, -k, axes=(-2, -1))


def _check_image(op: str, image) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise ValueError(f"{op}: expected an image (C, H, W) or (H, W); got "
                         f"{getattr(image, 'shape', type(image).__name__)}")
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"{op}: expected a floating-point image; got {image.dtype}")
    if image.size == 0:
        raise ValueError(f"{op}: the image is empty (shape {image.shape})")
    bad = ~np.isfinite(image)
    if bad.any():
        raise ValueError(f"{op}: the image has {int(bad.sum())} NaN or infinite pixels of "
                         f"{image.size}; a network cannot segment them (fill or crop them "
                         f"first)")
    return image


def sliding_window(model: Module, image: np.ndarray, tile: int = 64, overlap: int | None = None,
                   batch_size: int = 8, tta: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Segment a whole image with a model trained on ``tile`` x ``tile`` crops.

    Windows overlap by ``overlap`` pixels; their softmax probabilities are averaged with
    weights that fade towards each window's border (where the network saw less context),
    which hides the seams.  An image smaller than a tile is padded (reflecting its border).

    Parameters
    ----------
    model : maps (B, C, tile, tile) to logits (B, K, tile, tile); run in eval mode, no caches
    image : (C, H, W) or (H, W) float array (the model's dtype), finite
    tile : window size (a size the model accepts, e.g. a multiple of 2**depth for a U-Net)
    overlap : pixels shared by neighbouring windows, 0 <= overlap < tile (default tile // 4)
    batch_size : windows per forward pass
    tta : also average over the 8 flips and quarter turns of every window (test-time
        augmentation: 8 times the work, smoother probabilities)

    Returns
    -------
    labels : (H, W) int64, the most probable class per pixel
    probs : (K, H, W) float, the blended class probabilities
    """
    op = "sliding_window"
    image = _check_image(op, image)
    tile = integer(op, "tile", tile)
    overlap = tile // 4 if overlap is None else integer(op, "overlap", overlap, 0)
    batch_size = integer(op, "batch_size", batch_size)
    if not overlap < tile:
        raise ValueError(f"{op}: overlap must be in [0, tile={tile}); got {overlap}")
    img = image[None] if image.ndim == 2 else image
    C, H, W = img.shape
    pad_h, pad_w = max(tile - H, 0), max(tile - W, 0)
    if pad_h or pad_w:
        img = np.pad(img, ((0, 0), (0, pad_h), (0, pad_w)), mode="symmetric")
    Hp, Wp = img.shape[1:]
    step = tile - overlap
    corners = [(r, c) for r in _starts(Hp, tile, step) for c in _starts(Wp, tile, step)]
    weight = np.outer(_ramp(tile, overlap, img.dtype), _ramp(tile, overlap, img.dtype))
    symmetries = _SYMMETRIES if tta else _SYMMETRIES[:1]

    was_training = model.training
    model.eval()
    acc = wsum = None
    try:
        with no_grad():
            for k in range(0, len(corners), batch_size):
                batch = corners[k:k + batch_size]
                x = np.stack([img[:, r:r + tile, c:c + tile] for r, c in batch])
                probs = sum(_untransform(softmax(model(np.ascontiguousarray(
                    _transform(x, *s)))), *s) for s in symmetries) / len(symmetries)
                if acc is None:
                    acc = np.zeros((probs.shape[1], Hp, Wp), dtype=probs.dtype)
                    wsum = np.zeros((Hp, Wp), dtype=probs.dtype)
                for (r, c), p in zip(batch, probs):
                    acc[:, r:r + tile, c:c + tile] += p * weight
                    wsum[r:r + tile, c:c + tile] += weight
    finally:
        model.train(was_training)
    probs = (acc / wsum)[:, :H, :W]
    return probs.argmax(axis=0).astype(np.int64), probs


def _drop_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Set objects of fewer than ``min_size`` pixels to 0 (in place); return ``labels``."""
    small = np.bincount(labels.ravel()) < min_size
    small[0] = False
    labels[small[labels]] = 0
    return labels


def split_touching(mask: np.ndarray, min_distance: int) -> np.ndarray:
    """Label a (H, W) bool mask, cutting touching blobs along their necks: markers at the
    peaks of the (Gaussian-smoothed, sigma 1) distance to the background, at least
    ``min_distance`` pixels apart, grown by a watershed on the negative distance inside the
    mask.  Returns (H, W) int32 labels, 0 outside the mask."""
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian

    distance = gaussian(ndi.distance_transform_edt(mask), 1.0, preserve_range=True)
    regions = ndi.label(mask, structure=np.ones((3, 3), bool))[0]
    peaks = peak_local_max(distance, min_distance=min_distance, labels=regions,
                           exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=mask).astype(np.int32)


def probs_to_instances(probs: np.ndarray, interior_threshold: float = 0.5,
                       min_size: int = 8, min_distance: int | None = None) -> np.ndarray:
    """Instance labels from class probabilities.

    - 2 classes (background, nucleus): the connected components of ``probs[1] > 0.5``.
    - 3 classes (background, interior, boundary): the connected components of
      ``probs[1] > interior_threshold`` are the seeds (the boundary class keeps touching
      nuclei's interiors apart); with ``min_distance``, interiors that still touch are cut
      along their necks (``split_touching``); a watershed on the background probability
      grows each seed into the foreground ``probs[0] < 0.5``, so the objects get their full
      outline back.

    Objects (and seeds) smaller than ``min_size`` pixels are dropped; 8-connectivity.

    Parameters
    ----------
    probs : (K, H, W) float, K in {2, 3}, finite (e.g. from ``sliding_window``)
    interior_threshold : float in (0, 1), for 3 classes
    min_size : int >= 0, pixels
    min_distance : int >= 1, optional, for 3 classes: the least distance in pixels between
        two seeds cut from one interior (None: no cutting)

    Returns
    -------
    (H, W) int32: 0 background, objects numbered 1..n in row-major order of their first pixel
    """
    op = "probs_to_instances"
    if not isinstance(probs, np.ndarray) or probs.ndim != 3 or probs.shape[0] not in (2, 3) \
            or not np.issubdtype(probs.dtype, np.floating):
        raise ValueError(f"{op}: expected float class probabilities (K, H, W) with K = 2 "
                         f"(background, nucleus) or 3 (background, interior, boundary); got "
                         f"{getattr(probs, 'shape', type(probs).__name__)}, "
                         f"{getattr(probs, 'dtype', '')}")
    if not np.isfinite(probs).all():
        raise ValueError(f"{op}: probs has NaN or infinite values")
    interior_threshold = real(op, "interior_threshold", interior_threshold, 0, 1,
                              min_open=True, max_open=True)
    min_size = integer(op, "min_size", min_size, 0)
    if min_distance is not None:
        min_distance = integer(op, "min_distance", min_distance)

    def components(mask: np.ndarray) -> np.ndarray:
        return _drop_small(ndi.label(mask, structure=np.ones((3, 3), bool))[0], min_size)

    if probs.shape[0] == 2:
        labels = components(probs[1] > 0.5)
    else:
        interior = probs[1] > interior_threshold
        seeds = components(interior) if min_distance is None else \
            _drop_small(split_touching(interior, min_distance), min_size)
        foreground = (probs[0] < 0.5) | (seeds > 0)
        labels = _drop_small(watershed(probs[0], seeds, mask=foreground, connectivity=2),
                             min_size)
    return relabel_sequential(labels)[0].astype(np.int32)


def predict_instances(model: Module, image: np.ndarray, tile: int = 64,
                      overlap: int | None = None, batch_size: int = 8, tta: bool = False,
                      interior_threshold: float = 0.5, min_size: int = 8,
                      min_distance: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An instance label image for a whole image of any size: ``sliding_window`` then
    ``probs_to_instances`` (see both for the arguments).

    Returns
    -------
    labels : (H, W) int32, 0 background, one id per object
    probs : (K, H, W) float, the blended class probabilities
    """
    _, probs = sliding_window(model, image, tile, overlap, batch_size, tta)
    return probs_to_instances(probs, interior_threshold, min_size, min_distance), probs


def otsu_watershed(image: np.ndarray, sigma: float = 1.0, min_distance: int = 5,
                   threshold: float | None = None, min_size: int = 8) -> np.ndarray:
    """Nuclei without learning, the classical way: smooth, threshold, split touching nuclei.

    The image is smoothed (Gaussian, ``sigma`` pixels) and thresholded (Otsu's threshold
    unless ``threshold`` is given, e.g. Otsu's of the training rows only); holes are filled;
    the peaks of the (smoothed) distance to the background, at least ``min_distance`` apart,
    are the markers of a watershed on the negative distance, which cuts touching nuclei
    along their necks.  Objects smaller than ``min_size`` pixels are dropped.

    Parameters
    ----------
    image : (H, W) or (1, H, W) float, finite
    sigma : float >= 0 (0: no smoothing)
    min_distance : int >= 1, pixels between two markers
    threshold : float, optional
    min_size : int >= 0

    Returns
    -------
    (H, W) int32 label image, 0 background, objects numbered 1..n
    """
    from skimage.filters import gaussian, threshold_otsu

    op = "otsu_watershed"
    image = _check_image(op, image)
    if image.ndim == 3:
        if image.shape[0] != 1:
            raise ValueError(f"{op}: expected one channel; got an image of shape {image.shape}")
        image = image[0]
    sigma = real(op, "sigma", sigma, 0)
    min_distance = integer(op, "min_distance", min_distance)
    min_size = integer(op, "min_size", min_size, 0)
    smooth = gaussian(image, sigma, preserve_range=True) if sigma else image
    if threshold is None:
        threshold = threshold_otsu(smooth)
    threshold = real(op, "threshold", threshold)
    foreground = ndi.binary_fill_holes(smooth > threshold)
    labels = _drop_small(split_touching(foreground, min_distance), min_size)
    return relabel_sequential(labels)[0].astype(np.int32)
