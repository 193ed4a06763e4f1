"""numcnn.interpret: saliency is a true input gradient, Grad-CAM is the map of its formula,
and both leave the model exactly as they found it."""

import numpy as np
import pytest

from numcnn import interpret, nn
from numcnn.gradcheck import numerical_gradient, relative_error
from numcnn.models import SeedCNN, UNet


def tiny_classifier(dtype=np.float64, seed=0) -> nn.Sequential:
    """conv 3x3 -> 3, ReLU, max-pool 2, flatten, linear -> 4 classes; input (N, 2, 6, 6)."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, dtype=dtype, rng=rng), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 3 * 3, 4, dtype=dtype,
                                                                 rng=rng))


def tiny_unet(dtype=np.float64) -> UNet:
    model = UNet(1, 3, base_channels=2, depth=1, rng=0).to(dtype)
    # give BatchNorm non-trivial running statistics, so eval mode is not the identity
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean[...] = np.linspace(-0.2, 0.3, m.num_features)
            m.running_var[...] = np.linspace(0.5, 2.0, m.num_features)
    return model


# --------------------------------------------------------------------------------- saliency
def test_saliency_is_the_numerical_gradient_of_the_class_score():
    model = tiny_classifier().eval()
    x = np.random.default_rng(1).standard_normal((3, 2, 6, 6))
    classes = np.array([0, 3, 1])
    grad = interpret.saliency(model, x, classes)

    def score(v):  # S = sum_n logits[n, c_n]
        return model.forward(v)[np.arange(3), classes].sum()

    numerical = numerical_gradient(score, x, 1.0)
    assert grad.shape == x.shape and grad.dtype == np.float64
    assert relative_error(grad, numerical) < 1e-7


def test_saliency_of_a_segmenter_within_a_mask_is_the_numerical_gradient():
    model = tiny_unet().eval()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 1, 4, 4))
    mask = rng.random((2, 4, 4)) > 0.5
    grad = interpret.saliency(model, x, [2, 1], mask=mask)

    def score(v):  # S = sum over the masked pixels of logit 2 (image 0) and 1 (image 1)
        out = model.forward(v)
        return (out[0, 2] * mask[0]).sum() + (out[1, 1] * mask[1]).sum()

    numerical = numerical_gradient(score, x, 1.0)
    assert relative_error(grad, numerical) < 1e-7


def test_saliency_with_an_empty_mask_is_zero():
    model = tiny_unet()
    x = np.random.default_rng(3).standard_normal((1, 1, 4, 4))
    grad = interpret.saliency(model, x, 1, mask=np.zeros((4, 4), bool))
    assert np.array_equal(grad, np.zeros_like(x))


# --------------------------------------------------------------------------------- Grad-CAM
def hand_model() -> nn.Sequential:
    """conv 1x1 with weights (1, -1) -> two channels relu(x) and relu(-x); flatten; a linear
    layer whose class-1 row gives dS/dA directly."""
    model = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False, dtype=np.float64), nn.ReLU(),
                          nn.Flatten(), nn.Linear(8, 2, bias=False, dtype=np.float64))
    model[0].weight.data[...] = np.array([1.0, -1.0]).reshape(2, 1, 1, 1)
    model[3].weight.data[...] = np.array([[0, 0, 0, 0, 0, 0, 0, 0],
                                          [1, 2, 3, 4, -1, -1, -1, -1]], dtype=np.float64)
    return model


def test_grad_cam_of_a_hand_built_model_matches_the_map_computed_by_hand():
    # x = [[1, -2], [3, 0.5]]:  A_0 = relu(x) = [[1, 0], [3, .5]],  A_1 = relu(-x) = [[0, 2],
    # [0, 0]].  S_1 = sum(W[1, :4] * A_0) + sum(W[1, 4:] * A_1), so dS/dA_0 = [[1, 2], [3, 4]]
    # (mean 2.5) and dS/dA_1 = -1 everywhere (mean -1):
    # cam = relu(2.5 A_0 - A_1) = [[2.5, 0], [7.5, 1.25]]; normalised by its max 7.5.
    model = hand_model()
    x = np.array([[[[1.0, -2.0], [3.0, 0.5]]]])
    raw = interpret.grad_cam(model, x, 1, layer=model[1], normalize=False)
    np.testing.assert_allclose(raw[0], [[2.5, 0.0], [7.5, 1.25]], rtol=1e-12)
    cam = interpret.grad_cam(model, x, 1, layer="1")
    np.testing.assert_allclose(cam[0], [[1 / 3, 0.0], [1.0, 1 / 6]], rtol=1e-12)
    # class 0 has all-zero weights: no evidence anywhere, and no division by zero
    assert np.array_equal(interpret.grad_cam(model, x, 0, layer="1"), np.zeros((1, 2, 2)))


def test_grad_cam_of_seedcnn_matches_the_formula_computed_layer_by_layer():
    model = SeedCNN(in_channels=1, num_classes=5, input_size=8, rng=0).eval()
    x = np.random.default_rng(4).random((2, 1, 8, 8)).astype(np.float32)
    classes = np.array([4, 1])
    cam = interpret.grad_cam(model, x, classes, layer=model[4], normalize=False,
                             upsample="nearest")
    # by hand: run the head and the tail of the chain separately
    a = x
    for m in list(model)[:5]:
        a = m(a)                                          # A: after the second ReLU, 4x4
    logits = a
    for m in list(model)[5:]:
        logits = m(logits)
    dout = np.zeros_like(logits)
    dout[np.arange(2), classes] = 1
    g = dout
    for m in reversed(list(model)[5:]):
        g = m.backward(g)                                 # dS/dA
    alpha = g.mean(axis=(2, 3))
    expected = np.maximum((alpha[:, :, None, None] * a).sum(axis=1), 0)
    expected = expected.repeat(2, axis=1).repeat(2, axis=2)   # nearest, 4x4 -> 8x8
    assert cam.dtype == np.float32
    np.testing.assert_allclose(cam, expected, rtol=1e-5, atol=1e-6)


def test_grad_cam_on_a_unet_encoder_level():
    model = UNet(1, 3, base_channels=4, depth=2, rng=0)
    x = np.random.default_rng(5).random((2, 1, 16, 16)).astype(np.float32)
    for layer in (model.encoders[1], "encoders.1", model.encoders[2]):
        cam = interpret.grad_cam(model, x, 1, layer=layer)
        assert cam.shape == (2, 16, 16) and cam.dtype == np.float32
        assert cam.min() >= 0 and cam.max() <= 1


# ------------------------------------------------------------------------- the model as found
@pytest.mark.parametrize("fail", [False, True])
def test_forward_backward_mode_and_grads_are_restored(fail):
    model = tiny_classifier(np.float32)
    model.train()
    layer = model[1]
    for p in model.parameters():
        p.grad[...] = 0.5
    x = np.random.default_rng(6).standard_normal((2, 2, 6, 6)).astype(np.float32)
    if fail:  # an error after the wrappers are in place (class 9 of 4) still restores them
        with pytest.raises(ValueError, match=r"target_class must be in \[0, 4\)"):
            interpret.grad_cam(model, x, 9, layer=layer)
    else:
        interpret.grad_cam(model, x, 1, layer=layer)
        interpret.feature_maps(model, x, layer)
        interpret.saliency(model, x, 1)
    assert "forward" not in vars(layer) and "backward" not in vars(layer)
    assert all(no_hooks(m) and not m._caches for m in model.modules())
    assert layer.forward.__func__ is type(layer).forward
    assert layer.backward.__func__ is type(layer).backward
    assert model.training and all(m.training for m in model.modules())
    assert all(np.all(p.grad == 0.5) for p in model.parameters())


def no_hooks(m):
    return not (m._forward_pre_hooks or m._forward_hooks or m._backward_pre_hooks
                or m._backward_hooks)


def test_record_layer_nests_and_removes_its_hooks():
    model = tiny_classifier()
    layer = model[0]
    x = np.random.default_rng(7).standard_normal((1, 2, 6, 6))
    with interpret.record_layer(layer) as outer:
        with interpret.record_layer(layer) as inner:
            model(x)
        assert len(layer._forward_hooks) == 1          # the inner block's hook is gone
        model.backward(np.ones((1, 4)))
    assert no_hooks(layer)
    assert len(outer["outputs"]) == len(inner["outputs"]) == 1
    assert len(outer["grads"]) == 1 and inner["grads"] == []
    np.testing.assert_array_equal(outer["outputs"][0], inner["outputs"][0])


# ----------------------------------------------------------------------------- feature maps
def test_feature_maps_are_the_layer_output():
    model = tiny_classifier(np.float32).eval()
    x = np.random.default_rng(8).standard_normal((2, 2, 6, 6)).astype(np.float32)
    maps = interpret.feature_maps(model, x, "2")
    expected = model[2](model[1](model[0](x)))
    assert maps.dtype == np.float32 and maps.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(maps, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    model = tiny_classifier(dtype)
    x = np.random.default_rng(9).standard_normal((2, 2, 6, 6)).astype(dtype)
    assert interpret.saliency(model, x, 0).dtype == dtype
    assert interpret.grad_cam(model, x, 0, "1").dtype == dtype
    assert interpret.feature_maps(model, x, "1").dtype == dtype


# --------------------------------------------------------------------------------- resizing
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_numpy_resize_agrees_with_numcnn_upsampling_on_integer_factors(mode):
    maps = np.random.default_rng(10).random((2, 3, 5))
    fast = interpret.resize(maps, (6, 10), mode)         # numcnn.functional upsampling
    plain = interpret.resize_numpy(maps, (6, 10), mode)
    np.testing.assert_allclose(fast, plain, rtol=1e-12, atol=1e-12)
    odd = interpret.resize(maps, (7, 9), mode)           # not an integer factor: NumPy path
    assert odd.shape == (2, 7, 9)
    assert odd.min() >= maps.min() - 1e-12 and odd.max() <= maps.max() + 1e-12


# ------------------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize("call, error, match", [
    (lambda m, x: interpret.saliency(m, x[0], 0), ValueError, r"4-D.*pass x\[None\]"),
    (lambda m, x: interpret.saliency(m, x.astype(int), 0), TypeError, "floating-point"),
    (lambda m, x: interpret.saliency(m, list(x), 0), TypeError, "numpy array"),
    (lambda m, x: interpret.saliency("model", x, 0), TypeError, "numcnn Module"),
    (lambda m, x: interpret.saliency(m, x, 4), ValueError, r"in \[0, 4\)"),
    (lambda m, x: interpret.saliency(m, x, [0, 1, 2]), ValueError, "2 ints"),
    (lambda m, x: interpret.saliency(m, x, 1.5), ValueError, "int or 2 ints"),
    (lambda m, x: interpret.saliency(m, x, 0, mask=np.ones((6, 6))), ValueError,
     "segmentation models"),
    (lambda m, x: interpret.grad_cam(m, x, 0, "9"), ValueError, "not a sub-module.*'4'"),
    (lambda m, x: interpret.grad_cam(m, x, 0, nn.ReLU()), ValueError, "not a sub-module"),
    (lambda m, x: interpret.grad_cam(m, x, 0, 3), TypeError, "Module or the name"),
    (lambda m, x: interpret.grad_cam(m, x, 0, "4"), ValueError, "4-D .* feature map"),
    (lambda m, x: interpret.grad_cam(m, x, 0, "1", upsample="cubic"), ValueError, "upsample"),
    (lambda m, x: interpret.feature_maps(m, x, "7"), ValueError, "not a sub-module"),
])
def test_bad_arguments_get_clear_errors(call, error, match):
    model = tiny_classifier()
    x = np.random.default_rng(11).standard_normal((2, 2, 6, 6))
    with pytest.raises(error, match=match):
        call(model, x)
    assert all("forward" not in vars(m) and no_hooks(m) for m in model.modules())


def test_segmenter_mask_of_the_wrong_shape_and_no_grad():
    model = tiny_unet()
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"mask must have shape \(4, 4\) or \(1, 4, 4\)"):
        interpret.saliency(model, x, 1, mask=np.ones((3, 3)))
    with nn.no_grad(), pytest.raises(RuntimeError, match="no_grad"):
        interpret.grad_cam(model, x, 1, "encoders.1")
    assert interpret.feature_maps(model, x, "encoders.1").shape == (1, 4, 2, 2)


def test_a_layer_used_twice_is_refused():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Conv2d(1, 2, 1, dtype=np.float64), relu, relu, nn.Flatten(),
                          nn.Linear(8, 2, dtype=np.float64))
    with pytest.raises(ValueError, match="ran 2 times"):
        interpret.grad_cam(model, np.ones((1, 1, 2, 2)), 0, relu)


# ------------------------------------------------------------------------------ the figures
def test_interpretation_figures_are_png_files(tmp_path):
    from numcnn import viz

    png = b"\x89PNG\r\n\x1a\n"
    model = SeedCNN(in_channels=1, num_classes=3, input_size=8, rng=0)
    x = np.random.default_rng(12).random((3, 1, 8, 8)).astype(np.float32)
    fig = viz.plot_filters(nn.Conv2d(1, 5, 3, rng=0).weight, tmp_path / "filters.png")
    assert len([a for a in fig.axes if a.images]) == 5 and len(fig.axes) == 6 + 1  # + colour bar
    maps = interpret.feature_maps(model, x[:1], "1")
    fig = viz.plot_feature_maps(maps, tmp_path / "maps.png", max_maps=5, order="strongest",
                                image=x[0])
    titled = [a.get_title() for a in fig.axes if a.images]
    assert titled[0] == "input" and len(titled) == 6
    viz.plot_saliency(x, interpret.saliency(model, x, 1), tmp_path / "saliency.png",
                      titles=["a", "b", "c"])
    cams = interpret.grad_cam(model, x, [0, 1, 2], "4")
    viz.plot_grad_cam(x[0], cams[0], tmp_path / "cam_one.png")
    viz.plot_grad_cam(x, cams, tmp_path / "cam.png", shared_scale=True)
    rgb = SeedCNN(in_channels=3, num_classes=2, input_size=8, rng=0)
    x3 = np.random.default_rng(13).random((2, 3, 8, 8)).astype(np.float32)
    viz.plot_filters(nn.Conv2d(3, 4, 3, rng=0).weight.data, tmp_path / "filters_rgb.png")
    viz.plot_saliency(x3, interpret.saliency(rgb, x3, 0), tmp_path / "saliency_rgb.png")
    for name in ["filters", "maps", "saliency", "cam_one", "cam", "filters_rgb",
                 "saliency_rgb"]:
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == png, name


@pytest.mark.parametrize("call, match", [
    (lambda viz: viz.plot_filters(np.zeros((3, 3, 3))), r"\(F, C, kh, kw\)"),
    (lambda viz: viz.plot_feature_maps(np.zeros((2, 4, 5, 5))), "maps of one image"),
    (lambda viz: viz.plot_feature_maps(np.zeros((4, 5, 5)), order="max"), "order"),
    (lambda viz: viz.plot_saliency(np.zeros((2, 1, 8, 8)), np.zeros((2, 1, 4, 4))),
     "height and width"),
    (lambda viz: viz.plot_grad_cam(np.zeros((2, 1, 8, 8)), np.zeros((3, 8, 8))),
     "one map per image"),
    (lambda viz: viz.plot_grad_cam(np.zeros((2, 1, 8, 8)), np.zeros((2, 8, 8)),
                                   titles=["only one"]), "one per image"),
])
def test_figure_arguments_are_checked(call, match):
    from numcnn import viz

    with pytest.raises(ValueError, match=match):
        call(viz)
