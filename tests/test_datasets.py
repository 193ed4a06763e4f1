"""The bundled data sets: digits, Fashion-MNIST (IDX parser), nuclei, digit scenes, shapes."""

import gzip
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from numcnn.data import ArrayDataset, DataLoader
from numcnn.datasets import digits as digits_mod
from numcnn.datasets import fashion_mnist as fm_mod
from numcnn.datasets import (
    instance_boundaries,
    instances_to_target,
    load_digit_scenes,
    load_digits,
    load_fashion_mnist,
    load_nuclei,
    make_shapes,
    nuclei_from_arrays,
    parse_idx,
    read_idx,
)
from numcnn.datasets.digits import split_indices

# Real data comes from optional packages (pip install 'numcnn[data]', which `make test`
# installs); without them those tests are skipped, and the ImportError tests still run.
needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                   reason="scikit-learn is not installed")
needs_stardist = pytest.mark.skipif(importlib.util.find_spec("stardist") is None,
                                    reason="stardist is not installed")

# ---------------------------------------------------------------- digits


@needs_sklearn
def test_digits_shapes_dtypes_range():
    x, y = load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0  # 0..16 scaled by 1/16
    assert set(np.unique(y)) == set(range(10))


@needs_sklearn
def test_digits_split_is_disjoint_stratified_and_deterministic():
    _, y = load_digits()
    tr, te = split_indices(y, 0.2, seed=0)
    assert len(np.intersect1d(tr, te)) == 0
    np.testing.assert_array_equal(np.union1d(tr, te), np.arange(len(y)))
    np.testing.assert_allclose(np.bincount(y[te]) / np.bincount(y), 0.2, atol=0.02)
    x_tr, y_tr = load_digits("train")
    x_te, y_te = load_digits("test")
    assert len(x_tr) + len(x_te) == 1797 and len(x_te) == len(te)
    np.testing.assert_array_equal(load_digits("test")[0], x_te)
    assert not np.array_equal(load_digits("test", seed=1)[1], y_te)


def test_digits_bad_arguments():
    with pytest.raises(ValueError, match=r"split must be one of .*got 'val'"):
        load_digits("val")
    with pytest.raises(ValueError,
                       match=r"test_fraction must be a finite number in \(0.0, 1.0\); got 1.5"):
        load_digits("train", test_fraction=1.5)


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    digits_mod._raw_digits.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install 'numcnn\[data\]'"):
            load_digits()
    finally:
        digits_mod._raw_digits.cache_clear()


# ---------------------------------------------------------------- IDX / Fashion-MNIST


def idx_bytes(a: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, a.ndim]) + np.array(a.shape, dtype=">u4").tobytes()
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, a: np.ndarray, gz: bool, code: int = 0x08) -> None:
    data = idx_bytes(a, code)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    a = np.random.default_rng(0).integers(0, 256, size=(3, 5, 4), dtype=np.uint8)
    write_idx(tmp_path / "a-idx3-ubyte", a, gz)
    b = read_idx(tmp_path / ("a-idx3-ubyte" + (".gz" if gz else "")))
    assert b.dtype == np.uint8
    np.testing.assert_array_equal(a, b)


def test_parse_idx_other_dtypes():
    a = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
    np.testing.assert_array_equal(parse_idx(idx_bytes(a, 0x0C)), a)
    f = np.linspace(0, 1, 4).astype(np.float64)
    np.testing.assert_array_equal(parse_idx(idx_bytes(f, 0x0E)), f)


def test_parse_idx_rejects_bad_magic_and_truncation():
    good = idx_bytes(np.zeros((2, 3, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="bad magic number 0803"):
        parse_idx(b"\x08\x03" + good[2:])
    with pytest.raises(ValueError, match=r"truncated IDX file: header says shape \(2, 3, 3\)"):
        parse_idx(good[:-1])
    with pytest.raises(ValueError, match="trailing bytes"):
        parse_idx(good + b"\x00")
    with pytest.raises(ValueError, match="truncated IDX header"):
        parse_idx(good[:9])


def test_read_idx_corrupt_gzip(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 4), dtype=np.uint8)))[:-6])
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        read_idx(p)


