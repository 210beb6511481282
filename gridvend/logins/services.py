"""Customer-login use cases: sign-up and another meter, each proved by the meter, its customer's
account number and a one-time code sent to the contact on file; sign-in with the staff's lockout;
password reset by a code; and a purchase from the portal, paid by an STK push through the same
mobile-money path as every other channel (one push per request id, one sale per payment)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from datetime import timedelta
from decimal import Decimal

import pyotp
from django.conf import settings
from django.contrib.auth import hashers
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.audit.services import record
from gridvend.customers.models import Customer
from gridvend.identity.credentials import (
    accept_totp,
    check_anyway,
    count_failure,
    is_locked_out,
)
from gridvend.identity.errors import ValidationFailed
from gridvend.jobs.models import OutboxMessage
from gridvend.kernel.errors import DuplicateRequest
from gridvend.kernel.inputs import InvalidInput, text_problem
from gridvend.kernel.money import Money
from gridvend.logins import selectors
from gridvend.logins.errors import (
    CodeInvalid,
    CodeNotSent,
    MeterAlreadyLinked,
    NoContact,
    ProofLimited,
    ProofRefused,
    TooManyCodes,
    UsernameTaken,
)
from gridvend.logins.events import LoginEvent
from gridvend.logins.locks import lock_code, lock_login
from gridvend.logins.models import (
    CodeChannel,
    CodePurpose,
    CustomerLogin,
    LinkedMeter,
    OneTimeCode,
    PortalPurchase,
    ProofFailure,
)
from gridvend.meters.models import Meter, MeterStatus
from gridvend.mobilemoney import services as mobile
from gridvend.mobilemoney.models import StkPush
from gridvend.mobilemoney.services import payments
from gridvend.notifications.rendering import isolate, language_code
from gridvend.notifications.services import queue_email, queue_sms
from gridvend.partners import services as partners
from gridvend.phone.common import channel_actor, channel_provider
from gridvend.vending.models import Sale, TokenKind
from gridvend.vending.services import Quote

USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{2,59}")
REQUEST_ID = re.compile(r"[A-Za-z0-9-]{8,40}")
CODE = re.compile(r"[0-9]{6}")
MAX_ACCOUNT_NUMBER = 20


# --- parsing at the edge of the use cases ---------------------------------------------------


def clean_username(raw: object) -> str:
    """A login name: NFKC, lower case, 3 to 60 of a-z 0-9 . _ @ + - (no look-alikes)."""
    name = unicodedata.normalize("NFKC", str(raw or ""))[:200].strip().lower()
    if not USERNAME.fullmatch(name):
        raise ValidationFailed(
            _("Use 3 to 60 letters a-z, digits and . _ @ + - (starting with a letter or digit)."),
            field="username",
        )
    return name


def _meter_number(raw: object) -> str:
    digits = "".join(str(raw or "")[:40].split())
    if not digits.isdigit() or len(digits) not in (11, 13):
        raise ProofRefused()
    return digits


def _account_number(raw: object) -> str:
    text = "".join(str(raw or "")[:60].split())
    if not text or len(text) > MAX_ACCOUNT_NUMBER or text_problem(text):
        raise ProofRefused()
    return text.upper()


def _request_id(raw: object) -> str:
    text = str(raw or "")[:60]
    if not REQUEST_ID.fullmatch(text):
        raise InvalidInput(reason="required", field="request_id")
    return text


def _check_password(password: str) -> None:
    try:
        validate_password(password)
    except ValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), field="password") from None


def _digest(public_id: str, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"portal-code:{public_id}:{code}".encode(), hashlib.sha256).hexdigest()


# --- one-time codes ---------------------------------------------------------------------------


def _proved_meter(meter_number: object, account_number: object) -> tuple[Meter, Customer]:
    """The meter, when the account number is its customer's; ProofRefused for a wrong pair,
    an unknown meter or a meter out of service alike. Each refusal is counted against the meter
    number (known or not, so the limit tells nobody which meters exist): after
    PORTAL_PROOF_FAILURES_PER_HOUR in an hour, every proof for it is refused PROOF_LIMITED,
    the right one too, so account numbers cannot be guessed."""
    number = _meter_number(meter_number)
    account = _account_number(account_number)
    since = timezone.now() - timedelta(hours=1)
    failures = ProofFailure.objects.filter(meter_number=number, created_at__gte=since).count()
    if failures >= settings.PORTAL_PROOF_FAILURES_PER_HOUR:
        raise ProofLimited()
    meter = Meter.objects.select_related("customer").filter(number=number).first()
    customer = meter.customer if meter is not None else None
    if (
        meter is None
        or customer is None
        or meter.status == MeterStatus.RETIRED
        or customer.account_number.upper() != account
    ):
        with transaction.atomic(durable=True):
            failure = ProofFailure.objects.create(meter_number=number)
            record(
                actor=None,
                event_type=LoginEvent.PROOF_REFUSED,
                target=failure,
                after={"meter": number, "failures_this_hour": failures + 1},
            )
        raise ProofRefused()
    return meter, customer


def _contact(customer: Customer | CustomerLogin, channel: str) -> str:
    if channel not in CodeChannel.values:
        raise InvalidInput(reason="required", field="channel")
    found = customer.phone if channel == CodeChannel.SMS else customer.email
    if not found:
        raise NoContact(channel=channel)
    return found


def _send(row: OneTimeCode, digits: str, language: str) -> OutboxMessage | None:
    context = {
        "utility": settings.UTILITY_NAME,
        "code": isolate(digits, language_code(language or None)),
        "minutes": settings.PORTAL_CODE_MINUTES,
    }
    key = f"portal-code:{row.public_id}"
    if row.channel == CodeChannel.SMS:
        return queue_sms(
            to=row.destination,
            template="portal_code",
            context=context,
            key=key,
            language=language or None,
        )
    return queue_email(
        to=row.destination,
        template="portal_code",
        context=context,
        key=key,
        language=language or None,
    )


def _issue_code(
    *,
    purpose: str,
    channel: str,
    destination: str,
    language: str,
    meter: Meter | None = None,
    customer: Customer | None = None,
    login: CustomerLogin | None = None,
) -> OneTimeCode:
    since = timezone.now() - timedelta(hours=1)
    recent = OneTimeCode.objects.filter(created_at__gte=since)
    recent = recent.filter(meter=meter) if meter is not None else recent.filter(login=login)
    if recent.count() >= settings.PORTAL_CODES_PER_HOUR:
        raise TooManyCodes()
    digits = f"{secrets.randbelow(10**6):06d}"
    public_id = secrets.token_hex(16)
    with transaction.atomic(durable=True):
        row = OneTimeCode.objects.create(
            public_id=public_id,
            purpose=purpose,
            channel=channel,
            login=login,
            meter=meter,
            customer=customer,
            destination=destination,
            digest=_digest(public_id, digits),
            expires_at=timezone.now() + timedelta(minutes=settings.PORTAL_CODE_MINUTES),
        )
        record(
            actor=None,
            event_type=LoginEvent.CODE_SENT,
            target=row,
            after={"purpose": purpose, "channel": channel},
        )
        if _send(row, digits, language) is None:
            # The channel is switched off: no code may wait for a message that never goes.
            raise CodeNotSent(channel=channel)
    return row


def _consume(
    public_id: object, code: object, purpose: str, login: CustomerLogin | None
) -> OneTimeCode | None:
    """Inside the caller's transaction: the code's row, locked and marked used, when ``code``
    is its code; otherwise None, with one more attempt counted (at PORTAL_CODE_ATTEMPTS the code
    is dead). The caller raises CodeInvalid after its transaction commits the count."""
    row = lock_code(str(public_id or "")[:32])
    if row is None or row.purpose != purpose:
        return None
    if login is not None and row.login_id != login.pk:
        return None
    if row.used_at is not None or row.expires_at <= timezone.now():
        return None
    if row.attempts >= settings.PORTAL_CODE_ATTEMPTS:
        return None
    given = "".join(str(code or "")[:20].split())
    if CODE.fullmatch(given) and hmac.compare_digest(row.digest, _digest(row.public_id, given)):
        row.used_at = timezone.now()
        row.save(update_fields=["used_at"])
        return row
    row.attempts += 1
    row.save(update_fields=["attempts"])
    record(actor=None, event_type=LoginEvent.CODE_REJECTED, target=row)
    return None


# --- sign-up and another meter ----------------------------------------------------------------


def request_sign_up_code(
    *, meter_number: object, account_number: object, channel: str, language: str = ""
) -> OneTimeCode:
    """Send a sign-up code to the phone or e-mail address on file for the meter's customer."""
    meter, customer = _proved_meter(meter_number, account_number)
    return _issue_code(
        purpose=CodePurpose.SIGN_UP,
        channel=channel,
        destination=_contact(customer, channel),
        language=language,
        meter=meter,
        customer=customer,
    )


