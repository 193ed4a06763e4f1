"""What does the network look at?  Saliency maps, Grad-CAM and feature maps, computed with
numcnn's own hand-written backward passes (no autograd).

Three tools, for classifiers (``(N, K)`` logits, e.g. ``SeedCNN``) and segmenters
(``(N, K, H, W)`` logits, e.g. ``UNet``):

- :func:`saliency` (Simonyan et al., 2014): the gradient of one class score with respect to
  the input pixels, ``dS_c / dx``.  Large magnitude = changing this pixel changes the score.
- :func:`grad_cam` (Selvaraju et al., 2017): at an intermediate layer with activations
  ``A_k`` (k = channel), weigh each channel by how much the class score depends on it on
  average, ``alpha_k = mean_{i,j} dS_c / dA_k[i, j]``, and keep the positive part of the
  weighted sum, ``cam = ReLU(sum_k alpha_k A_k)``, upsampled to the input size.
- :func:`feature_maps`: the activations of one layer.

The class score S_c is the logit of class c for a classifier; for a segmenter it is the
class-c logit summed over all pixels, or over the pixels of ``mask``.  All three run the
model in eval mode (BatchNorm uses its running statistics, Dropout is off) and leave it as
they found it: its train/eval mode, the ``.grad`` of every parameter, and no hooks or
caches left behind.

How the activations of an inner layer are obtained: :func:`record_layer` registers two
hooks on the layer (``Module.register_forward_hook`` and
``register_full_backward_pre_hook``) that keep a copy of what the layer returns (its output
A) and of the ``dout`` its backward receives (dS/dA); they are removed when the block ends,
and no model code changes.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator

import numpy as np

from . import functional as F
from .nn.module import Module, is_grad_enabled, no_grad


# ----------------------------------------------------------------------------- argument checks
def _check_model(op: str, model) -> None:
    if not isinstance(model, Module):
        raise TypeError(f"{op}: model must be a numcnn Module; got {type(model).__name__}")


def _check_input(op: str, x) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}: x must be a numpy array (N, C, H, W); got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{op}: x must be a floating-point array; got dtype {x.dtype} "
                        f"(convert with x.astype(np.float32))")
    if x.ndim != 4:
        hint = " (one image? pass x[None])" if x.ndim == 3 else ""
        raise ValueError(f"{op}: x must be 4-D (N, C, H, W); got shape {x.shape}{hint}")
    return x


def _check_grad_enabled(op: str) -> None:
    if not is_grad_enabled():
        raise RuntimeError(f"{op} needs a backward pass, but it was called inside no_grad(), "
                           f"where forwards keep nothing for backward; call it outside")


def resolve_layer(model: Module, layer, op: str = "resolve_layer") -> tuple[str, Module]:
    """Find ``layer`` in ``model``: a sub-module instance, or its name in
    ``model.named_modules()`` ("3", "encoders.1", ...).

    Returns
    -------
    (name, module)

    Raises
    ------
    TypeError if ``layer`` is neither a Module nor a str; ValueError if it is not part of
    ``model`` (the message lists the names there are).
    """
    named = list(model.named_modules())
    if isinstance(layer, str):
        for name, m in named:
            if name == layer:
                return name, m
        names = [n for n, _ in named if n]
        shown = ", ".join(repr(n) for n in names[:40]) + (" ..." if len(names) > 40 else "")
        raise ValueError(f"{op}: layer {layer!r} is not a sub-module of {type(model).__name__}; "
                         f"its modules are: {shown}")
    if isinstance(layer, Module):
        for name, m in named:
            if m is layer:
                return name, m
        raise ValueError(f"{op}: layer {type(layer).__name__} is not a sub-module of "
                         f"{type(model).__name__} (pass one of its modules, e.g. model[3] or "
                         f"model.encoders[1], or its name)")
    raise TypeError(f"{op}: layer must be a Module or the name of one (e.g. '3' or "
                    f"'encoders.1'); got {type(layer).__name__}")


def _class_indices(op: str, target_class, n: int, num_classes: int) -> np.ndarray:
    """``target_class`` (an int, or one int per sample) as an int array (N,), range-checked."""
    if isinstance(target_class, numbers.Integral) and not isinstance(target_class, bool):
        classes = np.full(n, int(target_class), dtype=np.int64)
    else:
        classes = np.asarray(target_class)
        if classes.ndim != 1 or len(classes) != n or not np.issubdtype(classes.dtype,
                                                                       np.integer):
            raise ValueError(f"{op}: target_class must be an int or {n} ints (one per "
                             f"sample); got {target_class!r}")
    bad = classes[(classes < 0) | (classes >= num_classes)]
    if bad.size:
        raise ValueError(f"{op}: target_class must be in [0, {num_classes}) (the model has "
                         f"{num_classes} classes); got {int(bad[0])}")
    return classes.astype(np.int64)


def class_score_gradient(op: str, logits: np.ndarray, target_class,
                         mask: np.ndarray | None = None) -> np.ndarray:
    """dS/dlogits for the class score S, i.e. the ``dout`` that starts the backward pass.

    Parameters
    ----------
    logits : (N, K) classifier output, or (N, K, H, W) segmentation output
    target_class : int, or (N,) ints: the class c_n whose score is explained for sample n
    mask : (H, W) or (N, H, W), bool or float, segmentation only; default all pixels

    Returns
    -------
    dout : logits' shape and dtype.  Classifier: S = sum_n logits[n, c_n], so dout is 1 at
    (n, c_n) and 0 elsewhere.  Segmenter: S = sum_n sum_{oh, ow} mask[n, oh, ow] *
    logits[n, c_n, oh, ow], so dout[n, c_n] = mask[n] (ones without a mask).
    """
    logits = np.asarray(logits)
    if logits.ndim not in (2, 4):
        raise ValueError(f"{op}: the model's output must be (N, K) class logits or "
                         f"(N, K, H, W) per-pixel logits; got shape {logits.shape}")
    n, k = logits.shape[:2]
    classes = _class_indices(op, target_class, n, k)
    dout = np.zeros_like(logits)
    rows = np.arange(n)
    if logits.ndim == 2:
        if mask is not None:
            raise ValueError(f"{op}: mask= is for segmentation models (output (N, K, H, W)); "
                             f"this model's output is {logits.shape}")
        dout[rows, classes] = 1
        return dout
    H, W = logits.shape[2:]
    if mask is None:
        weights = np.ones((n, H, W), dtype=logits.dtype)
    else:
        mask = np.asarray(mask)
        if mask.shape not in ((H, W), (n, H, W)):
            raise ValueError(f"{op}: mask must have shape ({H}, {W}) or ({n}, {H}, {W}) to "
                             f"match the output {logits.shape}; got {mask.shape}")
        weights = np.broadcast_to(mask, (n, H, W)).astype(logits.dtype)
    dout[rows, classes] = weights
    return dout


# ------------------------------------------------------------------ keeping the model as found
@contextlib.contextmanager
def _eval_and_keep_grads(model: Module, keep_grads: bool = True) -> Iterator[None]:
    """Run the block in eval mode; afterwards restore the mode and every ``Parameter.grad``
    (the backward passes of an explanation must not leak into a training step), and drop
    the caches of a pass that stopped before its backward (an error in between)."""
    was_training = model.training
    saved = [(p, p.grad.copy()) for p in model.parameters()] if keep_grads else []
    pending = [(m, len(m._caches)) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
        for p, g in saved:
            p.grad[...] = g
        for m, n in pending:
            del m._caches[n:]


@contextlib.contextmanager
def record_layer(layer: Module) -> Iterator[dict[str, list[np.ndarray]]]:
    """Record what ``layer`` returns and the gradient its backward receives.

    Inside the block a forward hook appends a copy of each output to ``record["outputs"]``
    and a backward pre-hook a copy of each incoming ``dout`` (dL/d output) to
    ``record["grads"]``; both are removed on exit (also after an error).

    Yields
    ------
    record : {"outputs": [...], "grads": [...]}, one entry per call
    """
    record: dict[str, list[np.ndarray]] = {"outputs": [], "grads": []}

    def keep_output(module, args, out):
        record["outputs"].append(np.array(out, copy=True))

    def keep_grad(module, grad_output):
        record["grads"].append(np.array(grad_output[0], copy=True))

    with layer.register_forward_hook(keep_output), \
            layer.register_full_backward_pre_hook(keep_grad):
        yield record


def _single(op: str, name: str, what: str, values: list[np.ndarray]) -> np.ndarray:
    """The one recorded array; clear errors if the layer ran zero or several times."""
    if not values:
        raise ValueError(f"{op}: layer {name!r} produced no {what} during the pass (is it "
                         f"used by the model's forward?)")
    if len(values) > 1:
        raise ValueError(f"{op}: layer {name!r} ran {len(values)} times in one pass; pick a "
                         f"layer that is used once")
    return values[0]


# ----------------------------------------------------------------------------------- the tools
def saliency(model: Module, x: np.ndarray, target_class, mask: np.ndarray | None = None
             ) -> np.ndarray:
    """Gradient of the class score with respect to the input: dS_c / dx.

    One forward and one hand-written backward pass, started from ``dout = dS/dlogits``
    (see :func:`class_score_gradient`).  In eval mode the samples do not interact, so
    ``grad[n]`` is the gradient of sample n's own score.

    Parameters
    ----------
    model : Module returning (N, K) or (N, K, H, W) logits
    x : (N, C, H, W) float array, the model's dtype
    target_class : int, or (N,) ints (e.g. each image's predicted class)
    mask : (H, W) or (N, H, W), optional; for a segmenter, the pixels whose class-c logits
        are summed (default: all)

    Returns
    -------
    grad : (N, C, H, W), x's dtype.  Plot e.g. ``np.abs(grad).max(axis=1)``.
    """
    op = "saliency"
    _check_model(op, model)
    x = _check_input(op, x)
    _check_grad_enabled(op)
    with _eval_and_keep_grads(model):
        logits = model(x)
        dout = class_score_gradient(op, logits, target_class, mask)
        grad = model.backward(dout)
    return np.asarray(grad, dtype=x.dtype)


def grad_cam(model: Module, x: np.ndarray, target_class, layer, mask: np.ndarray | None = None,
             upsample: str = "bilinear", normalize: bool = True) -> np.ndarray:
    """Grad-CAM: where, at ``layer``, is the evidence for class c?

    With A (N, K, h, w) the layer's output and G = dS_c/dA its gradient:
    ``alpha[n, k] = mean_{i, j} G[n, k, i, j]``, ``cam[n] = ReLU(sum_k alpha[n, k] A[n, k])``,
    resized from (h, w) to the input's (H, W) and, if ``normalize``, divided by its maximum
    (a map that is zero everywhere stays zero).

    Parameters
    ----------
    model : Module returning (N, K) or (N, K, H, W) logits
    x : (N, C, H, W) float array
    target_class : int or (N,) ints
    layer : Module or str
        A sub-module with a 4-D output, e.g. ``model[4]`` (SeedCNN's second ReLU) or
        ``model.encoders[1]`` / ``"encoders.1"`` (a UNet encoder level).
    mask : (H, W) or (N, H, W), optional; segmentation only (see :func:`saliency`)
    upsample : {"bilinear", "nearest"}
    normalize : bool

    Returns
    -------
    cam : (N, H, W), x's dtype, >= 0 (in [0, 1] when normalized)
    """
    op = "grad_cam"
    _check_model(op, model)
    x = _check_input(op, x)
    if upsample not in ("bilinear", "nearest"):
        raise ValueError(f"{op}: upsample must be 'bilinear' or 'nearest'; got {upsample!r}")
    name, module = resolve_layer(model, layer, op)
    _check_grad_enabled(op)
    with _eval_and_keep_grads(model), record_layer(module) as record:
        logits = model(x)
        dout = class_score_gradient(op, logits, target_class, mask)
        activations = _single(op, name, "output", record["outputs"])
        if activations.ndim != 4:
            raise ValueError(f"{op}: layer {name!r} has output of shape {activations.shape}; "
                             f"Grad-CAM needs a 4-D (N, K, h, w) feature map (pick a conv, "
                             f"ReLU or pooling layer)")
        model.backward(dout)
        grads = _single(op, name, "gradient", record["grads"])
    alpha = grads.mean(axis=(2, 3))                                     # (N, K)
    cam = np.maximum(np.einsum("nk,nkhw->nhw", alpha, activations), 0)  # (N, h, w)
    cam = resize(cam, x.shape[2:], upsample)
    if normalize:
        peak = cam.max(axis=(1, 2), keepdims=True)
        cam = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)
    return cam.astype(x.dtype, copy=False)


def feature_maps(model: Module, x: np.ndarray, layer) -> np.ndarray:
    """The output of ``layer`` when ``model`` runs on ``x`` (eval mode, no caches kept).

    Parameters
    ----------
    model : Module
    x : (N, C, H, W) float array
    layer : Module or str (its name in ``model.named_modules()``)

    Returns
    -------
    maps : the layer's output, e.g. (N, K, h, w) for a conv layer; a copy
    """
    op = "feature_maps"
    _check_model(op, model)
    x = _check_input(op, x)
    name, module = resolve_layer(model, layer, op)
    with _eval_and_keep_grads(model, keep_grads=False), record_layer(module) as record, \
            no_grad():
        model(x)
    return _single(op, name, "output", record["outputs"])


# ------------------------------------------------------------------------------------ resizing
def resize(maps: np.ndarray, size: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """Resize (N, h, w) maps to (N, H, W) with PyTorch's index rules (align_corners=False).

    Integer scale factors use numcnn's own upsampling (``functional.upsample_*``); other
    sizes the same rule written in NumPy: output pixel o reads source coordinate
    ``(o + 0.5) * h / H - 0.5`` (bilinear, clamped at 0) or ``floor(o * h / H)`` (nearest).
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"resize: mode must be 'bilinear' or 'nearest'; got {mode!r}")
    _, h, w = maps.shape
    H, W = int(size[0]), int(size[1])
    if (h, w) == (H, W):
        return maps.copy()
    if H % h == 0 and W % w == 0:
        x = np.ascontiguousarray(maps[:, None])
        if mode == "nearest":
            out, _ = F.upsample_nearest2d_forward(x, (H // h, W // w))
        else:
            out, _ = F.upsample_bilinear2d_forward(x, (H // h, W // w))
        return out[:, 0]
    return resize_numpy(maps, (H, W), mode)


def resize_numpy(maps: np.ndarray, size: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """:func:`resize` for any sizes: ``numcnn.functional.interpolate_forward`` with PyTorch's
    rules for a ``size`` (nearest reads floor(o * h / H); bilinear reads
    (o + 0.5) * h / H - 0.5, clamped at 0; align_corners=False)."""
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"resize_numpy: mode must be 'bilinear' or 'nearest'; got {mode!r}")
    out, _ = F.interpolate_forward(np.ascontiguousarray(maps[:, None]),
                                   size=(int(size[0]), int(size[1])), mode=mode)
    return out[:, 0]


__all__ = ["saliency", "grad_cam", "feature_maps", "record_layer", "resolve_layer",
           "class_score_gradient", "resize", "resize_numpy"]
