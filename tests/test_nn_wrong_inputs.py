"""Random wrong arguments to every public nn constructor (and to the models), then the
module used as training would (a forward and a backward of valid data): the only
exceptions allowed are numcnn's own ValueError/TypeError, raised by a ``raise`` in numcnn
(never a deep NumPy or numba error, never an AttributeError at the first forward)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numcnn import nn
from numcnn.cli import raised_by_numcnn
from numcnn.models import FCN, LeNet5, SeedCNN, UNet

rng = np.random.default_rng(0)
X4 = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
LOGITS = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
TARGETS = rng.integers(0, 3, (2, 4, 4))

# name -> (constructor, valid keyword arguments, a valid input)
CONSTRUCTORS = {
    "Conv2d": (nn.Conv2d, dict(in_channels=4, out_channels=2, kernel_size=3, stride=1,
                               padding=1, dilation=1, groups=1, bias=True, rng=0), X4),
    "ConvTranspose2d": (nn.ConvTranspose2d, dict(in_channels=4, out_channels=2,
                                                 kernel_size=3, stride=2, padding=1,
                                                 output_padding=1, groups=2, bias=True,
                                                 dilation=1, rng=0), X4),
    "Linear": (nn.Linear, dict(in_features=8, out_features=3, bias=True, rng=0), X4[:, 0, 0]),
    "MaxPool2d": (nn.MaxPool2d, dict(kernel_size=2, stride=None, padding=0, dilation=1,
                                     return_indices=False, ceil_mode=False), X4),
    "AvgPool2d": (nn.AvgPool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                     count_include_pad=False, divisor_override=None), X4),
    "AdaptiveAvgPool2d": (nn.AdaptiveAvgPool2d, dict(output_size=(2, None)), X4),
    "AdaptiveMaxPool2d": (nn.AdaptiveMaxPool2d, dict(output_size=2, return_indices=False), X4),
    "BatchNorm2d": (nn.BatchNorm2d, dict(num_features=4, eps=1e-5, momentum=0.1), X4),
    "BatchNorm1d": (nn.BatchNorm1d, dict(num_features=8, eps=1e-5, momentum=0.1), X4[:, 0, 0]),
    "Concat": (nn.Concat, dict(axis=1), (X4, X4)),
    "Dropout": (nn.Dropout, dict(p=0.5, rng=0), X4),
    "Flatten": (nn.Flatten, dict(start_dim=1), X4),
    "Identity": (nn.Identity, {}, X4),
    "ReLU": (nn.ReLU, {}, X4), "Sigmoid": (nn.Sigmoid, {}, X4), "Tanh": (nn.Tanh, {}, X4),
    "LeakyReLU": (nn.LeakyReLU, dict(negative_slope=0.01), X4),
    "Softmax": (nn.Softmax, dict(dim=1), X4),
    "LogSoftmax": (nn.LogSoftmax, dict(dim=-1), X4),
    "Upsample": (nn.Upsample, dict(size=None, scale_factor=2, mode="bilinear",
                                   align_corners=True, recompute_scale_factor=None), X4),
    "CrossEntropyLoss": (nn.CrossEntropyLoss, dict(weight=np.ones(3, np.float32),
                                                   ignore_index=-100, reduction="mean",
                                                   label_smoothing=0.1), (LOGITS, TARGETS)),
    "DiceLoss": (nn.DiceLoss, dict(smooth=1.0, ignore_index=-100), (LOGITS, TARGETS)),
    "DiceCELoss": (nn.DiceCELoss, dict(ce_weight=1.0, dice_weight=1.0, weight=None,
                                       ignore_index=-100, smooth=1.0, label_smoothing=0.0),
                   (LOGITS, TARGETS)),
    "UNet": (UNet, dict(in_channels=4, num_classes=2, base_channels=2, depth=1, batchnorm=True,
                        up="transpose", rng=0), X4),
    "FCN": (FCN, dict(in_channels=4, num_classes=2, base_channels=2, batchnorm=False, rng=0),
            X4),
    "SeedCNN": (SeedCNN, dict(in_channels=4, num_classes=3, input_size=8, rng=0), X4),
    "LeNet5": (LeNet5, dict(in_channels=4, num_classes=3, rng=0),
               np.zeros((2, 4, 28, 28), np.float32)),
}
CONTAINERS = {"Module", "Sequential", "ModuleList"}  # built from other modules, not numbers

WRONG = st.sampled_from([
    None, "a", "", -1, 0, 1, 2, 2.5, -0.5, float("nan"), float("inf"), True, False, [], [1],
    (1, 2, 3), (0, 1), {}, object(), 10 ** 12, np.float32(1.5), np.int64(-3), 1j,
    np.array([1, 2]), np.zeros((2, 2)), np.ones(3, np.float16), np.array(["x"] * 3)])


def test_every_nn_module_is_fed_wrong_arguments():
    modules = {n for n in dir(nn) if isinstance(getattr(nn, n), type)
               and issubclass(getattr(nn, n), nn.Module)}
    assert modules - CONTAINERS <= set(CONSTRUCTORS), modules - CONTAINERS - set(CONSTRUCTORS)


def _use(module, inputs):
    out = module(*inputs) if isinstance(inputs, tuple) else module(inputs)
    if isinstance(out, tuple):  # return_indices
        out = out[0]
    if np.ndim(out) == 0:  # a loss
        module.backward()
    else:
        module.backward(np.ones_like(out))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(CONSTRUCTORS)), data_=st.data())
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_constructors_refuse_wrong_arguments_clearly(name, data_):
    ctor, valid, inputs = CONSTRUCTORS[name]
    kwargs = dict(valid)
    if valid:
        for key in data_.draw(st.lists(st.sampled_from(sorted(valid)), min_size=1, max_size=2,
                                       unique=True), label="replaced"):
            kwargs[key] = data_.draw(WRONG, label=key)
    try:
        _use(ctor(**kwargs), inputs)
    except MemoryError:
        pass  # an output_size of 10**12 asks for terabytes: NumPy says so at once
    except (ValueError, TypeError) as e:
        assert raised_by_numcnn(e) and str(e), f"{type(e).__name__} from outside numcnn: {e}"
