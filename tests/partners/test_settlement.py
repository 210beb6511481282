"""Settlement files: the parser's caps and refusals, each match status, totals that tie, the
same file twice, resolutions (a second person above the threshold), and settled sales."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import business_date
from gridvend.kernel.errors import DomainError
from gridvend.partners import services as partners
from gridvend.partners import settlement_files
from gridvend.partners.models import (
    ItemStatus,
    Partner,
    PartnerRequest,
    Resolution,
    SaleState,
    SettlementDay,
    SettlementFile,
    SettlementItem,
    SettlementResolutionRequest,
)
from gridvend.vending.models import Sale, SaleStatus
from gridvend.vending.selectors import float_available
from tests import factories
from tests.partners.support import call, make_partner
from tests.world import World, build_world

pytestmark = pytest.mark.django_db

HEADER = (
    "business_date,request_id,sale_reference,meter_number,amount_minor,currency,type,partner_time"
)


def today() -> date:
    return business_date(timezone.now(), settings.TIME_ZONE)


def row(
    request_id: str,
    meter: str,
    amount: int,
    *,
    kind: str = "SALE",
    day: date | None = None,
    currency: str = "KES",
    reference: str = "",
) -> str:
    day = day or today()
    cells = [day.isoformat(), request_id, reference, meter, str(amount), currency, kind]
    return ",".join([*cells, f"{day.isoformat()}T10:00:00+03:00"])


def content(*rows: str, header: str = HEADER) -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode()


def refused(fn, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        fn(*args, **kwargs)
    return caught.value


def upload(world: World, partner: Partner, data: bytes, **kwargs) -> SettlementFile:
    return partners.upload_settlement_file(
        actor=kwargs.pop("actor", world.admin),
        partner=partner,
        business_date=kwargs.pop("day", today()),
        content=data,
        filename=kwargs.pop("filename", "acme-settlement.csv"),
        **kwargs,
    )


# The parser ------------------------------------------------------------------------------------


def _parse(data: bytes) -> list[settlement_files.SettlementLine]:
    return settlement_files.parse(data, business_date=today(), currency="KES")


def test_a_wrong_header_refuses_the_file_whole() -> None:
    exc = refused(_parse, content(row("r1", "123", 100), header="date,request,amount"))
    assert exc.code == "SETTLEMENT_FILE_BAD_HEADER"
    assert refused(_parse, b"").code == "SETTLEMENT_FILE_BAD_HEADER"


def test_every_bad_row_is_reported_with_its_line_number_and_a_stable_code() -> None:
    yesterday = today() - timedelta(days=1)
    data = content(
        row("ok-1", "04000000001", 500),
        row("r2", "04000000001", 0),
        row("r3", "meter?", 100),
        row("r4", "04000000001", 100, currency="USD"),
        row("r5", "04000000001", 100, kind="REFUND"),
        row("r6", "04000000001", 100, day=yesterday),
        "garbage",
        row("r8", "04000000001", 1 + 10**20),
        row("ok-1", "04000000001", 500),
        row("nosale", "04000000001", 500, kind="REVERSAL"),
        row("ok-1", "04000000001", 400, kind="REVERSAL"),
        f"{today().isoformat()},r12,,04000000001,100,KES,SALE,yesterday",
        f"{today().isoformat()},\u202er13,,04000000001,100,KES,SALE,{today().isoformat()}T10:00:00Z",
    )
    exc = refused(_parse, data)
    assert exc.code == "SETTLEMENT_FILE_BAD_ROWS"
    found = [(p["line"], p["code"]) for p in exc.params["problems"]]
    assert found == [
        (3, "bad_amount"),
        (4, "bad_meter_number"),
        (5, "currency_mismatch"),
        (6, "bad_type"),
        (7, "date_mismatch"),
        (8, "column_count"),
        (9, "bad_amount"),
        (10, "duplicate_line"),
        (11, "reversal_without_sale"),
        (12, "reversal_amount_differs"),
        (13, "bad_time"),
        (14, "bad_request_id"),
    ]
    assert exc.params["count"] == 12 and exc.params["first_line"] == 3


def test_a_line_that_the_csv_module_cannot_split_is_reported_not_raised() -> None:
    long_cell = "x" * 5000
    data = content(row("ok", "04000000001", 1), f'{today()},"{long_cell}",,1,1,KES,SALE,x')
    exc = refused(_parse, data)
    assert [(p["line"], p["code"]) for p in exc.params["problems"]] == [(3, "unreadable_line")]


def test_quoted_fields_and_a_bom_are_read() -> None:
    day = today().isoformat()
    data = (
        "\ufeff"
        + HEADER
        + f'\n"{day}","id, with comma","","04000000001","250","KES","sale","{day}T08:00:00Z"\n'
    )
    [line] = _parse(data.encode())
    assert line.request_id == "id, with comma" and line.amount_minor == 250 and line.type == "SALE"


def test_the_caps_are_checked_before_anything_is_parsed() -> None:
    too_big = b"x" * (settlement_files.MAX_BYTES + 1)
    assert refused(_parse, too_big).code == "SETTLEMENT_FILE_TOO_LARGE"
    # A file of line breaks only: refused by counting, not by reading 200,001 rows.
    too_long = HEADER.encode() + b"\n" * (settlement_files.MAX_ROWS + 2)
    assert refused(_parse, too_long).code == "SETTLEMENT_FILE_TOO_MANY_ROWS"


def test_a_file_that_is_not_utf8_is_refused() -> None:
    assert refused(_parse, HEADER.encode() + b"\n\xff\xfe").code == "SETTLEMENT_FILE_NOT_UTF8"


# Matching --------------------------------------------------------------------------------------


def _sell(world: World, partner: Partner, request_id: str, major: str = "300") -> Sale:
    meter = world.add_meter()
    answer = partners.purchase(call(partner), request_id, meter.number, tender=world.money(major))
    assert answer.result is not None
    return answer.result.sale


def test_each_status_is_found_and_the_totals_tie() -> None:
    world = build_world()
    partner = make_partner(world, float_major="5000")
    matched = _sell(world, partner, "matched")
    wrong_amount = _sell(world, partner, "amount")
    _sell(world, partner, "meter")
    reversed_there = _sell(world, partner, "rev-there")
    reversed_here = _sell(world, partner, "rev-here")
    partners.reverse(call(partner), "adv-1", "rev-here")
    missing_there = _sell(world, partner, "missing-there")
    both_reversed = _sell(world, partner, "both-reversed")
    partners.reverse(call(partner), "adv-2", "both-reversed")
    data = content(
        row("matched", matched.meter.number, 30000, reference=matched.reference),
        row("amount", wrong_amount.meter.number, 31000),
        row("meter", "04999999999", 30000),
        row("rev-there", reversed_there.meter.number, 30000),
        row("rev-there", reversed_there.meter.number, 30000, kind="REVERSAL"),
        row("rev-here", reversed_here.meter.number, 30000),
        row("missing-here", "04000000001", 12000),
        row("both-reversed", both_reversed.meter.number, 30000),
        row("both-reversed", both_reversed.meter.number, 30000, kind="REVERSAL"),
    )
    upload_ = upload(world, partner, data)
    statuses = dict(
        SettlementItem.objects.filter(file=upload_).values_list("request_ref", "status")
    )
    assert statuses == {
        "matched": ItemStatus.MATCHED,
        "amount": ItemStatus.AMOUNT_MISMATCH,
        "meter": ItemStatus.DETAIL_MISMATCH,
        "rev-there": ItemStatus.REVERSAL_MISMATCH,
        "rev-here": ItemStatus.REVERSAL_MISMATCH,
        "missing-here": ItemStatus.MISSING_HERE,
        "missing-there": ItemStatus.MISSING_THERE,
        "both-reversed": ItemStatus.MATCHED,
    }
    assert missing_there.status == SaleStatus.COMPLETED
    summary = upload_.summary
    by = summary["statuses"]
    # The file: 300 + 310 + 300 + 0 (reversed) + 300 + 120 + 0; ours: 300 * 5 (two reversed).
    assert upload_.file_total_minor == 30000 + 31000 + 30000 + 30000 + 12000
    assert upload_.our_total_minor == 30000 * 5
    mismatched = summary["mismatched"]
    assert upload_.file_total_minor == (
        by["matched"]["file_minor"] + mismatched["file_minor"] + by["missing_here"]["file_minor"]
    )
    assert upload_.our_total_minor == (
        by["matched"]["our_minor"] + mismatched["our_minor"] + by["missing_there"]["our_minor"]
    )
    assert mismatched["count"] == 4
    event = AuditEvent.objects.get(event_type="settlement_file.reconciled")
    assert event.after is not None and event.after["counts"]["missing_here"] == 1


def test_matched_sales_are_settled_and_then_refuse_a_reversal_advice() -> None:
    world = build_world()
    partner = make_partner(world)
    pending = _sell(world, partner, "pending")
    confirmed = _sell(world, partner, "confirmed")
    partners.confirm(call(partner), "c-1", "confirmed")
    upload(
        world,
        partner,
        content(
            row("pending", pending.meter.number, 30000),
            row("confirmed", confirmed.meter.number, 30000),
        ),
    )
    for request in PartnerRequest.objects.filter(request_id__in=["pending", "confirmed"]):
        assert request.settled_at is not None
        assert request.state == SaleState.CONFIRMED
    assert PartnerRequest.objects.get(request_id="pending").finalised_by == "settlement"
    exc = refused(partners.reverse, call(partner), "late-reversal", "confirmed")
    assert exc.code == "SALE_ALREADY_SETTLED"
    assert Sale.objects.get(pk=confirmed.pk).status == SaleStatus.COMPLETED


def test_the_same_file_twice_is_one_upload() -> None:
    world = build_world()
    partner = make_partner(world)
    sale = _sell(world, partner, "once")
    data = content(row("once", sale.meter.number, 30000))
    first = upload(world, partner, data)
    again = upload(world, partner, data, filename="renamed.csv")
    assert again.pk == first.pk
    assert SettlementFile.objects.count() == 1 and SettlementItem.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="settlement_file.reconciled").count() == 1


def test_a_corrected_file_replaces_the_day_until_someone_acts_on_it() -> None:
    world = build_world()
    partner = make_partner(world)
    sale = _sell(world, partner, "r1")
    first = upload(world, partner, content(row("r1", sale.meter.number, 29000)))
    second = upload(world, partner, content(row("r1", sale.meter.number, 30000)))
    first.refresh_from_db()
    assert first.status == "superseded" and second.status == "reconciled"
    assert SettlementDay.objects.get(partner=partner).file_id == second.pk
    third_data = content(row("r1", sale.meter.number, 30000), row("r2", "04000000001", 100))
    third = upload(world, partner, third_data)
    item = third.items.get(request_ref="r2")
    partners.resolve_item(actor=world.admin, item=item, action="accept", note="known")
    fourth = content(row("r1", sale.meter.number, 30000), row("r3", "04000000001", 100))
    exc = refused(upload, world, partner, fourth)
    assert exc.code == "SETTLEMENT_DAY_IN_RESOLUTION"


def test_a_bad_file_writes_nothing() -> None:
    world = build_world()
    partner = make_partner(world)
    exc = refused(upload, world, partner, content(row("r1", "x", 1)))
    assert exc.code == "SETTLEMENT_FILE_BAD_ROWS"
    assert refused(upload, world, partner, content(), filename="evil.exe").code == (
        "SETTLEMENT_FILE_NAME_INVALID"
    )
    future = today() + timedelta(days=1)
    assert refused(upload, world, partner, content(), day=future).code == "SETTLEMENT_DATE_INVALID"
    assert not SettlementFile.objects.exists() and not SettlementDay.objects.exists()


def test_only_finance_in_scope_may_upload() -> None:
    world = build_world()
    partner = make_partner(world)
    care = factories.user(world.tree.root, Role.VENDING_POINT_MANAGER, (Capability.CUSTOMER_CARE,))
    north_finance = factories.user(
        world.tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,)
    )
    assert refused(upload, world, partner, content(), actor=care).code == "PERMISSION_DENIED"
    assert refused(upload, world, partner, content(), actor=north_finance).code == "NOT_FOUND"


# Resolutions -----------------------------------------------------------------------------------


def _checker(world: World):
    return factories.user(world.tree.root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,))


def test_reverse_resolution_reverses_our_sale_and_refunds_the_float(settings) -> None:
    settings.SETTLEMENT_RESOLUTION_APPROVAL_MINOR = 10**9
    world = build_world()
    partner = make_partner(world, float_major="1000")
    sale = _sell(world, partner, "not-theirs")
    point = partners.partner_point(partner)
    assert float_available(point, partner.currency) == world.money("700")
    upload_ = upload(world, partner, content(row("other", "04000000001", 100)))
    item = upload_.items.get(request_ref="not-theirs")
    assert item.status == ItemStatus.MISSING_THERE
    done = partners.resolve_item(
        actor=world.admin, item=item, action="reverse", note="partner never sold it"
    )
    assert isinstance(done, SettlementItem) and done.resolution == Resolution.REVERSED
    request = PartnerRequest.objects.get(request_id="not-theirs")
    assert request.state == SaleState.REVERSED and request.finalised_by == "settlement"
    assert Sale.objects.get(pk=sale.pk).status == SaleStatus.REVERSED
    assert float_available(point, partner.currency) == world.money("1000")
    assert AuditEvent.objects.filter(event_type="settlement_item.resolved").count() == 1
    again = refused(partners.resolve_item, actor=world.admin, item=item, action="accept", note="x")
    assert again.code == "SETTLEMENT_ITEM_NOT_OPEN"


def test_reverse_is_refused_where_we_have_no_sale(settings) -> None:
    settings.SETTLEMENT_RESOLUTION_APPROVAL_MINOR = 10**9
    world = build_world()
    partner = make_partner(world)
    upload_ = upload(world, partner, content(row("ghost", "04000000001", 100)))
    item = upload_.items.get()
    exc = refused(partners.resolve_item, actor=world.admin, item=item, action="reverse", note="n")
    assert exc.code == "SETTLEMENT_ACTION_NOT_POSSIBLE"
    assert (
        refused(
            partners.resolve_item, actor=world.admin, item=item, action="write_off", note="  "
        ).code
        == "REASON_REQUIRED"
    )
    done = partners.resolve_item(actor=world.admin, item=item, action="write_off", note="lost")
    assert isinstance(done, SettlementItem) and done.resolution == Resolution.WRITTEN_OFF


def test_above_the_threshold_a_second_person_decides(settings) -> None:
    settings.SETTLEMENT_RESOLUTION_APPROVAL_MINOR = 10000
    world = build_world()
    partner = make_partner(world)
    sale = _sell(world, partner, "big")
    upload_ = upload(world, partner, content(row("other", "04000000001", 100)))
    item = upload_.items.get(request_ref="big")
    asked = partners.resolve_item(actor=world.admin, item=item, action="reverse", note="refund")
    assert isinstance(asked, SettlementResolutionRequest) and asked.amount_minor == 30000
    item.refresh_from_db()
    assert item.resolution == Resolution.OPEN
    assert Sale.objects.get(pk=sale.pk).status == SaleStatus.COMPLETED
    twice = refused(partners.resolve_item, actor=world.admin, item=item, action="accept", note="x")
    assert twice.code == "SETTLEMENT_ITEM_NOT_OPEN"
    own = refused(partners.approve_resolution, actor=world.admin, request=asked)
    assert own.code == "MAKER_CHECKER_VIOLATION"
    checker = _checker(world)
    partners.approve_resolution(actor=checker, request=asked, note="ok")
    item.refresh_from_db()
    assert item.resolution == Resolution.REVERSED and item.resolved_by_id == checker.pk
    assert Sale.objects.get(pk=sale.pk).status == SaleStatus.REVERSED
    assert AuditEvent.objects.filter(event_type="settlement_resolution.approved").count() == 1
    # Below the threshold, the small item is resolved at once.
    small = upload_.items.get(request_ref="other")
    done = partners.resolve_item(actor=world.admin, item=small, action="accept", note="fee")
    assert isinstance(done, SettlementItem) and done.resolution == Resolution.ACCEPTED


def test_a_rejected_resolution_leaves_the_item_open(settings) -> None:
    settings.SETTLEMENT_RESOLUTION_APPROVAL_MINOR = 0
    world = build_world()
    partner = make_partner(world)
    upload_ = upload(world, partner, content(row("ghost", "04000000001", 100)))
    item = upload_.items.get()
    asked = partners.resolve_item(actor=world.admin, item=item, action="write_off", note="n")
    assert isinstance(asked, SettlementResolutionRequest)
    checker = _checker(world)
    assert refused(partners.reject_resolution, actor=checker, request=asked, note="").code == (
        "REASON_REQUIRED"
    )
    partners.reject_resolution(actor=checker, request=asked, note="find it first")
    item.refresh_from_db()
    assert item.resolution == Resolution.OPEN
    again = partners.resolve_item(actor=world.admin, item=item, action="accept", note="found")
    assert isinstance(again, SettlementResolutionRequest)


# The daily run ---------------------------------------------------------------------------------


def test_the_daily_run_flags_a_missing_file_once_and_counts_a_received_one() -> None:
    world = build_world()
    late = make_partner(world, code="late-bank")
    punctual = make_partner(world, code="punctual-bank")
    make_partner(world, code="no-files")
    for partner in (late, punctual):
        partners.update_partner(actor=world.admin, partner=partner, delivers_settlement_files=True)
    upload(world, punctual, content(row("ghost", "04000000001", 100)))
    day = today()
    assert partners.run_daily_reconciliations(day) == {
        "received": 1,
        "missing": 1,
        "already_flagged": 0,
    }
    assert partners.run_daily_reconciliations(day)["already_flagged"] == 1
    flagged = SettlementDay.objects.get(partner=late, business_date=day)
    assert flagged.status == "missing"
    assert AuditEvent.objects.filter(event_type="settlement_file.missing").count() == 1
    # The file arrives after all: the day is received.
    upload(world, late, content(row("ghost", "04000000001", 100)))
    flagged.refresh_from_db()
    assert flagged.status == "received" and flagged.file is not None


def test_the_daily_run_is_a_declared_schedule_that_the_worker_writes() -> None:
    from django_q.models import Schedule

    from gridvend.jobs import queue
    from gridvend.partners.apps import SETTLEMENT_CRON, SETTLEMENT_JOB, SETTLEMENT_SCHEDULE

    assert queue.declared_schedules()[SETTLEMENT_SCHEDULE] == (SETTLEMENT_JOB, SETTLEMENT_CRON)
    queue.ensure_declared_schedules()
    written = Schedule.objects.get(name=SETTLEMENT_SCHEDULE)
    assert written.func == SETTLEMENT_JOB and written.cron == SETTLEMENT_CRON


def test_a_quoted_cell_ending_in_a_newline_is_refused_not_read_as_its_text() -> None:
    # A pattern matched with ^...$ lets one trailing newline through; the cells are matched whole.
    day = today().isoformat()
    data = HEADER + f'\n"{day}","req-1\n","","04000000001","250","KES","SALE","{day}T08:00:00Z"\n'
    exc = refused(_parse, data.encode())
    assert [(p["line"], p["code"]) for p in exc.params["problems"]] == [(2, "bad_request_id")]
