"""Bulk import of customers and meters from CSV or XLSX rows, through the ordinary services.

The web side of a batch (``gridvend.batches``): the columns and template files, and each row
read with the back-office screens' own forms, so an import refuses what a screen refuses. The
batch reads the file (bounded before anything in it is parsed) and runs the rows all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.batches.files import BatchFileError, Row, Rows, read_rows
from gridvend.batches.services import BatchReport, Problem, RowRefused, run_batch
from gridvend.customers import selectors as customer_selectors
from gridvend.customers import services as customer_services
from gridvend.customers.models import Customer, Premise
from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.meters import services as meter_services
from gridvend.meters.models import TokenCarrier
from gridvend.org import selectors as org_selectors
from gridvend.org.models import OrgUnit
from gridvend.tariffs import selectors as tariff_selectors
from gridvend.tariffs.models import Tariff
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.errors import describe
from gridvend.web.fields import TextField

CUSTOMERS = "customers"
METERS = "meters"
KINDS = {CUSTOMERS: gettext_lazy("Customers"), METERS: gettext_lazy("Meters")}

# (column, required); the order is the order of the template file.
COLUMNS: dict[str, list[tuple[str, bool]]] = {
    CUSTOMERS: [
        ("account_number", False),
        ("name", True),
        ("category", True),
        ("unit_code", True),
        ("tariff_code", True),
        ("national_id", False),
        ("phone", False),
        ("email", False),
        ("address", False),
        ("latitude", False),
        ("longitude", False),
        ("feeder", False),
        ("transformer", False),
    ],
    METERS: [
        ("meter_number", True),
        ("unit_code", True),
        ("sgc", True),
        ("ti", True),
        ("krn", True),
        ("kt", False),
        ("ken", False),
        ("ea", False),
        ("dkga", False),
        ("base_date_year", False),
        ("key_ref", True),
        ("make", False),
        ("model", False),
        ("phases", False),
        ("carrier", False),
        ("account_number", False),
        ("premise_id", False),
        ("address", False),
    ],
}

EXAMPLES: dict[str, list[str]] = {
    CUSTOMERS: [
        "",
        "Amina Wanjiru",
        "residential",
        "kitale-sc",
        "residential",
        "12345678",
        "+254700000001",
        "amina@example.org",
        "Plot 12, Market Road",
        "1.015200",
        "35.006200",
        "F12",
        "T-204",
    ],
    METERS: [
        "04000000010",
        "kitale-sc",
        "600675",
        "1",
        "1",
        "2",
        "255",
        "07",
        "02",
        "2014",
        "demo-vk",
        "Conlog",
        "BEC23",
        "1",
        "keypad",
        "",
        "",
        "",
    ],
}

# Which column a refused service call is about, when the error does not name a form field.
_CODE_COLUMNS = {
    "ACCOUNT_NUMBER_TAKEN": "account_number",
    "ACCOUNT_NUMBER_INVALID": "account_number",
    "TARIFF_NOT_APPLICABLE": "tariff_code",
    "CUSTOMER_CLOSED": "account_number",
    "METER_NUMBER_INVALID": "meter_number",
    "METER_NUMBER_TAKEN": "meter_number",
    "METER_RETIRED": "meter_number",
    "METER_ALREADY_INSTALLED": "account_number",
    "METER_KEY_PARAMS_INVALID": "sgc",
    "VENDING_KEY_NOT_FOUND": "key_ref",
    "VENDING_KEY_MISMATCH": "key_ref",
}


# The file and row types are the batch's; the names are kept for the screens and their tests.
ImportFileError = BatchFileError


@dataclass
class ImportReport(BatchReport):
    kind: str = ""


def load(kind: str, name: str, source: bytes | IO[bytes]) -> Rows:
    """The file's data rows, numbered as the spreadsheet numbers them, or ImportFileError.

    ``source`` is the upload itself (or its bytes): its size is checked before it is read.
    """
    if kind not in COLUMNS:
        raise ImportFileError(_("Unknown kind of import."))
    return read_rows(name, source, columns=COLUMNS[kind])


# Running an import -------------------------------------------------------------------------------
#
# A row runs the use cases as steps of the import's one transaction (``create_customer.
# within_transaction``, ``register_meter.within_transaction`` …), each in its own savepoint.

# Unit and tariff codes are read as text like any other cell before they are looked up, so
# a refusal never echoes a control or bidi-override character into the report.
_CODE = TextField(max_length=40)

_PREMISE_COLUMNS = ("address", "latitude", "longitude", "feeder", "transformer")

# What the register screen preselects, for the optional columns a file leaves empty.
_METER_DEFAULTS = {
    "kt": "2",
    "ken": "255",
    "ea": "07",
    "dkga": "02",
    "base_date_year": "2014",
    "phases": "1",
    "carrier": TokenCarrier.KEYPAD.value,
}


def _has(problems: list[Problem], column: str) -> bool:
    return any(known == column for known, _message in problems)


def _checked_form(
    form_class: type[forms.Form],
    data: dict[str, str],
    problems: list[Problem],
    columns: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The screen's form over the row's cells: its cleaned data, or every error it found.

    ``columns`` renames form fields to the file's columns; "this field is required" is left
    out where the column is already reported empty.
    """
    form = form_class(data=data)
    if form.is_valid():
        return dict(form.cleaned_data)
    for name, messages in form.errors.items():
        column = (columns or {}).get(name, name)
        if form.has_error(name, "required") and _has(problems, column):
            continue
        problems.extend((column, str(message)) for message in messages)
    return {}


