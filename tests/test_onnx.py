"""numcnn.onnx: export -> onnxruntime, load -> a Module whose backward is the reverse walk,
the op mappings' gradients, and the errors that name what cannot be exported or loaded."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")

from onnx.reference import ReferenceEvaluator  # noqa: E402

from numcnn import nn, optim  # noqa: E402
from numcnn import onnx as nx  # noqa: E402
from numcnn.gradcheck import check_module  # noqa: E402
from numcnn.models import FCN, LeNet5, SeedCNN, UNet  # noqa: E402
from numcnn.nn.module import no_grad  # noqa: E402

helper, TP = onnx.helper, onnx.TensorProto


def _perturb_statistics(model, rng):
    """Running statistics away from (0, 1), so that eval-mode batch norm is really tested."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean[:] = rng.standard_normal(m.num_features)
            m.running_var[:] = rng.uniform(0.5, 2.0, m.num_features)
    return model


def _mixed_layers():
    """Every built-in layer once, in one chain."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1, dilation=2, rng=0), nn.BatchNorm2d(4),
        nn.LeakyReLU(0.2), nn.AvgPool2d(3, 2, 1), nn.Dropout(0.3, rng=0),
        nn.Upsample(scale_factor=2),
        nn.Tanh(), nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, rng=1),
        nn.Sigmoid(), nn.Conv2d(2, 4, 3, groups=2, rng=2), nn.MaxPool2d(3, 2, 1),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), nn.ReLU(), nn.Flatten(),
        nn.Linear(4 * 14 * 14, 5, rng=3), nn.BatchNorm1d(5), nn.Identity())


def _new_layers():
    """The PyTorch options added since: conv padding 'same' and four-sided, pooling dilation,
    ceil_mode, count_include_pad=False and four-sided padding, adaptive pooling, resizing by
    a size and by a non-integer scale, nearest-exact, softmax on an axis."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding="same", dilation=2, rng=0),
        nn.MaxPool2d(3, 2, (1, 0, 1, 1), dilation=2, ceil_mode=True),
        nn.Conv2d(4, 4, (3, 2), padding=(0, 1, 2, 0), rng=1), nn.ReLU(),
        nn.AvgPool2d(2, 2, 1, ceil_mode=True, count_include_pad=False),
        nn.Upsample(size=(7, 9), mode="bilinear"), nn.Upsample(scale_factor=1.5),
        nn.ConvTranspose2d(4, 3, 3, stride=2, padding=(1, 0, 0, 1), rng=2),
        nn.Upsample(scale_factor=(0.5, 0.75), mode="nearest-exact"),
        nn.AdaptiveMaxPool2d((5, None)), nn.Softmax(dim=1), nn.AdaptiveAvgPool2d(1),
        nn.LogSoftmax(dim=1))


BUILT_IN = {
    "seedcnn": (lambda: SeedCNN(1, 10, 8, rng=0), (2, 1, 8, 8)),
    "lenet5": (lambda: LeNet5(rng=0), (1, 1, 28, 28)),
    "unet_transpose": (lambda: UNet(1, 3, 4, 2, rng=0), (1, 1, 16, 16)),
    "unet_bilinear": (lambda: UNet(2, 3, 4, 2, up="bilinear", rng=0), (1, 2, 16, 16)),
    "fcn": (lambda: FCN(1, 2, 4, rng=0), (1, 1, 16, 16)),
    "layers": (_mixed_layers, (2, 3, 16, 16)),
    "new_layers": (_new_layers, (2, 3, 16, 16)),
}


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_model_runs_in_onnxruntime(name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    build, shape = BUILT_IN[name]
    rng = np.random.default_rng(0)
    model = _perturb_statistics(build(), rng)
    model.train()  # export must use eval semantics whatever the mode, and restore it
    nx.export(model, tmp_path / "m.onnx", shape)
    assert all(m.training for m in model.modules())
    proto = onnx.load(tmp_path / "m.onnx")
    onnx.checker.check_model(proto, full_check=True)
    x = rng.standard_normal((shape[0] + 2, *shape[1:])).astype(np.float32)  # another batch
    with no_grad():
        want = model.eval()(x)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want))
    with no_grad():  # and numcnn reads its own file back
        back = nx.load(tmp_path / "m.onnx")(x)
    np.testing.assert_allclose(back, want, rtol=0, atol=1e-6 * np.max(np.abs(want)))


