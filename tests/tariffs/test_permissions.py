"""Who may draft, submit, publish and reject: capability, rank, region, and the two-person rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from gridvend.identity import services as identity
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.tariffs import permissions, services
from gridvend.tariffs.models import VersionStatus
from tests import factories
from tests.tariffs.conftest import Cast, snapshot
from tests.tariffs.factories import finance_user, residential_spec

pytestmark = pytest.mark.django_db

Action = Callable[[User, Cast], object]


def _later() -> datetime:
    return timezone.now() + timedelta(days=1)


def _create_tariff(actor: User, cast: Cast) -> object:
    return services.create_tariff(
        actor=actor, code="new-one", name="New", org_unit=cast.tree.north, currency="KES"
    )


def _create_draft(actor: User, cast: Cast) -> object:
    return services.create_tariff_draft(actor=actor, tariff=cast.tariff, spec=residential_spec())


def _update_draft(actor: User, cast: Cast) -> object:
    version = cast.tariff.versions.get(status=VersionStatus.DRAFT)
    return services.update_tariff_draft(actor=actor, version=version, spec=residential_spec())


def _submit(actor: User, cast: Cast) -> object:
    version = cast.tariff.versions.get(status=VersionStatus.DRAFT)
    return services.submit_tariff_version(actor=actor, version=version)


def _publish(actor: User, cast: Cast) -> object:
    version = cast.tariff.versions.get(status=VersionStatus.SUBMITTED)
    return services.publish_tariff_version(actor=actor, version=version, effective_from=_later())


def _reject(actor: User, cast: Cast) -> object:
    version = cast.tariff.versions.get(status=VersionStatus.SUBMITTED)
    return services.reject_tariff_version(actor=actor, version=version, reason="No.")


def _withdraw(actor: User, cast: Cast) -> object:
    version = cast.tariff.versions.get(status=VersionStatus.DRAFT)
    return services.withdraw_tariff_version(actor=actor, version=version)


MAKER_ACTIONS: dict[str, Action] = {
    "create_tariff": _create_tariff,
    "create_draft": _create_draft,
    "update_draft": _update_draft,
    "submit": _submit,
    "withdraw": _withdraw,
}
CHECKER_ACTIONS: dict[str, Action] = {"publish": _publish, "reject": _reject}
ALL_ACTIONS = {**MAKER_ACTIONS, **CHECKER_ACTIONS}


@pytest.fixture
def staged(cast: Cast) -> Cast:
    """One draft and one submitted version, both written by the cast's maker."""
    cast.draft()
    cast.submitted()
    return cast


def _refused(action: Action, actor: User, cast: Cast, error: type[Exception]) -> None:
    before = snapshot()
    with pytest.raises(error):
        action(actor, cast)
    assert snapshot() == before


@pytest.mark.parametrize("name", sorted(ALL_ACTIONS))
def test_without_finance_capability_everything_is_refused(staged: Cast, name: str) -> None:
    senior = factories.user(staged.tree.north, Role.MASTER_STATION_MANAGER, (Capability.CASHIER,))
    _refused(ALL_ACTIONS[name], senior, staged, AccessDenied)


@pytest.mark.parametrize("name", sorted(ALL_ACTIONS))
def test_operator_with_finance_is_refused_everything(staged: Cast, name: str) -> None:
    operator = factories.user(staged.tree.north, Role.OPERATOR, (Capability.FINANCE,))
    _refused(ALL_ACTIONS[name], operator, staged, AccessDenied)


@pytest.mark.parametrize("name", sorted(CHECKER_ACTIONS))
def test_vending_point_manager_may_not_review(staged: Cast, name: str) -> None:
    # A colleague, not the author, so only the rank stands in the way.
    colleague = finance_user(staged.tree.north)
    _refused(CHECKER_ACTIONS[name], colleague, staged, AccessDenied)


@pytest.mark.parametrize("name", sorted(ALL_ACTIONS))
def test_out_of_region_tariff_is_not_found(staged: Cast, name: str) -> None:
    south_checker = finance_user(staged.tree.south, Role.MASTER_STATION_MANAGER)
    _refused(ALL_ACTIONS[name], south_checker, staged, NotFound)


