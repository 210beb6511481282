"""Review 14 probe: the IVR reads any account's balance to any caller, without limit per call."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dunning.conftest import Dunning, dunning, scene  # noqa: F401
from tests.gateways.voice.test_enquiry import call, enquiry, said  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_call_from_a_stranger_cannot_walk_the_account_numbers(
    enquiry: Dunning,  # noqa: F811
    live_server: Any,
) -> None:
    d = enquiry
    d.pay(d.s.a, 100000, "BANK-ENUM")
    known = {d.customer(d.s.a).account_number, d.customer(d.s.b).account_number}
    tries = sorted(known) + [f"{n:0{len(next(iter(known)))}d}" for n in range(1, 19)]
    answered = []
    for number in tries:
        # The same call (sessionId), a caller whose phone is on no account.
        _status, _headers, body = call(live_server, digits=f"{number}#")
        if b"<GetDigits" not in body:
            answered.append((number, said(body)[:80]))
    # A stranger keyed 20 account numbers in one call and heard every real one's balance and
    # last payment; expected: the call is cut off after a few failed tries, or the balance is
    # given only to the account's registered phone (as the SMS does).
    assert len(tries) <= 5 or len(answered) < len(known), answered
