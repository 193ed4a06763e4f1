"""Learning-rate schedules, each a closed form of the step count, as in ``torch.optim``.

A scheduler captures each group's base learning rate as ``group["initial_lr"]`` (as PyTorch
does), sets ``group["lr"]`` for step 0 when constructed, and sets the next value on every
:meth:`LRScheduler.step`.  Call ``scheduler.step()`` *after* ``optimizer.step()``, once per
epoch or once per batch as each class's docstring says.

Because every value is computed from ``last_epoch`` and the base rates (not from the
previous value), a restored ``state_dict`` continues exactly, and a learning rate written
into the groups by hand is overwritten at the next ``step()``.  Each schedule checks its
hyper-parameters in one place, :meth:`LRScheduler._checked`, used both by its constructor
and by ``load_state_dict`` (a restored ``T_max=0`` is refused like a given one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._validate import integer, real
from .optimizer import Optimizer


def _check_optimizer(op: str, optimizer: Any) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{op}: expected an Optimizer; got {type(optimizer).__name__}")
    return optimizer


class LRScheduler:
    """Base class: subclasses define :meth:`_lr_at` (learning rates at a step count) and
    :meth:`_checked` (their hyper-parameters, validated).

    Parameters
    ----------
    optimizer : Optimizer
    last_epoch : int
        ``-1`` for a fresh run.  Otherwise the index of the last step taken, and every group
        must already hold ``"initial_lr"`` (prefer :meth:`load_state_dict` to resume).

    Attributes
    ----------
    base_lrs : list of float
        ``group["initial_lr"]`` of each group.
    last_epoch : int
        Number of :meth:`step` calls since construction (0 right after it).
    """

    #: names of the attributes saved by :meth:`state_dict` besides last_epoch and base_lrs
    _hyper: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        name = type(self).__name__
        self.optimizer = _check_optimizer(name, optimizer)
        last_epoch = integer(name, "last_epoch", last_epoch, minimum=-1)
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ValueError(f"param_groups[{i}] has no 'initial_lr'; resuming with "
                                 f"last_epoch={last_epoch} needs the groups of the first run")
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = []
        self.step()

    def _set_hyper(self, optimizer: Optimizer, **values: Any) -> None:
        """Validate the constructor's hyper-parameters and keep them as attributes."""
        _check_optimizer(type(self).__name__, optimizer)
        self.__dict__.update(self._checked(values, len(optimizer.param_groups)))

    def _checked(self, values: dict[str, Any], n_groups: int) -> dict[str, Any]:
        """``values`` (one entry per name of ``_hyper``) validated and normalised; raises
        ``TypeError`` or ``ValueError`` saying which one is wrong."""
        return values

    def _lr_at(self, epoch: int) -> list[float]:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """Learning rate of each group at ``last_epoch`` (the closed form)."""
        return self._lr_at(self.last_epoch)

    def get_last_lr(self) -> list[float]:
        """Learning rate of each group set by the last :meth:`step`."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one step (epoch or batch) and write the new rates into the groups."""
        lrs = self._lr_at(self.last_epoch + 1)  # may raise: then nothing changes
        self.last_epoch += 1
        self._apply(lrs)

    def _apply(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = float(lr)
        self._last_lr = [float(lr) for lr in lrs]

    # ------------------------------------------------------------------ state_dict
    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat ``dict[str, np.ndarray]`` for ``np.savez``: ``last_epoch`` (0-d int64),
        ``base_lrs`` (one per group) and the schedule's hyper-parameters (0-d arrays, or 1-d
        with one value per group)."""
        out = {"last_epoch": np.array(self.last_epoch, dtype=np.int64),
               "base_lrs": np.array(self.base_lrs, dtype=np.float64)}
        for name in self._hyper:
            value = getattr(self, name)
            out[name] = (np.array(value, dtype=np.float64) if isinstance(value, list)
                         else np.array(value))
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (values may be 0-d arrays) and write the
        restored step's rates into the optimizer.

        Everything is checked first, with the constructor's rules (a ``T_max`` of 0, a
        string ``step_size`` or a negative base rate are refused); on a missing, unexpected
        or wrong entry a ``ValueError`` names it and nothing changes."""
        self._prepared_load(state)()

    def _prepared_load(self, state: dict[str, Any]) -> Callable[[], None]:
        """Check ``state`` completely; return the function that writes it (it cannot fail)."""
        name = type(self).__name__
        expected = {"last_epoch", "base_lrs", *self._hyper}
        if not hasattr(state, "keys") or set(state) != expected:
            got = set(state) if hasattr(state, "keys") else set()
            raise ValueError(f"{name} state_dict: missing keys {sorted(expected - got)}, "
                             f"unexpected keys {sorted(got - expected)}")
        n = len(self.optimizer.param_groups)
        restored = {key: _from_array(f"{name} state_dict: {key}", state[key],
                                     getattr(self, key), n) for key in sorted(expected)}
        try:
            last_epoch = integer(name, "last_epoch", restored.pop("last_epoch"), minimum=0)
            base_lrs = [real(name, "base_lrs", lr, 0.0) for lr in restored.pop("base_lrs")]
            hyper = self._checked(restored, n)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name} state_dict: {e}") from None
        new = {"last_epoch": last_epoch, "base_lrs": base_lrs, **hyper}
        old = {key: getattr(self, key) for key in new}
        self.__dict__.update(new)  # the closed form reads the attributes
        try:
            lrs = self.get_lr()
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name} state_dict: {e}") from None
        finally:
            self.__dict__.update(old)

        def write() -> None:
            self.__dict__.update(new)
            self._apply(lrs)
            for group, base in zip(self.optimizer.param_groups, self.base_lrs):
                group["initial_lr"] = base

        return write


