"""Tariff specifications: validated, immutable, convertible to and from JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

from gridvend.kernel.errors import TariffInvalid
from gridvend.kernel.inputs import InvalidInput, clean_text
from gridvend.kernel.money import Money, currency_exponent

Period = Literal["month", "day"]
PERIODS: tuple[Period, ...] = ("month", "day")


# A tariff's numbers are rates, kWh thresholds and minor units: never beyond these. Bounding them
# here keeps a hostile or mistyped specification ("1e-25", "1e700000") from reaching pricing,
# where it would stop every sale on the tariff.
MAX_DECIMAL_TEXT = 40
DECIMAL_EXPONENT_RANGE = (-12, 12)
MAX_WHOLE = 10**15


def _decimal(value: object, field_name: str) -> Decimal:
    if isinstance(value, float):
        raise TariffInvalid(field=field_name, problem="write numbers as strings, not floats")
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise TariffInvalid(field=field_name, problem="must be a number written as a string")
    if isinstance(value, str) and len(value) > MAX_DECIMAL_TEXT:
        raise TariffInvalid(field=field_name, problem="has too many digits")
    if isinstance(value, int) and abs(value) > MAX_WHOLE:
        raise TariffInvalid(field=field_name, problem="is too large")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise TariffInvalid(field=field_name, problem=f"{value!r} is not a number") from None
    if not result.is_finite():
        raise TariffInvalid(field=field_name, problem="must be a finite number")
    if result:
        low, high = DECIMAL_EXPONENT_RANGE
        exponent = result.as_tuple().exponent
        assert isinstance(exponent, int)
        if result.adjusted() > high or exponent < low:
            raise TariffInvalid(
                field=field_name,
                problem=f"must be below 10^{high} with at most {-low} decimal places",
            )
    return result


def _int(value: object, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TariffInvalid(field=field_name, problem="must be a whole number")
    if abs(value) > MAX_WHOLE:
        raise TariffInvalid(field=field_name, problem="is too large")
    return value


def _text(value: object, field_name: str, max_length: int = 60) -> str:
    """A name or code printed on receipts: bounded, no control or direction-override characters."""
    if not isinstance(value, str):
        raise TariffInvalid(field=field_name, problem="must be text")
    try:
        return clean_text(value, max_length=max_length)
    except InvalidInput as exc:
        raise TariffInvalid(field=field_name, problem=exc.message.rstrip(".").lower()) from None


def _optional_int(value: object, field_name: str) -> int | None:
    return None if value is None else _int(value, field_name)


def _require(condition: bool, field_name: str, problem: str) -> None:
    if not condition:
        raise TariffInvalid(field=field_name, problem=problem)


@dataclass(frozen=True)
class EnergyBlock:
    """Energy rate (major units per kWh) up to ``upper_kwh`` of the month's cumulative purchases.

    ``upper_kwh`` is None for the last, open-ended block. Rates include any inclusive tax and
    exclude any exclusive tax.
    """

    upper_kwh: Decimal | None
    rate: Decimal


@dataclass(frozen=True)
class FixedCharge:
    """A standing charge collected on the first sale of each period, accumulated for skipped ones.

    ``amount_minor`` is per period. ``max_periods`` caps how many skipped periods pile up;
    ``max_amount_minor`` caps the accumulated amount. Either or both may be None (no cap).
    """

    name: str
    amount_minor: int
    period: Period
    max_periods: int | None = None
    max_amount_minor: int | None = None


@dataclass(frozen=True)
class Tax:
    """A tax such as VAT or a levy; ``rate`` is a fraction (0.16 for 16 %).

    ``inclusive`` taxes are already inside the energy rates and fixed-charge amounts and are
    extracted from them; exclusive taxes are added on top.
    """

    code: str
    rate: Decimal
    applies_to_energy: bool = True
    applies_to_fixed: bool = True
    inclusive: bool = False


@dataclass(frozen=True)
class DebtRecoveryRule:
    """Recover arrears as ``rate`` (a fraction) of each tender, clamped per sale and per month."""

    rate: Decimal
    min_per_sale_minor: int = 0
    max_per_sale_minor: int | None = None
    max_per_month_minor: int | None = None


@dataclass(frozen=True)
class LatePaymentRule:
    """What a postpaid bill left unpaid ``grace_days`` after its due date is charged, once:
    ``rate`` (a fraction) of what is still unpaid plus ``fixed_minor``."""

    rate: Decimal = Decimal(0)
    fixed_minor: int = 0
    grace_days: int = 0


@dataclass(frozen=True)
class TariffSpec:
    """Everything needed to price a sale; pure data, validated on construction."""

    currency: str
    blocks: tuple[EnergyBlock, ...]
    fixed_charges: tuple[FixedCharge, ...] = ()
    taxes: tuple[Tax, ...] = ()
    fbe_kwh: Mapping[str, Decimal] = field(default_factory=dict)
    debt_recovery: DebtRecoveryRule | None = None
    min_sale_minor: int | None = None
    max_sale_minor: int | None = None
    # Postpaid bills only: prepaid sales never read it.
    late_payment: LatePaymentRule | None = None

    def __post_init__(self) -> None:
        # Accept lists from callers but store tuples so the spec stays hashable-ish and immutable.
        object.__setattr__(self, "blocks", tuple(self.blocks))
        object.__setattr__(self, "fixed_charges", tuple(self.fixed_charges))
        object.__setattr__(self, "taxes", tuple(self.taxes))
        object.__setattr__(self, "fbe_kwh", dict(self.fbe_kwh))
        self._validate()

    # Convenience constructors -----------------------------------------------------------------

    @classmethod
    def flat(cls, currency: str, rate: Decimal | str, **kwargs: Any) -> TariffSpec:
        """A single rate for every kWh."""
        return cls(currency, (EnergyBlock(None, _decimal(rate, "energy.rate")),), **kwargs)

    @property
    def is_flat(self) -> bool:
        return len(self.blocks) == 1

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)

    @property
    def min_sale(self) -> Money | None:
        return None if self.min_sale_minor is None else self.money(self.min_sale_minor)

    @property
    def max_sale(self) -> Money | None:
        return None if self.max_sale_minor is None else self.money(self.max_sale_minor)

    # Validation -------------------------------------------------------------------------------

    def _validate(self) -> None:
        try:
            currency_exponent(self.currency)
        except Exception:
            raise TariffInvalid(field="currency", problem="unknown currency code") from None

        _require(len(self.blocks) > 0, "energy", "needs at least one rate")
        previous: Decimal = Decimal(0)
        for index, block in enumerate(self.blocks):
            where = f"energy.blocks[{index}]"
            last = index == len(self.blocks) - 1
            _require(isinstance(block.rate, Decimal), where, "rate must be a Decimal")
            _require(block.rate.is_finite() and block.rate >= 0, where, "rate must not be negative")
            if last:
                _require(block.upper_kwh is None, where, "the last block must have no upper limit")
                # A free open-ended block would turn any payment into unlimited energy.
                _require(block.rate > 0, where, "the last block's rate must be above zero")
            else:
                upper = block.upper_kwh
                _require(upper is not None, where, "only the last block may have no upper limit")
                assert upper is not None  # narrowed for the type checker; checked just above
                _require(isinstance(upper, Decimal) and upper.is_finite(), where, "bad upper limit")
                _require(upper > previous, where, "upper limits must increase")
                previous = upper

        names: set[str] = set()
        for index, charge in enumerate(self.fixed_charges):
            where = f"fixed_charges[{index}]"
            _require(bool(charge.name.strip()), where, "needs a name")
            _require(charge.name not in names, where, f"name {charge.name!r} is used twice")
            names.add(charge.name)
            _require(_is_int(charge.amount_minor), where, "amount must be whole minor units")
            _require(charge.amount_minor >= 0, where, "amount must not be negative")
            _require(charge.period in PERIODS, where, "period must be 'month' or 'day'")
            if charge.max_periods is not None:
                _require(_is_int(charge.max_periods), where, "max_periods must be a whole number")
                _require(charge.max_periods >= 1, where, "max_periods must be at least 1")
            if charge.max_amount_minor is not None:
                _require(_is_int(charge.max_amount_minor), where, "cap must be whole minor units")
                _require(charge.max_amount_minor >= 0, where, "cap must not be negative")

        codes: set[str] = set()
        for index, tax in enumerate(self.taxes):
            where = f"taxes[{index}]"
            _require(bool(tax.code) and tax.code == tax.code.strip(), where, "needs a code")
            _require(tax.code not in codes, where, f"code {tax.code!r} is used twice")
            codes.add(tax.code)
            _require(isinstance(tax.rate, Decimal) and tax.rate.is_finite(), where, "bad rate")
            _require(0 < tax.rate <= 1, where, "rate must be a fraction above 0 and at most 1")
            _require(
                tax.applies_to_energy or tax.applies_to_fixed,
                where,
                "must apply to energy, fixed charges or both",
            )

        for category, kwh in self.fbe_kwh.items():
            where = f"fbe_kwh[{category!r}]"
            _require(isinstance(kwh, Decimal) and kwh.is_finite(), where, "must be a Decimal")
            _require(kwh >= 0, where, "must not be negative")

        rule = self.debt_recovery
        if rule is not None:
            where = "debt_recovery"
            _require(isinstance(rule.rate, Decimal) and rule.rate.is_finite(), where, "bad rate")
            # Above 100 % a larger tender would buy less energy, which breaks price_by_energy.
            _require(0 <= rule.rate <= 1, where, "rate must be a fraction from 0 to 1")
            _require(_is_int(rule.min_per_sale_minor), where, "minimum must be whole minor units")
            _require(rule.min_per_sale_minor >= 0, where, "minimum must not be negative")
            if rule.max_per_sale_minor is not None:
                _require(_is_int(rule.max_per_sale_minor), where, "maximum must be minor units")
                _require(
                    rule.max_per_sale_minor >= rule.min_per_sale_minor,
                    where,
                    "maximum per sale must not be below the minimum",
                )
            if rule.max_per_month_minor is not None:
                _require(
                    _is_int(rule.max_per_month_minor), where, "monthly cap must be minor units"
                )
                _require(rule.max_per_month_minor >= 0, where, "monthly cap must not be negative")

        late = self.late_payment
        if late is not None:
            where = "late_payment"
            _require(isinstance(late.rate, Decimal) and late.rate.is_finite(), where, "bad rate")
            _require(0 <= late.rate <= 1, where, "rate must be a fraction from 0 to 1")
            _require(_is_int(late.fixed_minor), where, "fixed amount must be whole minor units")
            _require(late.fixed_minor >= 0, where, "fixed amount must not be negative")
            _require(_is_int(late.grace_days), where, "grace days must be a whole number")
            _require(0 <= late.grace_days <= 366, where, "grace days must be from 0 to 366")
            _require(late.rate > 0 or late.fixed_minor > 0, where, "needs a rate or an amount")

        if self.min_sale_minor is not None:
            _require(_is_int(self.min_sale_minor), "min_sale_minor", "must be whole minor units")
            _require(self.min_sale_minor >= 1, "min_sale_minor", "must be above zero")
        if self.max_sale_minor is not None:
            _require(_is_int(self.max_sale_minor), "max_sale_minor", "must be whole minor units")
            _require(self.max_sale_minor >= 1, "max_sale_minor", "must be above zero")
            _require(
                self.min_sale_minor is None or self.max_sale_minor >= self.min_sale_minor,
                "max_sale_minor",
                "must not be below the minimum sale",
            )

    # Serialisation ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data (Decimals as strings) that :meth:`from_dict` turns back into an equal spec."""
        energy: dict[str, Any]
        if self.is_flat:
            energy = {"type": "flat", "rate": str(self.blocks[0].rate)}
        else:
            energy = {
                "type": "blocks",
                "blocks": [
                    {
                        "up_to_kwh": None if b.upper_kwh is None else str(b.upper_kwh),
                        "rate": str(b.rate),
                    }
                    for b in self.blocks
                ],
            }
        rule = self.debt_recovery
        data: dict[str, Any] = {
            "currency": self.currency,
            "energy": energy,
            "fixed_charges": [
                {
                    "name": c.name,
                    "amount_minor": c.amount_minor,
                    "period": c.period,
                    "max_periods": c.max_periods,
                    "max_amount_minor": c.max_amount_minor,
                }
                for c in self.fixed_charges
            ],
            "taxes": [
                {
                    "code": t.code,
                    "rate": str(t.rate),
                    "applies_to_energy": t.applies_to_energy,
                    "applies_to_fixed": t.applies_to_fixed,
                    "inclusive": t.inclusive,
                }
                for t in self.taxes
            ],
            "fbe_kwh": {category: str(kwh) for category, kwh in self.fbe_kwh.items()},
            "debt_recovery": None
            if rule is None
            else {
                "rate": str(rule.rate),
                "min_per_sale_minor": rule.min_per_sale_minor,
                "max_per_sale_minor": rule.max_per_sale_minor,
                "max_per_month_minor": rule.max_per_month_minor,
            },
            "min_sale_minor": self.min_sale_minor,
            "max_sale_minor": self.max_sale_minor,
        }
        # Only when set, so every spec written before late fees existed reads back unchanged.
        late = self.late_payment
        if late is not None:
            data["late_payment"] = {
                "rate": str(late.rate),
                "fixed_minor": late.fixed_minor,
                "grace_days": late.grace_days,
            }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TariffSpec:
        """Build and validate a spec from the dict shape that :meth:`to_dict` produces.

        Optional keys (everything but ``currency`` and ``energy``) may be left out.
        """
        try:
            return cls._from_dict(data)
        except TariffInvalid:
            raise
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise TariffInvalid(field="tariff", problem=f"malformed data ({exc})") from None

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any]) -> TariffSpec:
        currency = data["currency"]
        _require(isinstance(currency, str), "currency", "must be a currency code")
        energy = data["energy"]
        kind = energy.get("type")
        blocks: list[EnergyBlock] = []
        if kind == "flat":
            blocks.append(EnergyBlock(None, _decimal(energy["rate"], "energy.rate")))
        elif kind == "blocks":
            for index, raw in enumerate(energy["blocks"]):
                where = f"energy.blocks[{index}]"
                upper = raw.get("up_to_kwh")
                blocks.append(
                    EnergyBlock(
                        None if upper is None else _decimal(upper, where + ".up_to_kwh"),
                        _decimal(raw["rate"], where + ".rate"),
                    )
                )
        else:
            raise TariffInvalid(field="energy.type", problem="must be 'flat' or 'blocks'")

        charges = []
        for index, raw in enumerate(data.get("fixed_charges") or []):
            where = f"fixed_charges[{index}]"
            period = raw.get("period")
            _require(period in PERIODS, where, "period must be 'month' or 'day'")
            charges.append(
                FixedCharge(
                    name=_text(raw["name"], where + ".name"),
                    amount_minor=_int(raw["amount_minor"], where + ".amount_minor"),
                    period=cast(Period, period),
                    max_periods=_optional_int(raw.get("max_periods"), where + ".max_periods"),
                    max_amount_minor=_optional_int(
                        raw.get("max_amount_minor"), where + ".max_amount_minor"
                    ),
                )
            )

        taxes = []
        for index, raw in enumerate(data.get("taxes") or []):
            where = f"taxes[{index}]"
            taxes.append(
                Tax(
                    code=_text(raw["code"], where + ".code", max_length=20),
                    rate=_decimal(raw["rate"], where + ".rate"),
                    applies_to_energy=bool(raw.get("applies_to_energy", True)),
                    applies_to_fixed=bool(raw.get("applies_to_fixed", True)),
                    inclusive=bool(raw.get("inclusive", False)),
                )
            )

        fbe = {
            _text(category, "fbe_kwh", max_length=40): _decimal(kwh, f"fbe_kwh[{category!r}]")
            for category, kwh in (data.get("fbe_kwh") or {}).items()
        }

        raw_rule = data.get("debt_recovery")
        rule = None
        if raw_rule is not None:
            rule = DebtRecoveryRule(
                rate=_decimal(raw_rule["rate"], "debt_recovery.rate"),
                min_per_sale_minor=_int(
                    raw_rule.get("min_per_sale_minor", 0), "debt_recovery.min_per_sale_minor"
                ),
                max_per_sale_minor=_optional_int(
                    raw_rule.get("max_per_sale_minor"), "debt_recovery.max_per_sale_minor"
                ),
                max_per_month_minor=_optional_int(
                    raw_rule.get("max_per_month_minor"), "debt_recovery.max_per_month_minor"
                ),
            )

        raw_late = data.get("late_payment")
        late = None
        if raw_late is not None:
            late = LatePaymentRule(
                rate=_decimal(raw_late.get("rate", "0"), "late_payment.rate"),
                fixed_minor=_int(raw_late.get("fixed_minor", 0), "late_payment.fixed_minor"),
                grace_days=_int(raw_late.get("grace_days", 0), "late_payment.grace_days"),
            )

        return cls(
            currency=currency,
            blocks=tuple(blocks),
            fixed_charges=tuple(charges),
            taxes=tuple(taxes),
            fbe_kwh=fbe,
            debt_recovery=rule,
            min_sale_minor=_optional_int(data.get("min_sale_minor"), "min_sale_minor"),
            max_sale_minor=_optional_int(data.get("max_sale_minor"), "max_sale_minor"),
            late_payment=late,
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
