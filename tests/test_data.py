"""DataLoader, ArrayDataset and the joint image/mask transforms."""

import numpy as np
import pytest

import numcnn
from numcnn.data import (
    ArrayDataset,
    Compose,
    DataLoader,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotate90,
    RandomVerticalFlip,
    compute_mean_std,
)


def seg_data(n=10, c=2, h=6, w=6, seed=0):
    """Images whose channel 0 *is* the mask, so any joint transform must keep x[0] == y."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, size=(n, h, w))
    x = np.concatenate([y[:, None].astype(np.float64),
                        rng.normal(size=(n, c - 1, h, w))], axis=1)
    return x, y


class ListDataset:
    """A plain (non-ArrayDataset) dataset, read sample by sample."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def add_noise(x, y, rng):
    """A random transform: draws from the loader's generator."""
    return x + rng.normal(size=x.shape).astype(np.float32), y


# ---------------------------------------------------------------- ArrayDataset


def test_array_dataset_checks_lengths():
    with pytest.raises(ValueError, match=r"same length.*len\(x\)=4.*len\(y\)=3"):
        ArrayDataset(np.zeros((4, 1, 8, 8)), np.zeros(3, dtype=np.int64))


def test_array_dataset_mask_size_must_match_image():
    x, y = np.zeros((2, 1, 64, 64)), np.zeros((2, 32, 32), dtype=np.int64)
    with pytest.raises(ValueError, match=r"expected y of shape \(2, 64, 64\), got \(2, 32, 32\)"):
        ArrayDataset(x, y)


def test_array_dataset_rejects_float_targets_and_bad_rank():
    with pytest.raises(ValueError, match="integer class labels.*got dtype float64"):
        ArrayDataset(np.zeros((2, 1, 4, 4)), np.zeros(2))
    with pytest.raises(ValueError, match=r"labels \(N,\) or masks \(N, H, W\); got shape \(2, 4\)"):
        ArrayDataset(np.zeros((2, 1, 4, 4)), np.zeros((2, 4), dtype=np.int64))


def test_array_dataset_indexing():
    x, y = seg_data(3)
    ds = ArrayDataset(x, y)
    xi, yi = ds[1]
    assert len(ds) == 3
    np.testing.assert_array_equal(xi, x[1])
    np.testing.assert_array_equal(yi, y[1])


# ---------------------------------------------------------------- DataLoader basics


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (2.5, TypeError),
                                        (True, TypeError), ("4", TypeError)])
def test_batch_size_must_be_positive_int(bad, error):
    ds = ArrayDataset(np.zeros((4, 1, 2, 2)), np.zeros(4, dtype=np.int64))
    with pytest.raises(error, match=r"batch_size must be a positive int; got"):
        DataLoader(ds, batch_size=bad)


def test_empty_dataset_is_rejected():
    ds = ArrayDataset(np.zeros((0, 1, 2, 2)), np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match=r"DataLoader got an empty dataset \(len 0\)"):
        DataLoader(ds, batch_size=2)


@pytest.mark.parametrize("n,bs,drop,expected", [(10, 3, False, 4), (10, 3, True, 3),
                                                 (9, 3, False, 3), (2, 5, False, 1),
                                                 (2, 5, True, 0)])
def test_len_counts_batches(n, bs, drop, expected):
    x, y = seg_data(n)
    loader = DataLoader(ArrayDataset(x, y), bs, drop_last=drop)
    sizes = [len(xb) for xb, _ in loader]
    assert len(loader) == expected == len(sizes)
    assert all(s == bs for s in sizes[:-1])


