"""nn modules: numerical gradients of every layer, state_dict, modes, errors, summary,
profile."""

import copy

import numpy as np
import pytest

import numcnn
from numcnn import nn
from numcnn.gradcheck import check_module

rng0 = np.random.default_rng(0)
X4 = rng0.standard_normal((2, 4, 7, 6))

LAYERS = {
    "conv": (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, rng=1), X4),
    "conv_groups_dilation": (lambda: nn.Conv2d(4, 4, (2, 3), dilation=2, groups=2, rng=2), X4),
    "conv_nobias": (lambda: nn.Conv2d(4, 3, 1, bias=False, rng=3), X4),
    "conv_transpose": (lambda: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1,
                                                  output_padding=1, rng=4), X4),
    "linear": (lambda: nn.Linear(5, 3, rng=5), rng0.standard_normal((4, 5))),
    "maxpool": (lambda: nn.MaxPool2d(3, 2, 1),
                rng0.permutation(2 * 4 * 7 * 6).reshape(2, 4, 7, 6) / 336.0),
    "avgpool": (lambda: nn.AvgPool2d(2), X4),
    "relu": (lambda: nn.ReLU(), X4),
    "leaky_relu": (lambda: nn.LeakyReLU(0.1), X4),
    "sigmoid": (lambda: nn.Sigmoid(), X4),
    "tanh": (lambda: nn.Tanh(), X4),
    "flatten": (lambda: nn.Flatten(), X4),
    "dropout": (lambda: nn.Dropout(0.4, rng=6), X4),
    "batchnorm2d": (lambda: nn.BatchNorm2d(4), X4),
    "batchnorm1d": (lambda: nn.BatchNorm1d(5), rng0.standard_normal((6, 5))),
    "sequential": (lambda: nn.Sequential(nn.Conv2d(4, 3, 3, padding=1, rng=7),
                                         nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                                         nn.Flatten(), nn.Linear(27, 4, rng=8)), X4),
}


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_check_module_every_layer(name, mode):
    make, x = LAYERS[name]
    layer = make()
    if mode == "eval":
        layer.eval()
        if hasattr(layer, "running_var") or name == "sequential":  # non-trivial running stats
            for m in layer.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean = rng0.standard_normal(m.num_features).astype(np.float32)
                    m.running_var = (rng0.random(m.num_features) + 0.5).astype(np.float32)
    result = check_module(layer, x)
    assert result.ok, f"{name} ({mode})\n{result}"
    assert set(result.errors) == {"input", *dict(layer.named_parameters())}


def test_check_module_catches_a_wrong_parameter_gradient():
    class Broken(nn.Linear):
        def backward(self, dout):
            dx = super().backward(dout)
            self.bias.grad *= 2
            return dx

    result = check_module(Broken(3, 2, rng=0), rng0.standard_normal((4, 3)))
    assert not result.ok and result.errors["bias"] > 0.1 and result.errors["weight"] < 1e-6


def test_check_module_leaves_the_module_alone():
    layer = nn.Conv2d(4, 2, 3, rng=0)
    before = layer.weight.data.copy()
    check_module(layer, X4)
    assert layer.weight.data.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, before)
    assert np.all(layer.weight.grad == 0)


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"Conv2d.backward\(\) called before forward\(\)"):
        nn.Conv2d(1, 1, 3).backward(np.zeros((1, 1, 3, 3), np.float32))
    layer = nn.ReLU()
    with numcnn.no_grad():
        layer(np.ones((2, 2), np.float32))
    with pytest.raises(RuntimeError, match="no_grad"):
        layer.backward(np.ones((2, 2), np.float32))


def test_gradients_accumulate_until_zero_grad():
    layer = nn.Linear(3, 2, rng=0)
    x = np.ones((4, 3), np.float32)
    for _ in range(2):
        layer.backward(np.ones((4, 2), np.float32)) if layer(x) is not None else None
    np.testing.assert_allclose(layer.bias.grad, [8.0, 8.0])
    layer.zero_grad()
    assert np.all(layer.bias.grad == 0) and np.all(layer.weight.grad == 0)


def test_conv_nhwc_input_message():
    with pytest.raises(ValueError, match=r"expected 3 input channels at axis 1 \(NCHW.*looks "
                                         r"NHWC"):
        nn.Conv2d(3, 8, 3)(np.zeros((2, 28, 28, 3), np.float32))


def test_dtype_mismatch_message():
    with pytest.raises(TypeError, match="Conv2d: input has dtype float64 but the layer's "
                                        "parameters are float32"):
        nn.Conv2d(1, 2, 3)(np.zeros((1, 1, 5, 5)))
    with pytest.raises(TypeError, match="Linear: expected a floating-point input; got dtype "
                                        "int64"):
        nn.Linear(2, 2)(np.zeros((1, 2), np.int64))


