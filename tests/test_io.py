"""Checkpoints: round trips, every kind of bad file, all-or-nothing loads, atomic writes."""

import os
import pickle

import numpy as np
import pytest

import numcnn.io as nio
from numcnn import nn
from numcnn.io import (
    load_checkpoint,
    load_state_dict,
    read_checkpoint,
    rng_state_from_arrays,
    rng_state_to_arrays,
    save_checkpoint,
    save_state_dict,
)
from numcnn.optim import SGD, Adam


class HalvingLR:
    """A minimal scheduler: only state_dict/load_state_dict matter to io."""

    def __init__(self) -> None:
        self.last_epoch = 0

    def step(self) -> None:
        self.last_epoch += 1

    def state_dict(self):
        return {"last_epoch": np.array(self.last_epoch)}

    def load_state_dict(self, state) -> None:
        self.last_epoch = int(state["last_epoch"])


def make_model(seed=0, hidden=5):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(4, hidden, rng=rng), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, 3, rng=rng))


def trained(seed=0):
    """A model, an SGD with momentum buffers and a scheduler, all with non-default state."""
    model = make_model(seed)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = np.random.default_rng(seed).standard_normal((8, 4)).astype(np.float32)
    loss = nn.CrossEntropyLoss()
    for _ in range(2):
        opt.zero_grad()
        loss(model(x), np.arange(8) % 3)
        model.backward(loss.backward())
        opt.step()
    sched = HalvingLR()
    sched.step()
    return model, opt, sched


def states_equal(a, b):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        assert np.asarray(a[k]).dtype == np.asarray(b[k]).dtype, k


@pytest.fixture
def ckpt(tmp_path):
    """A saved checkpoint and the objects it was saved from."""
    model, opt, sched = trained()
    path = tmp_path / "c.npz"
    save_checkpoint(path, model, opt, sched, extra={"epoch": 3, "note": "hello",
                                                    "loader": {"rng.state": np.arange(3)}})
    return path, model, opt, sched


def test_round_trip(ckpt):
    path, model, opt, sched = ckpt
    model2 = make_model(seed=1)
    opt2 = SGD(model2.parameters(), lr=0.5, momentum=0.9)
    sched2 = HalvingLR()
    extra = load_checkpoint(path, model2, opt2, sched2)
    states_equal(model.state_dict(), model2.state_dict())
    states_equal(opt.state_dict(), opt2.state_dict())
    assert sched2.last_epoch == 1
    assert extra["epoch"] == 3 and extra["note"] == "hello"
    np.testing.assert_array_equal(extra["loader"]["rng.state"], np.arange(3))


def test_file_layout_is_namespaced_and_pickle_free(ckpt):
    path, model, _, _ = ckpt
    with np.load(path, allow_pickle=False) as f:
        keys = set(f.files)
        assert int(f["meta/format_version"]) == nio.CHECKPOINT_FORMAT
        assert list(f["meta/model_keys"]) == list(model.state_dict())
        assert f["meta/model_shapes"][0] == "5,4"  # 0.weight (out, in)
    assert {"model/0.weight", "model/1.running_var", "optimizer/state.0.momentum_buffer",
            "optimizer/param_groups.0.lr", "scheduler/last_epoch", "extra/epoch",
            "extra/loader/rng.state"} <= keys


def test_wrong_model_names_the_differences_and_changes_nothing(ckpt):
    path = ckpt[0]
    other = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))  # no BatchNorm, 6 wide
    before = other.state_dict()
    with pytest.raises(ValueError, match=r"saved from a different model \(Sequential -> "
                       r"Sequential\): missing keys \['2.weight', '2.bias'\], unexpected "
                       r"\['1.weight', .*shape mismatch \['0.weight: checkpoint \(5, 4\), "
                       r"model \(6, 4\)'"):
        load_checkpoint(path, other)
    states_equal(before, other.state_dict())


def damaged(path, how):
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "flipped":  # one byte inside the first array's data: the zip CRC catches it
        data[300] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how, match", [("truncated", "truncated or corrupt"),
                                        ("flipped", "truncated or corrupt")])
def test_damaged_file_raises_and_changes_nothing(ckpt, how, match):
    path = ckpt[0]
    damaged(path, how)
    model = make_model(seed=5)
    opt = SGD(model.parameters(), lr=0.3, momentum=0.9)
    m0, o0 = model.state_dict(), opt.state_dict()
    with pytest.raises(ValueError, match=match):
        load_checkpoint(path, model, opt)
    states_equal(m0, model.state_dict())
    states_equal(o0, opt.state_dict())


