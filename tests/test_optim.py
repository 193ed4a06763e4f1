"""Optimizers, schedulers and clip_grad_norm against hand-written formulas (and PyTorch)."""

from __future__ import annotations

import io
import math
import tracemalloc

import numpy as np
import pytest

from numcnn import nn
from numcnn.nn import Parameter
from numcnn.optim import SGD, Adam, AdamW, RMSprop, clip_grad_norm
from numcnn.optim.lr_scheduler import (
    CosineAnnealingLR,
    LambdaLR,
    LinearWarmupLR,
    OneCycleLR,
    StepLR,
)

SHAPES = ((3, 4), (5,))


def init_and_grads(steps: int, seed: int = 0, shapes=SHAPES):
    """Initial values and one gradient per step per parameter, in float64."""
    rng = np.random.default_rng(seed)
    p0 = [rng.standard_normal(s) for s in shapes]
    gs = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    return p0, gs


def run(make_opt, p0, gs, dtype=np.float64):
    """Step an optimizer over the gradient sequence; return (params, optimizer)."""
    params = [Parameter(np.array(a, dtype=dtype)) for a in p0]
    opt = make_opt(params)
    for step_grads in gs:
        for p, g in zip(params, step_grads):
            p.grad[...] = g
        opt.step()
    return params, opt


# ---------------------------------------------------------------- reference update rules
# Written from PyTorch's documented pseudo-code, with plain (allocating) float64 NumPy.

def ref_sgd(p, gs, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    p, buf = p.copy(), None
    for g in gs:
        d = g + weight_decay * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p


def ref_adam(p, gs, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
             decoupled=False):
    b1, b2 = betas
    p, m, v = p.copy(), 0.0, 0.0
    for t, g in enumerate(gs, start=1):
        if decoupled:
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def ref_rmsprop(p, gs, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False):
    p, v, gbar, b = p.copy(), 0.0, 0.0, 0.0
    for g in gs:
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g**2
        if centered:
            gbar = alpha * gbar + (1 - alpha) * g
            d = np.sqrt(v - gbar**2) + eps
        else:
            d = np.sqrt(v) + eps
        if momentum:
            b = momentum * b + g / d
            p = p - lr * b
        else:
            p = p - lr * g / d
    return p


SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.02),
]
ADAM_CONFIGS = [
    (Adam, dict(lr=0.01)),
    (Adam, dict(lr=0.02, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1)),
    (AdamW, dict(lr=0.01)),
    (AdamW, dict(lr=0.02, betas=(0.8, 0.95), weight_decay=0.3)),
]
RMSPROP_CONFIGS = [
    (RMSprop, dict(lr=0.01)),
    (RMSprop, dict(lr=0.02, alpha=0.9, eps=1e-6, weight_decay=0.1)),
    (RMSprop, dict(lr=0.01, momentum=0.8)),
    (RMSprop, dict(lr=0.01, alpha=0.95, centered=True)),
    (RMSprop, dict(lr=0.005, momentum=0.5, centered=True, weight_decay=0.05)),
]


def ref_for(cls, kw):
    if cls is SGD:
        return lambda p, gs: ref_sgd(p, gs, **kw)
    if cls is RMSprop:
        return lambda p, gs: ref_rmsprop(p, gs, **kw)
    decoupled = cls is AdamW
    kw = dict(kw, weight_decay=kw.get("weight_decay", 1e-2 if decoupled else 0.0))
    return lambda p, gs: ref_adam(p, gs, decoupled=decoupled, **kw)


ALL_CONFIGS = [(SGD, kw) for kw in SGD_CONFIGS] + ADAM_CONFIGS + RMSPROP_CONFIGS


# ---------------------------------------------------------------- update rules
def test_sgd_momentum_by_hand():
    # p = 1, g = 1 every step, lr 0.1, momentum 0.9: buf 1, 1.9, 2.71 -> p 0.9, 0.71, 0.439
    p = Parameter(np.array([1.0]))
    opt = SGD([p], lr=0.1, momentum=0.9)
    got = []
    for _ in range(3):
        p.grad[...] = 1.0
        opt.step()
        got.append(p.data[0])
    np.testing.assert_allclose(got, [0.9, 0.71, 0.439], rtol=1e-12)


def test_sgd_nesterov_by_hand():
    # d = g + 0.9 buf: 1.9, 2.71, 3.439 -> p 0.81, 0.539, 0.1951
    p = Parameter(np.array([1.0]))
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    got = []
    for _ in range(3):
        p.grad[...] = 1.0
        opt.step()
        got.append(p.data[0])
    np.testing.assert_allclose(got, [0.81, 0.539, 0.1951], rtol=1e-12)


