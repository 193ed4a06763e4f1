"""Softmax, log-softmax and softmax cross-entropy (per image, per pixel, any number of
spatial axes; class indices or probabilities) against per-row loops, numerical gradients
and PyTorch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn import nn
from numcnn.gradcheck import check_function
from numcnn.reference import loss as ref


@st.composite
def ce_case(draw):
    """Logits (N, C, d1, ..., dk) with k = 0..3; class indices (some ignored) or probability
    targets; every reduction, smoothing and class weights."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    spatial = draw(st.sampled_from([(), (1, 1), (3, 2), (4, 4), (3,), (2, 1, 3)]))
    logits = rng.standard_normal((N, C, *spatial)) * 2
    kwargs = dict(reduction=draw(st.sampled_from(["mean", "sum", "none"])),
                  label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.5])))
    if draw(st.booleans()):
        targets = F.softmax(rng.standard_normal(logits.shape) * 2)
    else:
        targets = rng.integers(0, C, size=(N, *spatial))
        if draw(st.booleans()):
            targets[rng.random(targets.shape) < 0.3] = -100
    if draw(st.booleans()):
        kwargs["weight"] = rng.random(C) + 0.1
    return logits, targets, kwargs


@given(ce_case())
def test_cross_entropy_matches_loop_and_gradcheck(case):
    logits, targets, kw = case
    loss, _ = F.softmax_cross_entropy_forward(logits, targets, **kw)
    np.testing.assert_allclose(loss, ref.softmax_cross_entropy_forward(logits, targets, **kw)[0],
                               rtol=1e-10, atol=1e-12)
    # the targets go in kwargs: check_function differentiates every float input
    result = check_function(F.softmax_cross_entropy_forward, F.softmax_cross_entropy_backward,
                            dict(logits=logits), dict(kw, targets=targets))
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


def test_probability_targets_of_one_hot_equal_class_indices():
    """Soft labels generalise class indices: one-hot probabilities give the same loss and
    gradient, except that 'mean' divides by the number of positions, not the weights' sum."""
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((3, 4, 2, 5))
    t = rng.integers(0, 4, (3, 2, 5))
    onehot = np.moveaxis(np.eye(4)[t], -1, 1)
    w = rng.random(4) + 0.5
    for red in ["sum", "none"]:
        a, ca = F.softmax_cross_entropy_forward(logits, t, w, reduction=red, label_smoothing=0.2)
        b, cb = F.softmax_cross_entropy_forward(logits, onehot, w, reduction=red,
                                                label_smoothing=0.2)
        np.testing.assert_allclose(a, b, rtol=1e-12)
        g = rng.standard_normal(np.shape(a)) if red == "none" else 0.7
        np.testing.assert_allclose(F.softmax_cross_entropy_backward(g, ca),
                                   F.softmax_cross_entropy_backward(g, cb), rtol=1e-12,
                                   atol=1e-15)
    mean, _ = F.softmax_cross_entropy_forward(logits, onehot, w)
    total, _ = F.softmax_cross_entropy_forward(logits, onehot, w, reduction="sum")
    assert mean == pytest.approx(total / t.size, rel=1e-12)


