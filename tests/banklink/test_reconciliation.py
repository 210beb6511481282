"""The daily reconciliation of a bank's payments: over TCP (message 90) with one injected
discrepancy found, refused cancels while the day is open and once it is closed, resolved by a
finance person with a reason, closed, payments marked reconciled; and the uploaded file."""

from __future__ import annotations

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.banklink.errors import ReconciliationUnresolved
from gridvend.banklink.models import LineKind, Reconciliation, ReconciliationStatus
from gridvend.banklink.services import reconciliation
from gridvend.billing.models import BillPayment, PaymentStatus
from gridvend.gateways.banklink import layout
from gridvend.gateways.banklink.layout import ReturnCode
from gridvend.kernel.errors import DomainError
from gridvend.ledger.services import today
from tests.banklink.conftest import AGENCY, Bank, exchange, reply_fields, request

pytestmark = pytest.mark.django_db(transaction=True)


def reconcile_body(bank: Bank, rows: list[tuple[str, str, int]]) -> bytes:
    head: dict[str, str | int] = {
        "message_type": layout.RECONCILE,
        "agency_id": AGENCY,
        "trans_date": today().strftime("%Y%m%d"),
        "trans_time": "235900",
        "bank_serial": "R0001",
        "bank_date": today().strftime("%Y%m%d"),
        "count": len(rows),
        "total": sum(r[2] for r in rows),
    }
    detail: list[dict[str, str | int]] = [
        {"bank_serial": s, "account_number": a, "amount": m} for s, a, m in rows
    ]
    return layout.encode_reconciliation(head, detail, bank.link.charset)


def reconcile_reply(bank: Bank, body: bytes) -> dict[str, str]:
    found, at = {}, 0
    for name, width in layout.RECONCILE_REPLY:
        found[name] = body[at : at + width].decode(bank.link.charset).strip()
        at += width
    return found


def test_a_day_with_one_injected_discrepancy_is_found_resolved_closed_and_then_final(
    bank: Bank, server: int
) -> None:
    b_account = bank.scene.customer(bank.scene.b).account_number
    for serial, account, amount in (("P1", bank.account, 100000), ("P2", b_account, 20000)):
        paid = exchange(
            bank,
            server,
            request(bank, layout.PAY, bank_serial=serial, account_number=account, amount=amount),
        )
        assert reply_fields(bank, paid)["return_code"] == ReturnCode.OK
    # The bank's file says P2 was 20,100: one discrepancy, amount differs.
    rows = [("P1", bank.account, 100000), ("P2", b_account, 20100)]
    reply = reconcile_reply(bank, exchange(bank, server, reconcile_body(bank, rows)))
    assert reply["return_code"] == ReturnCode.RECONCILIATION_MISMATCH
    assert (int(reply["our_count"]), int(reply["our_total"])) == (2, 120000)
    assert int(reply["discrepancies"]) == 1
    recon = Reconciliation.objects.get()
    assert recon.status == ReconciliationStatus.OPEN
    kinds = {line.bank_serial: line.kind for line in recon.lines.all()}
    assert kinds == {"P1": LineKind.MATCHED, "P2": LineKind.AMOUNT_DIFFERS}

    # While the day is open: a cancel, a new payment and the day sent again are refused.
    cancel = request(bank, layout.CANCEL, bank_serial="C1", original_serial="P1")
    assert reply_fields(bank, exchange(bank, server, cancel))["return_code"] == (
        ReturnCode.RECONCILIATION_IN_PROGRESS
    )
    late = request(bank, layout.PAY, bank_serial="P3", amount=5)
    assert reply_fields(bank, exchange(bank, server, late))["return_code"] == (
        ReturnCode.RECONCILIATION_IN_PROGRESS
    )
    again = reconcile_reply(bank, exchange(bank, server, reconcile_body(bank, rows)))
    assert again["return_code"] == ReturnCode.RECONCILIATION_IN_PROGRESS

    finance = bank.finance
    with pytest.raises(ReconciliationUnresolved):
        reconciliation.close(actor=finance, reconciliation=recon)
    line = recon.lines.get(bank_serial="P2")
    before = AuditEvent.objects.count()
    reconciliation.resolve_discrepancy(
        actor=finance, line=line, reason="The bank keyed 201.00; the customer paid 200.00."
    )
    assert AuditEvent.objects.count() == before + 1
    reconciliation.close(actor=finance, reconciliation=recon)
    recon.refresh_from_db()
    assert recon.status == ReconciliationStatus.CLOSED and recon.closed_by == finance
    marked = BillPayment.objects.filter(reconciliation_ref=recon.reference)
    assert marked.count() == 2 and all(p.reconciled_at for p in marked)

    # Closed: a cancel is refused and the payment stays.
    cancel = request(bank, layout.CANCEL, bank_serial="C2", original_serial="P1")
    assert reply_fields(bank, exchange(bank, server, cancel))["return_code"] == (
        ReturnCode.ALREADY_RECONCILED
    )
    assert BillPayment.objects.get(source_reference="P1").status == PaymentStatus.RECEIVED
    again = reconcile_reply(bank, exchange(bank, server, reconcile_body(bank, rows)))
    assert again["return_code"] == ReturnCode.ALREADY_RECONCILED


