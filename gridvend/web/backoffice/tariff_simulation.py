""" "What would this customer pay?": a version's pricing beside the version in force, for one
customer and one amount, side by side; priced by the vending simulation, nothing written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.customers import selectors as customer_selectors
from gridvend.customers.models import Customer
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import Breakdown, SaleContext
from gridvend.kernel.tariffs import TariffSpec
from gridvend.meters import selectors as meter_selectors
from gridvend.tariffs.models import TariffVersion
from gridvend.vending import simulation
from gridvend.web.backoffice.forms import StyledForm
from gridvend.web.backoffice.tariff_editor import plain, rate_text
from gridvend.web.errors import describe
from gridvend.web.fields import KwhField, MoneyField, TextField

LTR = {"dir": "ltr", "autocomplete": "off"}


class SimulationForm(StyledForm):
    who = TextField(
        label=gettext_lazy("Account or meter number"),
        max_length=32,
        widget=forms.TextInput(attrs=LTR),
    )
    tender = MoneyField(
        label=gettext_lazy("Amount paid"),
        required=False,
        widget=forms.TextInput(attrs={**LTR, "inputmode": "decimal"}),
    )
    kwh = KwhField(
        label=gettext_lazy("or kWh wanted"),
        required=False,
        widget=forms.TextInput(attrs={**LTR, "inputmode": "decimal"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        tender, kwh = data.get("tender"), data.get("kwh")
        if "tender" in data and "kwh" in data:
            if (tender is None) == (kwh is None):
                self.add_error(None, _("Give either an amount of money or a number of kWh."))
            elif (tender is not None and tender <= 0) or (kwh is not None and kwh <= 0):
                self.add_error(None, _("Enter an amount above zero."))
        return data


def find_customer(user: User, text: str) -> Customer:
    """The customer with this account number, or the one the meter with this number serves."""
    try:
        return customer_selectors.get_customer_by_account(user, text)
    except NotFound:
        pass
    meter = meter_selectors.find_meter(user, text)
    if meter.customer is None:
        raise NotFound()
    return customer_selectors.get_customer(user, meter.customer.pk)


@dataclass
class Column:
    """One version's answer: its breakdown, or the refusal a sale would get."""

    title: str
    version: TariffVersion
    breakdown: Breakdown | None = None
    error: str = ""

    @property
    def blocks(self) -> list[tuple[int, str, str, Money]]:
        """(block number, kWh, rate, money) of each block the energy came from."""
        if self.breakdown is None:
            return []
        return [
            (line.index + 1, plain(line.kwh), rate_text(line.rate), line.money)
            for line in self.breakdown.blocks
        ]


@dataclass
class Row:
    label: str
    values: list[Any]
    difference: Any = None
    strong: bool = False


@dataclass
class Simulation:
    customer: Customer
    context: SaleContext
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)

    @property
    def month_to_date(self) -> str:
        return _kwh(self.context.month_to_date_kwh)


def _kwh(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'))} kWh"


def _difference(values: list[Any]) -> Any:
    if len(values) != 2 or values[0] is None or values[1] is None:
        return None
    first, second = values
    if isinstance(first, Money) and isinstance(second, Money):
        diff = first - second
        return None if diff.is_zero() else ("+" if diff.is_positive() else "−") + str(abs(diff))
    if isinstance(first, Decimal) and isinstance(second, Decimal):
        change = first - second
        return None if change == 0 else ("+" if change > 0 else "−") + _kwh(abs(change))
    return None


def _rows(columns: list[Column]) -> list[Row]:
    priced = [c.breakdown for c in columns]

    def row(label: str, pick: Any, *, strong: bool = False, kwh: bool = False) -> Row:
        values = [pick(b) if b is not None else None for b in priced]
        shown = [_kwh(v) if kwh and v is not None else v for v in values]
        return Row(label, shown, _difference(values), strong)

    rows = [row(_("Amount paid"), lambda b: b.tender, strong=True)]
    names: list[str] = []
    codes: list[str] = []
    for b in priced:
        if b is None:
            continue
        names += [line.name for line in b.fixed_charges if line.name not in names]
        codes += [t.code for t in b.taxes if t.code not in codes]
    # A charge or tax one version does not have shows as "—" there, not as zero.
    for name in names:
        rows.append(
            row(
                _("Fixed charge: %(name)s") % {"name": name},
                lambda b, n=name: (
                    Money.total(
                        (line.amount for line in b.fixed_charges if line.name == n), b.currency
                    )
                    if any(line.name == n for line in b.fixed_charges)
                    else None
                ),
            )
        )
    rows.append(row(_("Debt recovered"), lambda b: b.debt_recovered))
    for code in codes:
        rows.append(
            row(
                _("Tax: %(code)s") % {"code": code},
                lambda b, c=code: (
                    Money.total((t.amount for t in b.taxes if t.code == c), b.currency)
                    if any(t.code == c for t in b.taxes)
                    else None
                ),
            )
        )
    rows.append(row(_("Energy, before tax"), lambda b: b.energy_net))
    rows.append(row(_("Energy on the token"), lambda b: b.kwh, strong=True, kwh=True))
    rows.append(row(_("Free basic electricity token"), lambda b: b.fbe_kwh, kwh=True))
    return rows


def simulate(
    *,
    actor: User,
    customer: Customer,
    versions: list[tuple[str, TariffVersion]],
    now: datetime,
    tender: Decimal | None,
    kwh: Decimal | None,
) -> Simulation:
    """Price the amount for the customer under each version; a refusal fills its column."""
    columns = []
    context: SaleContext | None = None
    for title, version in versions:
        column = Column(title, version)
        spec = TariffSpec.from_dict(version.spec)
        if context is None:
            context = simulation.customer_context(customer, spec, now)
        try:
            money = Money.from_major(tender, spec.currency) if tender is not None else None
            column.breakdown = simulation.price_for_customer(
                actor=actor, customer=customer, spec=spec, now=now, tender=money, kwh=kwh
            )
        except (AccessDenied, NotFound):
            raise
        except DomainError as exc:
            column.error = describe(exc)
        columns.append(column)
    assert context is not None  # at least the simulated version is always there
    return Simulation(customer, context, columns, _rows(columns))