def write_fake_fashion(root: Path, n_train=5, n_test=3):
    rng = np.random.default_rng(0)
    out = {}
    for split, n, gz in (("train", n_train, True), ("t10k", n_test, False)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(root / f"{split}-images-idx3-ubyte", x, gz)
        write_idx(root / f"{split}-labels-idx1-ubyte", y, gz)
        out[split] = (x, y)
    return out


def test_load_fashion_mnist_from_root(tmp_path):
    raw = write_fake_fashion(tmp_path)  # train gzipped, test raw
    for split, key in (("train", "train"), ("test", "t10k")):
        x, y = load_fashion_mnist(root=tmp_path, split=split)
        assert x.dtype == np.float32 and x.shape == (len(raw[key][0]), 1, 28, 28)
        assert y.dtype == np.int64
        np.testing.assert_allclose(x[:, 0] * 255, raw[key][0], atol=1e-4)
        np.testing.assert_array_equal(y, raw[key][1])


def test_load_fashion_mnist_missing_lists_folders_and_how_to_get(tmp_path, monkeypatch):
    monkeypatch.setattr(fm_mod, "SYSTEM_DIRS", (tmp_path / "system",))
    msg = (r"searched .*empty.*system.*apt-get install dataset-fashion-mnist.*"
           r"pass root=")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=msg):
        load_fashion_mnist(root=tmp_path / "empty")


def test_load_fashion_mnist_image_label_mismatch(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8), False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8), False)
    with pytest.raises(ValueError, match=r"got uint8 \(3, 28, 28\) .* and \(4,\)"):
        load_fashion_mnist(root=tmp_path, split="test")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_fashion_mnist(root=tmp_path, split="val")


