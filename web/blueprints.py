"""Every module in web/views/ exposes a blueprint `bp`; they are registered in name order."""

from __future__ import annotations

import importlib
import pkgutil

from flask import Blueprint

import web.views


def registered_blueprints() -> list[Blueprint]:
    blueprints = []
    for module_info in sorted(pkgutil.iter_modules(web.views.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"web.views.{module_info.name}")
        if isinstance(getattr(module, "bp", None), Blueprint):
            blueprints.append(module.bp)
    return blueprints
