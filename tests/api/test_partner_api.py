"""The native partner API as an integrator meets it: scenarios in the style of a certification
pack, on both databases, through Django's test client with real JSON and a real key."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from gridvend.partners import credentials
from gridvend.partners.models import Partner, PartnerRequest, SaleState
from gridvend.vending.models import Sale, SaleStatus
from tests.partners.support import make_partner
from tests.world import World, build_world

pytestmark = pytest.mark.django_db


class Integrator:
    """A partner's client: its key, and the calls it makes."""

    def __init__(self, world: World, partner: Partner) -> None:
        self.world = world
        self.partner = partner
        self.key = credentials.issue_key(actor=world.admin, partner=partner).secret
        self.client = Client()

    def post(self, path: str, body: Any, *, key: str | None = None, **headers: str) -> Any:
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.client.post(
            f"/api/v1{path}",
            data=raw,
            content_type="application/json",
            headers={"Authorization": f"Bearer {key or self.key}", **headers},
        )

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {self.key}"})

    def vend(self, request_id: str, meter: str, major: str = "300", **extra: Any) -> Any:
        amount = self.world.money(major)
        body = {
            "request_id": request_id,
            "meter_number": meter,
            "amount": {"minor": amount.minor, "currency": amount.currency},
            "terminal_id": "ATM00042",
            **extra,
        }
        return self.post("/vends", body)


@pytest.fixture
def world() -> World:
    return build_world()


@pytest.fixture
def bank(world: World) -> Integrator:
    return Integrator(world, make_partner(world, float_major="1000"))


def _code(response: Any) -> str:
    return response.json()["error"]["code"]


def test_lookup_then_vend_then_confirm(world: World, bank: Integrator) -> None:
    meter = world.add_meter(address="12 Ngong Road Nairobi")
    found = bank.post("/meter-lookups", {"request_id": "l1", "meter_number": meter.number})
    assert found.status_code == 200, found.content
    data = found.json()
    assert data["meter_number"] == meter.number
    assert data["customer"]["address"] == "1*** N*** R*** N***"
    assert data["min_amount"]["currency"] == world.tariff.currency
    sold = bank.vend("v1", meter.number)
    assert sold.status_code == 201, sold.content
    sale = sold.json()
    assert sale["state"] == "pending" and not sale["replayed"]
    sim = world.simulator(meter)
    for token in sale["sale"]["tokens"]:
        assert sim.enter(token["token"]).accepted
        assert token["display"].replace(" ", "") == token["token"]
    confirmed = bank.post("/vends/v1/confirmations", {"advice_id": "c1"})
    assert confirmed.status_code == 202, confirmed.content
    assert confirmed.json()["state"] == "confirmed"


def test_timeout_then_last_response_query_gives_the_same_sale(
    world: World, bank: Integrator
) -> None:
    meter = world.add_meter()
    sold = bank.vend("t1", meter.number).json()
    # The partner's connection dropped: it asks what happened to t1.
    asked = bank.get("/requests/t1")
    assert asked.status_code == 200
    assert asked.json()["sale"]["tokens"] == sold["sale"]["tokens"]
    assert asked.json()["state"] == "pending"
    assert _code(bank.get("/requests/never-sent")) == "REQUEST_NOT_FOUND"


def test_duplicate_request_id_same_body_replays_other_body_is_refused(
    world: World, bank: Integrator
) -> None:
    meter = world.add_meter()
    first = bank.vend("d1", meter.number)
    again = bank.vend("d1", meter.number)
    assert again.status_code == 200 and again.json()["replayed"]
    assert again.json()["sale"] == first.json()["sale"]
    other = bank.vend("d1", meter.number, major="400")
    assert other.status_code == 409 and _code(other) == "DUPLICATE_REQUEST"
    assert Sale.objects.count() == 1


def test_reversal_after_confirmation_is_refused(world: World, bank: Integrator) -> None:
    meter = world.add_meter()
    bank.vend("r1", meter.number)
    bank.post("/vends/r1/confirmations", {"advice_id": "c1"})
    refused = bank.post("/vends/r1/reversals", {"advice_id": "x1", "reason": "TIMEOUT"})
    assert refused.status_code == 409 and _code(refused) == "SALE_ALREADY_CONFIRMED"
    assert Sale.objects.get().status == SaleStatus.COMPLETED


def test_reversal_refunds_the_float(world: World, bank: Integrator) -> None:
    meter = world.add_meter()
    before = bank.get("/float").json()["available"]["minor"]
    bank.vend("r1", meter.number)
    assert bank.get("/float").json()["available"]["minor"] == before - 30000
    done = bank.post("/vends/r1/reversals", {"advice_id": "x1", "reason": "CANCELLED"})
    assert done.status_code == 202 and done.json()["state"] == "reversed"
    assert bank.get("/float").json()["available"]["minor"] == before


