"""USSD purchases paid from the customer's prepaid wallet: offered only to the phone registered
on the account (and only when wallet purchases have a seller), sold on the final hop with the
token on screen and by SMS, once however often the hop is repeated, and refused with nothing
sold when the wallet does not hold the price."""

from __future__ import annotations

from typing import Any

import pytest

from gridvend.jobs.models import OutboxMessage
from gridvend.kernel.money import Money
from gridvend.meters.models import Meter
from gridvend.mobilemoney.models import StkPush
from gridvend.phone import ussd
from gridvend.phone.models import PhoneProfile, UssdSession, UssdState
from gridvend.vending.models import Sale
from gridvend.wallet import services as wallet_services
from gridvend.wallet.models import Wallet
from gridvend.wallet.selectors import balance
from tests.gateways.ussd.conftest import CALLER, STRANGER, Phones
from tests.gateways.ussd.test_ussd import LANGUAGES

# A word of the payment choice screen in each language.
PAY_WORD = {"en": "My wallet", "ar": "محفظتي", "zh-hans": "我的钱包"}


def buy(phones: Phones, session: str, path: list[str], phone: str = CALLER) -> list[str]:
    """Every screen of a session keying ``path`` one entry a hop, from ``phone``."""
    screens = [phones.screen(session, "", phone=phone)]
    for n in range(1, len(path) + 1):
        screens.append(phones.screen(session, "*".join(path[:n]), phone=phone))
    return screens


pytestmark = pytest.mark.django_db


def wallet_meter(phones: Phones, settings: Any, held: str = "1234.56") -> tuple[Meter, Wallet]:
    """A meter whose account is registered to CALLER, its customer's wallet holding ``held``,
    and the wallet seller configured (the world's cashier at its vending point)."""
    w = phones.paybill.world
    meter = phones.meter(name="John Mwangi", phone=CALLER)
    wallet = wallet_services.open_wallet(actor=w.admin, customer=w.customer(meter))
    wallet_services.top_up_cash(actor=w.cashier, wallet=wallet, amount=w.money(held), receipt="r1")
    settings.WALLET_VENDING_POINT = w.point.code
    settings.WALLET_SELLER = w.cashier.username
    return meter, wallet


@pytest.mark.parametrize(("choice", "language", "word"), LANGUAGES)
def test_a_wallet_purchase_in_each_language_shows_a_token_the_meter_accepts(
    phones: Phones, settings: Any, choice: str, language: str, word: str
) -> None:
    meter, wallet = wallet_meter(phones, settings)
    session = f"ATUid_w_{language}"
    screens = buy(phones, session, [choice, "1", meter.number, "1", "500", "1", "2"])
    assert word in screens[1]
    assert all(s.startswith("CON ") for s in screens[:-1]) and screens[-1].startswith("END ")
    assert all(ussd.fits(s[4:]) for s in screens), screens
    assert "M-Pesa" in screens[-2] and "1,234.56" in screens[-2]
    assert PAY_WORD[language] in screens[-2]
    sale = Sale.objects.get(payment_method="wallet")
    digits = list(sale.tokens.order_by("sequence").values_list("digits", flat=True))
    assert sale.meter == meter and sale.tender_minor == 50000
    assert phones.paybill.tokens_accepted(meter, digits)
    for token in digits:
        assert " ".join(token[i : i + 4] for i in range(0, 20, 4)) in screens[-1]
    assert sale.reference in screens[-1]
    assert balance(wallet) == Money(73456, wallet.currency)
    assert StkPush.objects.count() == 0
    sms = OutboxMessage.objects.get(key=f"sms:sale:{sale.reference}")
    assert sms.payload["to"] == CALLER and sms.payload["language"] == language
    row = UssdSession.objects.get(session_id=session)
    assert (row.state, row.action, row.outcome) == (UssdState.ENDED, "wallet", "")
    assert sale.client_reference == f"{wallet.reference}:{ussd.wallet_request_id(session)}"


def test_a_repeated_wallet_final_hop_sells_once(phones: Phones, settings: Any) -> None:
    meter, wallet = wallet_meter(phones, settings)
    path = ["1", "1", meter.number, "1", "500", "1", "2"]
    first = buy(phones, "ATUid_wrep", path)[-1]
    again = phones.screen("ATUid_wrep", "*".join(path))
    later = phones.screen("ATUid_wrep", "*".join([*path, "1"]))
    assert first == again == later and first.startswith("END ")
    assert Sale.objects.filter(meter=meter).count() == 1
    assert balance(wallet) == Money(73456, wallet.currency)