def _checked_field(field: forms.Field, raw: str, column: str, problems: list[Problem]) -> Any:
    try:
        return field.clean(raw)
    except ValidationError as exc:
        problems.extend((column, str(message)) for message in exc.messages)
        return None


@dataclass
class _Lookups:
    """Units and tariffs the actor may use, read once per import rather than once per row."""

    actor: User
    units: dict[str, OrgUnit]
    tariffs: dict[str, Tariff]

    @classmethod
    def for_actor(cls, actor: User) -> _Lookups:
        units = {u.code: u for u in org_selectors.list_units(actor)}
        tariffs = {t.code: t for t in tariff_selectors.list_tariffs(actor)}
        # Tariffs defined above the actor's unit apply to their customers too.
        for tariff in tariff_selectors.tariffs_available_for_unit(actor.org_unit):
            tariffs.setdefault(tariff.code, tariff)
        return cls(actor, units, tariffs)

    def unit(self, row: dict[str, str], problems: list[Problem]) -> OrgUnit | None:
        code = _checked_field(_CODE, row.get("unit_code", ""), "unit_code", problems)
        if not code:
            return None
        unit = self.units.get(code)
        if unit is None:
            problems.append(
                ("unit_code", _("No organisation unit %(code)s in your area.") % {"code": code})
            )
        return unit

    def tariff(self, row: dict[str, str], problems: list[Problem]) -> Tariff | None:
        code = _checked_field(_CODE, row.get("tariff_code", ""), "tariff_code", problems)
        if not code:
            return None
        tariff = self.tariffs.get(code)
        if tariff is None:
            problems.append(("tariff_code", _("No tariff %(code)s.") % {"code": code}))
        return tariff

    def customer(self, account_number: str, problems: list[Problem]) -> Customer | None:
        try:
            return customer_selectors.get_customer_by_account(self.actor, account_number)
        except NotFound:
            problems.append(
                (
                    "account_number",
                    _("No customer with account number %(number)s in your area.")
                    % {"number": account_number},
                )
            )
            return None

    def premise(self, pk: int, problems: list[Problem]) -> Premise | None:
        try:
            return customer_selectors.get_premise(self.actor, pk)
        except NotFound:
            problems.append(("premise_id", _("No premise %(id)s in your area.") % {"id": pk}))
            return None


def _missing(kind: str, row: dict[str, str]) -> list[Problem]:
    return [
        (name, _("This column must not be empty."))
        for name, required in COLUMNS[kind]
        if required and not row.get(name, "").strip()
    ]


