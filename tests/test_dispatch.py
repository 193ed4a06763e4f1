"""numcnn.use: a replaced op runs for every module, comes back on exit, and a wrong
replacement fails its first call with a message that says what is wrong."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import numcnn
from numcnn import dispatch, exercises, nn, optim, reference
from numcnn import functional as F

ROOT = Path(numcnn.__file__).resolve().parent


def solution(name):
    return exercises.load(exercises.solution_path(name))


def tiny_model(batchnorm=False):
    layers = [nn.Conv2d(1, 4, 3, padding=1, bias=not batchnorm, rng=0)]
    layers += [nn.BatchNorm2d(4)] if batchnorm else []
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 2, rng=1)]
    return nn.Sequential(*layers)


def data(n=16):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :, :4].mean(axis=(1, 2)) > x[:, 0, :, 4:].mean(axis=(1, 2))).astype(np.int64)
    return x, y


def train(model, steps=10):
    x, y = data()
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        losses.append(loss_fn(model(x), y))
        model.backward(loss_fn.backward())
        opt.step()
    return losses


def one_step(model):
    x, y = data()
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(model(x), y)
    return model.backward(loss_fn.backward())


# ------------------------------------------------------------------ swapping, restoring
def test_a_replaced_backward_runs_for_every_layer_and_comes_back_on_exit():
    own = F.conv2d_backward
    calls = []
    good = solution("conv2d_backward").conv2d_backward

    def mine(dout, cache):
        calls.append(dout.shape)
        return good(dout, cache)

    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, rng=0), nn.ReLU(),
                          nn.Conv2d(3, 2, 3, stride=2, rng=1), nn.Flatten(),
                          nn.Linear(18, 2, rng=2))
    expected = train(tiny_model())
    with numcnn.use(conv2d_backward=mine):
        assert F.conv2d_backward.__wrapped__ is mine
        one_step(model)
        assert len(calls) == 2                      # both convolutions, in one backward
        got = train(tiny_model())
    assert F.conv2d_backward is own
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_the_previous_ops_come_back_after_an_exception():
    before = {name: getattr(F, name) for name in dispatch.NAMES}
    with pytest.raises(RuntimeError, match="boom"), numcnn.use(reference):
        assert F.max_pool2d_forward is not before["max_pool2d_forward"]
        raise RuntimeError("boom")
    assert {name: getattr(F, name) for name in dispatch.NAMES} == before


def test_use_reference_replaces_every_pair_and_still_trains():
    missing = [name for name in dispatch.NAMES if not hasattr(reference, name)]
    assert not missing, f"numcnn.reference lacks {missing}"
    expected = train(tiny_model(), steps=5)
    with numcnn.use(reference):
        for name in dispatch.NAMES:
            assert F.__dict__[name].__wrapped__ is getattr(reference, name), name
        got = train(tiny_model(), steps=5)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_nested_uses_unwind_in_order():
    own = F.relu_backward
    relu = solution("relu")
    with numcnn.use(reference):
        outer, outer_relu = F.conv2d_forward, F.relu_backward
        assert outer_relu is not own
        with numcnn.use(relu_forward=relu.relu_forward, relu_backward=relu.relu_backward):
            assert F.conv2d_forward is outer and F.relu_backward not in (own, outer_relu)
            one_step(tiny_model())
        assert F.relu_backward is outer_relu and F.conv2d_forward is outer
    assert F.conv2d_forward is dispatch._OWN["conv2d_forward"] and F.relu_backward is own


def test_a_replaced_forward_is_paired_with_the_reference_backward():
    naive = solution("conv2d_forward").conv2d_forward
    expected = train(tiny_model(), steps=3)
    with numcnn.use(conv2d_forward=naive):
        assert F.conv2d_backward.__wrapped__ is reference.conv2d_backward
        got = train(tiny_model(), steps=3)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_a_student_pair_keeps_its_own_cache():
    pool = solution("max_pool2d")
    expected = train(tiny_model(), steps=3)
    with numcnn.use(pool):  # a module: every pair it defines
        got = train(tiny_model(), steps=3)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_unknown_names_and_non_functions_are_refused():
    with pytest.raises(TypeError, match="did you mean conv2d_backward"):
        with numcnn.use(conv2d_backwards=lambda d, c: d):
            pass
    with pytest.raises(TypeError, match="must be a function"):
        with numcnn.use(relu_backward=3):
            pass
    with pytest.raises(TypeError, match="has none of the functional ops"):
        with numcnn.use(np):
            pass


# ------------------------------------------------------------------- first-call checks
def _conv_backward_with(change):
    good = solution("conv2d_backward").conv2d_backward

    def backward(dout, cache):
        return change(*good(dout, cache))
    return backward


@pytest.mark.parametrize("change, error, message", [
    (lambda dx, dw, db: (dx, dw), TypeError, "returned 2 value"),
    (lambda dx, dw, db: (dx, dw.transpose(1, 0, 2, 3), db), ValueError, "expected shape"),
    (lambda dx, dw, db: (dx.astype(np.float64), dw, db), TypeError, "float32 in, float32 out"),
    (lambda dx, dw, db: (dx, 2 * dw, db), ValueError, "wrong dw: relative error 5.0"),
    (lambda dx, dw, db: (dx, dw, None), TypeError, "returned None for db"),
])
def test_a_wrong_backward_fails_its_first_call(change, error, message):
    model = tiny_model()
    with pytest.raises(error, match=message), numcnn.use(conv2d_backward=_conv_backward_with(
            change)):
        one_step(model)
    assert F.conv2d_backward is dispatch._OWN["conv2d_backward"]


def test_a_backward_that_modifies_dout_is_caught():
    relu = solution("relu")

    def mutating(dout, x):
        dout[x <= 0] = 0
        return dout
    with pytest.raises(ValueError, match="modified dout in place"):
        with numcnn.use(relu_forward=relu.relu_forward, relu_backward=mutating):
            one_step(tiny_model())


def test_check_false_lets_a_wrong_function_through():
    wrong = _conv_backward_with(lambda dx, dw, db: (dx, 2 * dw, db))
    with numcnn.use(conv2d_backward=wrong, check=False):
        one_step(tiny_model())


def test_the_numerical_spot_check_catches_a_pair_that_agrees_with_itself():
    """Forward and backward both replaced: no reference to compare with, so the numerical
    spot check (float64 central differences at a few entries, corners included) is what
    catches a wrong dx at the border; gradcheck=False skips it."""
    naive = solution("conv2d_forward").conv2d_forward
    good = solution("conv2d_backward").conv2d_backward

    def border_wrong(dout, cache):
        dx, dw, db = good(dout, cache)
        dx = dx.copy()
        dx[:, :, 0, :] = 0
        return dx, dw, db

    with pytest.raises(ValueError, match="numerical spot check for dx"):
        with numcnn.use(conv2d_forward=naive, conv2d_backward=border_wrong):
            one_step(tiny_model())
    with numcnn.use(conv2d_forward=naive, conv2d_backward=border_wrong, gradcheck=False):
        one_step(tiny_model())
    with numcnn.use(conv2d_forward=naive, conv2d_backward=good):  # a right pair passes
        one_step(tiny_model())


def test_the_spot_check_skips_kinks():
    """A ReLU before a max-pool makes exact zeros and ties: central differences there are
    not derivatives, and a right max-pool backward must not be flagged."""
    pool = solution("max_pool2d")
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 2, rng=0))
    with numcnn.use(pool):
        one_step(model)


def test_a_wrong_forward_and_a_wrong_cache_are_caught():
    naive = solution("conv2d_forward").conv2d_forward

    def shifted(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        out, cache = naive(x, w, b, stride, padding)
        return out + 1, cache

    def short_cache(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        return naive(x, w, b, stride, padding)[0], (x, w, b, stride, padding)

    with pytest.raises(ValueError, match="wrong out"), numcnn.use(conv2d_forward=shifted):
        one_step(tiny_model())
    with pytest.raises(ValueError, match="is not laid out like numcnn.reference's"):
        with numcnn.use(conv2d_forward=short_cache):
            one_step(tiny_model())


def test_running_statistics_must_be_updated_like_numcnns():
    bn = dispatch._OWN["batch_norm_forward"]

    def momentum_as_keep(x, gamma, beta, running_mean=None, running_var=None, training=True,
                         momentum=0.1, eps=1e-5):
        return bn(x, gamma, beta, running_mean, running_var, training, 1 - momentum, eps)
    with pytest.raises(ValueError, match="updated its argument 'running_mean' differently"):
        with numcnn.use(batch_norm_forward=momentum_as_keep,
                        batch_norm_backward=dispatch._OWN["batch_norm_backward"]):
            tiny_model(batchnorm=True)(data()[0])


# ------------------------------------------------------------- the shared convention
def _captured(tree: ast.Module) -> list[str]:
    """Functional pairs bound at import time: ``from ..functional import conv2d_forward``
    or ``F.conv2d_forward`` outside any function body (a class attribute, a default)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and "functional" in (node.module or ""):
            found += [a.name for a in node.names if a.name in dispatch.NAMES]

    def visit(node, in_function):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for default in getattr(node.args, "defaults", []):
                visit(default, in_function)
            in_function = True
        if (not in_function and isinstance(node, ast.Attribute)
                and node.attr in dispatch.NAMES):
            found.append(node.attr)
        for child in ast.iter_child_nodes(node):
            if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                    and child in getattr(node.args, "defaults", [])):
                visit(child, in_function)

    visit(tree, False)
    return found


def test_no_module_captures_a_functional_op_at_import():
    """numcnn.use works by swapping numcnn.functional's attributes: code outside
    functional/ and reference/ must look the pairs up when it runs."""
    offenders = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("functional", "reference", "kernels") or rel.name == "dispatch.py":
            continue
        names = _captured(ast.parse(path.read_text()))
        if names:
            offenders[str(rel)] = names
    assert not offenders, offenders
    assert _captured(ast.parse("from ..functional import relu_forward\n"
                               "class A:\n    op = F.relu_backward\n"
                               "def f(x):\n    return F.relu_forward(x)\n")) == [
        "relu_forward", "relu_backward"]
