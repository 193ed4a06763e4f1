"""``fit`` and ``evaluate``: one training loop for classification and segmentation.

Each step is the explicit sequence a reader can check against the maths::

    optimizer.zero_grad()
    logits = model(xb)
    loss = loss_fn(logits, yb)
    model.backward(loss_fn.backward())
    clip_grad_norm(...)            # if grad_clip
    optimizer.step()
    scheduler.step()               # if scheduler_interval == "batch"
"""

from __future__ import annotations

import copy
import math
import numbers
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from ..functional._validate import flag
from ..io import read_checkpoint, save_checkpoint
from ..nn.module import no_grad
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
        if not all(callable(getattr(m, f, None)) for f in ("reset", "update", "compute")):
            raise TypeError(f"metrics[{i}] must have reset(), update(logits, targets) and "
                            f"compute() (e.g. numcnn.metrics.Accuracy()); got "
                            f"{type(m).__name__}")
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
            for xb, yb in loader:
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


def _check_args(epochs, scheduler_interval, grad_clip, mode, scheduler) -> None:
    if not isinstance(epochs, numbers.Integral) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"fit: epochs must be an int >= 1; got {epochs!r}")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'batch'; got "
                         f"{scheduler_interval!r}")
    if grad_clip is not None and not (is_scalar(grad_clip) and grad_clip > 0):
        raise ValueError(f"fit: grad_clip must be a positive number or None; got {grad_clip!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"fit: mode must be 'min' or 'max'; got {mode!r}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"fit: scheduler must have step(); got {type(scheduler).__name__}")


def _check_monitor(op: str, monitor, metrics, val_loader, train_metrics) -> None:
    """Refuse, before any training, a ``monitor`` that no epoch's record will hold (a typo
    would otherwise surface only after the first epoch).  Metrics whose ``names`` are not
    known in advance leave their prefixes to the check after the first epoch."""
    if not isinstance(monitor, str):
        raise TypeError(f"{op}: monitor must be the name of an epoch figure (a str such as "
                        f"'val_loss'); got {monitor!r}")
    known = {"epoch", "lr", "epoch_time", "train_loss"}
    prefixes = ["train_"] if train_metrics and metrics else []
    if val_loader is not None:
        known.add("val_loss")
        prefixes += ["val_"] if metrics else []
    if any(getattr(m, "names", None) is None for m in metrics):
        if any(monitor.startswith(p) for p in prefixes):
            return
    known.update(p + n for p in prefixes for m in metrics for n in (m.names or ()))
    if monitor not in known:
        hint = " (pass val_loader= for 'val_*' figures)" if val_loader is None else ""
        raise ValueError(f"{op}: monitor={monitor!r} is not a figure this run reports; "
                         f"expected one of {sorted(known)}{hint}")


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


