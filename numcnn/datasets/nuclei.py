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

from .._validate import integer
from ._common import INSTALL_HINT, check_fraction

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
    val_start, val_stop : int
        The validation band is rows ``[val_start, val_stop)``; the rows above and below it
        give the training tiles.
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
    val_stop: int
    num_classes: int
    tile: int


def instance_boundaries(instances: np.ndarray, width: int = 1) -> np.ndarray:
    """Pixels of an instance within ``width`` pixels (Euclidean) of another label or the
    background: with ``width=1``, those whose 4-neighbourhood holds another label.

    Parameters
    ----------
    instances : ndarray, integer, shape (H, W); 0 is background.
    width : int >= 1

    Returns
    -------
    ndarray, bool, shape (H, W).  Background is never a boundary; the image's edge is not
    treated as background (a nucleus cut by the edge has no boundary drawn along it).
    """
    from scipy import ndimage as ndi  # loads on first use: `import numcnn` stays light

    op = "instance_boundaries"
    instances = _instance_labels(op, instances)
    width = integer(op, "width", width)
    # Edge padding continues every label across the image's edge, so the edge is no border.
    lab = np.pad(instances, width, mode="edge")
    out = np.zeros(lab.shape, bool)
    for k, box in enumerate(ndi.find_objects(lab), start=1):  # one loop step per object
        if box is None:
            continue
        box = tuple(slice(max(s.start - width, 0), s.stop + width) for s in box)
        inside = lab[box] == k
        # distance from each pixel of object k to the nearest pixel that is not in it
        out[box] |= inside & (ndi.distance_transform_edt(inside) <= width)
    return out[width:-width, width:-width]


def instances_to_target(instances: np.ndarray, target: str = "binary",
                        boundary_width: int = 1) -> np.ndarray:
    """Class map from instance labels: ``"binary"`` (0 background, 1 nucleus) or
    ``"3class"`` (0 background, 1 interior, 2 boundary: the pixels that
    ``instance_boundaries(instances, boundary_width)`` marks); int64, shape (H, W)."""
    op = "instances_to_target"
    instances = _instance_labels(op, instances)
    if target not in TARGETS:
        raise ValueError(f"{op}: target must be one of {tuple(TARGETS)}; got {target!r}")
    fg = (instances > 0).astype(np.int64)
    if target == "binary":
        return fg
    return fg + instance_boundaries(instances, boundary_width)  # boundary: 1 + 1 = 2


def _instance_labels(op: str, instances) -> np.ndarray:
    if not isinstance(instances, np.ndarray) or instances.ndim != 2 \
            or not np.issubdtype(instances.dtype, np.integer):
        raise TypeError(f"{op}: instances must be a 2-D integer label image (H, W); got "
                        f"{_describe(instances)}")
    if instances.size and instances.min() < 0:
        raise ValueError(f"{op}: instances must be non-negative ids (0 background); got "
                         f"{int(instances.min())}")
    return instances


def _describe(a) -> str:
    if isinstance(a, np.ndarray):
        return f"shape {a.shape}, dtype {a.dtype}"
    return type(a).__name__


