"""A postpaid month end to end, through the real services and the real endpoints: readings
imported from a meter-data file with their exceptions reviewed (accept, re-read, estimate), a
billing run previewed, approved by a second person and posted, bank payments over the Billpay
REST interface and the fixed-format TCP link (a real socket), a same-day cancel, the bank's
daily reconciliation with one injected discrepancy found and resolved, late charges, a dunning
run, a disconnection refused because the customer has just paid, and at the end the books
reconciled and every bill, payment and arrears figure tied to the ledger to the cent.

Every expected figure is worked out here from the tariff's published numbers (three blocks,
a monthly service charge, VAT 16 % exclusive, a late fee of 2 % plus 50.00 after 5 days),
never read back from the code under test."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from gridvend.banklink.models import BankLink, LineKind, Reconciliation, ReconciliationStatus
from gridvend.banklink.services import links, reconciliation
from gridvend.billing import selectors, services
from gridvend.billing.models import Bill, BillingRun, BillPayment, BillStatus, PaymentStatus
from gridvend.customers import services as customers
from gridvend.customers.models import AccountKind, Customer
from gridvend.dunning import services as dunning
from gridvend.dunning.errors import NotInArrears
from gridvend.dunning.models import DunningTask, FieldOrder, OrderStatus, TaskStatus
from gridvend.gateways.banklink import layout
from gridvend.gateways.banklink.framing import FrameReader
from gridvend.gateways.banklink.layout import ReturnCode
from gridvend.gateways.banklink.server import LinkServer, frame_spec
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import business_date, day_bounds_utc
from gridvend.kernel.errors import DomainError
from gridvend.ledger.selectors import account_balance, unbalanced_entries
from gridvend.meters.models import Meter
from gridvend.partners.credentials import issue_key
from gridvend.partners.models import Partner
from gridvend.readings import services as readings
from gridvend.readings.imports import import_readings
from gridvend.readings.models import MeterReading, ReadingBook, ReadingException, ReadingStatus
from gridvend.tariffs.examples import residential_spec
from tests import factories
from tests.banklink.conftest import connect, read_all
from tests.gateways.electrum.test_scenarios import advice_body, envelope, new_id
from tests.partners.support import make_partner
from tests.world import World, build_world

pytestmark = pytest.mark.django_db(transaction=True)

AGENCY = "KCB00101"
HEADER = "meter_number,read_at,register_kwh,reader,book_code,note"

# The tariff's published figures, in minor units (KES cents).
BLOCKS = ((50, 1200), (100, 1850), (None, 2400))  # (kWh in the block, rate per kWh)
SERVICE_CHARGE = 15000
VAT_PERCENT = 16
LATE_RATE_PERCENT = 2
LATE_FIXED = 5000
LATE_GRACE_DAYS = 5
LATE_RULE = {"rate": "0.02", "fixed_minor": LATE_FIXED, "grace_days": LATE_GRACE_DAYS}


def energy_of(kwh: int) -> int:
    """The blocks walked from zero: 50 kWh at 12.00, the next 100 at 18.50, the rest at 24.00."""
    left, total = kwh, 0
    for size, rate in BLOCKS:
        used = left if size is None else min(left, size)
        total += used * rate
        left -= used
    return total


def vat_of(kwh: int) -> int:
    net = energy_of(kwh) + SERVICE_CHARGE
    assert net * VAT_PERCENT % 100 == 0  # whole kWh at these rates: no rounding to argue over
    return net * VAT_PERCENT // 100


def bill_of(kwh: int) -> int:
    return energy_of(kwh) + SERVICE_CHARGE + vat_of(kwh)


def late_fee_of(owed: int) -> int:
    assert owed * LATE_RATE_PERCENT % 100 == 0
    return owed * LATE_RATE_PERCENT // 100 + LATE_FIXED


# Each meter was read 30 days apart before the period (300 kWh: 10 kWh a day), then in the
# period 25 days after its last reading, when 10 kWh a day makes 250 kWh.
HISTORY = {"a": (1000, 1300), "b": (2000, 2300), "c": (4000, 4300), "d": (500, 800)}
A_KWH = 200  # read 1,500: valid on import
B_KWH = 220  # read 2,100 (below the last: re-read ordered), re-read a day later at 2,520
C_KWH = 1200  # read 5,500: a spike (over 3 x 250), accepted by the supervisor
D_KWH = 250  # read 800 again (zero use): replaced by an estimate of 10 kWh x 25 days


@dataclass
class Month:
    world: World
    reader: User
    supervisor: User
    finance: User
    checker: User
    bank_finance: User  # finance at the root, where the banks are
    book: ReadingBook
    meters: dict[str, Meter]
    start: date
    end: date

    def customer(self, key: str) -> Customer:
        customer = self.meters[key].customer
        assert customer is not None
        return customer

    def account(self, key: str) -> str:
        return self.customer(key).account_number

    def at(self, day: date) -> datetime:
        return day_bounds_utc(day, settings.TIME_ZONE)[0] + timedelta(hours=10)


@pytest.fixture
def month() -> Month:
    world = build_world(spec=residential_spec(late_payment=LATE_RULE))
    tree = world.tree
    reader = factories.user(tree.north_sc, Role.OPERATOR, (Capability.METER_READER,))
    supervisor = factories.user(
        tree.north, Role.VENDING_POINT_MANAGER, (Capability.READING_SUPERVISOR,)
    )
    finance = factories.user(tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    checker = factories.user(tree.north, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    bank_finance = factories.user(tree.root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,))
    book = readings.create_book(
        actor=supervisor, org_unit=tree.north_sc, code="month-01", name="Month route",
        cycle_day=1, reader=reader,
    )  # fmt: skip
    meters: dict[str, Meter] = {}
    for key in HISTORY:
        meter = world.add_meter(name=f"Month {key.upper()}")
        kind = AccountKind.BOTH if key == "c" else AccountKind.POSTPAID
        customers.update_customer(
            actor=world.admin, customer=world.customer(meter), account_kind=kind
        )
        meter.refresh_from_db()
        readings.add_book_meter(actor=supervisor, book=book, meter=meter)
        meters[key] = meter
    today = business_date(timezone.now(), settings.TIME_ZONE)
    start, end = services.default_period(book, today)
    m = Month(world, reader, supervisor, finance, checker, bank_finance, book, meters, start, end)
    for key, (first, second) in HISTORY.items():
        for days, value in ((33, first), (3, second)):
            day = start - timedelta(days=days)
            readings.record_reading(
                actor=reader, meter=meters[key], register_kwh=Decimal(value), read_at=m.at(day)
            )
    return m


@pytest.fixture
def link(month: Month) -> tuple[Partner, BankLink]:
    partner = make_partner(month.world, code="kcb", float_major="0")
    configured = links.configure_link(
        actor=month.world.admin,
        partner=partner,
        values=links.LinkSettings(agency_id=AGENCY, charset="gbk", read_timeout_seconds=2),
    )
    return partner, configured


@pytest.fixture
def server(link: tuple[Partner, BankLink]) -> Iterator[int]:
    listener = LinkServer(link[1], ("127.0.0.1", 0))
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(listener.server_address[1])
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join(timeout=10)


# The wire, as a bank writes it ------------------------------------------------------------------


def exchange(link: BankLink, port: int, body: bytes) -> bytes:
    """One short connection over a real socket: the framed body sent, the reply's body read."""
    spec = frame_spec(link)
    sock: socket.socket
    with connect(port) as sock:
        sock.sendall(spec.frame(body))
        reply = read_all(sock)
    chunks = [reply]
    found = FrameReader(spec, lambda _: chunks.pop(0) if chunks else b"").read()
    assert found is not None, reply
    return found


