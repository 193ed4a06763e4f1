"""Segmentation layers and models: upsampling, concat, Dice, U-Net, FCN."""

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn import nn
from numcnn.gradcheck import check_function, check_module
from numcnn.models import FCN, UNet
from numcnn.reference import upsample as ref


@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6),
       st.tuples(st.integers(1, 3), st.integers(1, 3)), st.booleans(), st.integers(0, 99))
def test_bilinear_matches_reference_and_gradcheck(n, c, h, w, s, align, seed):
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    out, _ = F.upsample_bilinear2d_forward(x, s, align)
    want, _ = ref.interpolate_forward(x, scale_factor=s, mode="bilinear", align_corners=align)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-14)
    result = check_function(F.upsample_bilinear2d_forward, F.upsample_bilinear2d_backward,
                            dict(x=x), dict(scale_factor=s, align_corners=align))
    assert result.ok, str(result)


@given(st.integers(1, 6), st.integers(1, 6), st.tuples(st.integers(1, 3), st.integers(1, 3)),
       st.integers(0, 99))
def test_nearest_matches_reference_and_gradcheck(h, w, s, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w))
    out, cache = F.upsample_nearest2d_forward(x, s)
    np.testing.assert_array_equal(out, x.repeat(s[0], axis=2).repeat(s[1], axis=3))
    assert cache.block == s  # integer factors take the block-copy kernels
    result = check_function(F.upsample_nearest2d_forward, F.upsample_nearest2d_backward,
                            dict(x=x), dict(scale_factor=s))
    assert result.ok, str(result)


@st.composite
def resize_case(draw):
    """A size or a scale factor (integer or not, up or down) and any rule: PyTorch's modes
    or ONNX's coordinate modes (with every nearest rounding, and tf_crop_and_resize)."""
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(
        (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W))
    if draw(st.booleans()):
        kw = dict(zip(("mode", "align_corners"), draw(st.sampled_from(
            [("nearest", None), ("nearest-exact", None), ("bilinear", False),
             ("bilinear", True)]))))
    else:
        ctm = draw(st.sampled_from(F.upsample.COORDINATE_MODES))
        kw = dict(coordinate_transformation_mode=ctm,
                  mode=draw(st.sampled_from(["nearest", "bilinear"])))
        if kw["mode"] == "nearest":
            kw["nearest_mode"] = draw(st.sampled_from(F.upsample.NEAREST_MODES))
        if ctm == "tf_crop_and_resize":
            kw.update(roi=((0.2, 1.1), (-0.2, 0.9)), extrapolation_value=-3.0)
    if draw(st.booleans()):
        kw["size"] = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    else:
        s = (draw(st.sampled_from([0.5, 1, 1.5, 2, 2.5, 3])),
             draw(st.sampled_from([0.7, 1, 2, 7 / 3])))
        kw["scale_factor"] = s if H * s[0] >= 1 and W * s[1] >= 1 else (2, 2)
    return x, kw


@given(resize_case())
def test_interpolate_gradcheck(case):
    x, kw = case
    result = check_function(F.interpolate_forward, F.interpolate_backward, dict(x=x), kw)
    assert result.ok, str(result)


def test_interpolate_downsampling_and_odd_sizes():
    """Nearest reads floor(o * n_in / n_out); bilinear with align_corners=True keeps the
    corners; a 2x2 -> 1x1 bilinear resize (half_pixel) is the mean of the four pixels."""
    x = np.arange(2 * 5.0).reshape(1, 1, 2, 5)
    out, _ = F.interpolate_forward(x, size=(2, 3))
    np.testing.assert_array_equal(out[0, 0], x[0, 0][:, [0, 1, 3]])   # floor(o * 5/3)
    out, _ = F.interpolate_forward(x, size=(3, 7), mode="bilinear", align_corners=True)
    assert out[0, 0, 0, 0] == x[0, 0, 0, 0] and out[0, 0, -1, -1] == x[0, 0, -1, -1]
    out, _ = F.interpolate_forward(x[..., :2], size=1, mode="bilinear")
    np.testing.assert_allclose(out[0, 0, 0, 0], x[0, 0, :, :2].mean())
    out, _ = F.interpolate_forward(x, scale_factor=0.5, mode="nearest-exact")
    np.testing.assert_array_equal(out[0, 0], x[0, 0, [1]][:, [1, 3]])  # floor((o + .5) * 2)


