"""Typed domain errors with stable codes, and the one catalogue of codes and message templates.

An error class declares its ``code`` and an English ``message_template`` with named parameters
(``"Meter %(meter_number)s is blocked."``); an instance carries only the params. ``message`` is
rendered when it is read, from the catalogue entry for the code, so the same error reads in the
language active at that moment (Zulip's ``JsonableError``, Saleor's ``error_codes.py``). The kernel
has no Django: Django-side code swaps each kernel template for a ``gettext_lazy`` one through
:func:`translate_templates`, and every template checks there that its English is unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    """Stable UPPER_SNAKE codes; API clients and translations key on these, so never rename one."""

    METER_NOT_FOUND = "METER_NOT_FOUND"
    METER_BLOCKED = "METER_BLOCKED"
    METER_RETIRED = "METER_RETIRED"
    AMOUNT_BELOW_MINIMUM = "AMOUNT_BELOW_MINIMUM"
    AMOUNT_ABOVE_MAXIMUM = "AMOUNT_ABOVE_MAXIMUM"
    TARIFF_NOT_FOUND = "TARIFF_NOT_FOUND"
    TARIFF_INVALID = "TARIFF_INVALID"
    KEY_REVISION_EXPIRED = "KEY_REVISION_EXPIRED"
    KEY_CHANGE_SAME_KEY = "KEY_CHANGE_SAME_KEY"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"
    INSUFFICIENT_FLOAT = "INSUFFICIENT_FLOAT"
    TENDER_BELOW_CHARGES_DUE = "TENDER_BELOW_CHARGES_DUE"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    REASON_REQUIRED = "REASON_REQUIRED"


# A template is an English ``str`` in the kernel and a lazily translated Django string once
# translated; both render with ``str(template) % params``.
Template = object


@dataclass
class CatalogueEntry:
    """One code: where it is declared, its template (and per-variant templates), its params."""

    code: str
    app: str
    error_class: type[DomainError]
    template: Template
    params: tuple[str, ...]
    variant_param: str | None = None
    variants: dict[str, Template] = field(default_factory=dict)
    takes_detail: bool = False

    def template_for(self, params: Mapping[str, Any]) -> Template:
        if self.variant_param is not None:
            variant = params.get(self.variant_param)
            if isinstance(variant, str) and variant in self.variants:
                return self.variants[variant]
        return self.template


_CATALOGUE: dict[str, CatalogueEntry] = {}


def catalogue_entries() -> Iterator[CatalogueEntry]:
    """Every registered code, in code order (import the app's ``errors`` modules first)."""
    for code in sorted(_CATALOGUE):
        yield _CATALOGUE[code]


def catalogue_entry(code: str) -> CatalogueEntry | None:
    return _CATALOGUE.get(code)


def _app_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "gridvend" else module


def _declared_params(cls: type[DomainError]) -> tuple[str, ...]:
    names = [
        name
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name != "self"
        and parameter.kind
        in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    names.extend(name for name in cls.extra_params if name not in names)
    return tuple(names)


def _register(cls: type[DomainError]) -> None:
    code = str(cls.__dict__["code"])
    if code in _CATALOGUE:
        other = _CATALOGUE[code].error_class
        raise TypeError(f"error code {code} is declared twice: {other.__qualname__}, {cls}")
    if not cls.__dict__.get("message_template"):
        raise TypeError(f"error class {cls.__qualname__} ({code}) has no message_template")
    _CATALOGUE[code] = CatalogueEntry(
        code=code,
        app=_app_of(cls.__module__),
        error_class=cls,
        template=cls.message_template,
        params=_declared_params(cls),
        variant_param=cls.variant_param,
        variants=dict(cls.message_variants),
        takes_detail=cls.takes_detail,
    )


def translate_templates(
    code: str, template: Template, variants: Mapping[str, Template] | None = None
) -> None:
    """Replace a code's English templates by translatable ones with exactly the same English.

    Called by Django-side code for the kernel's codes; a template whose English drifted from the
    kernel's would show two wordings for one error, so it is refused.
    """
    entry = _CATALOGUE[code]
    pairs = [(entry.template, template)]
    pairs += [(entry.variants.get(key), value) for key, value in (variants or {}).items()]
    for english, translatable in pairs:
        if english is None or str(english) != str(translatable):
            raise ValueError(f"{code}: translatable template {translatable!s} != {english!s}")
    if set(variants or {}) != set(entry.variants):
        raise ValueError(f"{code}: translatable variants must cover {sorted(entry.variants)}")
    entry.template = template
    entry.variants.update(variants or {})


class _Params(dict[str, Any]):
    # A param the caller did not give renders as nothing rather than failing the refusal itself.
    def __missing__(self, key: str) -> str:
        return ""


def _jsonable(value: Any) -> Any:
    # Params may hold Money or Decimal; callers serialising an error for an API want plain data,
    # and importing Money here would make money.py and errors.py import each other.
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)


class DomainError(Exception):
    """A rule of the business was broken; ``code`` is stable, ``message`` is for a person.

    A subclass that sets ``code`` and ``message_template`` is entered in the catalogue (a code
    declared twice, or without a template, fails at import). ``params`` carry the values behind
    the message (a minimum, a meter number), so any channel can rebuild the message, in any
    language, from the code and the params alone.

    ``DomainError(code, message, **params)`` still builds an error outside the catalogue with a
    fixed message, for tests; gridvend itself raises every refusal through its class (the
    catalogue test checks that).
    """

    code: str = ""
    message_template: ClassVar[Template] = ""
    # For a code whose sentence depends on one param (a refused input's ``reason``, say): one
    # whole sentence per value, so translators never glue fragments together.
    variant_param: ClassVar[str | None] = None
    message_variants: ClassVar[Mapping[str, Template]] = {}
    # Params taken through ``**params`` rather than keyword-only arguments, for the catalogue.
    extra_params: ClassVar[tuple[str, ...]] = ()
    # A few generic codes (a refused field) carry a sentence written at the raise site instead.
    takes_detail: ClassVar[bool] = False

    params: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            _register(cls)

    def __init__(self, code: str | None = None, message: object = None, /, **params: Any) -> None:
        if code is not None:
            self.code = str(code)
        elif not self.code:
            raise TypeError(f"{type(self).__qualname__} needs a code")
        if message is not None and code is None and not self.takes_detail:
            raise TypeError(f"{self.code} renders its message from its template")
        self._fixed_message = message
        self.params = params
        super().__init__(self.code)

    def display_params(self) -> dict[str, Any]:
        """The params as the sentence shows them; a subclass may turn a status into its label."""
        return dict(self.params)

    @property
    def message(self) -> str:
        """The sentence for a person, in the language active now."""
        if self._fixed_message is not None:
            return str(self._fixed_message)
        entry = _CATALOGUE.get(self.code)
        if entry is None:
            return self.code
        return str(entry.template_for(self.params)) % _Params(self.display_params())

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(code={self.code!r}, message={self.message!r}, params={self.params!r})"

    def as_dict(self) -> dict[str, Any]:
        """Return ``{"code", "message", "params"}`` with params reduced to JSON-friendly values."""
        return {
            "code": self.code,
            "message": self.message,
            "params": {key: _jsonable(value) for key, value in self.params.items()},
        }


class MeterNotFound(DomainError):
    code = ErrorCode.METER_NOT_FOUND
    message_template = "No meter %(meter_number)s was found. Check the number and try again."

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class MeterBlocked(DomainError):
    code = ErrorCode.METER_BLOCKED
    message_template = "Meter %(meter_number)s is blocked. Tokens cannot be sold for it."

    def __init__(self, *, meter_number: str, reason: str | None = None) -> None:
        super().__init__(meter_number=meter_number, reason=reason)


class MeterRetired(DomainError):
    code = ErrorCode.METER_RETIRED
    message_template = "Meter %(meter_number)s has been taken out of service."

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class AmountBelowMinimum(DomainError):
    code = ErrorCode.AMOUNT_BELOW_MINIMUM
    message_template = "The amount is too small. The smallest sale is %(minimum)s."

    def __init__(self, *, minimum: object) -> None:
        super().__init__(minimum=minimum)


class AmountAboveMaximum(DomainError):
    code = ErrorCode.AMOUNT_ABOVE_MAXIMUM
    message_template = "The amount is too large. The largest sale is %(maximum)s."

    def __init__(self, *, maximum: object) -> None:
        super().__init__(maximum=maximum)


class TariffNotFound(DomainError):
    code = ErrorCode.TARIFF_NOT_FOUND
    message_template = "No tariff is in force for this customer. Ask a manager."

    def __init__(self, *, meter_number: str | None = None) -> None:
        super().__init__(meter_number=meter_number)


class TariffInvalid(DomainError):
    code = ErrorCode.TARIFF_INVALID
    message_template = "The tariff is not valid: %(field)s: %(problem)s."

    def __init__(self, *, field: str, problem: str) -> None:
        super().__init__(field=field, problem=problem)


class KeyRevisionExpired(DomainError):
    code = ErrorCode.KEY_REVISION_EXPIRED
    message_template = (
        "This meter's key has expired. It needs a key change before tokens can be sold."
    )

    def __init__(self, *, reason: str, tid: int, ken: int | None = None) -> None:
        super().__init__(reason=reason, tid=tid, ken=ken)


class KeyChangeSameKey(DomainError):
    """The new key parameters derive the decoder key the meter already has.

    Such key-change tokens would be pointless, and with the roll-over bit harmful: the meter would
    clear its TID memory while every token it accepted still decrypts, so all of them would credit
    again. Typical cause: a DKGA02 roll-over that changes the base date but not the KRN, because
    DKGA02 does not take the base date into the key.
    """

    code = ErrorCode.KEY_CHANGE_SAME_KEY
    message_template = (
        "The new key parameters of meter %(meter_number)s give the same decoder key as the "
        "current ones. Change the key revision number (KRN) or the vending key as well."
    )

    def __init__(self, *, meter_number: str) -> None:
        super().__init__(meter_number=meter_number)


class DuplicateRequest(DomainError):
    code = ErrorCode.DUPLICATE_REQUEST
    message_template = "This request was already used for a different sale."

    def __init__(self, *, reference: str) -> None:
        super().__init__(reference=reference)


class InsufficientFloat(DomainError):
    code = ErrorCode.INSUFFICIENT_FLOAT
    message_template = "There is not enough float for this sale."

    def __init__(self, *, available: object, required: object) -> None:
        super().__init__(available=available, required=required)


class TenderBelowChargesDue(DomainError):
    code = ErrorCode.TENDER_BELOW_CHARGES_DUE
    message_template = (
        "The amount does not cover the charges owed on this meter. "
        "Pay at least %(required_minimum)s."
    )

    def __init__(self, *, required_minimum: object) -> None:
        super().__init__(required_minimum=required_minimum)


class CurrencyMismatch(DomainError):
    code = ErrorCode.CURRENCY_MISMATCH
    message_template = "The amount is in the wrong currency."

    def __init__(self, *, expected: str, got: str) -> None:
        super().__init__(expected=expected, got=got)


class UnknownCurrency(DomainError):
    code = ErrorCode.UNKNOWN_CURRENCY
    message_template = "The currency %(currency)s is not supported."

    def __init__(self, *, currency: str) -> None:
        super().__init__(currency=currency)


class InvalidAmount(DomainError):
    code = ErrorCode.INVALID_AMOUNT
    message_template = "The amount is not valid."

    def __init__(self, *, value: object, reason: str) -> None:
        super().__init__(value=value, reason=reason)


class ReasonRequired(DomainError):
    """A step every app records with a reason (a reversal, a rejection, a status change)."""

    code = ErrorCode.REASON_REQUIRED
    message_template = "A reason is required."

    def __init__(self) -> None:
        super().__init__()
