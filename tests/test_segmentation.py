"""Segmentation layers and models: upsampling, concat, Dice, U-Net, FCN."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn import nn
from numcnn.gradcheck import check_function, check_module
from numcnn.models import FCN, UNet


def bilinear_reference(x, s, align_corners):
    """Textbook bilinear interpolation, one output pixel at a time."""
    N, C, H, W = x.shape
    out = np.zeros((N, C, H * s[0], W * s[1]))

    def src(o, n_in, n_out, scale):
        if align_corners:
            return o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        return max((o + 0.5) / scale - 0.5, 0.0)

    for oh in range(H * s[0]):
        for ow in range(W * s[1]):
            r, c = src(oh, H, H * s[0], s[0]), src(ow, W, W * s[1], s[1])
            r0, c0 = min(int(np.floor(r)), H - 1), min(int(np.floor(c)), W - 1)
            r1, c1 = min(r0 + 1, H - 1), min(c0 + 1, W - 1)
            a, b = r - r0, c - c0
            out[:, :, oh, ow] = ((1 - a) * (1 - b) * x[:, :, r0, c0] + (1 - a) * b * x[:, :, r0, c1]
                                 + a * (1 - b) * x[:, :, r1, c0] + a * b * x[:, :, r1, c1])
    return out


@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6),
       st.tuples(st.integers(1, 3), st.integers(1, 3)), st.booleans(), st.integers(0, 99))
def test_bilinear_matches_reference_and_gradcheck(n, c, h, w, s, align, seed):
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    out, _ = F.upsample_bilinear2d_forward(x, s, align)
    np.testing.assert_allclose(out, bilinear_reference(x, s, align), rtol=1e-12, atol=1e-14)
    result = check_function(F.upsample_bilinear2d_forward, F.upsample_bilinear2d_backward,
                            dict(x=x), dict(scale_factor=s, align_corners=align))
    assert result.ok, str(result)


@given(st.integers(1, 6), st.integers(1, 6), st.tuples(st.integers(1, 3), st.integers(1, 3)),
       st.integers(0, 99))
def test_nearest_matches_reference_and_gradcheck(h, w, s, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w))
    out, _ = F.upsample_nearest2d_forward(x, s)
    np.testing.assert_array_equal(out, x.repeat(s[0], axis=2).repeat(s[1], axis=3))
    result = check_function(F.upsample_nearest2d_forward, F.upsample_nearest2d_backward,
                            dict(x=x), dict(scale_factor=s))
    assert result.ok, str(result)


def test_upsample_torch_parity():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype(np.float32)
    for mode, ac in [("nearest", None), ("bilinear", False), ("bilinear", True)]:
        layer = nn.Upsample(2, mode, ac)
        out = layer(x)
        tx = torch.tensor(x, requires_grad=True)
        t = torch.nn.functional.interpolate(tx, scale_factor=2, mode=mode, align_corners=ac)
        np.testing.assert_allclose(out, t.detach().numpy(), rtol=1e-5, atol=1e-6)
        g = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
        t.backward(torch.tensor(g))
        np.testing.assert_allclose(layer.backward(g), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
        assert out.dtype == np.float32


def test_concat_splits_gradient():
    a, b = np.ones((2, 3, 4, 4)), np.zeros((2, 5, 4, 4))
    out, cache = F.concat_forward([a, b])
    assert out.shape == (2, 8, 4, 4)
    g = np.arange(out.size, dtype=float).reshape(out.shape)
    da, db = F.concat_backward(g, cache)
    np.testing.assert_array_equal(da, g[:, :3])
    np.testing.assert_array_equal(db, g[:, 3:])
    with pytest.raises(ValueError, match=r"concat: all inputs must match except along axis 1; "
                                         r"input 1 has shape \(2, 5, 4, 3\)"):
        F.concat_forward([a, np.zeros((2, 5, 4, 3))])


@st.composite
def dice_case(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    N, C = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    H, W = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    targets = rng.integers(0, C, (N, H, W))
    if draw(st.booleans()):
        targets[rng.random(targets.shape) < 0.3] = -100
    return rng.standard_normal((N, C, H, W)), targets, draw(st.sampled_from([0.0, 1.0]))


@given(dice_case())
def test_dice_gradcheck_and_formula(case):
    logits, targets, smooth = case
    loss, _ = F.dice_loss_forward(logits, targets, smooth)
    # the formula, written out directly
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    valid = targets != -100
    dices = []
    for c in range(logits.shape[1]):
        pc, yc = p[:, c][valid], (targets == c)[valid]
        denom = pc.sum() + yc.sum()
        if denom + smooth == 0:  # smooth=0, class absent everywhere: skip the case
            return
        dices.append((2 * (pc * yc).sum() + smooth) / (denom + smooth))
    np.testing.assert_allclose(loss, 1 - np.mean(dices), rtol=1e-10)
    result = check_function(F.dice_loss_forward, F.dice_loss_backward,
                            dict(logits=logits, targets=targets), dict(smooth=smooth))
    assert result.ok, str(result)


def test_dice_perfect_and_worst_predictions():
    t = np.array([[[0, 1], [1, 0]]])
    perfect = np.where(np.arange(2)[None, :, None, None] == t[:, None], 60.0, -60.0)
    assert F.dice_loss_forward(perfect, t, smooth=0.0)[0] == pytest.approx(0.0, abs=1e-12)
    assert F.dice_loss_forward(-perfect, t, smooth=0.0)[0] == pytest.approx(1.0, abs=1e-12)


def test_dice_and_combined_loss_objects():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    targets = rng.integers(0, 3, (2, 4, 4))
    ce, dice = nn.CrossEntropyLoss(), nn.DiceLoss()
    both = nn.DiceCELoss(ce_weight=0.5, dice_weight=2.0)
    total = both(logits, targets)
    np.testing.assert_allclose(total, 0.5 * ce(logits, targets) + 2.0 * dice(logits, targets),
                               rtol=1e-6)
    np.testing.assert_allclose(both.backward(), 0.5 * ce.backward() + 2.0 * dice.backward(),
                               rtol=1e-5, atol=1e-8)
    assert both.backward().dtype == np.float32


@pytest.mark.slow
@pytest.mark.parametrize("up, max_entries", [("transpose", None), ("bilinear", 30)])
def test_small_unet_passes_check_module(up, max_entries):
    """base 4 channels, depth 2, BatchNorm: input and every parameter, float64 (every entry
    for the transposed-conv U-Net; 30 sampled entries per array for the bilinear one)."""
    model = UNet(1, 3, base_channels=4, depth=2, batchnorm=True, up=up, rng=0)
    x = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    result = check_module(model, x, max_entries=max_entries)
    assert result.ok, str(result)
    assert len(result.errors) == 1 + len(list(model.named_parameters()))


def test_fcn_passes_check_module():
    model = FCN(1, 2, base_channels=2, rng=0)
    x = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    result = check_module(model, x)
    assert result.ok, str(result)


def test_unet_shapes_and_input_errors():
    model = UNet(1, 3, base_channels=4, depth=3, rng=0)
    assert model(np.zeros((2, 1, 16, 24), np.float32)).shape == (2, 3, 16, 24)
    with pytest.raises(ValueError, match=r"UNet\(depth=3\): height and width must be multiples "
                                         r"of 8; got 20x24"):
        model(np.zeros((1, 1, 20, 24), np.float32))
    with pytest.raises(ValueError, match=r"expected 1 channels at axis 1 \(NCHW\); got input "
                                         r"of shape \(1, 16, 16, 1\)"):
        model(np.zeros((1, 16, 16, 1), np.float32))
    with pytest.raises(ValueError, match="up must be 'transpose' or 'bilinear'"):
        UNet(1, 2, up="pixelshuffle")


def test_unet_state_dict_names_follow_structure():
    keys = list(UNet(1, 2, base_channels=4, depth=1, rng=0).state_dict())
    assert keys[0] == "pools.0.kernel_size" or keys[0] == "encoders.0.0.weight"
    assert "ups.0.weight" in keys and "decoders.0.0.weight" in keys and keys[-1] == "head.bias"


def test_dice_without_smoothing_is_finite_for_an_absent_class():
    # class 2 is in no target and its probability underflows to exactly 0 in float32
    logits = np.zeros((1, 3, 2, 2), np.float32)
    logits[:, 2] = -110.0
    targets = np.array([[[0, 1], [1, 0]]])
    loss, cache = F.dice_loss_forward(logits, targets, smooth=0.0)
    assert np.isfinite(loss) and np.all(np.isfinite(F.dice_loss_backward(1.0, cache)))