def test_adam_first_step_is_lr_times_sign():
    # after one step m_hat = g and v_hat = g^2, so the move is lr * g / (|g| + eps)
    p = Parameter(np.array([1.0, 1.0]))
    p.grad[...] = [2.0, -0.5]
    Adam([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [1 - 0.1 * 2 / (2 + 1e-8), 1 + 0.1 * 0.5 / (0.5 + 1e-8)],
                               rtol=1e-14)


def test_rmsprop_by_hand():
    # theta = 1, g = 2 at every step, alpha 0.5, lr 0.1, eps 0: v = 2, then 3
    p = Parameter(np.array([1.0]))
    opt = RMSprop([p], lr=0.1, alpha=0.5, eps=0.0)
    for _ in range(2):
        p.grad[...] = 2.0
        opt.step()
    np.testing.assert_allclose(p.data, [1 - 0.2 / np.sqrt(2) - 0.2 / np.sqrt(3)], rtol=1e-14)
    # centered: gbar = 1, v = 2 after one step, so d = sqrt(2 - 1) = 1 and the move is lr * g
    q = Parameter(np.array([1.0]))
    q.grad[...] = 2.0
    RMSprop([q], lr=0.1, alpha=0.5, eps=0.0, centered=True).step()
    np.testing.assert_allclose(q.data, [0.8], rtol=1e-14)
    assert opt.state[p]["step"] == 2 and set(opt.state[p]) == {"step", "square_avg"}


def test_adamw_decay_is_decoupled():
    # zero gradient: Adam's update is 0 (m = 0), so only the decay p *= 1 - lr*wd acts
    p = Parameter(np.array([2.0]))
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        opt.step()
    np.testing.assert_allclose(p.data, [2.0 * 0.95**3], rtol=1e-14)
    # Adam's L2 term instead goes through the normalisation: first move is ~lr, not lr*wd*p
    q = Parameter(np.array([2.0]))
    Adam([q], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(q.data, [1.9], rtol=1e-7)


@pytest.mark.parametrize("cls,kw", ALL_CONFIGS)
def test_update_matches_formula_float64(cls, kw):
    p0, gs = init_and_grads(steps=5)
    params, _ = run(lambda ps: cls(ps, **kw), p0, gs)
    ref = ref_for(cls, kw)
    for i, p in enumerate(params):
        np.testing.assert_allclose(p.data, ref(p0[i], [g[i] for g in gs]), rtol=1e-12,
                                   atol=1e-14)


@pytest.mark.parametrize("cls,kw", ALL_CONFIGS)
def test_float32_preserved_and_in_place(cls, kw):
    p0, gs = init_and_grads(steps=4)
    params = [Parameter(a.astype(np.float32)) for a in p0]
    data_ids = [id(p.data) for p in params]
    opt = cls(params, **kw)
    for step_grads in gs:
        for p, g in zip(params, step_grads):
            p.grad[...] = g
        opt.step()
    ref = ref_for(cls, kw)
    for i, p in enumerate(params):
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32
        assert id(p.data) == data_ids[i]  # updated in place: layers may hold the array
        for name, value in opt.state.get(p, {}).items():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, name
        np.testing.assert_allclose(p.data, ref(p0[i], [g[i] for g in gs]), rtol=2e-5,
                                   atol=2e-6)


def test_grad_is_not_modified():
    p0, gs = init_and_grads(steps=1)
    params = [Parameter(a) for a in p0]
    for p, g in zip(params, gs[0]):
        p.grad[...] = g
    SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1).step()
    Adam(params, weight_decay=0.1).step()
    for p, g in zip(params, gs[0]):
        np.testing.assert_array_equal(p.grad, g)


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.1),
    lambda ps: Adam(ps, weight_decay=1e-4),
    lambda ps: AdamW(ps),
    lambda ps: RMSprop(ps, momentum=0.9, centered=True, weight_decay=1e-4),
], ids=["sgd-nesterov-wd", "sgd-dampening", "adam-l2", "adamw", "rmsprop-centered"])
def test_step_memory_is_a_few_temporaries_of_one_parameter(make):
    """The update runs parameter by parameter, in the parameter's dtype: its temporaries
    never add up to the model (8 parameters here), and a float64 upcast would double them."""
    rng = np.random.default_rng(0)
    params = [Parameter(rng.standard_normal(250_000, dtype=np.float32)) for _ in range(8)]
    for p in params:
        p.grad[...] = rng.standard_normal(p.shape, dtype=np.float32)
    opt = make(params)
    opt.step()  # the first step creates the state
    tracemalloc.start()
    try:
        opt.step()
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    one = params[0].data.nbytes
    assert peak < 7 * one, f"a step allocated {peak / one:.1f} parameters' worth"


def test_frozen_params_are_skipped():
    frozen = Parameter(np.ones(3), requires_grad=False)
    live = Parameter(np.ones(3))
    frozen.grad[...] = live.grad[...] = 1.0
    for opt in (SGD([frozen, live], lr=0.1, momentum=0.9, weight_decay=0.1),
                AdamW([frozen, live], lr=0.1)):
        opt.step()
        assert frozen not in opt.state or not opt.state[frozen]
    np.testing.assert_array_equal(frozen.data, np.ones(3))
    assert np.all(live.data < 1.0)


