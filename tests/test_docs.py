"""The documentation in docs/ (and README.md) stays true to the code.

1. Every code reference resolves: dotted ``numcnn.*`` names in inline code (the module is
   imported and each further part looked up with getattr), ``tests/<file>.py::<test>``
   references (the test function is found in the file's AST), repository paths in inline
   code (``numcnn/kernels/conv.py``), and relative Markdown links between files (with their
   ``#anchor`` when they point into a Markdown page).
2. Every fenced block whose info string is ``python run`` executes without error, in a
   fresh namespace, in a temporary working directory, with ``MPLBACKEND=Agg``.  Plain
   ``python`` blocks are fragments and are not run.
"""

from __future__ import annotations

import ast
import importlib
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
CHECKED = [*PAGES, ROOT / "README.md"]  # references resolve and run blocks run here too

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
DOTTED = re.compile(r"(?<![\w.])numcnn(?:\.[A-Za-z_]\w*)+")
TEST_REF = re.compile(r"(tests/[\w/]+\.py)::(\w+)(?:::(\w+))?")
REPO_PATH = re.compile(r"^(?:numcnn|tests|benchmarks|docs|examples)/[\w/.-]*\w$"
                       r"|^(?:Makefile|pyproject\.toml|README\.md)$")
LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


# ------------------------------------------------------------------------------ parsing
def split_page(text: str) -> tuple[list[tuple[int, str, str]], str]:
    """Fenced blocks as (first line number, info string, code), and the prose with every
    fenced block blanked out (line numbers kept)."""
    blocks, prose = [], []
    lines = text.split("\n")
    k = 0
    while k < len(lines):
        m = FENCE.match(lines[k])
        if not m or (m["fence"][0] == "`" and "`" in m["info"]):  # CommonMark: not a fence
            prose.append(lines[k])
            k += 1
            continue
        fence, info, start = m["fence"], m["info"].strip(), k + 1
        body = []
        k += 1
        while k < len(lines):
            close = FENCE.match(lines[k])
            if (close and close["fence"][0] == fence[0] and len(close["fence"]) >= len(fence)
                    and not close["info"].strip()):
                break
            body.append(lines[k])
            k += 1
        prose.extend([""] * (len(body) + 2))
        blocks.append((start, info, "\n".join(body)))
        k += 1
    return blocks, "\n".join(prose)


def inline_code(prose: str) -> list[tuple[int, str]]:
    """(line number, content) of every inline code span."""
    out = []
    for lineno, line in enumerate(prose.split("\n"), start=1):
        for m in INLINE_CODE.finditer(line):
            out.append((lineno, m.group(2).strip()))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LNM")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    _, prose = split_page(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for line in prose.split("\n"):
        m = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


# ----------------------------------------------------------------------------- resolving
def resolve(dotted: str) -> str | None:
    """None if ``dotted`` names an importable module or an attribute of one, else why not."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and (name == e.name or name.startswith(e.name + ".")):
                continue  # this prefix is not a module: try a shorter one
            return f"importing {name} failed: {e}"
        except Exception as e:  # noqa: BLE001 (any import failure is a dead reference)
            return f"importing {name} failed: {type(e).__name__}: {e}"
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return f"{name} has no attribute {attr!r}"
            obj = getattr(obj, attr)
            name = f"{name}.{attr}"
        return None
    return "no such module"


_TEST_NAMES: dict[Path, set[str]] = {}


def functions_in(path: Path) -> set[str]:
    """Function names in a test file: 'test_x' at top level, 'Class::test_x' in classes."""
    if path not in _TEST_NAMES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.ClassDef):
                names.update(f"{node.name}::{f.name}" for f in node.body
                             if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)))
        _TEST_NAMES[path] = names
    return _TEST_NAMES[path]


def dead_references(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    _, prose = split_page(text)
    where = page.relative_to(ROOT)
    dead = []
    for lineno, code in inline_code(prose):
        for dotted in DOTTED.findall(code):
            why = resolve(dotted)
            if why:
                dead.append(f"{where}:{lineno}: `{dotted}`: {why}")
        if REPO_PATH.match(code) and not (ROOT / code).exists():
            dead.append(f"{where}:{lineno}: `{code}`: no such file in the repository")
    for lineno, line in enumerate(prose.split("\n"), start=1):
        for m in TEST_REF.finditer(line):
            file, func, method = m.group(1), m.group(2), m.group(3)
            name = f"{func}::{method}" if method else func
            path = ROOT / file
            if not path.is_file():
                dead.append(f"{where}:{lineno}: {file}::{name}: no such test file")
            elif name not in functions_in(path):
                dead.append(f"{where}:{lineno}: {file}::{name}: no such test in {file}")
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                dead.append(f"{where}:{lineno}: link ({target}): {file} does not exist")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                dead.append(f"{where}:{lineno}: link ({target}): no heading "
                            f"#{anchor} in {path.name}")
    return dead


# --------------------------------------------------------------------------------- tests
def test_docs_exist():
    assert (DOCS / "index.md").is_file(), "docs/index.md is missing"


def test_every_reference_resolves():
    dead = [d for page in CHECKED for d in dead_references(page)]
    assert not dead, (f"{len(dead)} dead reference(s) in docs/ or README.md:\n  "
                      + "\n  ".join(dead))


def test_every_page_is_linked_from_the_index():
    _, prose = split_page((DOCS / "index.md").read_text(encoding="utf-8"))
    linked = {(DOCS / m.group(1).partition("#")[0]).resolve()
              for m in LINK.finditer(prose) if not re.match(r"^[a-z]+:", m.group(1))}
    orphans = [p.name for p in PAGES if p.name != "index.md" and p.resolve() not in linked]
    assert not orphans, f"pages not linked from docs/index.md: {orphans}"


def _run_blocks():
    cases = []
    for page in CHECKED:
        blocks, _ = split_page(page.read_text(encoding="utf-8"))
        for lineno, info, code in blocks:
            if info.split()[:2] == ["python", "run"]:
                cases.append(pytest.param(page, lineno, code, id=f"{page.name}:{lineno}"))
    return cases


RUN_BLOCKS = _run_blocks()


def test_there_are_runnable_examples():
    assert RUN_BLOCKS, "no ```python run blocks found in docs/"


@pytest.mark.parametrize("page, lineno, code", RUN_BLOCKS)
def test_runnable_block(page, lineno, code, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    filename = f"{page.relative_to(ROOT)}:{lineno}"
    compiled = compile(code, filename, "exec")
    namespace = {"__name__": "__docs__"}
    try:
        exec(compiled, namespace)  # noqa: S102 (running the documentation is the test)
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"the ```python run block at {filename} raised {type(e).__name__}: {e}")


def test_api_reference_is_generated_from_the_code():
    from numcnn import _apidoc

    expected = _apidoc.render().split("\n")
    actual = (DOCS / "api.md").read_text(encoding="utf-8").split("\n")
    if actual != expected:
        import difflib
        diff = list(difflib.unified_diff(actual, expected, "docs/api.md", "the code", n=0,
                                         lineterm=""))
        pytest.fail(f"docs/api.md differs from the code: run `{_apidoc.COMMAND}`\n"
                    + "\n".join(diff[:40]))
