"""Shared by the example tests: import a script from examples/, execute it as a notebook, and
check its PNGs."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


def load_example(name: str):
    """Import ``examples/<name>.py`` as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_notebook(name: str, args: list[str], cwd: Path, monkeypatch) -> str:
    """Execute ``examples/<name>.py`` as a Jupyter notebook (jupytext reads its ``# %%``
    cells; nbclient runs them in a fresh kernel, offline) with the example's options
    ``args`` (through ``NUMCNN_EXAMPLE_ARGS``), in folder ``cwd``.

    Returns everything the cells printed; a cell that raises fails the test with the
    notebook's traceback.
    """
    import shlex

    import jupytext
    import nbclient

    notebook = jupytext.read(EXAMPLES / f"{name}.py", fmt="py:percent")
    assert sum(c.cell_type == "markdown" for c in notebook.cells) >= 2, "few markdown cells"
    monkeypatch.setenv("NUMCNN_EXAMPLE_ARGS", shlex.join(args))
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()
    text, images = [], 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                text.append(output["text"])
            images += "image/png" in output.get("data", {})
    assert images > 0, f"{name}: the notebook showed no figure"
    return "".join(text)


def assert_pngs(folder: Path, names: list[str]) -> None:
    for name in names:
        path = folder / name
        assert path.exists(), f"{name} was not written"
        assert path.read_bytes()[:8] == PNG, f"{name} is not a PNG"