def _from_array(key: str, value: Any, like: Any, n_groups: int) -> Any:
    """A saved entry back as the Python type of the current attribute ``like``: a list of
    one float per group, a bool, an int, a float or a string; numbers must be numbers."""
    arr = np.asarray(value)
    if isinstance(like, str):
        if arr.dtype.kind != "U" or arr.shape != ():
            raise ValueError(f"{key}: expected a string, got {arr!r}")
        return str(arr)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{key}: expected numbers, got an array of dtype {arr.dtype}")
    if isinstance(like, list):
        if arr.shape != (n_groups,):
            raise ValueError(f"{key}: expected shape ({n_groups},) (one per param group), "
                             f"got {arr.shape}")
        return [float(v) for v in arr]
    if arr.shape != ():
        raise ValueError(f"{key}: expected a 0-d array, got shape {arr.shape}")
    item = arr.item()
    if isinstance(like, int) and not isinstance(like, bool) and arr.dtype.kind in "iu":
        return int(item)
    return item  # a bool stays a bool; a float for an int is refused by the checks


def _per_group(op: str, name: str, value: float | Sequence[float], n: int) -> list[float]:
    """One finite number >= 0 per param group, from a number or a sequence of n."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(f"{op}: {name}: expected one value per param group ({n}), got "
                         f"{len(values)}")
    return [real(op, name, v, 0.0) for v in values]


class StepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` steps.

    :math:`\eta_t = \eta_0 \, \gamma^{\lfloor t / \text{step\_size} \rfloor}`.
    Meant to be stepped **once per epoch** (``step_size`` counts epochs).
    """

    _hyper = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        self._set_hyper(optimizer, step_size=step_size, gamma=gamma)
        super().__init__(optimizer, last_epoch)

    def _checked(self, values: dict[str, Any], n_groups: int) -> dict[str, Any]:
        return {"step_size": integer("StepLR", "step_size", values["step_size"]),
                "gamma": real("StepLR", "gamma", values["gamma"], 0.0)}

    def _lr_at(self, epoch: int) -> list[float]:
        return [base * self.gamma ** (epoch // self.step_size) for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine decay from the base rate to ``eta_min`` over ``T_max`` steps.

    :math:`\eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi t / T_{max}))`,
    the closed form in PyTorch's docs; past ``T_max`` it rises again (a cosine, no restart).
    Usually stepped **once per epoch** with ``T_max`` = number of epochs; stepping once per
    batch with ``T_max`` = total batches works the same.
    """

    _hyper = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        self._set_hyper(optimizer, T_max=T_max, eta_min=eta_min)
        super().__init__(optimizer, last_epoch)

    def _checked(self, values: dict[str, Any], n_groups: int) -> dict[str, Any]:
        return {"T_max": integer("CosineAnnealingLR", "T_max", values["T_max"]),
                "eta_min": real("CosineAnnealingLR", "eta_min", values["eta_min"], 0.0)}

    def _lr_at(self, epoch: int) -> list[float]:
        cos = 1.0 + math.cos(math.pi * epoch / self.T_max)
        return [self.eta_min + (base - self.eta_min) * cos / 2.0 for base in self.base_lrs]


class LinearWarmupLR(LRScheduler):
    r"""Ramp the rate linearly from ``start_factor * base`` to ``base`` over ``warmup_steps``
    steps, then hold it (``torch.optim.lr_scheduler.LinearLR`` with ``end_factor=1``).

    :math:`\eta_t = \eta_0 \,(s + (1 - s) \min(t, W) / W)`.
    Meant to be stepped **once per batch** (``warmup_steps`` counts batches).
    """

    _hyper = ("warmup_steps", "start_factor")

    def __init__(self, optimizer: Optimizer, warmup_steps: int, start_factor: float = 1 / 3,
                 last_epoch: int = -1):
        self._set_hyper(optimizer, warmup_steps=warmup_steps, start_factor=start_factor)
        super().__init__(optimizer, last_epoch)

    def _checked(self, values: dict[str, Any], n_groups: int) -> dict[str, Any]:
        op = "LinearWarmupLR"
        return {"warmup_steps": integer(op, "warmup_steps", values["warmup_steps"]),
                "start_factor": real(op, "start_factor", values["start_factor"], 0.0, 1.0)}

    def _lr_at(self, epoch: int) -> list[float]:
        s, W = self.start_factor, self.warmup_steps
        factor = s + (1.0 - s) * min(epoch, W) / W
        return [base * factor for base in self.base_lrs]


class LambdaLR(LRScheduler):
    r""":math:`\eta_t = \eta_0 \cdot \text{lr\_lambda}(t)`, one function or one per group.

    Stepped per epoch or per batch, as the function expects.  A factor that is not a finite
    number >= 0 (NaN, a negative value, a string) is refused when it is computed, and the
    scheduler stays where it was.  The functions are not saved by :meth:`state_dict` (only
    ``last_epoch`` and ``base_lrs``): pass the same ones again.  Example, warm-up then
    cosine over ``T`` batches:
    ``lambda t: min(1, (t + 1) / W) * 0.5 * (1 + math.cos(math.pi * t / T))``.
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1):
        n = len(_check_optimizer("LambdaLR", optimizer).param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(lambdas) != n:
            raise ValueError(f"expected {n} lr_lambda functions (one per group), "
                             f"got {len(lambdas)}")
        for f in lambdas:
            if not callable(f):
                raise TypeError(f"LambdaLR: lr_lambda must be a function of the step count; "
                                f"got {type(f).__name__}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, epoch: int) -> list[float]:
        return [base * real("LambdaLR", f"the factor lr_lambda({epoch})", f(epoch), 0.0)
                for base, f in zip(self.base_lrs, self.lr_lambdas)]


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy (Smith & Topin, 2018), with PyTorch's values (two phases).

    The rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start * total_steps - 1`` steps, then falls to
    ``max_lr / (div_factor * final_div_factor)`` at step ``total_steps - 1``, along a cosine
    (``anneal_strategy="cos"``) or a line.  Meant to be stepped **once per batch**:
    ``total_steps = epochs * steps_per_epoch``.  Stepping beyond ``total_steps`` raises.

    Parameters
    ----------
    optimizer : Optimizer
    max_lr : float or list of float (one per group)
    total_steps : int, optional
        Or give ``epochs`` and ``steps_per_epoch``.
    pct_start, div_factor, final_div_factor, anneal_strategy
        As in ``torch.optim.lr_scheduler.OneCycleLR``.  ``group["initial_lr"]`` is set to
        ``max_lr / div_factor``, as PyTorch does.
    cycle_momentum : bool
        If True, also cycle SGD's ``momentum`` (or Adam's ``beta1``) inversely, from
        ``max_momentum`` down to ``base_momentum`` and back, as PyTorch (whose default is
        True; here it is False so that the optimizer's momentum is left alone unless asked).
    """

    _hyper = ("total_steps", "pct_start", "anneal_strategy", "max_lrs", "min_lrs",
              "cycle_momentum", "base_momentums", "max_momentums")

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float],
                 total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 anneal_strategy: str = "cos", cycle_momentum: bool = False,
                 base_momentum: float | Sequence[float] = 0.85,
                 max_momentum: float | Sequence[float] = 0.95, last_epoch: int = -1):
        op = "OneCycleLR"
        groups = _check_optimizer(op, optimizer).param_groups
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("give total_steps, or both epochs and steps_per_epoch")
            total_steps = (integer(op, "epochs", epochs)
                           * integer(op, "steps_per_epoch", steps_per_epoch))
        div_factor = real(op, "div_factor", div_factor, 0.0, min_open=True)
        final_div_factor = real(op, "final_div_factor", final_div_factor, 0.0, min_open=True)
        max_lrs = _per_group(op, "max_lr", max_lr, len(groups))
        self._set_hyper(optimizer, total_steps=total_steps, pct_start=pct_start,
                        anneal_strategy=anneal_strategy, max_lrs=max_lrs,
                        min_lrs=[m / div_factor / final_div_factor for m in max_lrs],
                        cycle_momentum=cycle_momentum,
                        base_momentums=_per_group(op, "base_momentum", base_momentum,
                                                  len(groups)),
                        max_momentums=_per_group(op, "max_momentum", max_momentum,
                                                 len(groups)))
        if self.cycle_momentum and not ({"momentum", "betas"} & set(optimizer.defaults)):
            raise ValueError("cycle_momentum=True needs an optimizer with momentum or betas")
        if integer("OneCycleLR", "last_epoch", last_epoch, minimum=-1) == -1:
            for group, m in zip(groups, self.max_lrs):
                group["initial_lr"] = m / div_factor
        super().__init__(optimizer, last_epoch)

    def _checked(self, values: dict[str, Any], n_groups: int) -> dict[str, Any]:
        op = "OneCycleLR"
        if not isinstance(values["anneal_strategy"], str) or values["anneal_strategy"] not in (
                "cos", "linear"):
            raise ValueError(f"{op}: anneal_strategy must be 'cos' or 'linear'; got "
                             f"{values['anneal_strategy']!r}")
        if not isinstance(values["cycle_momentum"], (bool, np.bool_)):
            raise TypeError(f"{op}: cycle_momentum must be True or False; got "
                            f"{values['cycle_momentum']!r}")
        out = {"total_steps": integer(op, "total_steps", values["total_steps"]),
               "pct_start": real(op, "pct_start", values["pct_start"], 0.0, 1.0),
               "anneal_strategy": str(values["anneal_strategy"]),
               "cycle_momentum": bool(values["cycle_momentum"])}
        for name in ("max_lrs", "min_lrs", "base_momentums", "max_momentums"):
            out[name] = _per_group(op, name, values[name], n_groups)
        return out

    def _phase(self, epoch: int) -> tuple[int, float]:
        """(phase index, fraction of it done) at ``epoch``, with PyTorch's phase ends."""
        if epoch > self.total_steps:
            raise ValueError(f"tried to step {epoch} times; OneCycleLR was built for "
                             f"total_steps={self.total_steps}")
        end1 = float(self.pct_start * self.total_steps) - 1.0
        if epoch <= end1:
            start, end, phase = 0.0, end1, 0
        else:
            start, end, phase = end1, float(self.total_steps - 1), 1
        # a phase of zero length (e.g. total_steps == 1) is already complete
        return phase, (epoch - start) / (end - start) if end != start else 1.0

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)
        return (end - start) * pct + start

    def _lr_at(self, epoch: int) -> list[float]:
        phase, pct = self._phase(epoch)
        ends = (zip(self.base_lrs, self.max_lrs) if phase == 0
                else zip(self.max_lrs, self.min_lrs))
        return [self._anneal(a, b, pct) for a, b in ends]

    def _apply(self, lrs: list[float]) -> None:
        super()._apply(lrs)
        if not self.cycle_momentum:
            return
        phase, pct = self._phase(self.last_epoch)
        pairs = zip(self.max_momentums, self.base_momentums)
        for group, (hi, lo) in zip(self.optimizer.param_groups, pairs):
            m = self._anneal(hi, lo, pct) if phase == 0 else self._anneal(lo, hi, pct)
            if "betas" in group:
                group["betas"] = (m, group["betas"][1])
            else:
                group["momentum"] = m
