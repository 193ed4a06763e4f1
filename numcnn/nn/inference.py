"""The inference path: Conv2d -> BatchNorm2d (-> ReLU) run as one convolution.

In eval mode a batch norm is a fixed per-channel affine map, y = s * (x - mean) + beta with
s = gamma / sqrt(running_var + eps), so after a convolution it folds into the
convolution's weights and bias (docs/normalization.md, "Folding into the convolution"):

    w'[f] = s[f] * w[f],    b'[f] = s[f] * (b[f] - mean[f]) + beta[f]    (b = 0 without bias)

One GEMM then gives the normalised output, and the batch norm's pass over the activations
(and its output array) disappear; a ReLU right after runs in place on that fresh array.
``Sequential`` takes this path only when nothing could tell the difference: under
``no_grad`` (nothing is kept for a backward), with the batch norm in eval mode, no hooks on
the modules involved, and numcnn's own batch-norm and ReLU ops (not swapped by
``numcnn.use``).  The convolution still runs through ``F.conv2d_forward``, as usual.
"""

from __future__ import annotations

import numpy as np

from .. import dispatch, kernels
from .. import functional as F
from .activation import ReLU
from .conv import Conv2d
from .module import Module, is_grad_enabled
from .normalization import BatchNorm2d


def _unhooked(m: Module) -> bool:
    return not (m._forward_pre_hooks or m._forward_hooks)


def folded_weights(conv: Conv2d, bn: BatchNorm2d) -> tuple[np.ndarray, np.ndarray]:
    """(w', b') of the convolution that computes bn(conv(x)) in eval mode (formula above);
    computed in float64, returned in the convolution's dtype."""
    w, b = conv._weight_bias()
    scale = bn.weight.data / np.sqrt(bn.running_var.astype(np.float64) + bn.eps)
    shift = bn.bias.data - scale * bn.running_mean
    if b is not None:
        shift = shift + scale * b
    w_folded = (w * scale[:, None, None, None]).astype(w.dtype)
    return w_folded, shift.astype(w.dtype)


def foldable(conv: Module, bn: Module) -> bool:
    """Whether ``bn(conv(x))`` may run as one convolution now (see the module docstring)."""
    return (not is_grad_enabled() and type(conv) is Conv2d and type(bn) is BatchNorm2d
            and not bn.training and bn.num_features == conv.out_channels
            and bn.dtype == conv.dtype
            and not dispatch.is_swapped("batch_norm_forward") and _unhooked(conv)
            and _unhooked(bn))


def run_folded(conv: Conv2d, bn: BatchNorm2d, relu: Module | None, x: np.ndarray):
    """bn(conv(x)), then relu in place if given; the three modules record a no_grad call
    (so that a backward afterwards gets the usual clear error)."""
    conv.check_input_dtype(x)
    w, b = folded_weights(conv, bn)
    out, _ = F.conv2d_forward(x, w, b, *conv._hyperparameters())
    for m in (conv, bn) if relu is None else (conv, bn, relu):
        m._save(None)  # under no_grad: keeps nothing, remembers "no_grad"
    if relu is not None:
        kernels.relu(out, out=out)  # out is this call's own array: nobody else sees it
    return out


def relu_fusable(m: Module) -> bool:
    return type(m) is ReLU and not dispatch.is_swapped("relu_forward") and _unhooked(m)
