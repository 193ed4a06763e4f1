"""Random wrong inputs to the public data, datasets and command-line entry points.

Each example replaces some arguments of a valid call by values drawn by hypothesis (None,
bools, extreme ints, NaN/inf, strings, arrays of any rank and dtype, dicts...) and uses
what comes back (iterates a loader, calls a transform on a sample).  The only exceptions
allowed are ValueError/TypeError raised by a ``raise`` statement in numcnn itself (and
FileNotFoundError where a path is involved); the command line only ever ends with exit
status 2 and one line on stderr, never a traceback.
"""

import contextlib
import io
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numcnn import cli, data, datasets
from numcnn.cli import raised_by_numcnn

NUMBERS = st.sampled_from([-2 ** 63, -1, 0, 1, 2, 3, 7, 16, 33, 10 ** 12, 2 ** 70, 0.5, 1.5,
                           -0.0, float("nan"), float("inf"), -float("inf"), 1e308])
ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.uint8, np.bool_,
                           np.complex64, np.dtype("<U2")]),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))
WRONG = st.one_of(
    st.none(), st.booleans(), NUMBERS, st.integers(-5, 40), st.floats(), st.text(max_size=4),
    st.binary(max_size=6), st.lists(st.integers(-3, 3), max_size=4),
    st.tuples(NUMBERS, NUMBERS), ARRAYS,
    st.sampled_from([{}, {"a": 1}, object(), np.random.default_rng(0), [None], (1, 2, 3),
                     np.zeros((2, 1, 4, 4), np.float32), np.zeros(2, np.int64)]))

X = np.random.default_rng(0).random((6, 1, 4, 4)).astype(np.float32)
Y = np.arange(6) % 2
MASKS = (X[:, 0] > 0.5).astype(np.int64)
SAMPLE = (X[0], MASKS[0])


def _loader(dataset=None, batch_size=2, shuffle=True, drop_last=False, seed=0,
            transform=None):
    return data.DataLoader(data.ArrayDataset(X, Y) if dataset is None else dataset,
                           batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed,
                           transform=transform)


def _load_state(state):
    loader = _loader()
    loader.load_state_dict(state)
    return loader


# name -> (function, valid keyword arguments)
ENTRY_POINTS = {
    "ArrayDataset": (data.ArrayDataset, dict(x=X, y=Y)),
    "DataLoader": (_loader, dict(dataset=None, batch_size=2, shuffle=True, drop_last=False,
                                 seed=0, transform=None)),
    "DataLoader.load_state_dict": (_load_state, dict(state=_loader().state_dict())),
    "Normalize": (data.Normalize, dict(mean=0.5, std=0.25)),
    "RandomHorizontalFlip": (data.RandomHorizontalFlip, dict(p=0.5)),
    "RandomVerticalFlip": (data.RandomVerticalFlip, dict(p=0.5)),
    "RandomCrop": (data.RandomCrop, dict(size=3, padding=1, fill=0.0, mask_fill=-100)),
    "Compose": (data.Compose, dict(transforms=[data.RandomRotate90()])),
    "compute_mean_std": (data.compute_mean_std, dict(x=X, chunk=4)),
    "make_shapes": (datasets.make_shapes, dict(n=2, size=16, seed=0, max_shapes=2,
                                               noise=0.1)),
    "load_digit_scenes": (datasets.load_digit_scenes, dict(n=2, size=24, seed=0, scale=3,
                                                           max_digits=2, threshold=0.5,
                                                           split="all")),
    "load_digits": (datasets.load_digits, dict(split="test", test_fraction=0.2, seed=0)),
    "load_fashion_mnist": (datasets.load_fashion_mnist, dict(root=None, split="train")),
    "parse_idx": (datasets.parse_idx, dict(data=b"\x00\x00\x08\x01\x00\x00\x00\x02\x07\x09")),
    "read_idx": (datasets.read_idx, dict(path=os.devnull)),
}


def check_error(e: BaseException, allow_missing_file: bool = False) -> None:
    """``e`` must be numcnn's own ValueError/TypeError (with a message)."""
    ok = (ValueError, TypeError) + ((FileNotFoundError,) if allow_missing_file else ())
    assert isinstance(e, ok) and str(e), f"{type(e).__name__}: {e}"
    assert raised_by_numcnn(e) or isinstance(e, FileNotFoundError), \
        f"{type(e).__name__} from outside numcnn's checks: {e}"


def use(obj, wrong) -> None:
    """Use what a call returned, the way training would; then feed it ``wrong`` too."""
    if isinstance(obj, data.DataLoader):
        for _ in zip(range(2), obj):
            pass
        obj.load_state_dict(obj.state_dict())
    elif isinstance(obj, data.ArrayDataset):
        next(iter(data.DataLoader(obj, 4)))
    elif callable(obj):  # a transform: a good sample, then wrong pieces
        rng = np.random.default_rng(0)
        obj(*SAMPLE, rng)
        obj(wrong, SAMPLE[1], rng)
    elif isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], np.ndarray):
        if obj[0].dtype.kind == "f" and len(obj[0]) and obj[0].ndim == 4:
            next(iter(data.DataLoader(data.ArrayDataset(*obj), 4)))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(ENTRY_POINTS)), data_=st.data())
