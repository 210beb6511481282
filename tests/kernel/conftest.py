"""Fixtures for the kernel tests: a worked block tariff and a factory for sale contexts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gridvend.kernel.pricing import SaleContext
from gridvend.kernel.tariffs import TariffSpec


def block_tariff_dict(**overrides: Any) -> dict[str, Any]:
    """KES blocks 0–50 kWh at 1.00, 50–150 at 2.00, above 150 at 3.00; VAT 16 % exclusive."""
    data: dict[str, Any] = {
        "currency": "KES",
        "energy": {
            "type": "blocks",
            "blocks": [
                {"up_to_kwh": "50", "rate": "1.00"},
                {"up_to_kwh": "150", "rate": "2.00"},
                {"up_to_kwh": None, "rate": "3.00"},
            ],
        },
        "taxes": [{"code": "VAT", "rate": "0.16", "inclusive": False}],
    }
    data.update(overrides)
    return data


@pytest.fixture
def block_tariff() -> TariffSpec:
    return TariffSpec.from_dict(block_tariff_dict())


@pytest.fixture
def bought_30kwh() -> SaleContext:
    return SaleContext(month_to_date_kwh=Decimal("30"))
