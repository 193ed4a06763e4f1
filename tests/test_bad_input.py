"""Every public functional op rejects bad input at the boundary with a message that says what
was expected and what arrived."""

import numpy as np
import pytest

from numcnn import functional as F

x4 = np.zeros((2, 3, 8, 8), np.float32)
w = np.zeros((4, 3, 3, 3), np.float32)


def test_conv_wrong_rank():
    with pytest.raises(ValueError, match=r"x must be 4-D \(N, C, H, W\); got shape \(3, 8, 8\)"):
        F.conv2d_forward(x4[0], w)


def test_conv_channels_mismatch_mentions_nhwc():
    nhwc = np.zeros((2, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match=r"expected 3 input channels at axis 1 \(NCHW.*got x of "
                                         r"shape \(2, 8, 8, 3\).*looks NHWC"):
        F.conv2d_forward(nhwc, w)


def test_conv_integer_input():
    with pytest.raises(TypeError, match="x must be a floating-point array.*got dtype int64"):
        F.conv2d_forward(np.zeros((1, 3, 4, 4), np.int64), w)


def test_conv_mixed_dtypes_are_not_upcast():
    with pytest.raises(TypeError, match="w has dtype float64 but x has float32"):
        F.conv2d_forward(x4, w.astype(np.float64))


@pytest.mark.parametrize("kw, msg", [
    (dict(stride=0), r"stride must be >= 1; got 0"),
    (dict(stride=(1, 2, 3)), r"stride must be an int or a pair of ints"),
    (dict(padding=-1), r"padding must be >= 0; got -1"),
    (dict(dilation=0), r"dilation must be >= 1"),
    (dict(groups=3), r"out_channels \(4\) must be divisible by groups \(3\)"),
    (dict(groups=0), r"groups must be a positive int; got 0"),
])
def test_conv_bad_hyperparameters(kw, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        F.conv2d_forward(x4, w, **kw)


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel \(extent 3 along H.*larger than the padded "
                                         r"input \(2 \+ 2\*0 = 2\)"):
        F.conv2d_forward(np.zeros((1, 3, 2, 5), np.float32), w)


def test_bias_shape():
    with pytest.raises(ValueError, match=r"b must have shape \(4,\) to match w; got \(3,\)"):
        F.conv2d_forward(x4, w, np.zeros(3, np.float32))


def test_dout_shape_checked():
    out, cache = F.conv2d_forward(x4, w)
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape "
                                         r"\(2, 4, 6, 6\); got \(2, 4, 6\)"):
        F.conv2d_backward(out[..., 0], cache)


def test_conv_transpose_output_padding():
    with pytest.raises(ValueError, match="output_padding must be smaller than stride or "
                                         "dilation"):
        F.conv_transpose2d_forward(x4, np.zeros((3, 2, 3, 3), np.float32), output_padding=1)


def test_pool_bad_arguments():
    with pytest.raises(ValueError, match=r"kernel_size must be >= 1; got 0"):
        F.max_pool2d_forward(x4, 0)
    with pytest.raises(ValueError, match=r"padding \(2, 2, 2, 2\) puts a whole window in the "
                                         r"padding"):
        F.max_pool2d_forward(x4, 2, padding=2)
    with pytest.raises(ValueError, match=r"larger than the padded input"):
        F.avg_pool2d_forward(x4, 9)


def test_linear_feature_mismatch_suggests_flatten():
    with pytest.raises(ValueError, match=r"expected x with 5 features.*got x of shape "
                                         r"\(2, 3, 8, 8\).*flatten"):
        F.linear_forward(x4, np.zeros((2, 5), np.float32))


def test_cross_entropy_targets():
    logits = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(TypeError, match="targets must be an integer array.*got float32"):
        F.softmax_cross_entropy_forward(logits, np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"targets must have shape \(2, 4, 4\).*got \(2, 4\)"):
        F.softmax_cross_entropy_forward(logits, np.zeros((2, 4), np.int64))
    bad = np.zeros((2, 4, 4), np.int64)
    bad[0, 0, 0] = 3
    bad[1, 0, 0] = -1
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\) or equal ignore_index="
                                         r"-100; got values \[-1, 3\]"):
        F.softmax_cross_entropy_forward(logits, bad)
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.softmax_cross_entropy_forward(logits, bad * 0, reduction="avg")
    with pytest.raises(ValueError, match=r"weight must have one entry per class, shape \(3,\)"):
        F.softmax_cross_entropy_forward(logits, bad * 0, weight=np.ones(2))
    with pytest.raises(ValueError, match=r"logits must be \(N, C\) or \(N, C, d1, ..., dk\)"):
        F.softmax_cross_entropy_forward(logits[0, 0, 0], bad[0, 0])


