"""The ``numcnn`` command: demo, train, predict, export, gradcheck, summary, bench.

Every sub-command has ``--help``.  A bad argument or a missing file ends with one line on
stderr and exit status 2, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

CLASSIFICATION = {"digits": 10, "fashion-mnist": 10}
SEGMENTATION = {"nuclei": 2, "shapes": 4, "digit-scenes": 11}


def _load(dataset: str, seed: int):
    """(x_train, y_train, x_val, y_val, num_classes) for a dataset name."""
    from . import datasets

    if dataset == "digits":
        return (*datasets.load_digits("train", seed=seed), *datasets.load_digits("test",
                                                                                  seed=seed), 10)
    if dataset == "fashion-mnist":
        return (*datasets.load_fashion_mnist(split="train"),
                *datasets.load_fashion_mnist(split="test"), 10)
    if dataset == "nuclei":
        d = datasets.load_nuclei()
        return d.x_train, d.y_train, d.x_val, d.y_val, d.num_classes
    if dataset == "shapes":
        x, y = datasets.make_shapes(600, 32, seed=seed)
        return x[:500], y[:500], x[500:], y[500:], 4
    x, y = datasets.load_digit_scenes(600, 64, seed=seed)
    return x[:500], y[:500], x[500:], y[500:], 11


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


def cmd_train(args) -> int:
    from . import data, io, metrics, nn, optim, train, viz
    from .models import build_model

    x_tr, y_tr, x_va, y_va, num_classes = _load(args.dataset, args.seed)
    spec = _model_spec(args.model, args.dataset, x_tr.shape[1], x_tr.shape[-1], num_classes)
    model = build_model(spec["name"], rng=args.seed,
                        **{k: v for k, v in spec.items() if k != "name"})
    segmentation = args.dataset in SEGMENTATION
    loss_fn = nn.DiceCELoss() if segmentation else nn.CrossEntropyLoss()
    metric = metrics.SegmentationMetrics(num_classes) if segmentation else metrics.Accuracy()
    train_loader = data.DataLoader(data.ArrayDataset(x_tr, y_tr), args.batch_size,
                                   shuffle=True, seed=args.seed)
    val_loader = data.DataLoader(data.ArrayDataset(x_va, y_va), 2 * args.batch_size)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    out = Path(args.out)
    history = train.fit(model, loss_fn, optimizer, train_loader, val_loader,
                        epochs=args.epochs, metrics=[metric],
                        checkpoint_dir=out / "checkpoints", resume=args.resume,
                        quiet=args.quiet)
    io.save_checkpoint(out / "model.npz", model, extra={"model_spec": json.dumps(spec)})
    history.to_json(out / "history.json")
    viz.plot_history(history, out / "learning_curves.png", title=f"{spec['name']} on "
                                                                 f"{args.dataset}")
    last = {k: v for k, v in history.records[-1].items() if isinstance(v, (int, float))}
    print(json.dumps(last, indent=2))
    print(f"model: {out / 'model.npz'} (use: numcnn predict {out / 'model.npz'} IMAGE)")
    return 0


def _read_image(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if p.suffix.lower() == ".npy":
        img = np.load(p, allow_pickle=False)
    elif p.suffix.lower() in (".tif", ".tiff"):
        import tifffile
        img = tifffile.imread(p)
    else:
        from matplotlib.image import imread
        img = imread(p)
        if img.ndim == 3:  # RGB(A) PNG: use the luminance
            img = img[..., :3].mean(axis=2)
    img = np.asarray(img, dtype=np.float32)
    lo, hi = np.percentile(img, [1, 99.8])  # the normalisation the data sets use
    return np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1).astype(np.float32)


def _checkpoint_model(path: str):
    """The model a checkpoint written by 'numcnn train' or 'numcnn demo' describes."""
    from . import io
    from .models import build_model

    ckpt = io.read_checkpoint(path)
    if "model_spec" not in ckpt.extra:
        raise ValueError(f"{path} has no model_spec: use the model.npz written by "
                         f"'numcnn train' or 'numcnn demo'")
    spec = json.loads(ckpt.extra["model_spec"])
    model = build_model(spec["name"], **{k: v for k, v in spec.items() if k != "name"})
    ckpt.apply(model)
    return model, spec


def cmd_export(args) -> int:
    from .onnx import export

    model, spec = _checkpoint_model(args.checkpoint)
    if args.input_shape:
        shape = tuple(int(v) for v in args.input_shape.split(","))
        if len(shape) != 3:
            raise ValueError(f"--input-shape must be C,H,W; got {args.input_shape!r}")
    else:
        side = spec.get("input_size", 28 if spec["name"] == "lenet5" else 64)
        shape = (spec["in_channels"], side, side)
    proto = export(model, args.out, (1, *shape), opset=args.opset)
    dims = [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    print(f"wrote {args.out}: input (N, {', '.join(map(str, shape))}) -> output "
          f"({', '.join(map(str, dims))}), opset {args.opset}")
    return 0


def cmd_predict(args) -> int:
    from matplotlib.image import imsave

    from .predict import sliding_window

    tile = args.tile
    if Path(args.checkpoint).suffix.lower() == ".onnx":
        from .onnx import load

        model = load(args.checkpoint)
        size = (model.input_shapes[model.input_names[0]] or (None,))[-1]
        tile = size if isinstance(size, int) and size > 0 else tile  # a fixed input size
    else:
        model, _ = _checkpoint_model(args.checkpoint)
    image = _read_image(args.image)
    labels, _ = sliding_window(model, image, tile=tile)
    out = args.out or str(Path(args.image).with_suffix("")) + "_mask.png"
    imsave(out, labels.astype(np.uint8), cmap="gray", vmin=0, vmax=max(1, labels.max()))
    print(f"wrote {out}: classes {np.unique(labels).tolist()}, {labels.shape[0]}x"
          f"{labels.shape[1]}")
    return 0


def cmd_summary(args) -> int:
    from .models import build_model
    from .summary import summary

    shape = tuple(int(v) for v in args.input_shape.split(","))
    if len(shape) != 3:
        raise ValueError(f"--input-shape must be C,H,W; got {args.input_shape!r}")
    kwargs = {"in_channels": shape[0], "num_classes": args.num_classes}
    if args.model == "seedcnn":
        kwargs["input_size"] = shape[1]
    model = build_model(args.model, **kwargs)
    print(summary(model, shape))
    if args.profile:
        if args.profile < 2:
            raise ValueError(f"--profile needs a batch of at least 2 (batch norm); got "
                             f"{args.profile}")
        from .summary import profile

        x = np.random.default_rng(0).standard_normal((args.profile, *shape), dtype=np.float32)
        print("\nprofile: training passes on random input (upstream gradient of ones)")
        print(profile(model, x))
    return 0


def cmd_bench(args) -> int:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"bench_{args.which}.py"
    if not script.is_file():
        raise FileNotFoundError(f"{script} not found: benchmarks ship with the source "
                                f"checkout, not the installed package")
    return subprocess.call([sys.executable, str(script), *args.rest])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="numcnn", description="A CNN engine in NumPy with "
                                     "hand-written backward passes.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="train the U-Net on the nuclei image (the main demo)",
                   add_help=False)
    sub.add_parser("gradcheck", help="check every layer's backward numerically")

    t = sub.add_parser("train", help="train a model on a bundled data set")
    t.add_argument("--dataset", choices=[*CLASSIFICATION, *SEGMENTATION], default="digits")
    t.add_argument("--model", choices=["seedcnn", "lenet5", "unet", "fcn"], default=None,
                   help="default: seedcnn for classification, unet for segmentation")
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--out", default="runs/train", help="output folder")
    t.add_argument("--resume", default=None, help="checkpoint (or folder) to resume from")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true")

    p = sub.add_parser("predict", help="segment an image with a trained model")
    p.add_argument("checkpoint", help="model.npz written by 'numcnn train' or 'numcnn demo', "
                   "or an .onnx model")
    p.add_argument("image", help="PNG, TIFF or .npy image (one channel)")
    p.add_argument("--out", default=None, help="mask PNG (default: IMAGE_mask.png)")
    p.add_argument("--tile", type=int, default=64)

    e = sub.add_parser("export", help="write a trained model as an ONNX file")
    e.add_argument("checkpoint", help="model.npz written by 'numcnn train' or 'numcnn demo'")
    e.add_argument("out", help="the .onnx file to write")
    e.add_argument("--input-shape", default=None, help="C,H,W (default: the model's "
                   "training size for seedcnn and lenet5, 64x64 otherwise)")
    e.add_argument("--opset", type=int, default=17)

    s = sub.add_parser("summary", help="layer table of a model")
    s.add_argument("model", choices=["seedcnn", "lenet5", "unet", "fcn"])
    s.add_argument("--input-shape", default="1,28,28", help="C,H,W")
    s.add_argument("--num-classes", type=int, default=10)
    s.add_argument("--profile", type=int, metavar="BATCH", default=0,
                   help="also time each layer's forward and backward on a batch of this size")

    b = sub.add_parser("bench", help="run a benchmark from benchmarks/")
    b.add_argument("which", choices=["layers", "train"], nargs="?", default="layers")
    b.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["demo"]:  # the demo has its own options
        from .demo import main as demo_main
        return demo_main(argv[1:])
    args = build_parser().parse_args(argv)
    commands = {"train": cmd_train, "predict": cmd_predict, "summary": cmd_summary,
                "bench": cmd_bench, "export": cmd_export}
    try:
        if args.command == "gradcheck":
            from .tour import main as tour_main
            return tour_main()
        return commands[args.command](args)
    except (FileNotFoundError, ValueError, TypeError, ImportError) as e:
        print(f"numcnn {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
