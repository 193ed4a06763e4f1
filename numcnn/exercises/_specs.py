"""The exercises: for each, how its cases are built, what is compared, which simpler variant
of a failing case points at which mistake, and which tiny model it trains.

Shapes are small (a few pixels, a few channels): every entry of every gradient is compared
with numcnn's own op and with central differences in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import _checker as C
from ._checker import Row, call

# ------------------------------------------------------------------------------ helpers
_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)


@dataclass
class Exercise:
    """One exercise: the functions a student writes and how the checker grades them."""

    name: str
    title: str
    lab: int
    functions: tuple[str, ...]
    run: Callable                       # (student namespace, params) -> list[Row]
    examples: list[dict]                # explicit cases, simplest first
    strategy: Callable                  # () -> hypothesis strategy of params
    train: Callable                     # (student namespace) -> Training
    covers: str                         # what the cases vary, for the report
    variants: list[tuple[dict, str]] = field(default_factory=list)
    shown: tuple[str, ...] = ()
    fallback_hint: str = ""
    max_examples: int = 20


def own(name: str) -> Callable:
    """numcnn's own op, even inside a ``numcnn.use`` block."""
    from ..dispatch import _OWN
    return _OWN[name]


def _rng(params) -> np.random.Generator:
    return np.random.default_rng(params.get("seed", 0))


def _dtype(params) -> np.dtype:
    return np.dtype(params.get("dtype", "float64"))


def _copies(d: dict) -> dict:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in d.items()}


def _check_dtypes(rows: list[Row], params, **arrays) -> None:
    if _dtype(params) == _F32:
        rows.extend(C.dtype_row(k, v, _F32) for k, v in arrays.items() if v is not None)


def _inputs_unchanged(rows: list[Row], before: dict, after: dict) -> None:
    for k, v in before.items():
        row = C.unchanged_row(k, v, after[k])
        if row:
            rows.append(row)


def _grads_tuple(grads, n: int) -> tuple:
    grads = grads if isinstance(grads, tuple) else (grads,)
    return grads + (None,) * (n - len(grads)) if n > len(grads) else grads


def run_pair(ns, params, make, op: str, diff: list[str], detectors=C.DETECTORS,
             out_detectors=(), numeric: bool | None = None) -> list[Row]:
    """A forward/backward pair the student writes (their own cache): the output, the
    gradients, dtypes, and that nothing passed in was modified."""
    inputs, kwargs = make(params)
    fwd, bwd = f"{op}_forward", f"{op}_backward"
    before = _copies(inputs)
    out, cache = _two(fwd, call(fwd, getattr(ns, fwd), **inputs, **kwargs))
    rows: list[Row] = []
    _inputs_unchanged(rows, before, inputs)
    want_out, want_cache = own(fwd)(**_copies(before), **kwargs)
    rows.append(C.compare("out", out, want_out, detectors=out_detectors, params=params))
    if not all(r.ok for r in rows):
        return rows
    dout = C.upstream(want_out)
    dout_arg = np.copy(dout) if np.ndim(dout) else dout
    grads = call(bwd, getattr(ns, bwd), dout_arg, cache)
    row = C.unchanged_row("dout", dout, dout_arg)
    rows += [row] if row else []
    want = _grads_tuple(own(bwd)(np.copy(dout) if np.ndim(dout) else dout, want_cache),
                        len(diff))
    numeric = _dtype(params) == _F64 if numeric is None else numeric
    rows += C.grad_rows(diff, _grads_tuple(grads, len(diff)), want, own(fwd),
                        _copies(before), kwargs, dout, params, detectors, numeric)
    arrays = dict(zip(["d" + d for d in diff], _grads_tuple(grads, len(diff))))
    if np.ndim(want_out):  # a loss is a Python float
        arrays["out"] = out
    _check_dtypes(rows, params, **arrays)
    return rows


def _two(name: str, result):
    if not isinstance(result, tuple) or len(result) != 2:
        raise C.StudentError(name, TypeError(
            f"must return (out, cache); returned {type(result).__name__}"))
    return result


def run_backward(ns, params, make, op: str, diff: list[str], detectors=C.DETECTORS
                 ) -> list[Row]:
    """A backward the student writes against the cache of numcnn.reference's forward."""
    from .. import reference

    inputs, kwargs = make(params)
    bwd = f"{op}_backward"
    out, cache = getattr(reference, f"{op}_forward")(**_copies(inputs), **kwargs)
    dout = C.upstream(out)
    dout_arg = np.copy(dout)
    grads = call(bwd, getattr(ns, bwd), dout_arg, cache)
    rows: list[Row] = []
    row = C.unchanged_row("dout", dout, dout_arg)
    rows += [row] if row else []
    _, own_cache = own(f"{op}_forward")(**_copies(inputs), **kwargs)
    want = _grads_tuple(own(bwd)(np.copy(dout), own_cache), len(diff))
    grads = _grads_tuple(grads, len(diff))
    rows += C.grad_rows(diff, grads, want, own(f"{op}_forward"), inputs, kwargs, dout,
                        params, detectors, _dtype(params) == _F64)
    _check_dtypes(rows, params, **dict(zip(["d" + d for d in diff], grads)))
    return rows


def _st():
    from hypothesis import strategies as st
    return st


def _models():
    from .. import nn
    return nn


def classifier(batchnorm: bool = False):
    """conv 3x3 (1 -> 4) [-> batch norm] -> ReLU -> max-pool 2 -> linear (64 -> 2)."""
    nn = _models()

    def build():
        layers = [nn.Conv2d(1, 4, 3, padding=1, bias=not batchnorm, rng=0)]
        layers += [nn.BatchNorm2d(4)] if batchnorm else []
        layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 2, rng=1)]
        return nn.Sequential(*layers)
    return build


def segmenter():
    """conv 3x3 (1 -> 4) -> ReLU -> conv 3x3 stride 2 (4 -> 8) -> ReLU -> transposed conv 2x2
    stride 2 (8 -> 2): per-pixel logits at the input's size."""
    nn = _models()

    def build():
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=0), nn.ReLU(),
                             nn.Conv2d(4, 8, 3, stride=2, padding=1, rng=1), nn.ReLU(),
                             nn.ConvTranspose2d(8, 2, 2, stride=2, rng=2))
    return build


def train_with(build, data, loss, steps: int = 30, **replacements):
    return C.train_tiny(build, data, loss, replacements, steps)


def _ce():
    return _models().CrossEntropyLoss()


