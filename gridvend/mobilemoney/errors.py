"""Refusals of mobile money (provider set-up, callbacks, payments and their suspense, STK
pushes, the provider's API) with stable codes. The callbacks map them to the provider's reply
in one place: ``gateways/mobilemoney/errors.py``; the back office shows their messages."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class MobileErrorCode(StrEnum):
    MOBILE_PROVIDER_INVALID = "MOBILE_PROVIDER_INVALID"
    MOBILE_PROVIDER_TAKEN = "MOBILE_PROVIDER_TAKEN"
    MOBILE_PROVIDER_UNKNOWN = "MOBILE_PROVIDER_UNKNOWN"
    MOBILE_PROVIDER_DISABLED = "MOBILE_PROVIDER_DISABLED"
    MOBILE_CALLBACK_NOT_AUTHORISED = "MOBILE_CALLBACK_NOT_AUTHORISED"
    MOBILE_CALLBACK_INVALID = "MOBILE_CALLBACK_INVALID"
    MOBILE_ACCOUNT_UNKNOWN = "MOBILE_ACCOUNT_UNKNOWN"
    MOBILE_ACCOUNT_AMBIGUOUS = "MOBILE_ACCOUNT_AMBIGUOUS"
    MOBILE_AMOUNT_UNREADABLE = "MOBILE_AMOUNT_UNREADABLE"
    MOBILE_AMOUNT_NOT_WHOLE = "MOBILE_AMOUNT_NOT_WHOLE"
    MOBILE_PAYMENT_NOT_IN_SUSPENSE = "MOBILE_PAYMENT_NOT_IN_SUSPENSE"
    MOBILE_PHONE_INVALID = "MOBILE_PHONE_INVALID"
    MOBILE_PROVIDER_UNAVAILABLE = "MOBILE_PROVIDER_UNAVAILABLE"
    MOBILE_PROVIDER_REFUSED = "MOBILE_PROVIDER_REFUSED"
    MOBILE_STK_MATCH_AMBIGUOUS = "MOBILE_STK_MATCH_AMBIGUOUS"
    MOBILE_REVERSAL_FAILED = "MOBILE_REVERSAL_FAILED"
    MOBILE_REFUND_NOT_BY_HAND = "MOBILE_REFUND_NOT_BY_HAND"


class MobileProviderInvalid(DomainError):
    code = MobileErrorCode.MOBILE_PROVIDER_INVALID
    message_template = gettext_lazy("The mobile-money setting %(field)s is not valid: %(problem)s.")

    def __init__(self, *, field: str, problem: str) -> None:
        super().__init__(field=field, problem=problem[:200])


class MobileProviderTaken(DomainError):
    code = MobileErrorCode.MOBILE_PROVIDER_TAKEN
    message_template = gettext_lazy(
        "Another mobile-money provider already uses this code, partner or shortcode."
    )

    def __init__(self) -> None:
        super().__init__()


class MobileProviderUnknown(DomainError):
    code = MobileErrorCode.MOBILE_PROVIDER_UNKNOWN
    message_template = gettext_lazy("There is no mobile-money provider %(provider)s.")

    def __init__(self, *, provider: str) -> None:
        super().__init__(provider=provider[:40])


class MobileProviderDisabled(DomainError):
    code = MobileErrorCode.MOBILE_PROVIDER_DISABLED
    message_template = gettext_lazy("Mobile-money provider %(provider)s is switched off.")

    def __init__(self, *, provider: str) -> None:
        super().__init__(provider=provider[:40])


class MobileCallbackNotAuthorised(DomainError):
    code = MobileErrorCode.MOBILE_CALLBACK_NOT_AUTHORISED
    message_template = gettext_lazy(
        "This callback does not come from an allowed address or with the right secret."
    )

    def __init__(self) -> None:
        super().__init__()


class MobileCallbackInvalid(DomainError):
    code = MobileErrorCode.MOBILE_CALLBACK_INVALID
    message_template = gettext_lazy("The callback cannot be read: %(problem)s.")

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


class MobileAccountUnknown(DomainError):
    code = MobileErrorCode.MOBILE_ACCOUNT_UNKNOWN
    message_template = gettext_lazy(
        "No meter or customer account %(account)s was found for this payment."
    )

    def __init__(self, *, account: str) -> None:
        super().__init__(account=account[:40])


class MobileAccountAmbiguous(DomainError):
    code = MobileErrorCode.MOBILE_ACCOUNT_AMBIGUOUS
    message_template = gettext_lazy(
        "Customer account %(account)s has more than one meter: the payment must name the meter."
    )

    def __init__(self, *, account: str) -> None:
        super().__init__(account=account[:40])


class MobileAmountUnreadable(DomainError):
    code = MobileErrorCode.MOBILE_AMOUNT_UNREADABLE
    message_template = gettext_lazy("The amount paid (%(amount)s) cannot be read.")

    def __init__(self, *, amount: str) -> None:
        super().__init__(amount=amount[:40])


class MobileAmountNotWhole(DomainError):
    code = MobileErrorCode.MOBILE_AMOUNT_NOT_WHOLE
    message_template = gettext_lazy(
        "The amount paid (%(amount)s) is not a whole number, which the provider never sends."
    )

    def __init__(self, *, amount: str) -> None:
        super().__init__(amount=amount[:40])


class MobilePaymentNotInSuspense(DomainError):
    code = MobileErrorCode.MOBILE_PAYMENT_NOT_IN_SUSPENSE
    message_template = gettext_lazy(
        "Payment %(payment)s is not in suspense (it is %(state)s): nothing to resolve."
    )

    def __init__(self, *, payment: str, state: str) -> None:
        super().__init__(payment=payment[:64], state=state)


class MobilePhoneInvalid(DomainError):
    code = MobileErrorCode.MOBILE_PHONE_INVALID
    message_template = gettext_lazy(
        "%(phone)s is not a mobile number the provider can prompt (2547XXXXXXXX)."
    )

    def __init__(self, *, phone: str) -> None:
        super().__init__(phone=phone[:32])


class MobileProviderUnavailable(DomainError):
    code = MobileErrorCode.MOBILE_PROVIDER_UNAVAILABLE
    message_template = gettext_lazy(
        "The mobile-money provider could not be reached (%(problem)s). Try again shortly."
    )

    def __init__(self, *, problem: str) -> None:
        super().__init__(problem=problem[:200])


class MobileProviderNotReached(MobileProviderUnavailable):
    """Unavailable, and nothing of the request left us (the connection refused, the address
    not found, the OAuth token not obtained, a credential not set): the provider cannot have
    acted on it. A reversal that never left is a refusal, not a "maybe"."""


class MobileProviderRefused(DomainError):
    code = MobileErrorCode.MOBILE_PROVIDER_REFUSED
    message_template = gettext_lazy(
        "The mobile-money provider refused the request: %(result_code)s %(description)s."
    )

    def __init__(self, *, result_code: str, description: str) -> None:
        super().__init__(result_code=result_code[:40], description=description[:200])


class MobileStkMatchAmbiguous(DomainError):
    code = MobileErrorCode.MOBILE_STK_MATCH_AMBIGUOUS
    message_template = gettext_lazy(
        "Payment %(receipt)s may be the money of %(count)s STK pushes to account %(account)s: "
        "customer care decides which."
    )

    def __init__(self, *, receipt: str, account: str, count: int) -> None:
        super().__init__(receipt=receipt[:40], account=account[:40], count=count)


class MobileReversalFailed(DomainError):
    code = MobileErrorCode.MOBILE_REVERSAL_FAILED
    message_template = gettext_lazy(
        "The provider did not reverse the payment: %(result_code)s %(description)s."
    )

    def __init__(self, *, result_code: str, description: str) -> None:
        super().__init__(result_code=result_code[:40], description=description[:200])


class MobileRefundNotByHand(DomainError):
    code = MobileErrorCode.MOBILE_REFUND_NOT_BY_HAND
    message_template = gettext_lazy(
        "Payment %(payment)s is not waiting to be paid back by hand (it is %(state)s)."
    )

    def __init__(self, *, payment: str, state: str) -> None:
        super().__init__(payment=payment[:64], state=state)
