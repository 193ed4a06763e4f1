"""Sequential: forward through the children in order, backward through them in reverse."""

from __future__ import annotations

import numpy as np

from .module import Module


class Sequential(Module):
    """A chain of modules, named "0", "1", ... as in PyTorch (so state_dict keys match).

    ``backward(dout)`` walks the chain in reverse: dL/d(input of layer k) =
    layer_k.backward(dL/d(output of layer k)).
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} must be a Module; got "
                                f"{type(m).__name__}")
            setattr(self, str(i), m)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for m in self._modules.values():
            x = m(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for m in reversed(self._modules.values()):
            dout = m.backward(dout)
        return dout

    def append(self, module: Module) -> Sequential:
        setattr(self, str(len(self._modules)), module)
        return self

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
