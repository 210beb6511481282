"""Two-way SMS, the one handler of every message customers send (the short code's aggregator
posts to ``/phone/<secret>/sms/inbound``, the voice aggregator to ``/voice/sms``): a message is
recorded once per aggregator ``id`` and read as a command — ``BUY <meter> <amount>`` (an M-Pesa
prompt to the sender), ``TOKEN <meter>`` (the last token), ``BAL <meter>`` (debt and last
purchase) or ``BAL <account>`` (a postpaid account's bill, arrears and last payment),
``LANG <en|ar|zh>``, ``HELP`` — in any case and spacing, and answered by SMS in the sender's
language. A token or a balance goes only to the phone registered on the account or the phone that
paid. Each phone has a budget of messages an hour; past it, messages are recorded and not
answered (one warning is sent). Without a paybill the phone channels sell through, everything
but buying and a meter's debt is still answered."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from gridvend.dunning import enquiry
from gridvend.kernel.errors import DomainError
from gridvend.kernel.inputs import text_problem
from gridvend.kernel.money import Money
from gridvend.meters.models import Meter
from gridvend.mobilemoney import services as mobile
from gridvend.mobilemoney.models import MobileProvider, StkPush
from gridvend.notifications.rendering import isolate
from gridvend.notifications.services import queue_sms
from gridvend.phone import common
from gridvend.phone.errors import PhoneBalanceUnknown, PhoneChannelUnavailable, PhoneTooManyRequests
from gridvend.phone.models import InboundSms, SmsCommand

MAX_TEXT = 480
REPLY_TEMPLATE = "phone_reply"
_LANGS = {"EN": "en", "AR": "ar", "ZH": "zh-hans", "ZH-HANS": "zh-hans", "CN": "zh-hans"}
_SPACES = re.compile(r"\s+")
T = TypeVar("T")


@dataclass(frozen=True)
class Command:
    keyword: str  # one of SmsCommand, "" when not understood
    meter: str = ""
    amount: str = ""
    language: str = ""


def parse(text: str) -> Command:
    """A message read as a command: keyword in any case, words split by any spacing. ``BUY``
    takes the last word as the amount and the words before it as the meter number (customers
    write meter numbers in groups)."""
    words = _SPACES.sub(" ", text.strip()).split(" ") if text.strip() else []
    if not words:
        return Command("")
    keyword, rest = words[0].upper(), words[1:]
    if keyword == "HELP" and not rest:
        return Command(SmsCommand.HELP)
    if keyword == "LANG" and len(rest) == 1 and rest[0].upper() in _LANGS:
        return Command(SmsCommand.LANG, language=_LANGS[rest[0].upper()])
    if keyword in ("TOKEN", "BAL") and rest:
        meter = common.clean_digits("".join(rest), maximum=common.MAX_METER_DIGITS)
        if meter is not None:
            return Command(keyword, meter=meter)
    if keyword == "BUY" and len(rest) >= 2:
        meter = common.clean_digits("".join(rest[:-1]), maximum=common.MAX_METER_DIGITS)
        amount = common.clean_digits(rest[-1], maximum=9, grouped=False)
        if meter is not None and amount is not None:
            return Command(SmsCommand.BUY, meter=meter, amount=amount)
    return Command("")


def readable(raw: str) -> str:
    """A customer's message as typed: line breaks, tabs and other control or invisible
    characters become spaces (a phone sends what it sends, and the aggregator would post a
    refused message again and again). Not cut here: a message longer than MAX_TEXT is not
    read as a command (cut, "BUY <meter> … 50000" could become an order for 500)."""
    value = raw[: MAX_TEXT * 2]
    return "".join(" " if text_problem(ch) is not None else ch for ch in value).strip()


def help_text() -> str:
    return _(
        "Send BUY <meter> <amount> to buy, TOKEN <meter> for the last token, BAL <meter> for "
        "the debt or BAL <account> for a postpaid bill, LANG EN, AR or ZH for the language."
    )


Reply = tuple[str, str, StkPush | None]


def _provider(provider: MobileProvider | None) -> MobileProvider:
    if provider is None:
        raise PhoneChannelUnavailable()
    return provider


def _postpaid_balance(phone: str, number: str, language: str) -> str:
    """``BAL <account>``: the postpaid account's figures, to its registered phone only."""
    found = enquiry.balance_sms(number, phone, language=language)
    if found is None:
        raise PhoneBalanceUnknown(number=number)
    return found[0]


