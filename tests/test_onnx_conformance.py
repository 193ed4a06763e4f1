"""ONNX's own operator test cases, run against numcnn (``numcnn.onnx.backend``).

The cases are the ones ``onnx.backend.test.case.node.collect_testcases()`` builds offline:
here only the modules of the ops a CNN engine needs are imported (the same machinery, the
same cases; importing all of them costs twice the time).  In scope: every single-node case
of those ops.  Not in scope: the ``*_expanded`` cases, which are the op rewritten as a
graph of *other* ops (ReduceMax, Exp, Where ...), so they test those ops, not these.

Each case must match ONNX's expected outputs with ONNX's tolerances (rtol 1e-3, atol 1e-7,
and the same dtype and shape), in float32 as given and again in float64 (every float32
tensor cast), since gradient checks run in float64.  A case that fails must be listed in
NEEDS (a feature numcnn.functional lacks: the failure must be that UnsupportedError) or in
SKIPPED (outside what the issue asks for), with its reason.
"""

from __future__ import annotations

import importlib
import warnings
from collections import Counter

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx.backend.test.runner import Runner  # noqa: E402

from numcnn.onnx import UnsupportedError, backend  # noqa: E402

OPS = {  # op type -> the module of onnx.backend.test.case.node that holds its cases
    "Conv": "conv", "ConvTranspose": "convtranspose", "MaxPool": "maxpool",
    "AveragePool": "averagepool", "GlobalAveragePool": "globalaveragepool", "Gemm": "gemm",
    "MatMul": "matmul", "Add": "add", "Relu": "relu", "LeakyRelu": "leakyrelu",
    "Sigmoid": "sigmoid", "Tanh": "tanh", "BatchNormalization": "batch_normalization",
    "Dropout": "dropout", "Flatten": "flatten", "Concat": "concat", "Resize": "resize",
    "Softmax": "softmax", "LogSoftmax": "logsoftmax",
    "SoftmaxCrossEntropyLoss": "softmax_cross_entropy_loss",
}

# case -> the feature of numcnn.functional it needs (the case must raise UnsupportedError);
# none is left
NEEDS: dict[str, str] = {}
SKIPPED = {  # case -> why it is out of scope (the issue allows skipping these)
    **{f"test_resize_{name}": "cubic resizing" for name in (
        "upsample_scales_cubic", "upsample_scales_cubic_align_corners",
        "downsample_scales_cubic", "downsample_scales_cubic_align_corners",
        "upsample_sizes_cubic", "downsample_sizes_cubic",
        "upsample_scales_cubic_A_n0p5_exclude_outside",
        "downsample_scales_cubic_A_n0p5_exclude_outside", "upsample_scales_cubic_asymmetric",
        "downsample_scales_cubic_antialias", "downsample_sizes_cubic_antialias")},
    **{f"test_resize_downsample_{kind}_linear_antialias":
       "antialiased resizing" for kind in ("scales", "sizes")},
}
PASSING_AT_LEAST = 203  # of the 216 cases: all but SKIPPED (the goal: 95 % of the cases not
#                        SKIPPED)


def _collect():
    import onnx.backend.test.case.node as node_cases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the case generators divide by zero on purpose
        for module in OPS.values():
            importlib.import_module(f"onnx.backend.test.case.node.{module}")
    return {c.name: c for c in node_cases._NodeTestCases
            if len(c.model.graph.node) == 1 and c.model.graph.node[0].op_type in OPS
            and "_expanded" not in c.name}


CASES = _collect()
RESULTS: dict[str, str] = {}  # case -> "pass" or the failure, filled by test_case


def _as_float64(case):
    """The case with every float32 tensor (inputs, outputs, declared types) in float64."""
    model = onnx.ModelProto.FromString(case.model.SerializeToString())
    for v in (*model.graph.input, *model.graph.output):
        if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
            v.type.tensor_type.elem_type = onnx.TensorProto.DOUBLE

    def cast(arrays):
        return [np.asarray(a, np.float64) if isinstance(a, (np.ndarray, np.generic))
                and a.dtype == np.float32 else a for a in arrays]
    return model, [(cast(i), cast(o)) for i, o in case.data_sets]


def _run(model, data_sets, rtol, atol) -> None:
    rep = backend.prepare(model)
    for inputs, outputs in data_sets:
        Runner.assert_similar_outputs(outputs, rep.run(inputs), rtol=rtol, atol=atol)


def _outcome(name: str) -> str:
    if name not in RESULTS:
        case = CASES[name]
        try:
            _run(case.model, case.data_sets, case.rtol, case.atol)
            _run(*_as_float64(case), case.rtol, case.atol)
            RESULTS[name] = "pass"
        except UnsupportedError as e:
            RESULTS[name] = f"unsupported: {e}"
        except Exception as e:  # noqa: BLE001 (any other failure is a wrong result)
            RESULTS[name] = f"{type(e).__name__}: {e}"
    return RESULTS[name]


def test_every_listed_case_exists():
    assert len(CASES) == 216, sorted(CASES)
    assert not (set(NEEDS) | set(SKIPPED)) - set(CASES)
    assert not set(NEEDS) & set(SKIPPED)


@pytest.mark.parametrize("name", sorted(CASES))
def test_case(name):
    outcome = _outcome(name)
    if outcome == "pass":
        return
    if name in SKIPPED:
        pytest.skip(SKIPPED[name])
    if name in NEEDS:
        assert outcome.startswith("unsupported:"), outcome  # a wrong number is a bug
        pytest.xfail(f"needs {NEEDS[name]}")
    pytest.fail(outcome)


def test_conformance_summary(capsys):
    """The pass count per op (printed), and no regression below the count reached."""
    passed, total = Counter(), Counter()
    for name, case in CASES.items():
        op = case.model.graph.node[0].op_type
        total[op] += 1
        passed[op] += _outcome(name) == "pass"
    in_scope = len(CASES) - len(SKIPPED)
    stale = sorted(n for n in {*NEEDS, *SKIPPED} if RESULTS[n] == "pass")
    lines = [f"{op:24s} {passed[op]:3d} / {total[op]:3d}" for op in OPS]
    lines.append(f"{'all':24s} {sum(passed.values()):3d} / {len(CASES):3d} "
                 f"({sum(passed.values()) / in_scope:.1%} of the {in_scope} cases in scope)")
    if stale:
        lines.append(f"listed as failing but passing now (remove them): {stale}")
    with capsys.disabled():
        print("\nONNX conformance (float32 and float64):\n  " + "\n  ".join(lines))
    assert sum(passed.values()) >= PASSING_AT_LEAST
    assert sum(passed.values()) >= 0.95 * in_scope
