"""The USSD menus and sessions. Every hop carries the whole input path (``1*04229889888*500``):
it is replayed through the menus from the first screen, so a wrong entry is answered on the
screen where it was keyed and the next entry is read as the retry. The session is kept
server-side (``UssdSession``) with a timeout; the final hop's screen is stored before anything is
done, so the same hop repeated (or any hop after it) is answered from the store and never pushes
or sells twice. The sale itself happens when the STK push is paid (mobile money's callback path)
and its token goes to the phone by SMS. The account holder's phone may instead pay from the
customer's prepaid wallet: the final hop sells then and there (its request id the session's, so a
repeated hop sells once) and shows the token, which also goes by SMS.

Screens stay within 182 GSM-7 characters; Arabic and Chinese ones (UCS-2) within 80.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from gridvend.kernel.errors import DomainError, ErrorCode
from gridvend.kernel.money import Money
from gridvend.meters import faults
from gridvend.meters.models import FaultCategory, Meter
from gridvend.mobilemoney import services as mobile
from gridvend.mobilemoney.models import MobileProvider
from gridvend.notifications.rendering import isolate
from gridvend.phone import common
from gridvend.phone.errors import PhoneNotAllowed, PhoneSaleNotFound, PhoneTooManyRequests
from gridvend.phone.models import UssdSession, UssdState
from gridvend.wallet import services as wallets
from gridvend.wallet.errors import WalletErrorCode
from gridvend.wallet.models import Wallet
from gridvend.wallet.selectors import balance as wallet_balance
from gridvend.wallet.tasks import seller as wallet_seller

logger = logging.getLogger(__name__)
# The outcome of a final hop whose action broke with an error that is no refusal (a fault of
# ours or of the provider's link): the session is ended and the customer told it failed.
ACTION_FAILED = "PHONE_CHANNEL_UNAVAILABLE"

# The most of ``text`` read: a session of this menu never needs more (a language, six choices,
# a meter, an amount); a longer path is refused before it is split.
MAX_TEXT = 160
MAX_WRONG = 3
SCREEN_LIMIT = 182
UCS2_SCREEN_LIMIT = 80
LANGUAGE_CHOICES = {"1": "en", "2": "ar", "3": "zh-hans"}
FAULT_CHOICES = {
    "1": FaultCategory.NO_SUPPLY,
    "2": FaultCategory.TOKEN_REJECTED,
    "3": FaultCategory.DISPLAY_FAULT,
    "4": FaultCategory.OTHER,
}
_SOLD_OUT = {
    ErrorCode.METER_BLOCKED,
    ErrorCode.METER_RETIRED,
    ErrorCode.KEY_REVISION_EXPIRED,
    ErrorCode.TARIFF_NOT_FOUND,
}


class Step(enum.Enum):
    LANGUAGE = "language"
    MAIN = "main"
    BUY_METER = "buy_meter"
    BUY_NAME = "buy_name"
    BUY_AMOUNT = "buy_amount"
    BUY_CONFIRM = "buy_confirm"
    BUY_PAY = "buy_pay"  # M-Pesa or the wallet: only for the account holder's phone
    LAST_METER = "last_meter"
    REFERENCE = "reference"
    BALANCE_METER = "balance_meter"
    FAULT_METER = "fault_meter"
    FAULT_KIND = "fault_kind"
    CHANGE_LANGUAGE = "change_language"


@dataclass(frozen=True)
class Screen:
    """What the phone shows: ``end`` closes the session. ``action`` is what the final hop asks
    to be done (buy, fault, language) once the screen is claimed."""

    end: bool
    text: str
    action: str = ""
    outcome: str = ""

    @property
    def body(self) -> str:
        return ("END " if self.end else "CON ") + self.text


def fits(text: str) -> bool:
    """Whether a screen fits a USSD message: 182 GSM-7 characters, or 80 of UCS-2."""
    limit = SCREEN_LIMIT if all(ord(ch) < 128 for ch in text) else UCS2_SCREEN_LIMIT
    return len(text) <= limit


@dataclass
class Walk:
    """The menus replayed over a session's inputs."""

    provider: MobileProvider
    phone: str
    language: str
    step: Step = Step.MAIN
    wrong: int = 0
    meter: str = ""
    name: str = ""
    minimum: Money | None = None
    maximum: Money | None = None
    amount: Money | None = None
    wallet: Wallet | None = None  # the customer's, offered to the account holder's phone
    fault_kind: str = ""
    chosen_language: str = ""
    problem: str = ""  # the line shown above a screen asked again

    # Screens -------------------------------------------------------------------------------

    def ask(self) -> Screen:
        with translation.override(self.language):
            text = self._screen()
        if not self.problem:
            return Screen(False, text)
        # The problem goes above the screen; a titled screen gives up its title for it when
        # both do not fit, and the problem gives way when even that does not.
        candidates = [f"{self.problem}\n{text}"]
        if self.step in (Step.LANGUAGE, Step.CHANGE_LANGUAGE, Step.FAULT_KIND):
            candidates.append(f"{self.problem}\n{text.partition(chr(10))[2]}")
        return Screen(False, next((c for c in candidates if fits(c)), text))

    def _screen(self) -> str:
        lang = self.language
        if self.step in (Step.LANGUAGE, Step.CHANGE_LANGUAGE):
            return _("Language") + "\n1 English\n2 العربية\n3 中文"
        if self.step == Step.MAIN:
            return "\n".join(
                (
                    "1 " + _("Buy electricity"),
                    "2 " + _("Last token"),
                    "3 " + _("Token by reference"),
                    "4 " + _("Balance and debt"),
                    "5 " + _("Report a fault"),
                    "6 " + _("Language"),
                )
            )
        if self.step in (Step.BUY_METER, Step.LAST_METER, Step.BALANCE_METER, Step.FAULT_METER):
            return _("Enter the meter number:")
        if self.step == Step.BUY_NAME:
            return _("Meter %(meter)s\n%(name)s\n1 Confirm\n2 Cancel") % {
                "meter": isolate(self.meter, lang),
                "name": self.name,
            }
        if self.step == Step.BUY_AMOUNT:
            assert self.minimum is not None
            if self.maximum is None:
                return _("Amount, at least %(minimum)s:") % {
                    "minimum": isolate(_whole(self.minimum), lang)
                }
            return _("Amount, %(minimum)s to %(maximum)s:") % {
                "minimum": isolate(_whole(self.minimum), lang),
                "maximum": isolate(_whole(self.maximum), lang),
            }
        if self.step == Step.BUY_CONFIRM and self.wallet is not None:
            assert self.amount is not None
            return _("Buy %(amount)s for %(meter)s\n1 Confirm\n2 Cancel") % {
                "amount": isolate(_whole(self.amount), lang),
                "meter": isolate(self.meter, lang),
            }
        if self.step == Step.BUY_PAY:
            assert self.wallet is not None
            held = wallet_balance(self.wallet)
            return _("Pay with\n1 M-Pesa prompt\n2 My wallet (%(balance)s)") % {
                "balance": isolate(held.format(), lang)
            }
        if self.step == Step.BUY_CONFIRM:
            assert self.amount is not None
            return _("Buy %(amount)s for %(meter)s, paid by M-Pesa\n1 Confirm\n2 Cancel") % {
                "amount": isolate(_whole(self.amount), lang),
                "meter": isolate(self.meter, lang),
            }
        if self.step == Step.REFERENCE:
            return _("Enter the purchase reference:")
        assert self.step == Step.FAULT_KIND
        return "\n".join(
            (
                _("What is wrong?"),
                "1 " + _("No supply"),
                "2 " + _("Token rejected"),
                "3 " + _("Display or keypad"),
                "4 " + _("Other"),
            )
        )

    def end(self, text: str, *, action: str = "", outcome: str = "") -> Screen:
        return Screen(True, text, action, outcome)

    # Entries -------------------------------------------------------------------------------

    def _wrong(self, problem: str) -> Screen | None:
        self.wrong += 1
        if self.wrong >= MAX_WRONG:
            with translation.override(self.language):
                return self.end(_("Too many wrong entries. Please dial again."), outcome="WRONG")
        self.problem = problem
        return None

    def enter(self, value: str, *, final: bool) -> Screen | None:
        """Read one entry on the current step: the next screen is asked for by ``ask``; a
        closing screen is returned (its action done only when ``final``)."""
        with translation.override(self.language):
            self.problem = ""
            return self._enter(value.strip(), final)

    def _enter(self, value: str, final: bool) -> Screen | None:
        step = self.step
        if step in (Step.LANGUAGE, Step.CHANGE_LANGUAGE):
            chosen = LANGUAGE_CHOICES.get(value)
            if chosen is None:
                return self._wrong(_("Choose 1, 2 or 3."))
            self.language = self.chosen_language = chosen
            if step == Step.LANGUAGE:
                self.step = Step.MAIN
                return None
            with translation.override(chosen):
                return self.end(_("Language saved."), action="language")
        if step == Step.MAIN:
            nxt = {
                "1": Step.BUY_METER,
                "2": Step.LAST_METER,
                "3": Step.REFERENCE,
                "4": Step.BALANCE_METER,
                "5": Step.FAULT_METER,
                "6": Step.CHANGE_LANGUAGE,
            }.get(value)
            if nxt is None:
                return self._wrong(_("Choose one of the options."))
            self.step = nxt
            return None
        if step in (Step.BUY_METER, Step.LAST_METER, Step.BALANCE_METER, Step.FAULT_METER):
            number = common.clean_digits(value, maximum=common.MAX_METER_DIGITS)
            if number is None:
                return self._wrong(_("Enter digits only."))
            self.meter = number
            return self._meter_entered(step, final)
        if step == Step.BUY_NAME:
            if value == "2":
                return self.end(_("Cancelled."), outcome="CANCELLED")
            if value != "1":
                return self._wrong(_("Choose 1 or 2."))
            self.step = Step.BUY_AMOUNT
            return None
        if step == Step.BUY_AMOUNT:
            return self._amount_entered(value)
        if step == Step.BUY_CONFIRM:
            if value == "2":
                return self.end(_("Cancelled."), outcome="CANCELLED")
            if value != "1":
                return self._wrong(_("Choose 1 or 2."))
            if self.wallet is not None:
                self.step = Step.BUY_PAY
                return None
            return self._push()
        if step == Step.BUY_PAY:
            if value == "1":
                return self._push()
            if value != "2":
                return self._wrong(_("Choose 1 or 2."))
            return self.end(_("Paying from your wallet..."), action="wallet")
        if step == Step.REFERENCE:
            if not value or len(value) > common.MAX_REFERENCE or not value.isalnum():
                return self._wrong(_("Enter the reference on your receipt."))
            if not final:
                return self.end("")
            return self._reference(value)
        assert step == Step.FAULT_KIND
        kind = FAULT_CHOICES.get(value)
        if kind is None:
            return self._wrong(_("Choose one of the options."))
        self.fault_kind = kind
        return self.end(_("Thank you. Your fault report is recorded."), action="fault")

    def _meter_entered(self, step: Step, final: bool) -> Screen | None:
        if step == Step.FAULT_METER:
            try:
                common.find_meter(self.meter)
            except DomainError as refusal:
                return self._refused(refusal)
            self.step = Step.FAULT_KIND
            return None
        if step == Step.BUY_METER:
            try:
                found = common.lookup(self.provider, self.meter)
            except DomainError as refusal:
                return self._refused(refusal)
            self.meter = found.meter.number
            self.name = common.mask_name(found.customer.name)
            self.minimum, self.maximum = found.minimum, found.maximum
            self.wallet = _holders_wallet(found.meter, self.phone)
            self.step = Step.BUY_NAME
            return None
        if not final:
            return self.end("")  # a closing screen mid-path: the session had ended there
        if step == Step.LAST_METER:
            return self._last_token()
        return self._balance()

    def _push(self) -> Screen:
        return self.end(
            _("Approve the M-Pesa prompt on your phone. The token comes by SMS."), action="buy"
        )

    def _refused(self, refusal: DomainError) -> Screen | None:
        code = str(refusal.code)
        if code in (ErrorCode.METER_NOT_FOUND, "METER_NUMBER_INVALID"):
            return self._wrong(_("No such meter. Check the number."))
        if code in _SOLD_OUT or code.startswith("METER_"):
            return self.end(_("This meter cannot buy now. Please call us."), outcome=code)
        return self.end(_("Not possible now. Please try later."), outcome=code)

    def _amount_entered(self, value: str) -> Screen | None:
        digits = common.clean_digits(value, maximum=9, grouped=False)
        if digits is None:
            return self._wrong(_("Enter a whole amount."))
        assert self.minimum is not None
        currency = self.minimum.currency
        amount = Money.from_major(digits, currency)
        too_small = amount.minor < self.minimum.minor
        too_big = self.maximum is not None and amount.minor > self.maximum.minor
        if too_small or too_big or amount.minor <= 0:
            return self._wrong(_("That amount is not possible."))
        self.amount = amount
        self.step = Step.BUY_CONFIRM
        return None

    def _last_token(self) -> Screen:
        lang = self.language
        try:
            found = common.last_token(self.phone, self.meter)
        except PhoneNotAllowed:
            return self.end(_("Only the account's phone or the payer's."), outcome="NOT_ALLOWED")
        except DomainError as refusal:
            return self.end(_("No such meter. Check the number."), outcome=str(refusal.code))
        if found is None:
            return self.end(_("No token yet for this meter."), outcome="NONE")
        return self.end(_token_text(found, lang))

    def _reference(self, value: str) -> Screen:
        try:
            found = common.token_by_reference(self.phone, value)
        except PhoneSaleNotFound:
            return self.end(_("No purchase has this reference."), outcome="NOT_FOUND")
        except PhoneNotAllowed:
            return self.end(_("Only the account's phone or the payer's."), outcome="NOT_ALLOWED")
        return self.end(_token_text(found, self.language))

    def _balance(self) -> Screen:
        lang = self.language
        try:
            found = common.balance(self.provider, self.phone, self.meter)
        except PhoneNotAllowed:
            return self.end(_("Only the account's phone or the payer's."), outcome="NOT_ALLOWED")
        except DomainError as refusal:
            return self.end(_("Not possible now. Please try later."), outcome=str(refusal.code))
        text = _("Meter %(meter)s\nDebt %(debt)s") % {
            "meter": isolate(found.meter, lang),
            "debt": isolate(found.debt.format(), lang),
        }
        if found.last_amount is not None and found.last_on is not None:
            text += "\n" + _("Last %(amount)s on %(day)s") % {
                "amount": isolate(_whole(found.last_amount), lang),
                "day": isolate(found.last_on.isoformat(), lang),
            }
        return self.end(text)


