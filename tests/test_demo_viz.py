"""The main demo (quick mode) and the figures: they run headless and write what they claim."""

import json

import numpy as np
import pytest

from numcnn import viz


def test_demo_quick_writes_every_output(tmp_path):
    pytest.importorskip("stardist")
    from numcnn.datasets import load_nuclei
    from numcnn.demo import main

    assert main(["--quick", "--quiet", "--out", str(tmp_path)]) == 0
    for name in ["learning_curves.png", "validation.png", "prediction.png", "instances.png",
                 "instances.npy", "comparison.md", "metrics.json", "history.json",
                 "checkpoints/last.npz", "checkpoints/best.npz", "model.npz"]:
        assert (tmp_path / name).stat().st_size > 0, name
    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["epochs"] == 2 and result["val_rows"] == [384, 512]
    instances = np.load(tmp_path / "instances.npy")
    assert instances.shape == (512, 512) and instances.dtype == np.int32
    assert instances.min() >= 0
    # the reported numbers are those of instances.npy, scored by stardist's own matcher
    matching = pytest.importorskip("stardist.matching").matching
    truth = load_nuclei().instances[384:]
    s = matching(truth, instances[384:], thresh=0.5)
    assert (s.tp, s.fp, s.fn) == (result["val_tp"], result["val_fp"], result["val_fn"])
    assert result["val_ap"] == pytest.approx(s.accuracy)
    fg = ((instances[384:] > 0) & (truth > 0)).sum() / ((instances[384:] > 0) | (truth > 0)).sum()
    assert result["val_fg_iou"] == pytest.approx(fg)
    table = (tmp_path / "comparison.md").read_text()
    for name in ["3-class U-Net", "2-class U-Net + connected components",
                 "Otsu + distance-transform watershed"]:
        assert name in table
    # Otsu + watershed has no learning: its numbers do not depend on the quick training
    otsu = result["baselines"]["Otsu + distance-transform watershed"]
    assert otsu["n_true"] == 36 and otsu["ap"] > 0.5


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


def test_instance_errors_sort_the_unmatched_objects():
    truth = np.zeros((8, 20), np.int64)
    truth[1:5, 0:4], truth[1:5, 4:8] = 1, 2      # a touching pair, predicted as one
    truth[1:5, 10:14] = 3                         # missed
    pred = np.zeros_like(truth)
    pred[1:5, 0:8] = 4
    pred[6:8, 16:20] = 9                          # nothing there: spurious
    errors = viz.instance_errors(pred, truth)
    # 4 matches 1 (IoU 1/2); 2 is inside it as well: merged, not missed
    assert errors == {"merged": [2], "missed": [3], "spurious": [9]}
    assert viz.instance_errors(truth, truth) == {"merged": [], "missed": [], "spurious": []}


def test_instance_figure_counts_the_errors(tmp_path):
    truth = np.zeros((8, 20), np.int64)
    truth[1:5, 10:14] = 3
    pred = np.zeros_like(truth)
    pred[6:8, 16:20] = 9
    fig = viz.plot_instances(np.zeros((8, 20)), pred, truth, tmp_path / "inst.png")
    assert "missed 1" in fig.axes[1].get_title() and "spurious 1" in fig.axes[1].get_title()
    assert (tmp_path / "inst.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
