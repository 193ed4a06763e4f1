"""The training loop: it learns, resumes bit for bit, stops early, stops on NaN, checkpoints."""

import io
import sys

import numpy as np
import pytest

import numcnn
from numcnn import nn
from numcnn.data import ArrayDataset, DataLoader, RandomHorizontalFlip
from numcnn.datasets import load_digits, make_shapes
from numcnn.io import load_checkpoint, read_checkpoint, save_checkpoint
from numcnn.metrics import Accuracy, SegmentationMetrics
from numcnn.nn.module import is_grad_enabled
from numcnn.optim import SGD, Adam, StepLR
from numcnn.train import EarlyStopping, History, TrainingDiverged, evaluate, fit


@pytest.fixture(scope="module")
def digits():
    return load_digits("train"), load_digits("test")


def mlp(seed=0, dropout_seed=1, hidden=32):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden, rng=rng), nn.ReLU(),
                         nn.Dropout(0.2, rng=np.random.default_rng(dropout_seed)),
                         nn.Linear(hidden, 10, rng=rng))


def loaders(digits, n_train=None, batch=64, seed=0, transform=None):
    (xtr, ytr), (xte, yte) = digits
    n = n_train or len(xtr)
    train = DataLoader(ArrayDataset(xtr[:n], ytr[:n]), batch, shuffle=True, seed=seed,
                       transform=transform)
    return train, DataLoader(ArrayDataset(xte, yte), 512)


def params(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_same(a, b):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_learns_digits(digits):
    model = mlp()
    train, val = loaders(digits)
    h = fit(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1, momentum=0.9), train,
            val, epochs=5, metrics=[Accuracy()], quiet=True)
    assert len(h) == 5 and h["epoch"] == [1, 2, 3, 4, 5]
    assert h["train_loss"][-1] < 0.5 * h["train_loss"][0]
    assert h["val_loss"][-1] < h["val_loss"][0]
    assert h["val_accuracy"][-1] > 0.85 and h["val_accuracy"][-1] > h["val_accuracy"][0]
    assert h["lr"] == [0.1] * 5 and all(t > 0 for t in h["epoch_time"])
    assert "train_accuracy" in h.keys()


def resumable_run(digits, seeds=(0, 1, 2)):
    """Dropout, a shuffled and augmented loader, Adam, a per-epoch schedule, early stopping."""
    model = mlp(seeds[0], seeds[1], hidden=16)
    opt = Adam(model.parameters(), lr=0.01)
    sched = StepLR(opt, step_size=1, gamma=0.8)
    train, val = loaders(digits, n_train=300, batch=32, seed=seeds[2],
                         transform=RandomHorizontalFlip())
    return model, opt, sched, train, val


def test_resume_is_bit_identical(digits, tmp_path):
    def run(objs, epochs, **kw):
        model, opt, sched, train, val = objs
        return fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=epochs,
                   metrics=[Accuracy()], scheduler=sched,
                   callbacks=[EarlyStopping(patience=10)], quiet=True, **kw)

    straight = resumable_run(digits)
    h_straight = run(straight, 4)

    run(resumable_run(digits), 2, checkpoint_dir=tmp_path)
    # new objects, built with *other* seeds: everything that matters must come from the file
    resumed = resumable_run(digits, seeds=(7, 8, 9))
    h_resumed = run(resumed, 4, resume=tmp_path / "last.npz", checkpoint_dir=tmp_path)

    assert_same(params(straight[0]), params(resumed[0]))
    assert_same(straight[1].state_dict(), resumed[1].state_dict())
    assert [r["val_loss"] for r in h_straight] == [r["val_loss"] for r in h_resumed]
    assert h_resumed["epoch"] == [1, 2, 3, 4] and h_resumed["lr"] == h_straight["lr"]
    assert int(read_checkpoint(tmp_path / "last.npz").extra["fit"]["epoch"]) == 4


def test_resume_restores_the_global_generator(digits, tmp_path):
    """A Dropout built without rng= draws from numcnn's global generator: saved too."""
    def run(epochs, **kw):
        numcnn.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Dropout(0.3),
                              nn.Linear(64, 10, rng=np.random.default_rng(0)))
        train, _ = loaders(digits, n_train=128, seed=1)
        if "resume" in kw:
            numcnn.default_rng().random(7)  # disturb the global generator before resuming
        fit(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), train, epochs=epochs,
            quiet=True, **kw)
        return params(model)

    straight = run(2)
    run(1, checkpoint_dir=tmp_path)
    assert_same(straight, run(2, resume=tmp_path))


def test_seed_makes_runs_repeatable(digits):
    results = []
    for other in (1, 5):  # different Dropout and loader seeds, overridden by seed=
        model = mlp(0, other, hidden=16)
        train, _ = loaders(digits, n_train=200, seed=other)
        fit(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), train, epochs=2,
            quiet=True, seed=3)
        results.append(params(model))
    assert_same(*results)


