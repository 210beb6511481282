"""The daily reconciliation of a bank's payments.

The bank sends its count, total and details (bank serial, account, amount) for one bank
accounting date, by message 90 or as a file uploaded in the back office. They are compared with
our payments of that bank and date (the bank date each payment was taken with): each serial is
matched, missing on our side, missing on the bank's side, or differs in amount or in account. A
clean day is closed at once; otherwise the day stays open until a person resolves each
discrepancy with a reason, and is then closed. Closing marks the day's payments reconciled
(billing's ``mark_reconciled``), after which none of them can be cancelled. One reconciliation
per bank and date (a unique constraint): a second is refused while the first is open or once it
is closed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.banklink import permissions
from gridvend.banklink.errors import (
    DiscrepancyAlreadyResolved,
    ReconciliationDateInFuture,
    ReconciliationDone,
    ReconciliationFileInvalid,
    ReconciliationInProgress,
    ReconciliationSuperseded,
    ReconciliationUnresolved,
)
from gridvend.banklink.events import BankLinkEvent
from gridvend.banklink.models import (
    BankLink,
    LineKind,
    Reconciliation,
    ReconciliationLine,
    ReconciliationSource,
    ReconciliationStatus,
)
from gridvend.billing import services as billing
from gridvend.billing.models import BillPayment, PaymentStatus
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.errors import ReasonRequired
from gridvend.kernel.inputs import clean_text
from gridvend.ledger.services import today
from gridvend.org.models import Channel

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
MAX_AMOUNT_MINOR = 10**13 - 1
FILE_HEADER = ("bank_serial", "account_number", "amount_minor")


@dataclass(frozen=True)
class BankRow:
    bank_serial: str
    account_number: str
    amount_minor: int


def _may_receive(actor: User, link: BankLink) -> None:
    """The bank itself (its service account, over the link) or finance in the back office."""
    if actor.pk == link.partner.service_user_id and actor.is_active:
        return
    if not permissions.can_reconcile(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, link.partner.org_unit)


def _our_payments(link: BankLink, bank_date: date) -> list[BillPayment]:
    """Our received payments of this bank taken with this bank accounting date, locked (a
    cancel waits for the comparison, and then finds the day open or closed)."""
    return list(
        BillPayment.objects.select_for_update(of=("self",))
        .select_related("partner", "customer__org_unit")
        .filter(
            channel=Channel.BANK,
            partner=link.partner,
            status=PaymentStatus.RECEIVED,
            bank_facts__bank_date=bank_date.isoformat(),
        )
        .order_by("pk")
    )


def _compare(rows: list[BankRow], ours: list[BillPayment]) -> list[ReconciliationLine]:
    by_serial = {str(p.bank_facts.get("bank_serial", "")): p for p in ours}
    lines = []
    for row in rows:
        payment = by_serial.pop(row.bank_serial, None)
        if payment is None:
            kind = LineKind.MISSING_OURS
        elif payment.amount_minor != row.amount_minor:
            kind = LineKind.AMOUNT_DIFFERS
        elif payment.customer.account_number != row.account_number.strip().upper():
            # Money the bank took for one account sits on another: a person says why.
            kind = LineKind.ACCOUNT_DIFFERS
        else:
            kind = LineKind.MATCHED
        lines.append(
            ReconciliationLine(
                kind=kind,
                bank_serial=row.bank_serial,
                account_number=row.account_number,
                bank_amount_minor=row.amount_minor,
                our_amount_minor=payment.amount_minor if payment else None,
                bill_payment_id=payment.pk if payment else None,
            )
        )
    for serial, payment in sorted(by_serial.items()):
        lines.append(
            ReconciliationLine(
                kind=LineKind.MISSING_BANK,
                bank_serial=serial,
                account_number=payment.customer.account_number,
                our_amount_minor=payment.amount_minor,
                bill_payment_id=payment.pk,
            )
        )
    return lines


def _bank_rows(day: Reconciliation) -> set[tuple[str, str, int | None]]:
    return {
        (line.bank_serial, line.account_number, line.bank_amount_minor)
        for line in day.lines.exclude(kind=LineKind.MISSING_BANK)
    }


def _replaceable(
    link: BankLink, bank_date: date, rows: list[BankRow], *, lock: bool = False
) -> Reconciliation | None:
    """The day's reconciliation a new file replaces: an open one on which nobody has resolved a
    discrepancy yet (an empty file, or one sent before the bank's cut-off, must not block the
    day), and which said something else (the same file sent again changes nothing). None when
    the day has none; refused once closed, while a person works on it, or for a repeat."""
    found = Reconciliation.objects.filter(link=link, bank_date=bank_date).exclude(
        status=ReconciliationStatus.SUPERSEDED
    )
    if lock:
        found = found.select_for_update()
    day = found.first()
    if day is None:
        return None
    if day.status == ReconciliationStatus.CLOSED:
        raise ReconciliationDone(bank_date=bank_date.isoformat())
    if day.lines.filter(resolved_at__isnull=False).exists() or _bank_rows(day) == {
        (r.bank_serial, r.account_number, r.amount_minor) for r in rows
    }:
        raise ReconciliationInProgress(bank_date=bank_date.isoformat())
    return day


def _supersede(actor: User, day: Reconciliation) -> None:
    Reconciliation.objects.filter(pk=day.pk).update(status=ReconciliationStatus.SUPERSEDED)
    day.refresh_from_db()
    record(
        actor=actor,
        event_type=BankLinkEvent.RECONCILIATION_SUPERSEDED,
        target=day,
        after={"reference": day.reference, "bank_count": day.bank_count},
    )


def _refuse_superseded(recon: Reconciliation) -> None:
    if recon.status == ReconciliationStatus.SUPERSEDED:
        raise ReconciliationSuperseded(bank_date=recon.bank_date.isoformat())


def _mark(actor: User, recon: Reconciliation) -> None:
    ids = [
        line.bill_payment_id
        for line in recon.lines.filter(bill_payment__isnull=False).order_by("bill_payment_id")
        if line.bill_payment_id is not None
    ]
    payments = list(
        BillPayment.objects.select_related("partner", "customer__org_unit").filter(pk__in=ids)
    )
    if payments:
        billing.mark_reconciled.within_transaction(
            actor=actor, payments=payments, reconciliation_ref=recon.reference
        )


def _close(actor: User, recon: Reconciliation) -> None:
    _mark(actor, recon)
    Reconciliation.objects.filter(pk=recon.pk).update(
        status=ReconciliationStatus.CLOSED, closed_at=timezone.now(), closed_by=actor
    )
    recon.refresh_from_db()
    record(
        actor=actor,
        event_type=BankLinkEvent.RECONCILIATION_CLOSED,
        target=recon,
        after={"reference": recon.reference, "our_count": recon.our_count},
    )


def receive(
    *,
    actor: User,
    link: BankLink,
    bank_date: date,
    rows: list[BankRow],
    source: str,
    bank_count: int | None = None,
    bank_total_minor: int | None = None,
) -> Reconciliation:
    """Compare the bank's day with ours; closed at once when clean and not empty. A bank date
    after today is refused."""
    _may_receive(actor, link)
    if source not in ReconciliationSource.values:
        raise ValueError(source)
    count = len(rows) if bank_count is None else bank_count
    total = sum(r.amount_minor for r in rows) if bank_total_minor is None else bank_total_minor
    if count != len(rows) or total != sum(r.amount_minor for r in rows):
        raise ReconciliationFileInvalid(problem="the totals do not match the details")
    if len({r.bank_serial for r in rows}) != len(rows):
        raise ReconciliationFileInvalid(problem="a bank serial appears twice")
    if bank_date > today():
        raise ReconciliationDateInFuture(bank_date=bank_date.isoformat())
    _replaceable(link, bank_date, rows)
    try:
        with transaction.atomic(durable=True):
            replaced = _replaceable(link, bank_date, rows, lock=True)
            if replaced is not None:
                _supersede(actor, replaced)
            ours = _our_payments(link, bank_date)
            lines = _compare(rows, ours)
            recon = Reconciliation.objects.create(
                link=link,
                bank_date=bank_date,
                source=source,
                status=ReconciliationStatus.OPEN,
                bank_count=count,
                bank_total_minor=total,
                our_count=len(ours),
                our_total_minor=sum(p.amount_minor for p in ours),
                currency=link.partner.currency,
                received_by=actor,
            )
            for line in lines:
                line.reconciliation = recon
            ReconciliationLine.objects.bulk_create(lines)
            discrepancies = sum(1 for line in lines if line.kind != LineKind.MATCHED)
            record(
                actor=actor,
                event_type=BankLinkEvent.RECONCILIATION_RECEIVED,
                target=recon,
                after={
                    "bank_date": bank_date.isoformat(),
                    "source": source,
                    "bank_count": count,
                    "bank_total_minor": total,
                    "our_count": recon.our_count,
                    "our_total_minor": recon.our_total_minor,
                    "discrepancies": discrepancies,
                    "replaces": replaced.pk if replaced is not None else None,
                },
            )
            # A day with no rows on either side is left open for a person to close: an empty
            # file (or one sent before the bank's cut-off) must not shut the day for good.
            if discrepancies == 0 and lines:
                _close(actor, recon)
    except IntegrityError:
        # Another reconciliation of this bank and date committed first.
        _replaceable(link, bank_date, rows)
        raise ReconciliationInProgress(bank_date=bank_date.isoformat()) from None
    return recon


def resolve_discrepancy(
    *, actor: User, line: ReconciliationLine, reason: str
) -> ReconciliationLine:
    """A person's decision on one discrepancy, with the reason (audited)."""
    recon = line.reconciliation
    if not permissions.can_reconcile(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, recon.link.partner.org_unit)
    cleaned = clean_text(reason, max_length=500, field="reason", multiline=True)
    if not cleaned:
        raise ReasonRequired()
    with transaction.atomic(durable=True):
        locked_recon = Reconciliation.objects.select_for_update().get(pk=recon.pk)
        _refuse_superseded(locked_recon)
        if locked_recon.status == ReconciliationStatus.CLOSED:
            raise ReconciliationDone(bank_date=locked_recon.bank_date.isoformat())
        locked = ReconciliationLine.objects.select_for_update().get(pk=line.pk)
        if locked.kind == LineKind.MATCHED or locked.resolved_at is not None:
            raise DiscrepancyAlreadyResolved()
        ReconciliationLine.objects.filter(pk=locked.pk).update(
            resolution=cleaned, resolved_at=timezone.now(), resolved_by=actor
        )
        locked.refresh_from_db()
        record(
            actor=actor,
            event_type=BankLinkEvent.DISCREPANCY_RESOLVED,
            target=locked,
            after={
                "reconciliation": locked_recon.reference,
                "kind": locked.kind,
                "bank_serial": locked.bank_serial,
                "reason": cleaned,
            },
        )
    return locked