def test_batches_are_cast_once_to_float32_and_int64():
    x = np.arange(4 * 3 * 3, dtype=np.uint8).reshape(4, 1, 3, 3)
    y = np.arange(4, dtype=np.int32)
    xb, yb = next(iter(DataLoader(ArrayDataset(x, y), batch_size=4)))
    assert xb.dtype == np.float32 and yb.dtype == np.int64
    np.testing.assert_array_equal(xb, x.astype(np.float32))
    np.testing.assert_array_equal(yb, y)
    x64, y64 = seg_data(4)
    xb, yb = next(iter(DataLoader(ArrayDataset(x64, y64), batch_size=4)))
    assert xb.dtype == np.float32 and yb.dtype == np.int64 and yb.shape == (4, 6, 6)


def test_no_shuffle_keeps_order():
    x, y = seg_data(7)
    got = np.concatenate([xb for xb, _ in DataLoader(ArrayDataset(x, y), batch_size=3)])
    np.testing.assert_array_equal(got, x.astype(np.float32))


def epoch_labels(loader):
    return np.concatenate([yb for _, yb in loader])


def test_shuffle_is_a_permutation_each_epoch_and_epochs_differ():
    n = 50
    x, y = np.zeros((n, 1, 1, 1)), np.arange(n)
    loader = DataLoader(ArrayDataset(x, y), batch_size=8, shuffle=True, seed=3)
    e1, e2 = epoch_labels(loader), epoch_labels(loader)
    np.testing.assert_array_equal(np.sort(e1), np.arange(n))  # no repeats, none missing
    np.testing.assert_array_equal(np.sort(e2), np.arange(n))
    assert not np.array_equal(e1, e2)
    assert not np.array_equal(e1, np.arange(n))
    assert loader.epoch == 2


def test_same_seed_same_sequence_other_seed_other_sequence():
    x, y = np.zeros((30, 1, 1, 1)), np.arange(30)

    def run(seed):
        loader = DataLoader(ArrayDataset(x, y), 4, shuffle=True, seed=seed)
        return [epoch_labels(loader) for _ in range(3)]

    a, b, c = run(7), run(7), run(8)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))


def test_seed_none_follows_numcnn_manual_seed():
    x, y = np.zeros((20, 1, 1, 1)), np.arange(20)
    numcnn.manual_seed(5)
    a = epoch_labels(DataLoader(ArrayDataset(x, y), 4, shuffle=True))
    numcnn.manual_seed(5)
    b = epoch_labels(DataLoader(ArrayDataset(x, y), 4, shuffle=True))
    np.testing.assert_array_equal(a, b)


class NoGetItem(ArrayDataset):
    def __getitem__(self, i):
        raise AssertionError("the ArrayDataset fast path must not read sample by sample")


def test_array_dataset_fast_path_matches_generic_path():
    x, y = seg_data(11)
    fast = DataLoader(NoGetItem(x, y), 4, shuffle=True, seed=1, transform=add_noise)
    slow = DataLoader(ListDataset(x, y), 4, shuffle=True, seed=1, transform=add_noise)
    for (xa, ya), (xb, yb) in zip(fast, slow):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        assert xa.dtype == xb.dtype == np.float32 and ya.dtype == yb.dtype == np.int64


def test_generic_dataset_with_scalar_labels():
    x = np.random.default_rng(0).normal(size=(5, 1, 2, 2))
    ys = [np.int32(i % 3) for i in range(5)]
    xb, yb = next(iter(DataLoader(ListDataset(x, ys), batch_size=5)))
    assert xb.dtype == np.float32 and yb.dtype == np.int64
    np.testing.assert_array_equal(yb, [0, 1, 2, 0, 1])


