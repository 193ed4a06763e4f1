"""``fit`` and ``evaluate``: one training loop for classification and segmentation.

Each step is the explicit sequence a reader can check against the maths::

    optimizer.zero_grad()
    logits = model(xb)
    loss = loss_fn(logits, yb)
    model.backward(loss_fn.backward())
    clip_grad_norm(...)            # if grad_clip
    optimizer.step()
    scheduler.step()               # if scheduler_interval == "batch"

``fit`` is a few named steps, in this order::

    _check_args, _check_monitor, _check_folder   every argument, before any work
    _start                     resume from a checkpoint (all checked first), or seed afresh
    for each epoch:
        _run_epoch             _train_epoch (the step above, batch by batch),
                               _check_finite_weights, _validate, the epoch's scheduler step
        _stop_requested        every callback's on_epoch_end
        _Checkpoints.save      last.npz, and best.npz when the monitored figure improved

and ``_Progress`` shows it: a bar on a terminal, one line per epoch in a log.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from .._validate import integer, real
from ..functional._validate import flag
from ..io import read_checkpoint, save_checkpoint
from ..nn.module import no_grad
from ..optim import clip_grad_norm
from . import _state
from .callbacks import EarlyStopping, as_callbacks, improved, monitored_value
from .history import History, is_scalar


class TrainingDiverged(FloatingPointError):
    """The loss or the weights became NaN or infinite; ``epoch`` and ``step`` are 1-based
    (step 0: at the end of the epoch, the validation loss or the weights)."""

    def __init__(self, message: str, epoch: int, step: int, loss: float) -> None:
        super().__init__(message)
        self.epoch, self.step, self.loss = epoch, step, loss


def _scalar_loss(value: Any) -> float:
    if np.ndim(value) != 0:
        raise TypeError(f"loss_fn must return a scalar loss (reduction='mean' or 'sum'); got "
                        f"an array of shape {np.shape(value)}")
    return float(value)


def _as_metrics(metrics) -> list:
    if metrics is None:
        return []
    if not isinstance(metrics, (list, tuple)):
        metrics = [metrics]
    for i, m in enumerate(metrics):
        if isinstance(m, type) or not all(callable(getattr(m, f, None))
                                          for f in ("reset", "update", "compute")):
            raise TypeError(f"metrics[{i}] must have reset(), update(logits, targets) and "
                            f"compute() (an instance, e.g. numcnn.metrics.Accuracy()); got "
                            f"{m.__name__ if isinstance(m, type) else type(m).__name__}")
    return list(metrics)


def _collect(metrics: Sequence, prefix: str, out: dict[str, Any]) -> None:
    """Add every metric's results to ``out`` as ``prefix + name``; names must not clash."""
    for m in metrics:
        for name, value in m.compute().items():
            key = prefix + name
            if key in out:
                raise ValueError(f"two metrics both report {key!r}; pass each metric once")
            out[key] = value


def evaluate(model, loader, metrics=None, loss_fn=None, prefix: str = "") -> dict[str, Any]:
    """Score ``model`` on every batch of ``loader`` in eval mode, under ``no_grad()``.

    Parameters
    ----------
    model : Module
    loader : iterable of (xb, yb)
    metrics : Metric or list of Metric, optional
        Streaming metrics (``numcnn.metrics``); reset first, then updated with each batch.
    loss_fn : callable, optional
        If given, ``loss`` is the per-sample mean of the batch losses (each batch weighted by
        its size).
    prefix : str
        Put before every key (``fit`` uses "val_").

    Returns
    -------
    dict
        ``loss`` (if ``loss_fn``) and every metric's results, e.g.
        ``{"loss": 0.31, "accuracy": 0.92}``.  The model's train/eval mode is restored.
    """
    metrics = _as_metrics(metrics)
    for m in metrics:
        m.reset()
    was_training = model.training
    total, seen, batches = 0.0, 0, 0
    model.eval()
    try:
        with no_grad():
            for xb, yb in _batches(loader, "loader"):
                logits = model(xb)
                if loss_fn is not None:
                    total += _scalar_loss(loss_fn(logits, yb)) * len(xb)
                for m in metrics:
                    m.update(logits, yb)
                seen += len(xb)
                batches += 1
    finally:
        model.train(was_training)
    if batches == 0:
        raise ValueError("evaluate: the loader yields no batches; expected at least one")
    out: dict[str, Any] = {}
    if loss_fn is not None:
        out[prefix + "loss"] = total / seen
    _collect(metrics, prefix, out)
    return out