def _import_customer(lookups: _Lookups, row: dict[str, str], problems: list[Problem]) -> None:
    unit = lookups.unit(row, problems)
    tariff = lookups.tariff(row, problems)
    details = _checked_form(
        bo_forms.CustomerDetailsForm,
        {
            "account_number": row.get("account_number", ""),
            "name": row.get("name", ""),
            "category": row.get("category", "").lower(),
            "national_id": row.get("national_id", ""),
            "phone": row.get("phone", ""),
            "email": row.get("email", ""),
        },
        problems,
    )
    premise: dict[str, Any] | None = None
    if any(row.get(name, "").strip() for name in _PREMISE_COLUMNS):
        if not row.get("address", "").strip():
            problems.append(("address", _("A premise needs an address.")))
        premise = _checked_form(
            bo_forms.PremiseDetailsForm,
            {name: row.get(name, "") for name in _PREMISE_COLUMNS},
            problems,
        )
    if problems:
        raise RowRefused(problems)
    assert unit is not None and tariff is not None
    customer = customer_services.create_customer.within_transaction(
        actor=lookups.actor, org_unit=unit, tariff=tariff, **details
    )
    if premise is not None:
        customer_services.create_premise.within_transaction(
            actor=lookups.actor, org_unit=customer.org_unit, **premise
        )


def _import_meter(lookups: _Lookups, row: dict[str, str], problems: list[Problem]) -> None:
    unit = lookups.unit(row, problems)
    fields = bo_forms.MeterRegisterDetailsForm.base_fields
    data = {name: row.get(name, "") for name in fields if name != "number"}
    data["number"] = row.get("meter_number", "")
    for name, default in _METER_DEFAULTS.items():
        data[name] = data[name].strip() or default
    meter = _checked_form(
        bo_forms.MeterRegisterDetailsForm, data, problems, columns={"number": "meter_number"}
    )
    install = bo_forms.MeterInstallForm.base_fields
    account = row.get("account_number", "").strip()
    premise_id = row.get("premise_id", "").strip()
    address = row.get("address", "").strip()
    customer = premise = None
    cleaned_address = ""
    if account:
        number = _checked_field(install["account_number"], account, "account_number", problems)
        if number:
            customer = lookups.customer(number, problems)
    if premise_id:
        pk = _checked_field(install["premise"], premise_id, "premise_id", problems)
        if pk:
            premise = lookups.premise(pk, problems)
    if address:
        field = bo_forms.PremiseDetailsForm.base_fields["address"]
        cleaned_address = _checked_field(field, address, "address", problems) or ""
    if not account and (premise_id or address):
        problems.append(("account_number", _("Say which customer the meter is installed for.")))
    if account and not premise_id and not address:
        problems.append(
            ("address", _("Give the premise to install the meter at: premise_id or address."))
        )
    if problems:
        raise RowRefused(problems)
    assert unit is not None
    registered = meter_services.register_meter.within_transaction(
        actor=lookups.actor, org_unit=unit, **meter
    )
    if customer is not None:
        if premise is None:
            premise = customer_services.create_premise.within_transaction(
                actor=lookups.actor, org_unit=customer.org_unit, address=cleaned_address
            )
        meter_services.install_meter.within_transaction(
            actor=lookups.actor, meter=registered, customer=customer, premise=premise
        )


_IMPORTERS = {CUSTOMERS: _import_customer, METERS: _import_meter}


def run_import(*, actor: User, kind: str, rows: list[Row], commit: bool) -> ImportReport:
    """Try every row; keep the result only if ``commit`` and no row failed (``run_batch``).

    Each row is read with the screens' own forms and every problem found is reported, each
    beside its column; only a row without any goes on to the services. Raises AccessDenied
    only through the caller's own check: a refusal inside a row (a unit out of reach, say) is
    reported against that row like any other error.
    """
    importer = _IMPORTERS[kind]
    lookups = _Lookups.for_actor(actor)

    def apply_row(row: dict[str, str], problems: list[Problem]) -> None:
        problems += [p for p in _missing(kind, row) if not _has(problems, p[0])]
        importer(lookups, row, problems)

    batch = run_batch(
        rows=rows,
        apply_row=apply_row,
        commit=commit,
        describe=describe,
        columns_by_code=_CODE_COLUMNS,
    )
    return ImportReport(rows=batch.rows, errors=batch.errors, committed=batch.committed, kind=kind)


def template_rows(kind: str) -> tuple[list[str], list[str]]:
    """The header and one example row of the template file for ``kind``."""
    return [name for name, _required in COLUMNS[kind]], EXAMPLES[kind]
