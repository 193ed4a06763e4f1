"""Inference on images larger than the training tiles: overlapping windows, blended."""

from __future__ import annotations

import numpy as np

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


def sliding_window(model: Module, image: np.ndarray, tile: int = 64, overlap: int | None = None,
                   batch_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Segment a whole image with a model trained on ``tile`` x ``tile`` crops.

    Windows overlap by ``overlap`` pixels; their softmax probabilities are averaged with
    weights that fade towards each window's border (where the network saw less context),
    which hides the seams.  An image smaller than a tile is padded (reflecting its border).

    Parameters
    ----------
    model : maps (B, C, tile, tile) to logits (B, K, tile, tile); run in eval mode, no caches
    image : (C, H, W) or (H, W) float array (the model's dtype)
    tile : window size (a size the model accepts, e.g. a multiple of 2**depth for a U-Net)
    overlap : pixels shared by neighbouring windows, 0 <= overlap < tile (default tile // 4)

    Returns
    -------
    labels : (H, W) int64, the most probable class per pixel
    probs : (K, H, W) float, the blended class probabilities
    """
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise ValueError(f"sliding_window: expected an image (C, H, W) or (H, W); got "
                         f"{getattr(image, 'shape', type(image).__name__)}")
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"sliding_window: expected a floating-point image; got {image.dtype}")
    overlap = tile // 4 if overlap is None else overlap
    if not 0 <= overlap < tile:
        raise ValueError(f"sliding_window: overlap must be in [0, tile={tile}); got {overlap}")
    img = image[None] if image.ndim == 2 else image
    C, H, W = img.shape
    pad_h, pad_w = max(tile - H, 0), max(tile - W, 0)
    if pad_h or pad_w:
        img = np.pad(img, ((0, 0), (0, pad_h), (0, pad_w)), mode="symmetric")
    Hp, Wp = img.shape[1:]
    step = tile - overlap
    corners = [(r, c) for r in _starts(Hp, tile, step) for c in _starts(Wp, tile, step)]
    weight = np.outer(_ramp(tile, overlap, img.dtype), _ramp(tile, overlap, img.dtype))

    was_training = model.training
    model.eval()
    acc = wsum = None
    try:
        with no_grad():
            for k in range(0, len(corners), batch_size):
                batch = corners[k:k + batch_size]
                x = np.stack([img[:, r:r + tile, c:c + tile] for r, c in batch])
                probs = softmax(model(x))
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
