"""A real segmentation task: fluorescent cell nuclei, hand-labelled, 512 x 512 pixels.

The image and its instance labels (one integer per nucleus) come from the 2018 Data Science
Bowl (Caicedo et al., Nature Methods 16, 2019) as bundled by the PyPI package ``stardist``
(``stardist.data.test_image_nuclei_2d``; reading it needs no TensorFlow).

Train and validation are two horizontal bands of the image that do not overlap (top rows
for training, bottom rows for validation), each cut into non-overlapping tiles, so no
validation pixel is ever seen in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import INSTALL_HINT, check_fraction, check_int

TARGETS = {"binary": 2, "3class": 3}


@dataclass(frozen=True)
class NucleiData:
    """Tiles for training and validation, and the full image for prediction and plots.

    Attributes
    ----------
    x_train, x_val : ndarray, float32, shape (N, 1, tile, tile)
    y_train, y_val : ndarray, int64, shape (N, tile, tile)
    image : ndarray, float32, shape (H, W)
        The whole normalised image (``image[None, None]`` feeds a model).
    target : ndarray, int64, shape (H, W)
        The whole target (binary: 0 background, 1 nucleus; 3class: 0 background,
        1 interior, 2 boundary).
    instances : ndarray, int64, shape (H, W)
        The instance labels (0 background, k > 0 nucleus k).
    val_start : int
        First row of the validation band: rows ``[0, val_start)`` give training tiles,
        rows ``[val_start, H)`` validation tiles.
    num_classes : int
        2 for ``"binary"``, 3 for ``"3class"``.
    tile : int
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    image: np.ndarray
    target: np.ndarray
    instances: np.ndarray
    val_start: int
    num_classes: int
    tile: int


def instance_boundaries(instances: np.ndarray) -> np.ndarray:
    """Pixels of an instance that touch (4-neighbourhood) another label or the background.

    Parameters
    ----------
    instances : ndarray, integer, shape (H, W); 0 is background.

    Returns
    -------
    ndarray, bool, shape (H, W).  Background is never a boundary; the image's edge is not
    treated as background (a nucleus cut by the edge has no boundary drawn along it).
    """
    p = np.pad(instances, 1, mode="edge")
    c = p[1:-1, 1:-1]
    differs = ((p[:-2, 1:-1] != c) | (p[2:, 1:-1] != c)
               | (p[1:-1, :-2] != c) | (p[1:-1, 2:] != c))
    return differs & (c > 0)


