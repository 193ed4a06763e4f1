"""numcnn.functional's fast pairs against numcnn.reference's plain ones, for activations,
linear, softmax, cross-entropy, Dice, batch norm, dropout, resizing and concat: forward and
backward on hypothesis-drawn shapes, in float32 and float64.  The caches are shared types,
so each backward is also run on the other implementation's cache (a student may replace
either half of a pair)."""

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn.reference import activation, dice, linear, loss, normalization, upsample

seeds = st.integers(0, 2**32 - 1)
small = st.integers(1, 4)


def _x(rng, shape, dtype, scale=2.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def fixed(inputs, kwargs):
    """The case as a function that returns fresh copies of it (a forward may update running
    statistics or draw from a generator)."""
    return lambda: copy.deepcopy((inputs, kwargs))


@st.composite
def elementwise(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    shape = draw(st.sampled_from([(1,), (3, 5), (2, 3, 4, 1), (1, 2, 3, 5)]))
    return fixed({"x": _x(rng, shape, dtype)}, {})


@st.composite
def leaky(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    slope = draw(st.sampled_from([0.01, 0.2, -0.5]))
    return fixed({"x": _x(rng, (3, 4), dtype)}, {"negative_slope": slope})


@st.composite
def linear_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    lead = draw(st.sampled_from([(1,), (3,), (2, 3)]))
    fin, fout = draw(small), draw(small)
    b = _x(rng, (fout,), dtype) if draw(st.booleans()) else None
    return fixed({"x": _x(rng, (*lead, fin), dtype), "w": _x(rng, (fout, fin), dtype),
                     "b": b}, {})


@st.composite
def along_dim(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    shape = draw(st.sampled_from([(4,), (2, 3), (2, 3, 1, 4), (1, 5, 2)]))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return fixed({"x": _x(rng, shape, dtype, 4.0)}, {"dim": dim})


@st.composite
def cross_entropy(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    N, C = draw(small), draw(st.integers(1, 5))
    spatial = draw(st.sampled_from([(), (3,), (2, 3), (1, 2, 2)]))
    logits = _x(rng, (N, C, *spatial), dtype)
    kw = dict(reduction=draw(st.sampled_from(["mean", "sum", "none"])),
              label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.6])))
    if draw(st.booleans()):
        kw["weight"] = (rng.random(C) + 0.1).astype(dtype)
    if draw(st.booleans()):   # probability targets (soft labels)
        targets = F.softmax(_x(rng, logits.shape, dtype))
    else:
        targets = rng.integers(0, C, (N, *spatial))
        if draw(st.booleans()):
            kw["ignore_index"] = draw(st.sampled_from([-100, 0, 255]))
            targets[rng.random(targets.shape) < 0.3] = kw["ignore_index"]
    return fixed({"logits": logits, "targets": targets}, kw)


@st.composite
def dice_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    N, C = draw(small), draw(st.integers(1, 4))
    spatial = draw(st.sampled_from([(), (3,), (2, 3)]))
    targets = rng.integers(0, C, (N, *spatial))
    targets[rng.random(targets.shape) < 0.2] = -100
    smooth = draw(st.sampled_from([0.0, 1.0]))
    return fixed({"logits": _x(rng, (N, C, *spatial), dtype), "targets": targets},
                 {"smooth": smooth})


@st.composite
def batch_norm(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    N, C = draw(st.integers(2, 4)), draw(small)
    spatial = draw(st.sampled_from([(), (1, 1), (2, 3)]))
    training = draw(st.booleans())
    x = _x(rng, (N, C, *spatial), dtype) + dtype(1.5)
    gamma, beta = _x(rng, (C,), dtype), _x(rng, (C,), dtype)
    rm, rv = _x(rng, (C,), dtype), (rng.random(C) + 0.5).astype(dtype)
    return fixed({"x": x, "gamma": gamma, "beta": beta},
                 dict(running_mean=rm, running_var=rv, training=training, momentum=0.3))


@st.composite
def dropout(draw, dtype):
    seed = draw(seeds)
    p, training = draw(st.sampled_from([0.0, 0.3, 0.75])), draw(st.booleans())
    x = _x(np.random.default_rng(seed), (3, 4, 2), dtype)
    return fixed({"x": x}, dict(p=p, training=training, rng=np.random.default_rng(seed)))


@st.composite
def resize(draw, dtype):
    """Every rule: PyTorch's modes, or one of ONNX's coordinate modes; a size or a scale."""
    rng = np.random.default_rng(draw(seeds))
    H, W = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    x = _x(rng, (draw(st.integers(1, 2)), draw(small), H, W), dtype)
    kw = {}
    if draw(st.booleans()):
        kw["mode"], kw["align_corners"] = draw(st.sampled_from(
            [("nearest", None), ("nearest-exact", None), ("bilinear", False),
             ("bilinear", True)]))
    else:
        ctm = draw(st.sampled_from(F.upsample.COORDINATE_MODES))
        kw["coordinate_transformation_mode"] = ctm
        kw["mode"] = draw(st.sampled_from(["nearest", "bilinear"]))
        if kw["mode"] == "nearest":
            kw["nearest_mode"] = draw(st.sampled_from(F.upsample.NEAREST_MODES))
        if ctm == "tf_crop_and_resize":
            kw["roi"] = ((0.1, 1.2), (-0.3, 0.8))
            kw["extrapolation_value"] = 5.0
    if draw(st.booleans()):
        kw["size"] = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    else:
        s = draw(st.sampled_from([2, 3, 1.5, 0.5, 2.3, (2, 0.7), (1, 3)]))
        pair = s if isinstance(s, tuple) else (s, s)
        if int(H * pair[0]) < 1 or int(W * pair[1]) < 1:
            s = 2
        kw["scale_factor"] = s
        if "coordinate_transformation_mode" not in kw:
            kw["recompute_scale_factor"] = draw(st.sampled_from([None, True]))
    return fixed({"x": x}, kw)


@st.composite
def concat(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    base = draw(st.sampled_from([(2, 3), (1, 2, 3, 2)]))
    axis = draw(st.integers(-len(base), len(base) - 1))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(base)
        s[axis] = draw(st.integers(1, 3))
        shapes.append(tuple(s))
    return fixed({"xs": [_x(rng, s, dtype) for s in shapes]}, {"axis": axis})


OPS = {  # op -> (reference module, case strategy)
    "relu": (activation, elementwise), "sigmoid": (activation, elementwise),
    "tanh": (activation, elementwise), "leaky_relu": (activation, leaky),
    "linear": (linear, linear_case), "softmax": (loss, along_dim),
    "log_softmax": (loss, along_dim), "softmax_cross_entropy": (loss, cross_entropy),
    "dice_loss": (dice, dice_case), "batch_norm": (normalization, batch_norm),
    "dropout": (normalization, dropout), "interpolate": (upsample, resize),
    "concat": (upsample, concat),
}


def assert_close(got, want, dtype, what):
    """Within rounding of the dtype, relative to the largest value compared."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, what
    tol = 1e-10 if dtype == np.float64 else 2e-5
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


def as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("op", OPS)
@given(data=st.data())
def test_fast_pair_matches_the_reference(op, dtype, data):
    ref, case = OPS[op]
    make = data.draw(case(dtype))
    fast_fwd, fast_bwd = getattr(F, f"{op}_forward"), getattr(F, f"{op}_backward")
    ref_fwd, ref_bwd = getattr(ref, f"{op}_forward"), getattr(ref, f"{op}_backward")
    inputs, kwargs = make()
    out, fast_cache = fast_fwd(**inputs, **kwargs)
    inputs, ref_kwargs = make()
    want, ref_cache = ref_fwd(**inputs, **ref_kwargs)
    assert_close(out, want, dtype, f"{op} forward")
    if np.ndim(out) == 0:
        assert isinstance(out, float)
    else:
        assert out.dtype == dtype
    for name in ("running_mean", "running_var"):
        if name in kwargs:
            assert_close(kwargs[name], ref_kwargs[name], dtype, f"{op} {name}")
    rng = np.random.default_rng(1)
    dout = float(rng.standard_normal()) if np.ndim(out) == 0 else \
        rng.standard_normal(np.shape(out)).astype(dtype)
    for cache in (fast_cache, ref_cache):
        got, expected = as_tuple(fast_bwd(dout, cache)), as_tuple(ref_bwd(dout, cache))
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            if e is None:
                assert g is None
                continue
            assert_close(g, e, dtype, f"{op} backward")
            assert g.dtype == dtype, f"{op} backward dtype"
