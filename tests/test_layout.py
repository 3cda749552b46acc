"""The package's shape: imports go one way down the data path, at module level, with no cycles.

    cli -> study -> report -> evaluate | profile | fidelity -> prune -> models -> tasks -> leaves

Leaves (errors, store, provenance, packages) import only each other. Stages of the same rank
(evaluate, profile, fidelity) do not import each other. Imports of the package's own modules inside
functions are refused (they hide the dependency graph); typing-only imports are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "glu_prune"
RANK = {"errors": 0, "store": 0, "provenance": 0, "packages": 0, "tasks": 1, "models": 2, "prune": 3,
        "evaluate": 4, "profile": 4, "fidelity": 4, "report": 5, "study": 6, "cli": 7}  # fmt: skip


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """(imported module of this package, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text())
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}  # fmt: skip
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        top = node.col_offset == 0
        found += [(t, top) for t in targets if t.startswith("glu_prune.")]
    return found


def stage(module: str) -> str:
    name = module.split(".")[1]
    return "cli" if name == "__main__" else name  # `python -m glu_prune`: the command line


def test_imports_point_down_the_data_path_at_module_level():
    mods = modules()
    problems = []
    for name, path in mods.items():
        if name == "glu_prune":
            continue
        for target, top in imports(name, path):
            if target not in mods:
                continue  # a name imported from a module, already counted as the module
            here, there = stage(name), stage(target)
            if not top:
                problems.append(f"{name} imports {target} inside a function")
            if here != there and (RANK[there] > RANK[here] or (RANK[there] == RANK[here] and RANK[here] > 0)):
                problems.append(f"{name} imports {target}: {here} may not depend on {there}")
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    mods = modules()
    graph = {m: {t for t, _ in imports(m, p) if t in mods and t != m and not m.startswith(t + ".")}
             for m, p in mods.items()}  # fmt: skip
    state: dict[str, int] = {}

    def visit(m, trail):
        if state.get(m) == 1:
            raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(m) :] + [m]))
        if state.get(m) == 2:
            return
        state[m] = 1
        for t in sorted(graph[m]):
            visit(t, trail + [m])
        state[m] = 2

    for m in sorted(graph):
        visit(m, [])


def test_every_stage_has_a_rank():
    stages = {stage(m) for m in modules() if m != "glu_prune"}
    assert stages == set(RANK)


def test_functions_and_modules_stay_small():
    """No function over 60 lines, no module over 350 (the limits of the layout issue)."""
    long_functions, long_modules = [], []
    for name, path in modules().items():
        text = path.read_text()
        if len(text.splitlines()) > 350:
            long_modules.append(f"{name} ({len(text.splitlines())} lines)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    long_functions.append(f"{name}.{node.name} ({length} lines)")
    assert not long_functions and not long_modules, "\n".join(long_functions + long_modules)