def test_param_groups_use_their_own_hyperparameters():
    a, b = Parameter(np.array([1.0])), Parameter(np.array([1.0]))
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["momentum"] == 0.0 and opt.param_groups[1]["lr"] == 0.5
    for _ in range(2):
        a.grad[...] = b.grad[...] = 1.0
        opt.step()
    # a: plain SGD lr 0.1; b: momentum 0.9 lr 0.5 -> buf 1, 1.9
    np.testing.assert_allclose(a.data, [0.8])
    np.testing.assert_allclose(b.data, [1 - 0.5 - 0.95])
    opt.param_groups[0]["lr"] = 1.0  # what a scheduler does
    opt.step()
    np.testing.assert_allclose(a.data, [-0.2])


def test_accepts_generator_and_zero_grad():
    params = [Parameter(np.ones(2)), Parameter(np.ones(3))]
    opt = SGD((p for p in params), lr=0.1)
    for p in params:
        p.grad += 3.0
    opt.zero_grad()
    assert all(not p.grad.any() for p in params)
    assert opt.step(closure=lambda: 1.5) == 1.5


def test_state_follows_parameter_dtype_change():
    p = Parameter(np.ones(4, dtype=np.float32))
    p.grad[...] = 1.0
    opt = Adam([p])
    opt.step()
    p.astype(np.float64)  # what Module.to(np.float64) does
    p.grad[...] = 1.0
    opt.step()
    assert p.data.dtype == np.float64
    assert opt.state[p]["exp_avg"].dtype == np.float64 and opt.state[p]["step"] == 2


@pytest.mark.parametrize("make,match", [
    (lambda ps: SGD(ps, lr=-0.1), "lr"),
    (lambda ps: SGD(ps, lr=float("nan")), "lr"),
    (lambda ps: SGD(ps, lr=0.1, momentum=-0.5), "momentum"),
    (lambda ps: SGD(ps, lr=0.1, nesterov=True), "nesterov"),
    (lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening"),
    (lambda ps: Adam(ps, betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda ps: Adam(ps, betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda ps: AdamW(ps, eps=-1e-8), "eps"),
    (lambda ps: AdamW(ps, weight_decay=-1.0), "weight_decay"),
    (lambda ps: Adam([], lr=0.1), "empty"),
    (lambda ps: SGD([ps[0], ps[0]], lr=0.1), "more than once"),
    (lambda ps: SGD([{"params": [ps[0]]}, {"params": [ps[0]]}], lr=0.1), "more than once"),
    (lambda ps: SGD([{"lr": 0.1}], lr=0.1), "'params'"),
    (lambda ps: SGD(ps, lr=float("inf")), "lr must be a finite number"),
    (lambda ps: SGD(ps, lr=0.1, momentum=1.5), r"momentum must be a finite number in \[0.0, 1.0\]"),
    (lambda ps: SGD(ps, lr=0.1, momentum=0.5, dampening=2.0), "dampening"),
    (lambda ps: RMSprop(ps, alpha=1.5), "alpha"),
    (lambda ps: RMSprop(ps, momentum=-0.1), "momentum"),
    (lambda ps: RMSprop(ps, lr=float("nan")), "lr"),
])
def test_bad_constructor_args(make, match):
    with pytest.raises(ValueError, match=match):
        make([Parameter(np.ones(2)), Parameter(np.ones(3))])


@pytest.mark.parametrize("make,match", [
    (lambda ps: Adam(ps, betas=0.9), r"Adam: betas must be a pair \(beta1, beta2\)"),
    (lambda ps: AdamW(ps, betas=(0.9, "0.99")), r"betas\[1\] must be a finite number"),
    (lambda ps: SGD(ps, lr="0.1"), "SGD: lr must be a finite number"),
    (lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov="yes"), "nesterov must be True or "
                                                                "False"),
    (lambda ps: RMSprop(ps, centered=1), "centered must be True or False"),
    (lambda ps: SGD(nn.Linear(2, 2), lr=0.1), r"SGD: params must be the parameters to "
                                              r"update, model.parameters\(\); got the "
                                              r"Linear module itself"),
    (lambda ps: Adam(3.0), "params must be an iterable"),
])
def test_bad_constructor_types(make, match):
    with pytest.raises(TypeError, match=match):
        make([Parameter(np.ones(2)), Parameter(np.ones(3))])


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop])
def test_a_parameter_without_grad_is_skipped_and_a_wrong_grad_refused(cls):
    a, b = Parameter(np.ones(3)), Parameter(np.ones(2))
    opt = cls([a, b], lr=0.1, **({"momentum": 0.9} if cls is SGD else {}))
    a.grad[...] = 1.0
    b.grad = None  # as PyTorch: a parameter that took no part in this step
    opt.step()
    assert np.all(a.data < 1.0) and np.all(b.data == 1.0) and b not in opt.state
    before = a.data.copy()
    b.grad = np.ones((2, 1))
    with pytest.raises(ValueError, match=r"parameter 1 has a .grad of shape \(2, 1\) and "
                                         r"dtype float64; expected an array of its data's "
                                         r"shape \(2,\) and dtype float64"):
        opt.step()
    b.grad = np.ones(2, np.float32)
    with pytest.raises(ValueError, match="dtype float32"):
        opt.step()
    np.testing.assert_array_equal(a.data, before)  # refused before anything moved
    b.grad = None
    assert clip_grad_norm([a, b], max_norm=1e9) == pytest.approx(np.sqrt(3.0))
    opt.zero_grad()  # allocates a zero gradient again
    assert b.grad.shape == (2,) and not b.grad.any()