def complete_sign_up(
    *, public_id: object, code: object, username: object, password: str, language: str = ""
) -> CustomerLogin:
    """A new login with the proved meter on it. A wrong code counts toward the code's attempts;
    a taken name or a weak password leaves the code usable."""
    name = clean_username(username)
    _check_password(password)
    if CustomerLogin.objects.filter(username=name).exists():
        raise UsernameTaken()
    try:
        with transaction.atomic(durable=True):
            row = _consume(public_id, code, CodePurpose.SIGN_UP, None)
            login = None
            if row is not None:
                assert row.meter is not None and row.customer is not None
                login = CustomerLogin.objects.create(
                    username=name,
                    password=hashers.make_password(password),
                    phone=row.destination if row.channel == CodeChannel.SMS else "",
                    email=row.destination if row.channel == CodeChannel.EMAIL else "",
                    language=language[:10],
                )
                LinkedMeter.objects.create(login=login, meter=row.meter, customer=row.customer)
                record(
                    actor=None,
                    event_type=LoginEvent.CREATED,
                    target=login,
                    after={"meter": row.meter.number, "channel": row.channel},
                )
    except IntegrityError:
        raise UsernameTaken() from None
    if login is None:
        raise CodeInvalid()
    return login


def request_meter_code(
    *, login: CustomerLogin, meter_number: object, account_number: object, channel: str
) -> OneTimeCode:
    """Send a code to the contact on file of another meter's customer, to add it to the login."""
    meter, customer = _proved_meter(meter_number, account_number)
    if LinkedMeter.objects.filter(login=login, meter=meter, customer=customer).exists():
        raise MeterAlreadyLinked()
    return _issue_code(
        purpose=CodePurpose.ADD_METER,
        channel=channel,
        destination=_contact(customer, channel),
        language=login.language,
        meter=meter,
        customer=customer,
        login=login,
    )


