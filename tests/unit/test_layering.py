"""The domain imports neither Flask nor Celery (style.md practice 1)."""

import ast
from pathlib import Path

import pytest

TRACKER = Path(__file__).resolve().parents[2] / "tracker"
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
LAUNCHER = TRACKER / "runner.py"
DOMAIN_MODULES = sorted(p for p in TRACKER.rglob("*.py") if p != LAUNCHER)


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=lambda p: str(p.relative_to(TRACKER)))
def test_domain_module_imports_no_framework(path):
    assert not (_imports(path) & set(FORBIDDEN)), f"{path} imports {_imports(path) & set(FORBIDDEN)}"


def test_forbidden_import_is_detected(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from flask import Flask\nimport celery.app\n")
    assert _imports(sample) & set(FORBIDDEN) == {"flask", "celery"}
