"""Example tariff specs (the worked residential example, a flat commercial one, a form's start).

The demo utility, the tariff editor's blank form, the test factories and the vending benchmark
all start from these, so the example a reader meets in one place is the one priced in another.
"""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any]


def blocks(*steps: tuple[str | None, str]) -> Spec:
    """Stepped energy: each step is (upper kWh bound or None for the last, rate per kWh)."""
    return {
        "type": "blocks",
        "blocks": [{"up_to_kwh": up_to, "rate": rate} for up_to, rate in steps],
    }


def monthly_charge(name: str, amount_minor: int) -> Spec:
    """A fixed charge per month, recovered for at most three unpaid months."""
    return {
        "name": name,
        "amount_minor": amount_minor,
        "period": "month",
        "max_periods": 3,
        "max_amount_minor": None,
    }


def vat(rate: str = "0.16") -> Spec:
    """Value added tax on energy and fixed charges, added on top of the price."""
    return {
        "code": "VAT",
        "rate": rate,
        "applies_to_energy": True,
        "applies_to_fixed": True,
        "inclusive": False,
    }


def debt_rule(
    rate: str, *, min_per_sale_minor: int, max_per_sale_minor: int, max_per_month_minor: int
) -> Spec:
    """Debt recovery: a share of each sale, bounded per sale and per month."""
    return {
        "rate": rate,
        "min_per_sale_minor": min_per_sale_minor,
        "max_per_sale_minor": max_per_sale_minor,
        "max_per_month_minor": max_per_month_minor,
    }


def spec(
    currency: str,
    *,
    energy: Spec,
    fixed_charge: Spec,
    fbe_kwh: dict[str, str],
    debt_recovery: Spec | None,
    min_sale_minor: int | None,
    max_sale_minor: int | None,
) -> Spec:
    """A whole spec with one fixed charge and VAT at 16 %, the shape every example shares."""
    return {
        "currency": currency,
        "energy": energy,
        "fixed_charges": [fixed_charge],
        "taxes": [vat()],
        "fbe_kwh": fbe_kwh,
        "debt_recovery": debt_recovery,
        "min_sale_minor": min_sale_minor,
        "max_sale_minor": max_sale_minor,
    }


def residential_spec(currency: str = "KES", **overrides: Any) -> Spec:
    """The worked example: three blocks, a service charge, VAT 16 % exclusive, FBE, debt rule.

    A fresh dict each call; ``overrides`` replace whole top-level sections.
    """
    example = spec(
        currency,
        energy=blocks(("50", "12.00"), ("150", "18.50"), (None, "24.00")),
        fixed_charge=monthly_charge("Service charge", 15000),
        fbe_kwh={"residential": "50"},
        debt_recovery=debt_rule(
            "0.25",
            min_per_sale_minor=1000,
            max_per_sale_minor=50000,
            max_per_month_minor=200000,
        ),
        min_sale_minor=5000,
        max_sale_minor=10000000,
    )
    example.update(overrides)
    return example


def commercial_spec(currency: str = "KES") -> Spec:
    """A flat rate with a larger monthly charge, no FBE and a lighter debt rule."""
    return spec(
        currency,
        energy={"type": "flat", "rate": "22.50"},
        fixed_charge=monthly_charge("Monthly fixed charge", 25000),
        fbe_kwh={},
        debt_recovery=debt_rule(
            "0.20",
            min_per_sale_minor=2000,
            max_per_sale_minor=100000,
            max_per_month_minor=300000,
        ),
        min_sale_minor=10000,
        max_sale_minor=50000000,
    )


def starter_spec(currency: str) -> Spec:
    """What a first version's form starts from: every section present, so it reads as a form."""
    return spec(
        currency,
        energy=blocks(("50", "10.00"), (None, "20.00")),
        fixed_charge=monthly_charge("Service charge", 10000),
        fbe_kwh={"residential": "0"},
        debt_recovery=None,
        min_sale_minor=None,
        max_sale_minor=None,
    )