def test_another_phone_is_never_offered_the_wallet(phones: Phones, settings: Any) -> None:
    meter, wallet = wallet_meter(phones, settings)
    screens = buy(phones, "ATUid_wx", ["1", "1", meter.number, "1", "500", "1"], phone=STRANGER)
    assert screens[-1].startswith("END Approve the M-Pesa prompt")
    assert not any("wallet" in s.lower() or "1,234" in s for s in screens), screens
    push = StkPush.objects.get()
    assert push.phone == STRANGER.lstrip("+")
    # A hop whose path goes on as if the wallet had been offered: the session had ended at
    # the confirm screen; nothing is pushed or sold for it.
    phones.screen("ATUid_wx2", "", phone=STRANGER)
    path = "*".join(["1", "1", meter.number, "1", "500", "1", "2"])
    again = phones.screen("ATUid_wx2", path, phone=STRANGER)
    assert again.startswith("END ") and "wallet" not in again.lower()
    assert StkPush.objects.count() == 1
    assert Sale.objects.count() == 0 and balance(wallet) == Money(123456, wallet.currency)


def test_no_wallet_choice_without_a_seller_or_a_wallet(phones: Phones, settings: Any) -> None:
    meter, _wallet = wallet_meter(phones, settings)
    settings.WALLET_SELLER = ""
    screens = buy(phones, "ATUid_wn", ["1", "1", meter.number, "1", "500", "1"])
    assert screens[-1].startswith("END Approve the M-Pesa prompt")
    other = phones.meter(name="Amina Otieno", phone=CALLER)  # no wallet
    settings.WALLET_SELLER = phones.paybill.world.cashier.username
    screens = buy(phones, "ATUid_wn2", ["1", other.number, "1", "500", "1"])
    assert screens[-1].startswith("END Approve the M-Pesa prompt")
    assert StkPush.objects.count() == 2 and Sale.objects.count() == 0


def test_the_holder_may_still_choose_the_m_pesa_prompt(phones: Phones, settings: Any) -> None:
    meter, wallet = wallet_meter(phones, settings)
    screens = buy(phones, "ATUid_wm", ["1", "1", meter.number, "1", "500", "1", "1"])
    assert screens[-1].startswith("END Approve the M-Pesa prompt")
    assert StkPush.objects.get().amount_minor == 50000
    assert balance(wallet) == Money(123456, wallet.currency)


def test_an_insufficient_wallet_is_refused_in_each_language(phones: Phones, settings: Any) -> None:
    meter, wallet = wallet_meter(phones, settings, held="120.50")
    for choice, language, _word in LANGUAGES:
        session = f"ATUid_wi_{language}"
        PhoneProfile.objects.all().delete()
        screens = buy(phones, session, [choice, "1", meter.number, "1", "500", "1", "2"])
        assert screens[-1].startswith("END ") and "120.50" in screens[-1]
        assert all(ussd.fits(s[4:]) for s in screens), screens
        row = UssdSession.objects.get(session_id=session)
        assert (row.state, row.outcome) == (UssdState.ENDED, "WALLET_INSUFFICIENT")
    assert Sale.objects.count() == 0 and StkPush.objects.count() == 0
    assert balance(wallet) == Money(12050, wallet.currency)


def test_tokens_that_do_not_fit_the_screen_are_sent_by_sms(phones: Phones, settings: Any) -> None:
    from gridvend.meters import keychanges

    meter, wallet = wallet_meter(phones, settings)
    keychanges.request_key_change(
        actor=phones.paybill.world.admin,
        meter=meter,
        base_date_year=meter.base_date_year,
        krn=meter.krn + 1,
        reason="key revision",
    )
    # Arabic (80 UCS-2 characters): the key change tokens and the credit token do not fit.
    screens = buy(phones, "ATUid_wk", ["2", "1", meter.number, "1", "500", "1", "2"])
    sale = Sale.objects.get(payment_method="wallet")
    digits = list(sale.tokens.order_by("sequence").values_list("digits", flat=True))
    assert len(digits) >= 3 and phones.paybill.tokens_accepted(meter, digits)
    assert ussd.fits(screens[-1][4:]) and sale.reference in screens[-1]
    assert "تم الدفع" in screens[-1] and digits[0][:4] not in screens[-1]
    assert OutboxMessage.objects.filter(key=f"sms:sale:{sale.reference}").count() == 1
    assert balance(wallet) == Money(73456, wallet.currency)


def test_a_wrong_entry_on_the_payment_choice_is_asked_again(phones: Phones, settings: Any) -> None:
    meter, wallet = wallet_meter(phones, settings)
    screens = buy(phones, "ATUid_ww", ["1", "1", meter.number, "1", "500", "1", "3", "x", "2"])
    assert screens[-3].startswith("CON Choose 1 or 2.\nPay with")
    assert screens[-2].startswith("CON Choose 1 or 2.\nPay with")
    assert screens[-1].startswith("END ") and Sale.objects.filter(meter=meter).count() == 1
    assert balance(wallet) == Money(73456, wallet.currency)