def _whole(amount: Money) -> str:
    text = amount.format()
    return text[:-3] if text.endswith(".00") else text


def _token_text(found: common.TokenFacts, lang: str) -> str:
    """The tokens in the order they are entered, with the meter and the kWh when the screen has
    room (two tokens of a purchase with free units fill an Arabic screen by themselves)."""
    sale = found.sale
    meter = _("Meter %(meter)s") % {"meter": isolate(sale.meter.number, lang)}
    tokens = [isolate(token, lang) for token in found.tokens[:3]]
    kwh = _("%(kwh)s kWh, %(day)s") % {
        "kwh": isolate(formats.number_format(round(sale.kwh, 1), 1), lang),
        "day": isolate(found.when.isoformat(), lang),
    }
    for lines in ([meter, *tokens, kwh], [meter, *tokens], tokens):
        text = "\n".join(lines)
        if fits(text):
            return text
    return "\n".join(found.tokens[:3])


def _holders_wallet(meter: Meter, phone: str) -> Wallet | None:
    """The wallet of the meter's customer when ``phone`` is the one registered on that account
    and wallet purchases have a seller; None otherwise (the wallet is never shown)."""
    if meter.customer_id is None or not common.registered(meter, phone):
        return None
    if wallet_seller() is None:
        return None
    return (
        Wallet.objects.filter(customer_id=meter.customer_id)
        .select_related("account", "customer")
        .first()
    )


