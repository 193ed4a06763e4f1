"""Module: the PyTorch-shaped base class, with an explicit ``backward``.

``forward(x)`` computes the output and keeps the cache its backward needs with
``self._save(cache)``; ``backward(dout)`` takes it back with ``self._saved()``, returns
dL/dx and *adds* dL/dparam into each ``Parameter.grad``.  There is no autograd: a
container's backward calls its children's backwards in reverse order, by hand.

The caches of one module form a stack: every forward pushes one, every backward pops the
most recent.  A module may therefore be called several times in one forward pass (the same
``ReLU`` object twice in a ``Sequential``): the backward pass, walking the calls in reverse,
meets them in exactly the reverse order of the pushes.

Hooks (PyTorch's shapes) let tools watch or change what flows through a module without
touching its code: ``register_forward_pre_hook``, ``register_forward_hook``,
``register_full_backward_pre_hook`` and ``register_full_backward_hook``, each returning a
:class:`RemovableHandle`.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .parameter import Parameter

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Inside this block forwards keep no caches (less memory); backward is unavailable."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


# ------------------------------------------------------------------------------- hooks
_hook_ids = itertools.count()


class RemovableHandle:
    """What ``register_*_hook`` returns: ``handle.remove()`` takes the hook out again; as a
    context manager (``with module.register_forward_hook(f): ...``) it removes it on exit."""

    def __init__(self, hooks: OrderedDict) -> None:
        self._hooks = hooks
        self.id = next(_hook_ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _as_tuple(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _runs_backward_hooks(backward: Callable) -> Callable:
    """Wrap a subclass's ``backward`` so that the module's backward hooks run around it.

    Containers call ``child.backward(dout)`` directly, so this is where backward hooks can
    be found for every module without changing its code.  A ``backward`` that calls
    ``super().backward`` runs the hooks once (the outermost call does).
    """

    @functools.wraps(backward)
    def run(self, dout, *args, **kwargs):
        outermost = self._taken is None
        if outermost:  # the caches this backward pops, given back if it fails
            object.__setattr__(self, "_taken", [])
        try:
            if self._running_backward or not (self._backward_pre_hooks
                                              or self._backward_hooks):
                return backward(self, dout, *args, **kwargs)
            return _hooked(self, dout, *args, **kwargs)
        except BaseException:
            if outermost:  # a refused dout leaves the forward's cache for a retry
                self._caches.extend(reversed(self._taken))
            raise
        finally:
            if outermost:
                object.__setattr__(self, "_taken", None)

    def _hooked(self, dout, *args, **kwargs):
        object.__setattr__(self, "_running_backward", True)
        try:
            for hook in list(self._backward_pre_hooks.values()):
                result = hook(self, (dout,))
                if result is not None:
                    dout = _as_tuple(result)[0]
            grad_input = backward(self, dout, *args, **kwargs)
            for hook in list(self._backward_hooks.values()):
                result = hook(self, _as_tuple(grad_input), (dout,))
                if result is not None:
                    grad_input = (_as_tuple(result) if isinstance(grad_input, tuple)
                                  else _as_tuple(result)[0])
        finally:
            object.__setattr__(self, "_running_backward", False)
        return grad_input

    run._runs_backward_hooks = True
    return run


class Module:
    """Base class of layers and models.

    Subclasses assign ``Parameter``s and sub-``Module``s as attributes (registered in that
    order, which fixes the ``state_dict`` key order as in PyTorch), register non-trainable
    state with :meth:`register_buffer`, and implement ``forward`` and ``backward``
    (docs/custom_modules.md shows how).
    """

    def __init__(self) -> None:
        for name in ("_parameters", "_buffers", "_modules", "_forward_pre_hooks",
                     "_forward_hooks", "_backward_pre_hooks", "_backward_hooks"):
            object.__setattr__(self, name, OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_caches", [])
        object.__setattr__(self, "_last_forward", None)  # None, "grad" or "no_grad"
        object.__setattr__(self, "_running_backward", False)
        object.__setattr__(self, "_taken", None)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        backward = cls.__dict__.get("backward")
        if backward is not None and not getattr(backward, "_runs_backward_hooks", False):
            cls.backward = _runs_backward_hooks(backward)

    # ------------------------------------------------------------------ attribute registry
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 f"assigning attributes")
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self.__dict__.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self.__dict__.pop(name, None)
            self._modules[name] = value
        elif name in self._buffers:
            self._buffers[name] = value
        else:  # a plain attribute (None replaces a parameter, e.g. bias=None)
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # only called when normal lookup fails: parameters, buffers and children live here
        for store in ("_parameters", "_buffers", "_modules"):
            d = self.__dict__.get(store)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """Non-trainable state saved in ``state_dict`` (e.g. BatchNorm's running statistics)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = value

    # ------------------------------------------------------------------ forward / backward
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = _as_tuple(result)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def _save(self, cache) -> None:
        """Push what this forward's backward needs (nothing under ``no_grad``)."""
        if _grad_enabled:
            self._caches.append(cache)
            object.__setattr__(self, "_last_forward", "grad")
        else:
            object.__setattr__(self, "_last_forward", "no_grad")

    def _saved(self):
        """Pop the cache of the most recent forward whose backward has not run yet, or
        raise a clear error if there is none."""
        if self._caches:
            cache = self._caches.pop()
            if self._taken is not None:
                self._taken.append(cache)
            return cache
        name = type(self).__name__
        if self._last_forward is None:
            raise RuntimeError(f"{name}.backward() called before forward(): run a forward "
                               f"pass first")
        if self._last_forward == "no_grad":
            raise RuntimeError(f"{name}.backward(): the last forward ran under no_grad(), "
                               f"which keeps nothing for backward; run it outside no_grad()")
        raise RuntimeError(f"{name}.backward() called more often than forward(): each "
                           f"backward uses up the cache of one forward (the most recent "
                           f"first), and none is left; run a forward pass again")

    # ----------------------------------------------------------------------------- hooks
    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, args) -> None or new args`` runs before every ``module(...)``;
        ``args`` is the tuple of positional inputs (a single returned value is wrapped)."""
        return self._register(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, args, output) -> None or a replacement output`` runs after every
        ``module(...)``."""
        return self._register(self._forward_hooks, hook)

    def register_full_backward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, grad_output) -> None or a replacement grad_output`` runs before
        every ``module.backward(dout)``; ``grad_output == (dout,)``."""
        return self._register(self._backward_pre_hooks, hook)

    def register_full_backward_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, grad_input, grad_output) -> None or a replacement grad_input``
        runs after every ``module.backward(dout)``: ``grad_output == (dout,)`` and
        ``grad_input`` is the tuple of what backward returned (dL/dx; one entry per input
        for ``Concat``)."""
        return self._register(self._backward_hooks, hook)

    @staticmethod
    def _register(hooks: OrderedDict, hook: Callable) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"a hook must be callable; got {type(hook).__name__}")
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    # --------------------------------------------------------------------------- traversal
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True
                      ) -> Iterator[tuple[str, Module]]:
        """This module and every descendant, depth first; a module registered in several
        places is yielded once, under its first name (as PyTorch)."""
        seen: set[int] = set()

        def walk(prefix: str, module: Module):
            if remove_duplicate:
                if id(module) in seen:
                    return
                seen.add(id(module))
            yield prefix, module
            for name, child in module._modules.items():
                yield from walk(f"{prefix}.{name}" if prefix else name, child)

        yield from walk(prefix, self)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", remove_duplicate: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name; a shared (tied) Parameter is yielded once,
        under its first name, so an optimizer updates it once per step (as PyTorch)."""
        seen: set[int] = set()
        for mod_name, mod in self.named_modules(prefix, remove_duplicate):
            for name, p in mod._parameters.items():
                if remove_duplicate:
                    if id(p) in seen:
                        continue
                    seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mod_name, mod in self.named_modules(prefix):
            for name, b in mod._buffers.items():
                yield (f"{mod_name}.{name}" if mod_name else name), b

    # -------------------------------------------------------------------------- state_dict
    def _state_entries(self, prefix: str = "") -> Iterator[tuple[str, Module, str, str]]:
        """``(key, module, name, "param" | "buffer")`` in PyTorch's order: a module's own
        parameters, then its buffers, then each child; shared entries appear under every
        name they have (as in PyTorch's state_dict)."""
        for name in self._parameters:
            yield prefix + name, self, name, "param"
        for name in self._buffers:
            yield prefix + name, self, name, "buffer"
        for name, child in self._modules.items():
            yield from child._state_entries(f"{prefix}{name}.")

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed as PyTorch keys them
        (``0.weight``, ``1.running_var``, ``1.num_batches_tracked``...)."""
        state = OrderedDict()
        for key, mod, name, kind in self._state_entries():
            value = mod._parameters[name].data if kind == "param" else mod._buffers[name]
            state[key] = np.array(value, copy=True)
        return state

    def load_state_dict(self, state, strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy arrays from ``state`` into this module (cast to each target's dtype).

        Everything is checked before anything is written: missing or unexpected keys (when
        ``strict``), shapes, and the kind of every value (real numbers for a floating
        target, integers for an integer buffer; strings, objects, None, bools, complex
        numbers, NaN and inf are refused).  On any problem a ``ValueError`` names each key
        with what it expected and what arrived, and the module is left unchanged.  Values
        may be NumPy arrays or anything ``np.asarray`` accepts (a torch tensor's
        ``.numpy()``).

        Returns
        -------
        (missing_keys, unexpected_keys)
        """
        return self._prepared_load(state, strict)()

    def _prepared_load(self, state, strict: bool = True) -> Callable[[], tuple]:
        """Check ``state`` completely; return the function that writes it (which cannot
        fail), so that a checkpoint can check model, optimizer and scheduler before
        writing any of them."""
        if not hasattr(state, "keys") or not hasattr(state, "__getitem__"):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a dict of "
                            f"arrays; got {type(state).__name__}")
        targets = OrderedDict((key, (mod, name, kind))
                              for key, mod, name, kind in self._state_entries())
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        writes = []
        for key, (mod, name, kind) in targets.items():
            if key not in state:
                continue
            current = mod._parameters[name].data if kind == "param" else mod._buffers[name]
            value, problem = _checked_value(key, state[key], np.asarray(current))
            if problem:
                problems.append(problem)
            else:
                writes.append((mod, name, kind, value))
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))

        def write() -> tuple[list[str], list[str]]:
            for mod, name, kind, value in writes:
                if kind == "param":
                    mod._parameters[name].data = value
                else:
                    mod._buffers[name] = value
            return missing, unexpected

        return write

    # ------------------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def to(self, dtype) -> Module:
        """Cast every parameter and floating buffer to ``dtype`` in place (e.g. float64 for a
        gradient check); caches are dropped."""
        for m in self.modules():
            for p in m._parameters.values():
                p.astype(dtype)
            for name, b in m._buffers.items():
                if np.issubdtype(np.asarray(b).dtype, np.floating):
                    m._buffers[name] = np.asarray(b).astype(dtype)
            m._caches.clear()
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    @property
    def dtype(self):
        """The dtype of the first parameter (float32 unless cast), None without parameters."""
        p = next(self.parameters(), None)
        return None if p is None else p.data.dtype

    def check_input_dtype(self, x: np.ndarray) -> None:
        """Refuse a non-float input, or one whose dtype differs from the parameters' (numcnn
        never upcasts silently)."""
        name = type(self).__name__
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name}: expected a numpy array; got {type(x).__name__}")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name}: expected a floating-point input; got dtype {x.dtype} "
                            f"(convert with x.astype(np.float32))")
        want = self.dtype
        if want is not None and x.dtype != want:
            raise TypeError(f"{name}: input has dtype {x.dtype} but the layer's parameters are "
                            f"{want}; use x.astype(np.{want}) or model.to(np.{x.dtype})")

    # ----------------------------------------------------------------------------- display
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = [f"  ({name}): " + repr(m).replace("\n", "\n  ")
                    for name, m in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n" + "\n".join(children) + "\n)"


