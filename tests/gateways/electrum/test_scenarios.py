"""The Electrum Prepaid Utility v3 interface, scenario by scenario as the published test pack runs
them: real JSON bodies shaped like its Postman environment, through Django's test client, with
the partner's real Basic credentials; every token returned is entered into the meter simulator."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from django.test import Client

from gridvend.meters.models import FaultReport
from gridvend.partners.credentials import issue_key
from gridvend.partners.models import Partner, PartnerRequest, SaleState
from gridvend.vending.models import Sale, SaleStatus
from tests.partners.support import make_partner
from tests.world import World, build_world, snapshot

pytestmark = pytest.mark.django_db

BASE = "/prepaidutility/v3"
TIME = "2017-07-28T12:06:18.303Z"


def new_id() -> str:
    """Random hex in UUID layout with a random version nibble, as the test pack sends."""
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


class Electrum:
    def __init__(self, world: World, partner: Partner) -> None:
        issued = issue_key(actor=world.admin, partner=partner, label="electrum")
        token = base64.b64encode(f"{partner.code}:{issued.secret}".encode()).decode()
        self.auth = f"Basic {token}"
        self.client = Client()

    def post(self, path: str, body: Any, *, raw: bytes | None = None, auth: bool = True) -> Any:
        headers = {"Authorization": self.auth} if auth else {}
        data = raw if raw is not None else json.dumps(body).encode()
        return self.client.post(
            f"{BASE}/{path}", data=data, content_type="application/json", headers=headers
        )


def envelope(ident: str, *, receiver_key: str = "receiver") -> dict[str, Any]:
    return {
        "id": ident,
        "time": TIME,
        "originator": {
            "institution": {"id": "0001", "name": "Test Pack Bank"},
            "terminalId": "12345678",
            "merchant": {
                "merchantType": "5411",
                "merchantId": "123456789012345",
                "merchantName": {
                    "name": "Test Merchant",
                    "city": "Cape Town",
                    "region": "WC",
                    "country": "ZA",
                },
            },
            "operatorId": "op-7",
        },
        "client": {"id": "0002", "name": "Test Client"},
        "settlementEntity": {"id": "0003", "name": "Test Settlement"},
        receiver_key: {"id": "0004", "name": "Test Receiver"},
        "thirdPartyIdentifiers": [
            {"institutionId": "0002", "transactionIdentifier": "client-ref-1"}
        ],
    }


def purchase_body(ident: str, meter: str, amount: Any = "100000", currency: str = "404") -> dict:
    return {
        **envelope(ident),
        "meter": {"meterId": meter},
        "purchaseAmount": {"amount": amount, "currency": currency},
        "utilityType": "ELECTRICITY",
        "tenders": [
            {
                "accountType": "DEFAULT",
                "amount": {"amount": amount, "currency": currency},
                "cardNumber": "492181******1234",
                "tenderType": "DEBIT_CARD",
            }
        ],
    }


def advice_body(ident: str, request_id: str, reason: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ident,
        "requestId": request_id,
        "time": TIME,
        "thirdPartyIdentifiers": [
            {"institutionId": "0002", "transactionIdentifier": "client-ref-1"},
            {"institutionId": "gridvend", "transactionIdentifier": "x"},
        ],
    }
    if reason:
        body["reversalReason"] = reason
    return body


@pytest.fixture
def setup() -> tuple[World, Partner, Electrum]:
    world = build_world()
    partner = make_partner(world, float_major="10000")
    return world, partner, Electrum(world, partner)


def assert_echoed(sent: dict[str, Any], got: dict[str, Any]) -> None:
    assert got["id"] == sent["id"]
    assert got["time"] == sent["time"]
    assert got["originator"] == sent["originator"]
    for party in ("client", "settlementEntity", "receiver"):
        assert got[party]["id"] and got[party]["name"]
    assert len(got["thirdPartyIdentifiers"]) >= 2


def test_lookup_purchase_confirm_sells_once_and_the_meter_accepts_each_token(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    lookup_id = new_id()
    lookup = {**envelope(lookup_id), "meter": {"meterId": meter.number}}
    found = electrum.post(f"meterLookups/{lookup_id}", lookup)
    assert found.status_code == 201, found.content
    assert_echoed(lookup, found.json())
    assert found.json()["meter"]["meterId"] == meter.number
    assert found.json()["customer"]["name"] and found.json()["utility"]["name"]
    assert found.json()["minAmount"]["currency"] == "404"

    purchase_id = new_id()
    sent = purchase_body(purchase_id, meter.number)
    bought = electrum.post(f"tokenPurchases/{purchase_id}", sent)
    assert bought.status_code == 201, bought.content
    body = bought.json()
    assert_echoed(sent, body)
    sale = Sale.objects.get()
    assert body["thirdPartyIdentifiers"][-1]["transactionIdentifier"] == sale.reference
    assert body["thirdPartyIdentifiers"][0]["transactionIdentifier"] == "client-ref-1"
    assert body["purchaseTotal"] == {"amount": 100000, "currency": "404"}
    # The first sale of the month carries this month's free basic electricity as its own token.
    assert [t["tokenType"] for t in body["tokens"]] == ["STD", "BSST"]
    assert body["tokens"][1]["amount"]["amount"] == 0
    std = body["tokens"][0]
    assert std["units"]["value"] > 0 and std["amount"]["tax"]["amount"] == sale.tax_minor
    sim = world.simulator(meter)
    for token in body["tokens"]:
        assert sim.enter(token["token"]).accepted
        assert not sim.enter(token["token"]).accepted

    confirmation_id = new_id()
    advice = advice_body(confirmation_id, purchase_id)
    confirmed = electrum.post(
        f"tokenPurchases/{purchase_id}/confirmations/{confirmation_id}", advice
    )
    assert confirmed.status_code == 202, confirmed.content
    assert confirmed.json()["id"] == confirmation_id and confirmed.json()["time"] == TIME
    assert confirmed.json()["requestId"] == purchase_id
    assert PartnerRequest.objects.get().state == SaleState.CONFIRMED
    again = electrum.post(f"tokenPurchases/{purchase_id}/confirmations/{confirmation_id}", advice)
    assert again.status_code == 202


def test_lookup_purchase_reverse_cancelled_gives_the_float_its_money_back(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    purchase_id = new_id()
    bought = electrum.post(
        f"tokenPurchases/{purchase_id}", purchase_body(purchase_id, meter.number)
    )
    assert bought.status_code == 201
    reversal_id = new_id()
    reversed_ = electrum.post(
        f"tokenPurchases/{purchase_id}/reversals/{reversal_id}",
        advice_body(reversal_id, purchase_id, "CANCELLED"),
    )
    assert reversed_.status_code == 202, reversed_.content
    assert reversed_.json()["id"] == reversal_id
    assert Sale.objects.get().status == SaleStatus.REVERSED
    assert PartnerRequest.objects.get().state == SaleState.REVERSED


def test_a_retry_returns_the_same_tokens_and_echoes_its_own_id(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    purchase_id = new_id()
    first = electrum.post(f"tokenPurchases/{purchase_id}", purchase_body(purchase_id, meter.number))
    retry_id = new_id()
    retry = purchase_body(retry_id, meter.number)
    again = electrum.post(f"tokenPurchases/{purchase_id}/retry", retry)
    assert again.status_code == 201, again.content
    assert again.json()["id"] == retry_id and again.json()["time"] == TIME
    assert [t["token"] for t in again.json()["tokens"]] == [
        t["token"] for t in first.json()["tokens"]
    ]
    assert Sale.objects.count() == 1


def test_a_retry_of_a_purchase_never_seen_sells_once(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    purchase_id = new_id()
    one = electrum.post(
        f"tokenPurchases/{purchase_id}/retry", purchase_body(new_id(), meter.number)
    )
    two = electrum.post(
        f"tokenPurchases/{purchase_id}/retry", purchase_body(new_id(), meter.number)
    )
    assert one.status_code == two.status_code == 201
    assert one.json()["tokens"] == two.json()["tokens"]
    assert Sale.objects.count() == 1
    sim = world.simulator(meter)
    assert all(sim.enter(t["token"]).accepted for t in one.json()["tokens"])


def test_an_unknown_meter_is_unknown_meter_id(setup) -> None:
    _world, _partner, electrum = setup
    lookup_id = new_id()
    answer = electrum.post(
        f"meterLookups/{lookup_id}", {**envelope(lookup_id), "meter": {"meterId": "9999"}}
    )
    assert answer.status_code == 400
    assert answer.json()["errorType"] == "UNKNOWN_METER_ID"
    assert answer.json()["requestType"] == "METER_LOOKUP_REQUEST"


@pytest.mark.parametrize("kind", ["confirmations", "reversals"])
def test_an_advice_for_an_unknown_purchase_is_404(setup, kind: str) -> None:
    _world, _partner, electrum = setup
    purchase_id, advice_id = new_id(), new_id()
    answer = electrum.post(
        f"tokenPurchases/{purchase_id}/{kind}/{advice_id}",
        advice_body(advice_id, purchase_id, "TIMEOUT" if kind == "reversals" else None),
    )
    assert answer.status_code == 404
    assert answer.json()["errorType"] == "UNABLE_TO_LOCATE_RECORD"
    assert not Sale.objects.exists()


def test_a_key_change_request_gives_the_pending_key_change_tokens(setup) -> None:
    from gridvend.meters import keychanges
    from gridvend.sts.simulator import ResultCode

    world, _partner, electrum = setup
    meter = world.add_meter(base_date_year=1993, krn=1)
    sim = world.simulator(meter)
    keychanges.request_key_change(
        actor=world.admin, meter=meter, base_date_year=2014, krn=2, reason="TID roll-over"
    )
    request_id = new_id()
    sent = {**envelope(request_id), "meter": {"meterId": meter.number}}
    answer = electrum.post(f"keyChangeTokenRequests/{request_id}", sent)
    assert answer.status_code == 201, answer.content
    assert_echoed(sent, answer.json())
    tokens = answer.json()["tokens"]
    assert [t["tokenType"] for t in tokens] == ["KC", "KC"]
    assert all(t["amount"]["amount"] == 0 for t in tokens)
    codes = [sim.enter(t["token"]).code for t in tokens]
    assert codes == [ResultCode.KEY_CHANGE_PENDING, ResultCode.KEY_CHANGED]
    confirmation_id = new_id()
    confirmed = electrum.post(
        f"keyChangeTokenRequests/{request_id}/confirmations/{confirmation_id}",
        advice_body(confirmation_id, request_id),
    )
    assert confirmed.status_code == 202, confirmed.content
    purchase_id = new_id()
    bought = electrum.post(
        f"tokenPurchases/{purchase_id}", purchase_body(purchase_id, meter.number)
    )
    assert next(t["tokenType"] for t in bought.json()["tokens"]) == "STD"
    assert all(sim.enter(t["token"]).accepted for t in bought.json()["tokens"])


def test_a_fault_report_is_written_down_for_customer_care(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    request_id = new_id()
    sent = {
        **envelope(request_id),
        "meter": {"meterId": meter.number},
        "faultType": "MeterDead",
        "description": "Display is blank",
    }
    answer = electrum.post(f"faultReports/{request_id}", sent)
    assert answer.status_code == 201, answer.content
    assert_echoed(sent, answer.json())
    fault = FaultReport.objects.get()
    assert fault.meter_id == meter.pk and fault.category == "no_supply"


def test_a_reprint_gives_the_stored_tokens_of_the_partners_own_purchase(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    purchase_id = new_id()
    first = electrum.post(f"tokenPurchases/{purchase_id}", purchase_body(purchase_id, meter.number))
    reprint_id = new_id()
    sent = {**envelope(reprint_id), "meter": {"meterId": meter.number}, "originalRef": purchase_id}
    again = electrum.post(f"tokenReprints/{reprint_id}", sent)
    assert again.status_code == 200, again.content
    assert again.json()["tokens"] == first.json()["tokens"]
    assert again.json()["id"] == reprint_id
    missing_id = new_id()
    unknown = {**sent, "id": missing_id, "originalRef": new_id()}
    assert electrum.post(f"tokenReprints/{missing_id}", unknown).status_code == 404


def test_a_trial_prices_the_purchase_without_a_token_or_a_sale(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    trial_id = new_id()
    answer = electrum.post(
        f"tokenPurchases/{trial_id}/trial", purchase_body(trial_id, meter.number)
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["purchaseTotal"]["amount"] == 100000
    assert all("token" not in t for t in answer.json()["tokens"])
    assert not Sale.objects.exists()


def test_a_reused_id_with_another_body_is_duplicate_record(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    purchase_id = new_id()
    electrum.post(f"tokenPurchases/{purchase_id}", purchase_body(purchase_id, meter.number))
    other = electrum.post(
        f"tokenPurchases/{purchase_id}", purchase_body(purchase_id, meter.number, "200000")
    )
    assert other.status_code == 400
    assert other.json()["errorType"] == "DUPLICATE_RECORD"
    assert Sale.objects.count() == 1


def test_numbers_in_echoed_parties_are_kept_and_given_back(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    pid = new_id()
    body = purchase_body(pid, meter.number)
    body["originator"]["institution"]["rank"] = 1.5
    body["originator"]["institution"]["huge"] = "HUGE"
    raw = json.dumps(body).replace('"HUGE"', "1e400").encode()
    answer = electrum.post(f"tokenPurchases/{pid}", None, raw=raw)
    assert answer.status_code == 201, answer.content
    assert answer.json()["originator"]["institution"]["rank"] == 1.5
    assert answer.json()["originator"]["institution"]["huge"] == "1E+400"
    retry = purchase_body(new_id(), meter.number)
    assert electrum.post(f"tokenPurchases/{pid}/retry", retry).status_code == 201


def test_the_misspelled_reciever_and_numbers_as_numbers_are_read(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    lookup_id = new_id()
    body = {**envelope(lookup_id, receiver_key="reciever"), "meter": {"meterId": meter.number}}
    body["unknownField"] = {"anything": [1, 2, 3]}
    answer = electrum.post(f"meterLookups/{lookup_id}", body)
    assert answer.status_code == 201, answer.content
    assert answer.json()["receiver"] == {"id": "0004", "name": "Test Receiver"}
    purchase_id = new_id()
    bought = electrum.post(
        f"tokenPurchases/{purchase_id}", purchase_body(purchase_id, meter.number, 100000, "KES")
    )
    assert bought.status_code == 201, bought.content


def state() -> dict[str, Any]:
    """Everything stored, but the key's last use (noted for every call it lets in, by design)."""
    rows = snapshot()
    rows.pop("partners.PartnerKey", None)
    return rows