def test_a_clean_day_is_closed_at_once(bank: Bank, server: int) -> None:
    exchange(bank, server, request(bank, layout.PAY, bank_serial="P1", amount=700))
    reply = reconcile_reply(
        bank, exchange(bank, server, reconcile_body(bank, [("P1", bank.account, 700)]))
    )
    assert reply["return_code"] == ReturnCode.OK
    recon = Reconciliation.objects.get()
    assert recon.status == ReconciliationStatus.CLOSED
    assert BillPayment.objects.get().reconciled_at is not None


def test_an_uploaded_file_finds_a_payment_missing_on_each_side(bank: Bank, server: int) -> None:
    exchange(bank, server, request(bank, layout.PAY, bank_serial="P1", amount=700))
    content = f"bank_serial,account_number,amount_minor\nP9,{bank.account},300\n".encode()
    recon = reconciliation.receive(
        actor=bank.finance,
        link=bank.link,
        bank_date=today(),
        rows=reconciliation.read_file(content),
        source="upload",
    )
    kinds = sorted((line.bank_serial, line.kind) for line in recon.lines.all())
    assert kinds == [("P1", LineKind.MISSING_BANK), ("P9", LineKind.MISSING_OURS)]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"serial,account,amount\n", "header"),
        (b"bank_serial,account_number,amount_minor\nS1,A1,0\n", "amount_minor"),
        (b"bank_serial,account_number,amount_minor\nS1,A1\n", "three fields"),
        (b"bank_serial,account_number,amount_minor\nS 1,A1,5\n", "bank_serial"),
        ("bank_serial,account_number,amount_minor\nS1,账户,5\n".encode("gbk"), "UTF-8"),
    ],
)
def test_a_bad_file_is_refused_and_nothing_is_written(
    bank: Bank, content: bytes, problem: str
) -> None:
    before = (Reconciliation.objects.count(), AuditEvent.objects.count())
    with pytest.raises(DomainError) as caught:
        reconciliation.read_file(content)
    assert caught.value.code == "BANK_RECONCILIATION_FILE_INVALID"
    assert problem in str(caught.value.params["problem"])
    assert (Reconciliation.objects.count(), AuditEvent.objects.count()) == before


def test_a_file_for_a_day_not_yet_over_is_refused_and_the_day_stays_payable(bank: Bank) -> None:
    from datetime import timedelta

    from gridvend.banklink.errors import ReconciliationDateInFuture
    from gridvend.banklink.models import ReconciliationSource
    from gridvend.gateways.banklink import handlers

    tomorrow = today() + timedelta(days=1)
    with pytest.raises(ReconciliationDateInFuture):
        reconciliation.receive(
            actor=bank.finance, link=bank.link, bank_date=tomorrow,
            rows=reconciliation.read_file(b"bank_serial,account_number,amount_minor\n"),
            source=ReconciliationSource.UPLOAD,
        )  # fmt: skip
    assert not Reconciliation.objects.exists()
    body = request(
        bank, layout.PAY, bank_serial="T1", amount=1000, bank_date=tomorrow.strftime("%Y%m%d")
    )
    assert handlers.answer(bank.link, body).return_code == ReturnCode.OK


def test_an_empty_file_leaves_the_day_open_for_a_person_to_close(bank: Bank) -> None:
    from gridvend.banklink.models import ReconciliationSource

    recon = reconciliation.receive(
        actor=bank.finance, link=bank.link, bank_date=today(),
        rows=reconciliation.read_file(b"bank_serial,account_number,amount_minor\n"),
        source=ReconciliationSource.UPLOAD,
    )  # fmt: skip
    assert recon.status == ReconciliationStatus.OPEN
    closed = reconciliation.close(actor=bank.finance, reconciliation=recon)
    assert closed.status == ReconciliationStatus.CLOSED


