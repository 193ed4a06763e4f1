"""Random wrong input to every public functional op (``numcnn.functional.__all__``:
convolutions, poolings, activations, linear, softmax, cross-entropy, Dice, batch norm,
dropout, resizing, concat, and their backwards): wrong ranks, dtypes, shapes, types,
non-finite values.  The op may succeed (NaN
data propagates), but the only exceptions allowed are a TypeError or ValueError that numcnn
raises itself, with a message "<op>: ..." (never a deep NumPy or numba error)."""

import traceback
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numcnn
from numcnn import functional as F

PACKAGE = str(Path(numcnn.__file__).resolve().parent)
rng = np.random.default_rng(0)
X4 = rng.standard_normal((2, 3, 4, 4))
LOGITS = rng.standard_normal((2, 3, 4, 4))
TARGETS = rng.integers(0, 3, (2, 4, 4))

# op name -> valid keyword arguments; one or two of them get replaced by something wrong
FORWARDS = {
    "relu_forward": dict(x=X4), "sigmoid_forward": dict(x=X4), "tanh_forward": dict(x=X4),
    "leaky_relu_forward": dict(x=X4, negative_slope=0.1),
    "linear_forward": dict(x=rng.standard_normal((2, 5)), w=rng.standard_normal((3, 5)),
                           b=rng.standard_normal(3)),
    "softmax": dict(x=LOGITS, dim=1), "log_softmax": dict(x=LOGITS, dim=-1),
    "softmax_forward": dict(x=LOGITS, dim=1), "log_softmax_forward": dict(x=LOGITS, dim=2),
    "softmax_cross_entropy_forward": dict(logits=LOGITS, targets=TARGETS, weight=np.ones(3),
                                          ignore_index=-100, reduction="mean",
                                          label_smoothing=0.1),
    "dice_loss_forward": dict(logits=LOGITS, targets=TARGETS, smooth=1.0, ignore_index=-100),
    "batch_norm_forward": dict(x=X4, gamma=np.ones(3), beta=np.zeros(3),
                               running_mean=np.zeros(3), running_var=np.ones(3),
                               training=True, momentum=0.1, eps=1e-5),
    "dropout_forward": dict(x=X4, p=0.5, training=True, rng=np.random.default_rng(1),
                            mask=None),
    "interpolate_forward": dict(x=X4, size=None, scale_factor=2, mode="bilinear",
                                align_corners=False, recompute_scale_factor=None),
    "interpolate_forward ": dict(x=X4, size=(3, 5), mode="nearest",
                                 coordinate_transformation_mode="tf_crop_and_resize",
                                 nearest_mode="floor", roi=((0.1, 0.9), (0.0, 1.0)),
                                 extrapolation_value=0.0),
    "upsample_nearest2d_forward": dict(x=X4, scale_factor=2),
    "upsample_bilinear2d_forward": dict(x=X4, scale_factor=(2, 3), align_corners=True),
    "concat_forward": dict(xs=[X4, X4[:, :1]], axis=1),
    "conv2d_forward": dict(x=X4, w=rng.standard_normal((2, 3, 3, 3)), b=rng.standard_normal(2),
                           stride=1, padding=1, dilation=1, groups=1),
    "conv2d_forward ": dict(x=X4, w=rng.standard_normal((3, 1, 2, 2)), b=None, stride=2,
                            padding=(0, 1, 1, 0), dilation=(1, 2), groups=3),
    "conv_transpose2d_forward": dict(x=X4, w=rng.standard_normal((3, 2, 3, 3)),
                                     b=rng.standard_normal(2), stride=2, padding=1,
                                     output_padding=1, dilation=1, groups=1),
    "max_pool2d_forward": dict(x=X4, kernel_size=2, stride=None, padding=0, dilation=1,
                               ceil_mode=False),
    "max_pool2d_forward ": dict(x=X4, kernel_size=3, stride=2, padding=1, dilation=1,
                                ceil_mode=True),
    "avg_pool2d_forward": dict(x=X4, kernel_size=2, stride=2, padding=1, ceil_mode=False,
                               count_include_pad=False, divisor_override=None, dilation=1),
    "adaptive_avg_pool2d_forward": dict(x=X4, output_size=(3, None)),
    "adaptive_max_pool2d_forward": dict(x=X4, output_size=2),
}
BACKWARDS = {  # backward -> the forward whose cache it takes
    "relu_backward": "relu_forward", "sigmoid_backward": "sigmoid_forward",
    "tanh_backward": "tanh_forward", "leaky_relu_backward": "leaky_relu_forward",
    "linear_backward": "linear_forward", "softmax_backward": "softmax_forward",
    "log_softmax_backward": "log_softmax_forward",
    "softmax_cross_entropy_backward": "softmax_cross_entropy_forward",
    "dice_loss_backward": "dice_loss_forward", "batch_norm_backward": "batch_norm_forward",
    "dropout_backward": "dropout_forward", "interpolate_backward": "interpolate_forward",
    "upsample_nearest2d_backward": "upsample_nearest2d_forward",
    "upsample_bilinear2d_backward": "upsample_bilinear2d_forward",
    "concat_backward": "concat_forward",
    "conv2d_backward": "conv2d_forward", "conv_transpose2d_backward": "conv_transpose2d_forward",
    "max_pool2d_backward": "max_pool2d_forward", "avg_pool2d_backward": "avg_pool2d_forward",
    "adaptive_avg_pool2d_backward": "adaptive_avg_pool2d_forward",
    "adaptive_max_pool2d_backward": "adaptive_max_pool2d_forward",
}


