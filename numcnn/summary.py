"""``summary(model, input_shape)``: layer by layer output shapes, parameters and FLOPs."""

from __future__ import annotations

import numpy as np

from .nn.module import Module, no_grad


def summary(model: Module, input_shape: tuple, dtype=np.float32) -> str:
    """Run one forward pass on zeros and tabulate every leaf layer it went through.

    Parameters
    ----------
    model : the network (left unchanged: it runs in eval mode, without caches)
    input_shape : (C, H, W) (a batch of one is assumed) or (N, C, H, W)

    Returns
    -------
    The table as a string (``print(summary(...))``): layer, type, output shape, parameter
    count and FLOPs (a multiply-add counts 2), then the totals.
    """
    shape = (1, *input_shape) if len(input_shape) == 3 else tuple(input_shape)
    rows = []
    leaves = [(name, m) for name, m in model.named_modules() if not m._modules]

    def hook(name, m, fwd):
        def forward(*xs):  # Concat takes several inputs
            out = fwd(*xs)
            n_params = sum(p.size for p in m._parameters.values())
            flops = m.flops(xs[0].shape, out.shape) if hasattr(m, "flops") else 0
            rows.append((name or type(m).__name__, type(m).__name__, out.shape, n_params, flops))
            return out
        return forward

    modes = {m: m.training for m in model.modules()}
    for name, m in leaves:
        object.__setattr__(m, "forward", hook(name, m, m.forward))
    try:
        model.eval()
        with no_grad():
            model(np.zeros(shape, dtype=dtype))
    finally:
        for _, m in leaves:
            m.__dict__.pop("forward", None)
        for m, mode in modes.items():
            object.__setattr__(m, "training", mode)

    header = f"{'layer':<28}{'type':<18}{'output shape':<22}{'params':>10}{'FLOPs':>14}"
    lines = [header, "-" * len(header)]
    for name, kind, out_shape, n_params, flops in rows:
        lines.append(f"{name:<28}{kind:<18}{str(tuple(out_shape)):<22}{n_params:>10,}"
                     f"{flops:>14,}")
    total_params = sum(p.size for p in model.parameters())
    total_flops = sum(r[4] for r in rows)
    lines += ["-" * len(header),
              f"total parameters: {total_params:,}   trainable: "
              f"{sum(p.size for p in model.parameters() if p.requires_grad):,}",
              f"total FLOPs per forward (batch {shape[0]}): {total_flops:,}",
              f"input {shape}, parameters "
              f"{total_params * np.dtype(dtype).itemsize / 2**20:.2f} MiB"]
    return "\n".join(lines)
