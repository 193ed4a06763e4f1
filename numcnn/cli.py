"""The ``numcnn`` command (also ``python -m numcnn``): demo, train, predict, export,
summary, gradcheck, bench, exercise, check.  Every sub-command has ``--help``.

Errors.  A mistake in what was typed or given (a bad option, a missing or unreadable file,
a folder that cannot be written, an image numcnn refuses) ends with one line on stderr,
``numcnn CMD: error: what is wrong (what to do)``, and exit status 2: never a traceback.
Anything else is a bug in numcnn: its traceback is printed, followed by a line that says
so and how to report it (exit status 1).  Ctrl-C exits with status 130 and says what was
kept.

Adding a sub-command: write ``add_NAME(sub)``, which adds its parser to ``sub`` with
``sub.add_parser(...)`` and sets ``run=`` to a function ``cmd_NAME(args) -> int``, and list
it in ``COMMANDS``.  Arguments take ``type=positive_int`` (and the other ``*_arg`` types
below) so that a bad value is refused before anything runs; a command raises ``ValueError``
with a message that says what was expected and what arrived.
"""

from __future__ import annotations

import argparse
import json
import linecache
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

from . import __version__
from ._validate import integer, real

__all__ = ["main", "build_parser", "COMMANDS", "read_image", "raised_by_numcnn",
           "positive_int", "positive_float", "seed_arg", "shape_arg"]

CLASSIFICATION = {"digits": 10, "fashion-mnist": 10}
SEGMENTATION = {"nuclei": 2, "shapes": 4, "digit-scenes": 11}
MODEL_NAMES = ("seedcnn", "lenet5", "unet", "fcn")
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# What the commands that run a forward pass on a made-up input accept: enough for any
# teaching-size model, small enough not to exhaust a laptop's memory.
MAX_INPUT_VALUES = 2 ** 22
MAX_TILE = 2048


# -------------------------------------------------------------------- argument types
class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (what is wrong, where to look)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def parse_known_args(self, args=None, namespace=None):
        ns, extras = super().parse_known_args(args, namespace)
        for action in self._actions:  # argparse reads a second "--" as an empty value
            if action.nargs is None and isinstance(getattr(ns, action.dest, None), list):
                self.error(f"argument {action.metavar or action.dest}: expected one value; "
                           f"got none")
        return ns, extras


def _checked(check):
    """Run a ``numcnn._validate`` check on an argument; its message, minus the op name,
    becomes argparse's ("argument --epochs: must be a positive int; got 0")."""
    try:
        return check()
    except (TypeError, ValueError) as e:
        raise argparse.ArgumentTypeError("must be " + str(e).partition(" must be ")[2]) \
            from None


def _int_type(minimum: int | None, maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = text  # not an int: the check below says what was expected
        return _checked(lambda: integer("numcnn", "value", value, minimum, maximum))
    parse.__doc__ = (f"An int >= {minimum}" + (f" and <= {maximum}" if maximum else "")
                     + " (an argparse ``type=``).")
    return parse


positive_int = _int_type(1)  # argparse ``type=``s: a positive int, a seed (an int >= 0)
seed_arg = _int_type(0)


def positive_float(text: str) -> float:
    """A finite number > 0 (an argparse ``type=``)."""
    try:
        value = float(text)
    except ValueError:
        value = text
    return _checked(lambda: real("numcnn", "value", value, 0, min_open=True))


def shape_arg(text: str) -> tuple[int, int, int]:
    """``C,H,W`` as three positive ints."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"must be C,H,W: three positive ints separated by "
                                         f"commas, e.g. 1,28,28; got {text!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


# ------------------------------------------------------------------ files and folders
def _writable_dir(path: str | Path, option: str) -> Path:
    """Create folder ``path`` (and its parents) if needed and check that files can be
    written in it, before any work is done."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {str(path)!r} is a file, not a folder; give a folder "
                         f"(it is created if missing)")
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"{option} {str(path)!r} cannot be created: {str(parent)!r} is a "
                             f"file; give a folder elsewhere")
        if parent.exists():
            break
    path.mkdir(parents=True, exist_ok=True)
    try:  # a real write: os.access says yes to root even on a read-only mount
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f"{option} {str(path)!r}: cannot write there ({e.strerror}); give a "
                         f"folder you can write to") from None
    return path


