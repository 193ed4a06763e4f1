"""Module: the PyTorch-shaped base class, with an explicit ``backward``.

``forward(x)`` computes the output and keeps the cache its backward needs; ``backward(dout)``
returns dL/dx and *adds* dL/dparam into each ``Parameter.grad``.  There is no autograd: a
container's backward calls its children's backwards in reverse order, by hand.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from .parameter import Parameter

_grad_enabled = True
_NO_GRAD = object()  # the cache of a forward that ran under no_grad()


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


class Module:
    """Base class of layers and models.

    Subclasses assign ``Parameter``s and sub-``Module``s as attributes (registered in that
    order, which fixes the ``state_dict`` key order as in PyTorch), register non-trainable
    state with :meth:`register_buffer`, and implement ``forward`` and ``backward``.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_cache", None)

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
        return self.forward(*args, **kwargs)

    def _save(self, cache) -> None:
        """Keep what backward needs (nothing under ``no_grad``)."""
        object.__setattr__(self, "_cache", cache if _grad_enabled else _NO_GRAD)

    def _saved(self):
        """The cache of the last forward, or a clear error if there was none."""
        name = type(self).__name__
        if self._cache is None:
            raise RuntimeError(f"{name}.backward() called before forward(): run a forward "
                               f"pass first")
        if self._cache is _NO_GRAD:
            raise RuntimeError(f"{name}.backward(): the last forward ran under no_grad(), "
                               f"which keeps nothing for backward; run it outside no_grad()")
        return self._cache

    # --------------------------------------------------------------------------- traversal
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod._parameters.items():
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mod_name, mod in self.named_modules(prefix):
            for name, b in mod._buffers.items():
                yield (f"{mod_name}.{name}" if mod_name else name), b

    # -------------------------------------------------------------------------- state_dict
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed as PyTorch keys them
        (``0.weight``, ``1.running_var``, ``1.num_batches_tracked``...)."""
        state = OrderedDict()
        self._collect_state(state, "")
        return state

    def _collect_state(self, state: OrderedDict, prefix: str) -> None:
        # PyTorch's order: a module's own parameters, then its buffers, then each child
        for name, p in self._parameters.items():
            state[prefix + name] = p.data.copy()
        for name, b in self._buffers.items():
            state[prefix + name] = np.array(b, copy=True)
        for name, child in self._modules.items():
            child._collect_state(state, f"{prefix}{name}.")

    def load_state_dict(self, state, strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy arrays from ``state`` into this module (cast to each target's dtype).

        Everything is checked before anything is written: missing or unexpected keys (when
        ``strict``) and shape mismatches raise a ``ValueError`` naming them, and the module
        is left unchanged.  Values may be NumPy arrays or anything ``np.asarray`` accepts
        (a torch tensor's ``.numpy()``).

        Returns
        -------
        (missing_keys, unexpected_keys)
        """
        targets = OrderedDict()
        for mod_name, mod in self.named_modules():
            pre = f"{mod_name}." if mod_name else ""
            for name in mod._parameters:
                targets[pre + name] = (mod, name, "param")
            for name in mod._buffers:
                targets[pre + name] = (mod, name, "buffer")
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        arrays = {}
        for key in targets.keys() & state.keys():
            mod, name, kind = targets[key]
            current = mod._parameters[name].data if kind == "param" else mod._buffers[name]
            value = np.asarray(state[key])
            if value.shape != np.shape(current):
                problems.append(f"{key}: expected shape {np.shape(current)}, got {value.shape}")
            arrays[key] = value
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        for key, value in arrays.items():
            mod, name, kind = targets[key]
            if kind == "param":
                p = mod._parameters[name]
                p.data = value.astype(p.data.dtype, copy=True)
            else:
                old = mod._buffers[name]
                mod._buffers[name] = np.array(value, dtype=np.asarray(old).dtype, copy=True)
        return missing, unexpected

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
            object.__setattr__(m, "_cache", None)
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