def _current_lr(optimizer, scheduler) -> float | None:
    """The learning rate in effect: the optimizer's first group, else the scheduler's."""
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return float(groups[0]["lr"])
    if is_scalar(getattr(optimizer, "lr", None)):
        return float(optimizer.lr)
    if scheduler is not None and hasattr(scheduler, "get_last_lr"):
        return float(np.ravel(scheduler.get_last_lr())[0])
    return None


def _batches(loader, name: str):
    """The ``(xb, yb)`` pairs of ``loader``, or a clear error at the first that is not one."""
    for i, batch in enumerate(loader):
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise TypeError(f"{name} must yield (xb, yb) pairs (e.g. numcnn.data.DataLoader); "
                            f"batch {i} is {type(batch).__name__} {batch!r:.40}")
        yield batch


def _check_parts(model, loss_fn, optimizer, loaders, paths, seed) -> None:
    """What ``fit`` trains with, checked before anything runs (else an AttributeError or
    an unpacking error would surface in the middle of the first step)."""
    from ..nn.module import Module

    if not isinstance(model, Module):
        raise TypeError(f"fit: model must be a numcnn Module; got {model!r:.60}")
    if not (callable(loss_fn) and callable(getattr(loss_fn, "backward", None))):
        raise TypeError(f"fit: loss_fn must be callable with a backward() (e.g. "
                        f"numcnn.nn.CrossEntropyLoss()); got {loss_fn!r:.60}")
    if not all(callable(getattr(optimizer, f, None)) for f in ("zero_grad", "step")):
        raise TypeError(f"fit: optimizer must have zero_grad() and step() (e.g. "
                        f"numcnn.optim.Adam(model.parameters())); got {optimizer!r:.60}")
    for name, loader in loaders.items():
        if loader is not None and (isinstance(loader, (str, bytes))
                                   or not hasattr(loader, "__iter__")):
            raise TypeError(f"fit: {name} must be an iterable of (xb, yb) batches (e.g. "
                            f"numcnn.data.DataLoader); got {loader!r:.60}")
    if loaders["train_loader"] is None:
        raise TypeError("fit: train_loader must be an iterable of (xb, yb) batches; got None")
    for name, path in paths.items():
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"fit: {name} must be a folder or file path (str or "
                            f"pathlib.Path) or None; got {path!r}")
    if seed is not None:
        integer("fit", "seed", seed, 0)