# ------------------------------------------------------------------------------- relu
def make_relu(p):
    rng = _rng(p)
    shape = (p["N"], 3, p["H"], p["H"]) if p["image"] else (p["N"], 5)
    x = rng.standard_normal(shape).astype(_dtype(p))
    if p["zeros"]:
        x.reshape(-1)[::3] = 0.0
    return {"x": x}, {}


def run_relu(ns, p):
    rows = run_pair(ns, p, make_relu, "relu", ["x"], numeric=not p["zeros"]
                    and _dtype(p) == _F64)
    x = make_relu(p)[0]["x"]
    for r in rows:
        if r.what == "dx" and not r.ok:
            dout = C.upstream(x)
            dx = ns.relu_backward(np.copy(dout), ns.relu_forward(x.copy())[1])
            if isinstance(dx, np.ndarray) and dx.shape == x.shape and np.array_equal(
                    dx, (x > 0).astype(dx.dtype)):
                r.hints.append("dx is the mask [x > 0] itself: the chain rule multiplies it "
                               "by dout, dx = dout * [x > 0]")
    return rows


def relu_strategy():
    st = _st()
    return st.fixed_dictionaries({"N": st.integers(1, 3), "H": st.integers(1, 5),
                                  "image": st.booleans(), "zeros": st.booleans(),
                                  "seed": st.integers(0, 2**16)})


RELU = Exercise(
    "relu", "ReLU forward and backward", 2, ("relu_forward", "relu_backward"), run_relu,
    [dict(N=2, H=3, image=False, zeros=False, seed=0),
     dict(N=1, H=4, image=True, zeros=False, seed=1),
     dict(N=2, H=3, image=True, zeros=True, seed=2),
     dict(N=2, H=3, image=True, zeros=False, seed=3, dtype="float32")],
    relu_strategy,
    lambda ns: train_with(classifier(), C.classifier_data(), _ce,
                          relu_forward=ns.relu_forward, relu_backward=ns.relu_backward),
    "vectors and images, exact zeros, float32",
    variants=[({"zeros": False}, "it passes when no input is exactly 0: at x = 0 the gradient "
               "is taken as 0 (PyTorch's choice), so the mask is x > 0, not x >= 0")],
    shown=("N", "H", "image", "zeros", "dtype"))


# ------------------------------------------------------------------------------ linear
def make_linear(p):
    rng = _rng(p)
    d_out = p["D_in"] if p["square"] else p["D_out"]
    dt = _dtype(p)
    x = rng.standard_normal((p["N"], p["D_in"])).astype(dt)
    w = rng.standard_normal((d_out, p["D_in"])).astype(dt)
    b = rng.standard_normal(d_out).astype(dt) if p["bias"] else None
    return {"x": x, "w": w, "b": b}, {}


def out_transposed(what, got, want, params):
    return ("out is wrong: y = x W^T + b with W of shape (out_features, in_features), "
            "PyTorch's layout (CS231n and DLFS store (in, out) and write x W)"
            if params.get("square") else None)


def linear_strategy():
    st = _st()
    return st.fixed_dictionaries({"N": st.integers(1, 4), "D_in": st.integers(1, 6),
                                  "D_out": st.integers(1, 6), "square": st.booleans(),
                                  "bias": st.booleans(), "seed": st.integers(0, 2**16)})


LINEAR = Exercise(
    "linear", "Fully connected layer, forward and backward", 2,
    ("linear_forward", "linear_backward"),
    lambda ns, p: run_pair(ns, p, make_linear, "linear", ["x", "w", "b"],
                           out_detectors=(out_transposed,)),
    [dict(N=3, D_in=4, D_out=2, square=False, bias=True, seed=0),
     dict(N=1, D_in=3, D_out=2, square=False, bias=True, seed=1),
     dict(N=4, D_in=3, D_out=3, square=True, bias=True, seed=2),
     dict(N=3, D_in=4, D_out=2, square=False, bias=False, seed=3),
     dict(N=3, D_in=4, D_out=5, square=False, bias=True, seed=4, dtype="float32")],
    linear_strategy,
    lambda ns: train_with(classifier(), C.classifier_data(), _ce,
                          linear_forward=ns.linear_forward, linear_backward=ns.linear_backward),
    "batch 1-4, 1-6 features, square weights, with and without bias, float32",
    variants=[({"N": 1}, "it passes with a batch of one: dw and db sum over the batch "
               "(db = dout.sum(axis=0), not dout[0] or a mean)"),
              ({"bias": False}, "it passes without a bias: db = sum over the batch of dout; "
               "return None for db when b is None")],
    shown=("N", "D_in", "D_out", "square", "bias", "dtype"),
    fallback_hint="numcnn's weight is (out_features, in_features), PyTorch's layout: "
                  "y = x @ w.T + b, dx = dout @ w, dw = dout.T @ x, db = dout.sum(axis=0)")


# ------------------------------------------------------------------------------- conv2d
def conv_strategy(max_stride=3, max_padding=2):
    st = _st()

    @st.composite
    def params(draw):
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        padding = draw(st.integers(0, max_padding))
        H = draw(st.integers(max(1, kh - 2 * padding), 7))
        W = draw(st.integers(max(1, kw - 2 * padding), 7))
        return dict(N=draw(st.integers(1, 3)), C=draw(st.integers(1, 3)), H=H, W=W,
                    F=draw(st.integers(1, 4)), kh=kh, kw=kw,
                    stride=draw(st.integers(1, max_stride)), padding=padding,
                    bias=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))
    return params()


def make_conv(p):
    rng = _rng(p)
    dt = _dtype(p)
    x = rng.standard_normal((p["N"], p["C"], p["H"], p["W"])).astype(dt)
    w = rng.standard_normal((p["F"], p["C"], p["kh"], p["kw"])).astype(dt)
    b = rng.standard_normal(p["F"]).astype(dt) if p["bias"] else None
    return {"x": x, "w": w, "b": b}, {"stride": p["stride"], "padding": p["padding"]}


def _conv_case(N=2, C=3, H=5, W=5, F=4, kh=3, kw=3, stride=1, padding=0, bias=True, seed=0,
               **extra):
    return dict(N=N, C=C, H=H, W=W, F=F, kh=kh, kw=kw, stride=stride, padding=padding,
                bias=bias, seed=seed, **extra)


