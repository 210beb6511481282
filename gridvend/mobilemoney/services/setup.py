"""A provider's set-up (one paybill of an aggregator partner), the callback URLs to register
with it, and the store of raw callbacks.

The callback URLs carry a secret segment derived from the server's secret key and the
provider's salt: nothing secret is stored, the URL can be shown to whoever registers it, and a
new salt retires the old URLs. Raw callbacks are written in their own short transactions, before
they are read, so that one we could not read or whose handling failed is still there.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from gridvend.audit.changes import audited_change, record_created
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.mobilemoney import permissions
from gridvend.mobilemoney.errors import MobileProviderInvalid, MobileProviderTaken
from gridvend.mobilemoney.events import MobileEvent
from gridvend.mobilemoney.models import (
    CallbackKind,
    MobilePayment,
    MobileProvider,
    ProviderKind,
    RawCallback,
    ResponseType,
)
from gridvend.partners.models import Partner, PartnerKind, UnconfirmedPolicy

MAX_CALLBACK_BYTES = 16 * 1024
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")


@dataclass(frozen=True)
class ProviderSettings:
    code: str
    name: str
    kind: str
    shortcode: str
    base_url: str
    consumer_key_env: str
    consumer_secret_env: str
    passkey_env: str
    response_type: str = ResponseType.COMPLETED
    stk_timeout_seconds: int = 120
    is_enabled: bool = True
    # The Reversal API's initiator and security credential (variable names); blank: refunds
    # are paid back by hand.
    initiator_env: str = ""
    security_credential_env: str = ""


def check_provider_settings(values: ProviderSettings) -> ProviderSettings:
    if not _CODE.fullmatch(values.code):
        raise MobileProviderInvalid(field="code", problem="1 to 30 lower-case letters, digits, -")
    name = values.name.strip()
    if not 1 <= len(name) <= 120 or not name.isprintable():
        raise MobileProviderInvalid(field="name", problem="1 to 120 printable characters")
    if values.kind not in ProviderKind.values:
        raise MobileProviderInvalid(field="kind", problem="daraja or sandbox")
    if not (values.shortcode.isascii() and values.shortcode.isdigit()) or not (
        5 <= len(values.shortcode) <= 7
    ):
        raise MobileProviderInvalid(field="shortcode", problem="5 to 7 digits")
    parts = urlsplit(values.base_url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(values.base_url) > 200
        or parts.query
        or parts.fragment
        or not values.base_url.isprintable()
    ):
        raise MobileProviderInvalid(field="base_url", problem="an http(s) address, no query")
    if values.kind == ProviderKind.DARAJA and parts.scheme != "https":
        raise MobileProviderInvalid(field="base_url", problem="Daraja is reached over https")
    for field in ("consumer_key_env", "consumer_secret_env", "passkey_env"):
        if not _ENV_NAME.fullmatch(getattr(values, field)):
            raise MobileProviderInvalid(
                field=field, problem="an environment variable name (A-Z, 0-9, _)"
            )
    for field in ("initiator_env", "security_credential_env"):
        if getattr(values, field) and not _ENV_NAME.fullmatch(getattr(values, field)):
            raise MobileProviderInvalid(
                field=field, problem="an environment variable name (A-Z, 0-9, _), or blank"
            )
    if bool(values.initiator_env) != bool(values.security_credential_env):
        raise MobileProviderInvalid(
            field="initiator_env", problem="both the initiator and its credential, or neither"
        )
    if values.response_type not in ResponseType.values:
        raise MobileProviderInvalid(field="response_type", problem="Completed or Cancelled")
    if not 30 <= values.stk_timeout_seconds <= 3600:
        raise MobileProviderInvalid(field="stk_timeout_seconds", problem="30 to 3600 seconds")
    return ProviderSettings(
        **{**values.__dict__, "name": name, "base_url": values.base_url.rstrip("/")}
    )


def configure_provider(
    *, actor: User, partner: Partner, values: ProviderSettings
) -> MobileProvider:
    """Set an aggregator partner's paybill (created the first time)."""
    if not permissions.can_manage_providers(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, partner.org_unit)
    if partner.kind != PartnerKind.AGGREGATOR:
        raise MobileProviderInvalid(field="partner", problem="a mobile-money aggregator")
    if partner.unconfirmed_policy != UnconfirmedPolicy.AUTO_CONFIRM:
        # No advice ever confirms a paybill sale: reversing unconfirmed sales would take back
        # tokens the customer paid for.
        raise MobileProviderInvalid(
            field="partner", problem="its unconfirmed sales must be confirmed automatically"
        )
    checked = check_provider_settings(values)
    try:
        with transaction.atomic(durable=True):
            provider = MobileProvider.objects.select_for_update().filter(partner=partner).first()
            if provider is None:
                provider = MobileProvider.objects.create(
                    partner=partner, callback_salt=secrets.token_hex(16), **checked.__dict__
                )
                record_created(
                    actor=actor, instance=provider, event=MobileEvent.PROVIDER_CONFIGURED
                )
                return provider
            with audited_change(
                actor=actor,
                instance=provider,
                event=MobileEvent.PROVIDER_UPDATED,
                skip_unchanged=True,
            ):
                for name, value in checked.__dict__.items():
                    if name != "code":
                        setattr(provider, name, value)
    except IntegrityError:
        raise MobileProviderTaken() from None
    return provider