def test_export_names_nodes_and_initializers_after_modules(tmp_path):
    model = UNet(1, 2, 4, 1, rng=0)
    proto = nx.export(model, tmp_path / "u.onnx", (1, 1, 8, 8))
    nodes = {n.name: n.op_type for n in proto.graph.node}
    assert nodes["encoders.0.0"] == "Conv" and nodes["encoders.0.1"] == "BatchNormalization"
    assert nodes["pools.0"] == "MaxPool" and nodes["concats.0"] == "Concat"
    assert nodes["ups.0"] == "ConvTranspose" and nodes["head"] == "Conv"
    inits = {i.name for i in proto.graph.initializer}
    assert inits == set(model.state_dict()) - {
        k for k in model.state_dict() if k.endswith("num_batches_tracked")}
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [1, 8, 8]
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_export_writes_atomically_and_validates_its_arguments(tmp_path):
    model = SeedCNN(1, 3, 8, rng=0)
    with pytest.raises(ValueError, match="input_shape must be the full input shape"):
        nx.export(model, tmp_path / "m.onnx", (1, 0, 8))
    with pytest.raises(ValueError, match="opset must be in"):
        nx.export(model, tmp_path / "m.onnx", (1, 1, 8, 8), opset=9)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        nx.export(model, tmp_path / "no" / "m.onnx", (1, 1, 8, 8))
    assert list(tmp_path.iterdir()) == []


class Scale(nn.Module):
    """A user's layer: y = 2 x (no built-in description)."""

    def forward(self, x):
        return 2 * x

    def backward(self, dout):
        return 2 * dout


class DescribedScale(Scale):
    def to_onnx(self, graph, x):
        return graph.node("Add", [x, x])  # 2x, as the graph sees it


class LyingScale(Scale):
    def to_onnx(self, graph, x):
        return graph.node("Identity", [x])


def test_a_module_without_description_says_which_and_why(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.Sequential(nn.ReLU(), Scale()))
    with pytest.raises(nx.ExportError, match=r"module '1\.1' \(Scale\) has no ONNX "
                                             r"description.*to_onnx"):
        nx.export(model, tmp_path / "m.onnx", (1, 1, 6, 6))


def test_options_without_an_onnx_equivalent_say_so():
    for layer, shape, msg in [
        (nn.AvgPool2d(2, divisor_override=3), (1, 1, 4, 4), "no divisor_override"),
        (nn.AdaptiveAvgPool2d(3), (1, 1, 4, 4), r"output size \(3, 3\) does not divide"),
        (nn.Upsample(scale_factor=0.7), (1, 1, 10, 10), r"turns 10x10 into \[6, 6\], not "
                                                        r"\[7, 7\]: give a size"),
    ]:
        with pytest.raises(nx.ExportError, match=msg):
            nx.to_model(nn.Sequential(layer), shape)
    nx.to_model(nn.Sequential(nn.Upsample(scale_factor=0.7, recompute_scale_factor=True)),
                (1, 1, 10, 10))   # a size: exact


def test_a_users_module_exports_through_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), DescribedScale())
    nx.export(model, tmp_path / "m.onnx", (1, 1, 6, 6))
    x = np.random.default_rng(0).standard_normal((3, 1, 6, 6)).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model(x), rtol=1e-6)
    with pytest.raises(nx.ExportError, match="does not reproduce the model"):
        nx.export(nn.Sequential(LyingScale()), tmp_path / "bad.onnx", (1, 1, 6, 6))


@pytest.mark.parametrize("name", ["unet_bilinear", "new_layers"])
def test_export_of_load_reproduces_the_model(name, tmp_path):
    rng = np.random.default_rng(1)
    build, shape = BUILT_IN[name]
    model = _perturb_statistics(build(), rng)
    nx.export(model, tmp_path / "a.onnx", shape)
    loaded = nx.load(tmp_path / "a.onnx")
    nx.export(loaded, tmp_path / "b.onnx", shape)
    again = nx.load(tmp_path / "b.onnx")
    x = rng.standard_normal((shape[0] + 1, *shape[1:])).astype(np.float32)
    with no_grad():
        np.testing.assert_allclose(again(x), model.eval()(x), rtol=0,
                                   atol=1e-6 * np.abs(model(x)).max())
    assert list(again.state_dict()) == list(loaded.state_dict())