def walk(
    provider: MobileProvider, phone: str, language: str, asked_language: bool, inputs: list[str]
) -> tuple[Walk, Screen]:
    """The screen for this input path, and the walk (what was chosen on the way)."""
    state = Walk(provider=provider, phone=phone, language=language or settings.LANGUAGE_CODE)
    state.step = Step.LANGUAGE if asked_language else Step.MAIN
    for index, value in enumerate(inputs):
        final = index == len(inputs) - 1
        closing = state.enter(value, final=final)
        if closing is not None:
            if closing.action and not final:
                # A path that goes on past a final screen (the menu changed under it): the
                # session had ended there; nothing is done for it now.
                return state, closing_text("unavailable", state.language)
            return state, closing
    return state, state.ask()


# The session ------------------------------------------------------------------------------------


def _text_of(key: str, language: str) -> str:
    with translation.override(language or settings.LANGUAGE_CODE):
        return {
            "expired": _("The session timed out. Please dial again."),
            "too_long": _("Too much input. Please dial again."),
            "busy": _("Too many requests from this phone. Please try later."),
            "unavailable": _("This service is not available now. Please try later."),
            "failed": _("The M-Pesa prompt could not be sent. Please try later."),
            "wallet_failed": _("The purchase could not be made. Nothing was paid."),
        }[key]