def instances_to_target(instances: np.ndarray, target: str = "binary") -> np.ndarray:
    """Class map from instance labels: ``"binary"`` (0/1) or ``"3class"`` (0/1/2, see
    ``NucleiData.target``); int64, shape (H, W)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {tuple(TARGETS)}; got {target!r}")
    fg = (instances > 0).astype(np.int64)
    if target == "binary":
        return fg
    return fg + instance_boundaries(instances)  # boundary pixels: 1 + 1 = 2


def _tiles(a: np.ndarray, tile: int) -> np.ndarray:
    """Non-overlapping tile x tile blocks of a (rows, W) array, row by row; partial edge
    blocks are dropped.  Returns (n, tile, tile)."""
    r, w = (a.shape[0] // tile) * tile, (a.shape[1] // tile) * tile
    a = a[:r, :w]
    return a.reshape(r // tile, tile, w // tile, tile).swapaxes(1, 2).reshape(-1, tile, tile)


def nuclei_from_arrays(image: np.ndarray, instances: np.ndarray, target: str = "binary",
                       tile: int = 64, val_fraction: float = 0.25,
                       percentiles: tuple[float, float] = (1.0, 99.8)) -> NucleiData:
    """Build ``NucleiData`` from any 2-D image and its instance labels.

    The image is percentile-normalised, ``(img - p_lo) / (p_hi - p_lo)`` clipped to [0, 1],
    with the percentiles taken over the training band only (nothing from validation leaks
    into the preprocessing).  The validation band is the bottom ``val_fraction`` of the rows,
    rounded to whole tiles.

    Raises
    ------
    ValueError
        Wrong shapes/dtypes, a tile that does not fit, or bands without a whole tile.
    """
    op = "nuclei_from_arrays"
    image, instances = np.asarray(image), np.asarray(instances)
    if image.ndim != 2 or not np.issubdtype(image.dtype, np.number):
        raise ValueError(f"{op}: expected a 2-D real image (H, W); got shape {image.shape}, "
                         f"dtype {image.dtype}")
    if instances.shape != image.shape or not np.issubdtype(instances.dtype, np.integer):
        raise ValueError(f"{op}: expected integer instance labels of the image's shape "
                         f"{image.shape}; got shape {instances.shape}, dtype {instances.dtype}")
    if target not in TARGETS:
        raise ValueError(f"{op}: target must be one of {tuple(TARGETS)}; got {target!r}")
    tile = check_int(op, "tile", tile, 1)
    val_fraction = check_fraction(op, "val_fraction", val_fraction)
    H, W = image.shape
    val_rows = max(1, int(round(val_fraction * H / tile))) * tile
    val_start = H - val_rows
    if tile > W or val_start < tile:
        raise ValueError(f"{op}: tile={tile} with val_fraction={val_fraction} leaves no whole "
                         f"tile for training or validation in a {H}x{W} image; expected "
                         f"2 * tile <= H and tile <= W")
    lo, hi = np.percentile(image[:val_start], percentiles)
    if not hi > lo:
        raise ValueError(f"{op}: the training band is constant (percentiles {percentiles} "
                         f"give {lo} and {hi}); cannot normalise")
    img = np.clip((image.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    instances = instances.astype(np.int64)
    tgt = instances_to_target(instances, target)
    return NucleiData(
        x_train=np.ascontiguousarray(_tiles(img[:val_start], tile)[:, None]),
        y_train=np.ascontiguousarray(_tiles(tgt[:val_start], tile)),
        x_val=np.ascontiguousarray(_tiles(img[val_start:], tile)[:, None]),
        y_val=np.ascontiguousarray(_tiles(tgt[val_start:], tile)),
        image=img, target=tgt, instances=instances, val_start=val_start,
        num_classes=TARGETS[target], tile=tile)


def load_nuclei(target: str = "binary", tile: int = 64, val_fraction: float = 0.25,
                percentiles: tuple[float, float] = (1.0, 99.8)) -> NucleiData:
    """The stardist nuclei image (512 x 512) as training and validation tiles.

    Parameters
    ----------
    target : {"binary", "3class"}
        ``"binary"``: 0 background, 1 nucleus.  ``"3class"``: 0 background, 1 interior,
        2 boundary (nucleus pixels touching another nucleus or the background), which lets
        a network separate touching nuclei.
    tile : int
        Side of the square, non-overlapping tiles (64 gives 48 train / 16 val tiles).
    val_fraction : float
        Share of the rows (from the bottom, rounded to whole tiles) kept for validation.
    percentiles : (float, float)
        Intensity percentiles mapped to 0 and 1.

    Returns
    -------
    NucleiData
        ``x_train (N, 1, tile, tile) float32``, ``y_train (N, tile, tile) int64``,
        ``x_val``, ``y_val``, the full ``image``/``target``/``instances`` and ``val_start``.

    Raises
    ------
    ImportError
        If stardist is not installed (``pip install 'numcnn[data]'``).
    """
    try:
        from stardist.data import test_image_nuclei_2d
    except ImportError as e:
        raise ImportError(f"load_nuclei needs the stardist package (it ships the image): "
                          f"{INSTALL_HINT}") from e
    img, lbl = test_image_nuclei_2d(return_mask=True)
    return nuclei_from_arrays(img, lbl, target=target, tile=tile, val_fraction=val_fraction,
                              percentiles=percentiles)