def test_transform_randomness_comes_from_the_loader_seed():
    x, y = seg_data(6)
    a = [xb for xb, _ in DataLoader(ArrayDataset(x, y), 3, seed=4, transform=add_noise)]
    b = [xb for xb, _ in DataLoader(ArrayDataset(x, y), 3, seed=4, transform=add_noise)]
    c = [xb for xb, _ in DataLoader(ArrayDataset(x, y), 3, seed=5, transform=add_noise)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_transform_must_be_callable():
    x, y = seg_data(2)
    with pytest.raises(TypeError, match="transform must be callable"):
        DataLoader(ArrayDataset(x, y), 2, transform="flip")


# ---------------------------------------------------------------- checkpoint / resume


def roundtrip_npz(state, tmp_path):
    path = tmp_path / "loader.npz"
    np.savez(path, **state)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def make_loader(seed=11):
    x, y = seg_data(10)
    tf = Compose([RandomHorizontalFlip(), RandomRotate90(), add_noise])
    return DataLoader(ArrayDataset(x, y), 3, shuffle=True, seed=seed, transform=tf)


def flatten(batches):
    return [b for pair in batches for b in pair]


def test_state_dict_values_are_plain_arrays_that_survive_npz(tmp_path):
    state = make_loader().state_dict()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())
    loaded = roundtrip_npz(state, tmp_path)
    assert int(loaded["rng.state.state"]) > 2**64  # a 128-bit int kept exactly as text
    assert loaded.keys() == state.keys()


def test_resume_between_epochs_is_bit_identical(tmp_path):
    ref = make_loader()
    list(ref)
    expected = flatten(list(ref))  # epoch 2
    run = make_loader()
    list(run)
    state = roundtrip_npz(run.state_dict(), tmp_path)
    resumed = make_loader(seed=999)  # another seed: the state must override it
    resumed.load_state_dict(state)
    got = flatten(list(resumed))
    assert resumed.epoch == 2
    assert all(np.array_equal(u, v) for u, v in zip(expected, got))


@pytest.mark.parametrize("stop_after", [1, 2, 4])  # 4 = after the epoch's last batch
def test_resume_mid_epoch_is_bit_identical(tmp_path, stop_after):
    ref = make_loader()
    expected = flatten(list(ref) + list(ref) + list(ref))
    run = make_loader()
    it = iter(run)
    seen = [next(it) for _ in range(stop_after)]
    state = roundtrip_npz(run.state_dict(), tmp_path)
    resumed = make_loader(seed=0)
    resumed.load_state_dict(state)
    rest = list(resumed)
    if stop_after == len(run):
        assert rest and int(state["epoch"]) == 1  # the finished epoch is not replayed empty
    got = flatten(seen + rest + list(resumed))
    # batches seen, the rest of that epoch (or the next whole one), and one more epoch
    assert len(got) == 2 * len(run) * (3 if stop_after == len(run) else 2)
    assert all(np.array_equal(u, v) for u, v in zip(expected, got))


def test_state_dict_works_for_other_bit_generators(tmp_path):
    x, y = seg_data(9)

    def loader():
        rng = np.random.Generator(np.random.MT19937(3))
        return DataLoader(ArrayDataset(x, y), 2, shuffle=True, seed=rng, transform=add_noise)

    ref = loader()
    list(ref)
    expected = epoch_labels(ref)
    run = loader()
    list(run)
    resumed = loader()
    resumed.load_state_dict(roundtrip_npz(run.state_dict(), tmp_path))
    np.testing.assert_array_equal(epoch_labels(resumed), expected)


def test_load_state_dict_rejects_foreign_dict():
    with pytest.raises(ValueError, match=r"expected a dict from DataLoader.state_dict\(\)"):
        make_loader().load_state_dict({"lr": np.array(0.1)})


# ---------------------------------------------------------------- transforms


ALL_RANDOM = [RandomHorizontalFlip(), RandomVerticalFlip(), RandomRotate90(), RandomCrop(4),
              RandomCrop((3, 5))]


@pytest.mark.parametrize("t", ALL_RANDOM + [Compose(ALL_RANDOM[:3] + [RandomCrop(5)])])
def test_joint_transforms_move_mask_with_image(t):
    x, y = seg_data(1, c=3)
    x, y = x[0], y[0]
    rng = np.random.default_rng(0)
    for _ in range(20):
        xt, yt = t(x, y, rng)
        assert xt.shape[1:] == yt.shape
        np.testing.assert_array_equal(xt[0], yt)  # channel 0 was the mask: still is


