"""PyTorch -> ONNX -> numcnn: the same outputs, and after one SGD step the same parameters
(the loaded graph's backward is numcnn's reverse walk, PyTorch's is autograd)."""

import io
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from numcnn import nn, optim  # noqa: E402
from numcnn import onnx as nx  # noqa: E402
from numcnn.nn.module import no_grad  # noqa: E402

tnn = torch.nn


def _block(c_in, c_out):
    return tnn.Sequential(tnn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                          tnn.BatchNorm2d(c_out), tnn.ReLU())


class TorchUNet(tnn.Module):
    """Two levels down, one up by a transposed conv and one by bilinear upsampling."""

    def __init__(self):
        super().__init__()
        self.enc0, self.enc1, self.enc2 = _block(1, 4), _block(4, 8), _block(8, 8)
        self.pool = tnn.MaxPool2d(2)
        self.up1 = tnn.Sequential(tnn.Upsample(scale_factor=2, mode="bilinear"),
                                  tnn.Conv2d(8, 8, 1))
        self.dec1 = _block(16, 8)
        self.up0 = tnn.ConvTranspose2d(8, 4, 2, stride=2)
        self.dec0 = _block(8, 4)
        self.head = tnn.Conv2d(4, 3, 1)

    def forward(self, x):
        h0 = self.enc0(x)                       # used by the pool and by a skip: fan-out
        h1 = self.enc1(self.pool(h0))
        h2 = self.enc2(self.pool(h1))
        d1 = self.dec1(torch.cat([self.up1(h2), h1], 1))
        d0 = self.dec0(torch.cat([self.up0(d1), h0], 1))
        return self.head(d0)


def _classifier():
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 3, padding=1), tnn.BatchNorm2d(6), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 8, 3, stride=2, padding=1), tnn.LeakyReLU(0.1), tnn.AvgPool2d(2),
        tnn.Flatten(), tnn.Linear(8 * 2 * 2, 16), tnn.Tanh(), tnn.Dropout(0.5),
        tnn.Linear(16, 5))


class TorchOptions(tnn.Module):
    """The PyTorch options numcnn now has: padding='same' (dilated), ceil_mode, pooling's
    padding with count_include_pad=False, resizing to a size and by a non-integer scale,
    global average pooling, log-softmax."""

    def __init__(self):
        super().__init__()
        self.conv0 = tnn.Conv2d(1, 4, 3, padding="same")
        self.pool0 = tnn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.conv1 = tnn.Conv2d(4, 6, 3, padding="same", dilation=2)
        self.pool1 = tnn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
        self.head = tnn.Linear(6, 5)

    def forward(self, x):
        h = self.pool0(torch.relu(self.conv0(x)))
        h = tnn.functional.interpolate(h, size=(11, 7), mode="bilinear")
        h = self.pool1(torch.relu(self.conv1(h)))
        h = tnn.functional.interpolate(h, scale_factor=1.5, mode="nearest")
        h = tnn.functional.adaptive_avg_pool2d(h, 1).flatten(1)
        return torch.log_softmax(self.head(h), dim=1)


def _to_numcnn(model, shape):
    """torch.onnx.export (the TorchScript exporter, which needs no onnxscript) -> load.
    do_constant_folding=False keeps BatchNorm a node of its own (in eval mode PyTorch would
    fold it into the convolution before it), so that it trains in numcnn."""
    rng = np.random.default_rng(0)
    for m in model.modules():
        if isinstance(m, tnn.BatchNorm2d):
            m.running_mean.copy_(torch.from_numpy(rng.standard_normal(m.num_features)))
            m.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, m.num_features)))
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model.eval(), (torch.zeros(shape),), f, dynamo=False,
                          input_names=["x"], output_names=["y"], opset_version=17,
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
                          do_constant_folding=False)
    return nx.load(f.getvalue())


def _rel(a, b) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


MODELS = {"unet": (TorchUNet, (2, 1, 16, 16), (5, 1, 16, 16), (5, 16, 16), 3),
          "classifier": (_classifier, (2, 1, 16, 16), (6, 1, 16, 16), (6,), 5),
          "options": (TorchOptions, (2, 1, 16, 16), (3, 1, 16, 16), (3,), 5)}


@pytest.mark.parametrize("name", MODELS)
def test_pytorch_model_loads_and_trains_like_pytorch(name):
    build, export_shape, x_shape, y_shape, classes = MODELS[name]
    torch.manual_seed(0)
    model = build()
    g = _to_numcnn(model, export_shape)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape).astype(np.float32)  # a batch size not exported
    y = rng.integers(0, classes, y_shape)
    with torch.no_grad(), no_grad():
        want = model.eval()(torch.from_numpy(x)).numpy()
        assert _rel(g.eval()(x), want) <= 1e-5

    params = {k: v for k, v in model.named_parameters()}
    assert set(k for k, _ in g.named_parameters()) == set(params)
    # one SGD step on the same batch, in training mode (batch statistics) on both sides;
    # PyTorch's eval-mode export leaves Dropout out of the graph, so it stays off here
    model.train()
    for m in model.modules():
        if isinstance(m, tnn.Dropout):
            m.eval()
    loss = tnn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    g.train()
    loss_fn = nn.CrossEntropyLoss()
    ours = loss_fn(g(x), y)
    g.backward(loss_fn.backward())
    optim.SGD(g.parameters(), lr=0.1).step()
    assert abs(ours - loss.item()) <= 1e-5 * abs(loss.item())
    for k, p in g.named_parameters():
        assert _rel(p.data, params[k].detach().numpy()) <= 1e-4, k
    state = model.state_dict()
    for k, b in g.named_buffers():  # the running statistics moved the same way
        assert _rel(b, state[k].numpy()) <= 1e-4, k


def test_loaded_pytorch_model_exports_again(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = TorchUNet()
    g = _to_numcnn(model, (1, 1, 16, 16))
    nx.export(g, tmp_path / "again.onnx", (1, 1, 16, 16))
    x = np.random.default_rng(2).standard_normal((3, 1, 16, 16)).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "again.onnx")).run(None, {"input": x})[0]
    with torch.no_grad():
        assert _rel(got, model.eval()(torch.from_numpy(x)).numpy()) <= 1e-5
