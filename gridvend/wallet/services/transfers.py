"""Bank transfers into wallets: a statement file (CSV) imported by finance, each credit line
once per bank reference; a line whose narrative names exactly one wallet by its reference (the
check character agreeing) credits that wallet, any other waits on the review list until a
person credits it to the wallet they choose.

The file is read whole and every line checked before anything is written: a file with one
bad line imports nothing. Size and line count are checked before parsing."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction

from gridvend.audit.services import record
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.inputs import text_problem
from gridvend.kernel.money import Money
from gridvend.wallet import permissions
from gridvend.wallet.errors import TransferFileInvalid, TransferNotUnmatched, WalletNotFound
from gridvend.wallet.events import WalletEvent
from gridvend.wallet.models import BankTransfer, TopUpSource, TransferState, Wallet, WalletTopUp
from gridvend.wallet.services.topups import _book, check_amount
from gridvend.wallet.services.wallets import is_reference

MAX_FILE_BYTES = 1024 * 1024
MAX_LINES = 5000
HEADER = ["reference", "date", "amount", "narrative"]
TRANSFER_ACCOUNT = "bank:wallet-transfers"
_AMOUNT = re.compile(r"\d{1,12}(\.\d{1,2})?")
_BANK_REFERENCE = re.compile(r"[A-Za-z0-9_.\-/]{1,64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CANDIDATE = re.compile(r"W[A-Z0-9]{9}")


@dataclass
class ImportResult:
    matched: int = 0
    unmatched: int = 0
    repeated: int = 0
    transfers: list[BankTransfer] = field(default_factory=list)


@dataclass(frozen=True)
class _Line:
    reference: str
    day: date
    amount: Money
    narrative: str


def wallet_named(narrative: str) -> Wallet | None:
    """The one wallet whose reference the narrative carries (spaces and dashes inside it
    forgiven); none, or two different ones, is no match."""
    squeezed = re.sub(r"[\s\-]", "", narrative.upper())
    found = {c for c in _CANDIDATE.findall(squeezed) if is_reference(c)}
    if len(found) != 1:
        return None
    return (
        Wallet.objects.select_related("account", "customer").filter(reference=found.pop()).first()
    )


def _parse(data: bytes) -> list[_Line]:
    if len(data) > MAX_FILE_BYTES:
        raise TransferFileInvalid(line=0, problem=f"larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TransferFileInvalid(line=0, problem="not UTF-8 text") from None
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) > MAX_LINES + 1:
        raise TransferFileInvalid(line=0, problem=f"more than {MAX_LINES} lines")
    if not rows or [cell.strip().lower() for cell in rows[0]] != HEADER:
        raise TransferFileInvalid(line=1, problem="the header is not " + ",".join(HEADER))
    lines = []
    seen = set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(HEADER):
            raise TransferFileInvalid(line=number, problem="expected 4 cells")
        reference, day_text, amount_text, narrative = (cell.strip() for cell in row)
        if not _BANK_REFERENCE.fullmatch(reference) or reference in seen:
            raise TransferFileInvalid(line=number, problem="reference missing, malformed or twice")
        seen.add(reference)
        if not _DATE.fullmatch(day_text):
            raise TransferFileInvalid(line=number, problem="date is not YYYY-MM-DD")
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise TransferFileInvalid(line=number, problem="date is not a day") from None
        if not _AMOUNT.fullmatch(amount_text):
            raise TransferFileInvalid(line=number, problem="amount is not a positive number")
        amount = Money.from_major(amount_text, settings.CURRENCY)
        if not amount.is_positive() or amount.minor > int(settings.WALLET_TOP_UP_MAX_MINOR):
            raise TransferFileInvalid(line=number, problem="amount out of range")
        if len(narrative) > 140 or text_problem(narrative) is not None:
            raise TransferFileInvalid(line=number, problem="narrative too long or not plain text")
        lines.append(_Line(reference, day, amount, narrative))
    return lines


def import_transfers(*, actor: User, data: bytes) -> ImportResult:
    """Import a statement's credit lines (see the module's docstring); a line whose bank
    reference was imported before is counted as repeated and changes nothing."""
    if not permissions.can_import_transfers(actor):
        raise AccessDenied()
    lines = _parse(data)
    result = ImportResult()
    placed: dict[int, BankTransfer] = {}
    with transaction.atomic(durable=True):
        # Each line claims its bank reference by inserting its row first (the unique index is
        # the lock), in the references' order so that two imports never wait on each other
        # crosswise: a second import of the same line, even one running at the same time,
        # waits for the first, loses the index and counts the line as repeated.
        for index in sorted(range(len(lines)), key=lambda i: lines[i].reference):
            line = lines[index]
            try:
                with transaction.atomic():
                    transfer = BankTransfer.objects.create(
                        bank_reference=line.reference,
                        narrative=line.narrative,
                        amount_minor=line.amount.minor,
                        currency=line.amount.currency,
                        value_date=line.day,
                        state=TransferState.UNMATCHED,
                        top_up=None,
                        imported_by=actor,
                    )
            except IntegrityError:
                result.repeated += 1
                continue
            wallet = wallet_named(line.narrative)
            if wallet is not None and wallet.currency != line.amount.currency:
                wallet = None
            if wallet is None:
                result.unmatched += 1
            else:
                top_up = _book(
                    actor=actor,
                    wallet=wallet,
                    amount=line.amount,
                    source=TopUpSource.BANK_TRANSFER,
                    reference=line.reference,
                    source_account=TRANSFER_ACCOUNT,
                )
                BankTransfer.objects.filter(pk=transfer.pk).update(
                    state=TransferState.MATCHED, top_up=top_up
                )
                transfer.state, transfer.top_up = TransferState.MATCHED, top_up
                result.matched += 1
            placed[index] = transfer
        result.transfers = [placed[i] for i in sorted(placed)]
        record(
            actor=actor,
            event_type=WalletEvent.TRANSFER_IMPORTED,
            target_type="wallet.banktransfer",
            target_label="bank transfer file",
            after={
                "matched": result.matched,
                "unmatched": result.unmatched,
                "repeated": result.repeated,
            },
        )
    return result


def credit_unmatched_transfer(
    *, actor: User, transfer: BankTransfer, wallet: Wallet
) -> WalletTopUp:
    """A person's decision on the review list: credit this transfer to this wallet."""
    if not permissions.can_import_transfers(actor):
        raise AccessDenied()
    try:
        require_unit_in_scope(actor, wallet.customer.org_unit)
    except AccessDenied:
        raise WalletNotFound(wallet=wallet.reference) from None
    with transaction.atomic(durable=True):
        locked = BankTransfer.objects.select_for_update().get(pk=transfer.pk)
        if locked.state != TransferState.UNMATCHED:
            raise TransferNotUnmatched(reference=locked.bank_reference)
        amount = check_amount(wallet, Money(locked.amount_minor, locked.currency))
        top_up = _book(
            actor=actor,
            wallet=wallet,
            amount=amount,
            source=TopUpSource.BANK_TRANSFER,
            reference=locked.bank_reference,
            source_account=TRANSFER_ACCOUNT,
        )
        BankTransfer.objects.filter(pk=locked.pk).update(state=TransferState.MATCHED, top_up=top_up)
        record(
            actor=actor,
            event_type=WalletEvent.TRANSFER_MATCHED,
            target=wallet,
            after={"bank_reference": locked.bank_reference, "amount_minor": amount.minor},
        )
    return top_up