class ScriptedValLoss(nn.CrossEntropyLoss):
    """Cross-entropy while training; under no_grad (validation) the next scripted value."""

    def __init__(self, script):
        super().__init__()
        self.script, self.calls = list(script), 0

    def forward(self, logits, targets):
        loss = super().forward(logits, targets)
        if is_grad_enabled():
            return loss
        self.calls += 1
        return self.script[self.calls - 1]


def test_early_stopping_at_the_right_epoch(digits, tmp_path):
    # best 0.8 at epoch 2; epochs 3, 4, 5 do not beat it -> patience 3 runs out at epoch 5
    script = [1.0, 0.8, 0.9, 0.85, 0.81, 0.7, 0.6]
    model = mlp()
    train, val = loaders(digits, n_train=128)
    es = EarlyStopping(monitor="val_loss", patience=3)
    h = fit(model, ScriptedValLoss(script), SGD(model.parameters(), lr=0.05), train, val,
            epochs=7, callbacks=[es], checkpoint_dir=tmp_path, quiet=True)
    assert h["val_loss"] == pytest.approx(script[:5])  # (0.8 * n) / n need not be 0.8
    assert (es.best_epoch, es.stopped_epoch) == (2, 5) and es.best == pytest.approx(0.8)
    assert int(read_checkpoint(tmp_path / "best.npz").extra["fit"]["epoch"]) == 2
    assert int(read_checkpoint(tmp_path / "last.npz").extra["fit"]["epoch"]) == 5


@pytest.mark.parametrize("mode, min_delta, values, stop", [
    ("min", 0.1, [1.0, 0.95, 0.92, 0.5], 3),   # 0.95 and 0.92 do not beat 1.0 by > 0.1
    ("max", 0.0, [0.5, 0.6, 0.6, 0.55, 0.7], 4),  # a tie is no improvement
])
def test_early_stopping_rule(mode, min_delta, values, stop):
    es = EarlyStopping(monitor="m", mode=mode, patience=2, min_delta=min_delta)
    stops = [es.on_epoch_end(e, {"m": v}) for e, v in enumerate(values, 1)]
    assert stops.index(True) + 1 == stop
    with pytest.raises(ValueError, match=r"monitor='m' is not among the epoch's numbers "
                                         r"\['val_loss'\]"):
        es.on_epoch_end(9, {"val_loss": 1.0})


class NaNAt(nn.CrossEntropyLoss):
    """Cross-entropy that returns NaN at training call number ``at``."""

    def __init__(self, at):
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, logits, targets):
        loss = super().forward(logits, targets)
        if is_grad_enabled():
            self.calls += 1
            if self.calls == self.at:
                return float("nan")
        return loss


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    model = mlp()
    train, val = loaders(digits, n_train=256)  # 4 batches per epoch
    after_epoch_1 = {}
    keep = lambda epoch, logs: after_epoch_1.update(params(model)) if epoch == 1 else None  # noqa: E731
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 2, step 3") as err:
        fit(model, NaNAt(4 + 3), SGD(model.parameters(), lr=0.1), train, val, epochs=3,
            callbacks=[keep], checkpoint_dir=tmp_path, quiet=True)
    assert isinstance(err.value, FloatingPointError) and (err.value.epoch, err.value.step) == (2, 3)
    fresh = mlp(seed=4)
    extra = load_checkpoint(tmp_path / "last.npz", fresh)
    assert extra["fit"]["epoch"] == 1
    assert_same(after_epoch_1, params(fresh))
    assert not np.array_equal(after_epoch_1["1.weight"], params(model)["1.weight"])


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_a_real_blow_up_is_caught(digits):
    model = mlp()
    train, _ = loaders(digits, n_train=256)
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at epoch 1, step \d"):
        fit(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=1e30), train, epochs=2,
            quiet=True)


def test_history_json_round_trip(tmp_path):
    h = History()
    h.append({"epoch": 1, "train_loss": np.float32(0.5), "val_iou": np.array([0.1, np.nan])})
    h.append({"epoch": 2, "train_loss": float("inf")})
    h.to_json(tmp_path / "h.json")
    back = History.from_json(tmp_path / "h.json")
    assert back.records[0]["train_loss"] == 0.5 and back["train_loss"][1] == float("inf")
    assert np.isnan(back["val_iou"][0][1]) and back["val_iou"][1] is None
    assert back.keys() == ["epoch", "train_loss", "val_iou"]
    assert back.best("train_loss") == (1, 0.5)
    with pytest.raises(KeyError, match="History has no 'val_loss'"):
        back["val_loss"]
    with pytest.raises(ValueError, match="expected .*numcnn.History"):
        History.from_json('{"records": 3}')