@pytest.mark.parametrize("name", sorted(ALL_ACTIONS))
def test_deactivated_user_is_refused(staged: Cast, name: str) -> None:
    checker = finance_user(staged.tree.north, Role.MASTER_STATION_MANAGER)
    identity.update_user(actor=staged.tree.admin, user=checker, is_active=False)
    checker.refresh_from_db()
    _refused(ALL_ACTIONS[name], checker, staged, AccessDenied)


def test_tariff_of_a_parent_unit_is_out_of_scope_for_a_child_unit(cast: Cast) -> None:
    bu_checker = finance_user(cast.tree.north_bu, Role.MASTER_STATION_MANAGER)
    version = cast.submitted()
    before = snapshot()
    with pytest.raises(NotFound):
        services.publish_tariff_version(
            actor=bu_checker, version=version, effective_from=timezone.now()
        )
    with pytest.raises(NotFound):
        services.create_tariff_draft(actor=bu_checker, tariff=cast.tariff, spec=residential_spec())
    assert snapshot() == before


def test_region_manager_publishes_a_tariff_of_a_unit_below(cast: Cast) -> None:
    tariff = services.create_tariff(
        actor=cast.maker, code="sc", name="SC", org_unit=cast.tree.north_sc, currency="KES"
    )
    version = services.create_tariff_draft(actor=cast.maker, tariff=tariff, spec=residential_spec())
    services.submit_tariff_version(actor=cast.maker, version=version)
    published = services.publish_tariff_version(
        actor=cast.checker, version=version, effective_from=_later()
    )
    assert published.status == VersionStatus.PUBLISHED


# Maker–checker -----------------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["publish", "reject"])
def test_creator_may_not_decide_on_own_version(cast: Cast, decision: str) -> None:
    version = cast.submitted(actor=cast.checker)
    before = snapshot()
    with pytest.raises(services.MakerCheckerViolation) as caught:
        if decision == "publish":
            services.publish_tariff_version(
                actor=cast.checker, version=version, effective_from=timezone.now()
            )
        else:
            services.reject_tariff_version(actor=cast.checker, version=version, reason="Mine")
    assert caught.value.code == "MAKER_CHECKER_VIOLATION"
    assert snapshot() == before


@pytest.mark.parametrize("decision", ["publish", "reject"])
def test_submitter_may_not_decide_on_what_they_submitted(cast: Cast, decision: str) -> None:
    version = cast.draft()  # written by the maker
    services.submit_tariff_version(actor=cast.checker, version=version)  # submitted by the checker
    before = snapshot()
    with pytest.raises(services.MakerCheckerViolation):
        if decision == "publish":
            services.publish_tariff_version(
                actor=cast.checker, version=version, effective_from=timezone.now()
            )
        else:
            services.reject_tariff_version(actor=cast.checker, version=version, reason="Mine")
    assert snapshot() == before
    third = finance_user(cast.tree.north, Role.MASTER_STATION_MANAGER)
    assert services.publish_tariff_version(
        actor=third, version=version, effective_from=timezone.now()
    ).status == (VersionStatus.PUBLISHED)


def test_administrator_is_bound_by_maker_checker_too(cast: Cast) -> None:
    version = cast.submitted(actor=cast.tree.admin)
    before = snapshot()
    with pytest.raises(services.MakerCheckerViolation):
        services.publish_tariff_version(
            actor=cast.tree.admin, version=version, effective_from=timezone.now()
        )
    assert snapshot() == before


def test_capability_helpers_match_the_rules(cast: Cast) -> None:
    operator = factories.user(cast.tree.north, Role.OPERATOR, (Capability.FINANCE,))
    no_finance = factories.user(cast.tree.north, Role.MASTER_STATION_MANAGER)
    assert permissions.can_draft_tariffs(cast.maker) and not permissions.can_review_tariffs(
        cast.maker
    )
    assert permissions.can_draft_tariffs(cast.checker) and permissions.can_review_tariffs(
        cast.checker
    )
    assert permissions.can_review_tariffs(cast.tree.admin)
    assert not permissions.can_draft_tariffs(operator)
    assert not permissions.can_draft_tariffs(no_finance)
