"""One module object called several times in one forward, and one Parameter shared by
several layers: the gradients are right (against PyTorch and central differences), a
backward without a forward left is an error, and optimizers update a tied weight once."""

import numpy as np
import pytest

import numcnn
from numcnn import nn, optim
from numcnn.gradcheck import check_module
from numcnn.models import UNet


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)


def reused_net(dtype=np.float32):
    """conv -> relu -> pool -> conv -> relu -> pool -> linear, with ONE ReLU and ONE
    MaxPool2d object used at both levels."""
    relu, pool = nn.ReLU(), nn.MaxPool2d(2)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, dtype=dtype, rng=0), relu, pool,
                         nn.Conv2d(4, 6, 3, padding=1, dtype=dtype, rng=1), relu, pool,
                         nn.Flatten(), nn.Linear(6 * 2 * 2, 3, dtype=dtype, rng=2))


def test_a_reused_relu_and_pool_match_torch():
    torch = pytest.importorskip("torch")
    ours = reused_net()
    tn = torch.nn
    relu, pool = tn.ReLU(), tn.MaxPool2d(2)
    theirs = tn.Sequential(tn.Conv2d(2, 4, 3, padding=1), relu, pool,
                           tn.Conv2d(4, 6, 3, padding=1), relu, pool, tn.Flatten(),
                           tn.Linear(24, 3))
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((5, 2, 8, 8)).astype(np.float32)
    dout = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)
    tout = theirs(tx)
    tout.backward(torch.from_numpy(dout))
    out = ours(x)
    dx = ours.backward(dout)
    assert rel(out, tout.detach().numpy()) <= 1e-5
    assert rel(dx, tx.grad.numpy()) <= 1e-5
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert rel(p.grad, tparams[name].grad.numpy()) <= 1e-5, name


def test_a_reused_module_passes_the_gradient_check():
    x = np.random.default_rng(5).standard_normal((2, 2, 8, 8))
    result = check_module(reused_net(), x)
    assert result.ok, result


def shared_pool_unet(unet):
    """The same U-Net with one MaxPool2d object shared by every level."""
    pool = nn.MaxPool2d(2)
    unet.pools = nn.ModuleList([pool] * unet.depth)
    return unet


def test_one_maxpool_shared_by_every_unet_level():
    x = np.random.default_rng(6).standard_normal((2, 1, 16, 16)).astype(np.float32)
    dout = np.random.default_rng(7).standard_normal((2, 2, 16, 16)).astype(np.float32)
    separate = UNet(1, 2, base_channels=4, depth=3, rng=0)
    shared = shared_pool_unet(UNet(1, 2, base_channels=4, depth=3, rng=0))
    assert len([m for m in shared.modules() if isinstance(m, nn.MaxPool2d)]) == 1
    out_a, out_b = separate(x), shared(x)
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_array_equal(separate.backward(dout), shared.backward(dout))
    grads = {k: p.grad for k, p in shared.named_parameters()}
    for name, p in separate.named_parameters():
        np.testing.assert_array_equal(p.grad, grads[name], err_msg=name)
    small = shared_pool_unet(UNet(1, 2, base_channels=2, depth=2, rng=1))
    result = check_module(small, np.random.default_rng(8).standard_normal((1, 1, 8, 8)),
                          max_entries=12)
    assert result.ok, result


def test_a_second_backward_after_one_forward_raises():
    net = reused_net()
    x = np.ones((1, 2, 8, 8), np.float32)
    dout = np.ones((1, 3), np.float32)
    net(x)
    net.backward(dout)
    grads = [p.grad.copy() for p in net.parameters()]
    with pytest.raises(RuntimeError, match=r"Linear.backward\(\) called more often than "
                                           r"forward\(\)"):
        net.backward(dout)
    for p, g in zip(net.parameters(), grads):  # nothing was added twice
        np.testing.assert_array_equal(p.grad, g)


def test_two_forwards_then_two_backwards_pop_in_reverse_order():
    relu = nn.ReLU()
    a, b = np.array([[1.0, -1.0]]), np.array([[-2.0, 3.0]])
    relu(a)
    relu(b)
    np.testing.assert_array_equal(relu.backward(np.ones((1, 2))), [[0.0, 1.0]])  # b's mask
    np.testing.assert_array_equal(relu.backward(np.ones((1, 2))), [[1.0, 0.0]])  # a's mask


def test_no_grad_keeps_nothing():
    net = reused_net()
    with numcnn.no_grad():
        net(np.ones((1, 2, 8, 8), np.float32))
    assert all(not m._caches for m in net.modules())
    with pytest.raises(RuntimeError, match="no_grad"):
        net.backward(np.ones((1, 3), np.float32))


def tied_net(dtype=np.float64):
    """Linear(4, 4) -> ReLU -> Linear(4, 4) -> Linear(4, 3); the first two share a weight."""
    net = nn.Sequential(nn.Linear(4, 4, dtype=dtype, rng=0), nn.ReLU(),
                        nn.Linear(4, 4, dtype=dtype, rng=1), nn.Linear(4, 3, dtype=dtype, rng=2))
    net[2].weight = net[0].weight
    return net


def test_a_tied_parameter_is_listed_once_and_saved_under_both_names():
    net = tied_net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.bias", "3.weight", "3.bias"]
    assert len(list(net.parameters())) == 5
    assert len(list(net.named_parameters(remove_duplicate=False))) == 6
    state = net.state_dict()
    assert "2.weight" in state  # as PyTorch: every name is a key
    other = tied_net()
    other.load_state_dict(state)
    assert other[2].weight is other[0].weight
    relu = nn.ReLU()
    seq = nn.Sequential(relu, relu)
    assert [n for n, _ in seq.named_modules()] == ["", "0"]


OPTIMIZERS = {
    "sgd": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), "SGD", dict(lr=0.1, momentum=0.9)),
    "adam": (lambda p: optim.Adam(p, lr=0.01), "Adam", dict(lr=0.01)),
    "adamw": (lambda p: optim.AdamW(p, lr=0.01), "AdamW", dict(lr=0.01)),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_weight_tying_trains_as_in_torch(name):
    torch = pytest.importorskip("torch")
    ours = tied_net()
    tn = torch.nn
    theirs = tn.Sequential(tn.Linear(4, 4), tn.ReLU(), tn.Linear(4, 4), tn.Linear(4, 3)).double()
    theirs[2].weight = theirs[0].weight
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    make, torch_name, kw = OPTIMIZERS[name]
    opt = make(ours.parameters())
    topt = getattr(torch.optim, torch_name)(theirs.parameters(), **kw)
    rng = np.random.default_rng(9)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):
        x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
        opt.zero_grad()
        topt.zero_grad()
        loss_fn(ours(x), y)
        ours.backward(loss_fn.backward())
        opt.step()
        tn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        topt.step()
    tstate = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, tstate[key].numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=key)