def fields_of(body: bytes, layout_of: tuple[tuple[str, int], ...], charset: str) -> dict[str, str]:
    found, at = {}, 0
    for name, width in layout_of:
        found[name] = body[at : at + width].decode(charset).strip()
        at += width
    return found


def bank_day() -> str:
    return business_date(timezone.now(), settings.TIME_ZONE).strftime("%Y%m%d")


def tcp(link: BankLink, port: int, kind: int, **values: Any) -> dict[str, str]:
    request: dict[str, str | int] = {
        "message_type": kind,
        "agency_id": AGENCY,
        "trans_date": bank_day(),
        "trans_time": "101500",
        "outlet": "营业部0001",
        "teller": "T01",
        "bill_month": "",
        "bank_date": bank_day(),
        "amount": 0,
        "original_serial": "",
        **values,
    }
    body = exchange(link, port, layout.encode_request(request, link.charset))
    return fields_of(body, layout.REPLY_HEAD, link.charset)


def tcp_reconcile(link: BankLink, port: int, rows: list[tuple[str, str, int]]) -> dict[str, str]:
    head: dict[str, str | int] = {
        "message_type": layout.RECONCILE,
        "agency_id": AGENCY,
        "trans_date": bank_day(),
        "trans_time": "235900",
        "bank_serial": "R0001",
        "bank_date": bank_day(),
        "count": len(rows),
        "total": sum(row[2] for row in rows),
    }
    detail: list[dict[str, str | int]] = [
        {"bank_serial": s, "account_number": a, "amount": m} for s, a, m in rows
    ]
    body = exchange(link, port, layout.encode_reconciliation(head, detail, link.charset))
    return fields_of(body, layout.RECONCILE_REPLY, link.charset)