def _output_file(path: str, option: str, suffixes: tuple[str, ...]) -> Path:
    """Check that file ``path`` can be written (its folder exists and is writable, its
    suffix is one we write), before any work is done."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise ValueError(f"{option} {path!r}: expected a file name ending in "
                         f"{' or '.join(suffixes)}")
    if p.is_dir():
        raise ValueError(f"{option} {path!r} is a folder; give a file name")
    folder = p.parent
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise ValueError(f"{option} {path!r}: its folder {str(folder)!r} {what}; give a path "
                         f"in an existing folder")
    _writable_dir(folder, option)
    return p


# -------------------------------------------------------------------------- models
def _input_rule(spec: dict) -> tuple[int, str]:
    """(m, what): the spatial sizes a model accepts are multiples of m; ``what`` says why."""
    name = spec["name"]
    if name == "unet":
        depth = spec.get("depth", 3)
        return 2 ** depth, f"unet (depth {depth}) halves the size {depth} times"
    if name == "fcn":
        return 4, "fcn pools twice"
    if name == "onnx":
        return 1, "any size"
    return 4, f"{name} pools twice"


def _check_input_size(spec: dict, h: int, w: int, option: str) -> None:
    name = spec["name"]
    if name == "lenet5" and (h, w) != (28, 28):
        raise ValueError(f"{option}: lenet5 takes 28x28 inputs; got {h}x{w}")
    if name == "seedcnn" and h != w:
        raise ValueError(f"{option}: seedcnn takes square inputs; got {h}x{w}")
    m, why = _input_rule(spec)
    if h % m or w % m:
        raise ValueError(f"{option}: {why}, so height and width must be multiples of {m}; "
                         f"got {h}x{w}")


def _build(spec: dict, **kwargs):
    from .models import build_model

    spec = {**spec, **kwargs}
    return build_model(spec.pop("name"), **spec)


# --------------------------------------------------------------------------- demo
def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="train the U-Net on the nuclei image (the main demo)",
                       description="Train a 3-class U-Net on stardist's nuclei image, find "
                                   "every nucleus, compare with the classical baselines; "
                                   "write instances.npy, figures, metrics.json and model.npz.")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="epochs of the 3-class U-Net (default: the demo's, numcnn.demo.EPOCHS)")
    p.add_argument("--seed", type=seed_arg, default=0)
    p.add_argument("--quick", action="store_true", help="a tiny run, for smoke tests")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    p.set_defaults(run=cmd_demo)


def cmd_demo(args) -> int:
    """The options are checked here (one-line errors); ``numcnn.demo.main`` runs and reports
    (it is also ``python -m numcnn.demo``)."""
    from .demo import main as demo_main

    _writable_dir(args.out, "--out")
    return demo_main(args.argv[args.argv.index("demo") + 1:])


# -------------------------------------------------------------------------- train
def _load(dataset: str, seed: int, root: str | None = None):
    """(x_train, y_train, x_val, y_val, class names) for a dataset name."""
    from . import datasets

    if dataset == "digits":
        return (*datasets.load_digits("train", seed=seed),
                *datasets.load_digits("test", seed=seed), [str(c) for c in range(10)])
    if dataset == "fashion-mnist":
        return (*datasets.load_fashion_mnist(root, split="train"),
                *datasets.load_fashion_mnist(root, split="test"),
                list(datasets.FASHION_MNIST_CLASSES))
    if dataset == "nuclei":
        d = datasets.load_nuclei()
        return d.x_train, d.y_train, d.x_val, d.y_val, ["background", "nucleus"]
    if dataset == "shapes":
        x, y = datasets.make_shapes(600, 32, seed=seed)
        return x[:500], y[:500], x[500:], y[500:], list(datasets.SHAPE_CLASSES)
    x, y = datasets.load_digit_scenes(600, 64, seed=seed)
    return x[:500], y[:500], x[500:], y[500:], ["background", *(str(c) for c in range(10))]


def _model_spec(model: str | None, dataset: str, in_channels: int, size: int,
                num_classes: int) -> dict:
    if model is None:
        model = "seedcnn" if dataset in CLASSIFICATION else "unet"
    spec = {"name": model, "in_channels": in_channels, "num_classes": num_classes}
    if model == "seedcnn":
        spec["input_size"] = size
    if model in ("unet", "fcn"):
        if dataset in CLASSIFICATION:
            raise ValueError(f"model {model!r} segments images; dataset {dataset!r} is a "
                             f"classification set (use seedcnn or lenet5)")
        spec["base_channels"] = 16
    elif dataset in SEGMENTATION:
        raise ValueError(f"model {model!r} is a classifier; dataset {dataset!r} needs unet "
                         f"or fcn")
    return spec


def add_train(sub) -> None:
    t = sub.add_parser("train", help="train a model on a bundled data set")
    t.add_argument("--dataset", choices=[*CLASSIFICATION, *SEGMENTATION], default="digits")
    t.add_argument("--model", choices=MODEL_NAMES, default=None,
                   help="default: seedcnn for classification, unet for segmentation")
    t.add_argument("--epochs", type=positive_int, default=5)
    t.add_argument("--lr", type=positive_float, default=1e-3)
    t.add_argument("--batch-size", type=positive_int, default=64)
    t.add_argument("--data-root", default=None, metavar="FOLDER",
                   help="fashion-mnist: the folder of its four IDX files (default: where "
                        "Debian's dataset-fashion-mnist installs them)")
    t.add_argument("--out", default="runs/train", help="output folder")
    t.add_argument("--resume", default=None, help="checkpoint (or folder) to resume from")
    t.add_argument("--overwrite", action="store_true",
                   help="replace the checkpoints another run left in OUT/checkpoints")
    t.add_argument("--seed", type=seed_arg, default=0)
    t.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    t.set_defaults(run=cmd_train)


def cmd_train(args) -> int:
    from . import data, io, metrics, nn, optim, train, viz

    if args.model is not None:  # before loading data: a wrong pair is refused at once
        _model_spec(args.model, args.dataset, 1, 8, 2)
    if args.resume is not None and not os.path.exists(args.resume):
        raise ValueError(f"--resume {args.resume!r} does not exist; give a checkpoint written "
                         f"by 'numcnn train' (OUT/checkpoints/last.npz) or its folder")
    out = _writable_dir(args.out, "--out")
    checkpoints = out / "checkpoints"
    found = [f for f in ("last.npz", "best.npz") if (checkpoints / f).exists()]
    if found and args.resume is None and not args.overwrite:  # before any data is loaded
        raise ValueError(f"{checkpoints} already holds another run's checkpoints "
                         f"({', '.join(found)}); add --resume {checkpoints} to continue it, "
                         f"--overwrite to replace it, or choose another --out")
    if args.data_root is not None and not os.path.isdir(args.data_root):
        raise ValueError(f"--data-root {args.data_root!r} is not a folder; give the folder "
                         f"that holds the IDX files")
    x_tr, y_tr, x_va, y_va, class_names = _load(args.dataset, args.seed, args.data_root)
    num_classes = len(class_names)
    spec = _model_spec(args.model, args.dataset, x_tr.shape[1], x_tr.shape[-1], num_classes)
    _check_input_size(spec, *x_tr.shape[2:], f"dataset {args.dataset!r}")
    model = _build(spec, rng=args.seed)
    segmentation = args.dataset in SEGMENTATION
    loss_fn = nn.DiceCELoss() if segmentation else nn.CrossEntropyLoss()
    metric = metrics.SegmentationMetrics(num_classes) if segmentation else metrics.Accuracy()
    train_loader = data.DataLoader(data.ArrayDataset(x_tr, y_tr), args.batch_size,
                                   shuffle=True, seed=args.seed)
    val_loader = data.DataLoader(data.ArrayDataset(x_va, y_va), 2 * args.batch_size)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    args.interrupted = lambda: (
        f"the finished epochs are in {checkpoints / 'last.npz'}; continue with the same "
        f"command and --resume {checkpoints}" if (checkpoints / "last.npz").is_file()
        else "no epoch had finished, so nothing was saved")
    history = train.fit(model, loss_fn, optimizer, train_loader, val_loader,
                        epochs=args.epochs, metrics=[metric], checkpoint_dir=checkpoints,
                        resume=args.resume, quiet=args.quiet, overwrite=args.overwrite)
    args.interrupted = None
    io.save_checkpoint(out / "model.npz", model,
                       extra={"model_spec": json.dumps(spec),
                              "class_names": json.dumps(class_names)})
    history.to_json(out / "history.json")
    viz.plot_history(history, out / "learning_curves.png", title=f"{spec['name']} on "
                                                                 f"{args.dataset}")
    last = {k: v for k, v in history.records[-1].items() if isinstance(v, (int, float))}
    print(json.dumps(last, indent=2))
    what = "segment" if segmentation else "classify"
    print(f"model: {out / 'model.npz'} (to {what} an image: numcnn predict "
          f"{out / 'model.npz'} IMAGE)")
    return 0


# ------------------------------------------------------------------------ predict
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".npy")


def read_image(path: str) -> np.ndarray:
    """An image file as a float32 array (H, W) or (H, W, C) (PIL formats) or as stored
    (``.npy``), refusing anything that is not a finite, real, non-empty 2-D or 3-D image."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"image {path!r} is a folder; give an image file")
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {path!r}")
    suffix = p.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"image {path!r}: expected a file ending in "
                         f"{', '.join(IMAGE_SUFFIXES)}")
    if suffix == ".npy":
        try:
            img = np.load(p, allow_pickle=False)
        except Exception as e:  # a truncated header, an object array, not an .npy at all
            raise ValueError(f"image {path!r} is not a readable .npy array ({e}); save it "
                             f"with np.save(path, array)") from None
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(p) as im:  # grey stays one channel; colour becomes RGB
                img = np.asarray(im.convert("F" if len(im.getbands()) == 1 else "RGB"))
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise ValueError(f"image {path!r} is not an image numcnn can read ({e}); give a "
                             f"PNG, TIFF, JPEG or .npy file") from None
    if img.dtype.kind not in "biuf":
        raise ValueError(f"image {path!r}: expected a real-valued array; got dtype {img.dtype}")
    if img.ndim not in (2, 3) or img.size == 0:
        raise ValueError(f"image {path!r}: expected a non-empty image (H, W), (C, H, W) or "
                         f"(H, W, C); got shape {img.shape}")
    img = img.astype(np.float32)
    bad = int(np.count_nonzero(~np.isfinite(img)))
    if bad:
        raise ValueError(f"image {path!r} has {bad} non-finite values (NaN or inf) out of "
                         f"{img.size}; numcnn predicts only on finite images")
    return img


