"""Supervisors over shifts: sign-off by someone other than the cashier, force-closing abandoned
shifts without a count, and the Z summary's gross, reversed and net lines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.errors import DomainError
from gridvend.reports import shifts as shift_reports
from gridvend.vending import services as vending
from gridvend.vending import shifts
from gridvend.vending.models import Shift, ShiftStatus
from tests import factories
from tests.world import World

pytestmark = pytest.mark.django_db


def _shift(world: World) -> Shift:
    shift = shifts.current_shift(world.cashier)
    assert shift is not None
    return shift


def _state(shift: Shift) -> tuple[object, ...]:
    shift.refresh_from_db()
    return (
        shift.status,
        shift.closed_at,
        shift.is_force_closed,
        shift.signed_off_by_id,
        shift.counted,
        AuditEvent.objects.count(),
    )


def _refused(code: str, call: object, shift: Shift) -> None:
    before = _state(shift)
    with pytest.raises(DomainError) as err:
        call()  # type: ignore[operator]
    assert err.value.code == code
    assert _state(shift) == before


# --- force-close ----------------------------------------------------------------------------


def test_an_abandoned_shift_is_force_closed_without_a_count(world: World) -> None:
    shift = _shift(world)
    later = shift.opened_at + timedelta(hours=16)
    closed = shifts.force_close_shift(
        actor=world.supervisor, shift=shift, reason="cashier went home ill", now=later
    )
    assert closed.status == ShiftStatus.CLOSED and closed.is_force_closed
    assert (closed.closed_by_id, closed.closed_at) == (world.supervisor.pk, later)
    assert closed.counted == {} and closed.expected == {"cash": 100000}
    assert closed.force_close_reason == "cashier went home ill"
    event = AuditEvent.objects.get(event_type="shift.force_closed", target_id=str(shift.pk))
    assert event.after is not None and event.after["reason"] == "cashier went home ill"
    # The cashier can start again.
    shifts.open_shift(
        actor=world.cashier, vending_point=world.point, opening_float=world.money("0.00")
    )


def test_a_shift_cannot_be_force_closed_before_the_abandon_time(world: World) -> None:
    shift = _shift(world)
    early = shift.opened_at + timedelta(hours=15, minutes=59)
    _refused(
        "SHIFT_NOT_ABANDONED",
        lambda: shifts.force_close_shift(
            actor=world.supervisor, shift=shift, reason="x", now=early
        ),
        shift,
    )


@override_settings(SHIFT_ABANDON_HOURS=2)
def test_the_abandon_time_is_a_setting(world: World) -> None:
    shift = _shift(world)
    shifts.force_close_shift(
        actor=world.supervisor,
        shift=shift,
        reason="left",
        now=shift.opened_at + timedelta(hours=2),
    )
    assert _shift_status(shift) == ShiftStatus.CLOSED


def _shift_status(shift: Shift) -> str:
    shift.refresh_from_db()
    return shift.status


def test_force_close_needs_a_reason_and_an_open_shift(world: World) -> None:
    shift = _shift(world)
    later = shift.opened_at + timedelta(days=1)
    _refused(
        "REASON_REQUIRED",
        lambda: shifts.force_close_shift(
            actor=world.supervisor, shift=shift, reason=" ", now=later
        ),
        shift,
    )
    shifts.close_shift(actor=world.cashier, shift=shift, counted={})
    _refused(
        "SHIFT_CLOSED",
        lambda: shifts.force_close_shift(
            actor=world.supervisor, shift=shift, reason="x", now=later
        ),
        shift,
    )


def test_only_a_supervisor_of_the_points_subtree_force_closes(world: World) -> None:
    shift = _shift(world)
    later = shift.opened_at + timedelta(days=1)
    finance_clerk = factories.user(world.unit, Role.OPERATOR, (Capability.FINANCE,))
    south = factories.user(world.tree.south, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,))
    before = _state(shift)
    with pytest.raises(AccessDenied):
        shifts.force_close_shift(actor=finance_clerk, shift=shift, reason="x", now=later)
    with pytest.raises(NotFound):
        shifts.force_close_shift(actor=south, shift=shift, reason="x", now=later)
    assert _state(shift) == before
    # A manager of the service centre itself is inside the point's subtree.
    local = factories.user(world.unit, Role.VENDING_POINT_MANAGER)
    shifts.force_close_shift(actor=local, shift=shift, reason="x", now=later)
    assert _shift_status(shift) == ShiftStatus.CLOSED


def test_a_supervisor_does_not_force_close_their_own_shift(world: World) -> None:
    own = shifts.open_shift(
        actor=world.supervisor, vending_point=world.point, opening_float=world.money("0.00")
    )
    _refused(
        "SHIFT_FORCE_CLOSE_OWN",
        lambda: shifts.force_close_shift(
            actor=world.supervisor, shift=own, reason="x", now=own.opened_at + timedelta(days=1)
        ),
        own,
    )


# --- sign-off -------------------------------------------------------------------------------


def test_a_closed_shift_is_signed_off_once_by_someone_else(world: World) -> None:
    shift = _shift(world)
    _refused(
        "SHIFT_NOT_CLOSED",
        lambda: shifts.sign_off_shift(actor=world.supervisor, shift=shift),
        shift,
    )
    shifts.close_shift(actor=world.cashier, shift=shift, counted={"cash": world.money("990.00")})
    signed = shifts.sign_off_shift(actor=world.supervisor, shift=shift, note="10.00 short, noted")
    assert signed.signed_off_by_id == world.supervisor.pk and signed.signed_off_at is not None
    event = AuditEvent.objects.get(event_type="shift.signed_off", target_id=str(shift.pk))
    assert event.after is not None
    assert {k: v for k, v in event.after.items() if k != "digests"} == {
        "note": "10.00 short, noted",
        "over_short_minor": -1000,
    }
    # The sign-off binds the shift again, so verify checks the signed-off row.
    assert set(event.after["digests"]) == {"shift"}
    _refused(
        "SHIFT_ALREADY_SIGNED_OFF",
        lambda: shifts.sign_off_shift(actor=world.supervisor, shift=shift),
        shift,
    )


def test_the_cashier_never_signs_off_their_own_shift(world: World) -> None:
    manager = factories.user(
        world.unit, Role.VENDING_POINT_MANAGER, (Capability.CASHIER, Capability.FINANCE)
    )
    own = shifts.open_shift(
        actor=manager, vending_point=world.point, opening_float=world.money("0.00")
    )
    shifts.close_shift(actor=manager, shift=own, counted={})
    _refused(
        "MAKER_CHECKER_VIOLATION", lambda: shifts.sign_off_shift(actor=manager, shift=own), own
    )
    shift = _shift(world)
    shifts.close_shift(actor=world.cashier, shift=shift, counted={})
    before = _state(shift)
    with pytest.raises(AccessDenied):
        shifts.sign_off_shift(actor=world.cashier, shift=shift)
    assert _state(shift) == before


# --- the Z summary ----------------------------------------------------------------------------


def test_the_z_summary_shows_gross_reversed_and_net(world: World) -> None:
    shift = _shift(world)
    sales = [
        vending.vend_credit(
            actor=world.cashier,
            vending_point=world.point,
            client_reference=f"z{i}",
            meter_number=world.add_meter().number,
            tender=world.money(amount),
            clock=world.clock,
        ).sale
        for i, amount in enumerate(("500.00", "300.00", "250.00"))
    ]
    vending.reverse_sale(actor=world.supervisor, sale=sales[2], reason="x", clock=world.clock)
    report = shift_reports.z_report(world.supervisor, shift)
    line = report.kinds["credit"]
    assert (line.count, line.amount_minor) == (3, 105000)
    assert (line.reversed_count, line.reversed_minor) == (1, 25000)
    assert (line.net_count, line.net_minor) == (2, 80000)
    assert (report.gross_count, report.gross_minor) == (3, 105000)
    assert report.reversed_here == {sales[2].pk}


def test_blind_counting_hides_expected_only_from_the_open_shifts_cashier(world: World) -> None:
    shift = _shift(world)
    assert shifts.expected_hidden(world.cashier, shift)
    assert not shifts.expected_hidden(world.supervisor, shift)
    with override_settings(BLIND_CASH_COUNT=False):
        assert not shifts.expected_hidden(world.cashier, shift)
    closed = shifts.close_shift(actor=world.cashier, shift=shift, counted={})
    assert not shifts.expected_hidden(world.cashier, closed)


def test_force_closed_and_signed_off_shifts_verify_and_edits_of_them_do_not(world: World) -> None:
    from django.db import connection

    from gridvend.audit import triggers
    from gridvend.vending.integrity.shifts import verify_shifts

    supervisor = world.supervisor
    shift = _shift(world)
    later = shift.opened_at + timedelta(days=1)
    shifts.force_close_shift(actor=supervisor, shift=shift, reason="left at noon", now=later)
    assert verify_shifts().ok
    with pytest.raises(DomainError) as same:
        shifts.sign_off_shift(
            actor=supervisor, shift=shift, note="me again", witnessed_cash=world.money("10.00")
        )
    assert same.value.code == "MAKER_CHECKER_VIOLATION"
    other = factories.user(world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    with pytest.raises(DomainError) as uncounted:
        shifts.sign_off_shift(actor=other, shift=shift, note="no count")
    assert uncounted.value.code == "COUNT_REQUIRED"
    shifts.sign_off_shift(
        actor=other, shift=shift, note="counted with the manager", witnessed_cash=world.money("7")
    )
    shift.refresh_from_db()
    assert shift.counted == {"cash": 700}
    assert verify_shifts().ok
    triggers.uninstall(connection)
    Shift.objects.filter(pk=shift.pk).update(force_close_reason="nothing happened")
    triggers.install(connection)
    assert not verify_shifts().ok
