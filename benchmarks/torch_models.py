"""The same networks in PyTorch, with the same state_dict keys as numcnn's, so that weights
move between them: used by the parity tests and by the training benchmark.  Needs torch."""

import torch
from torch import nn


class SeedCNN(nn.Sequential):
    def __init__(self, in_channels=3, num_classes=10, input_size=28):
        side = input_size // 4
        super().__init__(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * side * side, num_classes))


def double_conv(c_in, c_out, batchnorm):
    layers = []
    for c in (c_in, c_out):
        layers.append(nn.Conv2d(c, c_out, 3, padding=1, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """numcnn.models.UNet with up="transpose", module for module."""

    def __init__(self, in_channels, num_classes, base_channels=16, depth=3, batchnorm=True):
        super().__init__()
        widths = [base_channels * 2 ** d for d in range(depth + 1)]
        self.depth = depth
        self.pools = nn.ModuleList(nn.MaxPool2d(2) for _ in range(depth))
        self.encoders = nn.ModuleList(
            double_conv(in_channels if d == 0 else widths[d - 1], widths[d], batchnorm)
            for d in range(depth + 1))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[d + 1], widths[d], 2, stride=2)
                                 for d in reversed(range(depth)))
        self.decoders = nn.ModuleList(double_conv(2 * widths[d], widths[d], batchnorm)
                                      for d in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        skips = []
        for d, encoder in enumerate(self.encoders):
            if d > 0:
                x = self.pools[d - 1](x)
            x = encoder(x)
            skips.append(x)
        for i, (up, decoder) in enumerate(zip(self.ups, self.decoders)):
            x = decoder(torch.cat([up(x), skips[self.depth - 1 - i]], dim=1))
        return self.head(x)


def load_numcnn_state(torch_model, numcnn_model):
    """Copy a numcnn model's weights and buffers into the torch twin (strict)."""
    state = {k: torch.from_numpy(v.copy()) for k, v in numcnn_model.state_dict().items()}
    torch_model.load_state_dict(state, strict=True)
    return torch_model
