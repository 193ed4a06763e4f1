"""Softmax cross-entropy, per image and per pixel, against a per-sample loop and gradients."""

import numpy as np
import pytest
import reference as ref
from hypothesis import given
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn.gradcheck import check_function


@st.composite
def ce_case(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    spatial = draw(st.sampled_from([(), (1, 1), (3, 2), (4, 4)]))
    logits = rng.standard_normal((N, C, *spatial)) * 2
    targets = rng.integers(0, C, size=(N, *spatial))
    if draw(st.booleans()):
        targets[rng.random(targets.shape) < 0.3] = -100
    kwargs = dict(reduction=draw(st.sampled_from(["mean", "sum", "none"])),
                  label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.5])))
    if draw(st.booleans()):
        kwargs["weight"] = rng.random(C) + 0.1
    return logits, targets, kwargs


@given(ce_case())
def test_cross_entropy_matches_loop_and_gradcheck(case):
    logits, targets, kw = case
    loss, _ = F.softmax_cross_entropy_forward(logits, targets, **kw)
    np.testing.assert_allclose(loss, ref.cross_entropy(logits, targets, **kw), rtol=1e-10,
                               atol=1e-12)
    result = check_function(F.softmax_cross_entropy_forward, F.softmax_cross_entropy_backward,
                            dict(logits=logits, targets=targets), kw)
    assert result.ok, str(result)


def test_extreme_logits_are_finite():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=np.float32)
    targets = np.array([1, 2])
    loss, cache = F.softmax_cross_entropy_forward(logits, targets)
    dz = F.softmax_cross_entropy_backward(1.0, cache)
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    np.testing.assert_allclose(loss, (2e4 + 0.0) / 2, rtol=1e-6)


def test_all_ignored_gives_zero_loss_and_gradient():
    logits = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    targets = np.full((2, 4, 4), 255)
    loss, cache = F.softmax_cross_entropy_forward(logits, targets, ignore_index=255)
    assert loss == 0.0
    assert np.all(F.softmax_cross_entropy_backward(1.0, cache) == 0)


def test_per_pixel_equals_per_image_on_moved_axis():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((2, 4, 3, 5))
    targets = rng.integers(0, 4, (2, 3, 5))
    a, _ = F.softmax_cross_entropy_forward(logits, targets)
    b, _ = F.softmax_cross_entropy_forward(np.moveaxis(logits, 1, -1).reshape(-1, 4),
                                           targets.reshape(-1))
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_gradient_rows_sum_to_zero_and_dtype_kept():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((5, 7)).astype(np.float32)
    _, cache = F.softmax_cross_entropy_forward(logits, rng.integers(0, 7, 5),
                                               label_smoothing=0.1)
    dz = F.softmax_cross_entropy_backward(1.0, cache)
    assert dz.dtype == np.float32
    np.testing.assert_allclose(dz.sum(axis=1), 0, atol=1e-7)


def test_torch_parity_cross_entropy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((3, 4, 5, 6))
    targets = rng.integers(0, 4, (3, 5, 6))
    targets[0, :2] = 7
    weight = rng.random(4) + 0.5
    for red in ["mean", "sum", "none"]:
        loss, cache = F.softmax_cross_entropy_forward(logits, targets, weight, 7, red, 0.2)
        tl = torch.tensor(logits, requires_grad=True)
        tloss = torch.nn.functional.cross_entropy(tl, torch.tensor(targets), torch.tensor(weight),
                                                  ignore_index=7, reduction=red,
                                                  label_smoothing=0.2)
        g = rng.standard_normal(tloss.shape)
        tloss.backward(torch.tensor(g))
        np.testing.assert_allclose(loss, tloss.detach().numpy(), rtol=1e-10)
        dz = F.softmax_cross_entropy_backward(g if red == "none" else float(g), cache)
        np.testing.assert_allclose(dz, tl.grad.numpy(), rtol=1e-9, atol=1e-12)
