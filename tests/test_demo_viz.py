"""The main demo (quick mode) and the figures: they run headless and write what they claim."""

import json

import numpy as np
import pytest

from numcnn import viz


def test_demo_quick_writes_every_output(tmp_path):
    pytest.importorskip("stardist")
    from numcnn.demo import main

    assert main(["--quick", "--quiet", "--out", str(tmp_path)]) == 0
    for name in ["learning_curves.png", "validation.png", "prediction.png", "metrics.json",
                 "history.json", "checkpoints/last.npz", "checkpoints/best.npz"]:
        assert (tmp_path / name).stat().st_size > 0, name
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= result["val_fg_iou"] <= 1.0 and result["epochs"] == 2


def test_figures_are_png_files(tmp_path):
    rng = np.random.default_rng(0)
    target = rng.integers(0, 3, (32, 40))
    image = rng.random((1, 32, 40))
    fig = viz.plot_segmentation(image, target, target, path=tmp_path / "seg.png")
    assert len(fig.axes) == 4 and "0.0%" in fig.axes[3].get_title()
    viz.plot_overlay(image, target, path=tmp_path / "overlay.png", split_row=16)
    viz.plot_history({"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
                      "val_accuracy": [0.5, 0.8]}, tmp_path / "curves.png")
    viz.plot_confusion_matrix(np.array([[5, 1], [2, 7]]), ["a", "b"], tmp_path / "cm.png")
    for name in ["seg.png", "overlay.png", "curves.png", "cm.png"]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_error_panel_counts_wrong_pixels():
    target = np.zeros((10, 10), int)
    pred = target.copy()
    pred[:2] = 1  # 20 false positives
    fig = viz.plot_segmentation(np.zeros((10, 10)), target, pred, num_classes=2)
    assert "20.0% of pixels" in fig.axes[3].get_title()


def test_history_plot_ticks_whole_epochs():
    fig = viz.plot_history({"train_loss": [1.0, 0.6, 0.5], "val_loss": [1.1, 0.8, 0.7],
                            "val_miou": [0.2, 0.5, 0.6]})
    for ax in fig.axes:
        ticks = ax.get_xticks()
        assert len(ticks) >= 2 and np.all(ticks == np.round(ticks)), ticks
