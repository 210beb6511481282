"""The error catalogue: each code is declared once, renders, and reads in Arabic and Chinese."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

import gridvend
from gridvend import errors as catalogue_module
from gridvend.kernel import errors as kernel_errors
from gridvend.kernel.errors import CatalogueEntry, DomainError

SOURCE = Path(gridvend.__file__).parent
ROOT = SOURCE.parent

# sts is the pure token engine with its own errors; migrations freeze old code.
UNCONVERTED_DIRS = ("sts", "migrations")
# Abstract bases: they group codes and declare none themselves.
BASES = {
    "FaultRefused",
    "DecisionRefused",
    "VendingRefused",
    "ShiftError",
    "PartnerRefused",
    "CredentialRefused",
    "ReadingRefused",
    "WalletRefused",
}
# Params a template may show that are derived in display_params() rather than given.
DISPLAY_ONLY = {"INVALID_INPUT": {"example"}}
# Sentences that read the same in a language (none today); each needs a reason beside it.
IDENTICAL: dict[str, set[str]] = {"ar": set(), "zh-hans": set()}

_CODE_ARGUMENT = re.compile(
    r"(?:Error|Refused|_refuse|super\(\)\.__init__)\(\s*\"([A-Z][A-Z0-9_]+)\"", re.MULTILINE
)
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(SOURCE)], prefix="gridvend."):
        parts = info.name.split(".")
        if any(part in UNCONVERTED_DIRS or part == "__main__" for part in parts):
            continue
        if parts[1] in ("settings", "wsgi") or "management" in parts:
            continue
        names.append(info.name)
    return names


def _entries() -> list[CatalogueEntry]:
    catalogue_module.load_catalogue()
    return list(kernel_errors.catalogue_entries())


def _templates(entry: CatalogueEntry) -> list[Any]:
    return [entry.template, *entry.variants.values()]


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def test_every_error_class_declares_a_registered_code():
    for name in _modules():
        importlib.import_module(name)
    registered = {entry.code for entry in _entries()}
    for cls in _subclasses(DomainError):
        module = cls.__module__
        if not module.startswith("gridvend.") or module.split(".")[1] in UNCONVERTED_DIRS:
            continue
        if cls.__name__ in BASES:
            continue
        assert cls.code in registered, f"{module}.{cls.__name__} raises an undeclared code"


def test_no_refusal_is_raised_with_a_bare_code_string():
    # A bare ``SomeError("CODE", message)`` would carry a fixed sentence past the catalogue.
    sample = 'raise DomainError(\n    "SOME_CODE", _("Words."))'
    assert _CODE_ARGUMENT.findall(sample) == ["SOME_CODE"], "the pattern is out of date"
    raised = {}
    for path in SOURCE.rglob("*.py"):
        if any(part in UNCONVERTED_DIRS for part in path.relative_to(SOURCE).parts):
            continue
        for code in _CODE_ARGUMENT.findall(path.read_text(encoding="utf-8")):
            raised[code] = str(path.relative_to(SOURCE))
    assert not raised, f"raise these through their error classes: {raised}"


def test_a_code_declared_twice_fails_at_import():
    with pytest.raises(TypeError, match="declared twice"):

        class Again(DomainError):
            code = "METER_BLOCKED"
            message_template = "Again."


def test_a_code_without_a_template_fails_at_import():
    with pytest.raises(TypeError, match="no message_template"):

        class Silent(DomainError):
            code = "SILENT_TEST_ONLY"


def test_every_template_renders_with_its_declared_params():
    for entry in _entries():
        allowed = set(entry.params) | DISPLAY_ONLY.get(entry.code, set())
        for template in _templates(entry):
            english = str(template)
            used = set(_PLACEHOLDER.findall(english))
            assert used <= allowed, f"{entry.code}: {english!r} uses {used - allowed}"
            rendered = english % {name: "X" for name in allowed}
            assert "%(" not in rendered and rendered[:1].strip()


@pytest.mark.parametrize("language", ["ar", "zh-hans"])
def test_every_template_is_translated(language):
    untranslated = []
    for entry in _entries():
        for template in _templates(entry):
            with translation.override(None):
                english = str(template)
            with translation.override(language):
                translated = str(template)
            if translated == english and english not in IDENTICAL[language]:
                untranslated.append(f"{entry.code}: {english}")
            assert set(_PLACEHOLDER.findall(translated)) == set(_PLACEHOLDER.findall(english))
    assert not untranslated


def test_an_error_reads_in_the_language_active_when_its_message_is_read():
    from gridvend.meters.errors import MeterNumberTaken

    error = MeterNumberTaken(meter_number="01234567890")
    with translation.override("en"):
        english = error.message
    with translation.override("ar"):
        arabic = error.message
    assert "01234567890" in english and "01234567890" in arabic and english != arabic
    assert error.as_dict()["params"] == {"meter_number": "01234567890"}


def test_the_catalogue_lists_code_app_template_and_params():
    items = {item.code: item for item in catalogue_module.catalogue()}
    blocked = items["METER_BLOCKED"]
    assert (blocked.app, blocked.params) == ("kernel", ("meter_number", "reason"))
    assert blocked.template == "Meter %(meter_number)s is blocked. Tokens cannot be sold for it."
    assert items["TARIFF_STATE_INVALID"].variant_param == "action"
    assert items["PERMISSION_DENIED"].app == "identity"


def test_docs_errors_md_lists_the_current_catalogue():
    text = (ROOT / catalogue_module.DOC_PATH).read_text(encoding="utf-8")
    start = text.index(catalogue_module.DOC_BEGIN)
    end = text.index(catalogue_module.DOC_END) + len(catalogue_module.DOC_END)
    assert text[start:end] == catalogue_module.catalogue_markdown(), "run `make errors-doc`"
