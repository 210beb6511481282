"""Refusals of the partner channel (status, requests, advices) with stable codes."""

from __future__ import annotations

from enum import StrEnum

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


class PartnerRefused(DomainError):
    """A partner-channel step refused; nothing was written (the base of every such refusal)."""


class PartnerNotActive(PartnerRefused):
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