def close(*, actor: User, reconciliation: Reconciliation) -> Reconciliation:
    """Close a day whose discrepancies are all resolved: its payments are marked reconciled."""
    if not permissions.can_reconcile(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, reconciliation.link.partner.org_unit)
    with transaction.atomic(durable=True):
        locked = Reconciliation.objects.select_for_update().get(pk=reconciliation.pk)
        _refuse_superseded(locked)
        if locked.status == ReconciliationStatus.CLOSED:
            raise ReconciliationDone(bank_date=locked.bank_date.isoformat())
        open_count = (
            locked.lines.exclude(kind=LineKind.MATCHED).filter(resolved_at__isnull=True).count()
        )
        if open_count:
            raise ReconciliationUnresolved(count=open_count)
        _close(actor, locked)
    return locked


def read_file(content: bytes) -> list[BankRow]:
    """The uploaded reconciliation file (docs/bank-link.md): UTF-8 CSV with the header
    ``bank_serial,account_number,amount_minor``, at most 2 MiB and 5,000 rows."""
    if len(content) > MAX_FILE_BYTES:
        raise ReconciliationFileInvalid(problem="the file is larger than 2 MiB")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReconciliationFileInvalid(problem="the file is not UTF-8") from None
    if "\x00" in text:
        raise ReconciliationFileInvalid(problem="the file holds NUL characters")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != FILE_HEADER:
        raise ReconciliationFileInvalid(problem="the header must be " + ",".join(FILE_HEADER))
    rows: list[BankRow] = []
    for number, cells in enumerate(reader, start=2):
        if not cells or not any(c.strip() for c in cells):
            continue
        if len(rows) >= MAX_ROWS:
            raise ReconciliationFileInvalid(problem=f"more than {MAX_ROWS} rows")
        if len(cells) != len(FILE_HEADER):
            raise ReconciliationFileInvalid(problem=f"line {number} needs three fields")
        serial, account, amount = (c.strip() for c in cells)
        if not serial or len(serial) > 40 or not serial.isascii() or not serial.isalnum():
            raise ReconciliationFileInvalid(problem=f"line {number}: bank_serial")
        if not account or len(account) > 40 or not account.isascii() or not account.isalnum():
            raise ReconciliationFileInvalid(problem=f"line {number}: account_number")
        if not amount.isascii() or not amount.isdigit() or len(amount) > 13 or int(amount) <= 0:
            raise ReconciliationFileInvalid(problem=f"line {number}: amount_minor")
        rows.append(BankRow(serial, account.upper(), int(amount)))
    return rows