class Billpay:
    """A Billpay v4 client with the partner's real Basic credentials."""

    def __init__(self, world: World, partner: Partner) -> None:
        issued = issue_key(actor=world.admin, partner=partner, label="billpay")
        token = base64.b64encode(f"{partner.code}:{issued.secret}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.client = Client()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(
            f"/billpay/v4/{path}",
            data=json.dumps(body).encode(),
            content_type="application/json",
            headers=self.headers,
        )

    def pay_and_confirm(self, account: str, amount_minor: int) -> str:
        """A payment and its confirmation advice; the slip's issuer reference."""
        payment_id = new_id()
        amount = {"amount": str(amount_minor), "currency": "404"}
        body = {
            **envelope(payment_id),
            "accountRef": account,
            "amounts": {"requestAmount": amount},
            "tenders": [{"accountType": "DEFAULT", "amount": amount, "tenderType": "CASH"}],
        }
        paid = self.post(f"payments/{payment_id}", body)
        assert paid.status_code == 201, paid.content
        advice_id = new_id()
        confirmed = self.post(
            f"payments/{payment_id}/confirmations/{advice_id}", advice_body(advice_id, payment_id)
        )
        assert confirmed.status_code == 202, confirmed.content
        return str(paid.json()["slipData"]["issuerReference"])


# The month ----------------------------------------------------------------------------------------


def csv_file(m: Month, day: date, rows: list[tuple[str, int]]) -> bytes:
    lines = [HEADER]
    for key, value in rows:
        lines.append(f"{m.meters[key].number},{m.at(day).isoformat()},{value},,month-01,")
    return ("\n".join(lines) + "\n").encode()


