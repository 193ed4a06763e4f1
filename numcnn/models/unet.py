"""U-Net and a small FCN: fully convolutional networks that classify every pixel."""

from __future__ import annotations

import numpy as np

from .. import nn
from .._random import default_rng
from .._validate import integer
from ..functional._validate import flag


def double_conv(c_in: int, c_out: int, batchnorm: bool, rng) -> nn.Sequential:
    """(conv 3x3 pad 1 -> [BatchNorm] -> ReLU) twice; the conv has no bias before a BatchNorm
    (the norm's shift makes it redundant)."""
    layers = []
    for c in (c_in, c_out):
        layers.append(nn.Conv2d(c, c_out, 3, padding=1, bias=not batchnorm, rng=rng))
        if batchnorm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """U-Net (Ronneberger et al., 2015) with 'same' padding, so the output has the input's size.

    Encoder level d (0..depth) has base_channels * 2**d channels; each level below 0 starts
    with a 2x2 max-pool.  Each decoder step upsamples (a 2x2 transposed conv, or bilinear
    upsampling followed by a 1x1 conv), concatenates the encoder's output of the same level
    (the skip connection) and applies a double conv.  A 1x1 conv gives the class logits.

    Input (N, in_channels, H, W) with H, W divisible by 2**depth;
    output (N, num_classes, H, W).
    """

    def __init__(self, in_channels: int, num_classes: int, base_channels: int = 16,
                 depth: int = 3, batchnorm: bool = True, up: str = "transpose", rng=None):
        super().__init__()
        if not isinstance(up, str) or up not in ("transpose", "bilinear"):
            raise ValueError(f"UNet: up must be 'transpose' or 'bilinear'; got {up!r}")
        in_channels, num_classes, base_channels, depth = (
            integer("UNet", name, v) for name, v in [
                ("in_channels", in_channels), ("num_classes", num_classes),
                ("base_channels", base_channels), ("depth", depth)])
        batchnorm = flag("UNet", "batchnorm", batchnorm)
        rng = default_rng(rng)
        self.in_channels, self.num_classes, self.depth = in_channels, num_classes, depth
        widths = [base_channels * 2 ** d for d in range(depth + 1)]
        self.pools = nn.ModuleList(nn.MaxPool2d(2) for _ in range(depth))
        self.encoders = nn.ModuleList(
            double_conv(in_channels if d == 0 else widths[d - 1], widths[d], batchnorm, rng)
            for d in range(depth + 1))
        self.ups = nn.ModuleList()
        self.concats = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for d in reversed(range(depth)):  # decoder i works at level d = depth - 1 - i
            if up == "transpose":
                self.ups.append(nn.ConvTranspose2d(widths[d + 1], widths[d], 2, stride=2,
                                                   rng=rng))
            else:
                self.ups.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"),
                                              nn.Conv2d(widths[d + 1], widths[d], 1, rng=rng)))
            self.concats.append(nn.Concat(axis=1))
            self.decoders.append(double_conv(2 * widths[d], widths[d], batchnorm, rng))
        self.head = nn.Conv2d(widths[0], num_classes, 1, rng=rng)

    def check_input(self, x: np.ndarray) -> None:
        """Clear errors for the wrong layout, channel count or a size the pools can't halve."""
        m = 2 ** self.depth
        if not isinstance(x, np.ndarray) or x.ndim != 4:
            raise ValueError(f"UNet: expected input (N, {self.in_channels}, H, W); got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"UNet: expected {self.in_channels} channels at axis 1 (NCHW); got "
                             f"input of shape {x.shape}")
        H, W = x.shape[2:]
        if H % m or W % m:
            raise ValueError(f"UNet(depth={self.depth}): height and width must be multiples of "
                             f"{m}; got {H}x{W} (crop or pad to {H // m * m or m}x"
                             f"{W // m * m or m}, or predict with numcnn.predict.sliding_window)")

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x)
        skips = []
        h = x
        for d, encoder in enumerate(self.encoders):
            if d > 0:
                h = self.pools[d - 1](h)
            h = encoder(h)
            skips.append(h)                          # h_d: used by the next pool AND a decoder
        for i, (up, concat, decoder) in enumerate(zip(self.ups, self.concats, self.decoders)):
            skip = skips[self.depth - 1 - i]
            h = decoder(concat(up(h), skip))
        return self.head(h)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """The forward in reverse.  Encoder output e_d feeds both the next level's pool and a
        decoder's concat, so its gradient is the sum of the two paths."""
        dh = self.head.backward(dout)
        dskips = [None] * self.depth
        for i in reversed(range(self.depth)):       # the last decoder first
            d_cat = self.decoders[i].backward(dh)
            d_up, dskips[self.depth - 1 - i] = self.concats[i].backward(d_cat)
            dh = self.ups[i].backward(d_up)
        for d in reversed(range(self.depth + 1)):
            if d < self.depth:
                dh = dh + dskips[d]                  # the tensor used twice: sum its gradients
            dh = self.encoders[d].backward(dh)
            if d > 0:
                dh = self.pools[d - 1].backward(dh)
        return dh


class FCN(nn.Sequential):
    """A small fully convolutional network: two conv blocks with 2x2 max-pools, a 1x1 class
    conv at 1/4 resolution, then bilinear upsampling x4 back to the input size.

    Input (N, in_channels, H, W) with H, W divisible by 4; output (N, num_classes, H, W).
    """

    def __init__(self, in_channels: int, num_classes: int, base_channels: int = 16,
                 batchnorm: bool = True, rng=None):
        in_channels, num_classes, b = (
            integer("FCN", name, v) for name, v in [
                ("in_channels", in_channels), ("num_classes", num_classes),
                ("base_channels", base_channels)])
        batchnorm = flag("FCN", "batchnorm", batchnorm)
        rng = default_rng(rng)
        super().__init__(
            double_conv(in_channels, b, batchnorm, rng), nn.MaxPool2d(2),
            double_conv(b, 2 * b, batchnorm, rng), nn.MaxPool2d(2),
            double_conv(2 * b, 4 * b, batchnorm, rng),
            nn.Conv2d(4 * b, num_classes, 1, rng=rng), nn.Upsample(scale_factor=4, mode="bilinear"))

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 4 and (x.shape[2] % 4 or x.shape[3] % 4):
            raise ValueError(f"FCN: height and width must be multiples of 4; got "
                             f"{x.shape[2]}x{x.shape[3]}")
        return super().forward(x)
