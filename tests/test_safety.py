"""Each promise of docs/safety.md, tested: atomic saves (even under kill -9), what loading
refuses, divergence, Ctrl-C and resuming, another run's folder."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

from numcnn import data, io, nn, optim
from numcnn.train import EarlyStopping, TrainingDiverged, fit

X = np.random.default_rng(0).standard_normal((48, 1, 4, 4)).astype(np.float32)
Y = (X[:, 0, :2].mean(axis=(1, 2)) > X[:, 0, 2:].mean(axis=(1, 2))).astype(np.int64)


def make_model(seed=0):
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=seed), nn.ReLU(), nn.Flatten(),
                         nn.Linear(32, 2, rng=seed + 1))


def run(epochs, checkpoint_dir=None, resume=None, transform=None, **kwargs):
    """A tiny run; a fresh model, optimizer and loader every time, as a new process has."""
    model = make_model()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    loader = data.DataLoader(data.ArrayDataset(X, Y), 16, shuffle=True, seed=3,
                             transform=transform)
    fit(model, kwargs.pop("loss_fn", nn.CrossEntropyLoss()), kwargs.pop("optimizer", optimizer),
        loader, epochs=epochs, checkpoint_dir=checkpoint_dir, resume=resume, quiet=True,
        **kwargs)
    return model


def weights(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ----------------------------------------------------------------------- atomic saves
KILLED_WRITER = textwrap.dedent("""
    import sys, time
    import numcnn.io as nio
    from numcnn import nn

    path, marker = sys.argv[1], sys.argv[2]

    def slow(f, arrays):          # half a file, then wait to be killed
        f.write(b"PK\\x03\\x04" + b"\\0" * 100_000)
        f.flush()
        open(marker, "w").close()
        time.sleep(60)

    nio._write_npz = slow
    nio.save_checkpoint(path, nn.Linear(3, 2, rng=9))