def _check_args(epochs, scheduler_interval, grad_clip, mode, scheduler) -> None:
    integer("fit", "epochs", epochs)
    if not isinstance(scheduler_interval, str) or scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'batch'; got "
                         f"{scheduler_interval!r}")
    if grad_clip is not None:
        real("fit", "grad_clip", grad_clip, 0, min_open=True)
    if not isinstance(mode, str) or mode not in ("min", "max"):
        raise ValueError(f"fit: mode must be 'min' or 'max'; got {mode!r}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"fit: scheduler must have step(); got {type(scheduler).__name__}")


def _check_monitor(monitor, val_loader, metrics: Sequence, train_metrics: bool,
                   op: str = "fit") -> str:
    """The figure that decides ``best.npz``: "val_loss" becomes "train_loss" without
    validation; any other "val_*" needs a ``val_loader``.  A figure no epoch's record will
    hold is refused before any training (a typo would otherwise surface only after the
    first epoch); metrics whose ``names`` are not known in advance leave their prefix to
    the check after the first epoch."""
    if not isinstance(monitor, str):
        raise TypeError(f"{op}: monitor must be the name of an epoch figure (a str such as "
                        f"'val_loss'); got {monitor!r}")
    if val_loader is None and monitor == "val_loss" and op == "fit":
        return "train_loss"
    if val_loader is None and monitor.startswith("val_"):
        raise ValueError(f"{op}: monitor={monitor!r} needs a val_loader")
    known = {"epoch", "lr", "epoch_time", "train_loss"}
    prefixes = ["train_"] if train_metrics and metrics else []
    if val_loader is not None:
        known.add("val_loss")
        prefixes += ["val_"] if metrics else []
    unnamed = any(getattr(m, "names", None) is None for m in metrics)
    if unnamed and any(monitor.startswith(p) for p in prefixes):
        return monitor
    known.update(p + n for p in prefixes for m in metrics for n in (m.names or ()))
    if monitor not in known:
        raise ValueError(f"{op}: monitor={monitor!r} is not a figure this run reports; "
                         f"expected one of {sorted(known)}")
    return monitor


def _check_folder(checkpoint_dir, resume, overwrite) -> None:
    """A fresh run must not replace another run's checkpoints unless told to."""
    if checkpoint_dir is None or resume is not None or overwrite:
        return
    found = [f for f in ("last.npz", "best.npz")
             if os.path.exists(os.path.join(checkpoint_dir, f))]
    if found:
        raise ValueError(
            f"fit: checkpoint_dir {os.fspath(checkpoint_dir)!r} already holds another run's "
            f"checkpoints ({', '.join(found)}); pass resume={os.fspath(checkpoint_dir)!r} "
            f"to continue that run, overwrite=True to replace them, or another folder")


def _check_finite_weights(model, epoch: int, train_loss: float) -> None:
    """A step can overflow the weights while its batch's loss was still finite; such weights
    must never reach a checkpoint (the previous epoch's stays as it was)."""
    for name, p in model.named_parameters():
        finite = np.isfinite(p.data)
        if not finite.all():
            raise TrainingDiverged(
                f"the weights became non-finite during epoch {epoch} ({name} holds "
                f"{int(finite.size - finite.sum())} NaN/inf values) while every loss was "
                f"finite; no checkpoint of this epoch was written", epoch, 0, train_loss)


@dataclass
class _Run:
    """The objects one ``fit`` call trains with, as it received them."""

    model: Any
    loss_fn: Any
    optimizer: Any
    scheduler: Any
    scheduler_interval: str
    grad_clip: float | None
    train_loader: Any
    val_loader: Any
    callbacks: list

    def loaders(self) -> list:
        return [ld for ld in (self.train_loader, self.val_loader) if ld is not None]


class _Progress:
    """What a person watching sees, on stderr: a tqdm bar per epoch on a terminal, one line
    per epoch elsewhere (a log file, a notebook), nothing when ``quiet``."""

    def __init__(self, epochs: int, batches: int | None, quiet: bool) -> None:
        self.epochs, self.batches, self.quiet = epochs, batches, quiet
        self.bars = not quiet and getattr(sys.stderr, "isatty", lambda: False)()
        self._bar = None

    @contextlib.contextmanager
    def epoch(self, epoch: int):
        self._epoch = epoch
        if self.bars:
            self._bar = tqdm(total=self.batches, desc=f"epoch {epoch}/{self.epochs}",
                             unit="batch", file=sys.stderr, leave=True, dynamic_ncols=True)
        try:
            yield
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def batch_done(self, mean_loss: float) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)

    def epoch_done(self, logs: Mapping[str, Any]) -> None:
        # the loss and the validation figures: train metrics would make the line too long
        figures = ", ".join(f"{k}={v:.4g}" for k, v in logs.items()
                            if is_scalar(v) and (k == "train_loss" or k.startswith("val_")))
        if self._bar is not None:
            self._bar.set_postfix_str(figures)
        elif not self.quiet:
            print(f"epoch {self._epoch}/{self.epochs}: {figures} ({logs['epoch_time']:.1f} s)",
                  file=sys.stderr, flush=True)


