"""Exercises: stubs a student fills in, and a checker that grades them.

    numcnn exercise list                     # the exercises, by lab
    numcnn exercise start conv2d_backward    # writes ./conv2d_backward.py, the stub
    numcnn check conv2d_backward conv2d_backward.py

Each stub (``numcnn/exercises/stubs/NAME.py``) has the function(s) to write, with their
shapes, the formula and, for a backward, the cache it receives.  ``check`` runs them
against numcnn's own ops and numerical gradients (float64) on explicit cases and cases
drawn by hypothesis (stride, padding, odd sizes, a batch of one), checks the dtype in
float32, then trains a tiny model with them (``numcnn.use``) and compares the loss curve
with numcnn's.  The report names the first failing output, the case, the relative errors
and hints for the usual mistakes; ``Report.ok`` (the command's exit status 0) only when
all of it passes.  Worked solutions: ``numcnn/exercises/solutions/NAME.py``.
"""

from __future__ import annotations

import importlib.util
import itertools
import types
from dataclasses import dataclass, field
from pathlib import Path

from ._checker import Row, StudentError, Training, describe, search, variant_hints
from ._specs import EXERCISES, Exercise

HERE = Path(__file__).resolve().parent
STUBS, SOLUTIONS = HERE / "stubs", HERE / "solutions"

__all__ = ["EXERCISES", "Exercise", "Report", "check", "load", "start", "stub_path",
           "solution_path"]

_counter = itertools.count()


def _exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise ValueError(f"no exercise {name!r}; the exercises are: {', '.join(EXERCISES)}")
    return EXERCISES[name]


def stub_path(name: str) -> Path:
    return STUBS / f"{_exercise(name).name}.py"


def solution_path(name: str) -> Path:
    return SOLUTIONS / f"{_exercise(name).name}.py"


def start(name: str, folder: str | Path = ".") -> Path:
    """Write the stub of exercise ``name`` to ``folder/NAME.py`` and return its path.

    An existing file is never replaced: a student's work is not lost by a second ``start``.
    """
    source = stub_path(name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    if target.exists():
        raise FileExistsError(f"{target} exists already; check it with `numcnn check {name} "
                              f"{target}`, or move it away to start afresh")
    with open(target, "x", encoding="utf-8") as f:  # "x": fail rather than overwrite
        f.write(source.read_text(encoding="utf-8"))
    return target


def load(path: str | Path) -> types.ModuleType:
    """Import a student's file as a module (under a fresh name, so edits are picked up)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}")
    spec = importlib.util.spec_from_file_location(f"numcnn_student_{next(_counter)}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise StudentError(f"importing {path.name}", e) from e
    return module


@dataclass
class Report:
    """The checker's findings: ``ok`` and a text a student can act on (``str(report)``)."""

    exercise: str
    ok: bool
    lines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def check(name: str, solution, max_examples: int | None = None,
          train: bool = True) -> Report:
    """Grade ``solution`` (a file path, a module, or an object with the exercise's
    functions) on exercise ``name``; see the module doc."""
    ex = _exercise(name)
    lines = [f"numcnn check {ex.name}: {ex.title}"]
    try:
        student = load(solution) if isinstance(solution, (str, Path)) else solution
    except StudentError as e:
        return Report(ex.name, False, lines + [f"  cannot import: {e}", "result: FAILED"])
    missing = [f for f in ex.functions if not callable(getattr(student, f, None))]
    if missing:
        return Report(ex.name, False, lines + [
            f"  missing function(s): {', '.join(missing)} (start from `numcnn exercise "
            f"start {ex.name}`)", "result: FAILED"])
    ns = types.SimpleNamespace(**{f: getattr(student, f) for f in ex.functions})

    def run(params):
        try:
            return ex.run(ns, params)
        except StudentError as e:  # reported like a wrong result, with the case
            return [Row("error", False, str(e))]

    n = ex.max_examples if max_examples is None else max_examples
    found = search(run, ex.examples, ex.strategy(), n)
    if found.failure is not None and any("not implemented yet" in r.detail
                                         for r in found.failure.rows):
        return Report(ex.name, False, lines + [
            f"  1. cases: {found.failure.rows[-1].detail}", "result: FAILED"])
    if found.failure is None:
        lines.append(f"  1. {found.cases} cases ({ex.covers}): all right")
    else:
        f = found.failure
        hints = list(dict.fromkeys(h for r in f.rows for h in r.hints))
        if not hints:  # nothing recognised in the numbers: which simpler case passes?
            hints = variant_hints(run, f.params, ex.variants)
        if not hints and ex.fallback_hint:
            hints.append(ex.fallback_hint)
        lines.append(f"  1. cases: FAILED on case {found.cases} of up to "
                     f"{len(ex.examples) + n}: {describe(f.params, ex.shown)}")
        for r in f.rows:
            lines.append(f"       {'ok   ' if r.ok else 'WRONG'} {r.what}: {r.detail}")
        if hints:
            lines.append("     hints:")
            lines += [f"       - {h}" for h in hints]
        lines += ["  2. training a tiny model: skipped (fix the case above first)",
                  "result: FAILED"]
        return Report(ex.name, False, lines)
    if not train:
        return Report(ex.name, True, lines + ["result: passed (training skipped)"])
    try:
        result: Training = ex.train(ns)
    except StudentError as e:
        result = Training(False, str(e))
    except (ValueError, TypeError) as e:  # numcnn.use's first-call checks
        result = Training(False, str(e))
    lines.append(f"  2. training a tiny model: {'all right' if result.ok else 'FAILED'}: "
                 f"{result.text}")
    lines.append("result: passed" if result.ok else "result: FAILED")
    return Report(ex.name, result.ok, lines)
