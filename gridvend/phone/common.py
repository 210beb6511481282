"""What both phone channels share: the paybill they sell through, the language a phone chose,
the per-phone rate limit, masked names, and the reads a phone may make (a meter's last token, a
purchase by reference, the debt), each refused unless the asking phone is the one registered on
the account or the one that paid."""

from __future__ import annotations

import datetime
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from gridvend.customers.models import Customer
from gridvend.identity.models import User
from gridvend.kernel.money import Money
from gridvend.kernel.phones import is_registered_phone, parse_phone
from gridvend.meters.models import Meter
from gridvend.mobilemoney.models import MobilePayment, MobileProvider
from gridvend.mobilemoney.services import payments
from gridvend.partners import services as partners
from gridvend.phone.errors import (
    PhoneChannelUnavailable,
    PhoneNotAllowed,
    PhoneSaleNotFound,
    PhoneTooManyRequests,
)
from gridvend.phone.models import PhoneProfile
from gridvend.vending.models import Sale, SaleKind, SaleStatus
from gridvend.vending.services.credit import MeterLookup

LANGUAGES = ("en", "ar", "zh-hans")
# Meter numbers are 11 or 13 digits; a customer account number up to 20.
MAX_METER_DIGITS = 20
MAX_REFERENCE = 24


CALLBACKS = ("ussd", "ussd-events", "sms-inbound", "sms-delivery")