def test_bad_param_types():
    with pytest.raises(TypeError, match="iterable"):
        SGD(Parameter(np.ones(2)), lr=0.1)
    with pytest.raises(TypeError, match="ndarray"):
        SGD([np.ones(2)], lr=0.1)


# ---------------------------------------------------------------- state_dict
def npz_round_trip(state: dict) -> dict:
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def grouped(params, **kw):
    return [{"params": params[:1], **kw}, {"params": params[1:]}]


@pytest.mark.parametrize("make", [
    lambda ps: SGD(grouped(ps, lr=0.3), lr=0.1, momentum=0.9, nesterov=True,
                   weight_decay=0.01),
    lambda ps: SGD(ps, lr=0.1, momentum=0.8, dampening=0.2),
    lambda ps: Adam(grouped(ps, betas=(0.5, 0.9)), lr=0.01, weight_decay=0.1),
    lambda ps: AdamW(ps, lr=0.01, weight_decay=0.2),
    lambda ps: RMSprop(grouped(ps, momentum=0.5), lr=0.01, centered=True),
    lambda ps: RMSprop(ps, lr=0.01, momentum=0.9, weight_decay=0.1),
], ids=["sgd-groups", "sgd", "adam-groups", "adamw", "rmsprop-groups", "rmsprop"])
def test_state_dict_round_trip_continues_identically(make):
    p0, gs = init_and_grads(steps=6, shapes=((3, 4), (5,), (2,)))
    params = [Parameter(a.astype(np.float32)) for a in p0]
    params[1].requires_grad = False  # no state for it: the indices after it must still match
    opt = make(params)
    for step_grads in gs[:3]:
        for p, g in zip(params, step_grads):
            p.grad[...] = g
        opt.step()
    state = opt.state_dict()
    assert not any(k.startswith("state.1.") for k in state)
    assert any(k.startswith("state.2.") for k in state)
    assert all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in state.items())
    assert state["param_groups.0.lr"].shape == ()
    loaded = npz_round_trip(state)

    clones = [Parameter(p.data.copy(), requires_grad=p.requires_grad) for p in params]
    opt2 = make(clones)
    opt2.param_groups[0]["lr"] = 123.0  # must be overwritten by the load
    opt2.load_state_dict(loaded)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for value in loaded.values():
        value[...] = 0  # the optimizer must hold copies, not the loaded arrays
    for step_grads in gs[3:]:
        for p, q, g in zip(params, clones, step_grads):
            p.grad[...] = g
            q.grad[...] = g
        opt.step()
        opt2.step()
    for p, q in zip(params, clones):
        assert q.data.dtype == np.float32
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dict_values_are_copies():
    p = Parameter(np.ones(3))
    p.grad[...] = 1.0
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    sd = opt.state_dict()
    sd["state.0.momentum_buffer"][...] = 99.0
    assert np.all(opt.state[p]["momentum_buffer"] == 1.0)


def _stepped_adam(shapes=((3, 4), (5,))):
    params = [Parameter(np.ones(s)) for s in shapes]
    for p in params:
        p.grad[...] = 0.5
    opt = Adam(params, lr=0.1)
    opt.step()
    return opt


def _corrupt(fn):
    sd = _stepped_adam().state_dict()
    fn(sd)
    return sd


@pytest.mark.parametrize("bad,match", [
    (_stepped_adam(shapes=((3, 4), (5,), (2,))).state_dict(),
     r"param_groups\.0\.params: expected 2 parameters.*got 3"),
    (_corrupt(lambda sd: sd.__setitem__("state.0.exp_avg", np.zeros((4, 3)))),
     r"state\.0\.exp_avg: expected shape \(3, 4\), got \(4, 3\)"),
    (_corrupt(lambda sd: sd.pop("state.1.exp_avg_sq")), r"state\.1: expected entries"),
    (_corrupt(lambda sd: sd.__setitem__("state.1.step", np.zeros(2))), r"state\.1\.step"),
    (_corrupt(lambda sd: sd.__setitem__("param_groups.0.betas", np.zeros(3))),
     r"param_groups\.0\.betas: expected shape \(2,\)"),
    (_corrupt(lambda sd: sd.__setitem__("param_groups.0.lr", np.array(-1.0))), "lr"),
    (_corrupt(lambda sd: sd.__setitem__("momentum", np.array(0.9))), "unexpected key"),
    (_corrupt(lambda sd: sd.__setitem__("param_groups.1.lr", np.array(0.9))),
     "more param groups"),
    (_corrupt(lambda sd: sd.__setitem__("state.7.exp_avg", np.zeros(5))), "out of range"),
    (_corrupt(lambda sd: sd.__setitem__("param_groups.0.lr", np.array("0.1"))),
     r"param_groups\.0\.lr: expected a number, got an array of dtype <U3"),
    (_corrupt(lambda sd: sd.__setitem__("param_groups.0.eps", np.array(np.nan))),
     r"param_groups\.0: Adam: eps must be a finite number"),
    (_corrupt(lambda sd: sd.__setitem__("state.1.exp_avg_sq", -np.ones(5))),
     r"state\.1\.exp_avg_sq: expected values >= 0 \(an average of squares\)"),
    (_corrupt(lambda sd: sd.__setitem__("state.0.exp_avg", np.full((3, 4), np.inf))),
     r"state\.0\.exp_avg: expected finite values"),
    (_corrupt(lambda sd: sd.__setitem__("state.0.exp_avg", np.full((3, 4), "1"))),
     r"state\.0\.exp_avg: expected a real numeric array, got dtype <U1"),
    (_corrupt(lambda sd: sd.__setitem__("state.0.momentum_buffer", np.zeros((3, 4)))),
     r"state\.0: expected entries \['exp_avg', 'exp_avg_sq', 'step'\]"),
])
def test_load_state_dict_errors_leave_optimizer_unchanged(bad, match):
    opt = _stepped_adam()
    opt.param_groups[0]["lr"] = 0.25
    before = opt.state_dict()
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)


