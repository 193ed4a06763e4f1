"""numcnn.sanity: the starting loss, overfitting one batch, per-layer statistics (hooks), and
the gradient-norm figure."""

import math

import numpy as np
import pytest

import numcnn
from numcnn import nn, optim, sanity, viz


def classifier(rng=0):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64, 3, rng=rng + 1))


def batch(n=12, classes=3):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, 1, 8, 8)).astype(np.float32),
            rng.integers(0, classes, n))


def test_the_initial_loss_is_about_log_c_and_large_weights_are_flagged():
    x, y = batch()
    model = classifier()
    result = sanity.initial_loss(model, nn.CrossEntropyLoss(), x, y)
    assert result.expected == pytest.approx(math.log(3))
    assert result.ok and "ok" in str(result)
    assert model.training  # left in the mode it was in
    for p in model.parameters():
        p.data *= 30
    loud = sanity.initial_loss(model, nn.CrossEntropyLoss(), x, y)
    assert not loud.ok and loud.loss > 2 * loud.expected and "too high" in str(loud)


def test_a_working_model_overfits_one_batch_and_a_broken_backward_does_not():
    x, y = batch()
    model = classifier()
    result = sanity.overfit_one_batch(model, nn.CrossEntropyLoss(),
                                      optim.Adam(model.parameters(), lr=0.02), x, y, steps=80)
    assert result.ok, str(result)

    def no_weight_gradient(dout, cache):
        dx, dw, db = numcnn.reference.conv2d_backward(dout, cache)
        return dx, np.zeros_like(dw), np.zeros_like(db)
    frozen = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Flatten(), nn.Linear(64, 3, rng=1))
    frozen[-1].weight.requires_grad = False  # only the conv could learn, and it cannot
    frozen[-1].bias.requires_grad = False
    with numcnn.use(conv2d_backward=no_weight_gradient, check=False):
        stuck = sanity.overfit_one_batch(frozen, nn.CrossEntropyLoss(), optim.Adam(
            frozen.parameters(), lr=0.02), x, y, steps=30)
    assert not stuck.ok and "has a bug" in str(stuck)


def test_track_records_each_training_step_and_nothing_under_no_grad():
    x, y = batch()
    model = classifier()
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with sanity.track(model) as stats:
        for _ in range(3):
            opt.zero_grad()
            loss_fn(model(x), y)
            model.backward(loss_fn.backward())
            conv_grad = np.linalg.norm(model[0].weight.grad.astype(np.float64))
            opt.step()
        with numcnn.no_grad():
            model(x)  # validation: not recorded
    assert stats.names == ["0", "1", "2", "3", "4"]
    assert all(len(stats.values[n]["activation_std"]) == 3 for n in stats.names)
    assert all(len(stats.values[n]["grad_out_norm"]) == 3 for n in stats.names)
    assert list(stats.history("grad_norm")) == ["0", "4"]  # the layers with weights
    assert stats.values["0"]["grad_norm"][-1] == pytest.approx(conv_grad, rel=1e-6)
    relu_zeros = stats.values["1"]["zero_fraction"]
    assert all(0.2 < z < 0.8 for z in relu_zeros)  # about half of a ReLU's outputs
    assert not model[0]._forward_hooks and not model[0]._backward_hooks  # removed
    assert "0 " in stats.summary()


def test_deep_sigmoid_gradients_vanish_towards_the_input():
    """sigmoid' <= 1/4: through 6 sigmoid layers with unit-scale weights the first layer's
    weight gradient is orders of magnitude below the last one's."""
    layers = [nn.Flatten()]
    for d in range(6):
        layers += [nn.Linear(16, 16, rng=d), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(16, 3, rng=9))
    x = np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)
    y = np.arange(8) % 3
    loss_fn = nn.CrossEntropyLoss()
    linears = [(str(i), m) for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    with sanity.track(model, linears) as stats:
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())
    norms = [v[0] for v in stats.history("grad_norm").values()]
    assert norms[0] < 1e-3 * norms[-1]
    assert all(a < b for a, b in zip(norms[:-2], norms[1:-1]))  # growing towards the output


def test_plot_gradient_norms(tmp_path):
    stats = {"conv1": [1e-6, 2e-6, 1e-6], "conv2": [1e-3, 1e-3, 2e-3], "head": [0.1, 0.2, 0.1]}
    fig = viz.plot_gradient_norms(stats, tmp_path / "g.png", title="t")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].lines) == 3
    with pytest.raises(ValueError, match="no gradient norms"):
        viz.plot_gradient_norms({})