class _Checkpoints:
    """``last.npz`` after every epoch, ``best.npz`` whenever ``monitor`` improves on the best
    value so far (of this run and, when resuming, of the history it continues)."""

    def __init__(self, directory: str | os.PathLike, monitor: str, mode: str,
                 history: History) -> None:
        os.makedirs(directory, exist_ok=True)
        self.directory, self.monitor, self.mode = directory, monitor, mode
        self.best = math.inf if mode == "min" else -math.inf
        if monitor in history:
            with_value = [v for v in history[monitor] if is_scalar(v)]
            if with_value:
                self.best = (min if mode == "min" else max)(with_value)

    def save(self, run: _Run, epoch: int, logs: Mapping[str, Any], history: History) -> None:
        value = monitored_value("fit", logs, self.monitor)
        extra = _state.capture(epoch, history, run.model, run.train_loader, run.val_loader,
                               run.callbacks)
        self._write("last.npz", run, extra)
        if improved(value, self.best, self.mode):
            self.best = value
            self._write("best.npz", run, extra)

    def _write(self, name: str, run: _Run, extra: Mapping[str, Any]) -> None:
        save_checkpoint(os.path.join(self.directory, name), run.model, run.optimizer,
                        run.scheduler, extra)


def _start(run: _Run, resume: str | os.PathLike | None, seed: int | None) -> tuple[History, int]:
    """The history and the number of epochs done: restored from ``resume`` (everything is
    checked before anything changes), or a fresh start with the generators re-seeded."""
    if resume is None:
        if seed is not None:
            _state.reseed(seed, run.model, run.loaders())
        return History(), 0
    path = os.fspath(resume)
    if os.path.isdir(path):
        path = os.path.join(path, "last.npz")
    ckpt = read_checkpoint(path)
    ckpt.check_model(run.model)  # the clearest message first, if it is the wrong model
    restored = _state.Resume(path, ckpt.extra, run.model, run.train_loader, run.val_loader,
                             run.callbacks)
    ckpt.apply(run.model, run.optimizer, run.scheduler)  # checks the fingerprint, all or nothing
    restored.apply()
    return restored.history, restored.epoch


def _train_epoch(run: _Run, metrics: Sequence, epoch: int, progress: _Progress) -> float:
    """One pass over the training batches, each step the sequence of this module's
    docstring; returns the per-sample mean training loss."""
    for m in metrics:
        m.reset()
    run.model.train()
    batch_scheduler = run.scheduler if run.scheduler_interval == "batch" else None
    total, seen, steps = 0.0, 0, 0
    for xb, yb in _batches(run.train_loader, "train_loader"):
        steps += 1
        run.optimizer.zero_grad()
        logits = run.model(xb)
        loss = _scalar_loss(run.loss_fn(logits, yb))
        if not math.isfinite(loss):
            raise TrainingDiverged(f"loss became {loss} at epoch {epoch}, step {steps}",
                                   epoch, steps, loss)
        for m in metrics:
            m.update(logits, yb)
        run.model.backward(run.loss_fn.backward())
        if run.grad_clip is not None:
            clip_grad_norm(list(run.model.parameters()), run.grad_clip)
        run.optimizer.step()
        if batch_scheduler is not None:
            batch_scheduler.step()
        total += loss * len(xb)
        seen += len(xb)
        progress.batch_done(total / seen)
    if steps == 0:
        raise ValueError(f"fit: train_loader yields no batches (epoch {epoch}); expected at "
                         f"least one")
    return total / seen


def _validate(run: _Run, metrics: Sequence, epoch: int) -> dict[str, Any]:
    """``val_loss`` and ``val_<metric>`` on ``val_loader``; a non-finite loss stops the run."""
    logs = evaluate(run.model, run.val_loader, metrics, run.loss_fn, prefix="val_")
    if not math.isfinite(logs["val_loss"]):
        raise TrainingDiverged(f"val_loss became {logs['val_loss']} at epoch {epoch}",
                               epoch, 0, logs["val_loss"])
    return logs