def test_load_state_dict_casts_to_parameter_dtype():
    p64 = Parameter(np.ones(3))
    p64.grad[...] = 1.0
    opt64 = Adam([p64])
    opt64.step()
    p32 = Parameter(np.ones(3, dtype=np.float32))
    opt32 = Adam([p32])
    opt32.load_state_dict(opt64.state_dict())
    assert opt32.state[p32]["exp_avg"].dtype == np.float32
    assert opt32.state[p32]["step"] == 1 and isinstance(opt32.state[p32]["step"], int)


def test_load_state_dict_of_another_optimizer_is_refused():
    p = Parameter(np.ones(3))
    p.grad[...] = 1.0
    sgd = SGD([p], lr=0.1, momentum=0.9)
    sgd.step()
    with pytest.raises(ValueError, match="betas"):
        Adam([p]).load_state_dict(sgd.state_dict())
    rms = RMSprop([p], momentum=0.9)
    rms.step()
    with pytest.raises(ValueError, match="alpha"):
        RMSprop([p]).load_state_dict(sgd.state_dict())
    with pytest.raises(ValueError, match="dampening"):
        SGD([p], lr=0.1).load_state_dict(rms.state_dict())
    # RMSprop's own state, but saved with momentum: the buffer it needs is missing
    state = rms.state_dict()
    del state["state.0.momentum_buffer"]
    with pytest.raises(ValueError, match=r"state\.0: expected entries \['momentum_buffer', "
                                         r"'square_avg', 'step'\] \(and optionally "
                                         r"\['grad_avg'\]\)"):
        RMSprop([p], momentum=0.9).load_state_dict(state)


# ---------------------------------------------------------------- schedulers
def sgd_two_groups(lr0=0.1, lr1=0.02, momentum=0.0):
    return SGD([{"params": [Parameter(np.ones(2))]},
                {"params": [Parameter(np.ones(2))], "lr": lr1}], lr=lr0, momentum=momentum)


def lr_trace(sched, steps):
    """[lrs at step 0, after 1 step, ...]; also checks get_last_lr against the groups."""
    out = []
    for _ in range(steps + 1):
        lrs = sched.get_last_lr()
        assert lrs == [g["lr"] for g in sched.optimizer.param_groups]
        out.append(lrs)
        if len(out) <= steps:
            sched.optimizer.step()
            sched.step()
    return np.array(out)