def test_random_bytes_empty_and_npy(tmp_path):
    p = tmp_path / "junk.npz"
    p.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(ValueError, match=r"not an \.npz \(zip\) archive"):
        load_checkpoint(p)
    p.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty \(0 bytes\)"):
        load_checkpoint(p)
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"single-array \.npy file"):
        load_checkpoint(tmp_path / "one.npy")


def test_pickles_are_refused(tmp_path):
    p = tmp_path / "obj.npz"
    np.savez(p, a=np.array([{"x": 1}], dtype=object))  # an object array needs pickle
    with pytest.raises(ValueError, match="pickled object array.*allow_pickle=False"):
        load_checkpoint(p)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        load_state_dict(p)
    q = tmp_path / "raw.pkl"
    q.write_bytes(pickle.dumps({"w": np.zeros(2)}))
    with pytest.raises(ValueError, match="is a pickle.*allow_pickle=False"):
        load_checkpoint(q)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.npz", make_model())
    with pytest.raises(ValueError, match="is a directory"):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_checkpoint(tmp_path / "no" / "dir.npz", make_model())


def test_not_a_checkpoint_and_newer_format(tmp_path):
    save_state_dict(tmp_path / "w.npz", make_model())
    with pytest.raises(ValueError, match="not a numcnn checkpoint.*load_state_dict"):
        load_checkpoint(tmp_path / "w.npz")
    with open(tmp_path / "v9.npz", "wb") as f:
        nio._write_npz(f, {"meta/format_version": np.array(9)})
    with pytest.raises(ValueError, match=r"format version 9; this numcnn reads versions 1\.\.1"):
        load_checkpoint(tmp_path / "v9.npz")


def test_missing_section_raises_before_anything_changes(tmp_path):
    model, _, _ = trained()
    save_checkpoint(tmp_path / "m.npz", model)  # model only
    fresh = make_model(seed=3)
    before = fresh.state_dict()
    with pytest.raises(ValueError, match="holds no optimizer state; it has \\['model'\\]"):
        load_checkpoint(tmp_path / "m.npz", fresh, SGD(fresh.parameters(), lr=0.1))
    states_equal(before, fresh.state_dict())


def test_optimizer_failure_rolls_the_model_back(ckpt):
    # Saved from SGD; loading into Adam fails *after* the model was loaded: it must be undone.
    path = ckpt[0]
    model = make_model(seed=7)
    opt = Adam(model.parameters(), lr=0.01)
    before_m, before_o = model.state_dict(), opt.state_dict()
    with pytest.raises(ValueError, match="could not load the optimizer state.*nothing was "
                                         "changed"):
        load_checkpoint(path, model, opt)
    states_equal(before_m, model.state_dict())
    states_equal(before_o, opt.state_dict())


