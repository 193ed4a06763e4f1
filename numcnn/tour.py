"""A gradient-check tour: every layer's hand-written backward against central differences.

Run ``python -m numcnn.tour`` (or ``numcnn gradcheck``).  Each row is one forward/backward
pair checked in float64 with a random upstream gradient; the number is the worst relative
error over all its inputs (a correct backward shows ~1e-9, a wrong one ~1).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from . import functional as F
from .gradcheck import GradcheckResult, check_function


def _cases(rng: np.random.Generator):
    """(name, forward, backward, inputs, kwargs) for every functional pair."""
    x = rng.standard_normal((2, 3, 7, 7))
    tie_free = rng.permutation(2 * 3 * 7 * 7).reshape(2, 3, 7, 7) / 294.0
    away_from_kink = np.where(np.abs(x) < 1e-2, 0.5, x)
    logits = rng.standard_normal((2, 4, 5, 5))
    targets = rng.integers(0, 4, (2, 5, 5))
    targets[0, 0] = -100
    yield ("conv2d 3->4 k3 s2 p1 d1", F.conv2d_forward, F.conv2d_backward,
           dict(x=x, w=rng.standard_normal((4, 3, 3, 3)), b=rng.standard_normal(4)),
           dict(stride=2, padding=1))
    yield ("conv2d 3->6 k(2,3) d2 groups3", F.conv2d_forward, F.conv2d_backward,
           dict(x=x, w=rng.standard_normal((6, 1, 2, 3)), b=rng.standard_normal(6)),
           dict(padding=(0, 1), dilation=2, groups=3))
    yield ("conv_transpose2d 3->2 k3 s2 p1 op1", F.conv_transpose2d_forward,
           F.conv_transpose2d_backward,
           dict(x=x, w=rng.standard_normal((3, 2, 3, 3)), b=rng.standard_normal(2)),
           dict(stride=2, padding=1, output_padding=1))
    yield ("max_pool2d k3 s2 p1", F.max_pool2d_forward, F.max_pool2d_backward,
           dict(x=tie_free), dict(kernel_size=3, stride=2, padding=1))
    yield ("avg_pool2d k2", F.avg_pool2d_forward, F.avg_pool2d_backward, dict(x=x),
           dict(kernel_size=2))
    yield ("linear 6->5", F.linear_forward, F.linear_backward,
           dict(x=rng.standard_normal((3, 6)), w=rng.standard_normal((5, 6)),
                b=rng.standard_normal(5)), {})
    for act in ("relu", "leaky_relu", "sigmoid", "tanh"):
        yield (act, getattr(F, f"{act}_forward"), getattr(F, f"{act}_backward"),
               dict(x=away_from_kink), {})
    gamma, beta = rng.random(3) + 0.5, rng.standard_normal(3)
    yield ("batch_norm (training: batch statistics)", F.batch_norm_forward,
           F.batch_norm_backward, dict(x=x, gamma=gamma, beta=beta), dict(training=True))
    yield ("batch_norm (eval: running statistics)", F.batch_norm_forward,
           F.batch_norm_backward, dict(x=x, gamma=gamma, beta=beta),
           dict(running_mean=rng.standard_normal(3), running_var=rng.random(3) + 0.5,
                training=False))
    yield ("dropout p=0.5 (a fixed mask)", F.dropout_forward, F.dropout_backward, dict(x=x),
           dict(p=0.5, mask=rng.random(x.shape) >= 0.5))
    yield ("upsample nearest x2", F.upsample_nearest2d_forward, F.upsample_nearest2d_backward,
           dict(x=x), dict(scale_factor=2))
    yield ("upsample bilinear x2 (align_corners=False)", F.upsample_bilinear2d_forward,
           F.upsample_bilinear2d_backward, dict(x=x), dict(scale_factor=2))
    yield ("cross-entropy per pixel, weights, ignore, smoothing",
           F.softmax_cross_entropy_forward, F.softmax_cross_entropy_backward,
           dict(logits=logits, targets=targets),
           dict(weight=rng.random(4) + 0.5, label_smoothing=0.1))
    yield ("soft Dice per pixel, ignore", F.dice_loss_forward, F.dice_loss_backward,
           dict(logits=logits, targets=targets), {})


def run(seed: int = 0, out=None) -> list[tuple[str, GradcheckResult]]:
    """Check every layer; print one row each (to ``out``, default sys.stdout at call time);
    return the results."""
    out = sys.stdout if out is None else out
    rng = np.random.default_rng(seed)
    rows = []
    print(f"{'layer':<52} {'inputs':<20} {'max rel. error':>14}  status", file=out)
    print("-" * 96, file=out)
    for name, fwd, bwd, inputs, kwargs in _cases(rng):
        t0 = time.perf_counter()
        result = check_function(fwd, bwd, inputs, kwargs, seed=seed)
        worst = max(result.errors.values(), default=0.0)
        status = "ok" if result.ok else "FAILED"
        names = ",".join(result.errors)
        print(f"{name:<52} {names:<20} {worst:>14.2e}  {status} "
              f"({time.perf_counter() - t0:.2f}s)", file=out)
        rows.append((name, result))
    n_bad = sum(not r.ok for _, r in rows)
    print("-" * 96, file=out)
    print(f"{len(rows) - n_bad} of {len(rows)} layers match their numerical gradients "
          f"(float64, central differences, eps=1e-6, tolerance 1e-6)", file=out)
    return rows


def main() -> int:
    rows = run()
    return 0 if all(r.ok for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
