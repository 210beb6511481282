"""Two people acting on the same tariff at once: row locks keep numbering and decisions single."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from gridvend.identity.roles import Role
from gridvend.kernel.errors import DomainError
from gridvend.tariffs import services
from gridvend.tariffs.errors import TariffErrorCode
from gridvend.tariffs.models import TariffVersion, VersionStatus
from tests import factories
from tests.tariffs.factories import finance_user, residential_spec

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _race(*calls: Callable[[], object]) -> list[object]:
    """Run the calls on their own connections, released together; return results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_drafts_get_distinct_numbers() -> None:
    tree = factories.Tree()
    makers = [finance_user(tree.north) for _ in range(4)]
    tariff = services.create_tariff(
        actor=makers[0], code="race", name="Race", org_unit=tree.north, currency="KES"
    )
    results = _race(
        *[
            (
                lambda m=maker: services.create_tariff_draft(
                    actor=m, tariff=tariff, spec=residential_spec()
                )
            )
            for maker in makers
        ]
    )
    assert all(isinstance(r, TariffVersion) for r in results), results
    numbers = sorted(TariffVersion.objects.filter(tariff=tariff).values_list("number", flat=True))
    assert numbers == [1, 2, 3, 4]


def test_two_reviewers_deciding_at_once_only_one_wins() -> None:
    tree = factories.Tree()
    maker = finance_user(tree.north)
    approver = finance_user(tree.north, Role.MASTER_STATION_MANAGER)
    rejecter = finance_user(tree.north, Role.MASTER_STATION_MANAGER)
    tariff = services.create_tariff(
        actor=maker, code="race", name="Race", org_unit=tree.north, currency="KES"
    )
    version = services.create_tariff_draft(actor=maker, tariff=tariff, spec=residential_spec())
    services.submit_tariff_version(actor=maker, version=version)
    start = timezone.now() + timedelta(days=1)
    results = _race(
        lambda: services.publish_tariff_version(
            actor=approver, version=version, effective_from=start
        ),
        lambda: services.reject_tariff_version(actor=rejecter, version=version, reason="No"),
    )
    winners = [r for r in results if isinstance(r, TariffVersion)]
    losers = [r for r in results if isinstance(r, DomainError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].code == TariffErrorCode.TARIFF_STATE_INVALID
    stored = TariffVersion.objects.get(pk=version.pk)
    assert stored.status == winners[0].status
    assert stored.status in (VersionStatus.PUBLISHED, VersionStatus.REJECTED)