def closing_text(key: str, language: str = "") -> Screen:
    return Screen(True, _text_of(key, language))


def _session(
    provider: MobileProvider,
    *,
    session_id: str,
    phone: str,
    service_code: str,
    network_code: str,
) -> UssdSession:
    found = UssdSession.objects.filter(session_id=session_id).first()
    if found is not None:
        return found
    common.take_rate(phone, "ussd", settings.PHONE_USSD_SESSIONS_PER_HOUR)
    language = common.language_of(phone)
    with transaction.atomic(durable=True):
        session, _created = UssdSession.objects.get_or_create(
            session_id=session_id,
            defaults={
                "provider": provider,
                "phone": phone,
                "service_code": service_code[:40],
                "network_code": network_code[:10],
                "asked_language": not language,
                "language": language,
            },
        )
    return session


def answer(
    *,
    session_id: str,
    phone: str,
    service_code: str,
    network_code: str,
    text: str,
) -> Screen:
    """One hop of a session: its screen. Never raises for what a customer keys."""
    provider = common.channel_provider()
    language = common.language_of(phone)
    if len(text) > MAX_TEXT:
        return closing_text("too_long", language)
    try:
        session = _session(
            provider,
            session_id=session_id,
            phone=phone,
            service_code=service_code,
            network_code=network_code,
        )
    except PhoneTooManyRequests:
        return closing_text("busy", language)
    if session.phone != phone:
        return closing_text("unavailable", language)
    if session.state != UssdState.OPEN:
        # The final screen again: a repeated final hop does nothing more.
        return Screen(True, session.last_reply or _text_of("expired", session.language))
    age = timezone.now() - session.created_at
    if age > timedelta(seconds=settings.USSD_SESSION_SECONDS):
        screen = closing_text("expired", session.language or language)
        _note(session, text, screen, state=UssdState.EXPIRED)
        return screen
    inputs = text.split("*") if text else []
    state, screen = walk(
        provider, phone, session.language or language, session.asked_language, inputs
    )
    if state.chosen_language and state.step != Step.LANGUAGE:
        common.remember_language(phone, state.chosen_language)
    if not screen.end:
        _note(session, text, screen, language=state.language)
        return screen
    if not screen.action:
        _note(session, text, screen, state=UssdState.ENDED, language=state.language)
        return screen
    # The final hop: claim it before doing anything, so a repeat finds it claimed.
    if not _claim(session, text, screen):
        session.refresh_from_db()
        return Screen(True, session.last_reply)
    return _act(session, state, screen)