def test_transforms_do_not_write_into_their_input():
    x, y = seg_data(1)
    x0, y0 = x[0].copy(), y[0].copy()
    t = Compose(ALL_RANDOM[:3] + [Normalize([1.0, 0.0], [2.0, 1.0])])
    rng = np.random.default_rng(1)
    for _ in range(10):
        t(x[0], y[0], rng)
    np.testing.assert_array_equal(x[0], x0)
    np.testing.assert_array_equal(y[0], y0)


@pytest.mark.parametrize("cls,axis", [(RandomHorizontalFlip, -1), (RandomVerticalFlip, -2)])
def test_flip_probability_extremes(cls, axis):
    x, y = seg_data(1)
    rng = np.random.default_rng(0)
    xt, yt = cls(p=1.0)(x[0], y[0], rng)
    np.testing.assert_array_equal(xt, np.flip(x[0], axis))
    np.testing.assert_array_equal(yt, np.flip(y[0], axis))
    xt, yt = cls(p=0.0)(x[0], y[0], rng)
    np.testing.assert_array_equal(xt, x[0])
    with pytest.raises(ValueError, match=r"p must be a finite number in \[0.0, 1.0\]; got 1.5"):
        cls(p=1.5)


def test_rotate90_draws_every_quarter_turn():
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
    rng = np.random.default_rng(0)
    seen = {RandomRotate90()(x, 0, rng)[0].tobytes() for _ in range(60)}
    expected = {np.rot90(x, k, axes=(1, 2)).tobytes() for k in range(4)}
    assert seen == expected


def test_rotate90_needs_square_images():
    with pytest.raises(ValueError, match=r"square image.*got shape \(1, 3, 4\)"):
        RandomRotate90()(np.zeros((1, 3, 4)), 0, np.random.default_rng(0))


def test_random_crop_is_a_window_and_covers_all_offsets():
    x = np.arange(36, dtype=np.float32).reshape(1, 6, 6)
    rng = np.random.default_rng(0)
    corners = set()
    for _ in range(100):
        xt, _ = RandomCrop((2, 3))(x, 7, rng)
        assert xt.shape == (1, 2, 3)
        top, left = divmod(int(xt[0, 0, 0]), 6)
        np.testing.assert_array_equal(xt, x[:, top:top + 2, left:left + 3])
        corners.add((top, left))
    assert corners == {(t, l) for t in range(5) for l in range(4)}


def test_random_crop_errors():
    with pytest.raises(ValueError, match=r"crop size \(8, 8\) is larger than the image"):
        RandomCrop(8)(np.zeros((1, 6, 6)), 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="size must be a positive int"):
        RandomCrop(0)


def test_scalar_label_passes_through():
    x = np.random.default_rng(0).normal(size=(1, 4, 4)).astype(np.float32)
    t = Compose(ALL_RANDOM[:3] + [RandomCrop(2)])
    rng = np.random.default_rng(0)
    for _ in range(10):
        _, yt = t(x, np.int64(7), rng)
        assert yt == 7


def test_mask_of_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match=r"mask of shape \(4, 4\).*got target of shape \(3, 4\)"):
        RandomHorizontalFlip()(np.zeros((1, 4, 4)), np.zeros((3, 4)), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"expected an image of shape \(C, H, W\); got shape"):
        RandomVerticalFlip()(np.zeros((4, 4)), 0, np.random.default_rng(0))


def test_normalize_with_computed_stats_gives_zero_mean_unit_std():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(50, 3, 5, 5)) * [[[2.0]], [[0.5]], [[3.0]]]
         + [[[1.0]], [[-4.0]], [[10.0]]]).astype(np.float32)
    mean, std = compute_mean_std(x)
    norm = Normalize(mean, std)
    out = np.stack([norm(xi, 0, rng)[0] for xi in x])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1.0, atol=1e-5)


