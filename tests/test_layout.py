"""The package's layout: the import paths assignments and bundles use keep working, no module
imports itself back through others, and the child's code stays import-light."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "grader"

#: Import paths used by assignments' checks, probes, preludes and feedback hooks, and by
#: Gradescope bundles made before the layout changed: they must keep working.
KEPT = {
    "grader.authoring": ["check", "assert_close", "assert_integer", "describe", "note", "attach",
                         "load_sibling", "as_array", "StudentError"],
    "grader.cli": ["main"],
    "grader.spec": ["Assignment", "load_assignment", "Limits"],
    "grader.grading": ["GradeOptions", "grade", "rescore"],
    "grader.observations": ["Observations"],
    "grader.results": ["SubmissionResult"],
    "grader.plan": ["make_plan", "provide_files"],
    "grader.files": ["load_module"],
    "grader.feedback": ["GridRow", "ImageGrid", "FeedbackContext", "write_feedback", "html_page"],
    "grader.child": ["profile"],
    "grader.templates": ["main", "run_autograder"],
}


@pytest.mark.parametrize("module", sorted(KEPT))
def test_kept_import_paths(module):
    imported = importlib.import_module(module)
    missing = [name for name in KEPT[module]
               if not hasattr(imported, name) and not _submodule(f"{module}.{name}")]
    assert not missing, f"{module} lost {missing}"


def _submodule(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """The grader modules ``path`` imports when it is imported (not inside functions)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("grader"):
            if node.module != "grader":  # `from grader import wire` imports grader.wire
                found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("grader"))
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "stand_ins" not in p.parts}


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
        or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _all_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The grader modules ``path`` imports anywhere: at module level, inside functions and
    classes (run when called, they close a circle all the same), but not under
    ``if TYPE_CHECKING:`` (never run)."""
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while pending:
        node = pending.pop()
        if _is_type_checking(node):
            pending.extend(node.orelse)  # type: ignore[attr-defined]
            continue
        if isinstance(node, ast.ImportFrom) and node.module and not node.level \
                and node.module.startswith("grader"):
            # `from grader import wire` imports grader.wire; `from grader import x` the package
            found.update(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules
                         else node.module for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("grader"))
        pending.extend(ast.iter_child_nodes(node))
    return found


def _packages_above(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts))}


def _graph() -> dict[str, set[str]]:
    """Which grader module imports which, function-level imports included. Importing
    ``a.b.c`` runs ``a/b/__init__.py`` first: that package counts as imported too, unless it
    holds the importing module (then it is being imported already)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for target in _all_imports(path, modules) & set(modules):
            targets.add(target)
            targets.update(_packages_above(target) - _packages_above(name) - {name})
        graph[name] = targets & set(modules) - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle for each back edge a depth-first walk finds (none: no circle)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return found


def test_the_import_graph_reads_imports_inside_functions_but_not_type_checking(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from grader import wire\n"
        "if TYPE_CHECKING:\n"
        "    from grader.grading import grade\n"
        "else:\n"
        "    import grader.files\n"
        "def later():\n"
        "    from grader.spec import load_assignment\n"
        "    from grader import __version__\n", encoding="utf-8")
    found = _all_imports(source, _modules())
    assert found == {"grader.wire", "grader.files", "grader.spec", "grader"}
    assert "grader.tools.check" in _graph()["grader"]  # what grader.check() imports when called


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_cluster_and_batch_do_not_import_each_other():
    graph = _graph()
    assert "grader.grading" not in graph["grader.execution.cluster"]
    source = (PACKAGE / "execution" / "cluster.py").read_text(encoding="utf-8")
    assert "grader.grading" not in source


CHILD_ALLOWED = ("grader.wire", "grader.child")


@pytest.mark.parametrize("module", ["runner", "job", "dispatch", "zygote", "profile"])
def test_the_childs_code_imports_only_what_the_child_has(module):
    """The child imports the standard library, numpy, IPython and these modules only."""
    imported = _top_level_imports(PACKAGE / "child" / f"{module}.py")
    assert all(name.startswith(CHILD_ALLOWED) for name in imported), imported


def test_grader_help_does_not_import_the_pipeline():
    before = set(sys.modules)
    importlib.import_module("grader.cli")
    loaded = set(sys.modules) - before
    assert not {m for m in loaded if m.startswith(("grader.execution", "grader.scoring", "grader.checks",
                                                     "tensorflow"))}
