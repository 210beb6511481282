"""The error catalogue seen from Django: translatable templates for the kernel's codes, and the
list of every code for the documentation and the channels.

The kernel is plain Python, so its error classes hold English templates; this module gives each
kernel code the same English as a ``gettext_lazy`` string (``makemessages`` skips the kernel), so a
kernel error reads in the user's language too. Importing it is enough; every channel's mapper does.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _

from gridvend.kernel import errors as kernel_errors
from gridvend.kernel.errors import CatalogueEntry, ErrorCode, translate_templates
from gridvend.kernel.inputs import InvalidInput

_KERNEL_TEMPLATES: dict[str, Any] = {
    ErrorCode.METER_NOT_FOUND: _(
        "No meter %(meter_number)s was found. Check the number and try again."
    ),
    ErrorCode.METER_BLOCKED: _("Meter %(meter_number)s is blocked. Tokens cannot be sold for it."),
    ErrorCode.METER_RETIRED: _("Meter %(meter_number)s has been taken out of service."),
    ErrorCode.AMOUNT_BELOW_MINIMUM: _("The amount is too small. The smallest sale is %(minimum)s."),
    ErrorCode.AMOUNT_ABOVE_MAXIMUM: _("The amount is too large. The largest sale is %(maximum)s."),
    ErrorCode.TARIFF_NOT_FOUND: _("No tariff is in force for this customer. Ask a manager."),
    ErrorCode.TARIFF_INVALID: _("The tariff is not valid: %(field)s: %(problem)s."),
    ErrorCode.KEY_REVISION_EXPIRED: _(
        "This meter's key has expired. It needs a key change before tokens can be sold."
    ),
    ErrorCode.KEY_CHANGE_SAME_KEY: _(
        "The new key parameters of meter %(meter_number)s give the same decoder key as the "
        "current ones. Change the key revision number (KRN) or the vending key as well."
    ),
    ErrorCode.DUPLICATE_REQUEST: _("This request was already used for a different sale."),
    ErrorCode.INSUFFICIENT_FLOAT: _("There is not enough float for this sale."),
    ErrorCode.TENDER_BELOW_CHARGES_DUE: _(
        "The amount does not cover the charges owed on this meter. "
        "Pay at least %(required_minimum)s."
    ),
    ErrorCode.CURRENCY_MISMATCH: _("The amount is in the wrong currency."),
    ErrorCode.UNKNOWN_CURRENCY: _("The currency %(currency)s is not supported."),
    ErrorCode.INVALID_AMOUNT: _("The amount is not valid."),
    ErrorCode.REASON_REQUIRED: _("A reason is required."),
    InvalidInput.code: _("This value is not valid."),
}

_INVALID_INPUT_VARIANTS: dict[str, Any] = {
    "not_a_number": _("Enter a number."),
    "too_many_digits": _("The number has too many digits."),
    "too_many_decimals": _("Use at most %(decimal_places)s decimal places."),
    "zero": _("Enter an amount above zero."),
    "below_minimum": _("The smallest value is %(minimum)s."),
    "above_maximum": _("The largest value is %(maximum)s."),
    "too_long": _("Use at most %(max_length)s characters."),
    "bidi_control": _("Remove the text-direction control characters."),
    "invisible_character": _("Remove the invisible characters."),
    "control_character": _("Remove the control characters."),
    "required": _("This field is required."),
    "not_a_phone": _(
        "This is not a phone number. Write it like %(example)s, or start with + and the "
        "country code."
    ),
    "phone_too_short": _(
        "This phone number is too short. Write it like %(example)s, or start with + and "
        "the country code."
    ),
    "phone_too_long": _(
        "This phone number is too long. Write it like %(example)s, or start with + and "
        "the country code."
    ),
    "invalid_filter": _("The filter %(field)s is not valid: %(problem)s"),
}


def _install() -> None:
    for code, template in _KERNEL_TEMPLATES.items():
        variants = _INVALID_INPUT_VARIANTS if code == InvalidInput.code else None
        translate_templates(code, template, variants)


_install()


@dataclass(frozen=True)
class CatalogueItem:
    """One code as integrators see it: English template(s), keyed by ``variant_param``."""

    code: str
    app: str
    template: str
    params: tuple[str, ...]
    variant_param: str | None
    variants: dict[str, str]
    takes_detail: bool


def load_catalogue() -> None:
    """Import every installed app's ``errors`` module, so each of its codes is registered."""
    autodiscover_modules("errors")
    # approvals holds only abstract models, so it is no installed app for autodiscovery to find.
    import_module("gridvend.approvals.errors")
    # The channels are no apps either: each gateway's refusals of its own wire format.
    import_module("gridvend.gateways.electrum.errors")


def catalogue() -> list[CatalogueItem]:
    """Every error code, the app declaring it, its English template(s) and its params."""
    load_catalogue()
    return [_item(entry) for entry in kernel_errors.catalogue_entries()]


def _english(template: Any) -> str:
    from django.utils import translation

    with translation.override(None):
        return str(template)


def _item(entry: CatalogueEntry) -> CatalogueItem:
    return CatalogueItem(
        code=entry.code,
        app=entry.app,
        template=_english(entry.template),
        params=entry.params,
        variant_param=entry.variant_param,
        variants={key: _english(value) for key, value in entry.variants.items()},
        takes_detail=entry.takes_detail,
    )


DOC_PATH = "docs/errors.md"
DOC_BEGIN = "<!-- catalogue: generated by `make errors-doc`; do not edit by hand -->"
DOC_END = "<!-- end of catalogue -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalogue_markdown() -> str:
    """The catalogue as the Markdown table ``docs/errors.md`` carries between its markers."""
    lines = [
        DOC_BEGIN,
        "",
        "| code | app | message (English) | params |",
        "|---|---|---|---|",
    ]
    for item in catalogue():
        message = _cell(item.template)
        if item.takes_detail:
            message += " *(or a sentence written where it is raised)*"
        for value, text in sorted(item.variants.items()):
            message += f"<br>`{item.variant_param}={value}`: {_cell(text)}"
        params = ", ".join(f"`{name}`" for name in item.params) or "—"
        lines.append(f"| `{item.code}` | {item.app} | {message} | {params} |")
    lines += ["", DOC_END]
    return "\n".join(lines)


def write_catalogue_doc(path: str = DOC_PATH) -> None:
    """Rewrite the generated part of ``docs/errors.md``, keeping the prose around it."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    head, _sep, rest = text.partition(DOC_BEGIN)
    _old, _sep, tail = rest.partition(DOC_END)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(head + catalogue_markdown() + tail)
