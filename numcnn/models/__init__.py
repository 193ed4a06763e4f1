"""Ready-made networks: classifiers (SeedCNN, LeNet5) and segmenters (UNet, FCN)."""

from .classification import LeNet5, SeedCNN
from .unet import FCN, UNet

MODELS = {"seedcnn": SeedCNN, "lenet5": LeNet5, "unet": UNet, "fcn": FCN}


def build_model(name: str, **kwargs):
    """A model from its name in ``MODELS`` and constructor arguments (as saved in a
    checkpoint's ``model_spec`` by ``numcnn train`` and the demo)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name](**kwargs)