def _read_and_review(m: Month) -> None:
    """The reader imports the round; a supervisor reviews its three exceptions."""
    read_on = m.start + timedelta(days=22)  # 25 days after each meter's last reading
    first = import_readings(
        actor=m.reader,
        filename="round-1.csv",
        content=csv_file(m, read_on, [("a", 1500), ("b", 2100), ("c", 5500), ("d", 800)]),
    )
    assert [(r["result"], r["code"]) for r in first.results] == [
        ("accepted", ""),
        ("exception", "negative_consumption"),
        ("exception", "spike"),
        ("exception", "zero_consumption"),
    ]
    exceptions = {
        key: ReadingException.objects.get(reading__meter=m.meters[key]) for key in ("b", "c", "d")
    }
    # Whoever recorded the readings cannot decide them; the supervisor does, once each.
    with pytest.raises(DomainError):
        readings.decide_exception(actor=m.reader, exception=exceptions["c"], action="accept")
    readings.decide_exception(
        actor=m.supervisor, exception=exceptions["b"], action="reread", note="Digits misread"
    )
    readings.decide_exception(actor=m.supervisor, exception=exceptions["c"], action="accept")
    estimate = readings.decide_exception(
        actor=m.supervisor, exception=exceptions["d"], action="estimate"
    )
    # 10 kWh a day (300 kWh over the 30 days before) for the 25 days since the last reading.
    assert estimate.status == ReadingStatus.ESTIMATED
    assert estimate.register_kwh == HISTORY["d"][1] + D_KWH
    # The re-read comes in a second file a day later.
    second = import_readings(
        actor=m.reader,
        filename="round-1-reread.csv",
        content=csv_file(m, read_on + timedelta(days=1), [("b", HISTORY["b"][1] + B_KWH)]),
    )
    assert [(r["result"], r["code"]) for r in second.results] == [("accepted", "")]
    assert MeterReading.objects.filter(status=ReadingStatus.EXCEPTION).count() == 0
    assert MeterReading.objects.filter(status=ReadingStatus.REREAD).count() == 1


def _bill(m: Month) -> BillingRun:
    run = services.preview_run(actor=m.finance, book=m.book, period_start=m.start, period_end=m.end)
    expected = {"a": A_KWH, "b": B_KWH, "c": C_KWH, "d": D_KWH}
    assert run.exceptions == [] and run.bill_count == 4
    assert run.total_minor == sum(bill_of(kwh) for kwh in expected.values())
    for key, kwh in expected.items():
        bill = Bill.objects.get(run=run, customer=m.customer(key))
        assert (bill.status, bill.consumption_kwh, bill.amount_minor) == (
            BillStatus.DRAFT,
            kwh,
            bill_of(kwh),
        )
        assert bill.is_estimated == (key == "d")
    # Nothing is posted before a second person approves; the requester cannot approve.
    assert account_balance(services.receivable_code(m.customer("a"))) == 0
    decision = services.request_posting(actor=m.finance, run=run)
    with pytest.raises(DomainError) as caught:
        services.approve_run_decision(actor=m.finance, decision=decision)
    assert caught.value.code == "MAKER_CHECKER_VIOLATION"
    posted = services.approve_run_decision(actor=m.checker, decision=decision)
    assert posted.status == "posted"
    for key, kwh in expected.items():
        assert account_balance(services.receivable_code(m.customer(key))) == bill_of(kwh)
    return posted


