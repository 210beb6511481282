"""The life of a tariff version: draft, submit, reject or publish, withdraw, with audit events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import AccessDenied
from gridvend.identity.roles import Role
from gridvend.kernel.tariffs import TariffSpec
from gridvend.tariffs import selectors, services
from gridvend.tariffs.models import TariffVersion, VersionStatus
from tests.tariffs.conftest import Cast, snapshot
from tests.tariffs.factories import finance_user, residential_spec

pytestmark = pytest.mark.django_db


def _events(target: TariffVersion) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_type="tariffs.tariffversion", target_id=str(target.pk))
        .order_by("id")
        .values_list("event_type", flat=True)
    )


def test_full_life_cycle_from_tariff_to_price_in_force(cast: Cast) -> None:
    maker, checker = cast.maker, cast.checker
    created = AuditEvent.objects.get(event_type="tariff.created", target_id=str(cast.tariff.pk))
    assert created.actor_id == maker.pk
    assert created.after == {
        "code": "north-res",
        "name": "North residential",
        "org_unit": cast.tree.north.pk,
        "currency": "KES",
    }

    version = services.create_tariff_draft(
        actor=maker, tariff=cast.tariff, spec=residential_spec(), notes=" first cut "
    )
    assert (version.number, version.status, version.notes) == (1, VersionStatus.DRAFT, "first cut")
    assert version.created_by == maker

    cheaper = residential_spec()
    cheaper["energy"]["blocks"][0]["rate"] = "11.00"
    version = services.update_tariff_draft(
        actor=maker, version=version, spec=cheaper, notes="cheaper"
    )
    version = services.submit_tariff_version(actor=maker, version=version)
    assert version.status == VersionStatus.SUBMITTED
    assert version.submitted_by == maker and version.submitted_at is not None

    version = services.reject_tariff_version(
        actor=checker, version=version, reason="  Block 1 too cheap "
    )
    assert version.status == VersionStatus.REJECTED
    assert version.rejection_reason == "Block 1 too cheap"

    version = services.update_tariff_draft(actor=maker, version=version, spec=residential_spec())
    assert version.status == VersionStatus.DRAFT
    assert version.notes == "cheaper"  # notes=None keeps them
    assert version.rejection_reason == "Block 1 too cheap"  # still readable while editing
    version = services.submit_tariff_version(actor=maker, version=version)
    assert version.rejection_reason == ""

    start = timezone.now()
    version = services.publish_tariff_version(actor=checker, version=version, effective_from=start)
    assert version.status == VersionStatus.PUBLISHED
    assert version.approved_by == checker and version.approved_at is not None
    assert version.effective_from == start

    stored = TariffVersion.objects.get(pk=version.pk)
    assert stored.status == VersionStatus.PUBLISHED
    in_force, spec = selectors.spec_in_force(cast.tariff, start + timedelta(seconds=1))
    assert in_force.pk == version.pk
    assert spec == TariffSpec.from_dict(residential_spec())

    assert _events(version) == [
        "tariff_version.drafted",
        "tariff_version.updated",
        "tariff_version.submitted",
        "tariff_version.rejected",
        "tariff_version.updated",
        "tariff_version.submitted",
        "tariff_version.published",
    ]
    published = AuditEvent.objects.get(
        event_type="tariff_version.published", target_id=str(version.pk)
    )
    assert published.actor_id == checker.pk
    assert published.before is not None and published.before["status"] == "submitted"
    assert published.after is not None and published.after["status"] == "published"
    assert published.after["approved_by"] == checker.pk
    assert published.org_path == cast.tree.north.path


def test_versions_are_numbered_in_sequence_per_tariff(cast: Cast) -> None:
    numbers = [cast.draft().number for _ in range(3)]
    other = services.create_tariff(
        actor=cast.maker, code="other", name="Other", org_unit=cast.tree.north, currency="KES"
    )
    first_of_other = services.create_tariff_draft(
        actor=cast.maker, tariff=other, spec=residential_spec()
    )
    assert numbers == [1, 2, 3]
    assert first_of_other.number == 1


def test_draft_stores_the_kernel_normalised_spec(cast: Cast) -> None:
    sparse = {"currency": "KES", "energy": {"type": "flat", "rate": "20.00"}}
    version = services.create_tariff_draft(actor=cast.maker, tariff=cast.tariff, spec=sparse)
    version.refresh_from_db()
    assert version.spec == TariffSpec.from_dict(sparse).to_dict()
    assert version.spec["debt_recovery"] is None
    assert version.spec["fixed_charges"] == []


def test_administrator_may_draft_and_another_person_publishes(cast: Cast) -> None:
    admin = cast.tree.admin
    version = cast.submitted(actor=admin)
    published = services.publish_tariff_version(
        actor=cast.checker, version=version, effective_from=timezone.now()
    )
    assert published.status == VersionStatus.PUBLISHED
    assert published.created_by == admin


def test_administrator_may_approve_without_a_granted_capability(cast: Cast) -> None:
    version = cast.submitted()
    published = services.publish_tariff_version(
        actor=cast.tree.admin, version=version, effective_from=timezone.now()
    )
    assert published.approved_by == cast.tree.admin


def test_only_the_author_may_edit_a_draft(cast: Cast) -> None:
    version = cast.draft()
    colleague = finance_user(cast.tree.north)
    before = snapshot()
    with pytest.raises(AccessDenied):
        services.update_tariff_draft(actor=colleague, version=version, spec=residential_spec())
    assert snapshot() == before


@pytest.mark.parametrize("status", ["submitted", "published", "withdrawn"])
def test_only_drafts_and_rejected_versions_can_be_edited(cast: Cast, status: str) -> None:
    version = cast.submitted()
    if status == "published":
        services.publish_tariff_version(
            actor=cast.checker, version=version, effective_from=timezone.now()
        )
    if status == "withdrawn":
        services.withdraw_tariff_version(actor=cast.maker, version=version)
    before = snapshot()
    with pytest.raises(services.TariffStateInvalid) as caught:
        services.update_tariff_draft(
            actor=cast.maker, version=version, spec=residential_spec(min_sale_minor=1)
        )
    assert caught.value.code == "TARIFF_STATE_INVALID"
    assert caught.value.params == {"status": status, "action": "update"}
    assert snapshot() == before


def test_steps_out_of_order_are_refused_and_change_nothing(cast: Cast) -> None:
    draft = cast.draft()
    submitted = cast.submitted()
    before = snapshot()
    with pytest.raises(services.TariffStateInvalid):
        services.publish_tariff_version(
            actor=cast.checker, version=draft, effective_from=timezone.now()
        )
    with pytest.raises(services.TariffStateInvalid):
        services.reject_tariff_version(actor=cast.checker, version=draft, reason="no")
    with pytest.raises(services.TariffStateInvalid):
        services.submit_tariff_version(actor=cast.maker, version=submitted)
    assert snapshot() == before
    services.publish_tariff_version(
        actor=cast.checker, version=submitted, effective_from=timezone.now()
    )
    after_publish = snapshot()
    with pytest.raises(services.TariffStateInvalid):
        services.publish_tariff_version(
            actor=cast.checker, version=submitted, effective_from=timezone.now()
        )
    with pytest.raises(services.TariffStateInvalid):
        services.reject_tariff_version(actor=cast.checker, version=submitted, reason="too late")
    assert snapshot() == after_publish


def test_a_stale_copy_cannot_publish_a_withdrawn_version(cast: Cast) -> None:
    stale = cast.submitted()
    services.withdraw_tariff_version(
        actor=cast.maker, version=TariffVersion.objects.get(pk=stale.pk)
    )
    before = snapshot()
    assert stale.status == VersionStatus.SUBMITTED  # the caller's copy never saw the withdrawal
    with pytest.raises(services.TariffStateInvalid):
        services.publish_tariff_version(
            actor=cast.checker, version=stale, effective_from=timezone.now()
        )
    assert snapshot() == before


# Withdrawal --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["draft", "submitted", "rejected"])
def test_author_withdraws_own_unpublished_version(cast: Cast, status: str) -> None:
    version = cast.draft() if status == "draft" else cast.submitted()
    if status == "rejected":
        services.reject_tariff_version(actor=cast.checker, version=version, reason="no")
    withdrawn = services.withdraw_tariff_version(actor=cast.maker, version=version)
    assert withdrawn.status == VersionStatus.WITHDRAWN
    assert TariffVersion.objects.get(pk=version.pk).status == VersionStatus.WITHDRAWN
    event = AuditEvent.objects.get(event_type="tariff_version.withdrawn")
    assert event.actor_id == cast.maker.pk
    assert event.before is not None and event.before["status"] == status


def test_reviewer_withdraws_someone_elses_submitted_version(cast: Cast) -> None:
    version = cast.submitted()
    assert (
        services.withdraw_tariff_version(actor=cast.checker, version=version).status == "withdrawn"
    )


def test_colleague_of_the_same_rank_cannot_withdraw_a_draft(cast: Cast) -> None:
    version = cast.draft()
    colleague = finance_user(cast.tree.north)
    before = snapshot()
    with pytest.raises(AccessDenied):
        services.withdraw_tariff_version(actor=colleague, version=version)
    assert snapshot() == before


def test_reviewer_withdraws_a_published_version_not_yet_in_force(cast: Cast) -> None:
    current = cast.submitted()
    services.publish_tariff_version(
        actor=cast.checker, version=current, effective_from=timezone.now()
    )
    rise = cast.submitted()
    services.publish_tariff_version(
        actor=cast.checker, version=rise, effective_from=timezone.now() + timedelta(days=7)
    )
    services.withdraw_tariff_version(actor=cast.checker, version=rise)
    in_ten_days = timezone.now() + timedelta(days=10)
    assert selectors.version_in_force(cast.tariff, in_ten_days).pk == current.pk


def test_maker_cannot_withdraw_a_published_version(cast: Cast) -> None:
    version = cast.submitted()
    services.publish_tariff_version(
        actor=cast.checker, version=version, effective_from=timezone.now() + timedelta(days=7)
    )
    before = snapshot()
    with pytest.raises(AccessDenied):
        services.withdraw_tariff_version(actor=cast.maker, version=version)
    assert snapshot() == before


def test_a_version_in_force_cannot_be_withdrawn(cast: Cast) -> None:
    version = cast.submitted()
    services.publish_tariff_version(
        actor=cast.checker, version=version, effective_from=timezone.now()
    )
    before = snapshot()
    with pytest.raises(services.TariffStateInvalid) as caught:
        services.withdraw_tariff_version(actor=cast.tree.admin, version=version)
    assert caught.value.params["action"] == "withdraw_in_force"
    assert snapshot() == before


def test_a_withdrawn_version_cannot_be_withdrawn_again(cast: Cast) -> None:
    version = services.withdraw_tariff_version(actor=cast.maker, version=cast.draft())
    before = snapshot()
    with pytest.raises(services.TariffStateInvalid):
        services.withdraw_tariff_version(actor=cast.maker, version=version)
    assert snapshot() == before


def test_rejection_needs_a_reason(cast: Cast) -> None:
    from gridvend.identity.errors import ValidationFailed

    version = cast.submitted()
    before = snapshot()
    with pytest.raises(ValidationFailed) as caught:
        services.reject_tariff_version(actor=cast.checker, version=version, reason="   ")
    assert caught.value.params == {"field": "reason"}
    assert snapshot() == before


def test_master_station_manager_may_also_draft(cast: Cast) -> None:
    version = cast.draft(actor=cast.checker)
    assert version.created_by == cast.checker
    assert cast.checker.role == Role.MASTER_STATION_MANAGER
