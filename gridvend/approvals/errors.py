"""The refusals of a two-person decision, each with a stable code."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class ApprovalErrorCode(StrEnum):
    REQUEST_ALREADY_DECIDED = "REQUEST_ALREADY_DECIDED"
    MAKER_CHECKER_VIOLATION = "MAKER_CHECKER_VIOLATION"


class DecisionRefused(DomainError):
    """A decision that may not be taken (already decided, or by the person who asked)."""


class RequestAlreadyDecided(DecisionRefused):
    code = ApprovalErrorCode.REQUEST_ALREADY_DECIDED
    message_template = gettext_lazy("This request has already been decided.")

    def __init__(self, *, status: str) -> None:
        super().__init__(status=status)


class MakerCheckerViolation(DecisionRefused):
    """The second-person rule: whoever made or asked for something may not also decide it.

    ``subject`` names what is decided, so each decision words the rule for its own users.
    """

    code = ApprovalErrorCode.MAKER_CHECKER_VIOLATION
    message_template = gettext_lazy("Someone other than the requester must decide this request.")
    variant_param = "subject"
    message_variants = {
        "free_issue": gettext_lazy("Someone other than the requester must decide this request."),
        "reversal": gettext_lazy("Someone other than the requester must decide this reversal."),
        "tariff_version": gettext_lazy(
            "You wrote or submitted this tariff version, so someone else must approve or reject it."
        ),
        "float_top_up": gettext_lazy(
            "You asked for this float top-up, so someone else must approve or reject it."
        ),
        "settlement_resolution": gettext_lazy(
            "Someone other than the person who proposed this resolution must decide it."
        ),
        "shift": gettext_lazy("Someone other than the shift's cashier must sign it off."),
        "force_closed_shift": gettext_lazy(
            "Someone other than the supervisor who force-closed it must sign it off."
        ),
        "billing_run": gettext_lazy(
            "You asked for this billing run's posting or cancellation, so another finance "
            "person must decide it."
        ),
        "mobile_refund": gettext_lazy(
            "You asked for this mobile-money refund, so someone else must approve or reject it."
        ),
        "reading_exception": gettext_lazy(
            "You recorded this reading, so another reading supervisor must decide it."
        ),
    }

    def __init__(self, *, subject: str) -> None:
        super().__init__(subject=subject)