def test_an_empty_file_is_replaced_by_the_banks_real_file_and_only_the_real_one_counts(
    bank: Bank, server: int
) -> None:
    from gridvend.banklink.models import ReconciliationSource

    exchange(bank, server, request(bank, layout.PAY, bank_serial="P1", amount=700))
    empty = reconciliation.receive(
        actor=bank.finance, link=bank.link, bank_date=today(),
        rows=reconciliation.read_file(b"bank_serial,account_number,amount_minor\n"),
        source=ReconciliationSource.UPLOAD,
    )  # fmt: skip
    # Our payment P1 is missing from the empty file: the day is open, payments wait.
    assert empty.status == ReconciliationStatus.OPEN
    # The bank's real file comes over the link: it replaces the untouched empty one.
    reply = reconcile_reply(
        bank, exchange(bank, server, reconcile_body(bank, [("P1", bank.account, 700)]))
    )
    assert reply["return_code"] == ReturnCode.OK
    empty.refresh_from_db()
    real = Reconciliation.objects.exclude(pk=empty.pk).get()
    assert empty.status == ReconciliationStatus.SUPERSEDED
    assert real.status == ReconciliationStatus.CLOSED
    assert BillPayment.objects.get().reconciled_at is not None
    assert AuditEvent.objects.filter(
        event_type="bank_reconciliation.superseded", target_id=str(empty.pk)
    ).exists()
    # The replaced day can no longer be worked on; a third file for a closed day is refused.
    [line] = empty.lines.all()
    with pytest.raises(DomainError) as caught:
        reconciliation.resolve_discrepancy(actor=bank.finance, line=line, reason="late")
    assert caught.value.code == "BANK_RECONCILIATION_SUPERSEDED"
    with pytest.raises(DomainError) as caught:
        reconciliation.receive(
            actor=bank.finance, link=bank.link, bank_date=today(), rows=[],
            source=ReconciliationSource.UPLOAD,
        )  # fmt: skip
    assert caught.value.code == "BANK_RECONCILIATION_DONE"


def test_a_day_someone_has_started_resolving_is_not_replaced(bank: Bank, server: int) -> None:
    from gridvend.banklink.models import ReconciliationSource

    exchange(bank, server, request(bank, layout.PAY, bank_serial="P1", amount=700))
    first = reconciliation.receive(
        actor=bank.finance, link=bank.link, bank_date=today(), rows=[],
        source=ReconciliationSource.UPLOAD,
    )  # fmt: skip
    [line] = first.lines.all()
    reconciliation.resolve_discrepancy(actor=bank.finance, line=line, reason="checking")
    reply = reconcile_reply(
        bank, exchange(bank, server, reconcile_body(bank, [("P1", bank.account, 700)]))
    )
    assert reply["return_code"] == ReturnCode.RECONCILIATION_IN_PROGRESS
    assert Reconciliation.objects.get().pk == first.pk


def test_a_row_naming_another_account_is_resolved_by_a_person_and_then_closes_the_day(
    bank: Bank,
) -> None:
    from gridvend.gateways.banklink import handlers

    paid = handlers.answer(bank.link, request(bank, layout.PAY, bank_serial="X1", amount=50000))
    assert paid.return_code == ReturnCode.OK
    other = bank.scene.customer(bank.scene.b).account_number
    recon = reconciliation.receive(
        actor=bank.link.partner.service_user,
        link=bank.link,
        bank_date=today(),
        rows=[reconciliation.BankRow("X1", other, 50000)],
        source="message",
    )
    [line] = recon.lines.all()
    assert line.kind == LineKind.ACCOUNT_DIFFERS and line.is_discrepancy
    assert line.our_amount_minor == 50000 and line.account_number == other
    reconciliation.resolve_discrepancy(actor=bank.finance, line=line, reason="bank's typo")
    closed = reconciliation.close(actor=bank.finance, reconciliation=recon)
    assert closed.status == ReconciliationStatus.CLOSED
    assert BillPayment.objects.get(source_reference="X1").reconciled_at is not None


def test_a_pay_replayed_with_its_serial_and_bank_date_is_answered_as_the_first(
    bank: Bank,
) -> None:
    from gridvend.gateways.banklink import handlers

    body = request(bank, layout.PAY, bank_serial="Y1", amount=30000)
    first = handlers.answer(bank.link, body)
    again = handlers.answer(bank.link, body)
    assert first.return_code == again.return_code == ReturnCode.OK
    assert BillPayment.objects.filter(source_reference="Y1").count() == 1