def _postfix(logs: Mapping[str, Any]) -> str:
    # the loss and the validation figures: train metrics would make the line too long
    return ", ".join(f"{k}={v:.4g}" for k, v in logs.items()
                     if is_scalar(v) and (k == "train_loss" or k.startswith("val_")))


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
        No progress bars (tqdm, on stderr).
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
    metrics = _as_metrics(metrics)
    callbacks = as_callbacks(callbacks)
    if val_loader is None and monitor == "val_loss":
        monitor = "train_loss"
    if val_loader is None and isinstance(monitor, str) and monitor.startswith("val_"):
        raise ValueError(f"fit: monitor={monitor!r} needs a val_loader")
    _check_monitor("fit", monitor, metrics, val_loader, train_metrics)
    for cb in callbacks:
        if isinstance(cb, EarlyStopping):
            _check_monitor("EarlyStopping", cb.monitor, metrics, val_loader, train_metrics)
    overwrite = flag("fit", "overwrite", overwrite)
    _check_folder(checkpoint_dir, resume, overwrite)
    if hasattr(train_loader, "__len__") and len(train_loader) == 0:
        raise ValueError("fit: train_loader yields no batches (len 0); check batch_size and "
                         "drop_last against the data set size")
    clip = None
    if grad_clip is not None:
        from ..optim import clip_grad_norm as clip  # the floor below; only needed here

    history, start = History(), 0
    if resume is not None:
        path = os.fspath(resume)
        if os.path.isdir(path):
            path = os.path.join(path, "last.npz")
        ckpt = read_checkpoint(path)
        ckpt.check_model(model)  # the clearest message first, if it is the wrong model
        restored = _state.Resume(path, ckpt.extra, model, train_loader, val_loader, callbacks)
        ckpt.apply(model, optimizer, scheduler)  # checks the fingerprint, all or nothing
        restored.apply()
        history, start = restored.history, restored.epoch
    elif seed is not None:
        _state.reseed(seed, model, [ld for ld in (train_loader, val_loader) if ld is not None])
    if checkpoint_dir is not None:
        os.makedirs(checkpoint_dir, exist_ok=True)
    best = math.inf if mode == "min" else -math.inf
    if monitor in history:
        with_value = [v for v in history[monitor] if is_scalar(v)]
        if with_value:
            best = (min if mode == "min" else max)(with_value)

    for cb in callbacks:
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin({"start_epoch": start, "epochs": int(epochs)})
    was_training = model.training
    train_copies = [copy.deepcopy(m) for m in metrics] if train_metrics else []
    try:
        for epoch in range(start + 1, int(epochs) + 1):
            t0 = time.perf_counter()
            lr = _current_lr(optimizer, scheduler)
            logs: dict[str, Any] = {"epoch": epoch}
            bar = tqdm(total=len(train_loader) if hasattr(train_loader, "__len__") else None,
                       desc=f"epoch {epoch}/{epochs}", unit="batch", disable=quiet,
                       file=sys.stderr, leave=True, dynamic_ncols=True)
            try:
                logs["train_loss"] = _train_epoch(
                    model, loss_fn, optimizer, train_loader, train_copies, scheduler,
                    scheduler_interval, clip, grad_clip, epoch, bar)
                _check_finite_weights(model, epoch, logs["train_loss"])
                _collect(train_copies, "train_", logs)
                if val_loader is not None:
                    logs.update(evaluate(model, val_loader, metrics, loss_fn, prefix="val_"))
                    if not math.isfinite(logs["val_loss"]):
                        raise TrainingDiverged(
                            f"val_loss became {logs['val_loss']} at epoch {epoch}",
                            epoch, 0, logs["val_loss"])
                bar.set_postfix_str(_postfix(logs))
            finally:
                bar.close()
            if lr is not None:
                logs["lr"] = lr
            if scheduler is not None and scheduler_interval == "epoch":
                scheduler.step()
            logs["epoch_time"] = time.perf_counter() - t0
            history.append(logs)
            stop = False
            for cb in callbacks:
                if hasattr(cb, "on_epoch_end"):
                    stop = bool(cb.on_epoch_end(epoch, dict(logs))) or stop
            if checkpoint_dir is not None:
                value = monitored_value("fit", logs, monitor)
                extra = _state.capture(epoch, history, model, train_loader, val_loader,
                                       callbacks)
                save_checkpoint(os.path.join(checkpoint_dir, "last.npz"), model, optimizer,
                                scheduler, extra)
                if improved(value, best, mode):
                    best = value
                    save_checkpoint(os.path.join(checkpoint_dir, "best.npz"), model,
                                    optimizer, scheduler, extra)
            if stop:
                break
    finally:
        model.train(was_training)
    for cb in callbacks:
        if hasattr(cb, "on_train_end"):
            cb.on_train_end(history)
    return history


def _train_epoch(model, loss_fn, optimizer, loader, metrics, scheduler, interval, clip,
                 grad_clip, epoch, bar) -> float:
    """One pass over ``loader``; returns the per-sample mean training loss."""
    for m in metrics:
        m.reset()
    model.train()
    total, seen, step = 0.0, 0, 0
    for step, (xb, yb) in enumerate(loader, start=1):  # noqa: B007 (step used after loop)
        optimizer.zero_grad()
        logits = model(xb)
        loss = _scalar_loss(loss_fn(logits, yb))
        if not math.isfinite(loss):
            raise TrainingDiverged(f"loss became {loss} at epoch {epoch}, step {step}",
                                   epoch, step, loss)
        for m in metrics:
            m.update(logits, yb)
        model.backward(loss_fn.backward())
        if clip is not None:
            clip(list(model.parameters()), grad_clip)
        optimizer.step()
        if scheduler is not None and interval == "batch":
            scheduler.step()
        total += loss * len(xb)
        seen += len(xb)
        bar.update(1)
        bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
    if step == 0:
        raise ValueError(f"fit: train_loader yields no batches (epoch {epoch}); expected at "
                         f"least one")
    return total / seen


__all__ = ["fit", "evaluate", "TrainingDiverged"]