def test_interpolate_tf_crop_and_resize():
    """ONNX's crop: the roi maps onto the output's corners; outside the input the output is
    extrapolation_value, and no gradient flows from there."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, cache = F.interpolate_forward(x, size=(3, 3), mode="bilinear",
                                       coordinate_transformation_mode="tf_crop_and_resize",
                                       roi=((0.0, 1.0), (0.5, 1.5)), extrapolation_value=-1.0)
    rows = np.array([0.0, 1.5, 3.0])                          # x_original = 3 * (0, 1/2, 1)
    np.testing.assert_allclose(out[0, 0, :, 0], 4 * rows + 1.5)   # x[h, w] = 4 h + w
    np.testing.assert_allclose(out[0, 0, :, 1], 4 * rows + 3.0)   # w = 1.5 + 3 * (0, 1/2)
    assert np.all(out[0, 0, :, 2] == -1.0)                   # w = 4.5: past the input
    dx = F.interpolate_backward(np.ones_like(out), cache)
    assert dx.sum() == pytest.approx(6.0)                    # six outputs inside, weights sum to 1


def test_interpolate_bad_arguments():
    x = np.zeros((1, 1, 4, 4))
    for kw, err, msg in [
        (dict(), ValueError, "exactly one of size and scale_factor"),
        (dict(size=2, scale_factor=2), ValueError, "exactly one of size and scale_factor"),
        (dict(scale_factor=0.1), ValueError, r"turns the input's 4x4 into 0x0"),
        (dict(scale_factor=-2), ValueError, r"scale_factor must be a finite number in \(0"),
        (dict(scale_factor=float("nan")), ValueError, "scale_factor must be a finite number"),
        (dict(size=(2, 0)), ValueError, "size must be >= 1"),
        (dict(size=2, mode="bicubic"), ValueError, "mode must be one of"),
        (dict(size=2, align_corners=True), ValueError, "align_corners only applies"),
        (dict(size=2, recompute_scale_factor=True), ValueError, "not meaningful"),
        (dict(size=2, nearest_mode="floor"), ValueError, "coordinate_transformation_mode too"),
        (dict(size=2, coordinate_transformation_mode="half"), ValueError, "must be one of"),
        (dict(size=2, mode="nearest-exact", coordinate_transformation_mode="asymmetric"),
         ValueError, "nearest-exact' is PyTorch's"),
        (dict(size=2, coordinate_transformation_mode="asymmetric", nearest_mode="up"),
         ValueError, "nearest_mode must be one of"),
        (dict(size=2, coordinate_transformation_mode="asymmetric", roi=((0, 1), (0, 1))),
         ValueError, "only apply to coordinate_transformation_mode='tf_crop_and_resize'"),
        (dict(size=2, coordinate_transformation_mode="tf_crop_and_resize", roi=(0, 1)),
         ValueError, r"roi must be \(\(h_start, h_end\)"),
    ]:
        with pytest.raises(err, match=msg):
            F.interpolate_forward(x, **kw)
    with pytest.raises(TypeError, match=r"x must be float32 or float64 .*got dtype float16"):
        F.interpolate_forward(x.astype(np.float16), size=2)
    with pytest.raises(ValueError, match=r"x must be 4-D \(N, C, H, W\)"):
        F.interpolate_forward(x[0], size=2)
    _, cache = F.interpolate_forward(x, size=2)
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape "
                                         r"\(1, 1, 2, 2\)"):
        F.interpolate_backward(np.zeros((1, 1, 4, 4)), cache)


def torch_interpolate(torch, x, g, kw):
    tx = torch.tensor(x, requires_grad=True)
    t = torch.nn.functional.interpolate(tx, **kw)
    t.backward(torch.tensor(g))
    return t.detach().numpy(), tx.grad.numpy()


TORCH_RESIZES = [dict(scale_factor=2), dict(scale_factor=3), dict(scale_factor=(2, 3)),
                 dict(scale_factor=1.5), dict(scale_factor=0.5), dict(scale_factor=(7 / 3, 0.6)),
                 dict(scale_factor=2.5, recompute_scale_factor=True), dict(size=(9, 4)),
                 dict(size=(3, 17)), dict(size=1), dict(size=(5, 7))]


@pytest.mark.parametrize("resize", TORCH_RESIZES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_interpolate_torch_parity(resize, dtype):
    """Every PyTorch mode, up and down, by a scale (recomputed or not) or to a size, on odd
    input sizes: the nearest indices are exactly PyTorch's, bilinear within rounding."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for H, W in [(5, 7), (4, 3), (2, 6)]:
        x = rng.standard_normal((2, 3, H, W)).astype(dtype)
        for mode, ac in [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                         ("bilinear", True)]:
            kw = dict(resize, mode=mode, align_corners=ac)
            out, cache = F.interpolate_forward(x, **kw)
            g = rng.standard_normal(out.shape).astype(dtype)
            t_out, t_dx = torch_interpolate(torch, x, g, kw)
            assert out.dtype == dtype and out.shape == t_out.shape, (H, W, kw)
            if mode != "bilinear":
                np.testing.assert_array_equal(out, t_out, err_msg=str((H, W, kw)))
            np.testing.assert_allclose(out, t_out, rtol=tol, atol=tol * 4, err_msg=str(kw))
            np.testing.assert_allclose(F.interpolate_backward(g, cache), t_dx, rtol=tol,
                                       atol=tol * 40, err_msg=str((H, W, kw)))


