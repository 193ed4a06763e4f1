"""The numcnn command: help, every sub-command, and one-line errors (exit 2)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from numcnn.cli import main


@pytest.mark.parametrize("cmd", ["train", "predict", "summary", "bench", "gradcheck"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0 and "usage: numcnn" in capsys.readouterr().out


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "numcnn.cli", "--help"], capture_output=True,
                         text=True)
    assert out.returncode == 0 and "demo" in out.stdout


def test_bad_argument_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", "cifar"])
    assert e.value.code == 2
    assert "invalid choice: 'cifar'" in capsys.readouterr().err


def test_missing_file_is_one_line(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "no.npz"), "img.png"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("numcnn predict: error:") and "not found" in err
    assert "\n" not in err and "Traceback" not in err


def test_incompatible_model_and_dataset(capsys):
    assert main(["train", "--dataset", "digits", "--model", "unet"]) == 2
    assert "classification set" in capsys.readouterr().err


def test_summary_prints_totals(capsys):
    assert main(["summary", "seedcnn", "--input-shape", "1,28,28"]) == 0
    out = capsys.readouterr().out
    n = 32 * 9 + 32 + 64 * 32 * 9 + 64 + 64 * 7 * 7 * 10 + 10
    assert f"total parameters: {n:,}" in out
    assert main(["summary", "unet", "--input-shape", "1,16"]) == 2


def test_summary_profile(capsys):
    assert main(["summary", "seedcnn", "--input-shape", "1,8,8", "--profile", "4"]) == 0
    out = capsys.readouterr().out
    assert "total parameters" in out and "training pass" in out and "batch 4" in out
    assert main(["summary", "seedcnn", "--input-shape", "1,8,8", "--profile", "1"]) == 2
    assert "batch of at least 2" in capsys.readouterr().err


def test_gradcheck_command(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "layers match their numerical gradients" in out and "FAILED" not in out
    for layer in ("conv2d", "batch_norm (training", "upsample bilinear", "soft Dice"):
        assert layer in out


@pytest.mark.slow
def test_train_then_predict(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "shapes", "--epochs", "1", "--batch-size", "32",
                 "--out", str(out), "--quiet"]) == 0
    logs = json.loads(capsys.readouterr().out.split("\nmodel:")[0])
    assert 0 <= logs["val_miou"] <= 1
    image = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    np.save(tmp_path / "img.npy", image)
    assert main(["predict", str(out / "model.npz"), str(tmp_path / "img.npy"),
                 "--tile", "32"]) == 0
    assert (tmp_path / "img_mask.png").read_bytes()[:4] == b"\x89PNG"