def test_loaded_parameters_are_trainable_and_keyed_by_state_dict_names(tmp_path):
    model = SeedCNN(1, 3, 8, rng=0)
    nx.export(model, tmp_path / "m.onnx", (1, 1, 8, 8))
    g = nx.load(tmp_path / "m.onnx")
    assert not g.training  # comes in eval mode
    assert [k for k, _ in g.named_parameters()] == [k for k, _ in model.named_parameters()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in g.parameters())
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    loss_fn = nn.CrossEntropyLoss()
    for m in (model, g):  # one SGD step on each: the same parameters after it
        opt = optim.SGD(m.parameters(), lr=0.1)
        m.train()
        loss_fn(m(x), y)
        m.backward(loss_fn.backward())
        opt.step()
    for (k, a), (_, b) in zip(model.state_dict().items(), g.state_dict().items()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=k)


def _model(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs,
                              [onnx.numpy_helper.from_array(v, k) for k, v in inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, shape, t=TP.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def test_a_tensor_read_twice_gets_the_sum_of_both_gradients():
    # y = relu(x W1) + (x W2): x fans out to two MatMuls, h = x W1 feeds Relu and a Concat
    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
             helper.make_node("MatMul", ["x", "w2"], ["k"], name="mm2"),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "k"], ["s"], name="add"),
             helper.make_node("Concat", ["s", "h"], ["y"], axis=1, name="cat")]
    g = nx.load(_model(nodes, [_vi("x", ["N", 4])], [_vi("y", ["N", 6])],
                       [("w1", w1), ("w2", w2)]))
    x = rng.standard_normal((5, 4))
    g.to(np.float64)
    out = g(x)
    h = x @ w1
    np.testing.assert_allclose(out, np.concatenate([np.maximum(h, 0) + x @ w2, h], 1))
    dout = rng.standard_normal(out.shape)
    dx = g.backward(dout)
    ds, dh_cat = dout[:, :3], dout[:, 3:]
    dh = ds * (h > 0) + dh_cat                         # h: read by Relu and by Concat
    np.testing.assert_allclose(dx, dh @ w1.T + ds @ w2.T)   # x: read by both MatMuls
    np.testing.assert_allclose(dict(g.named_parameters())["w1"].grad, x.T @ dh)
    assert check_module(g, x)


def test_the_same_initializer_used_twice_is_one_parameter():
    w = np.random.default_rng(0).standard_normal((3, 3))
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("MatMul", ["h", "w"], ["y"])]
    g = nx.load(_model(nodes, [_vi("x", [2, 3])], [_vi("y", [2, 3])], [("w", w)])).to(
        np.float64)
    assert [k for k, _ in g.named_parameters()] == ["w"]
    assert check_module(g, np.random.default_rng(1).standard_normal((2, 3)))


def _node_model(op_type, x_shape, inits=(), opset=17, dtype=TP.DOUBLE, **attrs):
    names = ["x", *[k for k, _ in inits]]
    node = helper.make_node(op_type, names, ["y"], name="n", **attrs)
    return _model([node], [_vi("x", list(x_shape), dtype)],
                  [_vi("y", None, dtype)], inits, opset)


def _gradcheck(model, x, train=False):
    g = nx.load(model).to(np.float64)
    g.train(train)
    result = check_module(g, x)
    assert result, str(result)


SHAPES = dict(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(3, 6),
              w=st.integers(3, 7))


@settings(max_examples=8)
@given(**SHAPES, s=st.integers(1, 2), p=st.integers(0, 1))
def test_conv_mappings_gradients(n, c, h, w, s, p):
    rng = np.random.default_rng(n * 100 + c * 10 + h)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((2, c, 2, 3))
    _gradcheck(_node_model("Conv", x.shape, [("W", wt), ("B", rng.standard_normal(2))],
                           strides=[s, s], pads=[p, p, p, p]), x)
    x1 = rng.standard_normal((n, c, w))  # 1-D: a 2-D convolution on a height-1 image
    _gradcheck(_node_model("Conv", x1.shape, [("W", wt[:, :, 0])], strides=[s],
                           pads=[p, p]), x1)
    wt = rng.standard_normal((c, 2, 3, 2))
    _gradcheck(_node_model("ConvTranspose", x.shape, [("W", wt)], strides=[s, s],
                           output_shape=[(h - 1) * s + 3 + s - 1, (w - 1) * s + 2]), x)


