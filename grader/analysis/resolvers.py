"""The catalogue of library functions that hand back an object by name: imports
(``__import__``, ``importlib.import_module``), resolvers (``pkgutil.resolve_name``), pass-through
wrappers (``functools.partial``), the namespace dictionaries (``globals()``) and ``eval``/``exec``.

Students reach forbidden APIs through these rather than through an ``import`` statement; the
analyser asks this module what such a call returns.
"""

from __future__ import annotations

import ast
import builtins

from grader.analysis.syntax import const_str

#: Names every module has: a name bound nowhere else denotes ``builtins.<name>``.
BUILTINS = frozenset(dir(builtins))
#: Functions that import the module named by their first argument.
IMPORT_FUNCS = frozenset(
    {"builtins.__import__", "importlib.import_module", "importlib.__import__"}
)
#: Functions that run code given as a string (a constant one is analysed as code).
EVAL_FUNCS = frozenset({"builtins.eval", "builtins.exec"})
#: Functions that return the object a dotted name denotes, like an import does.
RESOLVE_FUNCS = frozenset({"pkgutil.resolve_name", "importlib.util.find_spec",
                            "importlib.util.resolve_name"})
#: Functions returning what they were given, for this analysis (a spec is its module).
PASS_FUNCS = frozenset({"functools.partial", "importlib.util.module_from_spec"})
#: The namespace dictionaries of the running code: ``globals()['np'].convolve``.
NAMESPACE_FUNCS = frozenset({"builtins.globals", "builtins.locals", "builtins.vars"})


def import_target(call: ast.Call, callee: set[str]) -> tuple[str, str] | None:
    """(module imported, value returned) when ``call`` imports a constant module name."""
    name = const_str(call.args[0]) if call.args else None
    if not name or name.startswith(".") or not callee & IMPORT_FUNCS:
        return None
    if callee & {"builtins.__import__", "importlib.__import__"} and not _has_fromlist(call):
        return name, name.split(".")[0]
    return name, name


def _has_fromlist(call: ast.Call) -> bool:
    """Whether ``__import__(..., fromlist=...)`` asks for the submodule itself."""
    fromlist = call.args[3] if len(call.args) > 3 else None
    for keyword in call.keywords:
        if keyword.arg == "fromlist":
            fromlist = keyword.value
    if fromlist is None:
        return False
    if isinstance(fromlist, ast.Constant):
        return bool(fromlist.value)
    if isinstance(fromlist, (ast.List, ast.Tuple)):
        return bool(fromlist.elts)
    return True
