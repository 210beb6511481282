"""Each fixed-format message as calls to the bank-link services, and the reply as its bytes.

Nothing is decided here: accounts, amounts, serials, cancels and reconciliation are the
services'; this module reads the body (``layout``), names the call and writes the reply, every
refusal with its return code (``errors``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gridvend.banklink.errors import BankAgencyUnknown
from gridvend.banklink.models import BankLink, ReconciliationSource
from gridvend.banklink.selectors import customer_address
from gridvend.banklink.services import payments, reconciliation
from gridvend.billing import selectors as billing_selectors
from gridvend.billing.selectors import AccountDue
from gridvend.gateways.banklink import layout
from gridvend.gateways.banklink.errors import return_code
from gridvend.gateways.banklink.layout import LayoutError, ReturnCode
from gridvend.identity.errors import NotFound
from gridvend.kernel.errors import DomainError
from gridvend.org.permissions import address_allowed

logger = logging.getLogger(__name__)

# English text in the reply's message field: the return code is what a bank's system reads.
FRAME_REFUSED = "Malformed frame"
MESSAGES = {
    ReturnCode.OK: "OK",
    ReturnCode.UNKNOWN_ACCOUNT: "Unknown account",
    ReturnCode.ACCOUNT_NOT_POSTPAID: "Account is not postpaid",
    ReturnCode.MALFORMED: "Malformed message",
    ReturnCode.WRONG_CHARSET: "Wrong character set",
    ReturnCode.UNKNOWN_MESSAGE_TYPE: "Unknown message type",
    ReturnCode.AGENCY_UNKNOWN: "Unknown agency id",
    ReturnCode.ACCOUNT_CLOSED: "Account closed, nothing owed",
    ReturnCode.AMOUNT_INVALID: "Invalid amount",
    ReturnCode.SERIAL_REUSED: "Bank serial already used with another amount",
    ReturnCode.CURRENCY_INVALID: "Invalid currency",
    ReturnCode.CANCEL_TOO_LATE: "Cancel only on the business day of the payment",
    ReturnCode.ALREADY_CANCELLED: "Payment already cancelled",
    ReturnCode.RECONCILIATION_IN_PROGRESS: "Reconciliation in progress",
    ReturnCode.NO_RECORD_TO_CANCEL: "No payment to cancel",
    ReturnCode.ALREADY_RECONCILED: "Already reconciled",
    ReturnCode.RECONCILIATION_MISMATCH: "Reconciled with discrepancies",
    ReturnCode.REFUSED: "Refused",
    ReturnCode.SYSTEM_ERROR: "System error",
}


@dataclass(frozen=True)
class Answer:
    body: bytes
    message_type: int | None
    return_code: str
    problem: str = ""


def peer_allowed(link: BankLink, peer_host: str) -> bool:
    """The partner's IP allow-list (empty: any address) applies to its link too."""
    return address_allowed(link.partner.ip_allow_list, peer_host)


def _refused(link: BankLink, kind: int | None, code: str, problem: str, serial: str = "") -> Answer:
    body = layout.refusal(kind, code, MESSAGES.get(code, "Refused"), link.charset, serial)
    return Answer(body, kind, code, problem[:200])


def answer(link: BankLink, body: bytes) -> Answer:
    """The reply to one message body."""
    kind: int | None = None
    serial = ""
    try:
        kind = layout.message_type(body)
        if kind == layout.RECONCILE:
            return _reconcile(link, layout.read_reconciliation(body, link.charset))
        request = layout.read_request(body, link.charset)
        serial = request.bank_serial
        if request.agency_id != link.agency_id:
            raise BankAgencyUnknown(agency_id=request.agency_id)
        if kind == layout.QUERY:
            return _query(link, request)
        if kind == layout.PAY:
            return _pay(link, request)
        return _cancel(link, request)
    except LayoutError as exc:
        return _refused(link, kind, exc.code, exc.problem, serial)
    except DomainError as exc:
        return _refused(link, kind, return_code(str(exc.code)), str(exc.code), serial)
    except Exception:
        logger.exception("bank link message failed")
        return _refused(link, kind, ReturnCode.SYSTEM_ERROR, "system error", serial)