@settings(max_examples=8)
@given(**SHAPES, k=st.integers(1, 3), s=st.integers(1, 2), d=st.integers(2, 4))
def test_pool_mappings_gradients(n, c, h, w, k, s, d):
    rng = np.random.default_rng(n * 100 + c * 10 + h)
    x = rng.standard_normal((n, c, h, w))
    for op in ("MaxPool", "AveragePool"):
        _gradcheck(_node_model(op, x.shape, kernel_shape=[k, k], strides=[s, 1]), x)
        x1 = x[:, :, 0]
        _gradcheck(_node_model(op, x1.shape, kernel_shape=[k], strides=[s]), x1)
        # 3-D: the (H, W) planes, then the depth axis
        x3 = rng.standard_normal((n, c, d, h, w))
        _gradcheck(_node_model(op, x3.shape, kernel_shape=[2, k, 2], strides=[s, 1, 2]), x3)
    _gradcheck(_node_model("GlobalAveragePool", x.shape), x)


def test_three_d_pooling_matches_a_direct_reference():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 6, 7))
    for op, reduce in (("MaxPool", np.max), ("AveragePool", np.mean)):
        g = nx.load(_node_model(op, x.shape, kernel_shape=[2, 3, 2], strides=[2, 1, 3]))
        out = g(x)
        want = np.empty((2, 3, 2, 4, 2))
        for i, j, k in np.ndindex(2, 4, 2):
            want[:, :, i, j, k] = reduce(x[:, :, 2 * i:2 * i + 2, j:j + 3, 3 * k:3 * k + 2],
                                         axis=(2, 3, 4))
        np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-15)


@settings(max_examples=8)
@given(m=st.integers(1, 3), k=st.integers(1, 4), f=st.integers(1, 3), b=st.integers(1, 2),
       ta=st.booleans(), tb=st.booleans())
def test_dense_mappings_gradients(m, k, f, b, ta, tb):
    rng = np.random.default_rng(m * 100 + k * 10 + f)
    x = rng.standard_normal((k, m) if ta else (m, k))
    w = rng.standard_normal((f, k) if tb else (k, f))
    for c in (rng.standard_normal(f), rng.standard_normal((m, f)), rng.standard_normal(1)):
        for alpha, beta in ((1.0, 1.0), (0.5, 1.5)):
            _gradcheck(_node_model("Gemm", x.shape, [("B", w), ("C", c)], alpha=alpha,
                                   beta=beta, transA=int(ta), transB=int(tb)), x)
    x3 = rng.standard_normal((b, 2, m, k))  # stacks of matrices, broadcast
    _gradcheck(_node_model("MatMul", x3.shape, [("B", rng.standard_normal((2, 1, k, f)))]), x3)
    _gradcheck(_node_model("MatMul", x3.shape, [("B", rng.standard_normal(k))]), x3)
    _gradcheck(_node_model("MatMul", (k,), [("B", rng.standard_normal((b, k, f)))]),
               rng.standard_normal(k))
    _gradcheck(_node_model("Add", x3.shape, [("B", rng.standard_normal((2, 1, k)))]), x3)


@settings(max_examples=6)
@given(**SHAPES)
def test_normalization_and_shape_mappings_gradients(n, c, h, w):
    rng = np.random.default_rng(n * 100 + c * 10 + h)
    stats = [("scale", rng.standard_normal(c)), ("bias", rng.standard_normal(c)),
             ("mean", rng.standard_normal(c)), ("var", rng.uniform(0.5, 2, c))]
    for shape in ((n + 1, c), (n, c, w), (n, c, h, w), (n, c, 2, h, w)):
        x = rng.standard_normal(shape)
        for train in (False, True):
            _gradcheck(_node_model("BatchNormalization", shape, stats), x, train)
    x = rng.standard_normal((n, c, h, w))
    _gradcheck(_node_model("Flatten", x.shape, axis=2), x)
    _gradcheck(_node_model("Reshape", x.shape, [("s", np.array([0, -1, w], np.int64))]), x)
    _gradcheck(_node_model("Transpose", x.shape, perm=[2, 0, 3, 1]), x)
    _gradcheck(_node_model("Unsqueeze", x.shape, [("a", np.array([-1, 1], np.int64))]), x)
    _gradcheck(_node_model("Concat", x.shape, [("b", rng.standard_normal((n, 2, h, w)))],
                           axis=1), x)
    _gradcheck(_node_model("Dropout", x.shape, [("r", np.array(0.4))], seed=3), x, True)
    for mode, scales in (("nearest", [1, 1, 2, 3]), ("linear", [1, 1, 3, 2])):
        _gradcheck(_node_model("Resize", x.shape, [("roi", np.zeros(0)),
                                                   ("s", np.array(scales, np.float32))],
                               mode=mode, coordinate_transformation_mode="asymmetric"
                               if mode == "nearest" else "half_pixel",
                               nearest_mode="floor"), x)