def _channels_first(img: np.ndarray, channels: int, path: str) -> np.ndarray:
    """(C, H, W) with C == ``channels``: an RGB picture is averaged to grey for a
    one-channel model; a 2-D image is one channel."""
    if img.ndim == 2:
        img = img[None]
    elif img.shape[0] != channels and img.shape[-1] in (3, 4) and img.shape[0] > 4:
        img = np.moveaxis(img[..., :3], -1, 0)  # (H, W, C) from a picture
    if img.shape[0] != channels and channels == 1 and img.shape[0] == 3:
        img = img.mean(axis=0, keepdims=True)
    if img.shape[0] != channels:
        raise ValueError(f"image {path!r} has shape {img.shape}; the model takes {channels}-"
                         f"channel images ((H, W) or ({channels}, H, W))")
    return img


def _normalise(img: np.ndarray) -> np.ndarray:
    """To [0, 1] by the 1st and 99.8th percentiles, the normalisation the data sets use."""
    lo, hi = np.percentile(img, [1, 99.8])
    return np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1).astype(np.float32)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    """(C, H, W) -> (C, size, size), each channel area-averaged (or interpolated) by PIL."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(c, mode="F").resize(
        (size, size), Image.Resampling.BOX if c.shape[0] > size else Image.Resampling.BILINEAR))
        for c in img]).astype(np.float32)


def add_predict(sub) -> None:
    p = sub.add_parser("predict", help="segment or classify an image with a trained model",
                       description="Segment an image (a U-Net or FCN checkpoint: writes a "
                                   "mask) or classify it (a classifier: prints the class and "
                                   "its probabilities).")
    p.add_argument("checkpoint", help="model.npz written by 'numcnn train' or 'numcnn demo' "
                                      "(or the folder holding it), or an .onnx model")
    p.add_argument("image", help="PNG, TIFF, JPEG or .npy image")
    p.add_argument("--out", default=None,
                   help="segmentation: the mask, .png or .npy (default IMAGE_mask.png); "
                        "classification: a .json of the probabilities (default: none)")
    p.add_argument("--tile", type=_int_type(1, MAX_TILE), default=64,
                   help="segmentation window size (default 64)")
    p.set_defaults(run=cmd_predict)


def _read_model(path: str):
    """(spec, model, class names) from a model.npz that 'numcnn train' or the demo wrote."""
    from . import io
    from .models import MODELS

    if Path(path).suffix.lower() == ".onnx":
        return _read_onnx(path)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "model.npz")):
        path = os.path.join(path, "model.npz")
    ckpt = io.read_checkpoint(path)
    hint = "use the model.npz written by 'numcnn train' or 'numcnn demo'"
    if "model_spec" not in ckpt.extra:
        raise ValueError(f"{path} has no model_spec (a training checkpoint?): {hint}")
    try:
        spec = json.loads(ckpt.extra["model_spec"])
        names = json.loads(ckpt.extra.get("class_names", "null"))
    except (TypeError, json.JSONDecodeError):
        spec = names = None
    if (not isinstance(spec, dict) or spec.get("name") not in MODELS
            or not all(type(spec.get(k, 1)) is int and spec.get(k, 1) > 0 for k in
                       ("in_channels", "num_classes", "base_channels", "depth", "input_size"))
            or not (names is None or isinstance(names, list))):
        raise ValueError(f"{path}: its model_spec is damaged ({ckpt.extra['model_spec']!r:.80}); "
                         f"{hint}")
    model = _build(spec)
    ckpt.apply(model)
    return spec, model, names


def _read_onnx(path: str):
    """(spec, model, None) for an ONNX model: a classifier if its output is (N, K)."""
    from .onnx import load

    model = load(path)
    dims = model.input_shapes[model.input_names[0]] or ()
    if len(dims) != 4 or not all(isinstance(d, int) and d > 0 for d in dims[1:2]):
        raise ValueError(f"{path}: expected an image model with input (N, C, H, W); its input "
                         f"is {dims}")
    size = dims[2] if isinstance(dims[2], int) and dims[2] > 0 else None
    out = model.output_shapes[model.output_names[0]] or ()
    return {"name": "onnx", "in_channels": dims[1], "input_size": size,
            "classifier": len(out) == 2}, model, None


def _label(names, c: int) -> str:
    return f"{c} ({names[c]})" if names and c < len(names) and names[c] != str(c) else str(c)


def cmd_predict(args) -> int:
    image = read_image(args.image)  # the cheap checks first
    spec, model, names = _read_model(args.checkpoint)
    image = _channels_first(image, spec["in_channels"], args.image)
    if spec["name"] in ("seedcnn", "lenet5") or spec.get("classifier"):
        return _classify(args, spec, model, names, image)
    if spec["name"] == "onnx" and spec["input_size"]:  # a graph of fixed size: its tiles
        args.tile = spec["input_size"]
    m, why = _input_rule(spec)
    if args.tile % m:
        raise ValueError(f"--tile {args.tile}: {why}, so the tile must be a multiple of {m} "
                         f"(e.g. {max(m, args.tile // m * m)})")
    out = args.out or str(Path(args.image).with_suffix("")) + "_mask.png"
    out = _output_file(out, "--out", (".png", ".npy"))
    from .predict import sliding_window

    labels, _ = sliding_window(model, _normalise(image), tile=args.tile)
    if out.suffix.lower() == ".npy":
        from . import io
        io.atomic_write(out, lambda f: np.save(f, labels, allow_pickle=False))
    else:
        from matplotlib.image import imsave
        imsave(out, labels.astype(np.uint8), cmap="gray", vmin=0, vmax=max(1, labels.max()))
    found = ", ".join(_label(names, int(c)) for c in np.unique(labels))
    print(f"wrote {out}: {labels.shape[0]}x{labels.shape[1]} mask, classes {found}")
    return 0


def _classify(args, spec: dict, model, names, image: np.ndarray) -> int:
    """Print the class of ``image`` (C, H, W) and every class's probability."""
    from .functional import softmax
    from .nn.module import no_grad

    out = _output_file(args.out, "--out", (".json",)) if args.out else None
    size = spec.get("input_size") or 28
    note = ""
    if image.shape[1:] != (size, size):
        note = f" (resized from {image.shape[1]}x{image.shape[2]} to {size}x{size})"
        image = _resize(image, size)
    model.eval()
    with no_grad():
        probs = softmax(model(_normalise(image)[None]))[0].astype(np.float64)
    names = names if names and len(names) == len(probs) else [str(c) for c in
                                                              range(len(probs))]
    best = int(probs.argmax())
    print(f"{args.image}: class {_label(names, best)}, probability {probs[best]:.3f}{note}")
    for c in np.argsort(-probs, kind="stable"):
        print(f"  {_label(names, int(c)):<18} {probs[c]:.4f}")
    if out is not None:
        from . import io
        text = json.dumps({"image": args.image, "class": best, "name": names[best],
                           "probabilities": dict(zip(names, probs.round(6).tolist()))},
                          indent=1).encode()
        io.atomic_write(out, lambda f: f.write(text))
        print(f"wrote {out}")
    return 0


