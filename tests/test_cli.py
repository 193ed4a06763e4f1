"""The numcnn command: help, every sub-command, and one-line errors (exit 2) for every
mistake a user can make; a traceback only for a bug, saying so."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from numcnn import io
from numcnn.cli import main
from numcnn.models import build_model


def run(argv, capsys):
    """(exit status, stdout, stderr) of ``numcnn *argv``, in this process."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse: --help and argument errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_user_error(code, err, fragment):
    """Exit 2, one line on stderr naming the problem, no traceback."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("numcnn"), err
    assert fragment in lines[0], err


def save_model(path, spec, names=None):
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    extra = {"model_spec": json.dumps(spec)}
    if names is not None:
        extra["class_names"] = json.dumps(names)
    io.save_checkpoint(path, build_model(spec["name"], rng=0, **kwargs), extra=extra)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two small untrained models (a U-Net and a classifier) and images good and bad."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    save_model(d / "seg.npz", dict(name="unet", in_channels=1, num_classes=2, base_channels=2,
                                   depth=2), ["background", "nucleus"])
    save_model(d / "cls.npz", dict(name="seedcnn", in_channels=1, num_classes=3, input_size=8),
               ["cat", "dog", "owl"])
    np.save(d / "img.npy", rng.random((20, 24)).astype(np.float32))
    np.save(d / "nan.npy", np.full((16, 16), np.nan, np.float32))
    one_inf = rng.random((16, 16))
    one_inf[3, 4] = np.inf
    np.save(d / "inf.npy", one_inf)
    np.save(d / "empty.npy", np.zeros((0,), np.float32))
    np.save(d / "empty2d.npy", np.zeros((0, 5), np.float32))
    np.save(d / "vector.npy", np.zeros(7, np.float32))
    np.save(d / "batch.npy", np.zeros((5, 6, 8, 8), np.float32))
    np.save(d / "complex.npy", np.ones((8, 8), np.complex64))
    np.save(d / "text.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(d / "object.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    (d / "trunc.npy").write_bytes((d / "img.npy").read_bytes()[:90])
    (d / "fake.png").write_text("this is not an image")
    (d / "notes.txt").write_text("hello")
    (d / "a_file").write_text("")
    io.save_checkpoint(d / "nospec.npz", build_model("seedcnn", in_channels=1, input_size=8))
    return d


@pytest.mark.parametrize("cmd", ["demo", "train", "predict", "summary", "bench", "gradcheck"])
def test_help(cmd, capsys):
    code, out, _ = run([cmd, "--help"], capsys)
    assert code == 0 and "usage: numcnn" in out


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("numcnn ")


def test_python_dash_m_numcnn_is_the_command(tmp_path):
    """``python -m numcnn`` runs the same main, with the same exit status and message."""
    out = subprocess.run([sys.executable, "-m", "numcnn", "summary", "unet", "--num-classes",
                          "0"], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == ("numcnn summary: error: argument --num-classes: must be a "
                                  "positive int; got 0 (see 'numcnn summary --help')")
    out = subprocess.run([sys.executable, "-m", "numcnn", "predict", str(tmp_path / "no.npz"),
                          str(tmp_path / "no.png")], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "image file not found" in out.stderr


# One line, exit 2, for every class of mistake: (argv, what the line must say).  {d} is the
# folder of the `files` fixture.
ARGUMENT_MISTAKES = [
    ([], "the following arguments are required: COMMAND"),
    (["fly"], "invalid choice: 'fly'"),
    (["train", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["train", "--epochs", "0"], "argument --epochs: must be a positive int; got 0"),
    (["train", "--epochs", "1.5"], "argument --epochs: must be a positive int; got '1.5'"),
    (["train", "--lr", "nan"], "argument --lr: must be a finite number in (0, inf); got nan"),
    (["train", "--lr", "-1"], "argument --lr: must be a finite number in (0, inf)"),
    (["train", "--lr", "fast"], "argument --lr: must be a finite number in (0, inf); "
                                "got 'fast'"),
    (["train", "--batch-size", "0"], "argument --batch-size: must be a positive int"),
    (["train", "--seed", "-1"], "argument --seed: must be a non-negative int; got -1"),
    (["train", "--model", "resnet"], "invalid choice: 'resnet'"),
    (["train", "--dataset", "digits", "--model", "unet"], "classification set"),
    (["train", "--dataset", "shapes", "--model", "lenet5"], "needs unet or fcn"),
    (["demo", "--epochs", "0"], "argument --epochs: must be a positive int; got 0"),
    (["demo", "--seed", "x"], "argument --seed: must be a non-negative int; got 'x'"),
    (["demo", "--fast"], "unrecognized arguments: --fast"),
    (["summary"], "required: model"),
    (["summary", "unet", "--input-shape", "a,b,c"], "argument --input-shape: must be C,H,W"),
    (["summary", "unet", "--input-shape", "1,16"], "got '1,16'"),
    (["summary", "unet", "--input-shape", "1,0,8"], "must be C,H,W: three positive ints"),
    (["summary", "unet", "--num-classes", "0"], "argument --num-classes: must be a positive "
                                                "int; got 0"),
    (["summary", "unet", "--input-shape", "1,100000,100000"], "10,000,000,000 values, more "
                                                              "than the 4,194,304"),
    (["summary", "unet", "--input-shape", "1,30,30"], "multiples of 8; got 30x30"),
    (["summary", "lenet5", "--input-shape", "1,8,8"], "lenet5 takes 28x28 inputs; got 8x8"),
    (["summary", "seedcnn", "--input-shape", "1,8,12"], "seedcnn takes square inputs"),
    (["summary", "seedcnn", "--input-shape", "1,8,8", "--profile", "1"],
     "--profile needs a batch of at least 2"),
    (["summary", "seedcnn", "--profile", "-3"], "argument --profile: must be an int in "
                                                "[0, 1024]; got -3"),
    (["bench", "nope"], "invalid choice: 'nope'"),
]


@pytest.mark.parametrize("argv, fragment", ARGUMENT_MISTAKES)
def test_argument_mistakes_are_one_line(argv, fragment, capsys):
    code, _, err = run(argv, capsys)
    assert_user_error(code, err, fragment)


FILE_MISTAKES = [
    (["predict", "{d}/no.npz", "{d}/img.npy"], "checkpoint not found"),
    (["predict", "{d}/seg.npz", "{d}/no.png"], "image file not found"),
    (["predict", "{d}", "{d}/img.npy"], "is a directory; expected an .npz file"),
    (["predict", "{d}/img.npy", "{d}/img.npy"], "is a single-array .npy file"),
    (["predict", "{d}/fake.png", "{d}/img.npy"], "is not an .npz (zip) archive"),
    (["predict", "{d}/nospec.npz", "{d}/img.npy"], "has no model_spec"),
    (["predict", "{d}/seg.npz", "{d}"], "is a folder; give an image file"),
    (["predict", "{d}/seg.npz", "{d}/notes.txt"], "expected a file ending in .png"),
    (["predict", "{d}/seg.npz", "{d}/fake.png"], "is not an image numcnn can read"),
    (["predict", "{d}/seg.npz", "{d}/nan.npy"], "has 256 non-finite values (NaN or inf)"),
    (["predict", "{d}/seg.npz", "{d}/inf.npy"], "has 1 non-finite values"),
    (["predict", "{d}/seg.npz", "{d}/empty.npy"], "expected a non-empty image"),
    (["predict", "{d}/seg.npz", "{d}/empty2d.npy"], "got shape (0, 5)"),
    (["predict", "{d}/seg.npz", "{d}/vector.npy"], "got shape (7,)"),
    (["predict", "{d}/seg.npz", "{d}/batch.npy"], "expected a non-empty image"),
    (["predict", "{d}/seg.npz", "{d}/complex.npy"], "expected a real-valued array; got dtype "
                                                    "complex64"),
    (["predict", "{d}/seg.npz", "{d}/text.npy"], "expected a real-valued array"),
    (["predict", "{d}/seg.npz", "{d}/object.npy"], "is not a readable .npy array"),
    (["predict", "{d}/seg.npz", "{d}/trunc.npy"], "is not a readable .npy array"),
    (["predict", "{d}/seg.npz", "{d}/img.npy", "--tile", "1000000000"],
     "argument --tile: must be an int in [1, 2048]; got 1000000000"),
    (["predict", "{d}/seg.npz", "{d}/img.npy", "--tile", "0"], "argument --tile: must be"),
    (["predict", "{d}/seg.npz", "{d}/img.npy", "--tile", "6"], "must be a multiple of 4"),
    (["predict", "{d}/seg.npz", "{d}/img.npy", "--out", "{d}/a_file/mask.png"],
     "is a file; give a path in an existing folder"),
    (["predict", "{d}/seg.npz", "{d}/img.npy", "--out", "{d}/nowhere/mask.png"],
     "does not exist; give a path in an existing folder"),
    (["predict", "{d}/seg.npz", "{d}/img.npy", "--out", "{d}"], "expected a file name "
                                                                "ending in .png or .npy"),
    (["predict", "{d}/seg.npz", "{d}/img.npy", "--out", "{d}/mask.jpg"], "ending in .png"),
    (["predict", "{d}/cls.npz", "{d}/img.npy", "--out", "{d}/p.txt"], "ending in .json"),
    (["predict", "{d}/cls.npz", "{d}/batch.npy"], "expected a non-empty image"),
    (["train", "--out", "{d}/a_file"], "is a file, not a folder"),
    (["train", "--out", "{d}/a_file/run"], "cannot be created: '{d}/a_file' is a file"),
    (["train", "--resume", "{d}/nowhere"], "--resume '{d}/nowhere' does not exist"),
    (["train", "--dataset", "fashion-mnist", "--data-root", "{d}/nowhere"],
     "is not a folder"),
    (["demo", "--out", "{d}/a_file"], "is a file, not a folder"),
]


@pytest.mark.parametrize("argv, fragment", FILE_MISTAKES)
def test_file_mistakes_are_one_line(argv, fragment, files, capsys):
    code, _, err = run([a.format(d=files) for a in argv], capsys)
    assert_user_error(code, err, fragment.format(d=files))


def test_missing_fashion_mnist_is_one_line(files, capsys, monkeypatch):
    from numcnn.datasets import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", ())  # as on a machine without them
    code, _, err = run(["train", "--dataset", "fashion-mnist", "--data-root", files, "--out",
                        files / "fm"], capsys)
    assert_user_error(code, err, f"not found; searched {files}. Get them with 'apt-get "
                                 f"install dataset-fashion-mnist'")


def test_damaged_model_spec(tmp_path, capsys):
    model = build_model("seedcnn", in_channels=1, input_size=8)
    for i, spec in enumerate(["{not json", "[1, 2]", json.dumps({"name": "vgg"}),
                              json.dumps({"name": "unet", "in_channels": "a",
                                          "num_classes": 2})]):
        io.save_checkpoint(tmp_path / f"m{i}.npz", model, extra={"model_spec": spec})
        code, _, err = run(["predict", tmp_path / f"m{i}.npz", tmp_path / "x.npy"], capsys)
        assert_user_error(code, err, "image file not found")  # the cheap check comes first
        np.save(tmp_path / "x.npy", np.zeros((8, 8), np.float32))
        code, _, err = run(["predict", tmp_path / f"m{i}.npz", tmp_path / "x.npy"], capsys)
        assert_user_error(code, err, "its model_spec is damaged")
        (tmp_path / "x.npy").unlink()


def test_unwritable_folder_is_one_line(files, tmp_path, capsys, monkeypatch):
    """A folder the user may not write to: refused before any work, in one line.  (As root,
    chmod does not stop writes, so the refusal is also forced by a failing probe.)"""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.geteuid() != 0:
            code, _, err = run(["predict", files / "seg.npz", files / "img.npy", "--out",
                                ro / "m.png"], capsys)
            assert_user_error(code, err, "cannot write there (Permission denied)")
        import tempfile

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
        for argv in (["predict", files / "seg.npz", files / "img.npy", "--out", ro / "m.png"],
                     ["train", "--out", ro / "run"], ["demo", "--out", ro]):
            code, _, err = run(argv, capsys)
            assert_user_error(code, err, "cannot write there (Permission denied); give a "
                                         "folder you can write to")
    finally:
        ro.chmod(0o755)


def test_predict_segments_an_image(files, tmp_path, capsys):
    code, out, err = run(["predict", files / "seg.npz", files / "img.npy", "--tile", "8",
                          "--out", tmp_path / "mask.npy"], capsys)
    assert code == 0, err
    mask = np.load(tmp_path / "mask.npy")
    assert mask.shape == (20, 24) and mask.dtype == np.int64 and set(np.unique(mask)) <= {0, 1}
    assert out.startswith(f"wrote {tmp_path / 'mask.npy'}: 20x24 mask, classes ")
    # the default output sits next to the image, as a PNG; RGB pictures become grey
    import matplotlib.pyplot as plt

    plt.imsave(tmp_path / "pic.png", np.random.default_rng(1).random((16, 16, 3)))
    assert run(["predict", files / "seg.npz", tmp_path / "pic.png", "--tile", "8"],
               capsys)[0] == 0
    assert (tmp_path / "pic_mask.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_classifies_with_a_classifier(files, tmp_path, capsys):
    """Issue 14: 'numcnn train --dataset digits' suggests 'numcnn predict', which now prints
    the class and every class's probability for a classifier's checkpoint."""
    image = np.random.default_rng(2).random((8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", image)
    code, out, err = run(["predict", files / "cls.npz", tmp_path / "x.npy", "--out",
                          tmp_path / "p.json"], capsys)
    assert code == 0, err
    saved = json.loads((tmp_path / "p.json").read_text())
    probs = saved["probabilities"]
    assert list(probs) == ["cat", "dog", "owl"] and abs(sum(probs.values()) - 1) < 1e-5
    # the same numbers as the model itself gives on the normalised image
    ckpt = io.read_checkpoint(files / "cls.npz")
    model = build_model("seedcnn", in_channels=1, num_classes=3, input_size=8)
    ckpt.apply(model)
    model.eval()
    lo, hi = np.percentile(image, [1, 99.8])
    x = np.clip((image - lo) / (hi - lo), 0, 1)[None, None].astype(np.float32)
    logits = model(x)[0].astype(np.float64)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(list(probs.values()), expected, atol=1e-5)
    best = int(np.argmax(expected))
    assert saved["class"] == best and saved["name"] == ["cat", "dog", "owl"][best]
    assert out.splitlines()[0].startswith(f"{tmp_path / 'x.npy'}: class {best} ("
                                          f"{saved['name']}), probability ")
    # another size is resized to the model's input, and says so
    np.save(tmp_path / "big.npy", np.random.default_rng(3).random((30, 20)))
    code, out, _ = run(["predict", files / "cls.npz", tmp_path / "big.npy"], capsys)
    assert code == 0 and "(resized from 30x20 to 8x8)" in out


def test_train_suggests_predict_for_classifiers(tmp_path, capsys):
    code, out, err = run(["train", "--dataset", "digits", "--epochs", "1", "--out",
                          tmp_path / "run", "--quiet", "--batch-size", "256"], capsys)
    assert code == 0, err
    assert f"to classify an image: numcnn predict {tmp_path / 'run' / 'model.npz'} IMAGE" in out
    np.save(tmp_path / "digit.npy", np.eye(8, dtype=np.float32))
    code, out, err = run(["predict", tmp_path / "run", tmp_path / "digit.npy"], capsys)
    assert code == 0, err
    assert out.startswith(f"{tmp_path / 'digit.npy'}: class ") and len(out.splitlines()) == 11


def test_a_bug_shows_its_traceback_and_says_it_is_a_bug(capsys, monkeypatch):
    def broken(*args, **kwargs):
        return 1 / 0
    monkeypatch.setattr(sys.modules["numcnn.summary"], "summary", broken)
    code, _, err = run(["summary", "seedcnn", "--input-shape", "1,8,8"], capsys)
    assert code == 1
    assert "Traceback" in err and "ZeroDivisionError" in err
    assert err.strip().splitlines()[-1].startswith(
        "numcnn summary: internal error: ZeroDivisionError: division by zero. This is a bug "
        "in numcnn, not in what you typed: please report it")


def test_a_numpy_error_escaping_numcnn_is_a_bug(capsys, monkeypatch):
    """A ValueError raised inside NumPy (not by numcnn's checks) is a missing check: a bug."""
    monkeypatch.setattr(sys.modules["numcnn.summary"], "summary",
                        lambda *a: np.zeros(3).reshape(2, 2))
    code, _, err = run(["summary", "seedcnn", "--input-shape", "1,8,8"], capsys)
    assert code == 1 and "cannot reshape" in err and "This is a bug in numcnn" in err


def test_ctrl_c_says_what_was_kept(tmp_path, capsys, monkeypatch):
    import numcnn.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(numcnn.train, "fit", interrupted)
    code, _, err = run(["train", "--out", tmp_path / "run", "--quiet"], capsys)
    assert code == 130 and "Traceback" not in err
    assert err.strip() == "numcnn train: interrupted; no epoch had finished, so nothing was saved"

    def after_one_epoch(*args, checkpoint_dir, **kwargs):
        (checkpoint_dir / "last.npz").parent.mkdir(parents=True)
        (checkpoint_dir / "last.npz").write_bytes(b"")
        raise KeyboardInterrupt
    monkeypatch.setattr(numcnn.train, "fit", after_one_epoch)
    code, _, err = run(["train", "--out", tmp_path / "run", "--quiet"], capsys)
    ckpts = tmp_path / "run" / "checkpoints"
    assert code == 130 and err.strip() == (
        f"numcnn train: interrupted; the finished epochs are in {ckpts / 'last.npz'}; continue "
        f"with the same command and --resume {ckpts}")


def test_divergence_is_one_line(tmp_path, capsys, monkeypatch):
    import numcnn.train

    def diverge(*args, **kwargs):
        raise numcnn.train.TrainingDiverged("loss became nan at epoch 1, step 3", 1, 3,
                                            float("nan"))
    monkeypatch.setattr(numcnn.train, "fit", diverge)
    code, _, err = run(["train", "--out", tmp_path / "run", "--quiet"], capsys)
    assert_user_error(code, err, "training diverged: loss became nan at epoch 1, step 3 (try "
                                 "a smaller --lr)")


def test_summary_prints_totals(capsys):
    code, out, _ = run(["summary", "seedcnn", "--input-shape", "1,28,28"], capsys)
    assert code == 0
    n = 32 * 9 + 32 + 64 * 32 * 9 + 64 + 64 * 7 * 7 * 10 + 10
    assert f"total parameters: {n:,}" in out


def test_summary_profile(capsys):
    code, out, _ = run(["summary", "seedcnn", "--input-shape", "1,8,8", "--profile", "4"],
                       capsys)
    assert code == 0
    assert "total parameters" in out and "training pass" in out and "batch 4" in out


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


def test_demo_options_reach_the_demo(tmp_path, capsys, monkeypatch):
    import numcnn.demo

    seen = []
    monkeypatch.setattr(numcnn.demo, "main", lambda argv: seen.append(argv) or 0)
    argv = ["demo", "--quick", "--epochs", "3", "--out", str(tmp_path / "d")]
    assert run(argv, capsys)[0] == 0
    assert seen == [argv[1:]] and (tmp_path / "d").is_dir()