def test_normalize_errors():
    with pytest.raises(ValueError, match=r"std must be > 0"):
        Normalize([0.0], [0.0])
    with pytest.raises(ValueError, match=r"mean has 2 values but the image has 3 channels"):
        Normalize([0.0, 1.0], [1.0])(np.zeros((3, 2, 2)), 0)


def test_compute_mean_std_matches_float64_and_survives_a_large_offset():
    rng = np.random.default_rng(0)
    x = (1000.0 + 1e-2 * rng.normal(size=(37, 2, 4, 4))).astype(np.float32)
    mean, std = compute_mean_std(x, chunk=5)  # chunked on purpose
    ref = x.astype(np.float64)
    assert mean.shape == std.shape == (2,) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, ref.mean(axis=(0, 2, 3)), rtol=1e-7)
    np.testing.assert_allclose(std, ref.std(axis=(0, 2, 3)), rtol=1e-4)
    with pytest.raises(ValueError, match=r"non-empty array \(N, C, H, W\); got \(3, 4\)"):
        compute_mean_std(np.zeros((3, 4)))


def test_loader_applies_joint_transforms_to_masks():
    x, y = seg_data(8, h=8, w=8)
    tf = Compose([RandomCrop(6), RandomRotate90(), RandomHorizontalFlip()])
    for xb, yb in DataLoader(ArrayDataset(x, y), 3, shuffle=True, seed=0, transform=tf):
        assert xb.shape[1:] == (2, 6, 6) and yb.shape[1:] == (6, 6)
        assert xb.flags.c_contiguous and yb.flags.c_contiguous
        np.testing.assert_array_equal(xb[:, 0], yb)


def test_random_crop_padding_shifts_and_fills():
    """padding=1 at the image's own size: every shift in {-1, 0, 1}^2, the image padded with
    ``fill`` and the mask with ``mask_fill`` (-100: ignored by losses and metrics)."""
    y = np.arange(16).reshape(4, 4)
    x = y[None].astype(np.float32) + 1
    x_pad = np.pad(x, ((0, 0), (1, 1), (1, 1)), constant_values=0.5)
    y_pad = np.pad(y, 1, constant_values=-100)
    rng = np.random.default_rng(0)
    corners = set()
    for _ in range(200):
        xt, yt = RandomCrop(4, padding=1, fill=0.5)(x, y, rng)
        top, left = divmod(int(yt[1, 1]), 4)  # window pixel (1, 1) is image pixel (top, left)
        np.testing.assert_array_equal(xt, x_pad[:, top:top + 4, left:left + 4])
        np.testing.assert_array_equal(yt, y_pad[top:top + 4, left:left + 4])
        corners.add((top, left))
    assert corners == {(t, l) for t in range(3) for l in range(3)}


def test_random_crop_padding_errors():
    with pytest.raises(ValueError, match=r"padding must be a non-negative int or a pair"):
        RandomCrop(4, padding=-1)
    with pytest.raises(ValueError, match=r"mask_fill=-100 does not fit the mask's dtype uint8"):
        RandomCrop(4, padding=1)(np.zeros((1, 4, 4)), np.zeros((4, 4), np.uint8),
                                 np.random.default_rng(0))
    xt, yt = RandomCrop(4, padding=1, mask_fill=0)(np.ones((1, 4, 4)),
                                                   np.ones((4, 4), np.uint8),
                                                   np.random.default_rng(0))
    assert yt.dtype == np.uint8 and yt.shape == (4, 4)


# ------------------------------------------------- bad input: one test per class of mistake
def small_loader(n=5, batch_size=2):
    return DataLoader(ListDataset(np.zeros((n, 1, 2, 2), np.float32), np.zeros(n, np.int64)),
                      batch_size)