def test_advice_before_the_purchase_and_advices_twice_out_of_order(
    world: World, bank: Integrator
) -> None:
    meter = world.add_meter()
    early = bank.post("/vends/e1/confirmations", {"advice_id": "c-early"})
    assert early.status_code == 404 and _code(early) == "REQUEST_NOT_FOUND"
    sold = bank.vend("e1", meter.number)
    assert sold.json()["state"] == "confirmed"
    again = bank.post("/vends/e1/confirmations", {"advice_id": "c-early"})
    assert again.status_code == 202
    # A reversal advice for a request never seen, then the request: nothing is sold.
    assert bank.post("/vends/e2/reversals", {"advice_id": "x2"}).status_code == 404
    late = bank.vend("e2", meter.number)
    assert late.status_code == 409 and _code(late) == "REQUEST_ALREADY_REVERSED"
    assert Sale.objects.count() == 1


def test_float_exhausted(world: World) -> None:
    partner = make_partner(world, code="small-shop", float_major="400")
    shop = Integrator(world, partner)
    meter = world.add_meter()
    assert shop.vend("f1", meter.number).status_code == 201
    refused = shop.vend("f2", meter.number)
    assert refused.status_code == 422 and _code(refused) == "INSUFFICIENT_FLOAT"
    assert PartnerRequest.objects.get(request_id="f2").state == SaleState.DECLINED


def test_expired_key_and_revoked_key(world: World, bank: Integrator) -> None:
    from django.utils import timezone

    from gridvend.partners.models import PartnerKey

    meter = world.add_meter()
    body = {"request_id": "k", "meter_number": meter.number}
    old = credentials.issue_key(actor=world.admin, partner=bank.partner)
    # Time passes: the key's expiry is now behind us.
    PartnerKey.objects.filter(pk=old.key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    refused = bank.post("/meter-lookups", body, key=old.secret)
    assert refused.status_code == 401 and _code(refused) == "KEY_EXPIRED"
    revoked = credentials.issue_key(actor=world.admin, partner=bank.partner)
    assert bank.post("/meter-lookups", body, key=revoked.secret).status_code == 200
    credentials.revoke_key(actor=world.admin, key=revoked.key)
    refused = bank.post("/meter-lookups", body, key=revoked.secret)
    assert refused.status_code == 401 and _code(refused) == "KEY_REVOKED"
    nothing = bank.post("/meter-lookups", body, key="gvk_nothing.nothing")
    assert nothing.status_code == 401 and _code(nothing) == "CREDENTIALS_INVALID"
    anonymous = Client().post("/api/v1/vends", data="{}", content_type="application/json")
    assert anonymous.status_code == 401 and _code(anonymous) == "CREDENTIALS_MISSING"


def test_wrong_ip_is_refused(world: World, bank: Integrator) -> None:
    from gridvend.partners import services as partners

    partners.update_partner(actor=world.admin, partner=bank.partner, ip_allow_list="10.9.8.0/24")
    meter = world.add_meter()
    refused = bank.vend("ip1", meter.number)
    assert refused.status_code == 403 and _code(refused) == "ADDRESS_NOT_ALLOWED"
    assert Sale.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "INVALID_REQUEST"),
        (
            {"request_id": "b", "meter_number": "1", "amount": {"minor": "100", "currency": "KES"}},
            400,
            "INVALID_REQUEST",
        ),
        (
            {
                "request_id": "b",
                "meter_number": "1",
                "amount": {"minor": 10**13, "currency": "KES"},
            },
            400,
            "INVALID_REQUEST",
        ),
        (
            {"request_id": "b", "meter_number": "1", "amount": {"minor": 100, "currency": "kes"}},
            400,
            "INVALID_REQUEST",
        ),
        (
            {
                "request_id": "b",
                "meter_number": "1",
                "amount": {"minor": 100, "currency": "KES"},
                "unknown": 1,
            },
            400,
            "INVALID_REQUEST",
        ),
        ({"request_id": "", "meter_number": "1"}, 400, "INVALID_REQUEST"),
        ({"request_id": "x" * 65, "meter_number": "1"}, 400, "INVALID_REQUEST"),
        ([1, 2, 3], 400, "INVALID_REQUEST"),
    ],
)
def test_bad_input_is_refused_with_its_code_and_writes_nothing(
    bank: Integrator, body: Any, status: int, code: str
) -> None:
    refused = bank.post("/vends", body)
    assert refused.status_code == status, refused.content
    assert _code(refused) == code
    assert Sale.objects.count() == 0 and PartnerRequest.objects.count() == 0