def _run_epoch(run: _Run, epoch: int, metrics: Sequence, train_metrics: Sequence,
               progress: _Progress) -> dict[str, Any]:
    """Train one epoch, validate, step an epoch scheduler: the epoch's record."""
    t0 = time.perf_counter()
    lr = _current_lr(run.optimizer, run.scheduler)  # in effect during this epoch
    logs: dict[str, Any] = {"epoch": epoch}
    with progress.epoch(epoch):
        logs["train_loss"] = _train_epoch(run, train_metrics, epoch, progress)
        _check_finite_weights(run.model, epoch, logs["train_loss"])
        _collect(train_metrics, "train_", logs)
        if run.val_loader is not None:
            logs.update(_validate(run, metrics, epoch))
        if lr is not None:
            logs["lr"] = lr
        if run.scheduler is not None and run.scheduler_interval == "epoch":
            run.scheduler.step()
        logs["epoch_time"] = time.perf_counter() - t0
        progress.epoch_done(logs)
    return logs


def _stop_requested(callbacks: Sequence, epoch: int, logs: Mapping[str, Any]) -> bool:
    """Call every callback's ``on_epoch_end`` (each gets its own copy of the record); has
    any of them asked to stop?"""
    stop = False
    for cb in callbacks:
        if hasattr(cb, "on_epoch_end"):
            stop = bool(cb.on_epoch_end(epoch, dict(logs))) or stop
    return stop


def _notify(callbacks: Sequence, hook: str, argument: Any) -> None:
    for cb in callbacks:
        if hasattr(cb, hook):
            getattr(cb, hook)(argument)