# ------------------------------------------------------------------------- export
def add_export(sub) -> None:
    e = sub.add_parser("export", help="write a trained model as an ONNX file",
                       description="Write a model.npz as an ONNX file that onnxruntime (or "
                                   "'numcnn predict') runs; the batch size stays free.")
    e.add_argument("checkpoint", help="model.npz written by 'numcnn train' or 'numcnn demo' "
                                      "(or the folder holding it)")
    e.add_argument("out", help="the .onnx file to write")
    e.add_argument("--input-shape", type=shape_arg, default=None,
                   help="C,H,W (default: the training size of seedcnn and lenet5, 64x64 "
                        "for unet and fcn)")
    e.add_argument("--opset", type=_int_type(13, 99), default=17,
                   help="ONNX operator set version (default 17)")
    e.set_defaults(run=cmd_export)


def cmd_export(args) -> int:
    out = _output_file(args.out, "out", (".onnx",))
    spec, model, _ = _read_model(args.checkpoint)
    if spec["name"] == "onnx":
        raise ValueError(f"{args.checkpoint} is an ONNX file already")
    side = spec.get("input_size", 28 if spec["name"] == "lenet5" else 64)
    shape = args.input_shape or (spec["in_channels"], side, side)
    _check_input_size(spec, shape[1], shape[2], "--input-shape")
    from .onnx import export

    proto = export(model, out, (1, *shape), opset=args.opset)
    dims = [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    print(f"wrote {out}: input (N, {', '.join(map(str, shape))}) -> output "
          f"({', '.join(map(str, dims))}), opset {args.opset}")
    return 0


# ------------------------------------------------------------------------ summary
def add_summary(sub) -> None:
    s = sub.add_parser("summary", help="layer table of a model")
    s.add_argument("model", choices=MODEL_NAMES)
    s.add_argument("--input-shape", type=shape_arg, default=(1, 28, 28), help="C,H,W")
    s.add_argument("--num-classes", type=positive_int, default=10)
    s.add_argument("--profile", type=_int_type(0, 1024), metavar="BATCH", default=0,
                   help="also time each layer's forward and backward on a batch of this size "
                        "(at least 2)")
    s.set_defaults(run=cmd_summary)


def cmd_summary(args) -> int:
    from .summary import summary

    shape = args.input_shape
    batch = max(args.profile, 1)
    if batch * int(np.prod(shape)) > MAX_INPUT_VALUES:
        raise ValueError(f"--input-shape {','.join(map(str, shape))} with a batch of {batch} "
                         f"has {batch * int(np.prod(shape)):,} values, more than the "
                         f"{MAX_INPUT_VALUES:,} this command runs; give a smaller shape")
    if args.profile == 1:
        raise ValueError("--profile needs a batch of at least 2 (batch norm); got 1")
    spec = {"name": args.model, "in_channels": shape[0], "num_classes": args.num_classes}
    if args.model == "seedcnn":
        spec["input_size"] = shape[1]
    _check_input_size(spec, shape[1], shape[2], "--input-shape")
    model = _build(spec)
    print(summary(model, shape))
    if args.profile:
        from .summary import profile

        x = np.random.default_rng(0).standard_normal((args.profile, *shape), dtype=np.float32)
        print("\nprofile: training passes on random input (upstream gradient of ones)")
        print(profile(model, x))
    return 0


# ---------------------------------------------------------------- gradcheck, bench
def add_gradcheck(sub) -> None:
    g = sub.add_parser("gradcheck", help="check every layer's backward numerically")
    g.set_defaults(run=cmd_gradcheck)


def cmd_gradcheck(args) -> int:
    from .tour import main as tour_main

    return tour_main()


def add_bench(sub) -> None:
    b = sub.add_parser("bench", help="run the benchmarks from benchmarks/ (numcnn vs PyTorch)")
    b.add_argument("which", choices=["all", "train", "layers"], nargs="?", default="all",
                   help="train: training, inference, memory and scaling tables; layers: "
                        "conv / pool forward+backward; all: both (default)")
    b.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    b.set_defaults(run=cmd_bench)


def cmd_bench(args) -> int:
    code = 0
    for which in ("train", "layers") if args.which == "all" else (args.which,):
        script = Path(PACKAGE_DIR).parent / "benchmarks" / f"bench_{which}.py"
        if not script.is_file():
            raise FileNotFoundError(f"{script} not found: benchmarks ship with the source "
                                    f"checkout, not the installed package")
        code = code or subprocess.call([sys.executable, str(script), *args.rest])
    return code


# ------------------------------------------------------------- exercise, check
def add_exercise(sub) -> None:
    e = sub.add_parser("exercise", help="the exercises: list them, or start one",
                       description="Exercises a student fills in (docs/labs.md); grade one "
                                   "with 'numcnn check NAME FILE'.")
    actions = e.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the exercises, by lab")
    s = actions.add_parser("start", help="write an exercise's stub to DIR/NAME.py")
    s.add_argument("name", help="the exercise (see 'numcnn exercise list')")
    s.add_argument("dir", nargs="?", default=".", help="folder (default: the current one)")
    e.set_defaults(run=cmd_exercise)


def cmd_exercise(args) -> int:
    from . import exercises

    if args.action == "list":
        for lab in sorted({ex.lab for ex in exercises.EXERCISES.values()}):
            print(f"lab {lab}:")
            for ex in exercises.EXERCISES.values():
                if ex.lab == lab:
                    print(f"  {ex.name:<27} {ex.title}")
        print("start one: numcnn exercise start NAME [DIR];  grade it: numcnn check NAME FILE"
              f"\nworked solutions: {exercises.SOLUTIONS}")
        return 0
    path = exercises.start(args.name, args.dir)
    print(f"wrote {path}: fill in {', '.join(exercises.EXERCISES[args.name].functions)}, "
          f"then run: numcnn check {args.name} {path}")
    return 0


def add_check(sub) -> None:
    c = sub.add_parser("check", help="grade an exercise: exit status 0 only when it is right",
                       description="Run your functions against numcnn's and numerical "
                                   "gradients on many shapes, then train a tiny model with "
                                   "them; print what is wrong and hints.")
    c.add_argument("name", help="the exercise (see 'numcnn exercise list')")
    c.add_argument("file", help="your Python file (from 'numcnn exercise start')")
    c.add_argument("--examples", type=positive_int, default=None,
                   help="how many cases hypothesis draws after the fixed ones")
    c.add_argument("--no-train", action="store_true", help="skip the tiny training run")
    c.set_defaults(run=cmd_check)


def cmd_check(args) -> int:
    from . import exercises

    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise ImportError("numcnn check draws its cases with hypothesis: pip install "
                          "hypothesis (or numcnn[teach])") from None
    if not Path(args.file).is_file():
        raise FileNotFoundError(f"no file {args.file} (write it with 'numcnn exercise start "
                                f"{args.name}')")
    report = exercises.check(args.name, args.file, args.examples, train=not args.no_train)
    print(report)
    return 0 if report.ok else 1


COMMANDS = [add_demo, add_train, add_predict, add_export, add_summary, add_gradcheck,
            add_bench, add_exercise, add_check]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="numcnn", description="A CNN engine in NumPy with hand-written "
                                                "backward passes.")
    parser.add_argument("--version", action="version", version=f"numcnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


# ------------------------------------------------------------------------- errors
def raised_by_numcnn(e: BaseException) -> bool:
    """True if ``e`` comes from a ``raise`` statement in numcnn's own code: an error numcnn
    raised on purpose about its input, not one that escaped from NumPy or from Python
    itself (``'<' not supported between ...`` in numcnn's code is a missing check)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    path = os.path.abspath(tb.tb_frame.f_code.co_filename)
    return (path.startswith(PACKAGE_DIR + os.sep)
            and linecache.getline(path, tb.tb_lineno).lstrip().startswith("raise"))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _user_error(e: BaseException) -> str | None:
    """The one-line message for an error that is the user's to fix, or None for a bug."""
    from .train import TrainingDiverged

    if isinstance(e, TrainingDiverged):
        return f"training diverged: {e} (try a smaller --lr)"
    if isinstance(e, MemoryError):
        return "out of memory (try a smaller --batch-size, --tile or --input-shape)"
    if isinstance(e, OSError) and e.strerror and e.filename:  # from the operating system
        return f"cannot use {e.filename!r}: {e.strerror} (check the path and its permissions)"
    if isinstance(e, (OSError, ImportError)):
        return str(e)
    if isinstance(e, (ValueError, TypeError)) and raised_by_numcnn(e):
        return str(e)
    return None


def main(argv: list[str] | None = None) -> int:
    """Run ``numcnn`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Argument errors (and ``--help``) exit through ``SystemExit`` as argparse does.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv, args.interrupted = argv, None
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"\nnumcnn {args.command}: interrupted"
              + (f"; {args.interrupted()}" if args.interrupted else ""), file=sys.stderr)
        return 130
    except BrokenPipeError:  # `numcnn summary unet | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as e:
        message = _user_error(e)
        if message is None:
            traceback.print_exc()
            print(f"numcnn {args.command}: internal error: {type(e).__name__}: "
                  f"{_one_line(e)}. This is a bug in numcnn, not in what you typed: please "
                  f"report it to numcnn's issue tracker with the command line, the output of "
                  f"'numcnn --version' and the traceback above",
                  file=sys.stderr)
            return 1
        print(f"numcnn {args.command}: error: {_one_line(message)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