def test_unknown_meter_wrong_currency_and_oversized_body(world: World, bank: Integrator) -> None:
    unknown = bank.vend("u1", "01234567890")
    assert unknown.status_code == 404 and _code(unknown) == "METER_NOT_FOUND"
    meter = world.add_meter()
    wrong = bank.post(
        "/vends",
        {
            "request_id": "u2",
            "meter_number": meter.number,
            "amount": {"minor": 30000, "currency": "USD"},
        },
    )
    assert wrong.status_code == 400 and _code(wrong) == "CURRENCY_MISMATCH"
    huge = bank.post("/vends", "x" * 20000)
    assert huge.status_code == 413 and _code(huge) == "BODY_TOO_LARGE"
    plain = bank.client.post(
        "/api/v1/vends",
        data="{}",
        content_type="text/plain",
        headers={"Authorization": f"Bearer {bank.key}"},
    )
    assert plain.status_code == 415
    assert Sale.objects.count() == 0


def test_reprint_returns_the_stored_tokens_and_is_audited(world: World, bank: Integrator) -> None:
    from gridvend.audit.models import AuditEvent

    meter = world.add_meter()
    sold = bank.vend("p1", meter.number).json()
    again = bank.post("/reprints", {"request_id": "p1"})
    assert again.status_code == 200
    assert again.json()["sale"]["tokens"] == sold["sale"]["tokens"]
    assert AuditEvent.objects.filter(event_type="sale.reprinted").count() == 1
    assert Sale.objects.count() == 1


def test_trial_vend_sells_nothing(world: World, bank: Integrator) -> None:
    meter = world.add_meter()
    quote = bank.post(
        "/trial-vends",
        {
            "request_id": "q1",
            "meter_number": meter.number,
            "amount": {"minor": 30000, "currency": world.tariff.currency},
        },
    )
    assert quote.status_code == 200, quote.content
    assert quote.json()["amount"]["minor"] == 30000
    assert Sale.objects.count() == 0


def test_a_partner_never_sees_another_partners_requests(world: World, bank: Integrator) -> None:
    other = Integrator(world, make_partner(world, code="other-bank"))
    meter = world.add_meter()
    bank.vend("mine", meter.number)
    assert other.get("/requests/mine").status_code == 404
    assert other.post("/vends/mine/reversals", {"advice_id": "z"}).status_code == 404
    assert Sale.objects.get().status == SaleStatus.COMPLETED


def test_fault_report(world: World, bank: Integrator) -> None:
    meter = world.add_meter()
    made = bank.post(
        "/fault-reports",
        {
            "request_id": "f1",
            "meter_number": meter.number,
            "category": "token_rejected",
            "description": "Meter shows Err 30 for every token",
        },
    )
    assert made.status_code == 201, made.content
    assert made.json()["category"] == "token_rejected"


def _signed(
    bank: Integrator, key: str, secret: str, path: str, body: dict[str, Any], ts: str
) -> Any:
    raw = json.dumps(body).encode()
    signature = credentials.sign(
        secret, method="POST", path=f"/api/v1{path}", timestamp=ts, body=raw
    )
    return bank.post(
        path,
        raw,
        key=key,
        **{"X-Gridvend-Timestamp": ts, "X-Gridvend-Signature": signature},
    )


def test_signed_requests_bad_and_replayed_signatures(world: World, bank: Integrator) -> None:
    import time

    issued = credentials.issue_key(actor=world.admin, partner=bank.partner, requires_signature=True)
    meter = world.add_meter()
    body = {"request_id": "s1", "meter_number": meter.number}
    now = str(int(time.time()))
    unsigned = bank.post("/meter-lookups", body, key=issued.secret)
    assert unsigned.status_code == 401 and _code(unsigned) == "SIGNATURE_REQUIRED"
    good = _signed(bank, issued.secret, issued.signing_secret, "/meter-lookups", body, now)
    assert good.status_code == 200, good.content
    replayed = _signed(bank, issued.secret, issued.signing_secret, "/meter-lookups", body, now)
    assert replayed.status_code == 401 and _code(replayed) == "SIGNATURE_REPLAYED"
    forged = _signed(bank, issued.secret, "gvs_not-the-secret", "/meter-lookups", body, now)
    assert forged.status_code == 401 and _code(forged) == "SIGNATURE_INVALID"
    old = _signed(
        bank,
        issued.secret,
        issued.signing_secret,
        "/meter-lookups",
        body,
        str(int(time.time()) - 900),
    )
    assert old.status_code == 401 and _code(old) == "SIGNATURE_EXPIRED"


def test_rate_limit_answers_429_with_retry_after(world: World) -> None:
    partner = make_partner(world, code="busy-shop")
    issued = credentials.issue_key(actor=world.admin, partner=partner, rate_limit_per_minute=3)
    shop = Integrator(world, partner)
    meter = world.add_meter()
    body = {"request_id": "r", "meter_number": meter.number}
    answers = [shop.post("/meter-lookups", body, key=issued.secret) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert answers[3].status_code == 429 and _code(answers[3]) == "RATE_LIMITED"
    assert int(answers[3]["Retry-After"]) >= 1
