"""One customer never sees or buys for another's meter: every portal URL tried by one login
with the other's meter numbers and purchase ids is refused and changes nothing; and staff and
customer sessions never cross, both ways, also with one's session key in the other's cookie."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from gridvend.logins.models import PortalFault, PortalPurchase
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


def test_another_customers_wallet_is_refused_everywhere(portal: Portal, settings: Any) -> None:
    """Every wallet URL, tried by one login with the other's account number, card payment,
    mobile-money top-up and wallet-paid sale: 404 as for things that do not exist, nothing
    changed; his meter in her forms is refused too; and a staff session opens none of them."""
    from gridvend.mobilemoney.models import StkPush
    from gridvend.vending.models import Sale
    from gridvend.wallet.models import CardPayment

    settings.WALLET_VENDING_POINT = portal.paybill.world.point.code
    settings.WALLET_SELLER = portal.paybill.world.cashier.username
    amina = portal.sign_up(portal.meter, "amina")
    brian = portal.sign_up(portal.other, "brian")
    hers = portal.customer(portal.meter).account_number
    his = portal.customer(portal.other).account_number
    # She tops up by card and by phone, and buys from her wallet.
    started = amina.post(
        f"/portal/wallet/{hers}/top-up/",
        {"amount": "500", "method": "card:sandbox", "request_id": "isolation-card-0001"},
    )
    amina.post(started["Location"], {"outcome": "paid"})
    amina.post(
        f"/portal/wallet/{hers}/top-up/",
        {
            "amount": "50",
            "method": "mobile_money",
            "phone": "0712 345 126",
            "request_id": "isolation-stk-0001",
        },
    )
    body = {
        "meter": portal.meter.number,
        "amount": "300",
        "method": "wallet",
        "request_id": "isolation-wallet-0001",
    }
    assert amina.post("/portal/buy/pay/wallet/", body).status_code == 302
    card = CardPayment.objects.get()
    push = StkPush.objects.get()
    sale = Sale.objects.get()
    assert amina.get(f"/portal/wallet/{hers}/sales/{sale.reference}/").status_code == 200
    assert brian.get(f"/portal/wallet/{his}/").status_code == 200
    urls = [
        f"/portal/wallet/{hers}/",
        f"/portal/wallet/{hers}/?page=2",
        f"/portal/wallet/{hers}/statement.pdf?month=2026-01",
        f"/portal/wallet/{hers}/top-up/",
        f"/portal/wallet/{hers}/top-ups/{push.pk}/",
        f"/portal/wallet/{hers}/auto-purchase/",
        f"/portal/wallet/{hers}/sales/{sale.reference}/",
        f"/portal/wallet/card/{card.reference}/",
        # Her things under his own wallet's address.
        f"/portal/wallet/{his}/top-ups/{push.pk}/",
        f"/portal/wallet/{his}/sales/{sale.reference}/",
        "/portal/wallet/0000000000/",
    ]
    for url in urls:
        assert _unchanged(brian, "get", url).status_code == 404, url
    posts = {
        f"/portal/wallet/{hers}/top-up/": {
            "amount": "10",
            "method": "card:sandbox",
            "request_id": "isolation-brian-card",
        },
        f"/portal/wallet/{hers}/auto-purchase/": {
            "enabled": "on",
            "meter": portal.meter.number,
            "threshold": "100",
            "amount": "50",
        },
    }
    for url, data in posts.items():
        assert _unchanged(brian, "post", url, data).status_code == 404, url
    # Her meter in his auto-purchase and in his wallet payment: refused beside the form.
    refused = _unchanged(
        brian,
        "post",
        f"/portal/wallet/{his}/auto-purchase/",
        {"enabled": "on", "meter": portal.meter.number, "threshold": "100", "amount": "50"},
    )
    assert refused.status_code == 400
    paid = _unchanged(
        brian, "post", "/portal/buy/pay/wallet/", {**body, "request_id": "isolation-brian-0001"}
    )
    assert paid.status_code == 400
    # A staff session is sent to the portal's sign-in from every one of them.
    staff = signed_in(portal.paybill.world.admin)
    for url in urls[:8]:
        answer = _unchanged(staff, "get", url)
        assert answer.status_code == 302 and answer["Location"].startswith("/portal/login/"), url
    for url, data in posts.items():
        answer = _unchanged(staff, "post", url, data)
        assert answer.status_code == 302 and answer["Location"].startswith("/portal/login/"), url


def test_another_customers_tokens_receipts_and_help_answer_404(portal: Portal) -> None:
    """Token status, the token again, the receipt copy and the rejected-token help, each tried
    by another customer with her receipt numbers: 404 as for one that does not exist, nothing
    written (no audited copy either); staff sessions get the portal's sign-in."""
    from tests.receipts.helpers import sell

    world = portal.paybill.world
    amina = portal.sign_up(portal.meter, "amina")
    brian = portal.sign_up(portal.other, "brian")
    hers = sell(world, portal.meter, "500.00")
    his = sell(world, portal.other, "400.00")
    urls = (
        "/portal/tokens/{}/",
        "/portal/tokens/{}/receipt.pdf",
        "/portal/tokens/{}/rejected/",
    )
    for url in urls:
        assert amina.get(url.format(hers.reference)).status_code == 200
        assert _unchanged(brian, "get", url.format(hers.reference)).status_code == 404
        assert _unchanged(brian, "get", url.format("NOSUCHREF")).status_code == 404
        assert brian.get(url.format(his.reference)).status_code == 200
    listing = brian.get("/portal/tokens/").content.decode()
    assert his.reference in listing and hers.reference not in listing
    staff = signed_in(world.admin)
    for url in ("/portal/tokens/", *(u.format(hers.reference) for u in urls)):
        answer = _unchanged(staff, "get", url)
        assert answer.status_code == 302 and answer["Location"].startswith("/portal/login/"), url


