"""Optimizer base class: parameter groups, per-parameter state, flat ``.npz``-ready state_dict.

The update rules live in ``sgd.py``, ``adam.py`` and ``rmsprop.py``; this file holds what
they share:

- ``param_groups``: a list of dicts, each with ``"params"`` (a list of ``Parameter``) and
  that group's hyper-parameters (``"lr"``, ...), as in PyTorch.  Schedulers write
  ``group["lr"]``.
- ``state``: per-parameter arrays (momentum buffers, Adam moments), keyed by the
  ``Parameter`` object itself so that ``Parameter.astype`` (which swaps ``.data``) keeps them.
- ``state_dict()``: a flat ``dict[str, np.ndarray]`` (``param_groups.0.lr``,
  ``state.3.exp_avg``...) that ``np.savez`` stores and ``np.load(allow_pickle=False)`` reads;
  ``load_state_dict`` checks all of it before it writes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .._validate import real
from ..nn.module import Module
from ..nn.parameter import Parameter

ParamsT = Iterable[Parameter] | Iterable[dict[str, Any]]


class Optimizer:
    """Base class: holds parameter groups and per-parameter state; subclasses update.

    Parameters
    ----------
    params : iterable of Parameter, or iterable of dict
        ``model.parameters()``, or param-group dicts ``{"params": [...], "lr": 0.1, ...}``
        whose missing hyper-parameters are taken from ``defaults``.
    defaults : dict
        Hyper-parameters of the optimizer (the constructor's keyword arguments).

    Attributes
    ----------
    param_groups : list of dict
    state : dict[Parameter, dict[str, np.ndarray | int]]
    defaults : dict
    """

    #: names of per-parameter state arrays shaped like the parameter (``step`` is a count)
    _buffer_names: tuple[str, ...] = ()
    #: names of per-parameter integer counters
    _count_names: tuple[str, ...] = ()
    #: state arrays that are averages of squares, hence never negative
    _nonnegative_buffers: tuple[str, ...] = ()

    def __init__(self, params: ParamsT, defaults: dict[str, Any]):
        name = type(self).__name__
        if isinstance(params, Module):
            raise TypeError(f"{name}: params must be the parameters to update, "
                            f"model.parameters(); got the {type(params).__name__} module "
                            f"itself")
        if isinstance(params, (Parameter, np.ndarray)) or not isinstance(params, Iterable):
            raise TypeError(f"{name}: params must be an iterable of Parameters or of "
                            f"param-group dicts (e.g. model.parameters()); got a single "
                            f"{type(params).__name__}")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Parameter, dict[str, Any]] = {}
        items = list(params)
        if not items:
            raise ValueError(f"{name} got an empty parameter list")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group ``{"params": [...], <hyper-parameter>: value, ...}``; missing
        hyper-parameters are taken from ``defaults``."""
        if not isinstance(group, dict) or "params" not in group:
            raise ValueError(f"a param group must be a dict with a 'params' key; got {group!r}")
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizers update Parameters; got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("a Parameter appears more than once in the optimizer's groups; "
                             "it would be updated twice per step")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate (and normalise) a group's hyper-parameters; raise ``TypeError`` or
        ``ValueError``."""

    def _number(self, group: dict[str, Any], name: str, maximum: float | None = None,
                max_open: bool = False) -> None:
        """``group[name]`` must be a finite number >= 0 (and <= ``maximum``); it is stored
        as a Python float, so that a float32 update stays float32."""
        group[name] = real(type(self).__name__, name, group[name], 0.0, maximum,
                           max_open=max_open)

    def _flag(self, group: dict[str, Any], name: str) -> None:
        value = group[name]
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}: {name} must be True or False; got "
                            f"{value!r}")
        group[name] = bool(value)

    def _all_params(self) -> list[Parameter]:
        return [p for g in self.param_groups for p in g["params"]]

    def _required_state(self, group: dict[str, Any]) -> set[str]:
        """The state entries a stepped parameter of ``group`` must have."""
        return set(self._buffer_names) | set(self._count_names)

    # ------------------------------------------------------------------ stepping
    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to zero (in place; the arrays are kept)."""
        for p in self._all_params():
            p.zero_grad()

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Update every parameter with ``requires_grad=True`` and a ``.grad``, in place.

        A parameter whose ``.grad`` is None is skipped (as in PyTorch); a ``.grad`` whose
        shape or dtype differs from the parameter's is an error, raised before anything is
        updated.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (called before the update).

        Returns
        -------
        The closure's loss, or None.
        """
        loss = closure() if closure is not None else None
        for i, p in enumerate(self._all_params()):
            g = p.grad
            if p.requires_grad and g is not None and (
                    not isinstance(g, np.ndarray) or g.shape != p.data.shape
                    or g.dtype != p.data.dtype):
                got = (f"shape {g.shape} and dtype {g.dtype}" if isinstance(g, np.ndarray)
                       else f"a {type(g).__name__}")
                raise ValueError(f"{type(self).__name__}.step: parameter {i} has a .grad of "
                                 f"{got}; expected an array of its data's shape "
                                 f"{p.data.shape} and dtype {p.data.dtype}")
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _active(self, group: dict[str, Any]) -> Iterable[Parameter]:
        """The parameters a step updates: trainable, with a gradient."""
        return (p for p in group["params"] if p.requires_grad and p.grad is not None)

    def _param_state(self, p: Parameter) -> dict[str, Any]:
        """The state of ``p``; buffers follow ``p``'s dtype if ``Parameter.astype`` changed it."""
        state = self.state.setdefault(p, {})
        for name in self._buffer_names:
            buf = state.get(name)
            if buf is not None and buf.dtype != p.data.dtype:
                if buf.shape != p.data.shape:
                    raise ValueError(f"optimizer state {name!r} has shape {buf.shape} but its "
                                     f"parameter now has shape {p.data.shape}")
                state[name] = buf.astype(p.data.dtype)
        return state

    # ------------------------------------------------------------------ state_dict
    def state_dict(self) -> dict[str, np.ndarray]:
        """A flat ``dict[str, np.ndarray]`` that ``np.savez`` can store without pickle.

        Keys
        ----
        ``param_groups.<g>.params``
            int64 indices of the group's parameters (numbered across groups in order).
        ``param_groups.<g>.<name>``
            each hyper-parameter: a 0-d array, or 1-d for tuples such as ``betas``.
        ``state.<i>.<name>``
            per-parameter state (copies), for parameters that have any.
        """
        out: dict[str, np.ndarray] = {}
        index = 0
        for g, group in enumerate(self.param_groups):
            n = len(group["params"])
            out[f"param_groups.{g}.params"] = np.arange(index, index + n, dtype=np.int64)
            index += n
            for key, value in group.items():
                if key != "params":
                    out[f"param_groups.{g}.{key}"] = _to_array(f"param_groups.{g}.{key}", value)
        for i, p in enumerate(self._all_params()):
            for name, value in self.state.get(p, {}).items():
                out[f"state.{i}.{name}"] = np.array(value, copy=True)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore hyper-parameters and per-parameter state from :meth:`state_dict`'s output
        (values may be 0-d arrays, as ``np.load`` returns them).

        Everything is checked before anything is written: the groups (parameter counts,
        every hyper-parameter a number in its range), and each parameter's state (the
        entries this optimizer keeps, shaped like the parameter, finite, averages of squares
        >= 0).  On error a ``ValueError`` names the key with what was expected and what
        arrived, and the optimizer is unchanged.
        """
        self._prepared_load(state)()

    def _prepared_load(self, state: dict[str, Any]) -> Callable[[], None]:
        """Check ``state`` completely; return the function that writes it (it cannot fail)."""
        if not hasattr(state, "items"):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a dict of "
                            f"arrays; got {type(state).__name__}")
        params = self._all_params()
        group_keys: list[dict[str, Any]] = [{} for _ in self.param_groups]
        state_keys: dict[int, dict[str, Any]] = {}
        for key, value in state.items():
            parts = str(key).split(".", 2)
            if len(parts) != 3 or not parts[1].isdigit() or parts[0] not in ("param_groups",
                                                                                "state"):
                raise ValueError(f"unexpected key {key!r} in optimizer state_dict")
            kind, idx, name = parts[0], int(parts[1]), parts[2]
            if kind == "param_groups":
                if idx >= len(self.param_groups):
                    raise ValueError(f"{key}: state_dict has more param groups than the "
                                     f"optimizer ({len(self.param_groups)})")
                group_keys[idx][name] = value
            else:
                state_keys.setdefault(idx, {})[name] = value

        # groups first: a wrong parameter count is best reported as such
        new_groups = [self._load_group(g, keys) for g, keys in enumerate(group_keys)]
        group_of = [g for g, group in enumerate(self.param_groups) for _ in group["params"]]
        new_state = {}
        for idx in sorted(state_keys):
            keys = state_keys[idx]
            if idx >= len(params):
                raise ValueError(f"state.{idx}.{next(iter(keys))}: parameter index {idx} out "
                                 f"of range; the optimizer has {len(params)} parameters")
            new_state[params[idx]] = self._load_param_state(idx, params[idx], keys,
                                                            new_groups[group_of[idx]])

        def write() -> None:
            for group, new in zip(self.param_groups, new_groups):
                group.update(new)
            self.state = new_state

        return write

    def _load_group(self, g: int, keys: dict[str, Any]) -> dict[str, Any]:
        group = self.param_groups[g]
        pkey = f"param_groups.{g}.params"
        if "params" not in keys:
            raise ValueError(f"{pkey}: missing from state_dict; expected "
                             f"{len(self.param_groups)} param groups")
        got = np.asarray(keys.pop("params")).reshape(-1)
        start = sum(len(h["params"]) for h in self.param_groups[:g])
        expected = np.arange(start, start + len(group["params"]))
        if got.shape != expected.shape or not np.array_equal(got, expected):
            raise ValueError(f"{pkey}: expected {len(expected)} parameters (indices "
                             f"{start}..{start + len(expected) - 1}), got {got.size}: {got}")
        for name in self.defaults:
            if name not in keys:
                raise ValueError(f"param_groups.{g}.{name}: missing from state_dict (was it "
                                 f"saved by another optimizer than {type(self).__name__}?)")
        new = {name: _from_array(f"param_groups.{g}.{name}", value,
                                 group.get(name, self.defaults.get(name)))
               for name, value in keys.items()}
        trial = {**group, **new}
        try:
            self._check_group(trial)
        except (TypeError, ValueError) as e:
            raise ValueError(f"param_groups.{g}: {e}") from None
        return {k: v for k, v in trial.items() if k != "params"}

    def _load_param_state(self, i: int, p: Parameter, keys: dict[str, Any],
                          group: dict[str, Any]) -> dict[str, Any]:
        known = set(self._buffer_names) | set(self._count_names)
        required = self._required_state(group)
        if not required <= set(keys) <= known:
            raise ValueError(f"state.{i}: expected entries {sorted(required)}"
                             + (f" (and optionally {sorted(known - required)})"
                                if known - required else "")
                             + f", got {sorted(keys)}")
        out: dict[str, Any] = {}
        for name, value in keys.items():  # in the saved order, as the step created them
            arr = np.asarray(value)
            key = f"state.{i}.{name}"
            if name in self._count_names:
                if not _is_count(arr):
                    raise ValueError(f"{key}: expected a 0-d count >= 0, got shape "
                                     f"{arr.shape} value {arr!r}")
                out[name] = int(arr)
                continue
            if arr.dtype.kind not in "fiu":
                raise ValueError(f"{key}: expected a real numeric array, got dtype "
                                 f"{arr.dtype}")
            if arr.shape != p.data.shape:
                raise ValueError(f"{key}: expected shape {p.data.shape}, got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{key}: expected finite values, got nan or inf")
            if name in self._nonnegative_buffers and arr.size and arr.min() < 0:
                raise ValueError(f"{key}: expected values >= 0 (an average of squares), got "
                                 f"a minimum of {arr.min()!r}")
            out[name] = arr.astype(p.data.dtype, copy=True)
        return out

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for g, group in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {g}: {len(group['params'])} params, {hyper}")
        return "\n".join(lines + [")"])


def _is_count(arr: np.ndarray) -> bool:
    """A 0-d integer >= 0 (PyTorch stores ``step`` as a float tensor: 3.0 is accepted)."""
    if arr.shape != () or arr.dtype.kind not in "fiu":
        return False
    value = float(arr)
    return value >= 0 and value.is_integer()


def _to_array(key: str, value: Any) -> np.ndarray:
    """A hyper-parameter as an array that ``.npz`` stores without pickle."""
    if isinstance(value, (bool, int, float, str, np.generic)):
        return np.array(value)
    if isinstance(value, (tuple, list)):
        return np.array([float(v) for v in value], dtype=np.float64)
    raise TypeError(f"{key}: cannot store hyper-parameter of type {type(value).__name__} "
                    "in a state_dict")


def _from_array(key: str, value: Any, like: Any) -> Any:
    """Back from :func:`_to_array`, as the Python type of the current value ``like``; a
    number must arrive as a number (a string array is refused, not parsed)."""
    arr = np.asarray(value)
    if isinstance(like, str) or (like is None and arr.dtype.kind == "U"):
        if arr.dtype.kind != "U" or arr.shape != ():
            raise ValueError(f"{key}: expected a string, got {arr!r}")
        return str(arr)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{key}: expected a number, got an array of dtype {arr.dtype} "
                         f"({arr!r})")
    if isinstance(like, tuple) or (like is None and arr.ndim == 1):
        n = len(like) if isinstance(like, tuple) else arr.shape[0]
        if arr.shape != (n,):
            raise ValueError(f"{key}: expected shape ({n},), got {arr.shape}")
        return tuple(float(v) for v in arr)
    if arr.shape != ():
        raise ValueError(f"{key}: expected a 0-d array, got shape {arr.shape}")
    item = arr.item()
    if isinstance(like, bool):
        if arr.dtype.kind != "b":
            raise ValueError(f"{key}: expected True or False, got {arr!r}")
        return bool(item)
    if isinstance(like, int):
        if not float(item).is_integer():
            raise ValueError(f"{key}: expected an integer, got {arr!r}")
        return int(item)
    if isinstance(like, float):
        return float(item)
    return item