def test_init_bounds_and_seeding():
    a = nn.Conv2d(8, 16, 3, rng=42)
    b = nn.Conv2d(8, 16, 3, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    bound = 1 / np.sqrt(8 * 9)
    assert np.abs(a.weight.data).max() <= bound and np.abs(a.weight.data).max() > 0.9 * bound
    assert a.weight.data.dtype == np.float32
    numcnn.manual_seed(3)
    c = nn.Linear(10, 4)
    numcnn.manual_seed(3)
    d = nn.Linear(10, 4)
    np.testing.assert_array_equal(c.weight.data, d.weight.data)


def test_dropout_semantics():
    drop = nn.Dropout(0.25, rng=0)
    x = np.ones((200, 100), np.float32)
    y = drop(x)
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01                 # p is the *drop* probability
    np.testing.assert_allclose(y[kept], 1 / 0.75)          # inverted scaling
    np.testing.assert_array_equal(drop.backward(np.ones_like(y)), y)
    drop.eval()
    np.testing.assert_array_equal(drop(x), x)
    a, b = nn.Dropout(0.5, rng=7)(x), nn.Dropout(0.5, rng=7)(x)
    np.testing.assert_array_equal(a, b)


def test_batchnorm_running_statistics_follow_pytorch_rules():
    bn = nn.BatchNorm2d(2, momentum=0.3)
    x = np.random.default_rng(0).standard_normal((4, 2, 3, 3)).astype(np.float32) * 2 + 1
    bn(x)
    vals = x.transpose(1, 0, 2, 3).reshape(2, -1).astype(np.float64)
    np.testing.assert_allclose(bn.running_mean, 0.3 * vals.mean(1), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.7 + 0.3 * vals.var(1, ddof=1), rtol=1e-5)
    assert int(bn.num_batches_tracked) == 1
    bn.eval()
    y = bn(x)
    expected = (vals - bn.running_mean[:, None]) / np.sqrt(bn.running_var[:, None] + 1e-5)
    np.testing.assert_allclose(y.transpose(1, 0, 2, 3).reshape(2, -1), expected, rtol=1e-4)
    assert int(bn.num_batches_tracked) == 1


def _net():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=0), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3, rng=1))


def test_state_dict_keys_and_round_trip():
    net = _net()
    state = net.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                           "1.running_var", "1.num_batches_tracked", "5.weight", "5.bias"]
    assert state["1.num_batches_tracked"].dtype == np.int64
    state["0.weight"] += 1  # a copy: the module is unchanged
    assert not np.array_equal(state["0.weight"], net[0].weight.data)
    other = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=9), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3, rng=9))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other[0].weight.data, state["0.weight"])
    assert other[0].weight.data.dtype == np.float32


def test_load_state_dict_errors_name_the_keys_and_change_nothing():
    net = _net()
    before = net.state_dict()
    bad = dict(before)
    del bad["5.bias"]
    bad["extra.weight"] = np.zeros(1)
    bad["0.weight"] = np.zeros((4, 1, 5, 5))
    with pytest.raises(ValueError, match=r"missing keys: \['5.bias'\].*unexpected keys: "
                                         r"\['extra.weight'\].*0.weight: expected shape "
                                         r"\(4, 1, 3, 3\), got \(4, 1, 5, 5\)"):
        net.load_state_dict(bad)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    missing, unexpected = net.load_state_dict({"0.bias": np.ones(4)}, strict=False)
    assert "0.weight" in missing and unexpected == []
    np.testing.assert_array_equal(net[0].bias.data, np.ones(4))


def test_train_eval_propagate():
    net = _net()
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_summary_counts():
    net = _net()
    text = numcnn.summary(net, (1, 8, 8))
    assert "Conv2d" in text and "(1, 4, 8, 8)" in text and "(1, 3)" in text
    n_params = 4 * 9 + 4 + 4 + 4 + 64 * 3 + 3
    assert f"total parameters: {n_params:,}" in text
    conv_flops = 2 * 4 * 8 * 8 * 1 * 9
    assert f"{conv_flops:,}" in text
    assert int(net[1].num_batches_tracked) == 0 and net.training  # summary changed nothing
    assert not any(m._forward_hooks for m in net.modules())


def test_profile_times_every_layer_and_leaves_the_model_alone():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=0), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Dropout(0.5, rng=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 3, rng=2))
    net.eval()
    for p in net.parameters():
        p.grad[...] = 7.0
    before = net.state_dict()
    gen_state = copy.deepcopy(net[3].rng.bit_generator.state)
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32)
    text = numcnn.profile(net, x, np.array([0, 1, 2, 0]), nn.CrossEntropyLoss(), steps=2)
    rows = [line.split() for line in text.splitlines()[2:8]]
    assert [r[:2] for r in rows] == [["0", "Conv2d"], ["1", "BatchNorm2d"], ["2", "ReLU"],
                                     ["3", "Dropout"], ["4", "Flatten"], ["5", "Linear"]]
    assert all(float(v) >= 0 for r in rows for v in r[2:4])
    assert [r[-1] != "-" for r in rows] == [True, False, False, False, False, True]  # GEMMs
    assert "batch 4" in text and "median of 2" in text
    after = net.state_dict()  # weights, running statistics, num_batches_tracked
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert all(np.all(p.grad == 7.0) for p in net.parameters())
    assert not any(m.training for m in net.modules())
    assert net[3].rng.bit_generator.state == gen_state
    assert not {"forward", "backward"} & set(vars(net[0]))  # the copy was hooked, not net
    assert not any(m._forward_hooks or m._backward_hooks for m in net.modules())


def test_profile_without_a_loss_and_bad_arguments():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.ReLU())
    x = np.zeros((2, 1, 5, 5), np.float32)
    assert "Conv2d" in numcnn.profile(net, x, steps=1)
    with pytest.raises(ValueError, match="both target and loss_fn, or neither"):
        numcnn.profile(net, x, target=np.zeros(2, int))
    with pytest.raises(ValueError, match="steps must be a positive int; got 0"):
        numcnn.profile(net, x, steps=0)


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="Sequential: argument 1 must be a Module; got function"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_cross_entropy_loss_object():
    fn = nn.CrossEntropyLoss()
    logits = np.array([[2.0, 0.0], [0.0, 1.0]], np.float32)
    loss = fn(logits, np.array([0, 1]))
    assert isinstance(loss, float)
    expected = -np.mean([2 - np.log(np.exp(2) + 1), 1 - np.log(1 + np.exp(1))])
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    d = fn.backward()
    assert d.dtype == np.float32 and d.shape == (2, 2)
    with pytest.raises(RuntimeError, match="before the loss was computed"):
        nn.CrossEntropyLoss().backward()
