"""Containers: ModuleList (registers children "0", "1", ...) and Sequential (a chain)."""

from __future__ import annotations

import numpy as np

from . import inference
from .module import Module


class ModuleList(Module):
    """A list of sub-modules registered as "0", "1", ... (no forward of its own)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: argument {len(self)} must be a Module; "
                            f"got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(ModuleList):
    """A chain of modules, named "0", "1", ... as in PyTorch (so state_dict keys match).

    ``backward(dout)`` walks the chain in reverse: dL/d(input of layer k) =
    layer_k.backward(dL/d(output of layer k)).
    """

    def __init__(self, *modules: Module):
        super().__init__(modules)

    def forward(self, x: np.ndarray) -> np.ndarray:
        mods = list(self._modules.values())
        i = 0
        while i < len(mods):
            if i + 1 < len(mods) and inference.foldable(mods[i], mods[i + 1]):
                # under no_grad, Conv2d -> eval BatchNorm2d (-> ReLU) runs as one conv
                relu = mods[i + 2] if i + 2 < len(mods) else None
                relu = relu if relu is not None and inference.relu_fusable(relu) else None
                x = inference.run_folded(mods[i], mods[i + 1], relu, x)
                i += 2 if relu is None else 3
            else:
                x = mods[i](x)
                i += 1
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for m in reversed(self._modules.values()):
            dout = m.backward(dout)
        return dout
