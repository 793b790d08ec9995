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


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "stand_ins" not in p.parts}
    return {name: {m for m in _top_level_imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target] if target in path else [node, target]
                # a package's __init__ re-exporting its own modules is not a cycle
                if not all(m.startswith(cycle[0]) or cycle[0].startswith(m) for m in cycle):
                    raise AssertionError(" -> ".join(cycle))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


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
    assert not {m for m in loaded if m.startswith(("grader.execution", "grader.scoring", "tensorflow"))}
