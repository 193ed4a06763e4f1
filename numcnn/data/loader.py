"""Datasets and the ``DataLoader`` that batches, shuffles and augments them.

A *dataset* is anything with ``__len__`` and ``__getitem__(i) -> (x, y)``: ``x`` one image
(C, H, W) and ``y`` its class label (a scalar) or its mask (H, W).  ``ArrayDataset`` wraps
two arrays and lets the loader take whole batches by fancy indexing, with no Python loop
per sample.

Randomness: the loader owns one ``numpy.random.Generator``.  Each epoch draws a permutation
from it (never sampling with replacement), and the transforms draw from the same generator,
so one ``seed`` fixes every batch of every epoch.  ``state_dict()`` saves that generator
(plus where in the epoch we are) as plain numpy arrays that fit in an ``.npz`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._random import default_rng, rng_state_from_arrays, rng_state_to_arrays
from .._validate import integer

Transform = Callable[[np.ndarray, Any, np.random.Generator], tuple[np.ndarray, Any]]
"""A transform is called as ``x, y = transform(x, y, rng)`` on one sample (see transforms)."""


@runtime_checkable
class Dataset(Protocol):
    """Anything with ``len(ds)`` and ``ds[i] -> (x, y)``."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> tuple[Any, Any]: ...


class ArrayDataset:
    """Images and targets held in two arrays of the same length.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W) (or any (N, ...))
        Inputs; any real dtype (uint8 or float), cast to float32 batch by batch.
    y : ndarray, shape (N,) or (N, H, W)
        Integer class labels, or integer masks whose (H, W) match ``x``'s last two axes.
        A boolean mask is accepted and read as 0/1.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
            raise TypeError(f"ArrayDataset: x and y must be numpy arrays; got "
                            f"{type(x).__name__} and {type(y).__name__}")
        if x.ndim < 2 or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) \
                or np.issubdtype(x.dtype, np.complexfloating):
            raise ValueError(f"ArrayDataset: x must be a real array of shape (N, C, H, W) or "
                             f"(N, ...); got shape {x.shape}, dtype {x.dtype}")
        if len(x) != len(y):
            raise ValueError(f"ArrayDataset: x and y must have the same length; got "
                             f"len(x)={len(x)} (shape {x.shape}), len(y)={len(y)} "
                             f"(shape {y.shape})")
        if not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
            raise ValueError(f"ArrayDataset: y must hold integer class labels or masks; got "
                             f"dtype {y.dtype} (convert with y.astype(np.int64))")
        if y.ndim == 3:
            if x.ndim != 4 or y.shape[1:] != x.shape[2:]:
                raise ValueError(f"ArrayDataset: masks y must have shape (N, H, W) matching "
                                 f"x (N, C, H, W); expected y of shape "
                                 f"{(len(x), *x.shape[-2:])}, got {y.shape} for x {x.shape}")
        elif y.ndim != 1:
            raise ValueError(f"ArrayDataset: y must be labels (N,) or masks (N, H, W); got "
                             f"shape {y.shape}")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            bad = np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1))
            raise ValueError(f"ArrayDataset: x must be finite; samples {bad[:5].tolist()}"
                             f"{'...' if len(bad) > 5 else ''} ({len(bad)} in all) hold NaN "
                             f"or inf")
        self.x = x
        self.y = y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[np.ndarray, Any]:
        return self.x[i], self.y[i]


def _describe(v: Any) -> str:
    """What arrived, for a message: a type, and the value if it is short."""
    text = repr(v)
    return type(v).__name__ + (f" {text}" if len(text) <= 40 else "")


def _stack(what: str, items: list, indices, one_kind: bool = False) -> np.ndarray:
    """``np.stack(items)`` of real numeric arrays of one shape (and, if ``one_kind``, all
    integer or all float), or a ValueError/TypeError naming the samples that differ:
    ``what`` reads "<what> <index>", e.g. "the x of sample" 3."""
    arrays = [np.asarray(v) for v in items]
    for a, v, i in zip(arrays, items, indices):
        if a.dtype.kind not in "biuf":
            raise TypeError(f"DataLoader: {what} {i} must be a real number or array (int, "
                            f"float or bool); got {_describe(v)}"
                            + (" (map class names to ints first, e.g. "
                               "names.index(label))" if a.dtype.kind in "USO" else ""))
    first = arrays[0]
    for a, i in zip(arrays, indices):
        if a.shape != first.shape:
            raise ValueError(f"DataLoader: the samples of a batch must share one shape; "
                             f"{what} {indices[0]} has shape {first.shape}, {what} {i} "
                             f"{a.shape} (crop, pad or resize them to one size)")
        if one_kind and (a.dtype.kind == "f") != (first.dtype.kind == "f"):
            raise TypeError(f"DataLoader: {what} {indices[0]} is {first.dtype} but {what} {i} "
                            f"is {a.dtype}; give every sample integer or every sample float "
                            f"values")
    return np.stack(arrays)


def _pairs(what: str, pairs: list, indices) -> tuple[list, list]:
    """Split ``[(x, y), ...]`` into xs and ys, checking that each is a pair."""
    for p, i in zip(pairs, indices):
        if not isinstance(p, (tuple, list)) or len(p) != 2:
            raise TypeError(f"DataLoader: {what} {i} must be a pair (x, y); got "
                            f"{_describe(p)}")
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _cast_targets(y: np.ndarray) -> np.ndarray:
    """int64 for labels and masks (what losses index with), float32 for real targets."""
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        return y.astype(np.int64, copy=False)
    return y.astype(np.float32, copy=False)


def _encode_rng(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The generator's state as ``.npz``-safe arrays under keys "rng.*"."""
    return {f"rng.{k}": v for k, v in rng_state_to_arrays(rng).items()}