def test_step_lr_closed_form():
    opt = sgd_two_groups()
    sched = StepLR(opt, step_size=3, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.02]
    got = lr_trace(sched, 10)
    t = np.arange(11)[:, None]
    np.testing.assert_allclose(got, np.array([[0.1, 0.02]]) * 0.5 ** (t // 3), rtol=1e-14)


def test_cosine_closed_form():
    sched = CosineAnnealingLR(sgd_two_groups(), T_max=8, eta_min=1e-3)
    got = lr_trace(sched, 12)
    t = np.arange(13)[:, None]
    want = 1e-3 + (np.array([[0.1, 0.02]]) - 1e-3) * (1 + np.cos(np.pi * t / 8)) / 2
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[8, 0] == pytest.approx(1e-3)


def test_linear_warmup_closed_form():
    sched = LinearWarmupLR(sgd_two_groups(), warmup_steps=4, start_factor=0.1)
    got = lr_trace(sched, 7)
    factor = [0.1, 0.325, 0.55, 0.775, 1.0, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(got, np.outer(factor, [0.1, 0.02]), rtol=1e-12)


def test_lambda_lr():
    sched = LambdaLR(sgd_two_groups(), [lambda t: 0.5**t, lambda t: 1.0 + t])
    got = lr_trace(sched, 3)
    np.testing.assert_allclose(got, [[0.1, 0.02], [0.05, 0.04], [0.025, 0.06],
                                     [0.0125, 0.08]], rtol=1e-14)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_one_cycle_values(strategy):
    opt = sgd_two_groups()
    sched = OneCycleLR(opt, max_lr=[1.0, 0.5], total_steps=20, pct_start=0.3,
                       anneal_strategy=strategy)
    got = lr_trace(sched, 20)
    np.testing.assert_allclose(got[0], [1 / 25, 0.5 / 25])  # start: max_lr / div_factor
    np.testing.assert_allclose(got[5], [1.0, 0.5])  # peak at pct_start * total - 1
    np.testing.assert_allclose(got[19], [1 / 25 / 1e4, 0.5 / 25 / 1e4])  # end
    assert opt.param_groups[0]["initial_lr"] == pytest.approx(1 / 25)
    lo, hi, end = 0.04, 1.0, 0.04 / 1e4
    # step 2 of the rise (steps 0..5): 40% of the way, along a cosine or a line
    frac = (1 - math.cos(math.pi * 0.4)) / 2 if strategy == "cos" else 0.4
    np.testing.assert_allclose(got[2, 0], lo + (hi - lo) * frac)
    # step 12 of the fall (steps 5..19) is its midpoint, where cosine and line agree
    np.testing.assert_allclose(got[12, 0], (hi + end) / 2)
    with pytest.raises(ValueError, match="total_steps=20"):
        sched.step()
    assert sched.last_epoch == 20 and sched.get_last_lr() == list(got[20])


def test_one_cycle_momentum_cycles_inversely():
    opt = sgd_two_groups(momentum=0.9)
    sched = OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=5, pct_start=0.5,
                       cycle_momentum=True, base_momentum=0.8, max_momentum=0.9)
    assert sched.total_steps == 10
    moms = []
    for _ in range(10):
        moms.append(opt.param_groups[0]["momentum"])
        sched.step()
    assert moms[0] == pytest.approx(0.9) and moms[4] == pytest.approx(0.8)
    assert moms[9] == pytest.approx(0.9)
    adam = Adam([Parameter(np.ones(2))], betas=(0.9, 0.99))
    OneCycleLR(adam, max_lr=1.0, total_steps=10, cycle_momentum=True, max_momentum=0.95)
    assert adam.param_groups[0]["betas"] == (0.95, 0.99)


@pytest.mark.parametrize("make,match", [
    (lambda o: StepLR(o, step_size=0), "step_size"),
    (lambda o: StepLR(o, step_size=2, gamma=-1.0), "gamma"),
    (lambda o: LinearWarmupLR(o, warmup_steps=3, start_factor=1.5), "start_factor"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=10, anneal_strategy="exp"), "anneal"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=1.5), "pct_start"),
    (lambda o: OneCycleLR(o, max_lr=[1.0], total_steps=10), "one value per param group"),
    (lambda o: OneCycleLR(o, max_lr=1.0), "total_steps"),
    (lambda o: LambdaLR(o, [lambda t: 1.0]), "lr_lambda"),
])
def test_bad_scheduler_args(make, match):
    with pytest.raises(ValueError, match=match):
        make(sgd_two_groups())


@pytest.mark.parametrize("make,error,match", [
    (lambda o: CosineAnnealingLR(o, T_max=2.5), TypeError,
     "CosineAnnealingLR: T_max must be a positive int; got 2.5"),
    (lambda o: CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be a positive int"),
    (lambda o: StepLR(o, step_size="3"), TypeError, "StepLR: step_size must be a positive int"),
    (lambda o: StepLR(o, step_size=2, gamma=float("nan")), ValueError, "gamma"),
    (lambda o: LinearWarmupLR(o, warmup_steps=0), ValueError, "warmup_steps"),
    (lambda o: OneCycleLR(o, max_lr=1.0, epochs=2, steps_per_epoch=0), ValueError,
     "steps_per_epoch"),
    (lambda o: OneCycleLR(o, max_lr=-1.0, total_steps=5), ValueError, "max_lr"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=5, div_factor=0), ValueError,
     "div_factor"),
    (lambda o: LambdaLR(o, 0.5), TypeError, "lr_lambda must be a function"),
    (lambda o: LambdaLR(o, lambda t: float("nan")), ValueError,
     r"LambdaLR: the factor lr_lambda\(0\) must be a finite number in \[0.0, inf\); got nan"),
    (lambda o: StepLR("opt", step_size=2), TypeError, "expected an Optimizer"),
    (lambda o: StepLR(o, step_size=2, last_epoch=-2), ValueError, "last_epoch"),
])
def test_scheduler_argument_kinds_and_ranges(make, error, match):
    with pytest.raises(error, match=match):
        make(sgd_two_groups())


def test_lambda_lr_refuses_a_bad_factor_and_stays_put():
    opt = sgd_two_groups()
    sched = LambdaLR(opt, lambda t: 1.0 if t < 2 else -0.5)
    sched.step()
    with pytest.raises(ValueError, match=r"lr_lambda\(2\) must be a finite number in "
                                         r"\[0.0, inf\); got -0.5"):
        sched.step()
    assert sched.last_epoch == 1 and opt.param_groups[0]["lr"] == 0.1


