"""The fixed-width message layout of the bank link (docs/bank-link.md): query (1), pay (2),
cancel (3) and reconcile (90), modelled on the Chinese bank-electricity message set.

Every field has a width in bytes of the bank's character set: text is left-aligned and padded
with spaces, numbers are right-aligned and padded with zeros. Pure Python (no Django): reading a
body gives a dataclass or a ``LayoutError`` naming the field and the return code to answer with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

QUERY = 1
PAY = 2
CANCEL = 3
RECONCILE = 90
MESSAGE_TYPES = (QUERY, PAY, CANCEL, RECONCILE)


class ReturnCode:
    """The four-digit return codes of a reply (the 07xx are the message set's own)."""

    OK = "0000"
    UNKNOWN_ACCOUNT = "1001"
    ACCOUNT_NOT_POSTPAID = "1002"
    MALFORMED = "1003"
    WRONG_CHARSET = "1004"
    UNKNOWN_MESSAGE_TYPE = "1005"
    AGENCY_UNKNOWN = "1006"
    ACCOUNT_CLOSED = "1007"
    AMOUNT_INVALID = "2001"
    SERIAL_REUSED = "2002"
    CURRENCY_INVALID = "2003"
    CANCEL_TOO_LATE = "3004"
    ALREADY_CANCELLED = "3002"
    RECONCILIATION_IN_PROGRESS = "0703"
    NO_RECORD_TO_CANCEL = "0704"
    ALREADY_RECONCILED = "0706"
    RECONCILIATION_MISMATCH = "0708"
    REFUSED = "9000"
    SYSTEM_ERROR = "9999"


class LayoutError(Exception):
    def __init__(self, problem: str, code: str = ReturnCode.MALFORMED) -> None:
        super().__init__(problem)
        self.problem = problem
        self.code = code


# Widths in bytes ------------------------------------------------------------------------------

HEAD = (
    ("message_type", 4),
    ("agency_id", 20),
    ("trans_date", 8),
    ("trans_time", 6),
    ("bank_serial", 20),
    ("outlet", 20),
    ("teller", 20),
)
BODY = (
    ("account_number", 20),
    ("bill_month", 6),
    ("bank_date", 8),
    ("amount", 14),
    ("original_serial", 20),
)
REQUEST = HEAD + BODY
REQUEST_BYTES = sum(width for _, width in REQUEST)  # 166
RECONCILE_HEAD = (*HEAD, ("bank_date", 8), ("count", 6), ("total", 16))
RECONCILE_HEAD_BYTES = sum(width for _, width in RECONCILE_HEAD)  # 128
RECONCILE_ROW = (("bank_serial", 20), ("account_number", 20), ("amount", 14))
RECONCILE_ROW_BYTES = sum(width for _, width in RECONCILE_ROW)  # 54
MAX_RECONCILE_ROWS = 5000
REPLY_HEAD = (
    ("message_type", 4),
    ("return_code", 4),
    ("return_message", 80),
    ("bank_serial", 20),
    ("reference", 20),
    ("account_number", 20),
    ("customer_name", 40),
    ("customer_address", 80),
    ("total_due", 14),
    ("count", 2),
)
ARREAR_ROW = (("receivable_id", 20), ("bill_month", 6), ("amount", 14), ("late_fee", 14))
MAX_ARREAR_ROWS = 99
RECONCILE_REPLY = (
    ("message_type", 4),
    ("return_code", 4),
    ("return_message", 80),
    ("bank_date", 8),
    ("our_count", 6),
    ("our_total", 16),
    ("discrepancies", 6),
)
MAX_AMOUNT_MINOR = 10**13 - 1


def _decode(raw: bytes, charset: str, name: str) -> str:
    try:
        return raw.decode(charset)
    except UnicodeDecodeError:
        raise LayoutError(f"{name} is not {charset}", ReturnCode.WRONG_CHARSET) from None


def _fields(body: bytes, spec: tuple[tuple[str, int], ...], charset: str) -> dict[str, str]:
    found: dict[str, str] = {}
    at = 0
    for name, width in spec:
        text = _decode(body[at : at + width], charset, name)
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            raise LayoutError(f"{name} holds control characters")
        found[name] = text.strip()
        at += width
    return found


def _digits(value: str, name: str, *, required: bool = True) -> int:
    if not value:
        if required:
            raise LayoutError(f"{name} is empty")
        return 0
    if not value.isascii() or not value.isdigit():
        raise LayoutError(f"{name} must be digits")
    return int(value)


def _date(value: str, name: str) -> date:
    if len(value) != 8 or not value.isdigit():
        raise LayoutError(f"{name} must be a date YYYYMMDD")
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise LayoutError(f"{name} is not a calendar date") from None


def _text(value: str, name: str, *, required: bool = True) -> str:
    if required and not value:
        raise LayoutError(f"{name} is empty")
    return value


def message_type(body: bytes) -> int:
    """The type of a body (its first four bytes, ASCII digits)."""
    head = body[:4]
    if len(head) < 4 or not head.isdigit():
        raise LayoutError("the message type must be four digits")
    kind = int(head)
    if kind not in MESSAGE_TYPES:
        raise LayoutError(f"message type {kind} is not served", ReturnCode.UNKNOWN_MESSAGE_TYPE)
    return kind


@dataclass(frozen=True)
class Request:
    """A query, pay or cancel message."""

    message_type: int
    agency_id: str
    trans_at: datetime
    bank_serial: str
    outlet: str
    teller: str
    account_number: str
    bill_month: str
    bank_date: date
    amount_minor: int
    original_serial: str


def _trans_at(values: dict[str, str]) -> datetime:
    when = _date(values["trans_date"], "trans_date")
    clock = values["trans_time"]
    if len(clock) != 6 or not clock.isdigit():
        raise LayoutError("trans_time must be HHMMSS")
    hour, minute, second = int(clock[:2]), int(clock[2:4]), int(clock[4:])
    if hour > 23 or minute > 59 or second > 59:
        raise LayoutError("trans_time is not a time of day")
    return datetime(when.year, when.month, when.day, hour, minute, second)


def read_request(body: bytes, charset: str) -> Request:
    kind = message_type(body)
    if kind == RECONCILE:
        raise LayoutError("a reconciliation is read by read_reconciliation")
    if len(body) != REQUEST_BYTES:
        raise LayoutError(f"the message is {len(body)} bytes, the layout {REQUEST_BYTES}")
    values = _fields(body, REQUEST, charset)
    bill_month = values["bill_month"]
    if bill_month and (
        len(bill_month) != 6 or not bill_month.isdigit() or not 1 <= int(bill_month[4:]) <= 12
    ):
        raise LayoutError("bill_month must be YYYYMM or blank")
    amount = _digits(values["amount"], "amount", required=kind != QUERY)
    if kind == PAY and amount <= 0:
        raise LayoutError("a payment's amount must be above zero", ReturnCode.AMOUNT_INVALID)
    serial = _text(values["bank_serial"], "bank_serial")
    if not serial.isascii() or not serial.isalnum():
        raise LayoutError("bank_serial must be letters and digits")
    original = values["original_serial"]
    if kind == CANCEL and not original:
        raise LayoutError("a cancel names the payment's bank serial in original_serial")
    return Request(
        message_type=kind,
        agency_id=_text(values["agency_id"], "agency_id"),
        trans_at=_trans_at(values),
        bank_serial=serial,
        outlet=values["outlet"],
        teller=values["teller"],
        account_number=_text(values["account_number"], "account_number"),
        bill_month=bill_month,
        bank_date=_date(values["bank_date"], "bank_date"),
        amount_minor=amount,
        original_serial=original,
    )


@dataclass(frozen=True)
class ReconcileRow:
    bank_serial: str
    account_number: str
    amount_minor: int


@dataclass(frozen=True)
class Reconciliation:
    agency_id: str
    trans_at: datetime
    bank_serial: str
    outlet: str
    teller: str
    bank_date: date
    count: int
    total_minor: int
    rows: list[ReconcileRow] = field(default_factory=list)


def read_reconciliation(body: bytes, charset: str) -> Reconciliation:
    if message_type(body) != RECONCILE:
        raise LayoutError("not a reconciliation message")
    if len(body) < RECONCILE_HEAD_BYTES:
        raise LayoutError("the reconciliation header is cut short")
    head = _fields(body[:RECONCILE_HEAD_BYTES], RECONCILE_HEAD, charset)
    count = _digits(head["count"], "count")
    total = _digits(head["total"], "total")
    if count > MAX_RECONCILE_ROWS:
        raise LayoutError(f"at most {MAX_RECONCILE_ROWS} detail rows")
    expected = RECONCILE_HEAD_BYTES + count * RECONCILE_ROW_BYTES
    if len(body) != expected:
        raise LayoutError(f"{count} detail rows make {expected} bytes, the message {len(body)}")
    rows = []
    for i in range(count):
        at = RECONCILE_HEAD_BYTES + i * RECONCILE_ROW_BYTES
        values = _fields(body[at : at + RECONCILE_ROW_BYTES], RECONCILE_ROW, charset)
        amount = _digits(values["amount"], f"row {i + 1} amount")
        if amount <= 0:
            raise LayoutError(f"row {i + 1} amount must be above zero")
        rows.append(
            ReconcileRow(
                bank_serial=_text(values["bank_serial"], f"row {i + 1} bank_serial"),
                account_number=_text(values["account_number"], f"row {i + 1} account_number"),
                amount_minor=amount,
            )
        )
    if sum(row.amount_minor for row in rows) != total:
        raise LayoutError("the detail rows do not add up to the total")
    if len({row.bank_serial for row in rows}) != len(rows):
        raise LayoutError("a bank serial appears twice in the details")
    return Reconciliation(
        agency_id=_text(head["agency_id"], "agency_id"),
        trans_at=_trans_at(head),
        bank_serial=_text(head["bank_serial"], "bank_serial"),
        outlet=head["outlet"],
        teller=head["teller"],
        bank_date=_date(head["bank_date"], "bank_date"),
        count=count,
        total_minor=total,
        rows=rows,
    )


# Writing --------------------------------------------------------------------------------------


def text_field(value: str, width: int, charset: str) -> bytes:
    """``value`` in ``width`` bytes of ``charset``: cut on a character boundary, padded with
    spaces; a character the charset cannot hold becomes ``?``."""
    out = bytearray()
    for ch in value:
        encoded = ch.encode(charset, errors="replace")
        if len(out) + len(encoded) > width:
            break
        out.extend(encoded)
    return bytes(out) + b" " * (width - len(out))


def _amount(minor: int) -> int:
    """An amount as a reply may carry it: between zero and the widest the field holds."""
    return min(max(minor, 0), MAX_AMOUNT_MINOR)


def number_field(value: int, width: int) -> bytes:
    if value < 0 or len(str(value)) > width:
        raise ValueError(f"{value} does not fit {width} digits")
    return str(value).zfill(width).encode("ascii")


def write(values: dict[str, str | int], spec: tuple[tuple[str, int], ...], charset: str) -> bytes:
    out = bytearray()
    for name, width in spec:
        value = values.get(name, "")
        if isinstance(value, int):
            out.extend(number_field(value, width))
        else:
            out.extend(text_field(value, width, charset))
    return bytes(out)


@dataclass(frozen=True)
class Arrear:
    receivable_id: str
    bill_month: str
    amount_minor: int
    late_fee_minor: int


@dataclass(frozen=True)
class Reply:
    message_type: int
    return_code: str
    return_message: str
    bank_serial: str = ""
    reference: str = ""
    account_number: str = ""
    customer_name: str = ""
    customer_address: str = ""
    total_due_minor: int = 0
    arrears: list[Arrear] = field(default_factory=list)

    def encode(self, charset: str) -> bytes:
        rows = self.arrears[:MAX_ARREAR_ROWS]
        head: dict[str, str | int] = {
            "message_type": self.message_type,
            "return_code": self.return_code,
            "return_message": self.return_message,
            "bank_serial": self.bank_serial,
            "reference": self.reference,
            "account_number": self.account_number,
            "customer_name": self.customer_name,
            "customer_address": self.customer_address,
            # Never negative (an account in credit owes nothing) nor wider than the field: the
            # reply to a payment is built after the payment is in the books and must not fail.
            "total_due": _amount(self.total_due_minor),
            "count": len(rows),
        }
        out = bytearray(write(head, REPLY_HEAD, charset))
        for row in rows:
            values: dict[str, str | int] = {
                "receivable_id": row.receivable_id,
                "bill_month": row.bill_month,
                "amount": _amount(row.amount_minor),
                "late_fee": _amount(row.late_fee_minor),
            }
            out.extend(write(values, ARREAR_ROW, charset))
        return bytes(out)


@dataclass(frozen=True)
class ReconcileReply:
    return_code: str
    return_message: str
    bank_date: date | None = None
    our_count: int = 0
    our_total_minor: int = 0
    discrepancies: int = 0

    def encode(self, charset: str) -> bytes:
        values: dict[str, str | int] = {
            "message_type": RECONCILE,
            "return_code": self.return_code,
            "return_message": self.return_message,
            "bank_date": self.bank_date.strftime("%Y%m%d") if self.bank_date else "",
            "our_count": self.our_count,
            "our_total": self.our_total_minor,
            "discrepancies": self.discrepancies,
        }
        return write(values, RECONCILE_REPLY, charset)


def refusal(kind: int | None, code: str, message: str, charset: str, serial: str = "") -> bytes:
    """The reply to a message that was refused before or while it was read."""
    if kind == RECONCILE:
        return ReconcileReply(return_code=code, return_message=message).encode(charset)
    return Reply(
        message_type=kind or 0, return_code=code, return_message=message, bank_serial=serial
    ).encode(charset)


def encode_request(values: dict[str, str | int], charset: str) -> bytes:
    """A request body as a bank writes it (the tests' client and the docs' examples)."""
    return write(values, REQUEST, charset)


def encode_reconciliation(
    head: dict[str, str | int], rows: list[dict[str, str | int]], charset: str
) -> bytes:
    out = bytearray(write(head, RECONCILE_HEAD, charset))
    for row in rows:
        out.extend(write(row, RECONCILE_ROW, charset))
    return bytes(out)