def _reply(provider: MobileProvider | None, phone: str, cmd: Command, language: str) -> Reply:
    """The reply text, the outcome code (empty when done) and the push a purchase started."""
    keyword = cmd.keyword
    if keyword == SmsCommand.HELP:
        return help_text(), "", None
    if keyword == SmsCommand.LANG:
        common.remember_language(phone, cmd.language)
        with translation.override(cmd.language):
            return _("Language saved.") + " " + help_text(), "", None
    if keyword == "":
        return _("Not understood.") + " " + help_text(), "NOT_UNDERSTOOD", None
    try:
        if keyword == SmsCommand.TOKEN:
            found = common.last_token(phone, cmd.meter)
            if found is None:
                return (
                    _("No token yet for meter %(meter)s.")
                    % {"meter": isolate(cmd.meter, language)},
                    "NONE",
                    None,
                )
            return (
                _("Meter %(meter)s, %(day)s: %(tokens)s (ref %(reference)s)")
                % {
                    "meter": isolate(found.sale.meter.number, language),
                    "day": isolate(found.when.isoformat(), language),
                    "tokens": ", ".join(isolate(t, language) for t in found.tokens),
                    "reference": isolate(found.sale.reference, language),
                },
                "",
                None,
            )
        if keyword == SmsCommand.BAL:
            if not Meter.objects.filter(number=cmd.meter).exists():
                return _postpaid_balance(phone, cmd.meter, language), "", None
            bal = common.balance(_provider(provider), phone, cmd.meter)
            text = _("Meter %(meter)s: debt %(debt)s.") % {
                "meter": isolate(bal.meter, language),
                "debt": isolate(bal.debt.format(), language),
            }
            if bal.last_amount is not None and bal.last_on is not None:
                text += " " + _("Last purchase %(amount)s on %(day)s.") % {
                    "amount": isolate(bal.last_amount.format(), language),
                    "day": isolate(bal.last_on.isoformat(), language),
                }
            return text, "", None
        assert keyword == SmsCommand.BUY
        provider = _provider(provider)
        found_meter = common.lookup(provider, cmd.meter)
        amount = Money.from_major(cmd.amount, found_meter.currency)
        push = mobile.request_stk_push(
            actor=common.channel_actor(provider),
            provider=provider,
            phone=phone,
            meter_number=found_meter.meter.number,
            amount=amount,
            channel="sms",
            language=language,
        )
        return (
            _(
                "Approve the M-Pesa prompt for %(amount)s to meter %(meter)s. "
                "The token comes by SMS."
            )
            % {
                "amount": isolate(amount.format(), language),
                "meter": isolate(found_meter.meter.number, language),
            },
            "",
            push,
        )
    except DomainError as refusal:
        return str(refusal.message), str(refusal.code), None


def receive(
    *,
    message_id: str,
    phone: str,
    to: str,
    text: str,
    sent_at: str = "",
    link_id: str = "",
    network_code: str = "",
) -> tuple[InboundSms, bool]:
    """Record an inbound message (once per ``message_id``) and answer it. Returns the record
    and whether it was new (a repeat from the aggregator is acknowledged and does nothing)."""
    try:
        provider: MobileProvider | None = common.channel_provider()
    except PhoneChannelUnavailable:
        provider = None
    text = readable(text)
    cmd = parse(text) if len(text) <= MAX_TEXT else Command("")
    try:
        with transaction.atomic(durable=True):
            message = InboundSms.objects.create(
                provider=provider,
                message_id=message_id,
                phone=phone,
                to=to[:20],
                text=text[:MAX_TEXT],
                sent_at_text=sent_at[:40],
                link_id=link_id[:100],
                network_code=network_code[:10],
                command=cmd.keyword,
            )
    except IntegrityError:
        return InboundSms.objects.get(message_id=message_id), False
    language = common.reply_language(phone)
    try:
        common.take_rate(phone, "sms", settings.PHONE_SMS_PER_HOUR)
    except PhoneTooManyRequests as refusal:
        over = InboundSms.objects.filter(phone=phone, outcome=refusal.code).exists()
        warning = refusal.message
        reply = "" if over else _in(language, lambda: str(warning))
        return _answer(message, reply, str(refusal.code), language, None), True
    reply, outcome, push = _in(language, lambda: _reply(provider, phone, cmd, language))
    if cmd.keyword == SmsCommand.LANG:
        language = cmd.language
    return _answer(message, reply, outcome, language, push), True


def _in(language: str, make: Callable[[], T]) -> T:
    with translation.override(language):
        return make()


def _answer(
    message: InboundSms, reply: str, outcome: str, language: str, push: StkPush | None
) -> InboundSms:
    key = f"phone-sms:{message.message_id}"[:150]
    with transaction.atomic(durable=True):
        if reply:
            queue_sms(
                to=message.phone,
                template=REPLY_TEMPLATE,
                context={"text": reply},
                key=key,
                language=language,
            )
        InboundSms.objects.filter(pk=message.pk).update(
            outcome=outcome[:60], reply_key=f"sms:{key}" if reply else "", stk_push=push
        )
    message.refresh_from_db()
    return message