def test_new_attribute_mappings_gradients():
    """The attributes mapped onto numcnn's newer options, each gradient-checked through the
    loaded graph: per-side pads, SAME pads, ceil_mode, dilations, count_include_pad=0,
    Resize by any scale or size in every coordinate mode, softmax on an axis, log_prob."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 5, 6))
    wt = rng.standard_normal((3, 2, 2, 3))
    _gradcheck(_node_model("Conv", x.shape, [("W", wt)], pads=[0, 1, 2, 0]), x)
    _gradcheck(_node_model("Conv", x.shape, [("W", wt)], auto_pad="SAME_LOWER",
                           strides=[2, 1]), x)
    _gradcheck(_node_model("ConvTranspose", x.shape, [("W", wt.transpose(1, 0, 2, 3))],
                           strides=[2, 2], auto_pad="SAME_UPPER"), x)
    x3 = rng.standard_normal((2, 2, 3, 2, 3))  # 3-D: one 2-D transposed conv per depth tap
    model = _node_model("ConvTranspose", x3.shape, [("W", rng.standard_normal((2, 2, 3, 2, 2))),
                                                    ("B", rng.standard_normal(2))],
                        strides=[2, 1, 2], dilations=[2, 1, 1], pads=[1, 0, 1, 2, 1, 0],
                        output_padding=[1, 0, 1])
    want = ReferenceEvaluator(model).run(None, {"x": x3})[0]
    np.testing.assert_allclose(nx.load(model).to(np.float64)(x3), want, rtol=1e-12, atol=1e-12)
    _gradcheck(model, x3)
    for op, extra in (("MaxPool", dict(dilations=[2, 1])),
                      ("AveragePool", dict(count_include_pad=0))):
        _gradcheck(_node_model(op, x.shape, kernel_shape=[3, 2], strides=[2, 2],
                               pads=[1, 0, 2, 1], ceil_mode=1, **extra), x)
        _gradcheck(_node_model(op, x.shape, kernel_shape=[2, 3], auto_pad="SAME_UPPER"), x)
    _gradcheck(_node_model("GlobalMaxPool", x.shape), x)
    ints = lambda *v: np.array(v, np.int64)  # noqa: E731
    _gradcheck(_node_model("Slice", x.shape, [("b", ints(1, -1)), ("e", ints(4, -7)),
                                              ("a", ints(2, 3)), ("s", ints(2, -2))]), x)
    _gradcheck(_node_model("Cast", x.shape, to=TP.DOUBLE), x)
    for ctm in ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                "asymmetric", "tf_crop_and_resize"):
        roi = np.array([0, 0, 0.1, -0.2, 1, 1, 0.9, 1.3]) if ctm == "tf_crop_and_resize" \
            else np.zeros(0)
        for mode in ("nearest", "linear"):
            _gradcheck(_node_model("Resize", x.shape, [("roi", roi), ("s", np.array(
                [1, 1, 1.5, 0.7], np.float32))], opset=19, mode=mode,
                coordinate_transformation_mode=ctm), x)
            _gradcheck(_node_model("Resize", x.shape, [("roi", roi), ("s", np.zeros(0, np.float32)),
                                                       ("z", np.array([4, 9], np.int64))],
                                   opset=19, mode=mode, coordinate_transformation_mode=ctm,
                                   axes=[2, 3],
                                   keep_aspect_ratio_policy="not_larger"), x)
    for op in ("Softmax", "LogSoftmax"):
        _gradcheck(_node_model(op, x.shape, axis=2), x)
        _gradcheck(_node_model(op, x.shape, opset=11, axis=2), x)   # coerced to 2-D
    labels = rng.integers(0, 2, (2, 5, 6))
    node = helper.make_node("SoftmaxCrossEntropyLoss", ["x", "t"], ["loss", "logp"], name="n",
                            reduction="sum")
    g = nx.load(_model([node], [_vi("x", list(x.shape), TP.DOUBLE)],
                       [_vi("loss", [], TP.DOUBLE), _vi("logp", list(x.shape), TP.DOUBLE)],
                       [("t", labels)])).to(np.float64)
    loss, logp = g(x)
    dx = g.backward((np.float64(0.5), np.ones_like(logp)))
    p = np.exp(logp)        # d(0.5 loss + sum(log p))/dx: CE's (p - onehot) / 2 plus log p's
    onehot = labels[:, None] == np.arange(2)[None, :, None, None]
    np.testing.assert_allclose(dx, 0.5 * (p - onehot) + (1 - 2 * p), atol=1e-12)


@settings(max_examples=6)
@given(n=st.integers(1, 3), c=st.integers(2, 4), d=st.integers(1, 3),
       reduction=st.sampled_from(["mean", "sum", "none"]), weighted=st.booleans())
def test_softmax_cross_entropy_loss_mapping_gradients(n, c, d, reduction, weighted):
    rng = np.random.default_rng(n * 100 + c * 10 + d)
    x = rng.standard_normal((n, c, d, 2))
    labels = rng.integers(0, c, (n, d, 2))
    labels[0, 0, 0] = 1  # the ignored class below
    inits = [("t", labels)] + ([("w", rng.uniform(0.5, 2, c))] if weighted else [])
    _gradcheck(_node_model("SoftmaxCrossEntropyLoss", x.shape, inits, reduction=reduction,
                           ignore_index=1), x)


def test_unsupported_op_and_attribute_name_the_node():
    rng = np.random.default_rng(0)
    erf = helper.make_node("Erf", ["x"], ["y"], name="act")
    with pytest.raises(nx.UnsupportedError, match=r"node 'act' \(Erf\): op_type: numcnn has "
                                                  r"no mapping"):
        nx.load(_model([erf], [_vi("x", [1, 2])], [_vi("y", [1, 2])]))
    resize = helper.make_node("Resize", ["x", "", "s"], ["y"], name="up", mode="cubic")
    with pytest.raises(nx.UnsupportedError, match=r"node 'up' \(Resize\): mode: 'cubic'"):
        nx.load(_model([resize], [_vi("x", [1, 1, 2, 2])], [_vi("y", [1, 1, 4, 4])],
                       [("s", np.array([1, 1, 2, 2], np.float32))]))
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv3d")
    g = nx.load(_model([conv], [_vi("x", [1, 1, 3, 3, 3])], [_vi("y", [1, 1, 2, 2, 2])],
                       [("w", np.ones((1, 1, 2, 2, 2), np.float32))]))
    with pytest.raises(nx.UnsupportedError, match=r"node 'conv3d' \(Conv\): input: 3-D"):
        g(rng.standard_normal((1, 1, 3, 3, 3)).astype(np.float32))


def test_loaded_model_checks_its_inputs():
    g = nx.load(_node_model("Relu", ["N", 3, 4]))
    with pytest.raises(ValueError, match=r"input 'x' must have shape \(N, 3, 4\).*got \(2, 3, 5\)"):
        g(np.zeros((2, 3, 5)))
    with pytest.raises(TypeError, match="takes 1 input"):
        g(np.zeros((2, 3, 4)), np.zeros(1))
    with pytest.raises(FileNotFoundError, match="no such file"):
        nx.load("missing.onnx")


def test_float32_stays_float32_and_mixed_dtypes_are_refused(tmp_path):
    model = SeedCNN(1, 3, 8, rng=0)
    nx.export(model, tmp_path / "m.onnx", (1, 1, 8, 8))
    g = nx.load(tmp_path / "m.onnx")
    x = np.zeros((2, 1, 8, 8), np.float32)
    assert g(x).dtype == np.float32
    with pytest.raises(TypeError, match="float64 but the layer's parameters are float32"):
        g(x.astype(np.float64))
    assert g.double()(x.astype(np.float64)).dtype == np.float64


def test_backend_runs_a_model_and_a_node():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    rep = nx.backend.prepare(_node_model("Relu", [2, 3]))
    np.testing.assert_array_equal(rep.run([x])[0], np.maximum(x, 0))
    np.testing.assert_array_equal(rep.run({"x": x})[0], np.maximum(x, 0))
    node = helper.make_node("LeakyRelu", ["a"], ["b"], alpha=0.5)
    (out,) = nx.backend.run_node(node, [x])
    np.testing.assert_allclose(out, np.where(x > 0, x, 0.5 * x))
    assert nx.backend.supports_device("CPU") and not nx.backend.supports_device("CUDA")
    assert issubclass(nx.backend.Backend, onnx.backend.base.Backend)


def test_numcnn_imports_without_the_onnx_package():
    import subprocess
    import sys

    code = ("import sys; sys.modules['onnx'] = None\n"  # as if onnx were not installed
            "import numcnn\n"
            "try:\n    numcnn.onnx\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "pip install numcnn[onnx]" in out.stdout


def test_cli_exports_a_checkpoint_and_predicts_with_the_onnx_file(tmp_path, capsys):
    import json

    from numcnn import io
    from numcnn.cli import main

    spec = {"name": "unet", "in_channels": 1, "num_classes": 2, "base_channels": 4, "depth": 2}
    model = _perturb_statistics(UNet(1, 2, 4, 2, rng=0), np.random.default_rng(0))
    io.save_checkpoint(tmp_path / "model.npz", model, extra={"model_spec": json.dumps(spec)})
    image = np.random.default_rng(1).random((40, 52)).astype(np.float32)
    np.save(tmp_path / "image.npy", image)
    assert main(["export", str(tmp_path / "model.npz"), str(tmp_path / "m.onnx"),
                 "--input-shape", "1,16,16"]) == 0
    assert "input (N, 1, 16, 16) -> output (N, 2, 16, 16)" in capsys.readouterr().out
    masks = []
    for source in ("model.npz", "m.onnx"):
        out = tmp_path / f"{source}.npy"
        assert main(["predict", str(tmp_path / source), str(tmp_path / "image.npy"), "--tile",
                     "16", "--out", str(out)]) == 0
        masks.append(np.load(out))
    np.testing.assert_array_equal(masks[0], masks[1])
    for bad in (["--input-shape", "1,16"], ["--opset", "9"]):
        with pytest.raises(SystemExit) as e:
            main(["export", str(tmp_path / "model.npz"), str(tmp_path / "x.onnx"), *bad])
        assert e.value.code == 2 and bad[0] in capsys.readouterr().err
    assert main(["export", str(tmp_path / "model.npz"), str(tmp_path / "x.onnx"),
                 "--input-shape", "1,18,18"]) == 2
    assert "multiples of 4" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(SystemExit) as e:
        main(["export", "--help"])
    assert e.value.code == 0 and "usage: numcnn export" in capsys.readouterr().out


def test_cli_classifies_with_an_exported_classifier(tmp_path, capsys):
    import json

    from numcnn import io
    from numcnn.cli import main

    spec = {"name": "seedcnn", "in_channels": 1, "num_classes": 4, "input_size": 8}
    io.save_checkpoint(tmp_path / "model.npz", SeedCNN(1, 4, 8, rng=3),
                       extra={"model_spec": json.dumps(spec)})
    np.save(tmp_path / "image.npy", np.random.default_rng(0).random((8, 8)).astype(np.float32))
    assert main(["export", str(tmp_path / "model.npz"), str(tmp_path / "m.onnx")]) == 0
    capsys.readouterr()
    printed = []
    for source in ("model.npz", "m.onnx"):
        assert main(["predict", str(tmp_path / source), str(tmp_path / "image.npy")]) == 0
        printed.append(capsys.readouterr().out)
    assert "class" in printed[0] and printed[0] == printed[1]


@pytest.mark.slow
def test_onnx_interop_example_runs_as_a_notebook(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("sklearn")
    from examples_util import assert_pngs, run_notebook

    out = run_notebook("onnx_interop", ["--quick", "--out", str(tmp_path)], tmp_path,
                       monkeypatch)
    assert_pngs(tmp_path, ["onnx_timings.png"])
    import re

    assert "numcnn accuracy" in out and "ratio" in out
    acc = re.search(r"numcnn accuracy (\S+), onnxruntime (\S+); logits differ by (\S+)", out)
    assert acc[1] == acc[2] and float(acc[3]) <= 1e-5
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "Part 2 skipped" in out
    else:
        assert_pngs(tmp_path, ["pytorch_in_numcnn.png"])
        step = re.search(r"after one SGD step the parameters differ by at most (\S+) ", out)
        assert float(step[1]) <= 1e-4
