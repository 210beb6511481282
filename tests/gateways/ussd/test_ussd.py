"""USSD sessions through the Africa's Talking endpoint: a purchase in each language ending in a
token the meter accepts, the repeated final hop, privacy, screens within the limits, and what a
hostile or clumsy caller keys."""

from __future__ import annotations

import pytest

from gridvend.jobs.models import OutboxMessage
from gridvend.meters.models import FaultReport
from gridvend.mobilemoney.models import StkPush, StkState
from gridvend.phone import ussd
from gridvend.phone.models import PhoneProfile, UssdSession, UssdState
from gridvend.vending.models import Sale
from tests.gateways.ussd.conftest import CALLER, STRANGER, Phones

pytestmark = pytest.mark.django_db

# The language chosen on the first screen, and a word each screen of it must show.
LANGUAGES = [("1", "en", "Buy electricity"), ("2", "ar", "شراء"), ("3", "zh-hans", "购买")]


def buy(phones: Phones, session: str, path: list[str]) -> list[str]:
    """Every screen of a session keying ``path`` one entry a hop."""
    screens = [phones.screen(session, "")]
    for n in range(1, len(path) + 1):
        screens.append(phones.screen(session, "*".join(path[:n])))
    return screens


@pytest.mark.parametrize(("choice", "language", "word"), LANGUAGES)
def test_a_ussd_purchase_in_each_language_ends_in_a_token_the_meter_accepts(
    phones: Phones, choice: str, language: str, word: str
) -> None:
    meter = phones.meter(name="John Mwangi")
    path = [choice, "1", meter.number, "1", "500", "1"]
    screens = buy(phones, f"ATUid_{language}", path)
    assert screens[0].startswith("CON ") and "1 English" in screens[0]
    assert word in screens[1]
    assert "J*** M***" in screens[3] and "John" not in screens[3]
    assert all(s.startswith("CON ") for s in screens[:-1])
    assert screens[-1].startswith("END ")
    assert all(ussd.fits(s[4:]) for s in screens), screens
    assert PhoneProfile.objects.get(phone=CALLER).language == language
    push = StkPush.objects.get()
    assert (push.phone, push.amount_minor, push.channel) == ("254712345126", 50000, "ussd")
    # The sale happens when the phone pays: the sandbox's callback, sent as Safaricom would.
    phones.paybill.deliver_held()
    push.refresh_from_db()
    assert push.state == StkState.PAID
    _payment, sale, digits = phones.paybill.sold(push.payment)
    assert sale.meter == meter and sale.tender_minor == 50000
    assert phones.paybill.tokens_accepted(meter, digits)
    sms = OutboxMessage.objects.get(key=f"sms:sale:{sale.reference}")
    # The token SMS is written in the language of the menu the buyer chose (the account has
    # none of its own here, so the utility's English would be used otherwise).
    assert sms.payload["to"] == CALLER and sms.payload["language"] == language
    assert push.language == language
    session = UssdSession.objects.get(session_id=f"ATUid_{language}")
    assert session.state == UssdState.ENDED and session.stk_push == push


def test_a_repeated_final_hop_pushes_once_and_sells_once(phones: Phones) -> None:
    meter = phones.meter()
    path = ["1", "1", meter.number, "1", "500", "1"]
    first = buy(phones, "ATUid_rep", path)[-1]
    again = phones.screen("ATUid_rep", "*".join(path))
    later = phones.screen("ATUid_rep", "*".join([*path, "1"]))
    assert first == again == later
    assert StkPush.objects.count() == 1
    phones.paybill.deliver_held()
    phones.screen("ATUid_rep", "*".join(path))
    phones.paybill.deliver_held()
    assert Sale.objects.filter(meter=meter).count() == 1


def test_the_language_is_remembered_for_the_next_session(phones: Phones) -> None:
    buy(phones, "ATUid_l1", ["3"])
    first = phones.screen("ATUid_l2", "")
    assert "购买" in first and "English" not in first


