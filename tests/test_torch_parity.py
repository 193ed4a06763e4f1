"""numcnn against PyTorch on whole networks: same weights in, same outputs, loss, gradients
and parameters after optimizer steps out (float32, relative error <= 1e-4).  Skipped when
torch is not installed (CI installs it)."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import torch_models  # noqa: E402

from numcnn import nn, optim  # noqa: E402
from numcnn.models import UNet  # noqa: E402


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)


def numcnn_net():
    # no conv bias before BatchNorm: its exact gradient is 0, so both engines would only
    # compare rounding noise (which Adam then magnifies into full-size steps)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False, rng=0), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, stride=2, padding=1, rng=1), nn.LeakyReLU(0.1), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(12 * 2 * 2, 16, rng=2), nn.Tanh(), nn.Linear(16, 5, rng=3))


def torch_net():
    tn = torch.nn
    return tn.Sequential(
        tn.Conv2d(3, 8, 3, padding=1, bias=False), tn.BatchNorm2d(8), tn.ReLU(), tn.MaxPool2d(2),
        tn.Conv2d(8, 12, 3, stride=2, padding=1), tn.LeakyReLU(0.1), tn.AvgPool2d(2),
        tn.Flatten(), tn.Linear(12 * 2 * 2, 16), tn.Tanh(), tn.Linear(16, 5))


OPTIMIZERS = {
    "sgd_nesterov": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                         weight_decay=1e-3),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                               weight_decay=1e-3)),
    "adam": (lambda p: optim.Adam(p, lr=1e-2, weight_decay=1e-4),
             lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-4)),
    "adamw": (lambda p: optim.AdamW(p, lr=1e-2), lambda p: torch.optim.AdamW(p, lr=1e-2)),
}


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_classifier_matches_torch_through_training_steps(opt_name):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 16, 16)).astype(np.float32)
    y = rng.integers(0, 5, 6)
    ours, theirs = numcnn_net(), torch_models.load_numcnn_state(torch_net(), numcnn_net())
    make_ours, make_theirs = OPTIMIZERS[opt_name]
    opt, topt = make_ours(list(ours.parameters())), make_theirs(theirs.parameters())
    weight = np.linspace(0.5, 1.5, 5).astype(np.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1)
    tloss_fn = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(weight), label_smoothing=0.1)
    for step in range(3):
        opt.zero_grad()
        topt.zero_grad()
        out = ours(x)
        tout = theirs(torch.from_numpy(x))
        assert rel(out, tout.detach().numpy()) <= 1e-4, f"output, step {step}"
        loss = loss_fn(out, y)
        tloss = tloss_fn(tout, torch.from_numpy(y))
        assert rel(loss, tloss.item()) <= 1e-4
        ours.backward(loss_fn.backward())
        tloss.backward()
        tparams = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            assert rel(p.grad, tparams[name].grad.numpy()) <= 1e-4, f"grad {name}, step {step}"
        opt.step()
        topt.step()
    tstate = theirs.state_dict()
    for name, value in ours.state_dict().items():
        assert rel(value, tstate[name].numpy()) <= 1e-4, f"after steps: {name}"


def test_torch_weights_load_into_numcnn():
    torch.manual_seed(0)
    theirs = torch_net()
    theirs.train()
    theirs(torch.randn(4, 3, 16, 16))  # give BatchNorm non-trivial running statistics
    theirs.eval()
    ours = numcnn_net()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.eval()
    x = np.random.default_rng(1).standard_normal((3, 3, 16, 16)).astype(np.float32)
    assert rel(ours(x), theirs(torch.from_numpy(x)).detach().numpy()) <= 1e-4
    assert int(ours[1].num_batches_tracked) == 1


def test_unet_matches_torch():
    ours = UNet(1, 3, base_channels=4, depth=2, rng=0)
    theirs = torch_models.load_numcnn_state(torch_models.UNet(1, 3, 4, 2), ours)
    x = np.random.default_rng(2).standard_normal((2, 1, 16, 16)).astype(np.float32)
    y = np.random.default_rng(3).integers(0, 3, (2, 16, 16))
    out = ours(x)
    tout = theirs(torch.from_numpy(x))
    assert rel(out, tout.detach().numpy()) <= 1e-4
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(out, y)
    dx = ours.backward(loss_fn.backward())
    tx = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.cross_entropy(theirs(tx), torch.from_numpy(y)).backward()
    assert rel(dx, tx.grad.numpy()) <= 1e-4
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert rel(p.grad, tparams[name].grad.numpy()) <= 1e-4, name
