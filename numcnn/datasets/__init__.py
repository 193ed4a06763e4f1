"""Real (and a few synthetic) data sets, read from installed packages: never downloaded.

- ``load_digits``: scikit-learn's 8x8 digits (classification, 10 classes).
- ``load_fashion_mnist``: Fashion-MNIST from its IDX files (classification, 10 classes).
- ``load_nuclei``: a hand-labelled fluorescence image of nuclei (segmentation, 2 or 3 classes).
- ``load_digit_scenes``: canvases of real digits with stroke masks (segmentation, 11 classes).
- ``make_shapes``: synthetic circles/squares/triangles with exact masks (segmentation, 4).
"""

from .digits import load_digits
from .fashion_mnist import CLASSES as FASHION_MNIST_CLASSES
from .fashion_mnist import load_fashion_mnist, parse_idx, read_idx
from .nuclei import (
    NucleiData,
    instance_boundaries,
    instances_to_target,
    load_nuclei,
    nuclei_from_arrays,
)
from .scenes import load_digit_scenes
from .synthetic import CLASSES as SHAPE_CLASSES
from .synthetic import make_shapes

__all__ = [
    "load_digits", "load_fashion_mnist", "parse_idx", "read_idx", "FASHION_MNIST_CLASSES",
    "NucleiData", "load_nuclei", "nuclei_from_arrays", "instance_boundaries",
    "instances_to_target", "load_digit_scenes", "make_shapes", "SHAPE_CLASSES",
]
