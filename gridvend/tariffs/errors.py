"""Refusals of the tariffs app (the version lifecycle) with stable codes."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class TariffErrorCode(StrEnum):
    TARIFF_STATE_INVALID = "TARIFF_STATE_INVALID"


class TariffStateInvalid(DomainError):
    """The version is not in a state that allows this step (editing a published version, say)."""

    code = TariffErrorCode.TARIFF_STATE_INVALID
    message_template = gettext_lazy("This tariff version cannot take this step in its state.")
    # Whole sentences per step, so that translators never have to glue fragments together.
    variant_param = "action"
    message_variants = {
        "update": gettext_lazy("Only a draft or a rejected version can be changed."),
        "submit": gettext_lazy("Only a draft can be submitted for approval."),
        "publish": gettext_lazy("Only a version submitted for approval can be published."),
        "reject": gettext_lazy("Only a version submitted for approval can be rejected."),
        "withdraw": gettext_lazy("This version has already been withdrawn."),
        "withdraw_in_force": gettext_lazy(
            "This version is already in force and cannot be withdrawn. "
            "Publish a new version instead."
        ),
    }

    def __init__(self, *, status: str, action: str) -> None:
        super().__init__(status=status, action=action)
