"""The audit event types that users, sign-in and second-factor services write."""

from enum import StrEnum

from gridvend.audit.events import register


@register
class UserEvent(StrEnum):
    CREATED = "user.created"
    UPDATED = "user.updated"
    PASSWORD_RESET = "user.password_reset"
    LANGUAGE_CHANGED = "user.language_changed"
    LOGIN_FAILED = "user.login_failed"
    LOCKED_OUT = "user.locked_out"
    LOGGED_IN = "user.logged_in"
    SCREEN_UNLOCKED = "user.screen_unlocked"
    UNLOCKED = "user.unlocked"


@register
class TotpEvent(StrEnum):
    CODE_REJECTED = "totp.code_rejected"
    ENROLMENT_STARTED = "totp.enrolment_started"
    CONFIRMED = "totp.confirmed"
    RESET = "totp.reset"