""")


def test_kill_9_mid_save_leaves_the_previous_checkpoint_loadable(tmp_path):
    path, marker = tmp_path / "last.npz", tmp_path / "writing"
    saved = make_model(seed=5)
    io.save_checkpoint(path, saved)
    before = path.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None and time.monotonic() < deadline, "writer never started"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    fresh = make_model(seed=1)
    io.load_checkpoint(path, fresh)
    assert_same(weights(saved), weights(fresh))


def test_a_killed_save_leaves_no_temporary_file_behind(tmp_path):
    path, marker = tmp_path / "last.npz", tmp_path / "writing"
    io.save_checkpoint(path, make_model())
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), str(marker)])
    while not marker.exists() and child.poll() is None:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    marker.unlink()
    io.save_checkpoint(path, make_model())  # the next save in the folder tidies up
    assert sorted(os.listdir(tmp_path)) == ["last.npz"]


def test_a_failed_save_removes_its_temporary_file(tmp_path):
    path = tmp_path / "model.npz"
    with pytest.raises(TypeError, match="allow_pickle=False"):
        io.save_checkpoint(path, extra={"note": object()})
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------- what load refuses
def rewrite(path, change):
    """Rewrite the .npz at ``path`` with ``change(arrays)`` applied (a hand-made file)."""
    with np.load(path) as f:
        arrays = dict(f)
    change(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def flip_a_byte(path):
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("model/3.weight.npy")
    raw[info.header_offset + 200] ^= 0x01  # inside that array's data: its CRC no longer fits
    path.write_bytes(bytes(raw))


DAMAGE = {
    "a pickle": (lambda p: p.write_bytes(pickle.dumps({"model/0.weight": np.ones(3)})),
                 "is a pickle"),
    "a pickled object array": (lambda p: np.savez(open(p, "wb"), w=np.array([None, 1],
                                                                              dtype=object)),
                               "pickled object array"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-300]), "truncated or corrupt"),
    "cut in half": (lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]),
                    "truncated or corrupt"),
    "a flipped bit": (flip_a_byte, "truncated or corrupt"),
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
}


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_load_refuses_damaged_files_and_changes_nothing(how, tmp_path):
    path = tmp_path / "ckpt.npz"
    io.save_checkpoint(path, make_model(seed=7))
    damage, message = DAMAGE[how]
    damage(path)
    model = make_model()
    before = weights(model)
    with pytest.raises(ValueError, match=message):
        io.load_checkpoint(path, model)
    assert_same(before, weights(model))


def test_load_refuses_weights_stored_as_strings(tmp_path):
    path = tmp_path / "ckpt.npz"
    io.save_checkpoint(path, make_model(seed=7))
    rewrite(path, lambda a: a.update({"model/3.weight": a["model/3.weight"].astype(str)}))
    model = make_model()
    before = weights(model)
    with pytest.raises(ValueError, match="3.weight"):
        io.load_checkpoint(path, model)
    assert_same(before, weights(model))


@pytest.mark.parametrize("value, count", [(np.nan, 18), (np.inf, 18), (1e300, 18)])
def test_load_refuses_non_finite_weights_and_changes_nothing(value, count, tmp_path):
    model = make_model()
    before = weights(model)
    state = {k: v * 2 for k, v in before.items()}
    state["0.weight"] = np.full((2, 1, 3, 3), value)  # float64: 1e300 overflows float32
    with pytest.raises(ValueError, match=rf"0.weight: expected finite values, got {count} "
                                         rf"NaN/inf of 18 \(weights of a diverged run\?\)"):
        model.load_state_dict(state)
    assert_same(before, weights(model))
    path = tmp_path / "ckpt.npz"
    io.save_checkpoint(path, make_model(seed=7))
    rewrite(path, lambda a: a["model/3.weight"].reshape(-1).__setitem__(0, value))
    with pytest.raises(ValueError, match=r"3.weight: expected finite values, got 1 NaN/inf"):
        io.load_checkpoint(path, model)
    assert_same(before, weights(model))


# ------------------------------------------------------------------------ divergence
class NaNLossAt(nn.CrossEntropyLoss):
    """Cross-entropy that reports NaN at the n-th call (1-based)."""

    def __init__(self, n):
        super().__init__()
        self.n, self.calls = n, 0

    def forward(self, logits, target):
        self.calls += 1
        loss = super().forward(logits, target)
        return float("nan") if self.calls == self.n else loss


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 2, step 2"):
        run(3, tmp_path, loss_fn=NaNLossAt(3 + 2))  # 3 batches per epoch
    after_one_epoch = run(1)
    fresh = make_model(seed=4)
    assert io.load_checkpoint(tmp_path / "last.npz", fresh)["fit"]["epoch"] == 1
    assert_same(weights(after_one_epoch), weights(fresh))


class BlowUpAt(optim.Adam):
    """Adam whose n-th step (1-based) overflows a weight to inf, as a huge step would; the
    loss of that batch was still finite."""

    def __init__(self, params, n):
        params = list(params)
        super().__init__(params, lr=0.01)
        self.first, self.n, self.steps = params[0], n, 0

    def step(self):
        super().step()
        self.steps += 1
        if self.steps == self.n:
            self.first.data[...] = np.inf


def test_no_checkpoint_with_non_finite_weights_is_written(tmp_path):
    model = make_model()
    optimizer = BlowUpAt(model.parameters(), 3 + 3)  # the last step of epoch 2
    loader = data.DataLoader(data.ArrayDataset(X, Y), 16, shuffle=True, seed=3)
    with pytest.raises(TrainingDiverged, match=r"weights became non-finite during epoch 2 "
                                                r"\(0.weight holds 18 NaN/inf values\)"):
        fit(model, nn.CrossEntropyLoss(), optimizer, loader, epochs=3, checkpoint_dir=tmp_path,
            quiet=True)
    for name in ("last.npz", "best.npz"):
        ckpt = io.read_checkpoint(tmp_path / name)
        assert all(np.isfinite(v).all() for v in ckpt.model.values()), name
        assert ckpt.extra["fit"]["epoch"] == 1


# ----------------------------------------------------------------- Ctrl-C and resume
class InterruptAt:
    """A flip transform that raises KeyboardInterrupt at its n-th call, like Ctrl-C."""

    def __init__(self, n=None):
        self.n, self.calls, self.flip = n, 0, data.RandomHorizontalFlip()

    def __call__(self, x, y, rng):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.flip(x, y, rng)


def test_ctrl_c_keeps_the_finished_epochs_and_resume_is_bit_identical(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(4, tmp_path, transform=InterruptAt(2 * 48 + 20))  # in epoch 3's second batch
    kept = io.read_checkpoint(tmp_path / "last.npz")
    assert kept.extra["fit"]["epoch"] == 2
    assert sorted(f for f in os.listdir(tmp_path) if f.startswith(".")) == []
    resumed = run(4, tmp_path, resume=tmp_path, transform=InterruptAt())
    uninterrupted = run(4, transform=InterruptAt())
    assert_same(weights(uninterrupted), weights(resumed))


def test_resume_from_a_mid_run_checkpoint_is_bit_identical(tmp_path):
    run(2, tmp_path / "a")
    resumed = run(5, tmp_path / "a", resume=tmp_path / "a" / "last.npz")
    assert_same(weights(run(5)), weights(resumed))


# ---------------------------------------------------------------- another run's folder
def test_another_runs_folder_is_not_overwritten(tmp_path):
    run(2, tmp_path)
    before = {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)}
    with pytest.raises(ValueError, match=r"already holds another run's checkpoints "
                                         r"\(last.npz, best.npz\); pass resume=.*overwrite=True"):
        run(1, tmp_path)
    assert {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)} == before
    resumed = run(3, tmp_path, resume=tmp_path)  # resuming it is what the folder is for
    assert io.read_checkpoint(tmp_path / "last.npz").extra["fit"]["epoch"] == 3
    run(1, tmp_path, overwrite=True)  # and replacing it, when asked for
    assert io.read_checkpoint(tmp_path / "last.npz").extra["fit"]["epoch"] == 1
    assert_same(weights(resumed), weights(run(3)))


def test_the_command_line_refuses_another_runs_folder_before_loading_data(tmp_path, capsys):
    from numcnn import cli

    (tmp_path / "checkpoints").mkdir()
    io.save_checkpoint(tmp_path / "checkpoints" / "last.npz", make_model())
    before = (tmp_path / "checkpoints" / "last.npz").read_bytes()
    assert cli.main(["train", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already holds another run's checkpoints (last.npz); add --resume" in err
    assert "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "checkpoints" / "last.npz").read_bytes() == before


# -------------------------------------------------------------- a monitor typo, up front
class CountingLoss(nn.CrossEntropyLoss):
    calls = 0

    def forward(self, logits, target):
        CountingLoss.calls += 1
        return super().forward(logits, target)


@pytest.mark.parametrize("kwargs, message", [
    (dict(monitor="train_los"), r"fit: monitor='train_los' is not a figure this run reports; "
                                r"expected one of \['epoch', 'epoch_time', 'lr', "
                                r"'train_accuracy', 'train_loss'\]"),
    (dict(monitor="val_accuracy"), r"monitor='val_accuracy' needs a val_loader"),
    (dict(monitor=3), r"monitor must be the name of an epoch figure.*got 3"),
    (dict(callbacks=[EarlyStopping("train_acc")]),
     r"EarlyStopping: monitor='train_acc' is not a figure this run reports"),
])
def test_a_monitor_no_epoch_reports_is_refused_before_training(kwargs, message, tmp_path):
    from numcnn import metrics

    CountingLoss.calls = 0
    with pytest.raises((ValueError, TypeError), match=message):
        run(2, tmp_path, loss_fn=CountingLoss(), metrics=[metrics.Accuracy()], **kwargs)
    assert CountingLoss.calls == 0 and os.listdir(tmp_path) == []


def test_every_metric_names_the_figures_it_reports():
    from numcnn import metrics

    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((6, 3, 4, 4)), rng.integers(0, 3, (6, 4, 4))
    labels = rng.integers(0, 3, (8, 8))
    for m, args in [(metrics.Accuracy(), (logits, targets)),
                    (metrics.TopKAccuracy(2), (logits, targets)),
                    (metrics.ConfusionMatrix(3), (logits, targets)),
                    (metrics.SegmentationMetrics(3), (logits, targets)),
                    (metrics.SegmentationMetrics(2), (logits[:, :2], targets % 2)),
                    (metrics.InstanceMetrics(), (labels, labels.T.copy()))]:
        m.update(*args)
        scalars = {k for k, v in m.compute().items() if np.ndim(v) == 0}
        assert scalars == set(m.names), m
