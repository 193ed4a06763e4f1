"""The teaching examples run as notebooks (quick mode) and write the figures they promise."""

import pytest
from examples_util import assert_pngs, load_example, run_notebook


def test_conv_by_hand(tmp_path, monkeypatch):
    out = run_notebook("conv_by_hand", ["--quick", "--out", str(tmp_path)], tmp_path,
                       monkeypatch)
    assert_pngs(tmp_path, ["im2col_tiny.png", "conv_timings.png"])
    assert "same matrix as numcnn.kernels.im2col" in out and "max|numcnn - ref|" in out


def test_conv_by_hand_three_ways_agree():
    import numpy as np

    example = load_example("conv_by_hand")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    for stride, padding in [(1, 0), (2, 1), (3, 2)]:
        ref = example.conv2d_naive(x, w, b, stride, padding)
        np.testing.assert_allclose(example.conv2d_im2col(x, w, b, stride, padding), ref,
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(example.conv2d_numcnn(x, w, b, stride, padding), ref,
                                   rtol=1e-12, atol=1e-12)


def test_gradient_checking_catches_the_broken_backwards(tmp_path, monkeypatch):
    # the notebook raises unless main() returns 0: every verdict as expected
    out = run_notebook("gradient_checking", ["--quick", "--out", str(tmp_path)], tmp_path,
                       monkeypatch)
    assert_pngs(tmp_path, ["gradient_check_scatter.png", "gradient_check_conv_overlap.png"])
    assert "conv2d, col2im overwrites overlaps" in out
    assert out.count("FAILED") == 4              # the three broken pairs and the broken module
    assert "caught: wrong gradient for ['x']" in out
    assert "caught: wrong gradient for ['w']" in out
    assert "caught: wrong gradient for ['input']" in out
    assert "NOT caught" not in out and "unexpected" not in out


@pytest.mark.slow
def test_what_the_network_sees(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    out = run_notebook("what_the_network_sees", ["--quick", "--out", str(tmp_path)], tmp_path,
                       monkeypatch)
    assert_pngs(tmp_path, [
        "digits_filters.png", "digits_feature_maps.png", "digits_saliency.png",
        "digits_grad_cam.png", "shapes_prediction.png", "shapes_saliency.png",
        "shapes_grad_cam.png", "shapes_grad_cam_per_class.png"])
    assert "test accuracy" in out


@pytest.mark.slow
def test_convolution_intuition(tmp_path, monkeypatch):
    pytest.importorskip("skimage")
    out = run_notebook("convolution_intuition", ["--quick", "--out", str(tmp_path)], tmp_path,
                       monkeypatch)
    assert_pngs(tmp_path, ["filters_on_camera.png", "equivariance.png", "receptive_field.png",
                           "filters_before.png", "filters_after.png"])
    # the backward pass finds exactly the receptive field the formula predicts
    for stack, size in [("conv3 ", 3), ("conv3, conv3 ", 5), ("conv3 x 3 ", 7),
                        ("conv3, pool2, conv3, conv3", 12)]:
        assert f"{stack}".strip() in out and f"measured {size:>2}, formula {size}" in out
    assert "away from the borders: max |diff| 0.0e+00" in out
    assert "an even shift (2) commutes (max |diff| 0.0e+00)" in out
    assert "160 parameters" in out and "9,847,040 parameters" in out


@pytest.mark.slow
def test_sanity_checks(tmp_path, monkeypatch):
    out = run_notebook("sanity_checks", ["--quick", "--out", str(tmp_path)], tmp_path,
                       monkeypatch)
    assert_pngs(tmp_path, ["overfit_one_batch.png", "gradient_norms_sigmoid.png",
                           "gradient_norms_relu.png", "gradient_norms_seedcnn.png"])
    assert "default initialisation   initial loss" in out and "x): ok" in out
    assert "weights x 10" in out and "too high" in out
    assert "8 sigmoid layers: first layer's |dL/dW| / last layer's = " in out


@pytest.mark.slow
def test_your_backward_trains_the_unet(tmp_path, monkeypatch):
    out = run_notebook("your_backward_trains_the_unet", ["--quick", "--out", str(tmp_path)],
                       tmp_path, monkeypatch)
    assert "your conv2d_backward:" in out and "foreground IoU" in out
    assert_pngs(tmp_path, ["learning_curves.png", "validation.png", "prediction.png"])