def _note(
    session: UssdSession,
    text: str,
    screen: Screen,
    *,
    state: str = UssdState.OPEN,
    language: str | None = None,
) -> None:
    fields = {
        "hops": session.hops + 1,
        "last_input": text[:400],
        "last_reply": screen.text[:400],
        "updated_at": timezone.now(),
        "state": state,
    }
    if screen.outcome:
        fields["outcome"] = screen.outcome[:60]
    if language:
        fields["language"] = language
    UssdSession.objects.filter(pk=session.pk, state=UssdState.OPEN).update(**fields)


def _claim(session: UssdSession, text: str, screen: Screen) -> bool:
    with transaction.atomic(durable=True):
        claimed = UssdSession.objects.filter(pk=session.pk, state=UssdState.OPEN).update(
            state=UssdState.PAYING if screen.action in ("buy", "wallet") else UssdState.ENDED,
            action=screen.action,
            final_input=text[:400],
            last_input=text[:400],
            last_reply=screen.text[:400],
            hops=session.hops + 1,
            updated_at=timezone.now(),
        )
    return claimed == 1


def _act(session: UssdSession, state: Walk, screen: Screen) -> Screen:
    """Do the final hop's action and end the session with what came of it. An error that is no
    refusal still ends it (with the failed screen, logged), so no session stays "paying" and a
    repeated final hop is told it failed rather than to approve a prompt that never came."""
    try:
        return _act_and_end(session, state, screen)
    except Exception:
        logger.exception("USSD session %s: the final action %s failed", session.pk, screen.action)
        key = "wallet_failed" if screen.action == "wallet" else "failed"
        failed = Screen(True, _text_of(key, state.language), outcome=ACTION_FAILED)
        UssdSession.objects.filter(pk=session.pk).exclude(state=UssdState.ENDED).update(
            state=UssdState.ENDED,
            last_reply=failed.text[:400],
            outcome=ACTION_FAILED,
            updated_at=timezone.now(),
        )
        return failed


