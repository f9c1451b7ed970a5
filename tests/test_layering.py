"""The domain imports neither Flask nor Celery (style.md practice 1)."""

import ast
from pathlib import Path

import pytest

TRACKER = Path(__file__).resolve().parents[1] / "tracker"
FORBIDDEN = ("flask", "celery", "kombu", "werkzeug", "web", "workers")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


# `tracker run` is the one-command launcher: it starts the web adapter and spawns Celery by command
# line. It is an entry point, not domain logic, and the one module allowed to know the adapters.
LAUNCHER = TRACKER / "ops" / "runner.py"
DOMAIN_MODULES = sorted(p for p in TRACKER.rglob("*.py") if p != LAUNCHER)


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=lambda p: str(p.relative_to(TRACKER)))
def test_domain_module_imports_no_framework(path):
    assert not (_imports(path) & set(FORBIDDEN)), f"{path} imports {_imports(path) & set(FORBIDDEN)}"


def test_forbidden_import_is_detected(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from flask import Flask\nimport celery.app\n")
    assert _imports(sample) & set(FORBIDDEN) == {"flask", "celery"}


# -- no import cycles in tracker/ (issue 16 item 6) ------------------------------------------------------
#
# Every import counts, wherever it is written: at module level, inside a function (a late import hides a
# circle from Python, not from a reader) or under TYPE_CHECKING. An edge goes to the deepest module of
# the package an import names (`from tracker.schema import Ticket` -> tracker.schema, whose __init__
# imports every model module; `from tracker import reference` -> tracker.reference), and to the packages
# around it, whose __init__ runs first.


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """The modules of the package at `root` (migrations left out) and the modules of it each imports."""
    paths = [p for p in root.rglob("*.py") if "migrations" not in p.relative_to(root).parts]
    names = {p: _module_name(p, root) for p in paths}
    known = set(names.values())
    graph: dict[str, set[str]] = {}
    for path, name in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                candidates = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for candidate in candidates:
                while candidate and candidate not in known:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name:
                    targets.add(candidate)
        # Importing a.b.c runs a.b's __init__ first (tracker.ops.models runs tracker/schema.py,
        # which imports every model module): an edge to each enclosing package but the module's own.
        for target in list(targets):
            package_of_target = target.rpartition(".")[0]
            while package_of_target:
                if package_of_target in known and not f"{name}.".startswith(f"{package_of_target}."):
                    targets.add(package_of_target)
                package_of_target = package_of_target.rpartition(".")[0]
        graph[name] = targets
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle as one path through it that returns to its start (one per strongly connected group)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_through(graph, group) for group in groups]


def _path_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest way from the group's first module back to itself, staying inside the group."""
    start = min(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {sorted(group)}")


def test_tracker_has_no_import_cycles():
    cycles = import_cycles(import_graph(TRACKER))
    assert not cycles, "import cycles in tracker/ (break each by moving code to its layer):\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


def test_an_import_cycle_is_found_even_through_a_function_level_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "low.py").write_text("def f():\n    from pkg.sub import high\n    return high\n")
    (package / "sub" / "high.py").write_text("from .. import low\n")
    (package / "alone.py").write_text("import pkg.low\n")
    assert import_cycles(import_graph(package)) == [["pkg.low", "pkg.sub.high", "pkg.low"]]


def test_an_import_cycle_through_a_package_init_is_found(tmp_path):
    # pkg.low imports pkg.sub.leaf, which Python reaches through pkg/sub/__init__.py, which imports pkg.low.
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from pkg import low\n")
    (package / "sub" / "leaf.py").write_text("")
    (package / "low.py").write_text("from pkg.sub.leaf import *\n")
    assert import_cycles(import_graph(package)) == [["pkg.low", "pkg.sub", "pkg.low"]]


# -- web/ reaches workers/ through one module ------------------------------------------------------------

WEB = TRACKER.parent / "web"
WORKERS_HOOK = WEB / "tasks.py"


def test_web_imports_workers_only_in_its_one_hook():
    importers = sorted(
        str(path.relative_to(WEB.parent)) for path in WEB.rglob("*.py") if "workers" in _imports(path)
    )
    assert importers == [str(WORKERS_HOOK.relative_to(WEB.parent))]