def _tiles(a: np.ndarray, tile: int, stride: int) -> np.ndarray:
    """tile x tile windows of a (rows, W) band every ``stride`` pixels, row by row; windows
    that would cross the band's end are dropped.  Returns (n, tile, tile), a copy."""
    if a.shape[0] < tile:
        return np.zeros((0, tile, tile), a.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(a, (tile, tile))[::stride, ::stride]
    return windows.reshape(-1, tile, tile)


def nuclei_from_arrays(image: np.ndarray, instances: np.ndarray, target: str = "binary",
                       tile: int = 64, val_fraction: float = 0.25,
                       percentiles: tuple[float, float] = (1.0, 99.8),
                       boundary_width: int = 1, val_rows: tuple[int, int] | None = None,
                       train_stride: int | None = None) -> NucleiData:
    """Build ``NucleiData`` from any 2-D image and its instance labels.

    The validation band is rows ``val_rows = (start, stop)`` or, by default, the bottom
    ``val_fraction`` of the rows rounded to whole tiles; the rows above and below it are the
    training bands.  Each band is tiled on its own, so no tile crosses from one into another.
    The image is percentile-normalised, ``(img - p_lo) / (p_hi - p_lo)`` clipped to [0, 1],
    with the percentiles taken over the training bands only (nothing from validation leaks
    into the preprocessing).

    Parameters
    ----------
    target, tile, val_fraction, percentiles, boundary_width : see ``load_nuclei``
    val_rows : (int, int), optional
        First and one-past-last row of the validation band (at least one tile high).
    train_stride : int, optional
        Training tiles start every ``train_stride`` pixels (default ``tile``: no overlap);
        a smaller stride gives more, overlapping tiles.  Validation tiles never overlap.

    Raises
    ------
    TypeError, ValueError
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
    if not np.isfinite(image).all():
        raise ValueError(f"{op}: the image has {int((~np.isfinite(image)).sum())} NaN or "
                         f"infinite pixels")
    if target not in TARGETS:
        raise ValueError(f"{op}: target must be one of {tuple(TARGETS)}; got {target!r}")
    tile = integer(op, "tile", tile)
    train_stride = tile if train_stride is None else integer(op, "train_stride", train_stride)
    H, W = image.shape
    if val_rows is None:
        val_fraction = check_fraction(op, "val_fraction", val_fraction)
        val_start, val_stop = H - max(1, int(round(val_fraction * H / tile))) * tile, H
    else:
        if not isinstance(val_rows, (tuple, list)) or len(val_rows) != 2:
            raise TypeError(f"{op}: val_rows must be a pair (start, stop) of rows; got "
                            f"{val_rows!r}")
        val_start = integer(op, "val_rows[0]", val_rows[0], 0, H - 1)
        val_stop = integer(op, "val_rows[1]", val_rows[1], val_start + 1, H)
    train_bands = [(0, val_start), (val_stop, H)]
    if tile > W or val_stop - val_start < tile or all(b - a < tile for a, b in train_bands):
        raise ValueError(f"{op}: tile={tile} with validation rows [{val_start}, {val_stop}) "
                         f"leaves no whole tile for training or validation in a {H}x{W} "
                         f"image; expected a validation band and a training band at least "
                         f"one tile high, and tile <= W")
    train_pixels = np.concatenate([image[a:b].ravel() for a, b in train_bands])
    lo, hi = np.percentile(train_pixels, percentiles)
    if not hi > lo:
        raise ValueError(f"{op}: the training band is constant (percentiles {percentiles} "
                         f"give {lo} and {hi}); cannot normalise")
    img = np.clip((image.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    instances = instances.astype(np.int64)
    tgt = instances_to_target(instances, target, boundary_width)

    def train_tiles(a: np.ndarray) -> np.ndarray:
        return np.concatenate([_tiles(a[lo:hi], tile, train_stride) for lo, hi in train_bands])

    return NucleiData(
        x_train=np.ascontiguousarray(train_tiles(img)[:, None]),
        y_train=np.ascontiguousarray(train_tiles(tgt)),
        x_val=np.ascontiguousarray(_tiles(img[val_start:val_stop], tile, tile)[:, None]),
        y_val=np.ascontiguousarray(_tiles(tgt[val_start:val_stop], tile, tile)),
        image=img, target=tgt, instances=instances, val_start=val_start, val_stop=val_stop,
        num_classes=TARGETS[target], tile=tile)


def load_nuclei(target: str = "binary", tile: int = 64, val_fraction: float = 0.25,
                percentiles: tuple[float, float] = (1.0, 99.8), boundary_width: int = 1,
                val_rows: tuple[int, int] | None = None,
                train_stride: int | None = None) -> NucleiData:
    """The stardist nuclei image (512 x 512, 125 nuclei) as training and validation tiles.

    Parameters
    ----------
    target : {"binary", "3class"}
        ``"binary"``: 0 background, 1 nucleus.  ``"3class"``: 0 background, 1 interior,
        2 boundary (nucleus pixels within ``boundary_width`` of another nucleus or the
        background), which lets a network separate touching nuclei.
    tile : int
        Side of the square tiles (64 gives 48 train / 16 val tiles).
    val_fraction : float
        Share of the rows (from the bottom, rounded to whole tiles) kept for validation.
    percentiles : (float, float)
        Intensity percentiles mapped to 0 and 1.
    boundary_width : int
        Width in pixels of the boundary class of ``"3class"`` (see ``instance_boundaries``).
    val_rows : (int, int), optional
        Rows [start, stop) of the validation band instead of the bottom ``val_fraction``
        (cross-validation folds); the rows above and below are tiled for training apart.
    train_stride : int, optional
        Step between training tiles (default ``tile``; smaller: overlapping tiles).

    Returns
    -------
    NucleiData
        ``x_train (N, 1, tile, tile) float32``, ``y_train (N, tile, tile) int64``,
        ``x_val``, ``y_val``, the full ``image``/``target``/``instances``, ``val_start`` and
        ``val_stop``.

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
                              percentiles=percentiles, boundary_width=boundary_width,
                              val_rows=val_rows, train_stride=train_stride)
