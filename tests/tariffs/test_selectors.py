"""Reads: the version in force at an instant, diffs, and which tariffs apply where."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from gridvend.identity.errors import NotFound
from gridvend.identity.roles import Role
from gridvend.kernel.errors import DomainError, ErrorCode
from gridvend.kernel.tariffs import TariffSpec
from gridvend.org.models import OrgUnit
from gridvend.tariffs import selectors, services
from gridvend.tariffs.models import Tariff, TariffVersion
from gridvend.tariffs.selectors import Change, ChangeKind
from tests.tariffs.conftest import Cast
from tests.tariffs.factories import (
    RESIDENTIAL_SPEC,
    finance_user,
    published_tariff,
    residential_spec,
)

pytestmark = pytest.mark.django_db


def _publish(cast: Cast, at: datetime, **overrides: Any) -> TariffVersion:
    version = cast.submitted(**overrides)
    return services.publish_tariff_version(actor=cast.checker, version=version, effective_from=at)


@pytest.fixture
def timeline(cast: Cast) -> tuple[Cast, datetime, dict[str, TariffVersion]]:
    """Published versions from t0, t0+10d (twice, withdrawn), t0+20d; unpublished ones later."""
    t0 = timezone.now() + timedelta(hours=1)
    versions = {
        "first": _publish(cast, t0, min_sale_minor=100),
        "rise": _publish(cast, t0 + timedelta(days=10), min_sale_minor=200),
        "later": _publish(cast, t0 + timedelta(days=20), min_sale_minor=300),
    }
    withdrawn = _publish(cast, t0 + timedelta(days=15), min_sale_minor=999)
    services.withdraw_tariff_version(actor=cast.checker, version=withdrawn)
    cast.submitted(min_sale_minor=998)  # submitted, never published
    cast.draft(min_sale_minor=997)
    return cast, t0, versions


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(0), "first"),
        (timedelta(days=9, hours=23), "first"),
        (timedelta(days=10), "rise"),
        (timedelta(days=16), "rise"),  # the withdrawn version from day 15 does not count
        (timedelta(days=20), "later"),
        (timedelta(days=400), "later"),
    ],
)
def test_version_in_force_is_latest_published_not_after_the_instant(
    timeline: tuple[Cast, datetime, dict[str, TariffVersion]], offset: timedelta, expected: str
) -> None:
    cast, t0, versions = timeline
    assert selectors.version_in_force(cast.tariff, t0 + offset).pk == versions[expected].pk


def test_no_version_in_force_before_the_first_takes_effect(
    timeline: tuple[Cast, datetime, dict[str, TariffVersion]],
) -> None:
    cast, t0, _ = timeline
    with pytest.raises(DomainError) as caught:
        selectors.version_in_force(cast.tariff, t0 - timedelta(microseconds=1))
    assert caught.value.code == ErrorCode.TARIFF_NOT_FOUND


def test_tariff_with_only_drafts_has_nothing_in_force(cast: Cast) -> None:
    cast.submitted()
    with pytest.raises(DomainError) as caught:
        selectors.spec_in_force(cast.tariff, timezone.now() + timedelta(days=1))
    assert caught.value.code == ErrorCode.TARIFF_NOT_FOUND


def test_version_in_force_takes_one_query(
    timeline: tuple[Cast, datetime, dict[str, TariffVersion]],
    django_assert_num_queries: Any,
) -> None:
    cast, t0, versions = timeline
    with django_assert_num_queries(1):
        version = selectors.version_in_force(cast.tariff, t0 + timedelta(days=12))
        assert version.tariff.code == "north-res"
    assert version.pk == versions["rise"].pk


def test_versions_of_other_tariffs_are_ignored(cast: Cast) -> None:
    published_tariff(org_unit=cast.tree.north)
    with pytest.raises(DomainError):
        selectors.version_in_force(cast.tariff, timezone.now() + timedelta(days=1))


def test_same_effective_instant_the_higher_number_wins(cast: Cast) -> None:
    at = timezone.now() + timedelta(days=3)
    _publish(cast, at, min_sale_minor=100)
    correction = _publish(cast, at, min_sale_minor=150)
    assert selectors.version_in_force(cast.tariff, at).pk == correction.pk


def test_instant_in_another_time_zone_is_compared_as_utc(cast: Cast) -> None:
    at = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    version = _publish(cast, at)
    from zoneinfo import ZoneInfo

    nairobi = at.astimezone(ZoneInfo("Africa/Nairobi"))
    assert selectors.version_in_force(cast.tariff, nairobi).pk == version.pk
    with pytest.raises(DomainError):
        selectors.version_in_force(cast.tariff, nairobi - timedelta(seconds=1))


def test_naive_instant_is_refused(cast: Cast) -> None:
    with pytest.raises(ValueError):
        selectors.version_in_force(cast.tariff, datetime(2099, 1, 1))


def test_spec_in_force_returns_the_parsed_spec(
    timeline: tuple[Cast, datetime, dict[str, TariffVersion]],
) -> None:
    cast, t0, versions = timeline
    version, spec = selectors.spec_in_force(cast.tariff, t0 + timedelta(days=21))
    assert version.pk == versions["later"].pk
    assert spec == TariffSpec.from_dict(residential_spec(min_sale_minor=300))
    assert spec.min_sale_minor == 300


# compare_versions --------------------------------------------------------------------------------


def test_compare_versions_lists_each_changed_leaf(cast: Cast) -> None:
    old = cast.draft()
    spec = residential_spec()
    spec["energy"]["blocks"][1]["rate"] = "19.75"
    spec["taxes"][0]["inclusive"] = True
    spec["fbe_kwh"] = {"residential": "50", "lifeline": "20"}
    spec["debt_recovery"] = None
    new = services.create_tariff_draft(actor=cast.maker, tariff=cast.tariff, spec=spec)

    changes = selectors.compare_versions(old, new)

    assert changes == [
        Change("energy.blocks[1].rate", "18.50", "19.75"),
        Change("taxes[0].inclusive", False, True),
        Change("fbe_kwh.lifeline", None, "20", ChangeKind.ADDED),
        Change("debt_recovery", RESIDENTIAL_SPEC["debt_recovery"], None),
    ]
    assert str(changes[0]) == "energy.blocks[1].rate: '18.50' → '19.75'"
    assert str(changes[2]) == "fbe_kwh.lifeline: + '20'"


def test_added_block_is_reported_leaf_by_leaf(cast: Cast) -> None:
    old = cast.draft()
    spec = residential_spec()
    spec["energy"]["blocks"][2]["up_to_kwh"] = "300"
    spec["energy"]["blocks"].append({"up_to_kwh": None, "rate": "30.00"})
    new = services.create_tariff_draft(actor=cast.maker, tariff=cast.tariff, spec=spec)
    assert selectors.compare_versions(old, new) == [
        Change("energy.blocks[2].up_to_kwh", None, "300"),
        Change("energy.blocks[3].up_to_kwh", None, None, ChangeKind.ADDED),
        Change("energy.blocks[3].rate", None, "30.00", ChangeKind.ADDED),
    ]


def test_identical_and_numerically_equal_specs_have_no_changes(cast: Cast) -> None:
    one = cast.draft()
    other = cast.draft()
    assert selectors.compare_versions(one, other) == []
    assert selectors.diff_specs({"rate": "2.0", "n": 1}, {"rate": "2.00", "n": 1}) == []
    assert selectors.diff_specs({"n": 1}, {"n": True}) == [Change("n", 1, True)]


def test_removed_block_and_removed_field_are_reported_as_removed() -> None:
    old = {"blocks": [{"rate": "1"}, {"rate": "2"}], "cap": 5}
    new = {"blocks": [{"rate": "1"}]}
    assert selectors.diff_specs(old, new) == [
        Change("blocks[1].rate", "2", None, ChangeKind.REMOVED),
        Change("cap", 5, None, ChangeKind.REMOVED),
    ]


# Which tariffs, for whom -------------------------------------------------------------------------


def _tariff_at(unit: OrgUnit) -> Tariff:
    return published_tariff(org_unit=unit, code=f"t-{unit.code}")


def test_tariffs_available_for_unit_are_its_own_and_its_ancestors(cast: Cast) -> None:
    tree = cast.tree
    for unit in (tree.root, tree.north_bu, tree.north_sc, tree.south, tree.south_bu):
        _tariff_at(unit)

    def codes(unit: OrgUnit) -> set[str]:
        return set(selectors.tariffs_available_for_unit(unit).values_list("code", flat=True))

    assert codes(tree.north_bu) == {"t-test-utility", "north-res", "t-north-bu"}
    assert codes(tree.north_sc) == {"t-test-utility", "north-res", "t-north-bu", "t-north-sc"}
    assert codes(tree.south_bu) == {"t-test-utility", "t-south", "t-south-bu"}
    assert codes(tree.root) == {"t-test-utility"}


def test_list_tariffs_is_the_actors_subtree_and_searchable(cast: Cast) -> None:
    tree = cast.tree
    for unit in (tree.root, tree.north_sc, tree.south):
        _tariff_at(unit)
    codes = set(selectors.list_tariffs(cast.maker).values_list("code", flat=True))
    assert codes == {"north-res", "t-north-sc"}
    assert [t.code for t in selectors.list_tariffs(cast.maker, search="SC")] == ["t-north-sc"]
    assert selectors.list_tariffs(tree.admin).count() == 4


def test_get_tariff_out_of_scope_is_not_found(cast: Cast) -> None:
    south = finance_user(cast.tree.south, Role.MASTER_STATION_MANAGER)
    assert selectors.get_tariff(cast.maker, cast.tariff.pk) == cast.tariff
    with pytest.raises(NotFound):
        selectors.get_tariff(south, cast.tariff.pk)


def test_list_versions_newest_first_and_scoped(cast: Cast) -> None:
    cast.draft()
    cast.submitted()
    assert [v.number for v in selectors.list_versions(cast.maker, cast.tariff)] == [2, 1]
    south = finance_user(cast.tree.south)
    with pytest.raises(NotFound):
        selectors.list_versions(south, cast.tariff)
    version = cast.tariff.versions.get(number=1)
    assert selectors.get_version(cast.maker, version.pk) == version
    with pytest.raises(NotFound):
        selectors.get_version(south, version.pk)


def test_published_tariff_factory_is_in_force_from_long_ago() -> None:
    tariff = published_tariff()
    version, spec = selectors.spec_in_force(tariff, datetime(2001, 6, 1, tzinfo=UTC))
    assert version.created_by != version.approved_by
    assert [str(b.upper_kwh) for b in spec.blocks] == ["50", "150", "None"]
    assert spec.taxes[0].rate == TariffSpec.from_dict(residential_spec()).taxes[0].rate
    assert not spec.taxes[0].inclusive
    assert spec.fbe_kwh == {"residential": 50}
    assert spec.debt_recovery is not None and spec.debt_recovery.min_per_sale_minor > 0
    with pytest.raises(DomainError):
        selectors.version_in_force(tariff, datetime(1999, 12, 31, tzinfo=UTC))


def test_published_tariff_factory_with_future_start(cast: Cast) -> None:
    start = timezone.now() + timedelta(days=2)
    tariff = published_tariff(actor=cast.maker, effective_from=start)
    assert tariff.org_unit == cast.tree.north
    assert selectors.version_in_force(tariff, start).effective_from == start
    with pytest.raises(DomainError):
        selectors.version_in_force(tariff, timezone.now())
