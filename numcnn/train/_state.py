"""Everything besides weights that a resumed run needs to continue bit for bit.

``capture(...)`` returns the ``extra`` dict that ``fit`` stores in its checkpoints; ``Resume``
checks such a dict against the current objects (``check``) before ``apply`` restores it:

- ``fit/epoch``, ``fit/history``: epochs done and the History as JSON text;
- ``rng/model/...``: every ``numpy.random.Generator`` found in a module's ``vars()``
  (Dropout masks), by owner ("2:rng" = attribute ``rng`` of module "2");
- ``rng/global``: numcnn's global generator (``numcnn.manual_seed``);
- ``loader/train``, ``loader/val``: the DataLoaders' ``state_dict()`` (shuffling, augmenting);
- ``callbacks/<i>``: the ``state_dict()`` of callbacks that have one (EarlyStopping).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import _random
from .._random import find_generators
from ..io import rng_state_from_arrays, rng_state_to_arrays
from .history import History


def _unique(gens: Sequence[np.random.Generator]) -> tuple[list[np.random.Generator], list[int]]:
    """Distinct generators (by identity) and, for each input, the index of its generator."""
    unique: list[np.random.Generator] = []
    index = []
    for g in gens:
        j = next((i for i, u in enumerate(unique) if u is g), None)
        if j is None:
            unique.append(g)
            j = len(unique) - 1
        index.append(j)
    return unique, index


def reseed(seed: int, model, loaders: Sequence[Any]) -> None:
    """Re-seed, in place, the model's generators and the loaders' ``rng`` from one ``seed``.

    In place (``bit_generator.state = ...``) so that modules sharing a generator keep sharing
    it; each distinct generator gets its own child of ``SeedSequence(seed)``.
    """
    gens = [g for _, g in find_generators(model)]
    gens += [ld.rng for ld in loaders if isinstance(getattr(ld, "rng", None),
                                                      np.random.Generator)]
    unique, _ = _unique(gens)
    for g, child in zip(unique, np.random.SeedSequence(seed).spawn(len(unique))):
        g.bit_generator.state = type(g.bit_generator)(child).state


def capture(epoch: int, history: History, model, train_loader, val_loader,
            callbacks: Sequence[Any]) -> dict[str, Any]:
    """The ``extra`` dict of a checkpoint taken after ``epoch`` completed epochs."""
    owners = find_generators(model)
    unique, index = _unique([g for _, g in owners])
    rng: dict[str, Any] = {"global": rng_state_to_arrays(_random._global_rng)}
    if owners:
        rng["model"] = {"owners": np.array([o for o, _ in owners]),
                        "index": np.array(index, dtype=np.int64),
                        **{str(j): rng_state_to_arrays(g) for j, g in enumerate(unique)}}
    extra: dict[str, Any] = {
        "fit": {"epoch": np.array(epoch, dtype=np.int64), "history": history.to_json(indent=None)},
        "rng": rng,
    }
    loaders = {name: ld.state_dict() for name, ld in (("train", train_loader),
                                                     ("val", val_loader))
               if hasattr(ld, "state_dict")}
    if loaders:
        extra["loader"] = loaders
    cbs = {str(i): cb.state_dict() for i, cb in enumerate(callbacks) if hasattr(cb, "state_dict")}
    if cbs:
        extra["callbacks"] = cbs
    return extra


def _check_rng(where: str, saved: Mapping[str, Any], gen: np.random.Generator) -> dict:
    try:
        state = rng_state_from_arrays(saved)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: unreadable generator state ({e})") from e
    want = type(gen.bit_generator).__name__
    if state["bit_generator"] != want:
        raise ValueError(f"{where}: the checkpoint holds a {state['bit_generator']} state; "
                         f"the generator here is a {want}")
    return state


class Resume:
    """The training state of a checkpoint, checked against the current objects.

    Constructing it checks everything (raising ``ValueError`` and changing nothing);
    ``apply()`` then restores generators, loaders and callbacks.
    """

    def __init__(self, path: str, extra: Mapping[str, Any], model, train_loader, val_loader,
                 callbacks: Sequence[Any]) -> None:
        where = f"resume from {path!r}"
        fit = extra.get("fit")
        if not isinstance(fit, Mapping) or "epoch" not in fit or "history" not in fit:
            raise ValueError(f"{where}: not a checkpoint written by fit() (no fit/epoch and "
                             f"fit/history in its extra; it has {sorted(extra)})")
        self.epoch = int(fit["epoch"])
        self.history = History.from_json(str(fit["history"]))
        self._sets: list[tuple[np.random.Generator, dict]] = []
        self._loads: list[tuple[Any, Any]] = []
        rng = extra.get("rng", {})
        owners = find_generators(model)
        saved_model = rng.get("model", {})
        saved_owners = [str(o) for o in np.atleast_1d(saved_model.get("owners", []))]
        here = [o for o, _ in owners]
        if saved_owners != here:
            raise ValueError(f"{where}: the model's random generators differ from the "
                             f"checkpoint's: saved {saved_owners}, found {here}")
        if owners:
            index = np.atleast_1d(saved_model["index"]).tolist()
            _, here_index = _unique([g for _, g in owners])
            if index != here_index:
                raise ValueError(f"{where}: generators are shared differently between "
                                 f"modules: saved {index}, found {here_index}")
            for (owner, g), j in zip(owners, index):
                self._sets.append((g, _check_rng(f"{where}, generator {owner}",
                                                 saved_model[str(j)], g)))
        if "global" in rng:
            self._sets.append((_random._global_rng, _check_rng(f"{where}, global generator",
                                                               rng["global"],
                                                               _random._global_rng)))
        loaders = extra.get("loader", {})
        for name, ld in (("train", train_loader), ("val", val_loader)):
            if not hasattr(ld, "load_state_dict"):
                continue
            if name not in loaders:
                if name == "val":  # e.g. first run without validation: nothing to continue
                    continue
                raise ValueError(f"{where}: the checkpoint holds no state for train_loader "
                                 f"(its shuffling would not continue where it stopped)")
            saved_kind = loaders[name].get("rng.bit_generator")
            gen = getattr(ld, "rng", None)
            if isinstance(gen, np.random.Generator) and saved_kind is not None \
                    and str(saved_kind) != type(gen.bit_generator).__name__:
                raise ValueError(f"{where}: {name}_loader's state is for a {saved_kind} "
                                 f"generator; the loader uses "
                                 f"{type(gen.bit_generator).__name__}")
            self._loads.append((ld, loaders[name]))
        saved_cbs = extra.get("callbacks", {})
        for i, cb in enumerate(callbacks):
            if hasattr(cb, "load_state_dict") and str(i) in saved_cbs:
                self._loads.append((cb, saved_cbs[str(i)]))

    def apply(self) -> None:
        for g, state in self._sets:
            g.bit_generator.state = state
        for obj, state in self._loads:
            obj.load_state_dict(state)