def fit(model, loss_fn, optimizer, train_loader, val_loader=None, epochs: int = 1,
        metrics=None, scheduler=None, scheduler_interval: str = "epoch", callbacks=None,
        checkpoint_dir: str | os.PathLike | None = None, monitor: str = "val_loss",
        mode: str = "min", resume: str | os.PathLike | None = None, quiet: bool = False,
        grad_clip: float | None = None, seed: int | None = None,
        train_metrics: bool = True, overwrite: bool = False) -> History:
    """Train ``model`` for ``epochs`` epochs; validate, record, checkpoint after each.

    Parameters
    ----------
    model : Module
    loss_fn : callable
        ``loss = loss_fn(logits, yb)`` (a scalar) and ``dlogits = loss_fn.backward()``,
        e.g. ``numcnn.nn.CrossEntropyLoss()``.
    optimizer
        ``zero_grad()``, ``step()`` and, for checkpoints, ``state_dict()``.
    train_loader, val_loader : iterables of ``(xb, yb)`` (e.g. ``numcnn.data.DataLoader``)
    epochs : int
        The *total* number of epochs; a resumed run continues from the checkpoint's epoch
        up to ``epochs`` (so 2 epochs, then ``resume`` with ``epochs=4``, trains 2 more).
    metrics : Metric or list of Metric, optional
        Streaming metrics (``numcnn.metrics.Accuracy()``, ``SegmentationMetrics(C)``...):
        reported as ``val_<name>`` on ``val_loader`` and, if ``train_metrics``, as
        ``train_<name>`` on the training batches (in train mode, as they went by).
    scheduler : optional
        ``step()`` after every epoch (``scheduler_interval="epoch"``) or every optimizer
        step ("batch").
    callbacks : Callback, function or list of them, optional
        ``on_epoch_end(epoch, logs) -> True`` stops training; see ``numcnn.train.callbacks``.
    checkpoint_dir : path, optional
        Writes ``last.npz`` after every epoch and ``best.npz`` whenever ``monitor``
        improves (created if missing).  A fresh run refuses a folder that already holds
        them (another run's), unless ``overwrite``.
    monitor, mode : str
        The figure that decides ``best.npz`` ("val_loss", or "train_loss" when there is no
        ``val_loader``), and whether lower ("min") or higher ("max") is better.
    resume : path, optional
        A checkpoint written by ``fit`` (or a directory holding ``last.npz``): model,
        optimizer, scheduler, epoch, history, the loaders' and the model's random generators
        and callback states are restored, so that the run continues bit for bit.  Any
        mismatch raises before anything is changed.
    quiet : bool
        Print nothing.  Otherwise progress goes to stderr: a bar per epoch (tqdm) on a
        terminal, one line per epoch when stderr is not a terminal (a log, a notebook).
    grad_clip : float, optional
        Clip the global gradient norm with ``numcnn.optim.clip_grad_norm``.
    seed : int, optional
        Re-seed (in place) every generator of the model (Dropout) and of the loaders from
        this seed before a fresh run; ignored when resuming (the checkpoint's states win).
    train_metrics : bool
        Also compute ``metrics`` on the training batches.
    overwrite : bool
        Let a fresh run replace the checkpoints already in ``checkpoint_dir``.

    Returns
    -------
    History
        One record per epoch: ``epoch``, ``train_loss``, ``train_*``, ``val_loss``,
        ``val_*``, ``lr`` (at the start of the epoch), ``epoch_time`` (seconds).
        ``train_loss`` is the mean over the epoch's batches as they were trained on: in
        train mode (dropout on, batch statistics), on augmented data, with weights that
        changed during the epoch.  To compare it with ``val_loss`` like for like, evaluate
        the training set after the epoch (``numcnn.train.evaluate``), as
        examples/generalisation.py does.

    Raises
    ------
    TrainingDiverged (a FloatingPointError)
        When a loss is NaN or infinite ("loss became nan at epoch 2, step 5"), or the
        weights are at the end of an epoch.  Checkpoints of earlier epochs are left as
        they were.
    ValueError
        Bad arguments (a ``monitor`` no epoch reports is refused before training), a
        loader without batches, a checkpoint that does not fit, a ``checkpoint_dir`` that
        holds another run's checkpoints.
    """
    _check_args(epochs, scheduler_interval, grad_clip, mode, scheduler)
    _check_parts(model, loss_fn, optimizer, dict(train_loader=train_loader,
                                                 val_loader=val_loader),
                 dict(checkpoint_dir=checkpoint_dir, resume=resume), seed)
    metrics = _as_metrics(metrics)
    monitor = _check_monitor(monitor, val_loader, metrics, train_metrics)
    batches = len(train_loader) if hasattr(train_loader, "__len__") else None
    if batches == 0:
        raise ValueError("fit: train_loader yields no batches (len 0); check batch_size and "
                         "drop_last against the data set size")
    run = _Run(model, loss_fn, optimizer, scheduler, scheduler_interval, grad_clip,
               train_loader, val_loader, as_callbacks(callbacks))
    for cb in run.callbacks:
        if isinstance(cb, EarlyStopping):
            _check_monitor(cb.monitor, val_loader, metrics, train_metrics, "EarlyStopping")
    _check_folder(checkpoint_dir, resume, flag("fit", "overwrite", overwrite))
    history, done = _start(run, resume, seed)
    checkpoints = (None if checkpoint_dir is None else
                   _Checkpoints(checkpoint_dir, monitor, mode, history))
    progress = _Progress(int(epochs), batches, quiet)
    # the training figures accumulate in copies, so that validation starts from fresh ones
    train_copies = [copy.deepcopy(m) for m in metrics] if train_metrics else []

    _notify(run.callbacks, "on_train_begin", {"start_epoch": done, "epochs": int(epochs)})
    was_training = model.training
    try:
        for epoch in range(done + 1, int(epochs) + 1):
            logs = _run_epoch(run, epoch, metrics, train_copies, progress)
            history.append(logs)
            stop = _stop_requested(run.callbacks, epoch, logs)
            if checkpoints is not None:  # after the callbacks: their new state is saved
                checkpoints.save(run, epoch, logs, history)
            if stop:
                break
    finally:
        model.train(was_training)
    _notify(run.callbacks, "on_train_end", history)
    return history


__all__ = ["fit", "evaluate", "TrainingDiverged"]