CONV_EXAMPLES = [
    _conv_case(N=1, C=1, H=4, W=4, F=1, kh=2, kw=2, bias=False),
    _conv_case(N=2, C=2, H=5, W=5, F=3),
    _conv_case(N=1, C=2, H=5, W=6, F=2, kh=3, kw=2, seed=1),
    _conv_case(N=2, C=3, H=5, W=5, F=3, padding=1, seed=2),
    _conv_case(N=2, C=2, H=7, W=6, F=2, stride=2, seed=3),
    _conv_case(N=2, C=2, H=7, W=7, F=3, stride=2, padding=2, seed=4),
    _conv_case(N=3, C=3, H=5, W=5, F=3, padding=1, seed=5),
    _conv_case(N=2, C=2, H=6, W=6, F=2, stride=2, padding=1, seed=6, dtype="float32"),
]
CONV_SHOWN = ("N", "C", "H", "W", "F", "kh", "kw", "stride", "padding", "bias", "dtype")
CONV_COVERS = ("batch 1-3, 1-3 channels, 1-7 pixels, kernels 1-3 (not square), stride 1-3, "
               "padding 0-2, with and without bias, float32")
def conv_variants(backward: bool) -> list[tuple[dict, str]]:
    """Simpler variants of a failing convolution case, and what passing them means."""
    crop = (", then crop the gradient, dx = dx_pad[:, :, p:p+H, p:p+W]" if backward
            else "")
    found = [
        ({"padding": 0}, f"it passes without padding: pad x by p on all four sides and work "
         f"on x_pad{crop}; the output size is (H + 2p - kh) // stride + 1 (an off-by-one "
         f"there shows only with padding)"),
        ({"stride": 1}, "it passes with stride 1: output pixel (oh, ow) reads the window that "
         "starts at row oh*stride, column ow*stride"),
        ({"bias": False}, "it passes without a bias: " + (
            "db[f] sums dout over n, oh and ow" if backward else
            "add b[f] to every output pixel of filter f")),
    ]
    if backward:
        found.insert(0, ({"N": 1}, "it passes with a batch of one: dw and db sum over all the "
                         "samples (not a mean, not the first sample's share)"))
        found.append(({"stride": 3, "kh": 1, "kw": 1}, "it passes with 1x1 kernels, whose "
                      "windows never overlap: where windows overlap, their contributions to "
                      "dx add up (+=, not =)"))
    return found


def _reference_cache(x, w, b, stride, padding):
    """The cache numcnn.reference.conv2d_forward returns (for stride/padding ints)."""
    return (x, w, b is not None, (stride, stride), (padding,) * 4, (1, 1), 1)


def run_conv_forward(ns, p):
    inputs, kwargs = make_conv(p)
    before = _copies(inputs)
    out, cache = _two("conv2d_forward", call("conv2d_forward", ns.conv2d_forward, **inputs,
                                             **kwargs))
    rows: list[Row] = []
    _inputs_unchanged(rows, before, inputs)
    want, _ = own("conv2d_forward")(**_copies(before), **kwargs)
    row = C.compare("out", out, want, params=p)
    if not row.ok and isinstance(out, np.ndarray) and out.shape == want.shape:
        w_flipped = np.ascontiguousarray(before["w"][..., ::-1, ::-1])
        flip = own("conv2d_forward")(before["x"], w_flipped, before["b"], **kwargs)[0]
        if C._close(out, flip):
            row.hints.append("you flipped the kernel (a true convolution): numcnn, like "
                             "PyTorch, computes the cross-correlation, w not flipped")
        if before["b"] is not None and C._close(out, want - before["b"][None, :, None, None]):
            row.hints.append("the bias is missing: add b[f] to every output pixel of filter f")
    rows.append(row)
    ref = _reference_cache(before["x"], before["w"], before["b"], p["stride"], p["padding"])
    if row.ok:
        from ..dispatch import _structure
        if _structure(cache) != _structure(ref):
            rows.append(Row("cache", False, f"is laid out as {_structure(cache)}",
                            ["return the cache numcnn.reference.conv2d_backward reads: "
                             "(x, w, b is not None, (stride, stride), (padding,) * 4, "
                             "(1, 1), 1), with x and w as they came in"]))
        elif not (np.array_equal(cache[0], before["x"]) and np.array_equal(cache[1],
                                                                          before["w"])):
            rows.append(Row("cache", False, "holds an x or w other than the inputs",
                            ["keep x and w themselves in the cache (not x_pad)"]))
    _check_dtypes(rows, p, out=out)
    return rows


CONV2D_FORWARD = Exercise(
    "conv2d_forward", "Convolution forward, with loops (the definition)", 1,
    ("conv2d_forward",), run_conv_forward, CONV_EXAMPLES, conv_strategy,
    lambda ns: train_with(classifier(), C.classifier_data(), _ce, steps=15,
                          conv2d_forward=ns.conv2d_forward),
    CONV_COVERS, conv_variants(backward=False), CONV_SHOWN)


def run_conv_backward(ns, p):
    return run_backward(ns, p, make_conv, "conv2d", ["x", "w", "b"])


CONV2D_BACKWARD = Exercise(
    "conv2d_backward", "Convolution backward: dx, dw, db", 1, ("conv2d_backward",),
    run_conv_backward, CONV_EXAMPLES, conv_strategy,
    lambda ns: train_with(classifier(), C.classifier_data(), _ce,
                          conv2d_backward=ns.conv2d_backward),
    CONV_COVERS, conv_variants(backward=True), CONV_SHOWN)


# ------------------------------------------------------------------------------- im2col
def make_im2col(p):
    x = _rng(p).standard_normal((p["N"], p["C"], p["H"], p["W"])).astype(_dtype(p))
    return x, (p["kh"], p["kw"], p["stride"], p["padding"])


def _kernel_im2col(x, kh, kw, s, pad):
    from .. import kernels
    Ho = (x.shape[2] + 2 * pad - kh) // s + 1
    Wo = (x.shape[3] + 2 * pad - kw) // s + 1
    return kernels.im2col(np.ascontiguousarray(x), kh, kw, s, s, pad, pad, 1, 1, Ho, Wo), Ho, Wo


def _layout_hints(what, got, want, params):
    N, C_, kh, kw = params["N"], params["C"], params["kh"], params["kw"]
    R = C_ * kh * kw
    L = want.shape[1] // N
    if got.shape == want.T.shape and C._close(got, want.T):
        return ("your matrix is the transpose, (N*Ho*Wo, C*kh*kw), Deep Learning from "
                "Scratch's layout; numcnn's is (C*kh*kw, N*Ho*Wo): one column per output pixel")
    if got.shape == want.shape:
        cs231n = want.reshape(R, N, L).transpose(0, 2, 1).reshape(R, -1)
        if N > 1 and C._close(got, cs231n):
            return ("your columns run (oh, ow, n), sample fastest (CS231n's im2col_indices); "
                    "numcnn's run (n, oh, ow): column n*Ho*Wo + oh*Wo + ow")
        rows_ijc = want.reshape(C_, kh, kw, -1).transpose(1, 2, 0, 3).reshape(R, -1)
        if C_ > 1 and C._close(got, rows_ijc):
            return ("your rows run (i, j, c), channel fastest; numcnn's run (c, i, j): row "
                    "c*kh*kw + i*kw + j, so that w.reshape(F, -1) lines up with them")
    return None


