"""Phone enquiry (balance, arrears, last payment) for the IVR and the SMS ``BAL <account>``
command (answered by the phone app's inbound SMS, the one handler of every SMS): the facts read
live from billing with the enquiry user's scope.

The channel has no person behind it, so it reads as the user named by GRIDVEND_ENQUIRY_USER (an
account the administrator creates in the unit whose customers may call in); without one every
enquiry is refused. An SMS answer goes only to the phone number registered on the account, so
knowing someone's account number is not enough to read their balance by SMS.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import formats, translation

from gridvend.customers.models import Customer
from gridvend.dunning.due import read_due
from gridvend.dunning.errors import EnquiryAccountUnknown, EnquiryInputInvalid, EnquiryNotAuthorised
from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.identity.scoping import scoped
from gridvend.kernel.clock import business_date
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.kernel.phones import is_registered_phone, parse_phone
from gridvend.notifications.rendering import render_sms

# Account numbers are up to 20 characters (customers.Customer); DTMF gives digits only.
MAX_ACCOUNT_DIGITS = 20
_DIGITS = re.compile(r"^[0-9]{1,20}$", re.ASCII)
# Account numbers one call may key in (an answered one ends the call's tries): a caller cannot
# walk the account numbers, as the SMS enquiry answers only the registered phone.
MAX_CALL_TRIES = 3
CALL_TRIES_SECONDS = 3600


# Account numbers one calling number may key in per hour, over all its calls: a caller who
# hangs up after three tries and calls again still cannot walk the account numbers. Calls whose
# number is withheld (or unreadable) share one larger allowance, so one walker among them does
# not shut out the rest at once; at ten-digit account numbers a hundred guesses an hour find
# nothing.
MAX_CALLER_TRIES_PER_HOUR = 10
MAX_WITHHELD_TRIES_PER_HOUR = 100


def _caller_key(caller: str) -> tuple[str, int]:
    """The calling number as one key however the network wrote it (E.164, without the plus,
    national, spaced), with its hourly allowance; withheld numbers share one key."""
    region = settings.DEFAULT_COUNTRY
    for text in (caller, "+" + caller.strip().lstrip("+")):
        try:
            number = parse_phone(text, region=region)
        except DomainError:
            continue
        if number:
            return hashlib.sha256(number.encode()).hexdigest()[:32], MAX_CALLER_TRIES_PER_HOUR
    return "withheld", MAX_WITHHELD_TRIES_PER_HOUR


def _counted(name: str) -> int:
    # Kept two hours: the next hour's check reads this one's count too.
    cache.add(name, 0, timeout=2 * CALL_TRIES_SECONDS)
    try:
        return int(cache.incr(name))
    except ValueError:  # evicted between add and incr: counted again from one
        cache.add(name, 1, timeout=2 * CALL_TRIES_SECONDS)
        return 1


def take_call_try(session_id: str, caller: str = "") -> bool:
    """Count one account number keyed in this call and by this calling number; False once
    the call has used its tries or the number its hour's."""
    hour = int(time.time()) // CALL_TRIES_SECONDS
    number, allowance = _caller_key(caller[:32])
    in_call = _counted(f"ivr-tries:{session_id}")
    # This hour's count and the last hour's: an hour boundary does not hand out a fresh
    # allowance in the middle of a walk.
    by_caller = _counted(f"ivr-caller:{number}:{hour}") + int(
        cache.get(f"ivr-caller:{number}:{hour - 1}") or 0
    )
    return in_call <= MAX_CALL_TRIES and by_caller <= allowance


def end_call_tries(session_id: str) -> None:
    """After an answer: the call keys in no other account number."""
    cache.set(f"ivr-tries:{session_id}", MAX_CALL_TRIES, timeout=CALL_TRIES_SECONDS)


@dataclass(frozen=True)
class Facts:
    customer: Customer
    language: str
    currency: str
    total_due_minor: int
    arrears_minor: int
    last_payment: tuple[datetime.datetime, int] | None


def enquiry_actor() -> User:
    username = settings.ENQUIRY_USER
    actor = User.objects.filter(username=username).select_related("org_unit").first()
    if not username or actor is None or not actor.is_active:
        raise EnquiryNotAuthorised()
    return actor


def parse_account_digits(raw: str) -> str:
    """DTMF digits as the aggregator sends them (a trailing # removed): 1-20 digits."""
    text = raw.strip().rstrip("#")
    if not _DIGITS.fullmatch(text):
        raise EnquiryInputInvalid(field="dtmfDigits")
    return text


def facts(actor: User, account_number: str) -> Facts:
    """The account's figures now; EnquiryAccountUnknown for an account that is unknown, out of
    the enquiry user's scope, or not postpaid (the caller is told no more than that)."""
    customer = scoped(Customer.objects.filter(account_number=account_number), actor).first()
    if customer is None:
        raise EnquiryAccountUnknown()
    today = business_date(datetime.datetime.now(datetime.UTC), str(settings.TIME_ZONE))
    try:
        due = read_due(actor, account_number, today=today)
    except NotFound:
        raise EnquiryAccountUnknown() from None
    if due is None:
        raise EnquiryAccountUnknown()
    language = customer.language or settings.LANGUAGE_CODE
    return Facts(
        customer, language, due.currency, due.total_due_minor, due.arrears_minor, due.last_payment
    )


def said_day(when: datetime.datetime, language: str) -> str:
    with translation.override(language):
        return str(formats.date_format(when.date(), "DATE_FORMAT"))


def balance_sms(account_number: str, sender: str, *, language: str = "") -> tuple[str, str] | None:
    """The balance SMS for ``BAL <account>`` from ``sender`` (E.164) and the language it is in
    (``language`` when the phone chose one, else the account's): None unless the number is a
    postpaid account in the enquiry user's scope whose registered phone is the sender, so the
    caller answers an unknown account and someone else's account alike."""
    try:
        found = facts(enquiry_actor(), account_number)
    except (EnquiryAccountUnknown, EnquiryNotAuthorised):
        return None
    if not is_registered_phone(found.customer.phone, sender, region=settings.DEFAULT_COUNTRY):
        return None
    said_in = language or found.language
    last = found.last_payment
    context = {
        "utility": settings.UTILITY_NAME,
        "account": found.customer.account_number,
        "due": Money(found.total_due_minor, found.currency).format(),
        "arrears": Money(found.arrears_minor, found.currency).format(),
        "last_amount": Money(last[1], found.currency).format() if last else "",
        "last_paid_on": said_day(last[0], said_in) if last else "",
    }
    return render_sms("enquiry_balance", context, said_in), said_in