def test_weights_stored_as_strings_are_refused(tmp_path):
    model, _, _ = trained()
    arrays = {}
    save_checkpoint(tmp_path / "good.npz", model)
    with np.load(tmp_path / "good.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["model/0.bias"] = arrays["model/0.bias"].astype(str)  # '0.123...' strings
    with open(tmp_path / "strings.npz", "wb") as f:
        nio._write_npz(f, arrays)
    fresh = make_model(seed=3)
    before = fresh.state_dict()
    with pytest.raises(ValueError, match=r"could not load the model state .*0\.bias: "
                                         r"expected a float32 array of shape \(5,\), got an "
                                         r"array of shape \(5,\) and dtype <U"):
        load_checkpoint(tmp_path / "strings.npz", fresh)
    states_equal(before, fresh.state_dict())


def test_a_bad_scheduler_state_changes_neither_model_nor_optimizer(ckpt, tmp_path):
    from numcnn.optim import StepLR

    model, opt, _ = trained(seed=4)
    sched = StepLR(opt, step_size=2)
    save_checkpoint(tmp_path / "s.npz", model, opt, sched)
    with np.load(tmp_path / "s.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["scheduler/step_size"] = np.array(0)
    with open(tmp_path / "s0.npz", "wb") as f:
        nio._write_npz(f, arrays)
    fresh = make_model(seed=5)
    fopt = SGD(fresh.parameters(), lr=0.3, momentum=0.9)
    fsched = StepLR(fopt, step_size=7)
    m0, o0, s0 = fresh.state_dict(), fopt.state_dict(), fsched.state_dict()
    with pytest.raises(ValueError, match="could not load the scheduler state.*step_size must "
                                         "be a positive int; got 0.*nothing was changed"):
        load_checkpoint(tmp_path / "s0.npz", fresh, fopt, fsched)
    states_equal(m0, fresh.state_dict())
    states_equal(o0, fopt.state_dict())
    states_equal(s0, fsched.state_dict())
    # a scheduler from elsewhere is loaded after numcnn's checks, before numcnn's writes
    path = ckpt[0]
    with pytest.raises(ValueError, match=r"could not load the scheduler state \(KeyError"):
        load_checkpoint(path, fresh, fopt, BrokenLR())
    states_equal(m0, fresh.state_dict())
    states_equal(o0, fopt.state_dict())


class BrokenLR(HalvingLR):
    def load_state_dict(self, state) -> None:
        raise KeyError("no such entry")


def test_crash_mid_write_keeps_the_previous_file(ckpt, monkeypatch):
    path, model, opt, sched = ckpt
    before = path.read_bytes()

    def crash(f, arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(nio, "_write_npz", crash)
    model2, _, _ = trained(seed=9)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, model2)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # the temporary file was removed
    monkeypatch.undo()
    fresh = make_model(seed=2)
    load_checkpoint(path, fresh)
    states_equal(model.state_dict(), fresh.state_dict())


def test_a_killed_save_leaves_a_temporary_file_that_the_next_save_removes(tmp_path):
    target = tmp_path / "last.npz"
    stale = tmp_path / ".last.npz.0123abcd.tmp"      # what a kill -9 mid-save leaves
    stale.write_bytes(b"PK\x03\x04 half")
    other = tmp_path / ".best.npz.0123abcd.tmp"      # another target's: not ours to judge
    other.write_bytes(b"x")
    mine = tmp_path / ".last.npz.notours.tmp"        # not a name numcnn makes
    mine.write_bytes(b"x")
    old = os.path.getmtime(stale) - 60
    for p in (stale, other, mine):
        os.utime(p, (old, old))
    fresh = tmp_path / ".last.npz.89abcdef.tmp"      # a save still running elsewhere
    fresh.write_bytes(b"x")
    future = old + 3600
    os.utime(fresh, (future, future))
    save_state_dict(target, make_model())
    assert sorted(os.listdir(tmp_path)) == sorted([target.name, other.name, mine.name,
                                                   fresh.name])


def test_unsaveable_values_raise_and_write_nothing(tmp_path):
    with pytest.raises(TypeError, match="extra/bad: expected a numeric, bool or string array"):
        save_checkpoint(tmp_path / "x.npz", extra={"bad": None})
    with pytest.raises(ValueError, match="keys must be non-empty strings without '/'"):
        save_checkpoint(tmp_path / "x.npz", extra={"a/b": 1})
    assert os.listdir(tmp_path) == []


def test_state_dict_files_round_trip(tmp_path):
    model = make_model()
    save_state_dict(tmp_path / "w.npz", model)
    fresh = make_model(seed=4)
    fresh.load_state_dict(load_state_dict(tmp_path / "w.npz"))
    states_equal(model.state_dict(), fresh.state_dict())
    # keys are stored as given, even ones np.savez would take as its own arguments
    save_state_dict(tmp_path / "odd.npz", {"file": np.ones(2), "allow_pickle": np.zeros(1)})
    with np.load(tmp_path / "odd.npz") as f:
        assert sorted(f.files) == ["allow_pickle", "file"]


def test_read_checkpoint_exposes_sections(ckpt):
    c = read_checkpoint(ckpt[0])
    assert c.model_class == "Sequential" and c.format_version == 1
    assert c.fingerprint[0] == ("0.weight", (5, 4))
    assert c.scheduler == {"last_epoch": np.array(1)}


@pytest.mark.parametrize("bitgen", [np.random.PCG64, np.random.MT19937, np.random.Philox])
def test_rng_state_round_trip(tmp_path, bitgen):
    g = np.random.Generator(bitgen(123))
    g.random(5)
    save_checkpoint(tmp_path / "r.npz", extra={"rng": rng_state_to_arrays(g)})
    extra = load_checkpoint(tmp_path / "r.npz")
    h = np.random.Generator(bitgen(0))
    h.bit_generator.state = rng_state_from_arrays(extra["rng"])
    np.testing.assert_array_equal(g.random(4), h.random(4))