def callback_secret() -> str:
    """The secret path segment of the phone callbacks, derived from SECRET_KEY (nothing secret
    is stored; a new SECRET_KEY retires the URLs given to the aggregator)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), b"phone-callbacks", hashlib.sha256)
    return digest.hexdigest()[:32]


def callback_urls(base: str = "") -> dict[str, str]:
    """The four URLs to give Africa's Talking: the USSD callback and its events URL, the
    inbound-SMS and the delivery-report callbacks (``base``: GRIDVEND_PUBLIC_URL)."""
    secret = callback_secret()
    root = (base or settings.PUBLIC_URL).rstrip("/")
    return {name: root + reverse(f"phone:{name}", kwargs={"secret": secret}) for name in CALLBACKS}


def channel_provider() -> MobileProvider:
    """The paybill the phone channels sell through: GRIDVEND_PHONE_PAYBILL, or the only enabled
    one; PhoneChannelUnavailable when there is none (or it is switched off)."""
    code = settings.PHONE_PAYBILL
    found = MobileProvider.objects.select_related("partner__service_user", "partner__org_unit")
    if code:
        provider = found.filter(code=code).first()
    else:
        enabled = list(found.filter(is_enabled=True)[:2])
        provider = enabled[0] if len(enabled) == 1 else None
    if provider is None or not provider.is_enabled or provider.partner.service_user is None:
        raise PhoneChannelUnavailable()
    return provider


def channel_actor(provider: MobileProvider) -> User:
    """The phone channels act as the aggregator partner whose paybill they use."""
    user = provider.partner.service_user
    assert user is not None
    return user


def e164(raw: str, *, field: str) -> str:
    """A phone number as the aggregator sends it, in E.164 (InvalidInput otherwise)."""
    return parse_phone(raw, region=settings.DEFAULT_COUNTRY, field=field)


def language_of(phone: str) -> str:
    return PhoneProfile.objects.filter(phone=phone).values_list("language", flat=True).first() or ""


def remember_language(phone: str, language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(language)
    PhoneProfile.objects.update_or_create(
        phone=phone, defaults={"language": language, "updated_at": timezone.now()}
    )


def reply_language(phone: str) -> str:
    """The language to answer ``phone`` in: the one it chose (USSD's first screen, ``LANG``),
    else the language of the account(s) registered to it when they agree, else the utility's."""
    chosen = language_of(phone)
    if chosen:
        return chosen
    accounts = list(
        Customer.objects.filter(phone=phone)
        .exclude(language="")
        .values_list("language", flat=True)
        .distinct()[:2]
    )
    if len(accounts) == 1 and accounts[0] in LANGUAGES:
        return accounts[0]
    return str(settings.LANGUAGE_CODE)


def take_rate(phone: str, what: str, limit: int) -> None:
    """Count one request of ``what`` from ``phone`` this hour (in the shared cache, so every
    server process counts the same); PhoneTooManyRequests past ``limit``."""
    hour = timezone.now().strftime("%Y%m%d%H")
    name = f"phone-rate:{what}:{phone}:{hour}"
    cache.add(name, 0, timeout=3700)
    try:
        used = int(cache.incr(name))
    except ValueError:  # evicted between add and incr
        cache.add(name, 1, timeout=3700)
        used = 1
    if used > limit:
        raise PhoneTooManyRequests()


def mask_name(name: str) -> str:
    """ "John Mwangi" → "J*** M***": enough for the customer to recognise, not to learn."""
    words = [w for w in name.split() if w][:3]
    return " ".join(f"{w[0]}***" for w in words) or "***"


def grouped(digits: str) -> str:
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def clean_digits(raw: str, *, maximum: int, grouped: bool = True) -> str | None:
    """Digits a person keyed, or None for anything else. ``grouped`` (a meter number): the
    spaces and dashes people group digits with are dropped; an amount takes digits only, so
    "-500" or "5-0-0" is refused, not read as 500."""
    text = "".join(ch for ch in raw if ch not in " -") if grouped else raw.strip()
    if not text or len(text) > maximum or not text.isascii() or not text.isdigit():
        return None
    return text


def lookup(provider: MobileProvider, meter_number: str) -> MeterLookup:
    """The meter as the aggregator would sell to it (refused as a sale would be)."""
    return partners.lookup(payments.call_for(provider), meter_number)


def _digits(phone: str) -> str:
    return phone.lstrip("+")


def registered(meter: Meter, phone: str) -> bool:
    customer = meter.customer
    return customer is not None and is_registered_phone(
        customer.phone, phone, region=settings.DEFAULT_COUNTRY
    )


def _bought_by(phone: str) -> Q:
    return Q(mobile_payment__msisdn=_digits(phone), mobile_payment__is_msisdn_masked=False)


def _token_sales(meter: Meter) -> Q:
    return Q(
        meter=meter,
        status=SaleStatus.COMPLETED,
        kind__in=[SaleKind.CREDIT, SaleKind.FBE, SaleKind.FREE_ISSUE],
    )


@dataclass(frozen=True)
class TokenFacts:
    sale: Sale
    tokens: list[str]  # grouped in fours, in the order they are entered

    @property
    def when(self) -> datetime.date:
        return timezone.localtime(self.sale.created_at).date()


def _facts(sale: Sale) -> TokenFacts:
    digits = sale.tokens.order_by("sequence").values_list("digits", flat=True)
    return TokenFacts(sale, [grouped(d) for d in digits])


def find_meter(meter_number: str) -> Meter:
    from gridvend.kernel.errors import MeterNotFound

    meter = Meter.objects.select_related("customer").filter(number=meter_number).first()
    if meter is None:
        raise MeterNotFound(meter_number=meter_number)
    return meter


def last_token(phone: str, meter_number: str) -> TokenFacts | None:
    """The meter's last token for the phone registered on its account; for any other phone,
    the last one that phone paid for (PhoneNotAllowed when it paid for none)."""
    meter = find_meter(meter_number)
    sales = Sale.objects.filter(_token_sales(meter)).filter(tokens__isnull=False).distinct()
    if not registered(meter, phone):
        sales = sales.filter(_bought_by(phone))
        if not sales.exists():
            raise PhoneNotAllowed()
    sale = sales.select_related("meter").order_by("-created_at", "-pk").first()
    return _facts(sale) if sale is not None else None


def token_by_reference(phone: str, reference: str) -> TokenFacts:
    """A purchase by its sale reference or its M-Pesa receipt, to the phone registered on its
    account or the phone that paid."""
    text = "".join(ch for ch in reference if not ch.isspace()).upper()[:MAX_REFERENCE]
    if not text or not text.isalnum():
        raise PhoneSaleNotFound()
    sale = (
        Sale.objects.select_related("meter__customer")
        .filter(Q(reference=text) | Q(mobile_payment__trans_id=text))
        .first()
    )
    if sale is None:
        raise PhoneSaleNotFound()
    allowed = (
        registered(sale.meter, phone)
        or MobilePayment.objects.filter(
            sale=sale, msisdn=_digits(phone), is_msisdn_masked=False
        ).exists()
    )
    if not allowed:
        raise PhoneNotAllowed()
    return _facts(sale)


@dataclass(frozen=True)
class Balance:
    meter: str
    debt: Money
    last_amount: Money | None
    last_on: datetime.date | None


def balance(provider: MobileProvider, phone: str, meter_number: str) -> Balance:
    """The account's debt (what the next purchases recover) and the last purchase, to the
    phone registered on the account or one that paid for this meter."""
    meter = find_meter(meter_number)
    bought = Sale.objects.filter(_token_sales(meter)).filter(_bought_by(phone))
    if not registered(meter, phone) and not bought.exists():
        raise PhoneNotAllowed()
    found = lookup(provider, meter.number)
    last = Sale.objects.filter(_token_sales(meter)).order_by("-created_at", "-pk").first()
    return Balance(
        meter=meter.number,
        debt=found.debt_balance,
        last_amount=Money(last.tender_minor, last.currency) if last else None,
        last_on=timezone.localtime(last.created_at).date() if last else None,
    )
