"""Layer-by-layer views of a model: ``summary`` (output shapes, parameters, FLOPs) and
``profile`` (measured forward and backward time of every layer in training passes)."""

from __future__ import annotations

import contextlib
import copy
import time

import numpy as np

from ._validate import integer
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

    def record(name):
        def hook(m, args, out):  # Concat takes several inputs: args[0] stands for them
            n_params = sum(p.size for p in m._parameters.values())
            flops = m.flops(args[0].shape, out.shape) if hasattr(m, "flops") else 0
            rows.append((name, type(m).__name__, out.shape, n_params, flops))
        return hook

    modes = {m: m.training for m in model.modules()}
    try:
        with contextlib.ExitStack() as hooks:
            for name, m in model.named_modules():
                if not m._modules:  # leaves only: a container's row would repeat theirs
                    hooks.enter_context(
                        m.register_forward_hook(record(name or type(m).__name__)))
            model.eval()
            with no_grad():
                model(np.zeros(shape, dtype=dtype))
    finally:
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


def profile(model: Module, x: np.ndarray, target=None, loss_fn=None, steps: int = 5) -> str:
    """Time every leaf layer's forward and backward over training passes on ``x``.

    The passes run on a deep copy, so ``model`` (its weights, gradients, running statistics
    and random generators) is left exactly as it was.  One pass: forward in train mode;
    ``loss_fn(out, target)`` and ``loss_fn.backward()`` if a loss is given, else an upstream
    gradient of ones; then the model's backward.  No optimizer step.  A first pass warms up
    (numba compiles or loads its cache); the table gives the medians of ``steps`` more.

    Parameters
    ----------
    model : the network;  x : a batch (N, ...) of its input
    target, loss_fn : e.g. integer labels and ``nn.CrossEntropyLoss()`` (both or neither)
    steps : timed passes (>= 1)

    Returns
    -------
    The table as a string: per layer the forward and backward milliseconds, their share of
    the pass, and for conv and linear layers the rate 3 x forward FLOPs / (forward +
    backward) (their backward runs two GEMMs the size of the forward's);
    then the pass's median time and what the layers leave over (loss, Python in between).
    """
    if (target is None) != (loss_fn is None):
        raise ValueError("profile: pass both target and loss_fn, or neither (then the "
                         "upstream gradient is ones)")
    steps = integer("profile", "steps", steps)
    net = copy.deepcopy(model)
    net.train()
    leaves = [(name or type(m).__name__, m) for name, m in net.named_modules() if not m._modules]
    times = {name: [0.0, 0.0] for name, _ in leaves}  # this pass: forward, backward seconds
    flops = {}

    started: dict[tuple[str, int], float] = {}

    def timer(name, m, slot):
        """Hooks around one layer's forward (slot 0) or backward (slot 1): the pre-hook
        starts the clock, the hook after it adds the elapsed time to this pass."""
        def begin(module, _):
            started[name, slot] = time.perf_counter()

        def end(module, inputs, outputs):  # forward: (args, out); backward: (dx, dout)
            times[name][slot] += time.perf_counter() - started[name, slot]
            # layers with a weight matrix: backward runs two GEMMs the size of forward's
            weight = m._parameters.get("weight")
            if slot == 0 and weight is not None and weight.data.ndim >= 2:
                flops[name] = m.flops(inputs[0].shape, outputs.shape)
        return begin, end

    for name, m in leaves:  # hooks on the copy only: the model itself is not touched
        begin, end = timer(name, m, 0)
        m.register_forward_pre_hook(begin)
        m.register_forward_hook(end)
        begin, end = timer(name, m, 1)
        m.register_full_backward_pre_hook(begin)
        m.register_full_backward_hook(end)

    def one_pass() -> float:
        for t in times.values():
            t[0] = t[1] = 0.0
        t0 = time.perf_counter()
        net.zero_grad()
        out = net(x)
        if loss_fn is None:
            net.backward(np.ones_like(out))
        else:
            loss_fn(out, target)
            net.backward(loss_fn.backward())
        return time.perf_counter() - t0

    one_pass()  # warm-up
    passes, per_layer = [], {name: [] for name in times}
    for _ in range(steps):
        passes.append(one_pass())
        for name, (f, b) in times.items():
            per_layer[name].append((f, b))
    total = float(np.median(passes))
    loss = " + loss" if loss_fn is not None else ""

    header = (f"{'layer':<28}{'type':<18}{'fwd ms':>9}{'bwd ms':>9}{'share':>8}"
              f"{'GFLOP/s':>9}")
    lines = [header, "-" * len(header)]
    layer_sum = 0.0
    for name, m in leaves:
        f, b = np.median(np.array(per_layer[name]), axis=0)
        layer_sum += f + b
        rate = (f"{3 * flops[name] / (f + b) / 1e9:>9.1f}" if flops.get(name) and f + b > 0
                else f"{'-':>9}")
        lines.append(f"{name:<28}{type(m).__name__:<18}{f * 1e3:>9.2f}{b * 1e3:>9.2f}"
                     f"{(f + b) / total:>8.1%}{rate}")
    lines += ["-" * len(header),
              f"training pass (forward{loss} + backward, batch {x.shape[0]}): "
              f"{total * 1e3:.1f} ms median of {steps}",
              f"layers {layer_sum * 1e3:.1f} ms; the rest{loss.replace(' +', ',')} and Python "
              f"between layers: {(total - layer_sum) * 1e3:.1f} ms"]
    return "\n".join(lines)
