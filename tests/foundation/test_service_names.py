"""Service names: every public function of every app's services is named once across the apps,
so ``publish_tariff_version`` or ``post_journal_entry`` says which use case it is anywhere."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import defaultdict
from types import ModuleType

import gridvend
from gridvend.transactions import UseCase

# Use-case modules that sit beside an app's services rather than inside them.
_BESIDE_SERVICES = ("gridvend.meters.faults", "gridvend.meters.keychanges")


def _service_modules() -> dict[str, list[ModuleType]]:
    by_app: dict[str, list[ModuleType]] = defaultdict(list)
    for app in pkgutil.iter_modules(gridvend.__path__):
        if not app.ispkg:
            continue
        name = f"gridvend.{app.name}.services"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        by_app[app.name].append(module)
        if hasattr(module, "__path__"):
            for sub in pkgutil.iter_modules(module.__path__):
                by_app[app.name].append(importlib.import_module(f"{name}.{sub.name}"))
    for name in _BESIDE_SERVICES:
        by_app[name.split(".")[1]].append(importlib.import_module(name))
    return by_app


def _public_functions(module: ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if (inspect.isfunction(value) or isinstance(value, UseCase))
        and value.__module__ == module.__name__
        and not name.startswith("_")
    }


def test_the_walk_finds_the_services_of_every_app_with_use_cases() -> None:
    apps = _service_modules()
    assert {
        "identity",
        "org",
        "customers",
        "tariffs",
        "meters",
        "keys",
        "ledger",
        "vending",
    } <= set(apps)
    assert "publish_tariff_version" in _public_functions(apps["tariffs"][0])


def test_public_service_functions_are_named_once_across_apps() -> None:
    apps_by_name: dict[str, set[str]] = defaultdict(set)
    for app, modules in _service_modules().items():
        for module in modules:
            for name in _public_functions(module):
                apps_by_name[name].add(app)
    shared = {name: sorted(apps) for name, apps in apps_by_name.items() if len(apps) > 1}
    assert shared == {}
