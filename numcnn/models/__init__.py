"""Ready-made networks: classifiers (SeedCNN, LeNet5) and segmenters (UNet, FCN)."""

from .classification import LeNet5, SeedCNN
from .unet import FCN, UNet