def complete_meter_link(*, login: CustomerLogin, public_id: object, code: object) -> LinkedMeter:
    with transaction.atomic(durable=True):
        row = _consume(public_id, code, CodePurpose.ADD_METER, login)
        link = None
        if row is not None:
            assert row.meter is not None and row.customer is not None
            # A meter proved again for its new customer replaces the stale link.
            LinkedMeter.objects.filter(login=login, meter=row.meter).delete()
            link = LinkedMeter.objects.create(login=login, meter=row.meter, customer=row.customer)
            record(
                actor=None,
                event_type=LoginEvent.METER_LINKED,
                target=login,
                after={"meter": row.meter.number},
            )
    if link is None:
        raise CodeInvalid()
    return link


# --- sign-in and password reset ----------------------------------------------------------------


def sign_in_customer(*, username: object, password: str) -> CustomerLogin | None:
    """The login, when the name and password are right and it is not locked out; None
    otherwise, at the same cost whatever the reason. Failures are counted under the login's
    row lock (identity.credentials), as the staff's are."""
    password = str(password or "")[:1024]
    try:
        name = clean_username(username)
    except ValidationFailed:
        check_anyway(password)
        return None
    found = CustomerLogin.objects.filter(username=name).values_list("pk", flat=True).first()
    if found is None:
        check_anyway(password)
        return None
    with transaction.atomic(durable=True):
        login = lock_login(found)
        if login.is_active and not is_locked_out(login):

            def upgrade(raw: str) -> None:
                # An older hasher's hash is replaced by the first one's (Argon2) at sign-in.
                login.password = hashers.make_password(raw)

            if hashers.check_password(password, login.password, setter=upgrade):
                if login.uses_totp:
                    # Half a sign-in: the failures stay counted (the authenticator's guesses
                    # share the password's lockout) and nothing says signed in until the code
                    # is right (verify_customer_totp).
                    login.save(update_fields=["password"])
                    return login
                login.failed_logins = 0
                login.locked_until = None
                login.last_login = timezone.now()
                login.save(
                    update_fields=["password", "failed_logins", "locked_until", "last_login"]
                )
                record(actor=None, event_type=LoginEvent.SIGNED_IN, target=login)
                return login
            locked = count_failure(login)
            login.save(update_fields=["failed_logins", "locked_until"])
            record(
                actor=None,
                event_type=LoginEvent.LOCKED_OUT if locked else LoginEvent.SIGN_IN_FAILED,
                target=login,
            )
            return None
    check_anyway(password, login.password)
    return None


def verify_customer_totp(*, login: CustomerLogin, code: object) -> bool:
    """The sign-in's second step for a login with an authenticator: a wrong code counts toward
    the lockout exactly like a wrong password, and a locked login's code is refused unchecked."""
    given = str(code or "")[:20]
    with transaction.atomic(durable=True):
        current = lock_login(login.pk)
        if is_locked_out(current) or not current.is_active:
            return False
        if current.uses_totp and accept_totp(current, given, secret=current.totp_secret):
            current.failed_logins = 0
            current.locked_until = None
            current.last_login = timezone.now()
            current.save(update_fields=["failed_logins", "locked_until", "last_login"])
            record(actor=None, event_type=LoginEvent.SIGNED_IN, target=current)
            return True
        locked = count_failure(current)
        current.save(update_fields=["failed_logins", "locked_until"])
        record(actor=None, event_type=LoginEvent.TOTP_REJECTED, target=current)
        if locked:
            record(actor=None, event_type=LoginEvent.LOCKED_OUT, target=current)
    return False