@pytest.mark.parametrize("dataset, error, msg", [
    ([1, 2, 3], TypeError, r"dataset item 0 must be a pair \(x, y\); got int 1"),
    ([(np.zeros(2), 0, 1)], TypeError, r"dataset item 0 must be a pair \(x, y\); got tuple"),
    ({"a": 1}, TypeError, "dataset must have __len__ and __getitem__.*got dict"),
    ("images", TypeError, "dataset must have __len__ and __getitem__.*got str"),
    (42, TypeError, "dataset must have __len__ and __getitem__.*got int"),
    ([], ValueError, r"empty dataset \(len 0\)"),
])
def test_loader_refuses_what_is_not_a_dataset(dataset, error, msg):
    with pytest.raises(error, match=msg):
        DataLoader(dataset, 2)


@pytest.mark.parametrize("samples, error, msg", [
    ([(np.zeros((1, 2, 2)), 0), (np.zeros((1, 3, 3)), 1)], ValueError,
     r"must share one shape; the x of sample 0 has shape \(1, 2, 2\), the x of sample 1 "
     r"\(1, 3, 3\) \(crop, pad or resize"),
    ([(np.zeros((1, 2, 2)), np.zeros((2, 2))), (np.zeros((1, 2, 2)), 1)], ValueError,
     r"the y of sample 0 has shape \(2, 2\), the y of sample 1 \(\)"),
    ([(np.zeros((1, 2, 2)), "cat"), (np.zeros((1, 2, 2)), "dog")], TypeError,
     r"the y of sample 0 must be a real number or array .*got str 'cat' \(map class names "
     r"to ints first"),
    ([(np.zeros((1, 2, 2)), None), (np.zeros((1, 2, 2)), 1)], TypeError,
     r"the y of sample 0 must be a real number.*got NoneType None"),
    ([(np.array([["a"]]), 0), (np.zeros((1, 1)), 1)], TypeError,
     r"the x of sample 0 must be a real number or array.*got ndarray"),
    ([(np.zeros((1, 2, 2), complex), 0), (np.zeros((1, 2, 2)), 1)], TypeError,
     r"the x of sample 0 must be a real number or array"),
    ([(np.zeros((1, 2, 2)), 1), (np.zeros((1, 2, 2)), 0.5)], TypeError,
     r"the y of sample 0 is int64 but the y of sample 1 is float64"),
    ([(np.zeros((1, 2, 2)), 1), 7], TypeError, r"dataset item 1 must be a pair \(x, y\); "
                                               r"got int 7"),
])
def test_loader_names_the_bad_sample(samples, error, msg):
    loader = DataLoader(samples, 2)
    with pytest.raises(error, match=msg):
        next(iter(loader))


def test_loader_checks_what_a_transform_returns():
    x = np.zeros((4, 1, 3, 3), np.float32)
    y = np.zeros(4, np.int64)
    for transform, error, msg in [
            (lambda x, y, rng: x, TypeError, r"what the transform returned for sample 0 must "
                                             r"be a pair \(x, y\); got ndarray"),
            (lambda x, y, rng: (x[:, :int(rng.integers(1, 4))], y), ValueError,
             "the x the transform returned for sample 0 has shape"),
            (lambda x, y, rng: (x, "label"), TypeError,
             "the y the transform returned for sample 0 must be a real number")]:
        loader = DataLoader(ArrayDataset(x, y), 4, transform=transform, seed=1)
        with pytest.raises(error, match=msg):
            next(iter(loader))


