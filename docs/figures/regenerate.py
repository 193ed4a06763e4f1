"""Regenerate the figures under docs/figures/ from full runs of the teaching examples.

    python docs/figures/regenerate.py                      # every example below
    python docs/figures/regenerate.py sanity_checks        # one of them

Each example runs as a script in full mode (``python examples/NAME.py --out TMP``); the
figures the docs show are copied to ``docs/figures/NAME/`` as palette PNGs (256 colours:
a fraction of the size, no visible loss on line plots and colour maps), and what the run
printed goes to ``docs/figures/NAME/run.txt`` with its wall time and the machine's load, so
the numbers quoted in the docs can be checked against the run that drew the figures.  A
figure is replaced only after the run succeeded (never a half-written one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

#: example -> the figures its docs page shows (a figure the run did not write is skipped)
FIGURES = {
    "conv_by_hand": ["im2col_tiny.png", "conv_timings.png"],
    "gradient_checking": ["gradient_check_scatter.png", "gradient_check_conv_overlap.png"],
    "convolution_intuition": ["filters_on_camera.png", "equivariance.png",
                              "receptive_field.png", "filters_before.png",
                              "filters_after.png"],
    "sanity_checks": ["overfit_one_batch.png", "gradient_norms_sigmoid.png",
                      "gradient_norms_relu.png", "gradient_norms_seedcnn.png"],
    "what_the_network_sees": ["digits_filters.png", "digits_feature_maps.png",
                              "digits_saliency.png", "digits_grad_cam.png",
                              "shapes_prediction.png", "shapes_grad_cam_per_class.png"],
}


def quantised_copy(source: Path, target: Path) -> None:
    """``source`` as a 256-colour palette PNG at ``target``, written atomically."""
    from PIL import Image

    image = Image.open(source).convert("RGB").quantize(colors=256, method=Image.MEDIANCUT)
    tmp = target.with_name(f".{target.name}.tmp")
    image.save(tmp, format="PNG", optimize=True)
    os.replace(tmp, target)


def regenerate(name: str) -> float:
    """Run ``examples/NAME.py`` in full mode and refresh its figures; returns the wall time."""
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as out:
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        run = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), "--out",
                              out], cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if run.returncode:
            raise SystemExit(f"{name} failed (status {run.returncode}):\n{run.stderr[-3000:]}")
        load_after = os.getloadavg()[0]
        for figure in FIGURES[name]:
            if (Path(out) / figure).exists():
                quantised_copy(Path(out) / figure, folder / figure)
    note = (f"$ python examples/{name}.py   ({seconds:.0f} s wall on {os.cpu_count()} cores, "
            f"load average {load_before:.1f} before, {load_after:.1f} after)\n")
    tmp = folder / ".run.txt.tmp"
    tmp.write_text(note + run.stdout, encoding="utf-8")
    os.replace(tmp, folder / "run.txt")
    return seconds


def main(argv: list[str]) -> int:
    names = argv or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        print(f"unknown example(s) {unknown}; these have figures: {', '.join(FIGURES)}",
              file=sys.stderr)
        return 2
    for name in names:
        print(f"{name}: {regenerate(name):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
