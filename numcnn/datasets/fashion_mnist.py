"""Fashion-MNIST (Zalando, 70 000 28x28 grey images of clothes) read from its IDX files.

Nothing is downloaded: the files are looked for in ``root`` and then in the folder where
Debian's package ``dataset-fashion-mnist`` installs them (``/usr/share/datasets/fashion-mnist``,
gzip-compressed).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

SYSTEM_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot")

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# IDX type codes (third byte of the magic number) -> big-endian numpy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode the bytes of one IDX file.

    Layout: magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the
    values in C order.

    Returns
    -------
    ndarray of shape (d0, d1, ...) and the file's dtype (native byte order).

    Raises
    ------
    ValueError
        On a bad magic number, unknown type code, or a length that does not match the
        header (truncated or corrupt file).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_idx: data must be the bytes of an IDX file; got "
                        f"{type(data).__name__}")
    data = bytes(data)
    if len(data) < 4:
        raise ValueError(f"{name}: not an IDX file: {len(data)} bytes, shorter than the "
                         f"4-byte magic number")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(f"{name}: not an IDX file: bad magic number {data[:4].hex()} "
                         f"(expected 0000 then a type code in "
                         f"{sorted(hex(c) for c in _IDX_DTYPES)} and ndim >= 1)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{name}: truncated IDX header: expected {header} bytes, got "
                         f"{len(data)}")
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "corrupt (trailing bytes)"
        raise ValueError(f"{name}: {what} IDX file: header says shape {shape} of {dtype}, "
                         f"i.e. {expected} bytes; got {len(data)} bytes")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed (detected from its first bytes)."""
    path = _path("read_idx", "path", path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip file ({e})") from e
    return parse_idx(raw, name=str(path))


def _path(op: str, name: str, p) -> Path:
    if not isinstance(p, (str, os.PathLike)):
        raise TypeError(f"{op}: {name} must be a path (str or os.PathLike); got "
                        f"{type(p).__name__}")
    return Path(p)


def _search_dirs(root: str | os.PathLike | None) -> list[Path]:
    if root is not None:
        root = _path("load_fashion_mnist", "root", root)
        if not root.is_dir():
            raise FileNotFoundError(f"load_fashion_mnist: root {str(root)!r} is not a folder; "
                                    f"give the folder that holds the four IDX files")
    dirs = [root] if root is not None else []
    return dirs + [d for d in SYSTEM_DIRS if d not in dirs]


def _find(stem: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for name in (stem, stem + ".gz"):
            if (d / name).is_file():
                return d / name
    return None


def load_fashion_mnist(root: str | os.PathLike | None = None,
                       split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST as float images in [0, 1].

    Parameters
    ----------
    root : path, optional
        Folder with the IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each raw or ``.gz``); searched
        first, then ``/usr/share/datasets/fashion-mnist``.
    split : {"train", "test"}
        60 000 training or 10 000 test images.

    Returns
    -------
    x : ndarray, float32, shape (N, 1, 28, 28), values in [0, 1]
    y : ndarray, int64, shape (N,), classes 0..9 (names in ``CLASSES``)

    Raises
    ------
    FileNotFoundError
        If the files are in none of the folders (the message lists them).
    ValueError
        If a file is corrupt, or images and labels disagree.
    """
    if split not in FILES:
        raise ValueError(f"load_fashion_mnist: split must be 'train' or 'test'; got {split!r}")
    dirs = _search_dirs(root)
    paths = [_find(stem, dirs) for stem in FILES[split]]
    if any(p is None for p in paths):
        missing = [s for s, p in zip(FILES[split], paths) if p is None]
        raise FileNotFoundError(
            f"load_fashion_mnist: {', '.join(missing)} (raw or .gz) not found; searched "
            f"{', '.join(str(d) for d in dirs)}. Get them with 'apt-get install "
            f"dataset-fashion-mnist' (Debian/Ubuntu) or put the four IDX files in a folder "
            f"and pass root=that folder")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if (images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels)
            or images.dtype != np.uint8):
        raise ValueError(f"load_fashion_mnist: expected uint8 images (N, H, W) and labels (N,) "
                         f"of one length; got {images.dtype} {images.shape} from {paths[0]} "
                         f"and {labels.shape} from {paths[1]}")
    x = (images.astype(np.float32) / np.float32(255.0))[:, None]
    return x, labels.astype(np.int64)
