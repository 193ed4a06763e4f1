"""Checkpoints and weight files: ``.npz`` archives read with ``allow_pickle=False``.

A pickle can run arbitrary code when it is loaded, so numcnn never reads one: every value
is a plain numeric or string array.  Files are written *atomically*: into a temporary file
in the same directory, flushed and fsync'ed, then renamed over the target with
``os.replace``, so a crash mid-write leaves the previous file whole.

Checkpoint layout (one flat archive, keys namespaced by section)::

    meta/format_version   int      CHECKPOINT_FORMAT
    meta/sections         str[]    which of model/optimizer/scheduler/extra are stored
    meta/model_class      str      type(model).__name__ (for messages only)
    meta/model_keys       str[]    the model's state_dict keys ...
    meta/model_shapes     str[]    ... and shapes ("10,64"; "" for a scalar): its fingerprint
    model/<key>           the model's state_dict      (e.g. model/0.weight)
    optimizer/<key>       the optimizer's state_dict  (e.g. optimizer/state.0.exp_avg)
    scheduler/<key>       the scheduler's state_dict
    extra/<key>[/<key>]   anything else; nested dicts are flattened with "/"
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from ._random import rng_state_from_arrays, rng_state_to_arrays

__all__ = [
    "CHECKPOINT_FORMAT", "Checkpoint", "save_checkpoint", "load_checkpoint", "read_checkpoint",
    "save_state_dict", "load_state_dict", "atomic_write", "rng_state_to_arrays",
    "rng_state_from_arrays",
]

CHECKPOINT_FORMAT = 1
_SECTIONS = ("model", "optimizer", "scheduler", "extra")
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"

PathLike = str | os.PathLike


# ------------------------------------------------------------------------------ writing
def _file_path(path) -> str:
    """``path`` as a str, if it is one (or an ``os.PathLike``)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"numcnn.io: the path must be a str or an os.PathLike (pathlib.Path); "
                        f"got {path!r}")
    return os.fspath(path)


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file so that readers see either the old content or the new, never a mix.

    ``write(f)`` fills a temporary file opened in binary mode in ``path``'s directory (same
    file system, so the final ``os.replace`` is an atomic rename); it is flushed and
    fsync'ed first.  If ``write`` raises, the temporary file is removed, the target is
    untouched and the exception propagates.  After a successful save, the temporary files
    that a killed earlier save of the same ``path`` left behind are removed: only names
    this function makes (``.<name>.<8 hex digits>.tmp``) and only files last written before
    this save began (a save still running elsewhere keeps writing to its file).
    """
    path = _file_path(path)
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a folder; give a file path in it (such as "
                         f"{os.path.join(path, 'model.npz')!r})")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path!r}: directory {directory!r} does not "
                                f"exist")
    started = time.time()
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    # os.open with mode 0o666 lets the umask decide the permissions, as for a normal file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)
    _remove_stale_temporaries(directory, os.path.basename(path), started)


def _remove_stale_temporaries(directory: str, name: str, before: float) -> None:
    """Remove ``.<name>.<8 hex>.tmp`` files in ``directory`` last modified before ``before``
    (left by a save that was killed); anything else, or newer, is left alone."""
    pattern = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{8}}\.tmp")
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < before:
                        os.unlink(entry.path)


def _write_npz(f: IO[bytes], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` (what ``np.savez`` writes), refusing
    object arrays.  Written by hand so that any key is allowed (``np.savez(**arrays)`` would
    clash with its own keyword arguments)."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in arrays.items():
            with zf.open(key + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, value, allow_pickle=False)


def _plain_array(where: str, value: Any) -> np.ndarray:
    """``value`` as a numeric, bool or string array; anything needing pickle is refused."""
    a = np.asarray(value)
    if a.dtype.kind not in "biufcUS":
        raise TypeError(f"{where}: expected a numeric, bool or string array (checkpoints are "
                        f"read with allow_pickle=False); got {type(value).__name__} of dtype "
                        f"{a.dtype}")
    return a


def _shape_str(shape: tuple[int, ...]) -> str:
    return ",".join(str(int(s)) for s in shape)


def _parse_shape(s: str) -> tuple[int, ...]:
    return tuple(int(p) for p in s.split(",") if p)


def _flatten(prefix: str, tree: Mapping[str, Any], out: dict[str, np.ndarray]) -> None:
    for key, value in tree.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise ValueError(f"extra: keys must be non-empty strings without '/'; got {key!r}")
        name = f"{prefix}/{key}"
        if isinstance(value, Mapping):
            if not value:
                raise ValueError(f"extra: {name} is an empty dict, which an .npz cannot hold")
            _flatten(name, value, out)
        else:
            out[name] = _plain_array(name, value)


def save_checkpoint(path: PathLike, model=None, optimizer=None, scheduler=None,
                    extra: Mapping[str, Any] | None = None) -> None:
    """Save the state of a training run to one ``.npz``, atomically.

    Parameters
    ----------
    path : str or PathLike
        Target file, used exactly as given (no extension is added).  Its directory must
        exist.
    model : Module, optional
        Its ``state_dict()`` and an architecture fingerprint (keys and shapes).
    optimizer, scheduler : optional
        Anything with ``state_dict()`` returning a flat dict of numpy arrays (or scalars).
    extra : dict, optional
        More values: numbers, strings, arrays, or (nested) dicts of those.  Keys must not
        contain "/".  ``load_checkpoint`` returns it.

    Raises
    ------
    TypeError
        If a value is not a plain numeric/bool/string array (e.g. an object or None).
    """
    arrays: dict[str, np.ndarray] = OrderedDict()
    sections = []
    meta = {"meta/format_version": np.array(CHECKPOINT_FORMAT, dtype=np.int64)}
    for name, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None and not callable(getattr(obj, "state_dict", None)):
            raise TypeError(f"save_checkpoint: {name} must have a state_dict() (a numcnn "
                            f"Module, Optimizer or scheduler) or be None; got {obj!r:.60}")
    if model is not None:
        state = model.state_dict()
        sections.append("model")
        meta["meta/model_class"] = np.array(type(model).__name__)
        meta["meta/model_keys"] = np.array(list(state), dtype=str)
        meta["meta/model_shapes"] = np.array([_shape_str(np.shape(v)) for v in state.values()],
                                             dtype=str)
        for k, v in state.items():
            arrays[f"model/{k}"] = _plain_array(f"model/{k}", v)
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None:
            sections.append(name)
            for k, v in obj.state_dict().items():
                arrays[f"{name}/{k}"] = _plain_array(f"{name}/{k}", v)
    if extra is not None:
        if not isinstance(extra, Mapping):
            raise TypeError(f"save_checkpoint: extra must be a dict; got {type(extra).__name__}")
        sections.append("extra")
        _flatten("extra", extra, arrays)
    meta["meta/sections"] = np.array(sections, dtype=str)
    atomic_write(path, lambda f: _write_npz(f, {**meta, **arrays}))


def save_state_dict(path: PathLike, state) -> None:
    """Save plain weights (a ``state_dict``, or a Module's) as an ``.npz``, atomically.

    Keys are stored as they are, so ``np.load(path)`` reads the file too.
    """
    if hasattr(state, "state_dict") and not isinstance(state, Mapping):
        state = state.state_dict()
    if not isinstance(state, Mapping):
        raise TypeError(f"save_state_dict: expected a dict of arrays or a Module; got "
                        f"{type(state).__name__}")
    arrays = OrderedDict((str(k), _plain_array(str(k), v)) for k, v in state.items())
    atomic_write(path, lambda f: _write_npz(f, arrays))


# ------------------------------------------------------------------------------ reading
def _read_npz(path: PathLike, what: str) -> OrderedDict[str, np.ndarray]:
    """Every array of an ``.npz`` (file order), read with ``allow_pickle=False``; any
    problem becomes a ``FileNotFoundError`` or a ``ValueError`` that says what was found."""
    path = _file_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{what} {path!r} is a directory; expected an .npz file")
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise ValueError(f"{what} {path!r} is empty (0 bytes); expected an .npz archive")
    if head.startswith(_NPY_MAGIC):
        raise ValueError(f"{what} {path!r} is a single-array .npy file; expected an .npz "
                         f"archive (np.savez)")
    if not head.startswith(_ZIP_MAGIC):
        kind = "a pickle" if head[:1] == b"\x80" else "not an .npz (zip) archive"
        raise ValueError(f"{what} {path!r} is {kind}: it starts with bytes {head[:4]!r}, an "
                         f".npz starts with {_ZIP_MAGIC!r}.  numcnn reads only .npz files, "
                         f"with allow_pickle=False")
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    key = None
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                out[key] = npz[key]  # reads (and CRC-checks) the member now
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ValueError(f"{what} {path!r} holds a pickled object array ({key!r}); numcnn "
                             f"loads with allow_pickle=False because unpickling can run "
                             f"arbitrary code.  Save plain numeric or string arrays "
                             f"instead") from e
        raise ValueError(f"{what} {path!r} is corrupt (array {key!r}): {e}") from e
    except Exception as e:  # BadZipFile, CRC errors, EOFError, zlib.error... all mean damage
        raise ValueError(f"{what} {path!r} is truncated or corrupt: could not read it as an "
                         f".npz ({type(e).__name__}: {e})") from e
    return out


def load_state_dict(path: PathLike) -> OrderedDict[str, np.ndarray]:
    """Read weights saved by ``save_state_dict`` (or any ``np.savez`` of plain arrays).

    Returns
    -------
    OrderedDict of str -> ndarray, in file order; pass it to ``model.load_state_dict``.
    """
    return _read_npz(path, "state dict file")


def _to_python(a: np.ndarray) -> Any:
    """0-d arrays come back as Python scalars (int, float, bool, str)."""
    return a.item() if a.ndim == 0 else a


def _unflatten(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split("/")
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = _to_python(value)
    return tree


@dataclass
class Checkpoint:
    """A checkpoint read into memory and checked, not yet applied to anything.

    Attributes
    ----------
    path : str
    format_version : int
    model, optimizer, scheduler : dict of str -> ndarray, or None if not stored
    extra : dict
        Nested as saved; 0-d arrays are returned as Python scalars.
    fingerprint : list of (key, shape)
        The saved model's state_dict keys and shapes.
    model_class : str
    """

    path: str
    format_version: int
    model: dict[str, np.ndarray] | None
    optimizer: dict[str, np.ndarray] | None
    scheduler: dict[str, np.ndarray] | None
    extra: dict[str, Any] = field(default_factory=dict)
    fingerprint: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    model_class: str = ""

    def check_model(self, model) -> None:
        """Raise ``ValueError`` unless ``model`` has exactly the saved keys and shapes."""
        if self.model is None:
            raise ValueError(f"checkpoint {self.path!r} holds no model state")
        saved = dict(self.fingerprint)
        current = OrderedDict((k, tuple(np.shape(v))) for k, v in model.state_dict().items())
        missing = [k for k in current if k not in saved]
        unexpected = [k for k in saved if k not in current]
        shapes = [f"{k}: checkpoint {saved[k]}, model {current[k]}"
                  for k in current if k in saved and saved[k] != current[k]]
        if missing or unexpected or shapes:
            raise ValueError(
                f"checkpoint {self.path!r} was saved from a different model "
                f"({self.model_class} -> {type(model).__name__}): missing keys {missing}, "
                f"unexpected {unexpected}, shape mismatch {shapes}")

    def apply(self, model=None, optimizer=None, scheduler=None) -> None:
        """Load the saved states into the given objects: all of them, or none.

        numcnn's modules, optimizers and schedulers check a state completely before they
        write any of it, so every state is checked first (sections present, model
        fingerprint, every value), and only then are they all written.  An object from
        elsewhere (anything with ``state_dict()``/``load_state_dict()``) cannot be checked
        without being loaded: it is loaded after the checks and before numcnn's objects are
        written, so its failure changes nothing of numcnn's.
        """
        targets = [("model", model, self.model), ("optimizer", optimizer, self.optimizer),
                   ("scheduler", scheduler, self.scheduler)]
        targets = [(name, obj, state) for name, obj, state in targets if obj is not None]
        for name, obj, state in targets:
            if state is None:
                raise ValueError(f"checkpoint {self.path!r} holds no {name} state; it has "
                                 f"{self._sections()}")
            if not hasattr(obj, "load_state_dict") or not hasattr(obj, "state_dict"):
                raise TypeError(f"{name} must have state_dict()/load_state_dict(); got "
                                f"{type(obj).__name__}")
        if model is not None:
            self.check_model(model)
        writes, foreign = [], []
        for name, obj, state in targets:
            if hasattr(obj, "_prepared_load"):  # checks everything, copies what it keeps
                writes.append(self._checked(name, lambda o=obj, s=state: o._prepared_load(s)))
            else:
                foreign.append((name, obj))
        done: list[str] = []
        for name, obj in foreign:
            state = {k: np.array(v, copy=True) for k, v in getattr(self, name).items()}
            self._checked(name, lambda o=obj, s=state: o.load_state_dict(s), done)
            done.append(name)
        for write in writes:
            write()

    def _checked(self, name: str, load: Callable[[], Any], done: list[str] = ()) -> Any:
        try:
            return load()
        except Exception as e:
            outcome = ("nothing was changed" if not done else
                       f"the {' and '.join(done)} state was already loaded (an object from "
                       f"outside numcnn cannot be checked before it is loaded); numcnn's "
                       f"objects were not changed")
            raise ValueError(f"checkpoint {self.path!r}: could not load the {name} state "
                             f"({type(e).__name__}: {e}); {outcome}") from e

    def _sections(self) -> list[str]:
        return [s for s in _SECTIONS[:3] if getattr(self, s) is not None] + (
            ["extra"] if self.extra else [])


def read_checkpoint(path: PathLike) -> Checkpoint:
    """Read and check a checkpoint without applying it.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable ``.npz`` (truncated, corrupt, pickled), not a numcnn
        checkpoint, of a newer format, or internally inconsistent.
    """
    path = _file_path(path)
    flat = _read_npz(path, "checkpoint")
    if "meta/format_version" not in flat:
        raise ValueError(f"{path!r} is not a numcnn checkpoint (no 'meta/format_version' "
                         f"key; found {list(flat)[:5]}...).  For plain weights use "
                         f"numcnn.io.load_state_dict")
    version = flat["meta/format_version"]
    if version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"checkpoint {path!r}: meta/format_version must be an int; got "
                         f"{version!r}")
    version = int(version)
    if version > CHECKPOINT_FORMAT or version < 1:
        raise ValueError(f"checkpoint {path!r} has format version {version}; this numcnn "
                         f"reads versions 1..{CHECKPOINT_FORMAT}")
    sections = [str(s) for s in flat.get("meta/sections", np.array([], dtype=str))]
    parts: dict[str, OrderedDict[str, np.ndarray]] = {s: OrderedDict() for s in _SECTIONS}
    for key, value in flat.items():
        head, _, rest = key.partition("/")
        if head == "meta":
            continue
        if head not in parts or not rest:
            raise ValueError(f"checkpoint {path!r} has an unknown key {key!r}; expected keys "
                             f"under {['meta', *_SECTIONS]}")
        parts[head][rest] = value
    fingerprint: list[tuple[str, tuple[int, ...]]] = []
    if "model" in sections:
        try:
            keys = [str(k) for k in flat["meta/model_keys"]]
            shapes = [_parse_shape(str(s)) for s in flat["meta/model_shapes"]]
        except (KeyError, ValueError) as e:
            raise ValueError(f"checkpoint {path!r}: the model fingerprint "
                             f"(meta/model_keys, meta/model_shapes) is missing or "
                             f"unreadable") from e
        fingerprint = list(zip(keys, shapes))
        stored = [(k, tuple(v.shape)) for k, v in parts["model"].items()]
        if len(keys) != len(shapes) or stored != fingerprint:
            raise ValueError(f"checkpoint {path!r} is inconsistent: its model arrays do not "
                             f"match its fingerprint (expected {fingerprint[:3]}..., found "
                             f"{stored[:3]}...)")
    return Checkpoint(
        path=path, format_version=version,
        model=dict(parts["model"]) if "model" in sections else None,
        optimizer=dict(parts["optimizer"]) if "optimizer" in sections else None,
        scheduler=dict(parts["scheduler"]) if "scheduler" in sections else None,
        extra=_unflatten(parts["extra"]),
        fingerprint=fingerprint,
        model_class=str(flat.get("meta/model_class", np.array(""))),
    )


def load_checkpoint(path: PathLike, model=None, optimizer=None,
                    scheduler=None) -> dict[str, Any]:
    """Restore a checkpoint written by ``save_checkpoint``: all or nothing.

    The file is read with ``allow_pickle=False`` and checked completely (readable, format
    version, model fingerprint) before anything is changed; if any step fails, ``model``,
    ``optimizer`` and ``scheduler`` are left as they were.

    Returns
    -------
    dict
        The ``extra`` saved with it (0-d arrays as Python scalars), ``{}`` if none.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Unreadable, corrupt or pickled file; wrong format version; "checkpoint was saved
        from a different model: missing keys [...], unexpected [...], shape mismatch
        [...]"; a section asked for but not stored.
    """
    ckpt = read_checkpoint(path)
    ckpt.apply(model, optimizer, scheduler)
    return ckpt.extra

