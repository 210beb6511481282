"""One customer never sees or buys for another's meter: every portal URL tried by one login
with the other's meter numbers and purchase ids is refused and changes nothing; and staff and
customer sessions never cross, both ways, also with one's session key in the other's cookie."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from gridvend.logins.models import PortalPurchase
from gridvend.meters.models import Meter
from tests.portal.conftest import PASSWORD, Portal
from tests.signin import signed_in
from tests.world import snapshot

pytestmark = pytest.mark.django_db


def _purchase(portal: Portal, client: Client, meter: Meter) -> PortalPurchase:
    client.post(
        "/portal/buy/pay/",
        {
            "meter": meter.number,
            "amount": "300",
            "phone": "0712 345 126",
            "method": "mobile_money",
            "request_id": f"isolation-{meter.pk}-0001",
        },
    )
    portal.paybill.deliver_held()
    return PortalPurchase.objects.get(meter=meter)


def _unchanged(client: Client, method: str, url: str, data: dict[str, Any] | None = None) -> Any:
    before = snapshot()
    response = client.post(url, data or {}) if method == "post" else client.get(url)
    assert snapshot() == before, f"{method} {url} changed something"
    return response


def test_another_customers_meter_and_purchase_are_refused_everywhere(portal: Portal) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    brian = portal.sign_up(portal.other, "brian")
    hers = _purchase(portal, amina, portal.meter)
    his = _purchase(portal, brian, portal.other)
    mine = f"/portal/purchases/{his.pk}/"
    assert brian.get(mine).status_code == 200
    # Her purchase page, by him: 404, as for an id that does not exist.
    assert _unchanged(brian, "get", f"/portal/purchases/{hers.pk}/").status_code == 404
    assert _unchanged(brian, "get", "/portal/purchases/999999/").status_code == 404
    # Her meter, named in every form that takes a meter.
    body = {
        "meter": portal.meter.number,
        "amount": "300",
        "phone": "0712 999 888",
        "method": "mobile_money",
        "request_id": "isolation-brian-her-meter",
    }
    for url in ("/portal/buy/", "/portal/buy/pay/"):
        answer = _unchanged(brian, "post", url, body)
        assert answer.status_code == 400
        assert 'id="breakdown"' not in answer.content.decode()
    page = _unchanged(brian, "get", f"/portal/buy/?meter={portal.meter.number}").content.decode()
    assert f'value="{portal.meter.number}"' not in page
    # His home lists his meter and purchases only.
    home = brian.get("/portal/").content.decode()
    assert portal.other.number in home and portal.meter.number not in home
    # Adding her meter needs her account number and the code sent to her phone. The refused
    # proof is counted against her meter number (and audited), so that account numbers cannot
    # be tried without limit; nothing else changes.
    before = snapshot()
    refused = brian.post(
        "/portal/meters/add/",
        {
            "meter_number": portal.meter.number,
            "account_number": portal.customer(portal.other).account_number,
            "channel": "sms",
        },
    )
    assert refused.status_code == 400
    after = snapshot()
    assert [row["meter_number"] for row in after.pop("logins.ProofFailure")] == [
        portal.meter.number
    ]
    assert before.pop("logins.ProofFailure") == []
    earlier = before.pop("audit.AuditEvent")
    added = [e for e in after.pop("audit.AuditEvent") if e not in earlier]
    assert [e["event_type"] for e in added] == ["portal_proof.refused"]
    after.pop("audit.AuditHead"), before.pop("audit.AuditHead")
    assert after == before


def test_a_code_sent_for_one_login_does_not_serve_another(portal: Portal) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    brian = portal.sign_up(portal.other, "brian")
    amina.post(
        "/portal/meters/add/",
        {
            "meter_number": portal.other.number,
            "account_number": portal.customer(portal.other).account_number,
            "channel": "sms",
        },
    )
    code = portal.last_code("+254712999888")
    # Brian has no code in his session: the step sends him back, and nothing changes.
    answer = _unchanged(brian, "post", "/portal/meters/add/code/", {"code": code})
    assert answer.status_code == 302


def test_a_customer_session_opens_no_staff_page(portal: Portal) -> None:
    client = portal.sign_up(portal.meter, "amina")
    cookie = client.cookies[settings.PORTAL_SESSION_COOKIE_NAME]
    assert cookie["path"] == "/portal/" and cookie["httponly"]
    for url in ("/", "/cashier/", "/customers/"):
        answer = client.get(url)
        assert answer.status_code == 302 and answer["Location"].startswith("/login/"), url
    # Its key in the staff cookie is no staff session either.
    staff = Client()
    staff.cookies[settings.SESSION_COOKIE_NAME] = cookie.value
    answer = staff.get("/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")


def test_a_staff_session_opens_no_portal_page(portal: Portal) -> None:
    staff = signed_in(portal.paybill.world.admin)
    assert staff.get("/").status_code == 200
    answer = staff.get("/portal/")
    assert answer.status_code == 302 and answer["Location"].startswith("/portal/login/")
    # Its key in the portal cookie opens nothing either.
    key = staff.cookies[settings.SESSION_COOKIE_NAME].value
    client = Client()
    client.cookies[settings.PORTAL_SESSION_COOKIE_NAME] = key
    answer = client.get("/portal/")
    assert answer.status_code == 302 and answer["Location"].startswith("/portal/login/")
    # And the staff session survives the visit.
    assert staff.get("/").status_code == 200


def test_both_sessions_in_one_browser_stay_apart(portal: Portal) -> None:
    client = portal.sign_up(portal.meter, "amina")
    client.force_login(portal.paybill.world.admin)
    session = client.session
    session["gv_second_factor"] = True
    session.save()
    assert client.get("/").status_code == 200
    assert client.get("/portal/").status_code == 200
    client.post("/portal/logout/")
    assert client.get("/portal/")["Location"].startswith("/portal/login/")
    assert client.get("/").status_code == 200


def test_a_session_planted_before_sign_in_is_replaced(portal: Portal) -> None:
    portal.sign_up(portal.meter, "amina")
    client = Client()
    client.get("/portal/sign-up/")
    client.post("/portal/reset/", {"username": "nobody", "channel": "sms"})
    planted = client.cookies[settings.PORTAL_SESSION_COOKIE_NAME].value
    client.post("/portal/login/", {"username": "amina", "password": PASSWORD})
    assert client.cookies[settings.PORTAL_SESSION_COOKIE_NAME].value != planted
    other = Client()
    other.cookies[settings.PORTAL_SESSION_COOKIE_NAME] = planted
    assert other.get("/portal/").status_code == 302
