"""Optimizer base class: parameter groups, per-parameter state, flat ``.npz``-ready state_dict.

The update rules live in ``sgd.py`` and ``adam.py``; this file holds what they share:

- ``param_groups``: a list of dicts, each with ``"params"`` (a list of ``Parameter``) and
  that group's hyper-parameters (``"lr"``, ...), as in PyTorch.  Schedulers write
  ``group["lr"]``.
- ``state``: per-parameter arrays (momentum buffers, Adam moments), keyed by the
  ``Parameter`` object itself so that ``Parameter.astype`` (which swaps ``.data``) keeps them.
- ``state_dict()``: a flat ``dict[str, np.ndarray]`` (``param_groups.0.lr``,
  ``state.3.exp_avg``...) that ``np.savez`` stores and ``np.load(allow_pickle=False)`` reads.
- scratch buffers, so that a step allocates no arrays of the parameters' size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..nn.parameter import Parameter

ParamsT = Iterable[Parameter] | Iterable[dict[str, Any]]


def _as_float(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number; got {value!r}") from None


def check_nonneg(group: dict[str, Any], *names: str) -> None:
    """Raise ``ValueError`` unless each ``group[name]`` is a number >= 0 (NaN is rejected).

    Values are normalised to Python floats on the way: a ``np.float64`` learning rate would
    make NumPy >= 2 compute a float32 update in float64.
    """
    for name in names:
        value = _as_float(name, group[name])
        if not value >= 0.0:  # written so that NaN fails too
            raise ValueError(f"{name} must be >= 0; got {group[name]!r}")
        group[name] = value


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

    def __init__(self, params: ParamsT, defaults: dict[str, Any]):
        if isinstance(params, (Parameter, np.ndarray)):
            raise TypeError("params must be an iterable of Parameters or of param-group dicts "
                            f"(e.g. model.parameters()); got a single {type(params).__name__}")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Parameter, dict[str, Any]] = {}
        self._scratch: dict[np.dtype, np.ndarray] = {}
        items = list(params)
        if not items:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
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
        """Validate (and normalise) a group's hyper-parameters; raise ``ValueError``."""

    def _all_params(self) -> list[Parameter]:
        return [p for g in self.param_groups for p in g["params"]]

    # ------------------------------------------------------------------ stepping
    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to zero (in place; the arrays are kept)."""
        for p in self._all_params():
            p.zero_grad()

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Update every parameter with ``requires_grad=True`` in place, from its ``.grad``.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (called before the update).

        Returns
        -------
        The closure's loss, or None.
        """
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _active(self, group: dict[str, Any]) -> Iterable[Parameter]:
        return (p for p in group["params"] if p.requires_grad)

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

    def _scratch_pair(self, p: Parameter) -> tuple[np.ndarray, np.ndarray]:
        """Two scratch arrays shaped like ``p``, views into one buffer per dtype that is
        sized to the largest parameter and reused by every step (no per-step allocation)."""
        dtype, n = p.data.dtype, p.data.size
        buf = self._scratch.get(dtype)
        if buf is None or buf.shape[1] < n:
            largest = max(q.data.size for q in self._all_params() if q.data.dtype == dtype)
            buf = self._scratch[dtype] = np.empty((2, max(largest, n)), dtype=dtype)
        shape = p.data.shape
        return buf[0, :n].reshape(shape), buf[1, :n].reshape(shape)

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

        Everything is checked before anything is written; on error a ``ValueError`` names the
        key with what was expected and what arrived, and the optimizer is unchanged.
        """
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
        for idx, keys in state_keys.items():
            if idx >= len(params):
                raise ValueError(f"state.{idx}.{next(iter(keys))}: parameter index {idx} out "
                                 f"of range; the optimizer has {len(params)} parameters")
        new_state = {params[i]: self._load_param_state(i, params[i], keys)
                     for i, keys in state_keys.items()}
        # all checks passed: commit
        for group, new in zip(self.param_groups, new_groups):
            group.update(new)
        self.state = new_state

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
        new = {name: _from_array(f"param_groups.{g}.{name}", value, group.get(name))
               for name, value in keys.items()}
        trial = {**group, **new}
        self._check_group(trial)
        return {k: v for k, v in trial.items() if k != "params"}

    def _load_param_state(self, i: int, p: Parameter, keys: dict[str, Any]) -> dict[str, Any]:
        expected = set(self._buffer_names) | set(self._count_names)
        if set(keys) != expected:
            raise ValueError(f"state.{i}: expected entries {sorted(expected)}, "
                             f"got {sorted(keys)}")
        out: dict[str, Any] = {}
        for name, value in keys.items():
            arr = np.asarray(value)
            key = f"state.{i}.{name}"
            if name in self._count_names:
                if not _is_count(arr):
                    raise ValueError(f"{key}: expected a 0-d count >= 0, got shape "
                                     f"{arr.shape} value {arr!r}")
                out[name] = int(arr)
            else:
                if arr.shape != p.data.shape:
                    raise ValueError(f"{key}: expected shape {p.data.shape}, got {arr.shape}")
                if not np.issubdtype(arr.dtype, np.number):
                    raise ValueError(f"{key}: expected a numeric array, got dtype {arr.dtype}")
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
    if arr.shape != () or not (np.issubdtype(arr.dtype, np.integer)
                               or np.issubdtype(arr.dtype, np.floating)):
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
    """Back from :func:`_to_array`, as the Python type of the current value ``like``."""
    arr = np.asarray(value)
    if isinstance(like, tuple):
        if arr.shape != (len(like),):
            raise ValueError(f"{key}: expected shape ({len(like)},), got {arr.shape}")
        return tuple(float(v) for v in arr)
    if arr.ndim == 1 and like is None:
        return tuple(float(v) for v in arr)
    if arr.shape != ():
        raise ValueError(f"{key}: expected a 0-d array, got shape {arr.shape}")
    item = arr.item()
    if isinstance(like, bool):
        return bool(item)
    if isinstance(like, int):
        return int(item)
    if isinstance(like, float):
        return float(item)
    return item