SCHEDULERS = [
    lambda o: StepLR(o, step_size=2, gamma=0.3),
    lambda o: CosineAnnealingLR(o, T_max=7, eta_min=1e-4),
    lambda o: LinearWarmupLR(o, warmup_steps=5, start_factor=0.2),
    lambda o: LambdaLR(o, lambda t: 1 / (1 + t)),
    lambda o: OneCycleLR(o, max_lr=[0.4, 0.3], total_steps=12, anneal_strategy="linear",
                         cycle_momentum=True),
]


@pytest.mark.parametrize("make", SCHEDULERS,
                         ids=["step", "cosine", "warmup", "lambda", "onecycle"])
def test_scheduler_state_dict_round_trip(make):
    sched = make(sgd_two_groups(momentum=0.9))
    for _ in range(4):
        sched.step()
    state = npz_round_trip(sched.state_dict())
    fresh = make(sgd_two_groups(momentum=0.9))
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 4
    assert fresh.get_last_lr() == sched.get_last_lr()
    assert fresh.optimizer.param_groups[0]["momentum"] == sched.optimizer.param_groups[0][
        "momentum"]
    for _ in range(6):
        sched.step()
        fresh.step()
        assert fresh.get_last_lr() == sched.get_last_lr()


def test_scheduler_load_errors_leave_it_unchanged():
    sched = StepLR(sgd_two_groups(), step_size=2)
    sched.step()
    good = sched.state_dict()
    for bad, match in [({**good, "base_lrs": np.array([0.1])}, r"base_lrs: expected shape"),
                       ({k: v for k, v in good.items() if k != "gamma"}, "missing keys"),
                       ({**good, "extra": np.array(1)}, "unexpected keys"),
                       ({**good, "step_size": np.array(0)}, "step_size must be a positive "
                                                            "int; got 0"),
                       ({**good, "step_size": np.array("2")}, "step_size: expected numbers"),
                       ({**good, "step_size": np.array(2.0)}, "step_size must be a positive "
                                                              "int; got 2.0"),
                       ({**good, "gamma": np.array(np.inf)}, "gamma"),
                       ({**good, "base_lrs": np.array([0.1, -1.0])}, "base_lrs")]:
        with pytest.raises(ValueError, match=match):
            sched.load_state_dict({**bad, "last_epoch": np.array(5)})
        assert sched.last_epoch == 1 and sched.base_lrs == [0.1, 0.02]
        assert sched.step_size == 2 and sched.optimizer.param_groups[0]["lr"] == 0.1
    cosine = CosineAnnealingLR(sgd_two_groups(), T_max=4)
    with pytest.raises(ValueError, match=r"CosineAnnealingLR state_dict: CosineAnnealingLR: "
                                         r"T_max must be a positive int; got 0"):
        cosine.load_state_dict({**cosine.state_dict(), "T_max": np.array(0)})
    cosine.step()  # still works
    one = OneCycleLR(sgd_two_groups(), max_lr=1.0, total_steps=5)
    with pytest.raises(ValueError, match="total_steps=5"):
        one.load_state_dict({**one.state_dict(), "last_epoch": np.array(9)})
    assert one.last_epoch == 0


# ---------------------------------------------------------------- clip_grad_norm
def test_clip_grad_norm_scales_to_max_norm():
    rng = np.random.default_rng(1)
    params = [Parameter(np.zeros(s, dtype=np.float32)) for s in [(4, 5), (7,)]]
    for p in params:
        p.grad[...] = rng.standard_normal(p.shape) * 10
    grad_ids = [id(p.grad) for p in params]
    before = [p.grad.astype(np.float64) for p in params]
    norm_ref = math.sqrt(sum(float(np.sum(g**2)) for g in before))
    norm = clip_grad_norm(params, max_norm=2.0)
    assert isinstance(norm, float) and norm == pytest.approx(norm_ref, rel=1e-12)
    after = math.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in params))
    assert after == pytest.approx(2.0, rel=1e-5)
    for p, g, i in zip(params, before, grad_ids):
        assert p.grad.dtype == np.float32 and id(p.grad) == i
        np.testing.assert_allclose(p.grad, g * 2.0 / (norm_ref + 1e-6), rtol=1e-6)