def _act_and_end(session: UssdSession, state: Walk, screen: Screen) -> Screen:
    provider = state.provider
    done: dict[str, object] = {}
    if screen.action == "language":
        return screen
    if screen.action == "fault":
        try:
            fault = faults.register_fault(
                actor=common.channel_actor(provider),
                meter=common.find_meter(state.meter),
                description=f"Reported by USSD from {state.phone}",
                category=state.fault_kind,
                reported_via="message",
                reporter_phone=state.phone,
            )
        except DomainError as refusal:
            screen = Screen(
                True, _text_of("unavailable", state.language), outcome=str(refusal.code)
            )
        else:
            done["fault"] = fault
    elif screen.action == "buy":
        assert state.amount is not None
        try:
            push = mobile.request_stk_push(
                actor=common.channel_actor(provider),
                provider=provider,
                phone=state.phone,
                meter_number=state.meter,
                amount=state.amount,
                channel="ussd",
                language=state.language,
            )
        except DomainError as refusal:
            screen = Screen(True, _text_of("failed", state.language), outcome=str(refusal.code))
        else:
            done["stk_push"] = push
    elif screen.action == "wallet":
        screen = _pay_from_wallet(session, state)
    UssdSession.objects.filter(pk=session.pk).update(
        state=UssdState.ENDED,
        last_reply=screen.text[:400],
        outcome=screen.outcome[:60],
        updated_at=timezone.now(),
        **done,
    )
    return screen


def wallet_request_id(session_id: str) -> str:
    """The wallet purchase's request id: the session's id (a digest of it when it is long or
    carries other characters), so the same session's final hop repeated sells once."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", session_id):
        return f"ussd-{session_id}"
    return "ussd-" + hashlib.sha256(session_id.encode()).hexdigest()[:40]


def _pay_from_wallet(session: UssdSession, state: Walk) -> Screen:
    assert state.amount is not None and state.wallet is not None
    lang = state.language
    found = wallet_seller()
    with translation.override(lang):
        if found is None:
            return Screen(True, _text_of("wallet_failed", lang), outcome=ACTION_FAILED)
        actor, point = found
        try:
            result = wallets.buy_from_wallet(
                actor=actor,
                vending_point=point,
                wallet=state.wallet,
                meter_number=state.meter,
                request_id=wallet_request_id(session.session_id),
                amount=state.amount,
                sms_to=state.phone,
                sms_language=lang,
            )
        except DomainError as refusal:
            code = str(refusal.code)
            if code == WalletErrorCode.WALLET_INSUFFICIENT:
                text = _("Your wallet holds %(balance)s, not enough. Nothing was paid.") % {
                    "balance": isolate(wallet_balance(state.wallet).format(), lang)
                }
            elif code in _SOLD_OUT or code.startswith("METER_"):
                text = _("This meter cannot buy now. Please call us.")
            else:
                text = _text_of("wallet_failed", lang)
            return Screen(True, text, outcome=code)
        tokens = [common.grouped(t.digits) for t in sorted(result.tokens, key=lambda t: t.sequence)]
        reference = result.sale.reference
        ref = _("Ref %(reference)s") % {"reference": isolate(reference, lang)}
        text = "\n".join([*(isolate(t, lang) for t in tokens), ref])
        if not fits(text):
            text = _("Paid. The token was sent by SMS.\nRef %(reference)s") % {
                "reference": isolate(reference, lang)
            }
        return Screen(True, text)


def record_end(
    *,
    session_id: str,
    status: str,
    cost: str,
    duration_ms: int | None,
    hops: int | None,
    error: str,
) -> bool:
    """The aggregator's end-of-session notification, on the session it names (False: none).
    A session still open is closed by it (the customer hung up or timed out)."""
    now = timezone.now()
    updated = UssdSession.objects.filter(session_id=session_id).update(
        ended_status=status[:20],
        ended_cost=cost[:30],
        ended_duration_ms=duration_ms,
        ended_hops=hops,
        ended_error=error[:200],
        ended_at=now,
    )
    UssdSession.objects.filter(session_id=session_id, state=UssdState.OPEN).update(
        state=UssdState.ENDED, updated_at=now
    )
    # A final hop that was claimed and never finished (the process stopped between the claim
    # and the push): the session is over; whether the phone was prompted, its push says.
    UssdSession.objects.filter(session_id=session_id, state=UssdState.PAYING).update(
        state=UssdState.ENDED, outcome=ACTION_FAILED, updated_at=now
    )
    return updated == 1