def test_data_entry_points_refuse_wrong_input_clearly(name, data_):
    if name in ("load_digits", "load_digit_scenes"):
        pytest.importorskip("sklearn")
    fn, valid = ENTRY_POINTS[name]
    keys = data_.draw(st.lists(st.sampled_from(sorted(valid)), min_size=1, max_size=3,
                               unique=True), label="replaced")
    kwargs = {**valid, **{k: data_.draw(WRONG, label=k) for k in keys}}
    then = data_.draw(WRONG, label="then")
    with pytest.MonkeyPatch.context() as mp:  # never the 70 000 installed images
        mp.setattr(datasets.fashion_mnist, "SYSTEM_DIRS", ())
        try:
            use(fn(**kwargs), then)
        except Exception as e:
            check_error(e, allow_missing_file=name in ("load_fashion_mnist", "read_idx"))


@given(samples=st.lists(st.tuples(st.one_of(ARRAYS, WRONG), st.one_of(ARRAYS, WRONG)),
                        min_size=1, max_size=4),
       as_items=st.booleans())
def test_loader_over_any_list_of_samples(samples, as_items):
    dataset = samples if as_items else [s[0] for s in samples]  # pairs, or bare values
    try:
        for _ in data.DataLoader(dataset, 2, seed=0):
            pass
    except Exception as e:
        check_error(e)


# ------------------------------------------------------------------ the command line
class Ran(BaseException):
    """Raised instead of the heavy work (training, a benchmark...): the checks passed."""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with good and bad files to point the command at; the cwd meanwhile."""
    import json

    from numcnn import io as nio
    from numcnn.models import build_model

    d = tmp_path_factory.mktemp("wrong_cli")
    spec = dict(name="unet", in_channels=1, num_classes=2, base_channels=2, depth=1)
    nio.save_checkpoint(d / "seg.npz", build_model("unet", in_channels=1, num_classes=2,
                                                   base_channels=2, depth=1),
                        extra={"model_spec": json.dumps(spec)})
    spec = dict(name="seedcnn", in_channels=1, num_classes=2, input_size=4)
    nio.save_checkpoint(d / "cls.npz", build_model("seedcnn", in_channels=1, num_classes=2,
                                                   input_size=4),
                        extra={"model_spec": json.dumps(spec)})
    np.save(d / "img.npy", np.random.default_rng(0).random((6, 7)).astype(np.float32))
    np.save(d / "nan.npy", np.full((4, 4), np.nan))
    (d / "text.png").write_text("no")
    (d / "file").write_text("")
    old = os.getcwd()
    os.chdir(d)
    yield d
    os.chdir(old)


OPTION_VALUES = st.one_of(
    st.sampled_from(["0", "-1", "1", "2", "8", "1.5", "nan", "inf", "-inf", "1e9", "x", "",
                     "1,2", "1,8,8", "1,0,8", "a,b,c", "1,4096,4096", "3,8,8,8", "--",
                     "seg.npz", "cls.npz", "img.npy", "nan.npy", "text.png", "file",
                     "file/sub", "missing.npz", "mask.png", "mask.npy", "out.json", "run",
                     "digits", "shapes", "unet", "seedcnn", "layers"]),
    st.text(alphabet="abc019.,-_ ", max_size=6))
COMMANDS = {
    "demo": ["--out", "--epochs", "--seed", "--quick", "--quiet"],
    "train": ["--dataset", "--model", "--epochs", "--lr", "--batch-size", "--data-root",
              "--out", "--resume", "--seed", "--quiet"],
    "predict": ["--out", "--tile"],
    "summary": ["--input-shape", "--num-classes", "--profile"],
    "gradcheck": [],
    "bench": [],
}


def _stop(*args, **kwargs):
    raise Ran


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(command=st.sampled_from(sorted(COMMANDS)), data_=st.data())
def test_command_line_mistakes_are_one_line(command, data_, workdir, monkeypatch):
    import numcnn.demo
    import numcnn.tour
    import numcnn.train

    for module, name in [(numcnn.train, "fit"), (numcnn.demo, "main"), (numcnn.tour, "main"),
                         (sys.modules["numcnn.summary"], "summary"),
                         (cli.subprocess, "call")]:
        monkeypatch.setattr(module, name, _stop)
    monkeypatch.setattr(datasets.fashion_mnist, "SYSTEM_DIRS", ())  # not 70 000 images
    options = data_.draw(st.lists(st.sampled_from(COMMANDS[command] or ["--help"]),
                                  max_size=3), label="options")
    argv = [command]
    if command in ("predict", "summary", "bench"):
        argv += data_.draw(st.lists(OPTION_VALUES, min_size=0, max_size=2), label="positional")
    for opt in options:
        argv.append(opt)
        if opt not in ("--quick", "--quiet", "--help"):
            argv.append(data_.draw(OPTION_VALUES, label=opt))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
        except Ran:
            return  # every check passed and the work began
    text = err.getvalue()
    assert "Traceback" not in text, (argv, text)
    assert code in (0, 2), (argv, code, text)
    if code == 2:
        assert len(text.strip().splitlines()) == 1, (argv, text)
        assert text.startswith("numcnn"), (argv, text)