def test_torch_parity_cross_entropy_any_rank_and_probabilities():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for spatial in [(), (5,), (2, 3, 4)]:
        logits = rng.standard_normal((3, 4, *spatial))
        weight = rng.random(4) + 0.5
        t = rng.integers(0, 4, (3, *spatial))
        t.reshape(-1)[::4] = 2
        probs = F.softmax(rng.standard_normal(logits.shape) * 3)
        for targets, kw in [(t, dict(ignore_index=2)), (probs, {})]:
            for red in ["mean", "sum", "none"]:
                loss, cache = F.softmax_cross_entropy_forward(
                    logits, targets, weight, reduction=red, label_smoothing=0.15, **kw)
                tl = torch.tensor(logits, requires_grad=True)
                tloss = torch.nn.functional.cross_entropy(
                    tl, torch.tensor(targets), torch.tensor(weight), reduction=red,
                    label_smoothing=0.15, **kw)
                g = rng.standard_normal(tloss.shape)
                tloss.backward(torch.tensor(g))
                np.testing.assert_allclose(loss, tloss.detach().numpy(), rtol=1e-10)
                dz = F.softmax_cross_entropy_backward(g if red == "none" else float(g), cache)
                np.testing.assert_allclose(dz, tl.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_nan_never_becomes_a_zero_loss():
    """A NaN class weight is refused (it used to give a loss of 0.0); NaN logits give a NaN
    loss and NaN gradients, so that divergence is visible."""
    logits = np.zeros((2, 3))
    t = np.array([0, 2])
    with pytest.raises(ValueError, match=r"weight must be finite and >= 0.*nan"):
        F.softmax_cross_entropy_forward(logits, t, weight=np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match=r"weight must be finite and >= 0"):
        F.softmax_cross_entropy_forward(logits, t, weight=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match=r"weight must be finite and >= 0"):
        nn.CrossEntropyLoss(weight=[1.0, np.inf, 1.0])
    logits[1, 1] = np.nan
    for targets in (t, F.softmax(np.zeros((2, 3)))):
        loss, cache = F.softmax_cross_entropy_forward(logits, targets)
        assert np.isnan(loss)
        assert np.isnan(F.softmax_cross_entropy_backward(1.0, cache)[1]).all()


def test_cross_entropy_argument_errors():
    logits = np.zeros((2, 3, 4))
    t = np.zeros((2, 4), np.int64)
    cases = [
        (dict(label_smoothing=1.5), ValueError, r"label_smoothing must be a finite number in "
                                                r"\[0.0, 1.0\]; got 1.5"),
        (dict(label_smoothing="a"), TypeError, "label_smoothing must be a finite number"),
        (dict(ignore_index=1.5), TypeError, "ignore_index must be an int; got 1.5"),
        (dict(reduction=None), ValueError, "reduction must be one of"),
    ]
    for kw, err, msg in cases:
        with pytest.raises(err, match=msg):
            F.softmax_cross_entropy_forward(logits, t, **kw)
    with pytest.raises(ValueError, match=r"probability targets must have the logits' shape "
                                         r"\(2, 3, 4\); got \(2, 3, 5\)"):
        F.softmax_cross_entropy_forward(logits, np.zeros((2, 3, 5)))
    with pytest.raises(TypeError, match=r"targets has dtype float32 but logits has float64"):
        F.softmax_cross_entropy_forward(logits, np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="ignore_index applies to class-index targets only"):
        F.softmax_cross_entropy_forward(logits, np.zeros((2, 3, 4)), ignore_index=0)
    with pytest.raises(ValueError, match=r"at least one class on axis 1"):
        F.softmax_cross_entropy_forward(np.zeros((2, 0)), np.zeros(2, np.int64))
    _, cache = F.softmax_cross_entropy_forward(logits, t)
    with pytest.raises(TypeError, match=r"dloss must be a real number .*got str"):
        F.softmax_cross_entropy_backward("1", cache)
    with pytest.raises(TypeError, match=r"dloss must be a real number .*got ndarray of shape"):
        F.softmax_cross_entropy_backward(np.ones(2), cache)
    _, cache = F.softmax_cross_entropy_forward(logits, t, reduction="none")
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape \(2, 4\)"):
        F.softmax_cross_entropy_backward(np.ones(3), cache)


# ---------------------------------------------------------------------- softmax, log-softmax
@given(st.integers(0, 2**32 - 1), st.sampled_from([(4,), (2, 3), (2, 3, 1, 4), (1, 5, 2)]),
       st.data())
def test_softmax_pairs_gradcheck_on_any_axis(seed, shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    p, _ = F.softmax_forward(x, dim)
    l, _ = F.log_softmax_forward(x, dim)
    np.testing.assert_allclose(p.sum(axis=dim), 1.0, rtol=1e-12)
    np.testing.assert_allclose(l, np.log(p), rtol=1e-12, atol=1e-12)
    for op in ("softmax", "log_softmax"):
        result = check_function(getattr(F, f"{op}_forward"), getattr(F, f"{op}_backward"),
                                dict(x=x), dict(dim=dim))
        assert result.ok, f"{op}\n{result}"


def test_softmax_torch_parity_and_modules():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(6).standard_normal((2, 3, 4, 5)).astype(np.float32)
    g = np.random.default_rng(7).standard_normal(x.shape).astype(np.float32)
    for dim in (0, 1, -1, 2):
        for ours, theirs in [(nn.Softmax(dim), torch.nn.Softmax(dim)),
                             (nn.LogSoftmax(dim), torch.nn.LogSoftmax(dim))]:
            out = ours(x)
            tx = torch.tensor(x, requires_grad=True)
            t = theirs(tx)
            t.backward(torch.tensor(g))
            assert out.dtype == np.float32 and repr(ours).endswith(f"(dim={dim})")
            np.testing.assert_allclose(out, t.detach().numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(ours.backward(g), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_softmax_errors():
    with pytest.raises(TypeError, match="softmax: x must be a numpy array; got list"):
        F.softmax([1.0, 2.0])
    with pytest.raises(TypeError, match="log_softmax: x must be a floating-point array"):
        F.log_softmax_forward(np.arange(3))
    with pytest.raises(ValueError, match=r"dim must be an int in \[-2, 1\]; got 2"):
        F.softmax_forward(np.zeros((2, 3)), dim=2)
    with pytest.raises(TypeError, match=r"dim must be an int"):
        nn.Softmax(dim=1.0)
    _, cache = F.softmax_forward(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="cache must be the LogSoftmaxCache .*got SoftmaxCache"):
        F.log_softmax_backward(np.zeros((2, 3)), cache)
    empty, _ = F.softmax_forward(np.zeros((2, 0)))
    assert empty.shape == (2, 0)
