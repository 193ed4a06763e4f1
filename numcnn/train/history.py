"""History: one record per epoch of every figure the training loop measured."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..io import atomic_write

_FORMAT = "numcnn.History"


def to_builtin(value: Any) -> Any:
    """A JSON-friendly copy: numpy scalars -> int/float/bool, arrays -> nested lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    return value


def is_scalar(value: Any) -> bool:
    """A single real number (what a progress bar or ``EarlyStopping`` can use)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool)


class History:
    """Per-epoch records: ``history.records[i]`` is a dict such as
    ``{"epoch": 1, "train_loss": 0.9, "val_loss": 0.7, "val_accuracy": 0.8, "lr": 0.1,
    "epoch_time": 1.3}``; ``history["val_loss"]`` is that column as a list (``None`` for an
    epoch without it).  Arrays (per-class IoU, confusion matrices) are kept as lists.
    """

    def __init__(self, records: list[dict[str, Any]] | None = None) -> None:
        self.records: list[dict[str, Any]] = [to_builtin(dict(r)) for r in records or []]

    def append(self, record: Mapping[str, Any]) -> None:
        self.records.append(to_builtin(dict(record)))

    def keys(self) -> list[str]:
        """Every key of every record, in order of first appearance."""
        seen: dict[str, None] = {}
        for r in self.records:
            seen.update(dict.fromkeys(r))
        return list(seen)

    def __getitem__(self, key: str) -> list[Any]:
        if key not in self:
            raise KeyError(f"History has no {key!r}; it has {self.keys()}")
        return [r.get(key) for r in self.records]

    def __contains__(self, key: object) -> bool:
        return any(key in r for r in self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def best(self, key: str, mode: str = "min") -> tuple[int, float]:
        """``(epoch, value)`` of the best finite value of ``key`` ("min" or "max" mode)."""
        if mode not in ("min", "max"):
            raise ValueError(f"History.best: mode must be 'min' or 'max'; got {mode!r}")
        pairs = [(r.get("epoch", i + 1), r[key]) for i, r in enumerate(self.records)
                 if is_scalar(r.get(key)) and math.isfinite(r[key])]
        if not pairs:
            raise KeyError(f"History.best: no finite value of {key!r}; keys {self.keys()}")
        pick = min if mode == "min" else max
        return pick(pairs, key=lambda p: p[1])

    # ---------------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "version": 1, "records": self.records}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> History:
        if not isinstance(d, Mapping) or d.get("format") != _FORMAT or not isinstance(
                d.get("records"), list):
            got = sorted(d) if isinstance(d, Mapping) else type(d).__name__
            raise ValueError(f"History.from_dict: expected {{'format': {_FORMAT!r}, "
                             f"'records': [...]}}; got {got}")
        return cls(d["records"])

    def to_json(self, path: str | os.PathLike | None = None, indent: int | None = 1) -> str:
        """The history as JSON text, also written (atomically) to ``path`` if given.

        NaN and infinity are written as ``NaN``/``Infinity`` (Python's JSON dialect), so a
        diverged value survives the round trip.
        """
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            atomic_write(path, lambda f: f.write(text.encode("utf-8")))
        return text

    @classmethod
    def from_json(cls, path_or_text: str | os.PathLike) -> History:
        """Read a history written by ``to_json`` (a file path, or the JSON text itself)."""
        s = os.fspath(path_or_text)
        if not s.lstrip().startswith("{"):
            with open(s, encoding="utf-8") as f:
                s = f.read()
        try:
            d = json.loads(s)
        except json.JSONDecodeError as e:
            raise ValueError(f"History.from_json: not valid JSON ({e})") from e
        return cls.from_dict(d)

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, keys={self.keys()})"
