"""Module hooks: PyTorch's shapes, order, replacement values, removal, reused modules."""

import numpy as np
import pytest

from numcnn import nn, no_grad


def test_forward_hooks_run_in_order_and_may_replace_values():
    relu = nn.ReLU()
    calls = []
    relu.register_forward_pre_hook(lambda m, args: calls.append(("pre1", m, len(args))))
    relu.register_forward_pre_hook(lambda m, args: (args[0] - 1.0,))  # shifts the input
    relu.register_forward_hook(lambda m, args, out: calls.append(("post", args[0].copy(),
                                                                 out.copy())))
    relu.register_forward_hook(lambda m, args, out: out * 10.0)      # replaces the output
    out = relu(np.array([[0.5, 3.0]]))
    np.testing.assert_array_equal(out, [[0.0, 20.0]])
    assert calls[0] == ("pre1", relu, 1)
    np.testing.assert_array_equal(calls[1][1], [[-0.5, 2.0]])  # the hook saw the new args
    np.testing.assert_array_equal(calls[1][2], [[0.0, 2.0]])
    assert [c[0] for c in calls] == ["pre1", "post"]
    np.testing.assert_array_equal(relu.forward(np.array([[0.5]])), [[0.5]])  # forward: none


def test_backward_hooks_see_grad_output_and_grad_input():
    lin = nn.Linear(3, 2, dtype=np.float64, rng=0)
    seen = []
    lin.register_full_backward_pre_hook(lambda m, go: seen.append(("pre", go)))
    lin.register_full_backward_hook(lambda m, gi, go: seen.append(("post", gi, go)))
    x, dout = np.ones((4, 3)), np.full((4, 2), 0.5)
    lin(x)
    dx = lin.backward(dout)
    (kind, go), (kind2, gi, go2) = seen
    assert (kind, kind2) == ("pre", "post") and isinstance(go, tuple) and len(gi) == 1
    np.testing.assert_array_equal(go[0], dout)
    np.testing.assert_array_equal(go2[0], dout)
    np.testing.assert_array_equal(gi[0], dx)
    np.testing.assert_allclose(dx, dout @ lin.weight.data)


def test_backward_hooks_may_replace_gradients():
    relu = nn.ReLU()
    relu.register_full_backward_pre_hook(lambda m, go: (go[0] * 2.0,))
    relu.register_full_backward_hook(lambda m, gi, go: (gi[0] + 1.0,))
    relu(np.array([[1.0, -1.0]]))
    np.testing.assert_array_equal(relu.backward(np.array([[3.0, 3.0]])), [[7.0, 1.0]])
    cat = nn.Concat()
    cat.register_full_backward_hook(lambda m, gi, go: tuple(g * 0 for g in gi))
    cat(np.ones((1, 1, 2, 2)), np.ones((1, 2, 2, 2)))
    grads = cat.backward(np.ones((1, 3, 2, 2)))
    assert isinstance(grads, tuple) and [g.shape for g in grads] == [(1, 1, 2, 2),
                                                                    (1, 2, 2, 2)]
    assert not any(g.any() for g in grads)


def test_handles_remove_hooks_and_work_as_context_managers():
    relu = nn.ReLU()
    calls = []
    handle = relu.register_forward_hook(lambda m, a, o: calls.append("f"))
    with relu.register_full_backward_hook(lambda m, gi, go: calls.append("b")):
        relu(np.ones((1, 2)))
        relu.backward(np.ones((1, 2)))
    handle.remove()
    handle.remove()  # twice is harmless
    relu(np.ones((1, 2)))
    relu.backward(np.ones((1, 2)))
    assert calls == ["f", "b"]
    with pytest.raises(TypeError, match="a hook must be callable"):
        relu.register_forward_hook("not a function")


def test_hooks_fire_once_per_call_of_a_reused_module_and_in_reverse_in_backward():
    relu = nn.ReLU()
    lin = nn.Linear(2, 2, dtype=np.float64, rng=0)
    net = nn.Sequential(relu, lin, relu)
    x = np.array([[1.0, -2.0]])
    with no_grad():
        h = lin(relu(x))
    order = []
    relu.register_forward_hook(lambda m, a, o: order.append(("f", a[0].copy())))
    relu.register_full_backward_hook(lambda m, gi, go: order.append(("b", go[0].copy())))
    net(x)
    net.backward(np.array([[5.0, 7.0]]))
    kinds = [k for k, _ in order]
    assert kinds == ["f", "f", "b", "b"]
    np.testing.assert_array_equal(order[0][1], x)           # first call: the input
    np.testing.assert_array_equal(order[1][1], h)           # second call: lin's output
    np.testing.assert_array_equal(order[2][1], [[5.0, 7.0]])  # backward: the last call first


def test_a_subclass_backward_calling_super_runs_its_hooks_once():
    class Doubled(nn.Linear):
        def backward(self, dout):
            return 2 * super().backward(dout)

    layer = Doubled(2, 2, dtype=np.float64, rng=0)
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append(gi[0].copy()))
    layer(np.ones((1, 2)))
    dx = layer.backward(np.ones((1, 2)))
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], dx)