@pytest.mark.skipif(not (fm_mod.SYSTEM_DIRS[0] / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_test_split():
    x, y = load_fashion_mnist(split="test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)


# ---------------------------------------------------------------- nuclei


def boundary_reference(lab):
    """Nested loops over pixels: the definition, written out plainly."""
    H, W = lab.shape
    out = np.zeros_like(lab, dtype=bool)
    for i in range(H):
        for j in range(W):
            if lab[i, j] == 0:
                continue
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                a, b = i + di, j + dj
                if 0 <= a < H and 0 <= b < W and lab[a, b] != lab[i, j]:
                    out[i, j] = True
    return out


def test_instance_boundaries_match_the_definition():
    rng = np.random.default_rng(0)
    lab = np.zeros((12, 14), dtype=np.int64)
    lab[1:6, 1:7] = 1
    lab[3:9, 7:12] = 2  # touches instance 1
    lab[9:12, 0:4] = 3  # cut by the image edge
    lab[rng.random(lab.shape) < 0.05] = 0
    np.testing.assert_array_equal(instance_boundaries(lab), boundary_reference(lab))
    t3 = instances_to_target(lab, "3class")
    assert set(np.unique(t3)) == {0, 1, 2}
    np.testing.assert_array_equal(t3 > 0, instances_to_target(lab, "binary") == 1)


@pytest.fixture(scope="module")
def nuclei3():
    return load_nuclei("3class", tile=64, val_fraction=0.25)


@needs_stardist
def test_nuclei_shapes_dtypes_and_classes(nuclei3):
    d = nuclei3
    assert d.x_train.shape == (48, 1, 64, 64) and d.x_val.shape == (16, 1, 64, 64)
    assert d.y_train.shape == (48, 64, 64) and d.y_val.shape == (16, 64, 64)
    assert d.x_train.dtype == d.x_val.dtype == d.image.dtype == np.float32
    assert d.y_train.dtype == d.y_val.dtype == d.target.dtype == np.int64
    assert d.image.shape == d.target.shape == (512, 512) and d.num_classes == 3
    assert set(np.unique(d.target)) == {0, 1, 2}
    assert 0.0 <= d.image.min() and d.image.max() <= 1.0 and d.image.std() > 0.05
    b = load_nuclei("binary")
    assert set(np.unique(b.y_train)) == {0, 1} and b.num_classes == 2
    np.testing.assert_array_equal(b.target, (d.target > 0).astype(np.int64))


@needs_stardist
def test_nuclei_train_and_val_come_from_disjoint_bands(nuclei3):
    d, t = nuclei3, 64
    assert d.val_start == 384
    # Reassemble the tiles: train must be exactly rows [0, val_start), val rows [val_start, H).
    train = d.x_train[:, 0].reshape(d.val_start // t, 512 // t, t, t).swapaxes(1, 2)
    np.testing.assert_array_equal(train.reshape(d.val_start, 512), d.image[:d.val_start])
    val = d.y_val.reshape((512 - d.val_start) // t, 512 // t, t, t).swapaxes(1, 2)
    np.testing.assert_array_equal(val.reshape(512 - d.val_start, 512), d.target[d.val_start:])


@needs_stardist
def test_nuclei_boundaries_lie_on_instance_edges(nuclei3):
    d = nuclei3
    lab = d.instances
    p = np.pad(lab, 1, mode="edge")
    neigh = np.stack([p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
    touches_other = (neigh != lab).any(axis=0)
    assert np.all(touches_other[d.target == 2])  # every boundary pixel is on an edge
    assert not np.any(touches_other[d.target == 1])  # no interior pixel is
    assert np.all(lab[d.target == 0] == 0)
    assert 0.02 < np.mean(d.target == 2) < np.mean(d.target == 1)


def test_nuclei_normalisation_uses_only_the_training_band():
    rng = np.random.default_rng(0)
    img = rng.normal(100, 10, size=(64, 32))
    lab = (rng.random((64, 32)) < 0.3).astype(np.int64)
    a = nuclei_from_arrays(img, lab, tile=16, val_fraction=0.25)
    img2 = img.copy()
    img2[a.val_start:] *= 50  # a wild validation band must not change the training tiles
    b = nuclei_from_arrays(img2, lab, tile=16, val_fraction=0.25)
    assert a.val_start == 48 and len(a.x_train) == 6 and len(a.x_val) == 2
    np.testing.assert_array_equal(a.x_train, b.x_train)


def test_nuclei_bad_input():
    img = np.zeros((64, 64))
    img[0, 0] = 1
    with pytest.raises(ValueError, match=r"instance labels of the image's shape \(64, 64\); "
                                         r"got shape \(32, 32\)"):
        nuclei_from_arrays(img, np.zeros((32, 32), dtype=np.int64))
    with pytest.raises(ValueError, match=r"got shape \(64, 64\), dtype float64"):
        nuclei_from_arrays(img, np.zeros((64, 64)))
    with pytest.raises(ValueError, match="leaves no whole tile"):
        nuclei_from_arrays(img, np.zeros((64, 64), dtype=np.int64), tile=48)
    with pytest.raises(ValueError, match=r"target must be one of .*got 'instance'"):
        nuclei_from_arrays(img, np.zeros((64, 64), dtype=np.int64), target="instance")


def test_nuclei_without_stardist_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "stardist.data", None)
    with pytest.raises(ImportError, match=r"pip install 'numcnn\[data\]'"):
        load_nuclei()


# ---------------------------------------------------------------- digit scenes


@needs_sklearn
def test_digit_scenes():
    x, y = load_digit_scenes(40, size=48, seed=3)
    assert x.shape == (40, 1, 48, 48) and x.dtype == np.float32
    assert y.shape == (40, 48, 48) and y.dtype == np.int64
    assert y.min() == 0 and y.max() <= 10 and len(np.unique(y)) > 5
    # labels sit exactly on the strokes: pixels above the threshold
    np.testing.assert_array_equal(y > 0, x[:, 0] > 0.5)
    per_canvas = [len(np.unique(yi)) - 1 for yi in y]
    assert min(per_canvas) >= 1 and max(per_canvas) <= 3
    x2, y2 = load_digit_scenes(40, size=48, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(load_digit_scenes(40, size=48, seed=4)[1], y)


def test_digit_scenes_bad_arguments():
    with pytest.raises(ValueError, match="n must be a positive int; got -3"):
        load_digit_scenes(-3)
    with pytest.raises(ValueError, match="size must be an int >= 24; got 20"):
        load_digit_scenes(2, size=20)


# ---------------------------------------------------------------- synthetic shapes


def test_shapes_masks_are_exact_without_noise():
    x, y = make_shapes(30, size=32, seed=0, noise=0.0)
    assert x.shape == (30, 1, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(x[:, 0] > 0, y > 0)
    assert x[:, 0][y > 0].min() >= 0.5 and x.max() <= 1.0


def test_shapes_noise_and_determinism():
    x, y = make_shapes(20, seed=1, noise=0.2)
    assert abs(x[:, 0][y == 0].std() - 0.2) < 0.01
    x2, y2 = make_shapes(20, seed=1, noise=0.2)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(make_shapes(20, seed=2)[1], y)


def test_shapes_bad_arguments():
    with pytest.raises(ValueError, match="n must be a positive int; got -1"):
        make_shapes(-1)
    with pytest.raises(ValueError, match="size must be an int >= 16; got 8"):
        make_shapes(4, size=8)
    with pytest.raises(TypeError, match="n must be a positive int; got 2.5"):
        make_shapes(2.5)


def test_shapes_feed_a_loader():
    x, y = make_shapes(10, size=16, seed=0)
    xb, yb = next(iter(DataLoader(ArrayDataset(x, y), 4, shuffle=True, seed=0)))
    assert xb.shape == (4, 1, 16, 16) and yb.shape == (4, 16, 16)


# ------------------------------------------------- bad input: one test per class of mistake
@pytest.mark.parametrize("call, error, msg", [
    (lambda: make_shapes(2, seed=-1), ValueError, "make_shapes: seed must be a non-negative "
                                                  "int; got -1"),
    (lambda: make_shapes(2, seed="a"), TypeError, "seed must be a non-negative int; got 'a'"),
    (lambda: make_shapes(2, noise="loud"), TypeError, "noise must be a finite number in "
                                                      r"\[0.0, inf\); got 'loud'"),
    (lambda: make_shapes(2, noise=np.nan), ValueError, "noise must be a finite number"),
    (lambda: make_shapes(2, noise=-0.1), ValueError, "noise must be a finite number"),
    (lambda: make_shapes(2, max_shapes=0), ValueError, r"max_shapes must be an int in \[1, 100\]"),
    (lambda: load_digit_scenes(2, max_digits=10 ** 12), ValueError,
     r"max_digits must be an int in \[1, 100\]; got 1000000000000"),
    (lambda: make_shapes(True), TypeError, "n must be a positive int; got True"),
    (lambda: make_shapes(10 ** 9), ValueError, r"n=1000000000 images of 32x32 would take "
                                               r"11444.1 GiB, more than the 1 GiB"),
    (lambda: load_digit_scenes(2, seed=1.5), TypeError, "load_digit_scenes: seed must be a "
                                                        "non-negative int"),
    (lambda: load_digit_scenes(2, threshold=1.0), ValueError,
     r"threshold must be a finite number in \(0.0, 1.0\); got 1.0"),
    (lambda: load_digit_scenes(2, scale=0), ValueError, "scale must be a positive int; got 0"),
    (lambda: load_digit_scenes(2, split="val"), ValueError, "split must be one of"),
    (lambda: load_digit_scenes(10 ** 8, size=64), ValueError, "GiB, more than the 1 GiB"),
])
def test_generated_sets_arguments(call, error, msg):
    with pytest.raises(error, match=msg):
        call()


@needs_sklearn
@pytest.mark.parametrize("kwargs, error, msg", [
    (dict(seed=-2), ValueError, "load_digits: seed must be a non-negative int; got -2"),
    (dict(seed=None), TypeError, "seed must be a non-negative int; got None"),
    (dict(test_fraction="0.2"), TypeError, "test_fraction must be a finite number"),
    (dict(test_fraction=np.nan), ValueError, "test_fraction must be a finite number"),
    (dict(split=0), ValueError, "split must be one of"),
    (dict(split="test", test_fraction=0.001), ValueError,
     r"test_fraction=0.001 leaves the test split empty \(each class has about 179 images\)"),
    (dict(split="train", test_fraction=0.999), ValueError, "leaves the train split empty"),
])
def test_load_digits_arguments(kwargs, error, msg):
    with pytest.raises(error, match=msg):
        load_digits(**kwargs)


def test_fashion_mnist_and_idx_arguments(tmp_path):
    with pytest.raises(TypeError, match=r"load_fashion_mnist: root must be a path \(str or "
                                        r"os.PathLike\); got int"):
        load_fashion_mnist(root=5)
    (tmp_path / "file").write_text("")
    for root in (tmp_path / "nowhere", tmp_path / "file"):
        with pytest.raises(FileNotFoundError, match="root .* is not a folder; give the folder "
                                                    "that holds the four IDX files"):
            load_fashion_mnist(root=root)
    with pytest.raises(TypeError, match="read_idx: path must be a path"):
        read_idx(None)
    with pytest.raises(TypeError, match="parse_idx: data must be the bytes of an IDX file; got "
                                        "str"):
        parse_idx("\x00\x00\x08\x01")
    # a header whose sizes multiply beyond int64 is a corrupt file, not an overflow
    huge = bytes([0, 0, 8, 4]) + (2 ** 32 - 1).to_bytes(4, "big") * 4
    with pytest.raises(ValueError, match="truncated IDX file: header says shape"):
        parse_idx(huge)