def test_every_public_functional_op_is_fed_wrong_input():
    assert {n.strip() for n in FORWARDS} | set(BACKWARDS) == set(F.__all__)

SCALARS = st.sampled_from([None, "a", "", True, 0, -1, 1, 2, 7, 2.5, -0.5, 1e-9, float("nan"),
                           float("inf"), -float("inf"), 1j, [], [1, 2], (1, 2, 3), {},
                           np.float32(0.5), np.int64(3), object()])


def mutations(value):
    """Wrong versions of one valid argument."""
    options = [SCALARS]
    if isinstance(value, np.ndarray):
        def mutate(how):
            v = value
            if how == "int":
                return v.astype(np.int64)
            if how == "bool":
                return v > 0
            if how in ("float16", "float32", "longdouble", "complex64", "object", "str"):
                return v.astype({"str": np.str_}.get(how, how))
            if how in ("nan", "inf"):   # one non-finite entry (data: it may propagate)
                w = v.astype(np.float64)
                w.reshape(-1)[:1] = np.nan if how == "nan" else np.inf
                return w
            if how == "list":
                return v.tolist()
            if how == "scalar":
                return v.reshape(-1)[0] if v.size else v
            if how == "0-d":
                return np.array(v.reshape(-1)[0]) if v.size else v
            if how == "drop_axis":
                return v[0] if v.ndim else v
            if how == "add_axis":
                return v[None]
            if how == "transpose":
                return v.T.copy()
            if how == "empty":
                return v[:0] if v.ndim else v
            if how == "empty_last":
                return v[..., :0] if v.ndim else v
            if how == "grow":
                return np.concatenate([v, v], axis=-1) if v.ndim else v
            if how == "strided":
                return v[..., ::2] if v.ndim else v
            return v
        options.append(st.sampled_from(
            ["int", "bool", "float16", "float32", "longdouble", "complex64", "object", "str",
             "nan", "inf", "list", "scalar", "0-d", "drop_axis", "add_axis", "transpose",
             "empty", "empty_last", "grow", "strided"]).map(mutate))
    if isinstance(value, list):
        options.append(st.sampled_from([
            [], [None], [value[0], value[1].astype(np.float32)], [value[0][0], value[1]],
            [value[0], value[1].tolist()], tuple(value), [value[0].astype(np.int64)],
            [value[0][:, :, :1], value[1]]]))
    return st.one_of(*options)


def assert_numcnn_error(call):
    """Run ``call``; any exception must be numcnn's own clear TypeError / ValueError."""
    try:
        call()
    except (TypeError, ValueError) as e:
        last = traceback.extract_tb(e.__traceback__)[-1]
        assert str(Path(last.filename).resolve()).startswith(PACKAGE), \
            f"{type(e).__name__} raised outside numcnn, in {last.filename}:{last.lineno}: {e}"
        head = str(e).split(":", 1)[0]
        assert ": " in str(e) and head.replace("_", "").replace(".", "").isalnum(), \
            f"not a numcnn message ('<op>: ...'): {type(e).__name__}: {e}"


@st.composite
def forward_call(draw):
    name = draw(st.sampled_from(sorted(FORWARDS)))
    kwargs = dict(FORWARDS[name])
    for arg in draw(st.lists(st.sampled_from(sorted(kwargs)), min_size=1, max_size=2,
                             unique=True)):
        kwargs[arg] = draw(mutations(kwargs[arg]))
    return name.strip(), kwargs


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(forward_call())
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_forwards_refuse_wrong_input_clearly(call):
    name, kwargs = call
    for key in ("running_mean", "running_var"):   # updated in place: never the shared ones
        if isinstance(kwargs.get(key), np.ndarray):
            kwargs[key] = kwargs[key].copy()
    if "rng" in kwargs:
        kwargs["rng"] = np.random.default_rng(1) if isinstance(
            kwargs["rng"], np.random.Generator) else kwargs["rng"]
    assert_numcnn_error(lambda: getattr(F, name)(**kwargs))


@st.composite
def backward_call(draw):
    name = draw(st.sampled_from(sorted(BACKWARDS)))
    fwd = BACKWARDS[name]
    kwargs = dict(FORWARDS[fwd])
    if "running_mean" in kwargs:
        kwargs.update(running_mean=np.zeros(3), running_var=np.ones(3))
    out, cache = getattr(F, fwd)(**kwargs)
    dout = np.ones_like(out) if isinstance(out, np.ndarray) else 1.0
    if draw(st.booleans()):
        dout = draw(mutations(dout))
    else:
        cache = draw(st.one_of(SCALARS, st.just((1, 2)), st.just(tuple(cache)[:-1]
                                                                 if isinstance(cache, tuple)
                                                                 else None)))
    return name, dout, cache


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(backward_call())
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_backwards_refuse_wrong_input_clearly(call):
    name, dout, cache = call
    assert_numcnn_error(lambda: getattr(F, name)(dout, cache))