def test_segmentation_loop_and_evaluate():
    x, y = make_shapes(8, size=16, seed=0)
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(),
                          nn.Conv2d(4, 4, 1, rng=rng))
    loader = DataLoader(ArrayDataset(x, y), 4, shuffle=True, seed=0)
    h = fit(model, nn.CrossEntropyLoss(), Adam(model.parameters(), lr=0.01), loader, loader,
            epochs=2, metrics=[SegmentationMetrics(4)], monitor="val_miou", mode="max",
            quiet=True)
    assert len(h["val_iou"][0]) == 4 and 0 <= h["val_miou"][-1] <= 1
    model.train()
    scores = evaluate(model, loader, SegmentationMetrics(4), nn.CrossEntropyLoss())
    assert scores["loss"] == pytest.approx(h["val_loss"][-1])
    assert scores["miou"] == pytest.approx(h["val_miou"][-1])
    assert model.training  # mode restored
    with pytest.raises(RuntimeError, match="no_grad"):
        model.backward(np.zeros((8, 4, 16, 16), np.float32))  # evaluate kept no caches


def test_batch_schedule_and_lr_record(digits):
    model = mlp()
    train, _ = loaders(digits, n_train=128)  # 2 batches per epoch
    opt = SGD(model.parameters(), lr=0.1)
    h = fit(model, nn.CrossEntropyLoss(), opt, train, epochs=3, quiet=True,
            scheduler=StepLR(opt, step_size=2, gamma=0.5), scheduler_interval="batch")
    assert h["lr"] == pytest.approx([0.1, 0.05, 0.025])  # the rate each epoch began with


def test_grad_clip_limits_the_step(digits):
    model = mlp()
    before = params(model)
    train, _ = loaders(digits, n_train=64)
    fit(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), train, quiet=True,
        grad_clip=1e-8)
    moved = max(np.abs(params(model)[k] - before[k]).max() for k in before)
    assert 0 < moved < 1e-8


def test_progress_bar_goes_to_stderr(digits, capsys):
    model = mlp()
    train, val = loaders(digits, n_train=64)
    fit(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), train, val,
        metrics=Accuracy(), callbacks=lambda epoch, logs: True)  # a function may stop too
    out = capsys.readouterr()
    assert "epoch 1/1" in out.err and "val_accuracy=" in out.err and out.out == ""


def test_progress_is_one_line_per_epoch_in_a_log_and_a_bar_on_a_terminal(digits, capsys,
                                                                          monkeypatch):
    train, val = loaders(digits, n_train=256, batch=32)  # 8 batches an epoch
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), train, val, epochs=3)
    lines = capsys.readouterr().err.splitlines()  # capsys's stderr is not a terminal
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("train_loss=" in line and "val_loss=" in line for line in lines)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    fit(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), train, epochs=1)
    assert "epoch 1/1" in terminal.getvalue() and "8/8" in terminal.getvalue()
    fit(model, nn.CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), train, val, epochs=2,
        quiet=True)
    monkeypatch.undo()
    assert "epoch 2/2" not in terminal.getvalue() and capsys.readouterr().err == ""


def test_bad_arguments(digits, tmp_path):
    model = mlp()
    opt = SGD(model.parameters(), lr=0.1)
    train, val = loaders(digits, n_train=64)
    loss = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="epochs must be a positive int; got 0"):
        fit(model, loss, opt, train, epochs=0)
    empty = DataLoader(ArrayDataset(*digits[0]), 5000, drop_last=True)
    with pytest.raises(ValueError, match="train_loader yields no batches"):
        fit(model, loss, opt, empty, quiet=True)
    with pytest.raises(ValueError, match="train_loader yields no batches"):
        fit(model, loss, opt, [], quiet=True)
    with pytest.raises(ValueError, match="scheduler_interval must be 'epoch' or 'batch'; got "
                                         "'step'"):
        fit(model, loss, opt, train, scheduler=StepLR(opt, 1), scheduler_interval="step")
    with pytest.raises(ValueError, match="monitor='val_accuracy' needs a val_loader"):
        fit(model, loss, opt, train, monitor="val_accuracy")
    with pytest.raises(ValueError, match="loader yields no batches"):
        evaluate(model, [], Accuracy())


def test_resume_from_another_model_changes_nothing(digits, tmp_path):
    train, _ = loaders(digits, n_train=64)
    other = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    fit(other, nn.CrossEntropyLoss(), SGD(other.parameters(), lr=0.1), train,
        checkpoint_dir=tmp_path, quiet=True)
    model = mlp()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    before, before_opt, before_loader = params(model), opt.state_dict(), train.state_dict()
    with pytest.raises(ValueError, match=r"saved from a different model \(Sequential -> "
                                         r"Sequential\): missing keys \['4.weight', '4.bias'\], "
                                         r"unexpected \[\], shape mismatch \['1.weight: "
                                         r"checkpoint \(10, 64\), model \(32, 64\)'"):
        fit(model, nn.CrossEntropyLoss(), opt, train, epochs=2, resume=tmp_path, quiet=True)
    assert_same(before, params(model))
    assert_same(before_opt, opt.state_dict())
    assert_same(before_loader, train.state_dict())
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        fit(model, nn.CrossEntropyLoss(), opt, train, resume=tmp_path / "none.npz")
    save_checkpoint(tmp_path / "bare.npz", model)  # right model, but not written by fit()
    with pytest.raises(ValueError, match="not a checkpoint written by fit"):
        fit(model, nn.CrossEntropyLoss(), opt, train, resume=tmp_path / "bare.npz")