def _refused_and_nothing_written(electrum: Electrum, path: str, body: Any, raw: bytes | None):
    before = state()
    answer = electrum.post(path, body, raw=raw)
    assert answer.status_code == 400, (path, answer.content)
    assert answer.json()["errorType"] == "FORMAT_ERROR", answer.json()
    assert state() == before
    return answer


def test_unreadable_messages_are_format_errors_and_write_nothing(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    pid = new_id()
    good = purchase_body(pid, meter.number)
    path = f"tokenPurchases/{pid}"
    cases: list[tuple[Any, bytes | None]] = [
        (None, b"{not json"),
        (None, b"[1, 2]"),
        (None, b"\xff\xfe"),
        (None, b'{"a": NaN}'),
        (None, b"[" * 5000 + b"]" * 5000),
        (None, b'{"x": "' + b"a" * (70 * 1024) + b'"}'),
        ({**good, "purchaseAmount": {"amount": "10.5", "currency": "404"}}, None),
        ({**good, "purchaseAmount": {"amount": True, "currency": "404"}}, None),
        ({**good, "purchaseAmount": {"amount": "-5", "currency": "404"}}, None),
        ({**good, "purchaseAmount": {"amount": "9" * 40, "currency": "404"}}, None),
        ({**good, "purchaseAmount": {"amount": "100000", "currency": "710"}}, None),
        ({**good, "purchaseAmount": {"amount": "100000", "currency": "ZAR"}}, None),
        ({**good, "purchaseAmount": {"amount": "100000", "currency": "999"}}, None),
        ({**good, "purchaseAmount": "10000"}, None),
        ({**good, "meter": {"meterId": ["x"]}}, None),
        ({**good, "meter": None}, None),
        ({**good, "id": "not-a-uuid"}, None),
        ({**good, "id": new_id()}, None),
        ({**good, "time": "yesterday"}, None),
        ({**good, "originator": "x"}, None),
        ({**good, "originator": {"terminalId": "a\u202eb"}}, None),
        ({**good, "originator": {"institution": {"name": "a\u0000b"}}}, None),
        ({**good, "client": {"id": "x" * 5000}}, None),
    ]
    for body, raw in cases:
        _refused_and_nothing_written(electrum, path, body, raw)
    assert not PartnerRequest.objects.exists()


def test_a_call_without_credentials_is_401_and_writes_nothing(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    pid = new_id()
    before = snapshot()
    answer = electrum.post(f"tokenPurchases/{pid}", purchase_body(pid, meter.number), auth=False)
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith("Basic")
    assert answer.json()["detailMessage"]["code"] == "CREDENTIALS_MISSING"
    electrum.auth = "Basic " + base64.b64encode(b"test:test").decode()
    assert (
        electrum.post(f"tokenPurchases/{pid}", purchase_body(pid, meter.number)).status_code == 401
    )
    assert snapshot() == before


def test_only_post_and_only_json(setup) -> None:
    _world, _partner, electrum = setup
    pid = new_id()
    assert electrum.client.get(f"{BASE}/tokenPurchases/{pid}").status_code == 405
    answer = electrum.client.post(
        f"{BASE}/tokenPurchases/{pid}",
        data="id=1",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": electrum.auth},
    )
    assert answer.status_code == 400 and answer.json()["errorType"] == "FORMAT_ERROR"


def test_insufficient_float_is_insufficient_funds(setup) -> None:
    world, _partner, electrum = setup
    meter = world.add_meter()
    pid = new_id()
    answer = electrum.post(f"tokenPurchases/{pid}", purchase_body(pid, meter.number, "100000000"))
    assert answer.status_code == 400
    assert answer.json()["errorType"] in ("INSUFFICIENT_FUNDS", "AMOUNT_TOO_HIGH")
    assert not Sale.objects.exists()


def _with(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def test_hostile_values_in_every_field_never_answer_a_server_error(setup) -> None:
    from tests.hostile import HOSTILE

    world, _partner, electrum = setup
    meter = world.add_meter()
    pid = new_id()
    good = purchase_body(pid, meter.number)
    fields = [
        ("id",),
        ("time",),
        ("meter", "meterId"),
        ("purchaseAmount", "amount"),
        ("purchaseAmount", "currency"),
        ("originator", "terminalId"),
        ("originator", "operatorId"),
        ("msisdn",),
        ("thirdPartyIdentifiers",),
        ("client",),
    ]
    values: list[Any] = [*HOSTILE, None, True, -1, 10**30, 1.5e308, [], {}, [None], {"a": []}]
    tried = 0
    for path in fields:
        for value in values:
            answer = electrum.post(f"tokenPurchases/{pid}", _with(good, path, value))
            tried += 1
            assert answer.status_code < 500, (path, value, answer.content)
            assert answer.status_code in (201, 400), (path, value, answer.content)
    lookup = {**envelope(pid), "meter": {"meterId": meter.number}}
    for value in values:
        answer = electrum.post(f"meterLookups/{pid}", _with(lookup, ("meter", "meterId"), value))
        assert answer.status_code in (201, 400), (value, answer.content)
    assert tried > 100
