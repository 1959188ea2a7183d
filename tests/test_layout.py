"""The shape of the code: measuring stays apart from answering, the product's modules import one
another without a cycle, and no tracked file names a path on one machine."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ROOT / "assistant"
EVAL = PRODUCT / "eval"
# The command line dispatches `assistant eval` / `bench` to the measuring code, inside the
# commands (so `assistant --help` stays cheap): it may import assistant.eval, in a function only.
COMMAND_LINE = PRODUCT / "cli.py"


def package_of(path: Path) -> tuple[str, ...]:
    """The dotted package a file's relative imports start from (assistant/x.py -> assistant)."""
    return path.relative_to(ROOT).with_suffix("").parts[:-1]


def imports(path: Path, tree: ast.AST | None = None) -> list[tuple[ast.AST, str, bool]]:
    """(node, absolute module name, relative?) for every import anywhere in the file (functions,
    classes and `if` blocks too), `from x import y` counted as x and as x.y, and every
    `import_module("...")` with a constant name."""
    tree = tree or ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node, alias.name, False) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = package_of(path)
                parent = pkg[:len(pkg) - node.level + 1] if node.level <= len(pkg) else ()
                base = ".".join((*parent, *([node.module] if node.module else [])))
            else:
                base = node.module or ""
            out.append((node, base, bool(node.level)))
            out += [(node, f"{base}.{alias.name}" if base else alias.name, bool(node.level))
                    for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            name = node.args[0].value
            out.append((node, "assistant" + name if name.startswith(".") else name, False))
    return out


def is_eval(name: str) -> bool:
    return name == "assistant.eval" or name.startswith("assistant.eval.")


def relative_eval(node: ast.AST) -> bool:
    """`from .eval ...`, `from ..eval ...`, `from . import eval`, wherever the dots lead."""
    if not isinstance(node, ast.ImportFrom) or not node.level:
        return False
    if node.module:
        return node.module.split(".")[0] == "eval"
    return any(alias.name == "eval" for alias in node.names)


def outside_eval() -> list[Path]:
    files = [p for p in PRODUCT.rglob("*.py") if EVAL not in p.parents]
    return sorted(files + list((ROOT / "ui").rglob("*.py")))


def test_nothing_on_the_answer_path_imports_the_measuring_code():
    offenders = []
    for path in outside_eval():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        top_level = {id(n) for n in tree.body}
        for node, name, _relative in imports(path, tree):
            if not (is_eval(name) or relative_eval(node)):
                continue
            if path == COMMAND_LINE and id(node) not in top_level:
                continue  # inside a command: loaded when that command runs
            offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert offenders == [], "assistant.eval is for measuring; the product must not import it:\n  " \
        + "\n  ".join(sorted(set(offenders)))


def test_the_layout_check_sees_every_form_of_import(tmp_path):
    # The check itself: absolute, relative (one and two dots), `from . import eval`, and an
    # import hidden in a function all count.
    sample = PRODUCT / "sample.py"  # only a name for resolving the dots; nothing is written there
    source = ("import assistant.eval.gold\n"
              "from assistant.eval import report\n"
              "from .eval.squad import thin\n"
              "from . import eval\n"
              "def later():\n"
              "    from ..eval import gold\n")
    found = [(n.lineno, is_eval(name) or relative_eval(n)) for n, name, _ in imports(sample, ast.parse(source))]
    assert {line for line, flagged in found if flagged} == {1, 2, 3, 4, 6}


def product_modules() -> dict[str, Path]:
    """Each module of the product (assistant/*.py) by its short name; the package is 'assistant'."""
    return {("assistant" if p.stem == "__init__" else p.stem): p for p in sorted(PRODUCT.glob("*.py"))}


def import_graph() -> dict[str, set[str]]:
    """Module -> the product modules it imports, anywhere in the file (functions included)."""
    modules = product_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node, imported, _relative in imports(path):
            parts = imported.split(".")
            if parts[0] != "assistant":
                continue
            if isinstance(node, ast.ImportFrom) and imported == "assistant":
                continue  # `from . import llm`: the names imported count, each on its own
            if len(parts) == 1:
                target = "assistant"
            elif parts[1] in modules:
                target = parts[1]
            elif parts[1] == "eval":
                continue  # the measuring code: kept out by the test above
            else:
                target = "assistant"  # `from assistant import Document`: the package itself
            if target != name:
                graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as [a, b, ..., a], or [] when the graph is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_find_cycle_reports_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_product_modules_import_one_another_without_a_cycle():
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle == [], "import cycle among assistant's modules: " + " -> ".join(cycle)


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.decode("utf-8").split("\0") if name]


def test_no_tracked_file_names_an_absolute_work_path():
    needle = b"/" + b"work/"  # spelt in two pieces so this file does not match itself
    found = []
    for path in tracked_files():
        if not path.is_file():
            continue  # deleted in the working tree, not yet in a commit
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        for lineno, line in enumerate(data.splitlines(), start=1):
            if needle in line:
                found.append(f"{path.relative_to(ROOT)}:{lineno}: {line.decode('utf-8', 'replace').strip()[:120]}")
    assert found == [], "a machine's absolute path in a tracked file (use a setting or a relative path):\n  " \
        + "\n  ".join(found)


# -- the README is a map: short, and everything it names exists --------------------------------
README = ROOT / "README.md"
NAMED = re.compile(r"`((?:assistant|ui|corpus|docs|scripts|tests|\.ci)/[\w./-]*)`|\]\(((?:docs/)?[\w./-]+\.(?:md|png))\)")


def test_the_readme_stays_under_10_kb():
    assert README.stat().st_size < 10_000, f"README.md is {README.stat().st_size} bytes; move detail to docs/"


def test_every_path_the_readme_names_exists():
    text = README.read_text(encoding="utf-8")
    named = {a or b for a, b in NAMED.findall(text)}
    assert len(named) > 40  # the file map is read, not an empty match
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == [], f"README.md names files that do not exist: {missing}"


def test_every_module_is_on_the_readme_map():
    text = README.read_text(encoding="utf-8")
    modules = [p.relative_to(ROOT).as_posix() for p in [*PRODUCT.glob("*.py"), *EVAL.glob("*.py"), *(ROOT / "ui").glob("*.py")]
               if p.name != "__init__.py" or p.parent == PRODUCT]
    unmapped = sorted(m for m in modules if f"`{m}`" not in text)
    assert unmapped == [], f"modules missing from README.md's file map: {unmapped}"