def test_every_screen_fits_in_every_language(phones: Phones) -> None:
    meter = phones.meter(name="Wanjiku Nyambura Kamau Otieno", phone=CALLER)
    buy(phones, "ATUid_fit0", ["1", "1", meter.number, "1", "500", "1"])
    phones.paybill.deliver_held()
    paths = [
        ["1", "1", meter.number, "1", "500", "1"],
        ["1", "1", meter.number, "1", "x"],
        ["1", "1", "abc", "", "99999999999"],
        ["2", meter.number],
        ["3", Sale.objects.get().reference],
        ["3", "NOSUCHREF"],
        ["4", meter.number],
        ["5", meter.number, "9", "2"],
        ["6", "2"],
        ["9", "9", "9"],
        ["1", "2", "x", "y", "z"],
    ]
    n = 0
    for choice, _language, _word in LANGUAGES:
        for path in paths:
            n += 1
            PhoneProfile.objects.all().delete()
            for screen in buy(phones, f"ATUid_fit{n}", [choice, *path]):
                assert screen.startswith(("CON ", "END ")), screen
                assert ussd.fits(screen[4:]), (len(screen), screen)


def test_letters_empty_hops_and_stars_are_asked_again_then_the_session_ends(
    phones: Phones,
) -> None:
    meter = phones.meter()
    assert "digits only" in phones.screen("ATUid_h", "1*1*04X")
    assert "digits only" in phones.screen("ATUid_h", "1*1*04X*")
    # A star inside the amount splits it: "5*00" is 5 (refused) and then 00 (refused too).
    text = f"1*1*04X*{meter.number}*1*5*00"
    screen = phones.screen("ATUid_h", text)
    assert screen.startswith("END ") and "Too many wrong entries" in screen
    assert not StkPush.objects.exists()


def test_an_amount_outside_the_tariffs_limits_is_asked_again(phones: Phones) -> None:
    meter = phones.meter()
    screen = phones.screen("ATUid_a", f"1*1*{meter.number}*1*0")
    assert screen.startswith("CON ") and "not possible" in screen
    screen = phones.screen("ATUid_a", f"1*1*{meter.number}*1*0*999999999")
    assert screen.startswith("CON ") and "not possible" in screen


def test_an_unknown_meter_is_asked_again(phones: Phones) -> None:
    screen = phones.screen("ATUid_u", "1*1*01234567890")
    assert screen.startswith("CON ") and "No such meter" in screen


def test_very_long_input_is_refused_before_it_is_read(phones: Phones) -> None:
    screen = phones.screen("ATUid_long", "1*" * 100)
    assert screen.startswith("END ") and "Too much input" in screen
    huge = phones.hop("ATUid_long", "1*" * 5000)  # past the body cap: not even parsed
    assert huge.status_code == 200 and huge.content.startswith(b"END ")
    assert huge["X-Gridvend-Error"] == "PHONE_CALLBACK_INVALID"
    assert not UssdSession.objects.exists()


@pytest.mark.parametrize(
    "form",
    [
        {"sessionId": "", "phoneNumber": CALLER},
        {"sessionId": "ATUid_x", "phoneNumber": "not a phone"},
        {"sessionId": "ATUid_x", "phoneNumber": CALLER, "text": "1\x00"},
    ],
)
def test_a_broken_hop_is_answered_with_an_end_screen(phones: Phones, form: dict) -> None:
    reply = phones.post("ussd", form)
    assert reply.status_code == 200 and reply.content.startswith(b"END ")


def test_a_hop_from_another_address_or_with_a_wrong_secret_is_refused(phones: Phones) -> None:
    reply = phones.hop("ATUid_ip", "", ip="203.0.113.9")
    assert reply.status_code == 403 and reply.content.startswith(b"END ")
    wrong = phones.paybill.client.post(
        "/phone/0123456789abcdef0123456789abcdef/ussd",
        data="sessionId=s&phoneNumber=%2B254712345126&text=",
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR="127.0.0.1",
    )
    assert wrong.status_code == 403
    assert phones.paybill.client.get(phones.path("ussd")).status_code == 405
    assert not UssdSession.objects.exists()


