"""Sanity checks before (and while) training, the ones CS231n teaches:

- ``initial_loss``: an untrained classifier's cross-entropy should be about ln(C): its
  softmax is nearly uniform, p = 1/C for every class.  Far above means exploding logits (a
  bad initialisation); far below, a leak of the labels.
- ``overfit_one_batch``: a model that cannot drive the loss of *one* small batch to nearly
  zero has a bug (a wrong backward, a wrong learning rate, a frozen layer), whatever the
  data.
- ``track``: per-layer activation and gradient statistics over training, recorded with
  module hooks; ``numcnn.viz.plot_gradient_norms`` draws them, which makes vanishing and
  exploding gradients visible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .nn.module import Module, is_grad_enabled

__all__ = ["InitialLoss", "LayerStats", "OverfitResult", "initial_loss", "overfit_one_batch",
           "track"]


@dataclass
class InitialLoss:
    """``loss`` of the untrained model against ``expected`` = ln(C)."""

    loss: float
    expected: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return abs(self.loss - self.expected) <= self.tolerance * self.expected

    def __str__(self) -> str:
        verdict = "ok" if self.ok else (
            "too high: are the initial weights too large (logits far from 0)?"
            if self.loss > self.expected else
            "too low: does the input leak the label, or is the loss not an average?")
        return (f"initial loss {self.loss:.4f}, ln(C) = {self.expected:.4f} "
                f"({self.loss / self.expected:.2f} x): {verdict}")


def initial_loss(model: Module, loss_fn, x: np.ndarray, y: np.ndarray,
                 tolerance: float = 0.25) -> InitialLoss:
    """The loss of ``model`` on (x, y) before any training, against ln(C), C = the number
    of classes (axis 1 of the logits).  ``ok`` when within ``tolerance`` (relative).

    The model is run in eval mode (no dropout, batch norm on its running statistics, which
    are the identity at start) and left in the mode it was in.
    """
    from .nn.module import no_grad

    was_training = model.training
    model.eval()
    try:
        with no_grad():
            logits = model(x)
            loss = float(loss_fn(logits, y))
    finally:
        model.train(was_training)
    return InitialLoss(loss, math.log(logits.shape[1]), tolerance)


@dataclass
class OverfitResult:
    losses: list[float]
    target: float

    @property
    def ok(self) -> bool:
        return bool(self.losses) and self.losses[-1] <= self.target

    def __str__(self) -> str:
        return (f"one batch, {len(self.losses)} steps: loss {self.losses[0]:.4f} -> "
                f"{self.losses[-1]:.4f} "
                + ("(overfits: the model can learn)" if self.ok else
                   f"(above {self.target}: a model that cannot memorise one batch has a bug "
                   f"- a wrong backward, a learning rate far off, a layer that does not "
                   f"train)"))


def overfit_one_batch(model: Module, loss_fn, optimizer, x: np.ndarray, y: np.ndarray,
                      steps: int = 100, target: float = 0.05) -> OverfitResult:
    """Train on the one batch (x, y) for ``steps`` steps (the model is changed); ``ok`` when
    the last loss is at most ``target``."""
    losses = []
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        losses.append(float(loss_fn(model(x), y)))
        model.backward(loss_fn.backward())
        optimizer.step()
    return OverfitResult(losses, target)


# -------------------------------------------------------------------------- per layer
def _norm(a) -> float:
    return float(np.sqrt(np.sum(np.square(a, dtype=np.float64))))


@dataclass
class LayerStats:
    """What ``track`` recorded, per layer name: lists with one entry per training step.

    ``activation_mean``, ``activation_std``, ``zero_fraction`` (of the layer's output:
    the dead share after a ReLU), ``grad_out_norm`` (||dL/d output|| reaching the layer),
    ``grad_norm`` (||dL/d weight||, the first parameter's, for layers with parameters).
    """

    names: list[str]
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    handles: list = field(default_factory=list, repr=False)

    def history(self, key: str) -> dict[str, np.ndarray]:
        """name -> array over steps of one statistic (layers that never recorded it are
        left out)."""
        return {n: np.asarray(self.values[n][key]) for n in self.names
                if self.values[n][key]}

    def remove(self) -> None:
        """Take the hooks out of the model (the records stay)."""
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def __enter__(self) -> LayerStats:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def summary(self) -> str:
        """One line per layer: the statistics at the first and the last step."""
        def span(values, fmt):
            return f"{fmt.format(values[0])} -> {fmt.format(values[-1])}" if values else "-"

        lines = [f"{'layer':<24}{'act std':>20}{'zero':>14}{'|dL/dW|':>24}"]
        for n in self.names:
            v = self.values[n]
            lines.append(f"{n:<24}{span(v['activation_std'], '{:.3g}'):>20}"
                         f"{span(v['zero_fraction'], '{:.2f}'):>14}"
                         f"{span(v['grad_norm'], '{:.2e}'):>24}")
        return "\n".join(lines)


def _default_layers(model: Module) -> list[tuple[str, Module]]:
    """The leaf modules: each layer once, containers left out."""
    return [(n or type(m).__name__, m) for n, m in model.named_modules()
            if not m._modules]


def track(model: Module, layers: Iterable[tuple[str, Module]] | None = None) -> LayerStats:
    """Record per-layer statistics on every training forward and backward of ``model``.

    ``layers``: (name, module) pairs (default: every leaf module, named as in
    ``model.named_modules()``).  Forwards under ``no_grad`` (validation) are not recorded.
    Use as ``with sanity.track(model) as stats: train.fit(...)``, then
    ``viz.plot_gradient_norms(stats)``; ``stats.remove()`` (or leaving the block) takes
    the hooks out.
    """
    chosen = list(layers) if layers is not None else _default_layers(model)
    stats = LayerStats([n for n, _ in chosen])
    keys = ("activation_mean", "activation_std", "zero_fraction", "grad_out_norm",
            "grad_norm")
    for name, module in chosen:
        record = stats.values[name] = {k: [] for k in keys}

        def forward_hook(module, args, output, record=record):
            if is_grad_enabled() and isinstance(output, np.ndarray) and output.size:
                record["activation_mean"].append(float(output.mean(dtype=np.float64)))
                record["activation_std"].append(float(output.std(dtype=np.float64)))
                record["zero_fraction"].append(float(np.mean(output == 0)))

        def backward_hook(module, grad_input, grad_output, record=record):
            record["grad_out_norm"].append(_norm(grad_output[0]))
            params = list(module._parameters.values())
            if params and params[0].grad is not None:
                record["grad_norm"].append(_norm(params[0].grad))

        stats.handles.append(module.register_forward_hook(forward_hook))
        stats.handles.append(module.register_full_backward_hook(backward_hook))
    return stats