@pytest.mark.parametrize("kwargs, error, msg", [
    (dict(seed=-1), ValueError, "seed must be a non-negative int; got -1"),
    (dict(seed=1.5), TypeError, "seed must be a non-negative int; got 1.5"),
    (dict(seed="42"), TypeError, "seed must be a non-negative int; got '42'"),
    (dict(seed=True), TypeError, "seed must be a non-negative int; got True"),
    (dict(shuffle="no"), TypeError, "shuffle must be True or False; got str 'no'"),
    (dict(drop_last=1), TypeError, "drop_last must be True or False; got int 1"),
    (dict(transform="flip"), TypeError, "transform must be callable"),
    (dict(batch_size=None), TypeError, "batch_size must be a positive int; got None"),
])
def test_loader_arguments(kwargs, error, msg):
    ds = ArrayDataset(np.zeros((4, 1, 2, 2)), np.zeros(4, np.int64))
    with pytest.raises(error, match=msg):
        DataLoader(ds, **{"batch_size": 2, **kwargs})


def test_array_dataset_refuses_non_finite_images():
    x = np.zeros((8, 1, 2, 2), np.float32)
    x[3, 0, 1, 1] = np.nan
    x[6, 0, 0, 0] = -np.inf
    with pytest.raises(ValueError, match=r"x must be finite; samples \[3, 6\] \(2 in all\) "
                                         r"hold NaN or inf"):
        ArrayDataset(x, np.zeros(8, np.int64))


@pytest.mark.parametrize("change, error, msg", [
    (lambda s: [1, 2], TypeError, "expected a dict from DataLoader.state_dict.*got list"),
    (lambda s: {"epoch": 1}, ValueError, r"missing keys \['batches_done', 'rng.bit_generator'"),
    (lambda s: {**s, "epoch": np.array(-1)}, ValueError, "epoch must be a non-negative int; "
                                                         "got -1"),
    (lambda s: {**s, "epoch": "two"}, TypeError, "epoch must be a non-negative int; got 'two'"),
    (lambda s: {**s, "epoch": np.array(1.5)}, TypeError, "epoch must be a non-negative int"),
    (lambda s: {**s, "batches_done": np.array(3)}, ValueError,
     r"batches_done must be an int in \[0, 2\]; got 3"),
    (lambda s: {**s, "rng.bit_generator": np.array("MT19937")}, ValueError,
     "the state is for a MT19937 generator; this loader uses PCG64"),
    (lambda s: {**s, "rng.state.state": np.array("xyz")}, ValueError,
     r"'rng.\*' is not one that DataLoader.state_dict\(\) wrote \(rng.state.state must hold "
     r"an integer; got ndarray"),
    (lambda s: {**s, "rng.state.inc": np.array(3.5)}, ValueError,
     "rng.state.inc must hold an integer"),
    (lambda s: {k: v for k, v in s.items() if k != "rng.state.inc"}, ValueError,
     "is not one that DataLoader.state_dict"),
])
def test_foreign_state_dict_changes_nothing(change, error, msg):
    loader = small_loader()
    it = iter(loader)
    next(it)
    before = loader.state_dict()
    rng_before = loader.rng.bit_generator.state
    with pytest.raises(error, match=msg):
        loader.load_state_dict(change(small_loader().state_dict()))
    after = loader.state_dict()
    assert loader.rng.bit_generator.state == rng_before
    assert sorted(after) == sorted(before)
    assert all(np.array_equal(after[k], before[k]) for k in before)