def test_last_token_only_to_the_registered_phone_or_the_payer(phones: Phones) -> None:
    meter = phones.meter(phone="+254733000222")
    buy(phones, "ATUid_t0", ["1", "1", meter.number, "1", "500", "1"])
    phones.paybill.deliver_held()
    sale = Sale.objects.get(meter=meter)
    token = sale.tokens.order_by("sequence").first().digits  # type: ignore[union-attr]
    grouped = " ".join(token[i : i + 4] for i in range(0, 20, 4))
    # The payer's language is remembered from the first session: no language screen now.
    assert grouped in phones.screen("ATUid_t1", f"2*{meter.number}")
    assert grouped in phones.screen("ATUid_t2", f"1*2*{meter.number}", phone="+254733000222")
    refused = phones.screen("ATUid_t3", f"1*2*{meter.number}", phone=STRANGER)
    assert refused.startswith("END Only") and grouped not in refused
    assert grouped in phones.screen("ATUid_t4", f"3*{sale.reference}")
    refused = phones.screen("ATUid_t5", f"3*{sale.reference}", phone=STRANGER)
    assert grouped not in refused
    refused = phones.screen("ATUid_t6", f"4*{meter.number}", phone=STRANGER)
    assert refused.startswith("END Only")
    assert "Debt KES 0" in phones.screen("ATUid_t7", f"4*{meter.number}")


def test_a_fault_report_is_recorded_against_the_meter(phones: Phones) -> None:
    meter = phones.meter()
    screen = phones.screen("ATUid_f", f"1*5*{meter.number}*1")
    assert screen.startswith("END ")
    fault = FaultReport.objects.get(meter=meter)
    assert (fault.category, fault.reporter_phone) == ("no_supply", CALLER)
    phones.screen("ATUid_f", f"1*5*{meter.number}*1")
    assert FaultReport.objects.count() == 1


def test_the_end_of_session_event_is_recorded(phones: Phones) -> None:
    phones.screen("ATUid_e", "")
    reply = phones.post(
        "ussd-events",
        {
            "sessionId": "ATUid_e",
            "status": "Incomplete",
            "cost": "KES 0.10",
            "durationInMillis": "3200",
            "hopsCount": "1",
            "input": "",
            "date": "2026-12-01 10:00:00",
        },
    )
    assert reply.json() == {"status": "recorded"}
    session = UssdSession.objects.get()
    assert (session.ended_status, session.ended_duration_ms, session.state) == (
        "Incomplete",
        3200,
        UssdState.ENDED,
    )


def test_a_final_hop_that_breaks_ends_the_session_as_failed(
    phones: Phones, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An error that is no refusal (a fault of ours or of the provider's link) ends the
    session with the failed screen; a repeat of the hop is told the same, nothing stays
    "paying"."""
    meter = phones.meter()

    def broken(**_kwargs: object) -> None:
        raise ConnectionResetError("the provider's link dropped")

    monkeypatch.setattr(ussd.mobile, "request_stk_push", broken)
    screens = buy(phones, "ATUid_broken", ["1", "1", meter.number, "1", "500", "1"])
    session = UssdSession.objects.get(session_id="ATUid_broken")
    assert screens[-1].startswith("END ") and "Approve" not in screens[-1]
    assert (session.state, session.outcome) == (UssdState.ENDED, ussd.ACTION_FAILED)
    assert phones.screen("ATUid_broken", f"1*1*{meter.number}*1*500*1") == screens[-1]
    assert any("final action buy failed" in r.getMessage() for r in caplog.records)


def test_the_end_event_closes_a_final_hop_that_never_finished(phones: Phones) -> None:
    phones.screen("ATUid_p", "")
    UssdSession.objects.filter(session_id="ATUid_p").update(state=UssdState.PAYING)
    phones.post("ussd-events", {"sessionId": "ATUid_p", "status": "Success", "input": ""})
    session = UssdSession.objects.get(session_id="ATUid_p")
    assert (session.state, session.outcome) == (UssdState.ENDED, ussd.ACTION_FAILED)
