"""Every example is also a notebook: a percent-format script (``# %%`` cells) that jupytext
reads, whose last cell hands ``main`` to ``numcnn.notebook.run_example``.  The notebooks are
executed (quick mode) by tests/test_examples_teaching.py and tests/test_examples_training.py;
examples without such a test are executed here."""

import ast
import re
from pathlib import Path

import pytest
from examples_util import EXAMPLES, run_notebook

from numcnn import notebook

SCRIPTS = sorted(EXAMPLES.glob("*.py"))
TESTS = Path(__file__).resolve().parent


def executed_elsewhere() -> set[str]:
    names = set()
    for path in TESTS.glob("test_*.py"):
        if path.name != Path(__file__).name:
            names |= set(re.findall(r'run_notebook\(\s*"(\w+)"', path.read_text()))
    return names


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_example_is_a_percent_notebook(path):
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(path, fmt="py:percent")
    kinds = [c.cell_type for c in nb.cells]
    assert kinds[0] == "markdown" and kinds.count("code") >= 2, kinds
    assert nb.cells[0].source.startswith("# "), "the first cell is the title"
    last = ast.parse(nb.cells[-1].source).body[-1]
    assert isinstance(last, ast.If) and "run_example(main" in ast.unparse(last), (
        "the last cell must be: if __name__ == '__main__': run_example(main, 'runs/...')")


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in SCRIPTS if p.stem not in executed_elsewhere()],
                         ids=lambda p: p.stem)
def test_other_examples_execute_as_notebooks(path, tmp_path, monkeypatch):
    run_notebook(path.stem, ["--quick", "--out", str(tmp_path)], tmp_path, monkeypatch)


def test_run_example_as_a_script_exits_with_mains_status(monkeypatch):
    seen = []

    def main(argv):
        seen.append(argv)
        return 3

    monkeypatch.setattr("sys.argv", ["example.py", "--quick", "--out", "x"])
    with pytest.raises(SystemExit) as stop:
        notebook.run_example(main, "runs/x")
    assert stop.value.code == 3 and seen == [["--quick", "--out", "x"]]
    assert not notebook.in_notebook()


def test_the_output_folder_is_read_from_the_options():
    assert notebook._out_folder(["--quick", "--out", "a/b"], "runs/x") == Path("a/b")
    assert notebook._out_folder(["--out=c"], "runs/x") == Path("c")
    assert notebook._out_folder(["--quick"], "runs/x") == Path("runs/x")