def test_compute_mean_std_arguments():
    x = np.ones((3, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="chunk must be a positive int; got 0"):
        compute_mean_std(x, chunk=0)
    with pytest.raises(TypeError, match="chunk must be a positive int; got 2.0"):
        compute_mean_std(x, chunk=2.0)
    bad = x.copy()
    bad[1, 0, 2, 2] = np.nan
    bad[2, 1, 0, 0] = np.inf
    with pytest.raises(ValueError, match="x must be finite; it holds 2 NaN or inf values"):
        compute_mean_std(bad, chunk=1)
    with pytest.raises(ValueError, match="exceeds float32's range"):
        compute_mean_std(np.full((2, 1, 2, 2), 1e200))
    with pytest.raises(TypeError, match="expected a real array .*got dtype complex128"):
        compute_mean_std(x.astype(complex))
    with pytest.raises(ValueError, match=r"non-empty array \(N, C, H, W\); got \(3, 2, 0, 4\)"):
        compute_mean_std(x[:, :, :0])


@pytest.mark.parametrize("mean, std, error, msg", [
    (np.nan, 1.0, ValueError, r"mean must be finite in every channel; got \[nan\]"),
    (0.0, [1.0, np.inf], ValueError, r"std must be finite in every channel; got \[1.0, inf\]"),
    ("0.5", 1.0, TypeError, "mean must be a number or a non-empty sequence .*got '0.5'"),
    ([], 1.0, ValueError, r"mean must be a number or a non-empty sequence .*got \[\]"),
    ([[0.0]], 1.0, ValueError, "mean must be a number or a non-empty sequence"),
    (0.0, 0.0, ValueError, r"std must be > 0 in every channel; got \[0.0\]"),
    ([0.0, 0.0], [1.0, 1.0, 1.0], ValueError, "one value per channel .*got 2 and 3 values"),
])
def test_normalize_arguments(mean, std, error, msg):
    with pytest.raises(error, match=msg):
        Normalize(mean, std)


@pytest.mark.parametrize("make, error, msg", [
    (lambda: RandomHorizontalFlip("half"), TypeError,
     r"RandomHorizontalFlip: p must be a finite number in \[0.0, 1.0\]; got 'half'"),
    (lambda: RandomVerticalFlip(np.nan), ValueError, r"p must be a finite number.*got nan"),
    (lambda: RandomVerticalFlip(-0.1), ValueError, r"p must be a finite number.*got -0.1"),
    (lambda: RandomCrop(2.5), TypeError, "size must be a positive int or a pair"),
    (lambda: RandomCrop((2,)), ValueError, r"size must be a positive int or a pair.*got \(2,\)"),
    (lambda: RandomCrop((2, "3")), TypeError, "size must be a positive int or a pair"),
    (lambda: RandomCrop(2, padding=(1, -1)), ValueError, "padding must be a non-negative int"),
    (lambda: RandomCrop(2, fill="white"), TypeError, "fill must be a finite number; got "
                                                      "'white'"),
    (lambda: RandomCrop(2, fill=np.inf), ValueError, "fill must be a finite number; got inf"),
    (lambda: RandomCrop(2, mask_fill=0.5), TypeError, "mask_fill must be an int; got 0.5"),
    (lambda: Compose(RandomRotate90()), TypeError, r"Compose: expected a list of transforms, "
                                                   r"e.g. Compose\(\[t1, t2\]\); got "
                                                   r"RandomRotate90"),
    (lambda: Compose([RandomRotate90(), "flip"]), TypeError, "every transform must be callable"),
])
def test_transform_arguments(make, error, msg):
    with pytest.raises(error, match=msg):
        make()


@pytest.mark.parametrize("t", [Normalize(0, 1), RandomHorizontalFlip(), RandomVerticalFlip(),
                               RandomRotate90(), RandomCrop(2)])
def test_transform_calls(t):
    rng = np.random.default_rng(0)
    x = np.zeros((1, 3, 3), np.float32)
    name = type(t).__name__
    with pytest.raises(TypeError, match=f"{name}: expected an image x as a real numpy array "
                                        r"\(C, H, W\); got list"):
        t(x.tolist(), 0, rng)
    with pytest.raises(TypeError, match=f"{name}: expected an image x .*of dtype <U1"):
        t(np.full((1, 3, 3), "a"), 0, rng)
    with pytest.raises(TypeError, match=f"{name}: expected a target y that is a number .*"
                                        "dtype <U3"):
        t(x, "cat", rng)
    if name != "Normalize":
        with pytest.raises(TypeError, match=f"{name}: rng must be a numpy.random.Generator .*"
                                            "got int"):
            t(x, 0, 7)
    else:
        with pytest.raises(TypeError, match="expected a floating-point image .*got dtype int64"):
            t(x.astype(np.int64), 0)