def test_clip_grad_norm_below_max_and_frozen():
    live = Parameter(np.zeros(3))
    frozen = Parameter(np.zeros(3), requires_grad=False)
    live.grad[...] = [3.0, 4.0, 0.0]
    frozen.grad[...] = 100.0
    assert clip_grad_norm([live, frozen], max_norm=10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(live.grad, [3.0, 4.0, 0.0])
    assert clip_grad_norm(live, max_norm=4.0) == pytest.approx(5.0)  # a single Parameter
    np.testing.assert_allclose(live.grad, [2.4, 3.2, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(frozen.grad, 100.0)


def test_clip_grad_norm_accumulates_in_float64():
    rng = np.random.default_rng(2)
    p = Parameter(np.zeros(100_003, dtype=np.float32))
    p.grad[...] = rng.standard_normal(p.shape) * rng.uniform(0, 3, p.shape)
    want = math.sqrt(float(np.sum(p.grad.astype(np.float64) ** 2)))
    # a float32 sum would be off by ~1e-7 relative
    assert abs(clip_grad_norm([p], max_norm=1e9) - want) <= 1e-12 * want


def test_clip_grad_norm_errors():
    p = Parameter(np.ones(2))
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([p], max_norm=-1.0)
    p.grad[...] = [np.nan, 1.0]
    with pytest.raises(ValueError, match="nan"):
        clip_grad_norm([p], max_norm=1.0, error_if_nonfinite=True)


# ---------------------------------------------------------------- against PyTorch
def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


TORCH_OPT = {SGD: "SGD", Adam: "Adam", AdamW: "AdamW", RMSprop: "RMSprop"}


@pytest.mark.parametrize("cls,kw", ALL_CONFIGS)
def test_optimizers_match_torch(cls, kw):
    torch = _torch()
    p0, gs = init_and_grads(steps=5, seed=3)
    params, _ = run(lambda ps: cls(ps, **kw), p0, gs)
    tparams = [torch.tensor(a, requires_grad=True) for a in p0]
    topt = getattr(torch.optim, TORCH_OPT[cls])(tparams, **kw)
    for step_grads in gs:
        for t, g in zip(tparams, step_grads):
            t.grad = torch.tensor(g)
        topt.step()
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-6, atol=1e-12)


def _torch_lrs(torch, make_sched, groups_lr, steps, momentum=0.0, adam=False):
    ps = [torch.zeros(1, requires_grad=True) for _ in groups_lr]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(ps, groups_lr)]
    opt = (torch.optim.Adam(groups, betas=(0.9, 0.99)) if adam
           else torch.optim.SGD(groups, lr=groups_lr[0], momentum=momentum))
    sched = make_sched(torch.optim.lr_scheduler, opt)
    lrs, moms = [], []
    for i in range(steps + 1):
        lrs.append(sched.get_last_lr())
        g = opt.param_groups[0]
        moms.append(g["betas"][0] if adam else g["momentum"])
        if i < steps:
            opt.step()
            sched.step()
    return np.array(lrs, dtype=np.float64), np.array(moms)


@pytest.mark.parametrize("ours,theirs,steps", [
    (lambda o: StepLR(o, step_size=3, gamma=0.5),
     lambda m, o: m.StepLR(o, step_size=3, gamma=0.5), 12),
    (lambda o: CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
     lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=1e-3), 25),
    (lambda o: LinearWarmupLR(o, warmup_steps=6, start_factor=0.05),
     lambda m, o: m.LinearLR(o, start_factor=0.05, end_factor=1.0, total_iters=6), 10),
    (lambda o: OneCycleLR(o, max_lr=[0.3, 0.1], total_steps=30),
     lambda m, o: m.OneCycleLR(o, max_lr=[0.3, 0.1], total_steps=30, cycle_momentum=False),
     30),
    (lambda o: OneCycleLR(o, max_lr=[0.3, 0.1], total_steps=17, pct_start=0.4,
                          anneal_strategy="linear", div_factor=10, final_div_factor=100),
     lambda m, o: m.OneCycleLR(o, max_lr=[0.3, 0.1], total_steps=17, pct_start=0.4,
                               anneal_strategy="linear", div_factor=10,
                               final_div_factor=100, cycle_momentum=False), 17),
], ids=["step", "cosine", "warmup", "onecycle-cos", "onecycle-linear"])
def test_schedulers_match_torch(ours, theirs, steps):
    torch = _torch()
    mine = lr_trace(ours(sgd_two_groups(0.1, 0.02)), steps)
    want, _ = _torch_lrs(torch, theirs, [0.1, 0.02], steps)
    np.testing.assert_allclose(mine, want, rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize("adam", [False, True])
def test_one_cycle_momentum_matches_torch(adam):
    torch = _torch()
    opt = (Adam([Parameter(np.zeros(1))], betas=(0.9, 0.99)) if adam
           else SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9))
    sched = OneCycleLR(opt, max_lr=0.5, total_steps=15, cycle_momentum=True)
    mine = []
    for i in range(16):
        g = opt.param_groups[0]
        mine.append(g["betas"][0] if adam else g["momentum"])
        if i < 15:
            sched.step()
    _, want = _torch_lrs(torch, lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=15),
                         [0.1], 15, momentum=0.9, adam=adam)
    np.testing.assert_allclose(mine, want, rtol=1e-6)


def test_clip_grad_norm_matches_torch():
    torch = _torch()
    rng = np.random.default_rng(4)
    grads = [rng.standard_normal(s) * 3 for s in [(6, 5), (11,)]]
    params = [Parameter(np.zeros(g.shape)) for g in grads]
    for p, g in zip(params, grads):
        p.grad[...] = g
    tparams = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(tparams, grads):
        t.grad = torch.tensor(g)
    norm = clip_grad_norm(params, max_norm=1.5)
    tnorm = torch.nn.utils.clip_grad_norm_(tparams, max_norm=1.5)
    assert norm == pytest.approx(float(tnorm), rel=1e-12)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
