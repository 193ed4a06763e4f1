"""examples/nuclei_instances.py: the 4-fold cross-validation runs as a notebook (quick mode,
one fold) and its summary is the mean +- sd of the folds."""

import json

import pytest
from examples_util import PNG, load_example, run_notebook


@pytest.mark.slow
def test_nuclei_instances_quick_one_fold(tmp_path, monkeypatch):
    pytest.importorskip("stardist")
    pytest.importorskip("sklearn")
    text = run_notebook("nuclei_instances", ["--quick", "--folds", "1", "--out",
                                             str(tmp_path)], tmp_path, monkeypatch)
    for name in ["folds.png", "fold_1.png"]:
        assert (tmp_path / name).read_bytes()[:8] == PNG, name
    m = json.loads((tmp_path / "metrics.json").read_text())
    methods = set(m["per_fold"]["1"])
    assert len(methods) == 4 and any("random forest" in k for k in methods)
    otsu = m["per_fold"]["1"]["Otsu + distance-transform watershed"]
    # rows 128-255: every nucleus of the strip is counted, the validation rows only
    assert otsu["n_true"] > 20 and 0.0 <= otsu["ap"] <= 1.0
    assert "fold 1 (rows 128-255" in text and "mean +- sd" in (tmp_path / "cv.md").read_text()


def test_summary_is_mean_and_sample_sd_of_the_folds():
    example = load_example("nuclei_instances")
    keys = dict(f1=0.0, pq=0.0, dsb=0.5, aji=0.0, fg_iou=0.0)
    per_fold = {0: {"a": {"ap": 0.6, **keys}}, 1: {"a": {"ap": 0.8, **keys}},
                2: {"a": {"ap": 1.0, **keys}}}
    s = example.summarise(per_fold)["a"]
    assert s["ap"] == pytest.approx((0.8, 0.2)) and s["dsb"] == (0.5, 0.0)
    table = example.cv_table(per_fold, example.summarise(per_fold))
    assert "| a | 0.600 | 0.800 | 1.000 | 0.800 +- 0.200 |" in table
