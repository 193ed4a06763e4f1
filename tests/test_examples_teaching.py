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