def _decode_rng(state: dict[str, Any]) -> dict[str, Any]:
    """Inverse of ``_encode_rng``: the nested dict that ``bit_generator.state`` takes."""
    return rng_state_from_arrays({k[4:]: v for k, v in state.items() if k.startswith("rng.")})


class DataLoader:
    """Iterate over a dataset in (optionally shuffled, augmented) mini-batches.

    Parameters
    ----------
    dataset : Dataset
        ``len(dataset)`` samples, ``dataset[i] -> (x, y)``.  An ``ArrayDataset`` is batched
        by fancy indexing (fast path); any other dataset sample by sample.
    batch_size : int
        Samples per batch (>= 1).  The last batch is smaller unless ``drop_last``.
    shuffle : bool
        Draw a fresh permutation of the samples at the start of every epoch.
    drop_last : bool
        Drop the last, incomplete batch.
    seed : int, numpy.random.Generator or None
        Seeds the loader's generator.  ``None`` draws a seed from numcnn's global generator
        (so ``numcnn.manual_seed`` makes it reproducible too).  A Generator is used as is.
    transform : callable, optional
        Applied to every sample as ``x, y = transform(x, y, rng)``, with ``x`` a float32
        (C, H, W) image, ``y`` an int64 scalar label or (H, W) mask, and ``rng`` the loader's
        generator (transforms must draw randomness from it only).  See
        ``numcnn.data.transforms``.

    Yields
    ------
    xb : ndarray, float32, shape (B, C, H, W)
    yb : ndarray, int64, shape (B,) or (B, H, W)  (float32 if the targets are real-valued)

    Notes
    -----
    ``state_dict()`` may be taken between epochs or in the middle of one: after
    ``load_state_dict`` the next iteration regenerates the interrupted epoch's permutation
    and skips the batches already seen (re-running their transforms so the generator ends
    in the same state), so a resumed run sees bit-identical batches.
    """

    def __init__(self, dataset: Dataset, batch_size: int, shuffle: bool = False,
                 drop_last: bool = False, seed: int | np.random.Generator | None = None,
                 transform: Transform | None = None) -> None:
        op = "DataLoader"
        self.batch_size = integer(op, "batch_size", batch_size)
        if (not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__")
                or isinstance(dataset, (str, bytes, Mapping))):
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__(i) -> "
                            f"(x, y) (e.g. ArrayDataset(x, y)); got {type(dataset).__name__}")
        if len(dataset) == 0:
            raise ValueError("DataLoader got an empty dataset (len 0); expected at least one "
                             "sample")
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"DataLoader: {name} must be True or False; got "
                                f"{_describe(flag)}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable as transform(x, y, rng); "
                            f"got {type(transform).__name__}")
        if not isinstance(dataset, ArrayDataset):  # a list of ints fails here, not mid-epoch
            _pairs("dataset item", [dataset[0]], [0])  # e.g. "dataset item 0 must be a pair"
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        if seed is None:
            seed = int(default_rng().integers(2**63))
        if not isinstance(seed, np.random.Generator):
            seed = np.random.default_rng(integer(op, "seed", seed, 0))
        self.rng = seed
        self.epoch = 0  # completed epochs
        self._batches_done = 0  # batches yielded in the epoch under way
        self._epoch_start_state: dict | None = None  # rng state when that epoch began
        self._skip = 0  # batches to skip on the next epoch (set by load_state_dict)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        return self.rng.permutation(n) if self.shuffle else np.arange(n)

    def _gather(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stack the samples ``idx`` into one batch, cast once: x to float32, y to int64."""
        ds = self.dataset
        if isinstance(ds, ArrayDataset):
            xb, yb = ds.x[idx], ds.y[idx]
        else:
            xs, ys = _pairs("dataset item", [ds[int(i)] for i in idx], idx)
            xb = _stack("the x of sample", xs, idx)
            yb = _stack("the y of sample", ys, idx, one_kind=True)
        xb = xb.astype(np.float32, copy=False)
        yb = _cast_targets(yb)
        if self.transform is not None:
            xs, ys = _pairs("what the transform returned for sample",
                            [self.transform(xb[j], yb[j], self.rng) for j in range(len(idx))],
                            idx)
            xb = _stack("the x the transform returned for sample", xs, idx)
            xb = xb.astype(np.float32, copy=False)
            yb = _cast_targets(_stack("the y the transform returned for sample", ys, idx,
                                      one_kind=True))
        return np.ascontiguousarray(xb), np.ascontiguousarray(yb)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        self._epoch_start_state = self.rng.bit_generator.state
        skip, self._skip = self._skip, 0
        self._batches_done = skip
        order = self._order()
        n_batches = len(self)
        for b in range(n_batches):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            if b < skip:
                # Resuming mid-epoch: the skipped batches' transforms still run, so that the
                # generator reaches exactly the state it had when the checkpoint was taken.
                if self.transform is not None:
                    self._gather(idx)
                continue
            batch = self._gather(idx)
            self._batches_done = b + 1
            yield batch
        self.epoch += 1
        self._batches_done = 0
        self._epoch_start_state = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """The loader's position and generator state, as ``.npz``-safe numpy arrays.

        Returns
        -------
        dict of str -> ndarray
            Keys ``'epoch'``, ``'batches_done'`` and ``'rng.*'`` (the bit generator's state;
            128-bit integers are stored as decimal strings).  ``np.savez(path, **state)``
            and ``dict(np.load(path, allow_pickle=False))`` round-trip it.
        """
        # An epoch whose last batch has been handed out counts as finished (the generator
        # already holds its end-of-epoch state), so a resumed loop does not get an empty epoch.
        finished = self._batches_done >= len(self)
        mid_epoch = (self._batches_done > 0 and self._epoch_start_state is not None
                     and not finished)
        if mid_epoch:
            # Save the state the epoch began with: resuming redraws the same permutation.
            saved = np.random.Generator(type(self.rng.bit_generator)())
            saved.bit_generator.state = self._epoch_start_state
        else:
            saved = self.rng
        state = _encode_rng(saved)
        state["epoch"] = np.array(self.epoch + int(finished and self._epoch_start_state
                                                   is not None), dtype=np.int64)
        state["batches_done"] = np.array(self._batches_done if mid_epoch else 0, dtype=np.int64)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``; the next iteration continues where it was taken.

        Everything is checked before anything changes: on any error the loader is left as
        it was.
        """
        op = "DataLoader.load_state_dict"
        if not isinstance(state, Mapping):
            raise TypeError(f"{op}: expected a dict from DataLoader.state_dict(); got "
                            f"{type(state).__name__}")
        missing = {"epoch", "batches_done", "rng.bit_generator"} - set(state)
        if missing:
            raise ValueError(f"{op}: expected a dict from DataLoader.state_dict(); missing "
                             f"keys {sorted(missing)}")
        counts = {}
        for key, limit in (("epoch", None), ("batches_done", max(len(self) - 1, 0))):
            v = state[key]
            v = v.item() if isinstance(v, np.ndarray) and v.shape == () else v
            counts[key] = integer(op, key, v, 0, limit)
        expected = type(self.rng.bit_generator)
        try:
            for key, v in state.items():  # ints are decimal strings, MT19937's key an array
                kind = np.asarray(v).dtype.kind
                if (key.startswith("rng.") and key != "rng.bit_generator"
                        and not (kind in "iu" or (kind == "U" and str(v).isdigit()))):
                    raise ValueError(f"{key} must hold an integer; got {_describe(v)}")
            rng_state = _decode_rng(state)
            name = rng_state["bit_generator"]
            if name != expected.__name__:
                raise ValueError(f"the state is for a {name} generator; this loader uses "
                                 f"{expected.__name__}")
            expected().state = rng_state  # a scratch generator refuses a damaged state
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"{op}: the generator state 'rng.*' is not one that "
                             f"DataLoader.state_dict() wrote ({e})") from None
        self.rng.bit_generator.state = rng_state
        self.epoch = counts["epoch"]
        self._skip = counts["batches_done"]
        self._batches_done = 0
        self._epoch_start_state = None
