"""Refusals of the keys app (vending keys and the token engine) with stable codes."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy

from gridvend.kernel.errors import DomainError


class KeyErrorCode(StrEnum):
    VENDING_KEY_UNAVAILABLE = "VENDING_KEY_UNAVAILABLE"
    TOKEN_GENERATION_REFUSED = "TOKEN_GENERATION_REFUSED"


class VendingKeyUnavailable(DomainError):
    """No usable key: none stored or active under the reference, or the master key cannot open
    it. The server cannot sell for this meter now (503), whatever the request held."""

    code = KeyErrorCode.VENDING_KEY_UNAVAILABLE
    http_status = 503
    message_template = gettext_lazy(
        "The vending key for this meter is not available; call the key custodian."
    )

    def __init__(self, key_ref: str) -> None:
        super().__init__(key_ref=key_ref)


class TokenRefused(DomainError):
    """The STS library refused the token; ``detail`` is its own (English) reason."""

    code = KeyErrorCode.TOKEN_GENERATION_REFUSED
    message_template = gettext_lazy("The token engine refused this token: %(detail)s")

    def __init__(self, detail: str) -> None:
        super().__init__(detail=detail)


class KeyCeremonyErrorCode(StrEnum):
    KEY_CEREMONY_EXPIRED = "KEY_CEREMONY_EXPIRED"
    KEY_COMPONENT_INVALID = "KEY_COMPONENT_INVALID"
    KEY_COMPONENT_CHECK_FAILED = "KEY_COMPONENT_CHECK_FAILED"
    CUSTODIAN_NOT_AUTHENTICATED = "CUSTODIAN_NOT_AUTHENTICATED"
    CUSTODIAN_ALREADY_ENTERED = "CUSTODIAN_ALREADY_ENTERED"
    KEY_COMPONENT_REPEATED = "KEY_COMPONENT_REPEATED"
    CUSTODIAN_NOT_AUTHORISED = "CUSTODIAN_NOT_AUTHORISED"
    KEY_CHECK_VALUE_MISMATCH = "KEY_CHECK_VALUE_MISMATCH"


class KeyCeremonyExpired(DomainError):
    code = KeyCeremonyErrorCode.KEY_CEREMONY_EXPIRED
    message_template = gettext_lazy(
        "The key ceremony was not finished within %(minutes)s minutes and has been abandoned. "
        "Nothing was stored; start it again."
    )

    def __init__(self, minutes: int) -> None:
        super().__init__(minutes=minutes)


class KeyComponentInvalid(DomainError):
    code = KeyCeremonyErrorCode.KEY_COMPONENT_INVALID
    message_template = gettext_lazy(
        "A key component of this key is %(n)s bytes, typed as hexadecimal digits, and not all zero."
    )

    def __init__(self, n: int) -> None:
        super().__init__(n=n)


class KeyComponentCheckFailed(DomainError):
    code = KeyCeremonyErrorCode.KEY_COMPONENT_CHECK_FAILED
    message_template = gettext_lazy(
        "The component does not match the check value %(check_value)s. It was not kept; "
        "enter it again."
    )

    def __init__(self, check_value: str) -> None:
        super().__init__(check_value=check_value)


class KeyComponentRepeated(DomainError):
    """A component equal to one already entered (A, B, A gives the key B, which one custodian
    knows whole), or components whose XOR is one of them."""

    code = KeyCeremonyErrorCode.KEY_COMPONENT_REPEATED
    variant_param = "reason"
    message_template = gettext_lazy(
        "The component has the check value %(check_value)s of a component already entered. "
        "It was not kept; each custodian enters a component of their own."
    )
    message_variants = {
        "key": gettext_lazy(
            "The components give a key with the check value %(check_value)s of one of them: "
            "one custodian would know the whole key. Nothing was stored; start again with new "
            "components."
        ),
    }

    def __init__(self, check_value: str, *, reason: str = "component") -> None:
        super().__init__(check_value=check_value, reason=reason)


class CustodianNotAuthenticated(DomainError):
    code = KeyCeremonyErrorCode.CUSTODIAN_NOT_AUTHENTICATED
    message_template = gettext_lazy("The custodian's user name or password is wrong.")

    def __init__(self) -> None:
        super().__init__()


class CustodianAlreadyEntered(DomainError):
    code = KeyCeremonyErrorCode.CUSTODIAN_ALREADY_ENTERED
    message_template = gettext_lazy(
        "%(custodian)s has already entered a component of this key. "
        "Each component is entered by a different custodian."
    )

    def __init__(self, custodian: str) -> None:
        super().__init__(custodian=custodian)


class HsmErrorCode(StrEnum):
    HSM_UNAVAILABLE = "HSM_UNAVAILABLE"
    HSM_KEY_UNSUPPORTED = "HSM_KEY_UNSUPPORTED"
    HSM_KEY_MISMATCH = "HSM_KEY_MISMATCH"


class HsmUnavailable(DomainError):
    """The PKCS#11 module, token, PIN or a mechanism failed; no token was made (503: the
    server cannot sell now, whatever the request held)."""

    code = HsmErrorCode.HSM_UNAVAILABLE
    http_status = 503
    message_template = gettext_lazy(
        "The hardware security module %(token_label)s cannot make tokens now; call the key "
        "custodian."
    )

    def __init__(self, token_label: str) -> None:
        super().__init__(token_label=token_label)


class HsmKeyUnsupported(DomainError):
    code = HsmErrorCode.HSM_KEY_UNSUPPORTED
    variant_param = "reason"
    message_template = gettext_lazy(
        "The vending key %(key_ref)s cannot be used in the hardware security module."
    )
    message_variants = {
        "dkga02": gettext_lazy(
            "The vending key %(key_ref)s is a DKGA02 key, which a PKCS#11 hardware security "
            "module cannot derive decoder keys from without revealing it; use a DKGA04 key."
        ),
        "already_loaded": gettext_lazy(
            "The hardware security module already holds a key labelled %(key_ref)s."
        ),
    }

    def __init__(self, key_ref: str, *, reason: str = "dkga02") -> None:
        super().__init__(key_ref=key_ref, reason=reason)


class HsmKeyMismatch(DomainError):
    """The HSM's object under the key reference is not the key the database holds under it (a
    token shared with another installation, a database restored elsewhere, a key re-entered):
    its tokens would be refused by every meter, so none is made."""

    code = HsmErrorCode.HSM_KEY_MISMATCH
    http_status = 503
    variant_param = "reason"
    message_template = gettext_lazy(
        "The hardware security module's key %(key_ref)s is not the vending key stored under that "
        "reference; no token was made. Call the key custodian."
    )
    message_variants = {
        "several": gettext_lazy(
            "The hardware security module holds more than one key labelled %(key_ref)s, so none "
            "of them is used; no token was made. Call the key custodian."
        ),
    }

    def __init__(self, key_ref: str, *, reason: str = "") -> None:
        super().__init__(key_ref=key_ref, reason=reason)


class CustodianNotAuthorised(DomainError):
    """A component from someone not granted the key-custodian capability, or the key's check
    value confirmed by someone who entered no component of it."""

    code = KeyCeremonyErrorCode.CUSTODIAN_NOT_AUTHORISED
    variant_param = "reason"
    message_template = gettext_lazy(
        "%(custodian)s is not a key custodian: an Administrator grants the key custodian "
        "capability first."
    )
    message_variants = {
        "confirm": gettext_lazy(
            "%(custodian)s entered no component of this key; one of its custodians confirms "
            "its check value."
        ),
    }

    def __init__(self, custodian: str, *, reason: str = "capability") -> None:
        super().__init__(custodian=custodian, reason=reason)


class KeyCheckValueMismatch(DomainError):
    """The key the components make has another check value than the one on the key's delivery
    note: a component was mistyped or is not this key's; nothing is stored."""

    code = KeyCeremonyErrorCode.KEY_CHECK_VALUE_MISMATCH
    message_template = gettext_lazy(
        "The components make a key whose check value is not %(check_value)s from the delivery "
        "note. Nothing was stored."
    )

    def __init__(self, check_value: str) -> None:
        super().__init__(check_value=check_value)
