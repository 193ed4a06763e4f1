"""The inference path: under no_grad in eval mode, Conv2d -> BatchNorm2d (-> ReLU) runs as
one convolution with the batch norm folded into its weights (numcnn/nn/inference.py)."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numcnn
from numcnn import functional as F
from numcnn import nn
from numcnn.models import UNet
from numcnn.nn import inference


def _randomise_batch_norms(model, rng):
    """Running statistics and affine parameters far from their initial 0/1."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c, dt = m.num_features, m.weight.data.dtype
            m.running_mean = rng.standard_normal(c).astype(dt)
            m.running_var = rng.uniform(0.2, 3.0, c).astype(dt)
            m.weight.data[...] = rng.uniform(0.5, 2.0, c)
            m.bias.data[...] = rng.standard_normal(c)


def _unfolded(model, x):
    """The plain path: every module on its own (grad enabled, eval mode), caches dropped."""
    out = model(x)
    for m in model.modules():
        m._caches.clear()
    return out


@settings(max_examples=25, deadline=None)
@given(C=st.integers(1, 4), F_out=st.integers(1, 5), k=st.sampled_from([1, 3]),
       stride=st.integers(1, 2), bias=st.booleans(), relu=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_folded_conv_batch_norm_matches_the_unfolded_layers(C, F_out, k, stride, bias, relu,
                                                            dtype, seed):
    rng = np.random.default_rng(seed)
    layers = [nn.Conv2d(C, F_out, k, stride=stride, padding=k // 2, bias=bias, dtype=dtype,
                        rng=seed), nn.BatchNorm2d(F_out, dtype=dtype)]
    model = nn.Sequential(*layers, *([nn.ReLU()] if relu else [])).eval()
    _randomise_batch_norms(model, rng)
    x = rng.standard_normal((2, C, 7, 6)).astype(dtype)
    want = _unfolded(model, x)
    with numcnn.no_grad():
        got = model(x)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert got.dtype == dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unet_inference_folds_every_batch_norm_and_matches(dtype):
    rng = np.random.default_rng(1)
    model = UNet(1, 2, 8, 2, rng=0).to(dtype).eval()
    _randomise_batch_norms(model, rng)
    x = rng.standard_normal((2, 1, 16, 16)).astype(dtype)
    want = _unfolded(model, x)
    with mock.patch.object(F, "batch_norm_forward", wraps=F.batch_norm_forward) as bn:
        # the wrapper is not numcnn's own op: nothing folds, every batch norm runs
        with numcnn.no_grad():
            np.testing.assert_array_equal(model(x), want)
        assert bn.call_count == 10
    with numcnn.no_grad():
        got = model(x)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    assert all(not m._caches for m in model.modules()), "no_grad must keep no cache"


def test_folding_only_when_nothing_can_tell():
    conv, bn = nn.Conv2d(2, 3, 3, rng=0), nn.BatchNorm2d(3)
    assert not inference.foldable(conv, bn.eval())          # grad enabled
    with numcnn.no_grad():
        assert inference.foldable(conv, bn)
        assert not inference.foldable(conv, bn.train())     # training mode: batch statistics
        bn.eval()
        with bn.register_forward_hook(lambda *a: None):     # a hook must see the batch norm
            assert not inference.foldable(conv, bn)
        with conv.register_forward_pre_hook(lambda *a: None):
            assert not inference.foldable(conv, bn)
        assert not inference.foldable(nn.ConvTranspose2d(2, 3, 2), bn)
        assert not inference.foldable(conv, nn.BatchNorm2d(3, dtype=np.float64).eval())
        with mock.patch.object(F, "batch_norm_forward", lambda *a: None):
            assert not inference.foldable(conv, bn)          # a swapped batch norm runs


def test_backward_after_a_folded_forward_says_no_grad():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.BatchNorm2d(2), nn.ReLU()).eval()
    x = np.ones((1, 1, 5, 5), np.float32)
    with numcnn.no_grad():
        model(x)
    for m in model:
        with pytest.raises(RuntimeError, match="no_grad"):
            m.backward(np.ones((1, 2, 3, 3), np.float32))


def test_relu_in_place_does_not_touch_the_input():
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False, rng=0), nn.BatchNorm2d(1),
                          nn.ReLU()).eval()
    model[0].weight.data[...] = 1.0
    x = -np.ones((1, 1, 3, 3), np.float32)
    with numcnn.no_grad():
        out = model(x)
    assert (x == -1).all() and (out == 0).all()