def run_im2col(ns, p):
    x, (kh, kw, s, pad) = make_im2col(p)
    before = x.copy()
    got = call("im2col", ns.im2col, x, kh, kw, s, pad)
    want, Ho, Wo = _kernel_im2col(before, kh, kw, s, pad)
    rows = [C.compare("cols", got, want, detectors=(_layout_hints,), params=p)]
    _inputs_unchanged(rows, {"x": before}, {"x": x})
    _check_dtypes(rows, p, cols=got)
    return rows


def im2col_conv(student_im2col):
    """conv2d_forward built on a student's im2col: out = W_mat @ im2col(x), with the cache of
    numcnn.reference.conv2d_forward (so the reference's backward runs)."""
    def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        N, F_ = x.shape[0], w.shape[0]
        kh, kw = w.shape[2:]
        Ho = (x.shape[2] + 2 * padding - kh) // stride + 1
        Wo = (x.shape[3] + 2 * padding - kw) // stride + 1
        cols = student_im2col(x, kh, kw, stride, padding)
        out = (w.reshape(F_, -1) @ cols).reshape(F_, N, Ho, Wo).transpose(1, 0, 2, 3)
        if b is not None:
            out = out + b[None, :, None, None]
        return np.ascontiguousarray(out), _reference_cache(x, w, b, stride, padding)
    return conv2d_forward


IM2COL = Exercise(
    "im2col", "im2col: every window as a column (convolution as one matrix product)", 1,
    ("im2col",), run_im2col,
    [dict(N=1, C=1, H=4, W=4, kh=2, kw=2, stride=1, padding=0, seed=0),
     dict(N=2, C=1, H=4, W=4, kh=2, kw=2, stride=1, padding=0, seed=1),
     dict(N=1, C=2, H=4, W=5, kh=3, kw=2, stride=1, padding=0, seed=2),
     dict(N=2, C=2, H=5, W=5, kh=3, kw=3, stride=1, padding=1, seed=3),
     dict(N=2, C=2, H=7, W=6, kh=3, kw=3, stride=2, padding=1, seed=4),
     dict(N=2, C=2, H=5, W=5, kh=3, kw=3, stride=2, padding=1, seed=5, dtype="float32")],
    lambda: conv_strategy(),
    lambda ns: train_with(classifier(), C.classifier_data(), _ce,
                          conv2d_forward=im2col_conv(ns.im2col)),
    "batch 1-3, 1-3 channels, kernels 1-3 (not square), stride 1-3, padding 0-2, float32",
    conv_variants(backward=False)[:2], ("N", "C", "H", "W", "kh", "kw", "stride", "padding",
                                      "dtype"))


# --------------------------------------------------------------------------- max pooling
def make_pool(p):
    rng = _rng(p)
    shape = (p["N"], p["C"], p["H"], p["W"])
    if p["ties"]:
        x = rng.integers(-2, 3, shape).astype(_dtype(p))
    else:
        x = rng.standard_normal(shape).astype(_dtype(p))
    if p["negative"]:
        x = -np.abs(x) - 0.5
    return {"x": x}, {"kernel_size": p["k"], "stride": p["stride"], "padding": p["padding"]}