def test_another_customers_faults_meter_and_purchase_are_refused_on_every_fault_page(
    portal: Portal,
) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    brian = portal.sign_up(portal.other, "brian")
    sale = _purchase(portal, amina, portal.meter).push.payment.sale  # type: ignore[union-attr]
    assert sale is not None
    form = {
        "meter": portal.meter.number,
        "kind": "no_supply",
        "description": "no power",
        "request_id": "isolation-fault-0001",
    }
    assert amina.post("/portal/faults/new/", form).status_code == 302
    hers = PortalFault.objects.get()
    assert amina.get(f"/portal/faults/{hers.fault_id}/").status_code == 200
    # Her report, her meter and her purchase, by him: 404, as for ids that do not exist.
    for url in (
        f"/portal/faults/{hers.fault_id}/",
        "/portal/faults/999999/",
        f"/portal/faults/new/?meter={portal.meter.number}",
        f"/portal/faults/new/?meter={portal.meter.pk}",
        f"/portal/faults/new/?purchase={sale.pk}",
        f"/portal/faults/new/?meter={portal.other.number}&purchase={sale.pk}",
    ):
        assert _unchanged(brian, "get", url).status_code == 404, url
    # Her meter, or her purchase on his meter, in the form he posts.
    for body in (
        {**form, "request_id": "isolation-fault-0002"},
        {
            **form,
            "meter": portal.other.number,
            "purchase": str(sale.pk),
            "request_id": "isolation-fault-0003",
        },
        # Her request id on his login is his own form: it makes a report only for him.
    ):
        assert _unchanged(brian, "post", "/portal/faults/new/", body).status_code == 400
    listed = brian.get("/portal/faults/").content.decode()
    assert f"/portal/faults/{hers.fault_id}/" not in listed and portal.meter.number not in listed
    # A staff session opens no portal fault page: it is sent to the portal's sign-in.
    staff = signed_in(portal.paybill.world.admin)
    for url in ("/portal/faults/", "/portal/faults/new/", f"/portal/faults/{hers.fault_id}/"):
        answer = staff.get(url)
        assert answer.status_code == 302 and answer["Location"].startswith("/portal/login/"), url


def test_another_customers_bill_payment_is_refused_and_changes_nothing(
    portal: Portal, settings: Any
) -> None:
    from tests.portal.test_bill_pay import _form, _fund, _signed_up

    zawadi, bill = _signed_up(portal, settings)
    _fund("zawadi", bill, "5000")
    form = _form(zawadi)
    account = bill.customer.account_number
    paid = zawadi.post(f"/portal/bills/{account}/pay/", form)
    assert paid.status_code == 302
    amina = portal.sign_up(portal.meter, "amina")
    # Her account named in the pay form and his receipt, by another login: 404, nothing written.
    other = {**form, "request_id": "isolation-amina-bill-0001"}
    assert _unchanged(amina, "post", f"/portal/bills/{account}/pay/", other).status_code == 404
    assert _unchanged(amina, "get", paid["Location"]).status_code == 404
    mine = portal.customer(portal.meter).account_number
    pk = paid["Location"].rstrip("/").rsplit("/", 1)[1]
    assert _unchanged(amina, "get", f"/portal/bills/{mine}/paid/{pk}/").status_code == 404
    # A staff session gets the portal's sign-in for both.
    staff = signed_in(portal.paybill.world.admin)
    for method, url in (("post", f"/portal/bills/{account}/pay/"), ("get", paid["Location"])):
        answer = _unchanged(staff, method, url, other)
        assert answer.status_code == 302 and answer["Location"].startswith("/portal/login/")