def _arrears(due: AccountDue, bill_month: str) -> list[layout.Arrear]:
    rows = []
    for bill in due.open_bills:
        month = f"{bill.period_end:%Y%m}"
        if bill_month and month != bill_month:
            continue
        # A payment pays a bill's amount before its late fee: each row is what is still unpaid
        # of each (a bill paid past its amount owes only the rest of its late fee).
        unpaid = max(bill.amount_minor - bill.paid_minor, 0)
        fee_unpaid = bill.amount_minor + bill.late_fee_minor - bill.paid_minor - unpaid
        rows.append(
            layout.Arrear(
                receivable_id=bill.number or str(bill.bill_id),
                bill_month=month,
                amount_minor=unpaid,
                late_fee_minor=max(fee_unpaid, 0),
            )
        )
    return rows


def _reply(
    request: layout.Request, due: AccountDue, *, reference: str = "", with_rows: bool = True
) -> layout.Reply:
    return layout.Reply(
        message_type=request.message_type,
        return_code=ReturnCode.OK,
        return_message=MESSAGES[ReturnCode.OK],
        bank_serial=request.bank_serial,
        reference=reference,
        account_number=due.customer.account_number,
        customer_name=due.customer.name,
        customer_address=customer_address(due.customer),
        total_due_minor=due.total_due_minor,
        arrears=_arrears(due, request.bill_month) if with_rows else [],
    )


def _ok(link: BankLink, reply: layout.Reply) -> Answer:
    return Answer(reply.encode(link.charset), reply.message_type, ReturnCode.OK)


def _query(link: BankLink, request: layout.Request) -> Answer:
    due = billing_selectors.account_due(link.partner.service_user, request.account_number)
    return _ok(link, _reply(request, due))


def _facts(request: layout.Request) -> payments.BankFacts:
    return payments.BankFacts(
        bank_serial=request.bank_serial,
        outlet=request.outlet,
        teller=request.teller,
        bank_date=request.bank_date,
    )


def _pay(link: BankLink, request: layout.Request) -> Answer:
    payment = payments.pay(
        link=link,
        account_number=request.account_number,
        amount_minor=request.amount_minor,
        facts=_facts(request),
    )
    return _booked(link, request, f"P{payment.pk}", request.account_number, with_rows=True)


def _booked(
    link: BankLink, request: layout.Request, reference: str, account_number: str, *, with_rows: bool
) -> Answer:
    """The OK reply to a pay or cancel already committed. It cannot be refused any more (the
    bank would be told "system error" for money in our books): should reading the account's
    figures fail, the reply still says OK, with the reference and without the figures."""
    try:
        due = billing_selectors.account_due(link.partner.service_user, account_number)
        return _ok(link, _reply(request, due, reference=reference, with_rows=with_rows))
    except Exception:
        logger.exception("bank link: figures for a booked %s failed", reference)
    reply = layout.Reply(
        message_type=request.message_type,
        return_code=ReturnCode.OK,
        return_message=MESSAGES[ReturnCode.OK],
        bank_serial=request.bank_serial,
        reference=reference,
        account_number=account_number,
        customer_name="",
        customer_address="",
        total_due_minor=0,
        arrears=[],
    )
    return _ok(link, reply)


def _cancel(link: BankLink, request: layout.Request) -> Answer:
    try:
        payment = payments.cancel(
            link=link,
            original_serial=request.original_serial,
            cancel_serial=request.bank_serial,
            account_number=request.account_number,
        )
    except NotFound:
        return _refused(
            link,
            request.message_type,
            ReturnCode.NO_RECORD_TO_CANCEL,
            "PAYMENT_NOT_FOUND",
            request.bank_serial,
        )
    return _booked(
        link, request, f"P{payment.pk}", payment.customer.account_number, with_rows=False
    )


def _reconcile(link: BankLink, message: layout.Reconciliation) -> Answer:
    if message.agency_id != link.agency_id:
        raise BankAgencyUnknown(agency_id=message.agency_id)
    recon = reconciliation.receive(
        actor=link.partner.service_user,
        link=link,
        bank_date=message.bank_date,
        rows=[
            reconciliation.BankRow(r.bank_serial, r.account_number, r.amount_minor)
            for r in message.rows
        ],
        source=ReconciliationSource.MESSAGE,
        bank_count=message.count,
        bank_total_minor=message.total_minor,
    )
    discrepancies = recon.lines.exclude(kind="matched").count()
    code = ReturnCode.OK if discrepancies == 0 else ReturnCode.RECONCILIATION_MISMATCH
    reply = layout.ReconcileReply(
        return_code=code,
        return_message=MESSAGES[code],
        bank_date=recon.bank_date,
        our_count=recon.our_count,
        our_total_minor=recon.our_total_minor,
        discrepancies=discrepancies,
    )
    return Answer(reply.encode(link.charset), layout.RECONCILE, code)