def test_a_postpaid_month_from_the_meter_file_to_the_reconciled_books(
    month: Month, link: tuple[Partner, BankLink], server: int
) -> None:
    m = month
    partner, bank_link = link
    _read_and_review(m)
    run = _bill(m)
    due = run.due_date

    # Customer A pays the whole bill through a bank's Billpay interface (REST).
    billpay_partner = make_partner(m.world, code="absa", float_major="0")
    billpay = Billpay(m.world, billpay_partner)
    billpay.pay_and_confirm(m.account("a"), bill_of(A_KWH))

    # Over the TCP link: B is credited 1,000.00 by a teller's mistake, then pays the bill in
    # full, and the bank cancels the mistaken payment the same day; C pays 10,000.00 of 32,248.00.
    for serial, key, amount in (
        ("S1", "b", 100000),
        ("S2", "b", bill_of(B_KWH)),
        ("S3", "c", 1000000),
    ):
        paid = tcp(bank_link, server, layout.PAY, bank_serial=serial, account_number=m.account(key),
                   amount=amount)  # fmt: skip
        assert paid["return_code"] == ReturnCode.OK, paid
    cancelled = tcp(bank_link, server, layout.CANCEL, bank_serial="X1", original_serial="S1",
                    account_number=m.account("b"))  # fmt: skip
    assert cancelled["return_code"] == ReturnCode.OK, cancelled
    again = tcp(bank_link, server, layout.CANCEL, bank_serial="X2", original_serial="S1",
                account_number=m.account("b"))  # fmt: skip
    assert again["return_code"] == ReturnCode.ALREADY_CANCELLED
    assert BillPayment.objects.get(source_reference="S1").status == PaymentStatus.CANCELLED
    # The cancel took 1,000.00 back from B's bill, and the rest of S2 paid it again: B owes
    # nothing, as the receivable says.
    b_bill = Bill.objects.get(run=run, customer=m.customer("b"))
    assert (b_bill.status, b_bill.owed_minor) == (BillStatus.PAID, 0)
    query = tcp(bank_link, server, layout.QUERY, bank_serial="Q1", account_number=m.account("c"))
    assert int(query["total_due"]) == bill_of(C_KWH) - 1000000

    # The bank's day: its file says S3 was 10,100.00. One discrepancy, found and resolved.
    b_paid, c_paid = bill_of(B_KWH), 1000000
    rows = [("S2", m.account("b"), b_paid), ("S3", m.account("c"), c_paid + 10000)]
    reply = tcp_reconcile(bank_link, server, rows)
    assert reply["return_code"] == ReturnCode.RECONCILIATION_MISMATCH
    assert (int(reply["our_count"]), int(reply["our_total"])) == (2, b_paid + c_paid)
    assert int(reply["discrepancies"]) == 1
    recon = Reconciliation.objects.get(link=bank_link)
    assert {line.bank_serial: line.kind for line in recon.lines.all()} == {
        "S2": LineKind.MATCHED,
        "S3": LineKind.AMOUNT_DIFFERS,
    }
    reconciliation.resolve_discrepancy(
        actor=m.bank_finance,
        line=recon.lines.get(bank_serial="S3"),
        reason="The bank keyed 10,100.00; its voucher says 10,000.00.",
    )
    reconciliation.close(actor=m.bank_finance, reconciliation=recon)
    recon.refresh_from_db()
    assert recon.status == ReconciliationStatus.CLOSED
    late_cancel = tcp(bank_link, server, layout.CANCEL, bank_serial="X3", original_serial="S3",
                      account_number=m.account("c"))  # fmt: skip
    assert late_cancel["return_code"] == ReturnCode.ALREADY_RECONCILED

    # Past the due date and the grace days: C and D are charged their late fee, once.
    c_owed, d_owed = bill_of(C_KWH) - c_paid, bill_of(D_KWH)
    c_fee, d_fee = late_fee_of(c_owed), late_fee_of(d_owed)
    fee_day = due + timedelta(days=LATE_GRACE_DAYS + 1)
    assert services.charge_late_fees(actor=m.finance, today=fee_day) == 2
    assert services.charge_late_fees(actor=m.finance, today=fee_day) == 0
    assert Bill.objects.get(run=run, customer=m.customer("c")).late_fee_minor == c_fee
    assert Bill.objects.get(run=run, customer=m.customer("d")).late_fee_minor == d_fee

    # Dunning: 30 days late and 100.00 or more owed calls for disconnection.
    dunning.create_rule(
        actor=m.finance, org_unit=m.world.tree.north, name="Disconnect at 30 days",
        stage="disconnection", days_overdue=30, minimum_arrears_minor=10000, currency="KES",
    )  # fmt: skip
    dun_day = due + timedelta(days=31)
    result = dunning.run_dunning(actor=m.finance, today=dun_day)
    assert (result.checked, result.opened) == (4, 2)
    opened = DunningTask.objects.filter(status=TaskStatus.OPEN, stage="disconnection")
    tasks = {task.customer_id: task for task in opened}
    c_task, d_task = tasks[m.customer("c").pk], tasks[m.customer("d").pk]
    assert (c_task.arrears_minor, d_task.arrears_minor) == (c_owed + c_fee, d_owed + d_fee)

    # D pays everything through Billpay just before the order is issued: the pre-check refuses.
    billpay.pay_and_confirm(m.account("d"), d_owed + d_fee)
    with pytest.raises(NotInArrears):
        dunning.issue_disconnection_order(
            actor=m.finance, task=d_task, today=dun_day + timedelta(days=1)
        )
    refused = FieldOrder.objects.get(task=d_task)
    assert refused.status == OrderStatus.REFUSED
    assert [(c["result"], c["arrears_minor"]) for c in refused.prechecks] == [("paid", 0)]
    d_task.refresh_from_db()
    assert d_task.status == TaskStatus.PAID
    # C has not paid: its order is issued, with the arrears the pre-check read.
    order = dunning.issue_disconnection_order(
        actor=m.finance, task=c_task, today=dun_day + timedelta(days=1)
    )
    assert order.status == OrderStatus.ISSUED
    assert order.prechecks[0]["arrears_minor"] == c_owed + c_fee

    # The books: `gridvend ledger reconcile` is clean and every figure ties to the cent.
    out = StringIO()
    call_command("ledger", "reconcile", stdout=out)
    assert "ledger reconciles" in out.getvalue()
    assert unbalanced_entries() == []
    from gridvend.vending.integrity.books import verify_journal_entries

    assert verify_journal_entries().problems == []
    expected_owed = {"a": 0, "b": 0, "c": c_owed + c_fee, "d": 0}
    charged = {
        "a": bill_of(A_KWH),
        "b": bill_of(B_KWH),
        "c": bill_of(C_KWH) + c_fee,
        "d": bill_of(D_KWH) + d_fee,
    }
    paid_in = {"a": bill_of(A_KWH), "b": b_paid, "c": c_paid, "d": d_owed + d_fee}
    on_day = dun_day + timedelta(days=1)
    for key in HISTORY:
        customer = m.customer(key)
        assert charged[key] - paid_in[key] == expected_owed[key]
        assert account_balance(services.receivable_code(customer)) == expected_owed[key], key
        bills = Bill.objects.filter(customer=customer)
        assert sum(b.owed_minor for b in bills) == expected_owed[key], key
        payments = BillPayment.objects.filter(customer=customer, status=PaymentStatus.RECEIVED)
        assert sum(p.amount_minor for p in payments) == paid_in[key], key
        assert selectors.credit_of(customer) == 0
        figures = selectors.account_due(m.finance, customer.account_number, today=on_day)
        assert (figures.total_due_minor, figures.arrears_minor) == (expected_owed[key],) * 2
    # What came in through each bank, and what the month earned.
    assert account_balance(f"bank:{partner.code}") == b_paid + c_paid
    assert account_balance(f"bank:{billpay_partner.code}") == bill_of(A_KWH) + d_owed + d_fee
    kwh = (A_KWH, B_KWH, C_KWH, D_KWH)
    assert account_balance("revenue:energy") == -sum(energy_of(k) for k in kwh)
    assert account_balance("revenue:fixed-charges") == -SERVICE_CHARGE * len(kwh)
    assert account_balance("tax:VAT") == -sum(vat_of(k) for k in kwh)
    assert account_balance("revenue:late-fees") == -(c_fee + d_fee)
    # Arrears and ageing: C's bill alone, 32 days past its due date.
    ageing = selectors.ageing(m.finance, unit=m.world.tree.north, today=on_day)
    assert ageing.buckets == (0, c_owed + c_fee, 0, 0) and ageing.account_count == 1