def _password_refused(current: CustomerLogin, password: str) -> ValidationFailed | None:
    """Inside the login's row lock: None for the right password, else the refusal, counted."""
    if not is_locked_out(current) and hashers.check_password(password, current.password):
        return None
    if not is_locked_out(current):
        count_failure(current)
        current.save(update_fields=["failed_logins", "locked_until"])
        record(actor=None, event_type=LoginEvent.SIGN_IN_FAILED, target=current)
    return ValidationFailed(_("That password is not right."), field="password")


def start_customer_totp(*, login: CustomerLogin, password: str) -> str:
    """A new authenticator secret to scan, once the password shows it is really the customer
    (a wrong one counts toward the lockout). It waits as pending until a code from it is
    confirmed; an authenticator already confirmed keeps working meanwhile."""
    refusal = None
    with transaction.atomic(durable=True):
        current = lock_login(login.pk)
        refusal = _password_refused(current, str(password or "")[:1024])
        if refusal is None:
            current.totp_pending_secret = pyotp.random_base32()
            current.save(update_fields=["totp_pending_secret"])
            record(actor=None, event_type=LoginEvent.TOTP_STARTED, target=current)
    if refusal is not None:
        raise refusal
    login.totp_pending_secret = current.totp_pending_secret
    return current.totp_pending_secret


def confirm_customer_totp(*, login: CustomerLogin, code: object) -> None:
    with transaction.atomic(durable=True):
        current = lock_login(login.pk)
        pending = current.totp_pending_secret
        if not pending or not accept_totp(current, str(code or "")[:20], secret=pending):
            raise ValidationFailed(
                _("That code is not valid. Try the next one your app shows."), field="code"
            )
        current.totp_secret = pending
        current.totp_confirmed = True
        current.totp_pending_secret = ""
        current.save(update_fields=["totp_secret", "totp_confirmed", "totp_pending_secret"])
        record(actor=None, event_type=LoginEvent.TOTP_CONFIRMED, target=current)
    login.totp_secret, login.totp_confirmed = current.totp_secret, True


def remove_customer_totp(*, login: CustomerLogin, password: str) -> None:
    """Sign in with the password alone again; the password is asked (and counted) first."""
    refusal = None
    with transaction.atomic(durable=True):
        current = lock_login(login.pk)
        refusal = _password_refused(current, str(password or "")[:1024])
        if refusal is None:
            current.totp_secret = ""
            current.totp_confirmed = False
            current.totp_pending_secret = ""
            current.save(update_fields=["totp_secret", "totp_confirmed", "totp_pending_secret"])
            record(actor=None, event_type=LoginEvent.TOTP_REMOVED, target=current)
    if refusal is not None:
        raise refusal
    login.totp_secret, login.totp_confirmed = "", False


def request_reset_code(*, username: object, channel: str) -> OneTimeCode | None:
    """Send a reset code to the login's phone or e-mail address; None (and nothing sent) for a
    name that has no login or no such contact, which the page does not reveal."""
    try:
        name = clean_username(username)
    except ValidationFailed:
        return None
    login = CustomerLogin.objects.filter(username=name, is_active=True).first()
    if login is None:
        return None
    try:
        destination = _contact(login, channel)
    except NoContact:
        return None
    try:
        return _issue_code(
            purpose=CodePurpose.RESET,
            channel=channel,
            destination=destination,
            language=login.language,
            login=login,
        )
    except TooManyCodes:
        # The hourly cap holds (nothing more is sent), but the page answers as for a name with
        # no login: a refusal only real names could earn would tell which names exist.
        return None


def complete_password_reset(*, public_id: object, code: object, password: str) -> CustomerLogin:
    """A new password; the lockout is lifted, and every session signed in with the old
    password ends (the sessions carry a digest of the password they were opened with)."""
    _check_password(password)
    with transaction.atomic(durable=True):
        row = _consume(public_id, code, CodePurpose.RESET, None)
        login = None
        if row is not None and row.login_id is not None:
            login = lock_login(row.login_id)
            login.password = hashers.make_password(password)
            login.failed_logins = 0
            login.locked_until = None
            login.save(update_fields=["password", "failed_logins", "locked_until"])
            record(actor=None, event_type=LoginEvent.PASSWORD_RESET, target=login)
    if login is None:
        raise CodeInvalid()
    return login