def pool_strategy():
    st = _st()

    @st.composite
    def params(draw):
        k = draw(st.integers(1, 3))
        padding = draw(st.integers(0, k // 2))
        return dict(N=draw(st.integers(1, 3)), C=draw(st.integers(1, 2)),
                    H=draw(st.integers(max(1, k - 2 * padding), 7)),
                    W=draw(st.integers(max(1, k - 2 * padding), 7)), k=k,
                    stride=draw(st.sampled_from([None, 1, 2, 3])), padding=padding,
                    ties=draw(st.booleans()), negative=draw(st.booleans()),
                    seed=draw(st.integers(0, 2**16)))
    return params()


def _pool_case(N=2, C=2, H=4, W=4, k=2, stride=None, padding=0, ties=False, negative=False,
               seed=0, **extra):
    return dict(N=N, C=C, H=H, W=W, k=k, stride=stride, padding=padding, ties=ties,
                negative=negative, seed=seed, **extra)


MAX_POOL = Exercise(
    "max_pool2d", "Max pooling, forward and backward", 2,
    ("max_pool2d_forward", "max_pool2d_backward"),
    lambda ns, p: run_pair(ns, p, make_pool, "max_pool2d", ["x"],
                           numeric=not p["ties"] and _dtype(p) == _F64),
    [_pool_case(N=1, C=1), _pool_case(H=5, W=5, k=2, seed=1),
     _pool_case(H=5, W=5, k=3, stride=2, seed=2),
     _pool_case(H=5, W=5, k=3, stride=1, padding=1, negative=True, seed=3),
     _pool_case(H=4, W=4, k=2, ties=True, seed=4),
     _pool_case(H=6, W=6, k=3, stride=2, padding=1, seed=5, dtype="float32")],
    pool_strategy,
    lambda ns: train_with(classifier(), C.classifier_data(), _ce,
                          max_pool2d_forward=ns.max_pool2d_forward,
                          max_pool2d_backward=ns.max_pool2d_backward),
    "windows 1-3, stride None (= kernel) to 3, padding up to half the window, ties, "
    "negative inputs, float32",
    [({"ties": False}, "it passes without ties: when several entries share the maximum, only "
      "the first in row-major window order (np.argmax's choice) gets the gradient"),
     ({"stride": None}, "it passes when the stride equals the window (no overlap): an entry "
      "that is the maximum of two overlapping windows gets both gradients (+=)"),
     ({"padding": 0}, "it passes without padding: the padding counts as -inf (it can never be "
      "the maximum); padding with 0 (as Deep Learning from Scratch does) is wrong for "
      "negative inputs"),
     ({"negative": False}, "it passes with positive inputs: pad with -inf, not 0")],
    ("N", "C", "H", "W", "k", "stride", "padding", "ties", "negative", "dtype"))


# ------------------------------------------------------------------ softmax cross-entropy
def make_ce(p):
    rng = _rng(p)
    N, C_ = p["N"], p["C"]
    spatial = (p["H"], p["W"]) if p["pixels"] else ()
    logits = (rng.standard_normal((N, C_, *spatial)) * p["scale"]).astype(_dtype(p))
    targets = rng.integers(0, C_, (N, *spatial))
    if p["ignore"]:
        targets[rng.random(targets.shape) < 0.3] = -100
        targets.reshape(-1)[0] = -100
    return {"logits": logits, "targets": targets}, {}


def ce_strategy():
    st = _st()
    return st.fixed_dictionaries({
        "N": st.integers(1, 3), "C": st.integers(2, 4), "pixels": st.booleans(),
        "H": st.integers(1, 4), "W": st.integers(1, 4), "ignore": st.booleans(),
        "scale": st.sampled_from([1.0, 3.0, 1000.0]), "seed": st.integers(0, 2**16)})


def _ce_case(N=2, C=3, pixels=False, H=1, W=1, ignore=False, scale=1.0, seed=0, **extra):
    return dict(N=N, C=C, pixels=pixels, H=H, W=W, ignore=ignore, scale=scale, seed=seed,
                **extra)


CROSS_ENTROPY = Exercise(
    "softmax_cross_entropy", "Softmax cross-entropy per pixel, with ignore_index", 3,
    ("softmax_cross_entropy_forward", "softmax_cross_entropy_backward"),
    lambda ns, p: run_pair(ns, p, make_ce, "softmax_cross_entropy", ["logits"]),
    [_ce_case(N=3, C=3), _ce_case(N=1, C=2, seed=1), _ce_case(N=2, C=3, pixels=True, H=3,
                                                              W=2, seed=2),
     _ce_case(N=2, C=3, pixels=True, H=3, W=3, ignore=True, seed=3),
     _ce_case(N=2, C=4, pixels=True, H=2, W=2, scale=1000.0, seed=4),
     _ce_case(N=2, C=3, pixels=True, H=3, W=3, ignore=True, seed=5, dtype="float32")],
    ce_strategy,
    lambda ns: train_with(segmenter(), C.segmenter_data(), _ce,
                          softmax_cross_entropy_forward=ns.softmax_cross_entropy_forward,
                          softmax_cross_entropy_backward=ns.softmax_cross_entropy_backward),
    "per image (N, C) and per pixel (N, C, H, W), ignored targets, logits up to 1000, float32",
    [({"ignore": False}, "it passes when no target is ignored: a target equal to "
      "ignore_index adds nothing to the loss, is not counted in the mean's denominator (the "
      "number of non-ignored targets), and its logits get a zero gradient"),
     ({"scale": 1.0}, "it passes with small logits: exp overflows for large ones; subtract "
      "each pixel's maximum logit first (log-sum-exp), and use log-softmax rather than "
      "log(p + 1e-7)"),
     ({"pixels": False}, "it passes per image but not per pixel: the classes are axis 1 of "
      "(N, C, H, W), and the mean runs over all non-ignored pixels of all images")],
    ("N", "C", "pixels", "H", "W", "ignore", "scale", "dtype"),
    fallback_hint="dlogits = (softmax(logits) - one_hot(targets)) / (number of non-ignored "
                  "targets), 0 at ignored targets")


# ---------------------------------------------------------------------------- Dice loss
def make_dice(p):
    rng = _rng(p)
    logits = rng.standard_normal((p["N"], p["C"], p["H"], p["W"])).astype(_dtype(p))
    targets = rng.integers(0, p["C"], (p["N"], p["H"], p["W"]))
    if p["ignore"]:
        targets[rng.random(targets.shape) < 0.3] = -100
    return {"logits": logits, "targets": targets}, {"smooth": p["smooth"]}


def dice_strategy():
    st = _st()
    return st.fixed_dictionaries({
        "N": st.integers(1, 3), "C": st.integers(2, 4), "H": st.integers(1, 4),
        "W": st.integers(1, 4), "smooth": st.sampled_from([1.0, 0.5]),
        "ignore": st.booleans(), "seed": st.integers(0, 2**16)})


def _dice_case(N=2, C=2, H=3, W=3, smooth=1.0, ignore=False, seed=0, **extra):
    return dict(N=N, C=C, H=H, W=W, smooth=smooth, ignore=ignore, seed=seed, **extra)


DICE = Exercise(
    "dice", "Soft Dice loss on logits, forward and backward", 3,
    ("dice_loss_forward", "dice_loss_backward"),
    lambda ns, p: run_pair(ns, p, make_dice, "dice_loss", ["logits"]),
    [_dice_case(N=1), _dice_case(N=2, seed=1), _dice_case(N=2, C=3, H=2, W=4, seed=2),
     _dice_case(N=2, C=3, ignore=True, seed=3), _dice_case(N=2, smooth=0.5, seed=4),
     _dice_case(N=2, C=3, ignore=True, seed=5, dtype="float32")],
    dice_strategy,
    lambda ns: train_with(segmenter(), C.segmenter_data(), lambda: _models().DiceLoss(),
                          dice_loss_forward=ns.dice_loss_forward,
                          dice_loss_backward=ns.dice_loss_backward),
    "batch 1-3, 2-4 classes, smoothing 1 and 0.5, ignored pixels, float32",
    [({"N": 1}, "it passes with a batch of one: each class's intersection and sums run over "
      "the whole batch (n, h, w) before the ratio, not one Dice per image then averaged"),
     ({"ignore": False}, "it passes without ignored pixels: mask them out of both the "
      "intersection and the sums (probabilities and one-hot targets)")],
    ("N", "C", "H", "W", "smooth", "ignore", "dtype"),
    fallback_hint="dL/dp first (per class c: -(2 y (S + s) - (2 I + s)) / (C (S + s)^2)), "
                  "then through the softmax: dz = p * (dp - sum_c p_c dp_c)")


# -------------------------------------------------------------------- transposed conv
def tconv_strategy():
    st = _st()

    @st.composite
    def params(draw):
        k = draw(st.integers(1, 3))
        stride = draw(st.integers(1, 3))
        H, W = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        # the output (H - 1) s - 2p + k + op must be at least one pixel
        padding = draw(st.integers(0, max(0, min(2, ((min(H, W) - 1) * stride + k - 1) // 2))))
        return dict(N=draw(st.integers(1, 3)), C=draw(st.integers(1, 3)), H=H, W=W,
                    F=draw(st.integers(1, 3)), k=k, stride=stride, padding=padding,
                    output_padding=draw(st.integers(0, stride - 1)),
                    bias=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))
    return params()


def make_tconv(p):
    rng = _rng(p)
    dt = _dtype(p)
    x = rng.standard_normal((p["N"], p["C"], p["H"], p["W"])).astype(dt)
    w = rng.standard_normal((p["C"], p["F"], p["k"], p["k"])).astype(dt)
    b = rng.standard_normal(p["F"]).astype(dt) if p["bias"] else None
    return {"x": x, "w": w, "b": b}, {"stride": p["stride"], "padding": p["padding"],
                                      "output_padding": p["output_padding"]}


def _tconv_case(N=2, C=2, H=3, W=3, F=2, k=2, stride=2, padding=0, output_padding=0,
                bias=True, seed=0, **extra):
    return dict(N=N, C=C, H=H, W=W, F=F, k=k, stride=stride, padding=padding,
                output_padding=output_padding, bias=bias, seed=seed, **extra)


CONV_TRANSPOSE = Exercise(
    "conv_transpose2d_backward", "Transposed convolution (learned upsampling) backward", 3,
    ("conv_transpose2d_backward",),
    lambda ns, p: run_backward(ns, p, make_tconv, "conv_transpose2d", ["x", "w", "b"]),
    [_tconv_case(N=1, C=1, F=1, bias=False), _tconv_case(), _tconv_case(k=3, stride=1, seed=1),
     _tconv_case(k=3, stride=2, padding=1, seed=2),
     _tconv_case(k=3, stride=2, padding=1, output_padding=1, seed=3),
     _tconv_case(N=3, C=3, F=2, seed=4), _tconv_case(seed=5, dtype="float32")],
    tconv_strategy,
    lambda ns: train_with(segmenter(), C.segmenter_data(), _ce,
                          conv_transpose2d_backward=ns.conv_transpose2d_backward),
    "batch 1-3, 1-3 channels, kernels 1-3, stride 1-3, padding, output_padding, with and "
    "without bias, float32",
    [({"N": 1}, "it passes with a batch of one: dw and db sum over the batch"),
     ({"padding": 0, "output_padding": 0}, "it passes without padding: the forward crops p "
      "rows and columns off each side of the full scatter (and output_padding adds rows at "
      "the bottom and right); put dout back into that full frame before gathering"),
     ({"stride": 1}, "it passes with stride 1: input pixel (h, w) scatters onto output rows "
      "h*stride + i")],
    ("N", "C", "H", "W", "F", "k", "stride", "padding", "output_padding", "bias", "dtype"))


# --------------------------------------------------------------------------- batch norm
def make_bn(p):
    rng = _rng(p)
    dt = _dtype(p)
    N, C_ = p["N"], p["C"]
    shape = (N, C_, p["H"], p["W"]) if p["image"] else (N, C_)
    x = (rng.standard_normal(shape) * 2 + 1).astype(dt)
    gamma = (np.ones(C_) if p["gamma_one"] else rng.random(C_) + 0.5).astype(dt)
    beta = rng.standard_normal(C_).astype(dt)
    kwargs = {"training": p["training"]}
    if not p["training"]:  # eval normalises with running statistics: constants
        kwargs.update(running_mean=(rng.standard_normal(C_) * 0.5).astype(dt),
                      running_var=(rng.random(C_) + 0.5).astype(dt))
    return {"x": x, "gamma": gamma, "beta": beta}, kwargs


def bn_strategy():
    st = _st()

    @st.composite
    def params(draw):
        image = draw(st.booleans())
        H, W = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if image else (1, 1)
        N = draw(st.integers(1 if H * W > 1 else 2, 4))  # training needs M >= 2 values
        return dict(N=N, C=draw(st.integers(1, 3)), image=image, H=H, W=W,
                    training=draw(st.booleans()), gamma_one=draw(st.booleans()),
                    seed=draw(st.integers(0, 2**16)))
    return params()


def _bn_case(N=4, C=2, image=False, H=1, W=1, training=True, gamma_one=False, seed=0,
             **extra):
    return dict(N=N, C=C, image=image, H=H, W=W, training=training, gamma_one=gamma_one,
                seed=seed, **extra)


def per_activation(what, got, want, params):
    """DLFS's batch norm keeps one gamma per activation (C*H*W of them), not per channel."""
    if what in ("dgamma", "dbeta") and got.size > want.size and want.size in got.shape:
        return (f"{what} has shape {got.shape}: one value per activation, Deep Learning from "
                f"Scratch's batch norm; numcnn's (PyTorch's BatchNorm2d) has one gamma and "
                f"beta per channel, so {what} sums over axes 0, 2 and 3 (n, h, w)")
    return None


def channel_averaged(what, got, want, params):
    M = params.get("N", 1) * (params["H"] * params["W"] if params.get("image") else 1)
    if what in ("dgamma", "dbeta") and M > 1 and C._close(got * M, want):
        return (f"{what} is the *average* over the channel's M = {M} values: the parameter "
                f"is shared by all of them, so its gradient is their sum")
    return None


def gamma_missing(what, got, want, params):
    if what != "dx" or got.shape != want.shape:
        return None
    gamma = make_bn(params)[0]["gamma"].astype(np.float64)
    shape = (1, -1) + (1,) * (want.ndim - 2)
    if not np.allclose(gamma, 1) and C._close(got * gamma.reshape(shape), want):
        return ("dx lacks the factor gamma: the gradient reaching xhat is dxhat = gamma * "
                "dout, and every term of dx is built from dxhat")
    return None


BATCH_NORM = Exercise(
    "batch_norm_backward", "Batch normalisation backward: dx, dgamma, dbeta", 2,
    ("batch_norm_backward",),
    lambda ns, p: run_backward(ns, p, make_bn, "batch_norm", ["x", "gamma", "beta"],
                               (per_activation, channel_averaged, gamma_missing)
                               + C.DETECTORS),
    [_bn_case(N=4, C=1, seed=0), _bn_case(N=5, C=3, seed=1),
     _bn_case(N=3, C=2, image=True, H=3, W=2, seed=2),
     _bn_case(N=1, C=2, image=True, H=3, W=3, seed=3),
     _bn_case(N=3, C=2, image=True, H=2, W=2, training=False, seed=4),
     _bn_case(N=2, C=3, image=True, H=3, W=3, seed=5, dtype="float32")],
    bn_strategy,
    lambda ns: train_with(classifier(batchnorm=True), C.classifier_data(), _ce,
                          batch_norm_backward=ns.batch_norm_backward),
    "(N, C) and (N, C, H, W) inputs, batch 1-4 (at least 2 values per channel), training "
    "and eval mode, gamma 1 and not, float32",
    [({"image": False, "N": 4}, "it passes on (N, C) inputs: for (N, C, H, W) each channel "
      "has M = N*H*W values, and every sum and mean runs over axes 0, 2 and 3 (axes 0 and 2 "
      "of the (N, C, L) view x3)"),
     ({"training": False}, "it passes in eval mode: in training mode mu and var are computed "
      "from x itself, so dx has two more terms, dx = (inv_std / M) (M dxhat - sum_k dxhat_k "
      "- xhat sum_k dxhat_k xhat_k)"),
     ({"training": True}, "it passes in training mode: in eval mode (cache.training False) "
      "mu and var are the running statistics, constants: dx = gamma * dout * inv_std"),
     ({"gamma_one": True}, "it passes when gamma is 1: the gradient reaching xhat is "
      "dxhat = gamma * dout")],
    ("N", "C", "image", "H", "W", "training", "gamma_one", "dtype"),
    fallback_hint="with xhat = (x3 - mu) * inv_std and dxhat = gamma * dout per channel: "
                  "dbeta = sum dout, dgamma = sum dout * xhat, and in training dx = "
                  "(inv_std / M) (M dxhat - sum dxhat - xhat sum dxhat xhat)")


# ----------------------------------------------------------------------------- optimizers
class StepOptimizer:
    """An optimizer that runs a student's per-parameter step function (for the training
    check): ``step(p.data, p.grad, state..., **hyper) -> (new data, new state...)``."""

    def __init__(self, params, step, state: Callable, hyper: dict, name: str):
        self.params, self.step_fn, self.hyper, self.name = list(params), step, hyper, name
        self.state = {id(p): state(p) for p in self.params}

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def step(self):
        for p in self.params:
            state = self.state[id(p)]
            result = call(self.name, self.step_fn, p.data, p.grad.copy(), *state, **self.hyper)
            p.data[...] = result[0]
            self.state[id(p)] = tuple(result[1:]) + state[len(result) - 1:]


def _opt_case(p):
    rng = _rng(p)
    shape = (3, 4) if p["matrix"] else (5,)
    param = rng.standard_normal(shape).astype(_dtype(p))
    grads = [(rng.standard_normal(shape) * p["grad_scale"]).astype(_dtype(p))
             for _ in range(p["steps"])]
    lrs = [p["lr"] * (0.5 ** k if p["schedule"] else 1.0) for k in range(p["steps"])]
    return param, grads, lrs


def _sgd_cs231n(param, grad, buf, lr, momentum, weight_decay):
    v = np.zeros_like(param) if buf is None else buf
    v = momentum * v - lr * (grad + weight_decay * param)
    return param + v, v


def _sgd_late_decay(param, grad, buf, lr, momentum, weight_decay):
    b = grad.copy() if buf is None else momentum * buf + grad
    return param - lr * (b + weight_decay * param), b


SGD_ALTERNATIVES = [
    (_sgd_cs231n, "you wrote CS231n's form v = mu*v - lr*g, w += v; numcnn (like PyTorch) "
     "keeps b = mu*b + g and steps w -= lr*b. The two agree while lr is constant and part "
     "ways under a learning-rate schedule"),
    (_sgd_late_decay, "weight decay belongs in the gradient before the momentum buffer: g = "
     "g + weight_decay*w, then b = mu*b + g"),
]


def _trajectory(step, param, grads, lrs, state, hyper) -> list[tuple]:
    out = []
    p = param.copy()
    for g, lr in zip(grads, lrs):
        result = step(p.copy(), g.copy(), *state, lr=lr, **hyper)
        p, state = np.asarray(result[0]), tuple(result[1:])
        out.append((p, *state))
    return out


def _own_sgd(param, grads, lrs, momentum, weight_decay):
    from ..nn import Parameter
    from ..optim import SGD
    q = Parameter(param.copy())
    opt = SGD([q], lr=lrs[0], momentum=momentum, weight_decay=weight_decay)
    out = []
    for g, lr in zip(grads, lrs):
        q.grad = g.copy()
        opt.param_groups[0]["lr"] = lr
        opt.step()
        out.append((q.data.copy(), opt.state[q]["momentum_buffer"].copy()))
    return out


def run_sgd(ns, p):
    param, grads, lrs = _opt_case(p)
    hyper = dict(momentum=p["momentum"], weight_decay=p["weight_decay"])
    want = _own_sgd(param, grads, lrs, **hyper)
    got = _trajectory(lambda *a, **k: call("sgd_momentum_step", ns.sgd_momentum_step, *a, **k),
                      param, grads, lrs, (None,), hyper)
    return _opt_rows(got, want, ["param", "buf"], p, SGD_ALTERNATIVES, param, grads, lrs,
                     (None,), hyper)


def _opt_rows(got, want, names, p, alternatives, param, grads, lrs, state, hyper):
    """Step by step: the update of the parameter (new - old: its error is not hidden by the
    parameter's size) and the state, against numcnn.optim's; at the first wrong one, which
    known mistake reproduces the student's numbers."""
    rows = []
    trajectories = {}
    for hint_alt in alternatives:
        try:
            trajectories[hint_alt[1]] = _trajectory(hint_alt[0], param, grads, lrs, state,
                                                    hyper)
        except (FloatingPointError, ZeroDivisionError):
            pass
    prev = param
    for k, (g, w) in enumerate(zip(got, want)):
        for i, (name, gv, wv) in enumerate(zip(names, g, w)):
            label = f"{name} update at step {k + 1}" if i == 0 else f"{name} after step {k + 1}"
            base = prev if i == 0 else 0
            row = C.compare(label, gv - base if isinstance(gv, np.ndarray) else gv, wv - base,
                            detectors=(C.scaled,), params=p)
            if not row.ok:
                for hint, alt in trajectories.items():
                    a = alt[k]
                    # the same formula reproduces the numbers to rounding error
                    if (C._close(g[0] - prev, a[0] - prev, 1e-9)
                            and all(C._close(x, y, 1e-9) for x, y in zip(g[1:], a[1:len(g)]))):
                        row.hints.append(hint)
                rows.append(row)
                _check_dtypes(rows, p, **{name: gv})
                return rows
        rows.append(Row(f"step {k + 1}", True, "update and state match numcnn.optim's"))
        prev = w[0]
    _check_dtypes(rows, p, **dict(zip(names, got[-1])))
    return rows


def opt_strategy(extra: dict):
    st = _st()
    return st.fixed_dictionaries({
        "matrix": st.booleans(), "steps": st.integers(1, 5),
        "lr": st.sampled_from([0.1, 0.01]), "schedule": st.booleans(),
        "grad_scale": st.sampled_from([1.0, 1e-3, 1e-7]), "seed": st.integers(0, 2**16),
        **{k: st.sampled_from(v) for k, v in extra.items()}})


def _opt(**kw):
    base = dict(matrix=False, steps=3, lr=0.1, schedule=False, grad_scale=1.0, seed=0)
    return {**base, **kw}


def train_sgd(ns):
    from ..optim import SGD

    def student(params):
        return StepOptimizer(params, ns.sgd_momentum_step, lambda q: (None,),
                             dict(lr=0.1, momentum=0.9, weight_decay=1e-4),
                             "sgd_momentum_step")
    return C.train_tiny(classifier(), C.classifier_data(), _ce, steps=30,
                        optimizer=lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4),
                        student_optimizer=student)


SGD_MOMENTUM = Exercise(
    "sgd_momentum", "The SGD step with momentum (and weight decay)", 2, ("sgd_momentum_step",),
    run_sgd,
    [_opt(momentum=0.9, weight_decay=0.0), _opt(momentum=0.9, weight_decay=0.0, steps=1,
                                                matrix=True, seed=1),
     _opt(momentum=0.9, weight_decay=0.0, schedule=True, seed=2),
     _opt(momentum=0.5, weight_decay=0.01, seed=3),
     _opt(momentum=0.9, weight_decay=0.0, seed=4, dtype="float32")],
    lambda: opt_strategy({"momentum": [0.5, 0.9], "weight_decay": [0.0, 0.01]}),
    train_sgd,
    "1-5 steps, vectors and matrices, momentum 0.5 and 0.9, weight decay, a learning-rate "
    "schedule, float32",
    [({"schedule": False}, SGD_ALTERNATIVES[0][1]),
     ({"weight_decay": 0.0}, SGD_ALTERNATIVES[1][1]),
     ({"steps": 1}, "the first step passes: on the first step the buffer is the gradient "
      "itself (b = g); afterwards b = momentum*b + g, kept between steps")],
    ("matrix", "steps", "lr", "schedule", "momentum", "weight_decay", "dtype"))


def _adam_no_bias_correction(param, grad, m, v, t, lr, betas, eps, weight_decay):
    b1, b2 = betas
    g = grad + weight_decay * param
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return param - lr * m / (np.sqrt(v) + eps), m, v, t + 1


def _adam_eps_inside(param, grad, m, v, t, lr, betas, eps, weight_decay):
    b1, b2 = betas
    g = grad + weight_decay * param
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return param - lr * (m / (1 - b1**t)) / np.sqrt(v / (1 - b2**t) + eps), m, v, t + 1


def _adam_dlfs(param, grad, m, v, t, lr, betas, eps, weight_decay):
    b1, b2 = betas
    g = grad + weight_decay * param
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    return param - lr_t * m / (np.sqrt(v) + eps), m, v, t + 1


ADAM_ALTERNATIVES = [
    (_adam_no_bias_correction, "the bias corrections are missing: m_hat = m / (1 - beta1**t), "
     "v_hat = v / (1 - beta2**t), with t = 1 on the first step"),
    (_adam_eps_inside, "eps goes outside the square root: sqrt(v_hat) + eps, not "
     "sqrt(v_hat + eps)"),
    (_adam_dlfs, "eps is added to sqrt(v_hat), the bias-corrected moment; folding the "
     "corrections into the learning rate (Deep Learning from Scratch's lr_t) adds it to "
     "sqrt(v) instead, which differs when gradients are small"),
]


def _own_adam(param, grads, lrs, betas, weight_decay, eps=1e-8):
    from ..nn import Parameter
    from ..optim import Adam
    q = Parameter(param.copy())
    opt = Adam([q], lr=lrs[0], betas=betas, eps=eps, weight_decay=weight_decay)
    out = []
    for g, lr in zip(grads, lrs):
        q.grad = g.copy()
        opt.param_groups[0]["lr"] = lr
        opt.step()
        s = opt.state[q]
        out.append((q.data.copy(), s["exp_avg"].copy(), s["exp_avg_sq"].copy()))
    return out


def run_adam(ns, p):
    param, grads, lrs = _opt_case(p)
    betas = (0.9, 0.999)
    hyper = dict(betas=betas, eps=1e-8, weight_decay=p["weight_decay"])
    want = _own_adam(param, grads, lrs, betas, p["weight_decay"])

    def step(param, grad, m, v, t, lr, **h):
        result = call("adam_step", ns.adam_step, param, grad, m, v, t, lr=lr, **h)
        return (*result, t + 1)  # t is the step count the caller keeps

    zeros = np.zeros_like(param)
    got = _trajectory(step, param, grads, lrs, (zeros, zeros.copy(), 1), hyper)
    got = [g[:3] for g in got]
    return _opt_rows(got, want, ["param", "m", "v"], p, ADAM_ALTERNATIVES, param, grads, lrs,
                     (zeros, zeros.copy(), 1), hyper)


def train_adam(ns):
    from ..optim import Adam

    class StudentAdam(StepOptimizer):
        def step(self):
            for q in self.params:
                m, v, t = self.state[id(q)]
                new, m, v = call(self.name, self.step_fn, q.data, q.grad.copy(), m, v, t,
                                 **self.hyper)
                q.data[...] = new
                self.state[id(q)] = (m, v, t + 1)

    def student(params):
        return StudentAdam(params, ns.adam_step,
                           lambda q: (np.zeros_like(q.data), np.zeros_like(q.data), 1),
                           dict(lr=0.01), "adam_step")
    return C.train_tiny(classifier(), C.classifier_data(), _ce, steps=30,
                        optimizer=lambda ps: Adam(ps, lr=0.01), student_optimizer=student)


ADAM = Exercise(
    "adam", "The Adam step", 2, ("adam_step",), run_adam,
    [_opt(weight_decay=0.0, steps=1), _opt(weight_decay=0.0, seed=1),
     _opt(weight_decay=0.0, grad_scale=1e-7, steps=2, seed=2),
     _opt(weight_decay=0.01, matrix=True, seed=3),
     _opt(weight_decay=0.0, schedule=True, seed=4),
     _opt(weight_decay=0.0, seed=5, dtype="float32")],
    lambda: opt_strategy({"weight_decay": [0.0, 0.01]}),
    train_adam,
    "1-5 steps, vectors and matrices, tiny gradients (eps matters), weight decay, a "
    "learning-rate schedule, float32",
    [({"weight_decay": 0.0}, "it passes without weight decay: Adam's (L2) decay is added to "
      "the gradient first, g = g + weight_decay*w (AdamW's decoupled decay is another thing)")],
    ("matrix", "steps", "lr", "schedule", "grad_scale", "weight_decay", "dtype"))


EXERCISES = {ex.name: ex for ex in [
    CONV2D_FORWARD, CONV2D_BACKWARD, IM2COL, RELU, LINEAR, MAX_POOL, BATCH_NORM,
    SGD_MOMENTUM, ADAM, CROSS_ENTROPY, DICE, CONV_TRANSPOSE]}
