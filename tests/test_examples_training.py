"""The training examples in ``examples/`` (quick mode, executed as notebooks): they run,
write their figures and a ``metrics.json`` whose numbers make sense.  The full runs take
minutes; these take seconds."""

import json
from pathlib import Path

import numpy as np
import pytest
from examples_util import PNG, load_example, run_notebook


def read_outputs(out: Path, figures: list[str]) -> dict:
    for name in figures:
        assert (out / name).read_bytes()[:8] == PNG, name
    return json.loads((out / "metrics.json").read_text())


def fashion_mnist_installed() -> bool:
    from numcnn.datasets import load_fashion_mnist
    try:
        load_fashion_mnist(split="test")
    except FileNotFoundError:
        return False
    return True


@pytest.mark.slow
def test_seed_cnn_digits_quick(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    run_notebook("seed_cnn_fashion_mnist", ["--dataset", "digits", "--quick", "--quiet",
                                            "--out", str(tmp_path)], tmp_path, monkeypatch)
    m = read_outputs(tmp_path, ["learning_curves.png", "confusion_matrix.png"])
    assert m["dataset"] == "digits" and m["epochs"] == 1 and m["quick"]
    assert 0.0 <= m["test_accuracy"] <= 1.0 and m["test_loss"] > 0
    assert len(m["val_accuracy_per_epoch"]) == 1
    assert set(m["per_class_test_accuracy"]) == {str(d) for d in range(10)}
    assert m["model"] == "SeedCNN(1, 10, input_size=8)"
    # the test images are never among the training or validation images
    assert m["n_test"] > 0 and m["n_train"] > m["n_val"] > 0


@pytest.mark.slow
def test_seed_cnn_fashion_mnist_quick(tmp_path):
    if not fashion_mnist_installed():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    example = load_example("seed_cnn_fashion_mnist")  # as a script: the notebook is tested above
    assert example.main(["--quick", "--quiet", "--out", str(tmp_path)]) == 0
    m = read_outputs(tmp_path, ["learning_curves.png", "confusion_matrix.png"])
    assert m["dataset"] == "fashion" and m["model"] == "SeedCNN(1, 10, input_size=28)"
    assert 0.0 <= m["test_accuracy"] <= 1.0
    assert "Ankle boot" in m["per_class_test_accuracy"]


@pytest.mark.slow
def test_digit_scenes_unet_quick(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    run_notebook("digit_scenes_unet", ["--quick", "--quiet", "--out", str(tmp_path)], tmp_path,
                 monkeypatch)
    m = read_outputs(tmp_path, ["learning_curves.png", "scenes.png"])
    assert m["epochs"] == 1 and m["quick"]
    assert 0.0 <= m["digit_miou"] <= 1.0 and 0.0 <= m["pixel_accuracy"] <= 1.0
    assert list(m["iou_per_class"]) == ["background"] + [f"digit {d}" for d in range(10)]
    # the digit mean leaves the background out
    digits = [v for k, v in m["iou_per_class"].items() if k != "background" and v is not None]
    assert m["digit_miou"] == pytest.approx(sum(digits) / len(digits))


@pytest.mark.slow
def test_generalisation_quick(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    run_notebook("generalisation", ["--quick", "--out", str(tmp_path)], tmp_path, monkeypatch)
    m = read_outputs(tmp_path, ["learning_curves.png"])
    assert list(m["variants"]) == ["plain", "augment", "weight decay", "dropout"]
    for v in m["variants"].values():
        assert 0.0 <= v["final_val_accuracy"] <= v["best_val_accuracy"] <= 1.0
        assert v["final_val_loss"] > 0 and v["min_val_loss"] <= v["final_val_loss"]


def test_digit_miou_leaves_out_the_background():
    example = load_example("digit_scenes_unet")
    metric = example.DigitIoU(11)
    target = np.zeros((1, 4, 4), np.int64)
    target[0, 0, :2] = 1   # digit 0: both pixels found
    target[0, 1, :2] = 2   # digit 1: one of its two pixels found, the other called background
    pred = target.copy()
    pred[0, 1, 1] = 0
    metric.update(pred, target)
    out = metric.compute()
    assert out["digit_miou"] == pytest.approx((1.0 + 0.5) / 2)  # classes 3..10 absent: NaN
