"""Classifiers: the seed article's CNN done right, and LeNet-5."""

from __future__ import annotations

import numpy as np

from .. import nn
from .._random import default_rng
from .._validate import integer


class SeedCNN(nn.Sequential):
    """The seed article's network: conv 3x3 -> 32, ReLU, max-pool 2, conv 3x3 -> 64, ReLU,
    max-pool 2, flatten, Linear(64 * (s/4)^2, num_classes).  Returns logits.

    Fixes of the article's code: no ReLU on the logits (cross-entropy needs unbounded
    logits), and the flattened size follows from ``input_size`` instead of a hard-coded
    64*7*7 (which is right only for 28x28 inputs).

    Input (N, in_channels, s, s) with s divisible by 4; output (N, num_classes).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, input_size: int = 28,
                 rng=None):
        in_channels, num_classes, input_size = (
            integer("SeedCNN", name, v) for name, v in [
                ("in_channels", in_channels), ("num_classes", num_classes),
                ("input_size", input_size)])
        if input_size % 4:
            raise ValueError(f"SeedCNN: input_size must be divisible by 4 (two 2x2 poolings); "
                             f"got {input_size}")
        rng = default_rng(rng)
        side = input_size // 4
        super().__init__(
            nn.Conv2d(in_channels, 32, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * side * side, num_classes, rng=rng))
        self.input_size = input_size

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 4 and x.shape[2:] != (self.input_size, self.input_size):
            raise ValueError(f"SeedCNN: built for {self.input_size}x{self.input_size} inputs; "
                             f"got {x.shape[2]}x{x.shape[3]} (pass input_size=...)")
        return super().forward(x)


class LeNet5(nn.Sequential):
    """LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, for 28x28 inputs:
    conv 5x5 pad 2 -> 6, pool, conv 5x5 -> 16, pool, 400 -> 120 -> 84 -> num_classes."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, rng=None):
        in_channels, num_classes = (integer("LeNet5", name, v) for name, v in [
            ("in_channels", in_channels), ("num_classes", num_classes)])
        rng = default_rng(rng)
        super().__init__(
            nn.Conv2d(in_channels, 6, 5, padding=2, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120, rng=rng), nn.ReLU(),
            nn.Linear(120, 84, rng=rng), nn.ReLU(), nn.Linear(84, num_classes, rng=rng))
