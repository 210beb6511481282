"""Bad input is refused with a stable code and nothing is written: specs, currencies, dates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from gridvend.identity.errors import ValidationFailed
from gridvend.kernel.errors import DomainError, ErrorCode
from gridvend.tariffs import services
from gridvend.tariffs.models import VersionStatus
from tests.tariffs.conftest import Cast, snapshot
from tests.tariffs.factories import residential_spec

pytestmark = pytest.mark.django_db


def _decreasing_blocks() -> dict[str, Any]:
    spec = residential_spec()
    spec["energy"]["blocks"][1]["up_to_kwh"] = "40"
    return spec


INVALID_SPECS: dict[str, Any] = {
    "decreasing blocks": _decreasing_blocks(),
    "float rate": residential_spec(energy={"type": "flat", "rate": 2.5}),
    "no energy": {"currency": "KES"},
    "unknown currency": residential_spec(currency="XXX"),
    "debt share above 100 %": residential_spec(debt_recovery={"rate": "1.5"}),
    "not a mapping": ["KES", "2.00"],
}


@pytest.mark.parametrize("case", sorted(INVALID_SPECS))
def test_invalid_spec_is_refused_and_no_draft_is_written(cast: Cast, case: str) -> None:
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        services.create_tariff_draft(actor=cast.maker, tariff=cast.tariff, spec=INVALID_SPECS[case])
    assert caught.value.code == ErrorCode.TARIFF_INVALID
    assert snapshot() == before


def test_invalid_spec_names_the_field(cast: Cast) -> None:
    with pytest.raises(DomainError) as caught:
        services.create_tariff_draft(
            actor=cast.maker, tariff=cast.tariff, spec=_decreasing_blocks()
        )
    assert caught.value.params["field"] == "energy.blocks[1]"


def test_invalid_update_leaves_the_draft_as_it_was(cast: Cast) -> None:
    version = cast.draft()
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        services.update_tariff_draft(actor=cast.maker, version=version, spec=_decreasing_blocks())
    assert caught.value.code == ErrorCode.TARIFF_INVALID
    assert snapshot() == before


def test_spec_in_another_currency_is_refused_for_a_new_draft(cast: Cast) -> None:
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        services.create_tariff_draft(
            actor=cast.maker, tariff=cast.tariff, spec=residential_spec(currency="UGX")
        )
    assert caught.value.code == ErrorCode.CURRENCY_MISMATCH
    assert caught.value.params == {"expected": "KES", "got": "UGX"}
    assert snapshot() == before


def test_spec_in_another_currency_is_refused_for_an_update(cast: Cast) -> None:
    version = cast.draft()
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        services.update_tariff_draft(
            actor=cast.maker, version=version, spec=residential_spec(currency="UGX")
        )
    assert caught.value.code == ErrorCode.CURRENCY_MISMATCH
    assert snapshot() == before


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("code", {"code": "  "}),
        ("code", {"code": "north-res"}),  # taken by the cast's tariff
        ("name", {"name": " "}),
        ("currency", {"currency": "ZZZ"}),
    ],
)
def test_create_tariff_refuses_bad_fields(cast: Cast, field: str, kwargs: dict[str, str]) -> None:
    values = {"code": "fresh", "name": "Fresh", "currency": "KES", **kwargs}
    before = snapshot()
    with pytest.raises(ValidationFailed) as caught:
        services.create_tariff(actor=cast.maker, org_unit=cast.tree.north, **values)
    assert caught.value.params == {"field": field}
    assert snapshot() == before


def test_create_tariff_cleans_code_and_currency(cast: Cast) -> None:
    tariff = services.create_tariff(
        actor=cast.maker,
        code="Small Business",
        name=" SME ",
        org_unit=cast.tree.north,
        currency="ugx",
    )
    assert (tariff.code, tariff.name, tariff.currency) == ("small-business", "SME", "UGX")


def test_effective_date_in_the_past_is_refused(cast: Cast) -> None:
    version = cast.submitted()
    before = snapshot()
    with pytest.raises(ValidationFailed) as caught:
        services.publish_tariff_version(
            actor=cast.checker,
            version=version,
            effective_from=timezone.now() - timedelta(minutes=5),
        )
    assert caught.value.params == {"field": "effective_from"}
    assert snapshot() == before


def test_effective_date_a_few_seconds_ago_is_clock_skew_and_allowed(cast: Cast) -> None:
    version = cast.submitted()
    published = services.publish_tariff_version(
        actor=cast.checker, version=version, effective_from=timezone.now() - timedelta(seconds=30)
    )
    assert published.status == VersionStatus.PUBLISHED


def test_naive_effective_date_is_refused(cast: Cast) -> None:
    version = cast.submitted()
    before = snapshot()
    with pytest.raises(ValidationFailed):
        services.publish_tariff_version(
            actor=cast.checker, version=version, effective_from=datetime(2099, 1, 1)
        )
    assert snapshot() == before
