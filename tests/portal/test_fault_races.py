"""Simultaneous fault reports from one login cannot outrun its limits (PostgreSQL; SQLite
serialises writers anyway): the hour's share is counted under the login's row lock, and one
report form sent many times at once makes one report."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import hashers
from django.test import override_settings

from gridvend.logins import faults
from gridvend.logins.errors import TooManyFaults
from gridvend.logins.models import CustomerLogin, LinkedMeter, PortalFault
from gridvend.meters.models import FaultReport, Meter
from tests.threads import run_threads
from tests.world import build_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SENDERS = 8


def _login() -> tuple[CustomerLogin, Meter]:
    world = build_world()
    meter = world.add_meter(name="Amina Yusuf")
    login = CustomerLogin.objects.create(
        username="amina", password=hashers.make_password("x" * 20), phone="+254712345126"
    )
    assert meter.customer is not None
    LinkedMeter.objects.create(login=login, meter=meter, customer=meter.customer)
    return login, meter


def _send(login: CustomerLogin, meter: Meter, request_id: str) -> Any:
    return faults.report_portal_fault(
        login=login,
        meter_number=meter.number,
        category="no_supply",
        description="no power",
        request_id=request_id,
    )


@override_settings(PORTAL_FAULTS_PER_HOUR=3)
def test_parallel_reports_stop_at_the_hours_share() -> None:
    login, meter = _login()
    results, errors = run_threads(SENDERS, lambda i: _send(login, meter, f"race-form-{i:04d}"))
    assert len([r for r in results if r is not None]) == 3
    assert len(errors) == SENDERS - 3 and all(isinstance(e, TooManyFaults) for e in errors)
    assert PortalFault.objects.count() == FaultReport.objects.count() == 3


def test_one_form_sent_at_once_many_times_makes_one_report() -> None:
    login, meter = _login()
    results, errors = run_threads(SENDERS, lambda i: _send(login, meter, "race-form-same"))
    assert errors == []
    assert len({r.pk for r in results}) == 1
    assert PortalFault.objects.count() == FaultReport.objects.count() == 1
