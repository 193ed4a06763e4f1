"""One file, two ways to run it: the examples are percent-format scripts (``# %%`` cells,
which Jupyter opens as a notebook through jupytext) whose last cell is
``run_example(main, "runs/NAME")``.

- As a script (``python examples/NAME.py --quick``) that is ``sys.exit(main(sys.argv[1:]))``.
- In a notebook, ``sys.argv`` holds the kernel's own arguments, so the options come from the
  environment variable ``NUMCNN_EXAMPLE_ARGS`` instead (e.g. ``--quick``; empty: the full
  run); a non-zero status raises, and the PNG figures the run wrote are shown below the cell.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

ARGS_VARIABLE = "NUMCNN_EXAMPLE_ARGS"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython with a kernel), False in a plain script."""
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return get is not None and getattr(get(), "kernel", None) is not None


def _out_folder(argv: list[str], default_out: str) -> Path:
    for k, a in enumerate(argv):
        if a == "--out" and k + 1 < len(argv):
            return Path(argv[k + 1])
        if a.startswith("--out="):
            return Path(a.split("=", 1)[1])
    return Path(default_out)


def run_example(main: Callable[[list[str]], int], default_out: str) -> int:
    """Run an example's ``main(argv)`` as a script or in a notebook (see the module doc)."""
    if not in_notebook():
        sys.exit(main(sys.argv[1:]))
    argv = shlex.split(os.environ.get(ARGS_VARIABLE, ""))
    started = time.time()
    status = main(argv)
    if status:
        raise RuntimeError(f"the example ended with status {status} (options {argv})")
    from IPython.display import Image, display

    folder = _out_folder(argv, default_out)
    for png in sorted(folder.glob("*.png")):
        if png.stat().st_mtime >= started - 1:
            display(Image(filename=str(png)))
    return status
