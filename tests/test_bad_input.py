"""Every public functional op rejects bad input at the boundary with a message that says what
was expected and what arrived."""

import numpy as np
import pytest

from numcnn import functional as F
from numcnn import metrics
from numcnn.models import UNet

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


def _fit(**kwargs):
    from numcnn import data, nn, optim, train

    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2, rng=0))
    x = np.zeros((8, 1, 4, 4), np.float32)
    args = dict(model=model, loss_fn=nn.CrossEntropyLoss(),
                optimizer=optim.SGD(model.parameters(), lr=0.1),
                train_loader=data.DataLoader(data.ArrayDataset(x, np.arange(8) % 2), 4),
                quiet=True)
    return train.fit(**{**args, **kwargs})


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="net"), r"fit: model must be a numcnn Module; got 'net'"),
    (dict(loss_fn=np.mean), r"fit: loss_fn must be callable with a backward\(\)"),
    (dict(optimizer=None), r"fit: optimizer must have zero_grad\(\) and step\(\)"),
    (dict(train_loader=None), r"fit: train_loader must be an iterable of \(xb, yb\) batches"),
    (dict(train_loader=[1, 2]), r"train_loader must yield \(xb, yb\) pairs.*batch 0 is int 1"),
    (dict(val_loader="val"), r"fit: val_loader must be an iterable of \(xb, yb\) batches"),
    (dict(metrics=[metrics.Accuracy]),
     r"metrics\[0\] must have reset\(\).*\(an instance, e.g. numcnn.metrics.Accuracy\(\)\); "
     r"got Accuracy"),
    (dict(checkpoint_dir=3), r"fit: checkpoint_dir must be a folder or file path"),
    (dict(resume=3), r"fit: resume must be a folder or file path"),
    (dict(seed=-1), r"fit: seed must be a non-negative int; got -1"),
    (dict(mode=np.array([1, 2])), r"fit: mode must be 'min' or 'max'"),
])
def test_fit_refuses_what_it_cannot_train_with(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        _fit(**kwargs)


def test_io_paths_and_objects(tmp_path):
    from numcnn import io, nn, optim

    model = nn.Linear(3, 2, rng=0)
    with pytest.raises(ValueError, match=r"is a folder; give a file path in it \(such as "):
        io.save_checkpoint(tmp_path, model)
    with pytest.raises(TypeError, match=r"the path must be a str or an os.PathLike .*got 3"):
        io.save_checkpoint(3, model)
    with pytest.raises(TypeError, match=r"the path must be a str or an os.PathLike .*got None"):
        io.load_checkpoint(None, model)
    with pytest.raises(TypeError, match=r"save_checkpoint: model must have a state_dict\(\)"):
        io.save_checkpoint(tmp_path / "m.npz", "model")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError, match=r"clip_grad_norm: params must be a Parameter or an "
                                        r"iterable of them"):
        optim.clip_grad_norm(3, 1.0)
    with pytest.raises(TypeError, match=r"ConvTranspose2d: output_padding must be an int"):
        nn.ConvTranspose2d(2, 2, 3, output_padding=None)
    with pytest.raises(MemoryError, match=r"weights of shape \(1000000000000, 1000000000000\)"):
        nn.Linear(10 ** 12, 10 ** 12)
    with pytest.raises(ValueError, match=r"rng must be a numpy.random.Generator, a "
                                         r"non-negative int seed or None; got -1"):
        nn.Conv2d(1, 1, 1, rng=-1)
    with pytest.raises(TypeError, match=r"UNet: base_channels must be a positive int; got None"):
        UNet(1, 2, base_channels=None)


def test_a_convolution_output_too_big_for_memory_is_a_clear_memory_error():
    x = np.zeros((1, 2, 3, 3), np.float32)
    with pytest.raises(MemoryError, match=r"conv_transpose2d: the output of shape \(1, 1, "):
        F.conv_transpose2d_forward(x, np.zeros((2, 1, 3, 3), np.float32), stride=2, padding=1,
                                   output_padding=1, dilation=10**12)
