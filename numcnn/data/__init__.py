"""Datasets, the ``DataLoader`` and joint image/mask transforms (see ``loader`` and
``transforms``)."""

from . import transforms
from .loader import ArrayDataset, DataLoader, Dataset, Transform
from .transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotate90,
    RandomVerticalFlip,
    compute_mean_std,
)

__all__ = [
    "ArrayDataset", "DataLoader", "Dataset", "Transform", "transforms",
    "Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "RandomRotate90",
    "RandomVerticalFlip", "compute_mean_std",
]