def session_digest(login: CustomerLogin) -> str:
    """What a portal session keeps of the password it was opened with: a new password ends
    every older session."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(
        key, f"portal-session:{login.pk}:{login.password}".encode(), "sha256"
    ).hexdigest()


def set_portal_language(*, login: CustomerLogin, language: str) -> None:
    code = language_code(language)
    CustomerLogin.objects.filter(pk=login.pk).update(language=code)
    login.language = code


# --- buying -----------------------------------------------------------------------------------


def meter_currency(meter: Meter) -> str:
    customer = meter.customer
    assert customer is not None
    return str(customer.tariff.currency)


def amount_for(meter: Meter, major: Decimal) -> Money:
    return Money.from_major(major, meter_currency(meter))


def start_portal_purchase(
    *, login: CustomerLogin, meter_number: str, amount: Money, phone: str, request_id: object
) -> PortalPurchase:
    """Prompt ``phone`` (the login's own by default) to pay for a token for one of the login's
    meters. The same request id again answers the first purchase and prompts no phone twice;
    with another meter or amount it is refused DUPLICATE_REQUEST."""
    link = selectors.get_linked_meter(login, meter_number)
    rid = _request_id(request_id)
    earlier = (
        PortalPurchase.objects.filter(login=login, request_id=rid).select_related("push").first()
    )
    if earlier is not None:
        if earlier.meter_id != link.meter_id or (
            earlier.push.amount_minor,
            earlier.push.currency,
        ) != (amount.minor, amount.currency):
            raise DuplicateRequest(reference=rid)
        return earlier
    provider = channel_provider()
    push = mobile.request_stk_push(
        actor=channel_actor(provider),
        provider=provider,
        phone=phone or login.phone,
        meter_number=link.meter.number,
        amount=amount,
        channel="portal",
        client_reference=f"portal-{login.pk}-{rid}",
        language=login.language,
    )
    try:
        with transaction.atomic(durable=True):
            purchase = PortalPurchase.objects.create(
                login=login, meter=link.meter, push=push, request_id=rid
            )
            record(
                actor=None,
                event_type=LoginEvent.PURCHASE_STARTED,
                target=purchase,
                after={"meter": link.meter.number, "amount": amount.format()},
            )
    except IntegrityError:
        purchase = PortalPurchase.objects.select_related("push").get(login=login, request_id=rid)
    return purchase


def _grouped(digits: str) -> str:
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def email_portal_token(*, purchase: PortalPurchase) -> bool:
    """Queue the token e-mail of a completed portal purchase to the login's address, once."""
    sale = selectors.purchase_sale(purchase)
    login = purchase.login
    if sale is None or not login.email or purchase.emailed_at is not None:
        return False
    with transaction.atomic(durable=True):
        claimed = PortalPurchase.objects.filter(pk=purchase.pk, emailed_at__isnull=True).update(
            emailed_at=timezone.now()
        )
        if not claimed:
            return False
        queue_token_email(login=login, sale=sale)
    return True


def queue_token_email(*, login: CustomerLogin, sale: Sale) -> None:
    """Queue the token e-mail of ``sale`` to the login's address (none without one); the
    outbox key is the sale's, so asked twice it is sent once."""
    if not login.email:
        return
    code = language_code(login.language or None)
    labels = dict(TokenKind.choices)
    queue_email(
        to=login.email,
        template="portal_token",
        context={
            "utility": settings.UTILITY_NAME,
            "meter": isolate(sale.meter.number, code),
            "reference": isolate(sale.reference, code),
            "amount": isolate(Money(sale.tender_minor, sale.currency).format(), code),
            "kwh": isolate(str(sale.kwh.normalize()), code),
            "tokens": [
                {
                    "label": labels.get(t.kind, t.kind),
                    "digits": isolate(_grouped(t.digits), code),
                }
                for t in selectors.sale_tokens(sale)
            ],
        },
        key=f"portal-token:{sale.reference}",
        language=code,
    )


def quote_portal_purchase(*, login: CustomerLogin, meter_number: str, amount: Money) -> Quote:
    """The trial vend of a purchase for one of the login's meters, as the paybill the portal
    sells through would make it: the full breakdown, nothing written."""
    link = selectors.get_linked_meter(login, meter_number)
    provider = channel_provider()
    return partners.trial(payments.call_for(provider), link.meter.number, tender=amount)


def amount_of(push: StkPush) -> Money:
    return Money(push.amount_minor, push.currency)