def rotate_callback_secret(*, actor: User, provider: MobileProvider) -> MobileProvider:
    """New callback URLs; the ones registered before stop working at once."""
    if not permissions.can_manage_providers(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, provider.partner.org_unit)
    with transaction.atomic(durable=True):
        locked = MobileProvider.objects.select_for_update().get(pk=provider.pk)
        with audited_change(
            actor=actor,
            instance=locked,
            event=MobileEvent.PROVIDER_UPDATED,
            after_extra={"callback_secret": "rotated"},
        ):
            locked.callback_salt = secrets.token_hex(16)
    return locked


def callback_secret(provider: MobileProvider) -> str:
    """The secret path segment of the provider's callback URLs."""
    message = f"mobilemoney:{provider.code}:{provider.callback_salt}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:32]


def callback_urls(provider: MobileProvider) -> dict[str, str]:
    """The URLs to give the provider: C2B validation and confirmation (registered), the STK
    callback and the reversal's result and queue time-out (sent with each request)."""
    base = settings.PUBLIC_URL
    secret = callback_secret(provider)
    return {
        name: base
        + reverse(f"mobilemoney:{name}", kwargs={"provider": provider.code, "secret": secret})
        for name in (
            "c2b-validation",
            "c2b-confirmation",
            "stk-callback",
            "reversal-result",
            "reversal-timeout",
        )
    }


def secret_matches(provider: MobileProvider, given: str) -> bool:
    return hmac.compare_digest(callback_secret(provider).encode(), given.encode()[:64])


def store_callback(
    *, provider: MobileProvider | None, kind: str, body: bytes, source_ip: str | None
) -> RawCallback:
    """Keep a callback's bytes as they came (cut at the body cap; the count says how many)."""
    if kind not in CallbackKind.values:
        raise ValueError(kind)
    with transaction.atomic():
        return RawCallback.objects.create(
            provider=provider,
            kind=kind,
            source_ip=source_ip or None,
            # PostgreSQL text holds no NUL: written as the escape a reader recognises.
            body=body[:MAX_CALLBACK_BYTES].decode("utf-8", "replace").replace("\x00", "\\x00"),
            byte_count=len(body),
        )


def note_callback(
    callback: RawCallback,
    *,
    reply: str,
    problem: str = "",
    payment: MobilePayment | None = None,
) -> None:
    """What we answered and made of a stored callback."""
    with transaction.atomic():
        RawCallback.objects.filter(pk=callback.pk).update(
            reply=reply[:2000], problem=problem[:200], payment=payment
        )