def _describe(value: Any, arr: np.ndarray | None) -> str:
    if value is None or isinstance(value, (str, bytes)):
        return repr(value)[:60]
    if arr is None:
        return type(value).__name__
    return f"an array of shape {arr.shape} and dtype {arr.dtype}"


def _checked_value(key: str, value: Any, current: np.ndarray
                   ) -> tuple[np.ndarray | None, str | None]:
    """``(value as a copy in current's dtype, None)`` or ``(None, what is wrong)``.

    A floating target takes real numbers (float64 into float32 is cast, as PyTorch's copy
    does); an integer target (``num_batches_tracked``) takes integers.  Strings (which
    NumPy would parse into numbers), objects, None, bools and complex values are refused,
    and so are NaN and inf (also from a float64 too large for float32): such weights
    only ever come from a run that diverged.
    """
    want = current.dtype
    expected = f"a {want} array of shape {current.shape}"
    try:
        arr = None if value is None else np.asarray(value)
    except Exception:  # an object NumPy cannot read as an array
        arr = None
    kinds = "fiu" if want.kind == "f" else "iu"
    if arr is None or arr.dtype.kind not in kinds:
        return None, f"{key}: expected {expected}, got {_describe(value, arr)}"
    if arr.shape != current.shape:
        return None, f"{key}: expected shape {current.shape}, got {arr.shape}"
    with np.errstate(over="ignore"):
        out = np.array(arr, dtype=want, copy=True)
    if want.kind == "f" and not np.isfinite(out).all():
        bad = int(out.size - np.isfinite(out).sum())
        return None, (f"{key}: expected finite values, got {bad} NaN/inf of {out.size} "
                      f"(weights of a diverged run?)")
    return out, None