def test_non_array_input():
    with pytest.raises(TypeError, match="x must be a numpy array; got list"):
        F.relu_forward([1.0, -1.0])


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
@pytest.mark.parametrize("op, call", [
    ("conv2d", lambda x: F.conv2d_forward(x, np.zeros((2, 3, 3, 3), x.dtype))),
    ("conv_transpose2d",
     lambda x: F.conv_transpose2d_forward(x, np.zeros((3, 2, 3, 3), x.dtype))),
    ("max_pool2d", lambda x: F.max_pool2d_forward(x, 2)),
    ("avg_pool2d", lambda x: F.avg_pool2d_forward(x, 2)),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d_forward(x, 1)),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d_forward(x, 1)),
    ("batch_norm", lambda x: F.batch_norm_forward(
        x, *(np.ones(3, x.dtype) for _ in range(4)), training=True)),
    ("interpolate", lambda x: F.upsample_bilinear2d_forward(x, 2)),
])
def test_numba_backed_ops_name_the_dtypes_they_take(op, call, dtype):
    with pytest.raises(TypeError, match=rf"{op}: x must be float32 or float64 \(numcnn's "
                                        rf"kernels are compiled for those\); got dtype "
                                        rf"{np.dtype(dtype)}"):
        call(x4.astype(dtype))


@pytest.mark.parametrize("op, w", [
    ("conv2d", np.zeros((0, 3, 3, 3), np.float32)),       # no filter
    ("conv2d", np.zeros((4, 3, 0, 3), np.float32)),       # an empty kernel
    ("conv_transpose2d", np.zeros((3, 0, 3, 3), np.float32)),
])
def test_empty_weights_are_refused(op, w):
    with pytest.raises(ValueError, match=rf"{op}: w must have no empty axis; got weights "
                                         rf"\({', '.join(map(str, w.shape))}\)"):
        getattr(F, op + "_forward")(x4, w)


def test_an_empty_batch_goes_through_and_back():
    x = np.zeros((0, 3, 8, 8), np.float32)
    for fwd, bwd, weights in [(F.conv2d_forward, F.conv2d_backward, w),
                              (F.conv_transpose2d_forward, F.conv_transpose2d_backward,
                               np.zeros((3, 2, 3, 3), np.float32))]:
        out, cache = fwd(x, weights)
        dx, dw, _ = bwd(out, cache)
        assert out.shape[0] == 0 and dx.shape == x.shape and not dw.any()


def test_adaptive_pooling_of_an_empty_image():
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: x must have H, W >= 1.*got "
                                         r"shape \(2, 3, 0, 8\)"):
        F.adaptive_avg_pool2d_forward(x4[:, :, :0], 1)


def test_a_backward_needs_its_forwards_cache():
    out, cache = F.max_pool2d_forward(x4, 2)
    with pytest.raises(TypeError, match="max_pool2d_backward: cache must be the MaxPoolCache "
                                        "that max_pool2d_forward returned; got tuple"):
        F.max_pool2d_backward(out, tuple(cache))