def test_upsample_torch_parity():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype(np.float32)
    for kw in [dict(scale_factor=2), dict(scale_factor=2, mode="bilinear", align_corners=False),
               dict(scale_factor=2, mode="bilinear", align_corners=True),
               dict(size=(4, 9), mode="bilinear"), dict(scale_factor=1.5, mode="nearest-exact")]:
        layer, t_layer = nn.Upsample(**kw), torch.nn.Upsample(**kw)
        out = layer(x)
        tx = torch.tensor(x, requires_grad=True)
        t = t_layer(tx)
        np.testing.assert_allclose(out, t.detach().numpy(), rtol=1e-5, atol=1e-6)
        g = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
        t.backward(torch.tensor(g))
        np.testing.assert_allclose(layer.backward(g), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
        assert out.dtype == np.float32
        assert repr(layer).startswith("Upsample(") and f"mode={layer.mode!r}" in repr(layer)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample()
    with pytest.raises(ValueError, match="align_corners only applies to mode='bilinear'"):
        nn.Upsample(scale_factor=2, align_corners=False)


def onnx_resize(x, kw):
    """ONNX's own reference implementation of Resize (opset 19) on the same arguments."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    attrs = dict(mode="linear" if kw["mode"] == "bilinear" else "nearest",
                 coordinate_transformation_mode=kw["coordinate_transformation_mode"])
    if "nearest_mode" in kw:
        attrs["nearest_mode"] = kw["nearest_mode"]
    feeds = {"X": x}
    if "roi" in kw:
        (h0, h1), (w0, w1) = kw["roi"]
        feeds["roi"] = np.array([0, 0, h0, w0, 1, 1, h1, w1], np.float32)
        attrs["extrapolation_value"] = kw["extrapolation_value"]
    if "size" in kw:
        feeds["sizes"] = np.array([*x.shape[:2], *kw["size"]], np.int64)
    else:
        feeds["scales"] = np.array([1, 1, *kw["scale_factor"]], np.float32)
    names = [n if n in feeds else "" for n in ("X", "roi", "scales", "sizes")]
    info = lambda n, t: helper.make_tensor_value_info(n, t, None)  # noqa: E731
    graph = helper.make_graph(
        [helper.make_node("Resize", names, ["Y"], **attrs)], "resize",
        [info(n, TensorProto.INT64 if n == "sizes" else TensorProto.FLOAT) for n in feeds],
        [info("Y", TensorProto.FLOAT)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    return ReferenceEvaluator(model).run(None, feeds)[0]


@given(resize_case())
@example((np.array([[[[0.12573022, -0.13210486, 0.64042265, 0.10490012, -0.53566937]]]]),
          dict(coordinate_transformation_mode="tf_crop_and_resize", mode="nearest",
               nearest_mode="round_prefer_floor", roi=((0.2, 1.1), (-0.2, 0.9)),
               extrapolation_value=-3.0, scale_factor=(2, 2))))
def test_interpolate_matches_onnx_reference(case):
    """ONNX's modes against onnx.reference's Resize, the implementation ONNX's node tests
    were generated with (float32 scales and roi, as an ONNX file stores them).  The example:
    output column 3 reads x_original = 3 (0.9 + 0.2) 4 / 4 - 0.2 * 4, 2.5 in real numbers;
    the reference's float32 roi arithmetic gives 2.5000002 (round_prefer_floor: input
    column 3), float64 gives the tie 2.5 (column 2)."""
    x, kw = case
    if "coordinate_transformation_mode" not in kw:
        kw = dict(kw, coordinate_transformation_mode="half_pixel", align_corners=None,
                  mode="bilinear" if kw["mode"] == "bilinear" else "nearest")
        kw.pop("align_corners")
    if "scale_factor" in kw:
        if kw["coordinate_transformation_mode"] == "tf_crop_and_resize":
            kw["size"] = (3, 5)   # the reference ignores the roi when it sizes from scales
            del kw["scale_factor"]
        else:
            kw["scale_factor"] = tuple(float(np.float32(s)) for s in kw["scale_factor"])
    if "roi" in kw:
        kw["roi"] = tuple(tuple(float(np.float32(v)) for v in p) for p in kw["roi"])
    x = x.astype(np.float32)
    out, _ = F.interpolate_forward(x, **kw)
    np.testing.assert_allclose(out, onnx_resize(x, kw), rtol=1e-5, atol=1e-6)


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
    with pytest.raises(TypeError, match="xs\\[1\\] has dtype float32 but xs\\[0\\] has float64"):
        F.concat_forward([a, b.astype(np.float32)])       # never upcast silently
    with pytest.raises(ValueError, match=r"concat_backward: dout must have the forward output's "
                                         r"shape \(2, 8, 4, 4\); got \(2, 7, 4, 4\)"):
        F.concat_backward(g[:, 1:], cache)
    with pytest.raises(ValueError, match=r"axis must be an int in \[-4, 3\]; got 4"):
        F.concat_forward([a, b], axis=4)
    with pytest.raises(TypeError, match="expected a non-empty list of arrays"):
        F.concat_forward(a)
    da, db = F.concat_backward(g, F.concat_forward([a, b], axis=-3)[1])
    assert da.shape == a.shape and db.shape == b.shape


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
        assume(denom + smooth > 0)  # smooth=0 and a class absent everywhere: 0/0, another test
        dices.append((2 * (pc * yc).sum() + smooth) / (denom + smooth))
    np.testing.assert_allclose(loss, 1 - np.mean(dices), rtol=1e-10)
    result = check_function(F.dice_loss_forward, F.dice_loss_backward,
                            dict(logits=logits, targets=targets), dict(smooth=smooth))
    assert result.ok, str(result)


def test_dice_nan_is_never_a_zero_loss():
    """NaN logits give a NaN loss (they used to give 0.0, hiding divergence); a NaN or
    negative smooth is refused.  Dice takes any number of spatial axes."""
    rng = np.random.default_rng(3)
    logits, t = rng.standard_normal((2, 3, 4, 5)), rng.integers(0, 3, (2, 4, 5))
    bad = logits.copy()
    bad[0, 1, 2, 3] = np.nan
    loss, cache = F.dice_loss_forward(bad, t)
    assert np.isnan(loss) and np.isnan(F.dice_loss_backward(1.0, cache)).any()
    for smooth, err in [(float("nan"), ValueError), (-1.0, ValueError), ("1", TypeError)]:
        with pytest.raises(err, match="smooth must be a finite number"):
            F.dice_loss_forward(logits, t, smooth=smooth)
        with pytest.raises(err, match="DiceLoss: smooth must be a finite number"):
            nn.DiceLoss(smooth=smooth)
    flat, _ = F.dice_loss_forward(logits.reshape(2, 3, 20), t.reshape(2, 20))
    assert flat == pytest.approx(F.dice_loss_forward(logits, t)[0], rel=1e-12)
    result = check_function(F.dice_loss_forward, F.dice_loss_backward,
                            dict(logits=logits.reshape(2, 3, 4, 5, 1)), dict(targets=t[..., None]))
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
    assert keys[0] == "encoders.0.0.weight"
    assert "ups.0.weight" in keys and "decoders.0.0.weight" in keys and keys[-1] == "head.bias"


def test_dice_without_smoothing_is_finite_for_an_absent_class():
    # class 2 is in no target and its probability underflows to exactly 0 in float32
    logits = np.zeros((1, 3, 2, 2), np.float32)
    logits[:, 2] = -110.0
    targets = np.array([[[0, 1], [1, 0]]])
    loss, cache = F.dice_loss_forward(logits, targets, smooth=0.0)
    assert np.isfinite(loss) and np.all(np.isfinite(F.dice_loss_backward(1.0, cache)))
