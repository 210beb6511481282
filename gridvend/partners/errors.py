"""Refusals of the partner channel (status, requests, advices) with stable codes."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class PartnerErrorCode(StrEnum):
    PARTNER_NOT_ACTIVE = "PARTNER_NOT_ACTIVE"
    PARTNER_POINT_UNKNOWN = "PARTNER_POINT_UNKNOWN"
    PARTNER_INVALID = "PARTNER_INVALID"
    REQUEST_NOT_FOUND = "REQUEST_NOT_FOUND"
    REQUEST_ALREADY_REVERSED = "REQUEST_ALREADY_REVERSED"
    SALE_ALREADY_CONFIRMED = "SALE_ALREADY_CONFIRMED"
    SALE_ALREADY_SETTLED = "SALE_ALREADY_SETTLED"
    ADVICE_CONFLICT = "ADVICE_CONFLICT"
    REQUEST_NOT_REPRINTABLE = "REQUEST_NOT_REPRINTABLE"
    CREDENTIALS_MISSING = "CREDENTIALS_MISSING"
    CREDENTIALS_INVALID = "CREDENTIALS_INVALID"
    KEY_EXPIRED = "KEY_EXPIRED"
    KEY_REVOKED = "KEY_REVOKED"
    ADDRESS_NOT_ALLOWED = "ADDRESS_NOT_ALLOWED"
    SIGNATURE_REQUIRED = "SIGNATURE_REQUIRED"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    SIGNATURE_EXPIRED = "SIGNATURE_EXPIRED"
    SIGNATURE_REPLAYED = "SIGNATURE_REPLAYED"
    RATE_LIMITED = "RATE_LIMITED"
    PARTNER_KEY_INVALID = "PARTNER_KEY_INVALID"
    SETTLEMENT_FILE_TOO_LARGE = "SETTLEMENT_FILE_TOO_LARGE"
    SETTLEMENT_FILE_TOO_MANY_ROWS = "SETTLEMENT_FILE_TOO_MANY_ROWS"
    SETTLEMENT_FILE_NOT_UTF8 = "SETTLEMENT_FILE_NOT_UTF8"
    SETTLEMENT_FILE_BAD_HEADER = "SETTLEMENT_FILE_BAD_HEADER"
    SETTLEMENT_FILE_BAD_ROWS = "SETTLEMENT_FILE_BAD_ROWS"
    SETTLEMENT_FILE_NAME_INVALID = "SETTLEMENT_FILE_NAME_INVALID"
    SETTLEMENT_DATE_INVALID = "SETTLEMENT_DATE_INVALID"
    SETTLEMENT_DAY_IN_RESOLUTION = "SETTLEMENT_DAY_IN_RESOLUTION"
    SETTLEMENT_ITEM_NOT_OPEN = "SETTLEMENT_ITEM_NOT_OPEN"
    SETTLEMENT_ACTION_NOT_POSSIBLE = "SETTLEMENT_ACTION_NOT_POSSIBLE"


class PartnerRefused(DomainError):
    """A partner-channel step refused; nothing was written (the base of every such refusal)."""


class CredentialRefused(PartnerRefused):
    """A call to the partner API was not let in (``partners.credentials.authenticate``);
    ``http_status`` is the status every HTTP channel answers it with."""

    http_status: ClassVar[int] = 401


class PartnerNotActive(CredentialRefused):
    """Also raised by the selling services; the API answers it 403 wherever it comes from."""

    http_status = 403
    code = PartnerErrorCode.PARTNER_NOT_ACTIVE
    message_template = gettext_lazy(
        "Partner %(partner)s is %(status)s: it cannot sell or send advices."
    )

    def __init__(self, *, partner: str, status: str) -> None:
        super().__init__(partner=partner, status=status)


class PartnerPointUnknown(PartnerRefused):
    code = PartnerErrorCode.PARTNER_POINT_UNKNOWN
    message_template = gettext_lazy(
        "Vending point %(vending_point)s is not one of this partner's points."
    )

    def __init__(self, *, vending_point: str) -> None:
        super().__init__(vending_point=vending_point)


class PartnerInvalid(PartnerRefused):
    code = PartnerErrorCode.PARTNER_INVALID
    message_template = gettext_lazy("The partner's %(field)s is not valid: %(problem)s.")

    def __init__(self, *, field: str, problem: str) -> None:
        super().__init__(field=field, problem=problem)


class RequestNotFound(PartnerRefused):
    code = PartnerErrorCode.REQUEST_NOT_FOUND
    message_template = gettext_lazy("No request %(request_id)s of this partner is known.")

    def __init__(self, *, request_id: str) -> None:
        super().__init__(request_id=request_id)


class RequestAlreadyReversed(PartnerRefused):
    code = PartnerErrorCode.REQUEST_ALREADY_REVERSED
    message_template = gettext_lazy(
        "Request %(request_id)s was reversed by an advice before it arrived: nothing was sold."
    )

    def __init__(self, *, request_id: str) -> None:
        super().__init__(request_id=request_id)


class SaleAlreadyConfirmed(PartnerRefused):
    code = PartnerErrorCode.SALE_ALREADY_CONFIRMED
    message_template = gettext_lazy(
        "The sale of request %(request_id)s is already confirmed; it can no longer be reversed."
    )

    def __init__(self, *, request_id: str) -> None:
        super().__init__(request_id=request_id)


class SaleAlreadySettled(PartnerRefused):
    code = PartnerErrorCode.SALE_ALREADY_SETTLED
    message_template = gettext_lazy(
        "The sale of request %(request_id)s is settled; it can no longer be reversed."
    )

    def __init__(self, *, request_id: str) -> None:
        super().__init__(request_id=request_id)


class AdviceConflict(PartnerRefused):
    code = PartnerErrorCode.ADVICE_CONFLICT
    message_template = gettext_lazy(
        "Advice %(advice_id)s was already received for another request or of another kind."
    )

    def __init__(self, *, advice_id: str) -> None:
        super().__init__(advice_id=advice_id)


class RequestNotReprintable(PartnerRefused):
    code = PartnerErrorCode.REQUEST_NOT_REPRINTABLE
    message_template = gettext_lazy(
        "Request %(request_id)s has no tokens to reprint (it was declined or reversed)."
    )

    def __init__(self, *, request_id: str) -> None:
        super().__init__(request_id=request_id)


class CredentialsMissing(CredentialRefused):
    code = PartnerErrorCode.CREDENTIALS_MISSING
    message_template = gettext_lazy(
        "This call needs an API key: send it as a bearer token or with HTTP Basic."
    )

    def __init__(self) -> None:
        super().__init__()


class CredentialsInvalid(CredentialRefused):
    """Unknown key, wrong key, malformed header: one answer, so a caller learns nothing."""

    code = PartnerErrorCode.CREDENTIALS_INVALID
    message_template = gettext_lazy("The API key is not valid.")

    def __init__(self) -> None:
        super().__init__()


class KeyExpired(CredentialRefused):
    code = PartnerErrorCode.KEY_EXPIRED
    message_template = gettext_lazy("API key %(prefix)s has expired. Use its replacement.")

    def __init__(self, *, prefix: str) -> None:
        super().__init__(prefix=prefix)


class KeyRevoked(CredentialRefused):
    code = PartnerErrorCode.KEY_REVOKED
    message_template = gettext_lazy("API key %(prefix)s has been revoked.")

    def __init__(self, *, prefix: str) -> None:
        super().__init__(prefix=prefix)


class AddressNotAllowed(CredentialRefused):
    http_status = 403
    code = PartnerErrorCode.ADDRESS_NOT_ALLOWED
    message_template = gettext_lazy("Calls from address %(ip)s are not allowed for this partner.")

    def __init__(self, *, ip: str) -> None:
        super().__init__(ip=ip)


class SignatureRequired(CredentialRefused):
    code = PartnerErrorCode.SIGNATURE_REQUIRED
    message_template = gettext_lazy(
        "This key only takes signed calls: send X-Gridvend-Timestamp and X-Gridvend-Signature."
    )

    def __init__(self) -> None:
        super().__init__()


class SignatureInvalid(CredentialRefused):
    code = PartnerErrorCode.SIGNATURE_INVALID
    message_template = gettext_lazy(
        "The request signature does not match the request (method, path, timestamp, body)."
    )

    def __init__(self) -> None:
        super().__init__()


class SignatureExpired(CredentialRefused):
    code = PartnerErrorCode.SIGNATURE_EXPIRED
    message_template = gettext_lazy(
        "The request timestamp is more than %(window)s seconds from the server's clock."
    )

    def __init__(self, *, window: int) -> None:
        super().__init__(window=window)


class SignatureReplayed(CredentialRefused):
    code = PartnerErrorCode.SIGNATURE_REPLAYED
    message_template = gettext_lazy(
        "This signed request was already received. Sign each request anew."
    )

    def __init__(self) -> None:
        super().__init__()


class RateLimited(CredentialRefused):
    http_status = 429
    code = PartnerErrorCode.RATE_LIMITED
    message_template = gettext_lazy(
        "Too many calls with this key: at most %(limit)s a minute. Try again in "
        "%(retry_after)s seconds."
    )

    def __init__(self, *, limit: int, retry_after: int) -> None:
        super().__init__(limit=limit, retry_after=retry_after)


class PartnerKeyInvalid(PartnerRefused):
    code = PartnerErrorCode.PARTNER_KEY_INVALID
    message_template = gettext_lazy("The key's %(field)s is not valid: %(problem)s.")

    def __init__(self, *, field: str, problem: str) -> None:
        super().__init__(field=field, problem=problem)


class SettlementFileTooLarge(PartnerRefused):
    code = PartnerErrorCode.SETTLEMENT_FILE_TOO_LARGE
    message_template = gettext_lazy(
        "The settlement file is larger than %(max_bytes)s bytes; nothing was read."
    )

    def __init__(self, *, max_bytes: int) -> None:
        super().__init__(max_bytes=max_bytes)


class SettlementFileTooManyRows(PartnerRefused):
    code = PartnerErrorCode.SETTLEMENT_FILE_TOO_MANY_ROWS
    message_template = gettext_lazy(
        "The settlement file has more than %(max_rows)s lines; nothing was read."
    )

    def __init__(self, *, max_rows: int) -> None:
        super().__init__(max_rows=max_rows)


class SettlementFileNotUtf8(PartnerRefused):
    code = PartnerErrorCode.SETTLEMENT_FILE_NOT_UTF8
    message_template = gettext_lazy("The settlement file is not UTF-8 text.")

    def __init__(self) -> None:
        super().__init__()


class SettlementFileBadHeader(PartnerRefused):
    code = PartnerErrorCode.SETTLEMENT_FILE_BAD_HEADER
    message_template = gettext_lazy(
        "The settlement file's first line must be exactly: %(expected)s."
    )

    def __init__(self, *, expected: str) -> None:
        super().__init__(expected=expected)


class SettlementFileBadRows(PartnerRefused):
    """Rows that cannot be read: each with its line number and a stable lower_snake code
    (``problems``: a list of {"line", "code", "column"}, at most MAX_PROBLEMS of them)."""

    code = PartnerErrorCode.SETTLEMENT_FILE_BAD_ROWS
    message_template = gettext_lazy(
        "%(count)s lines of the settlement file cannot be read (the first is line %(first_line)s); "
        "the file was refused whole."
    )

    def __init__(self, *, count: int, first_line: int, problems: list[dict[str, object]]) -> None:
        super().__init__(count=count, first_line=first_line, problems=problems)


class SettlementFileNameInvalid(PartnerRefused):
    code = PartnerErrorCode.SETTLEMENT_FILE_NAME_INVALID
    message_template = gettext_lazy("Upload the settlement file as a .csv file.")

    def __init__(self) -> None:
        super().__init__()


class SettlementDateInvalid(PartnerRefused):
    code = PartnerErrorCode.SETTLEMENT_DATE_INVALID
    message_template = gettext_lazy(
        "%(business_date)s is not a business day that can be settled yet."
    )

    def __init__(self, *, business_date: str) -> None:
        super().__init__(business_date=business_date)


class SettlementDayInResolution(PartnerRefused):
    code = PartnerErrorCode.SETTLEMENT_DAY_IN_RESOLUTION
    message_template = gettext_lazy(
        "Items of the file for %(business_date)s are already resolved or awaiting approval: "
        "another file for that day cannot replace it."
    )

    def __init__(self, *, business_date: str) -> None:
        super().__init__(business_date=business_date)


class SettlementItemNotOpen(PartnerRefused):
    code = PartnerErrorCode.SETTLEMENT_ITEM_NOT_OPEN
    message_template = gettext_lazy(
        "This settlement item is not open (it is %(resolution)s): it cannot be resolved now."
    )

    def __init__(self, *, resolution: str) -> None:
        super().__init__(resolution=resolution)


class SettlementActionNotPossible(PartnerRefused):
    code = PartnerErrorCode.SETTLEMENT_ACTION_NOT_POSSIBLE
    message_template = gettext_lazy(
        "This item has no sale of ours that stands, so there is nothing to reverse."
    )

    def __init__(self, *, action: str) -> None:
        super().__init__(action=action)
