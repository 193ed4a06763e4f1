"""Weight initialisation and the weight/bias plumbing shared by Conv2d, ConvTranspose2d, Linear."""

from __future__ import annotations

import numpy as np

from .._random import default_rng
from .module import Module
from .parameter import Parameter


def _uniform(rng: np.random.Generator, shape: tuple, bound: float, dtype) -> Parameter:
    """U(-bound, bound), drawn in float64 then cast, so a seed gives the same values in any
    dtype."""
    try:
        values = rng.uniform(-bound, bound, size=shape)
    except (MemoryError, ValueError) as e:  # NumPy's "array is too big" is a ValueError
        raise MemoryError(f"weights of shape {shape} ({np.prod(shape, dtype=float):.3g} "
                          f"values) do not fit in memory; check the layer's sizes") from e
    return Parameter(values.astype(dtype))


def _kaiming_bound(fan_in: int) -> float:
    """PyTorch's default for conv and linear weights: kaiming_uniform_(a=sqrt(5)), which is
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)): gain sqrt(2/(1+5)) times sqrt(3/fan_in)."""
    return np.sqrt(1.0 / 3.0) * np.sqrt(3.0 / fan_in)


def _kaiming_uniform(rng, shape: tuple, fan_in: int, dtype) -> Parameter:
    return _uniform(rng, shape, _kaiming_bound(fan_in), dtype)


class _WeightBias(Module):
    """A layer with a ``weight`` and an optional ``bias`` Parameter."""

    def reset_parameters(self, rng=None) -> None:
        """PyTorch's default initialisation, in place: weight ~ kaiming_uniform_(a=sqrt(5))
        = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), then bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        with fan_in = weight.shape[1] * (kernel taps).  Drawn from ``rng`` (a Generator or a
        seed; default numcnn's global generator) in float64, then cast."""
        rng = default_rng(rng)
        fan_in = self.weight.size // self.weight.shape[0]
        w, b = self.weight, self.bias
        w.data[...] = rng.uniform(-_kaiming_bound(fan_in), _kaiming_bound(fan_in), w.shape)
        if b is not None:
            b.data[...] = rng.uniform(-1 / np.sqrt(fan_in), 1 / np.sqrt(fan_in), b.shape)

    def _weight_bias(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.weight.data, (self.bias.data if self.bias is not None else None)

    def _accumulate(self, dw: np.ndarray, db: np.ndarray | None) -> None:
        """Backward *adds* into the gradients (they sum over calls until zero_grad)."""
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
