"""Callbacks: small objects that ``fit`` calls at fixed points of training.

The protocol is three optional methods; a plain function ``f(epoch, logs) -> bool | None``
is accepted too and used as ``on_epoch_end``:

- ``on_train_begin(logs)`` once before the first epoch (``logs`` holds ``start_epoch``,
  ``epochs``);
- ``on_epoch_end(epoch, logs) -> bool | None`` after each epoch's validation, with the
  epoch's record (1-based ``epoch``); return ``True`` to stop training;
- ``on_train_end(history)`` once at the end.

A callback with ``state_dict()``/``load_state_dict()`` has its state saved in ``fit``'s
checkpoints and restored on resume (``EarlyStopping`` does: its patience counter survives).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._validate import integer, real
from .history import History, is_scalar


class Callback:
    """Base class: every hook does nothing."""

    def on_train_begin(self, logs: Mapping[str, Any]) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> bool | None:
        return None

    def on_train_end(self, history: History) -> None:
        pass


class LambdaCallback(Callback):
    """Wrap ``fn(epoch, logs) -> bool | None`` as an ``on_epoch_end`` callback."""

    def __init__(self, fn: Callable[[int, Mapping[str, Any]], bool | None]) -> None:
        self.fn = fn

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> bool | None:
        return self.fn(epoch, logs)


def monitored_value(op: str, logs: Mapping[str, Any], monitor: str) -> float:
    """``logs[monitor]`` as a float, or a ``ValueError`` listing what is there."""
    if monitor not in logs or not is_scalar(logs[monitor]):
        have = [k for k, v in logs.items() if is_scalar(v)]
        raise ValueError(f"{op}: monitor={monitor!r} is not among the epoch's numbers {have} "
                       f"(pass val_loader= for 'val_*' figures)")
    return float(logs[monitor])


def improved(value: float, best: float, mode: str, min_delta: float = 0.0) -> bool:
    """Is ``value`` better than ``best`` by more than ``min_delta``?  NaN never is."""
    if math.isnan(value):
        return False
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs in a row.

    An epoch improves if its value beats the best so far by more than ``min_delta``
    (``value < best - min_delta`` in "min" mode, ``value > best + min_delta`` in "max").
    After ``patience`` epochs without improvement, ``on_epoch_end`` returns True.

    Parameters
    ----------
    monitor : str
        A key of the epoch's record, e.g. "val_loss" or "val_accuracy".
    mode : {"min", "max"}
    patience : int >= 1
    min_delta : float >= 0

    Attributes
    ----------
    best : float
    best_epoch, wait, stopped_epoch : int (0 = none yet)
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", patience: int = 3,
                 min_delta: float = 0.0) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max'; got {mode!r}")
        self.monitor, self.mode = monitor, mode
        self.patience = integer("EarlyStopping", "patience", patience)
        self.min_delta = real("EarlyStopping", "min_delta", min_delta, 0)
        self.reset()

    def reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = self.wait = self.stopped_epoch = 0

    def on_train_begin(self, logs: Mapping[str, Any]) -> None:
        if logs.get("start_epoch", 0) == 0:  # a fresh run; a resumed one keeps its state
            self.reset()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> bool:
        value = monitored_value("EarlyStopping", logs, self.monitor)
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"best": np.array(self.best, dtype=np.float64),
                "best_epoch": np.array(self.best_epoch), "wait": np.array(self.wait),
                "stopped_epoch": np.array(self.stopped_epoch)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
        self.stopped_epoch = int(state["stopped_epoch"])

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, mode={self.mode!r}, "
                f"patience={self.patience}, min_delta={self.min_delta})")


def as_callbacks(callbacks) -> list[Callback]:
    """Normalise ``fit``'s ``callbacks=`` argument to a list of Callback-like objects."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]
    out = []
    for i, cb in enumerate(callbacks):
        if any(hasattr(cb, h) for h in ("on_epoch_end", "on_train_begin", "on_train_end")):
            out.append(cb)
        elif callable(cb):
            out.append(LambdaCallback(cb))
        else:
            raise TypeError(f"fit: callbacks[{i}] must be a Callback (on_epoch_end(epoch, "
                            f"logs) -> bool) or a function (epoch, logs) -> bool; got "
                            f"{type(cb).__name__}")
    return out
