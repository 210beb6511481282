"""The access matrix: one declarative row per URL name saying who may use it, where its object
lies and what a refused write must leave alone; tests/foundation/test_matrix.py turns each row
into the anonymous, missing-capability, other-region, allowed, refused-POST and hostile-query
cases (NetBox's ViewTestCases). The partner API and the gateways add their endpoints as rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.world import Region, Regions

# Channels whose callers are machines, not staff sessions, keep their own matrix beside their
# tests: the partner API's is tests/api/test_api_hostile.py (every operation of its OpenAPI
# document without a key, then with a key and hostile values in every field and path parameter;
# it also checks that every URL name of the namespace is one of those operations) and
# tests/api/test_partner_api.py (one partner never reaches another's requests).
# The phone-enquiry callbacks (voice aggregator and inbound SMS) are tried without and with the
# aggregator's secret, from other addresses and with hostile digits in
# tests/gateways/voice/test_enquiry.py.
# The mobile-money provider callbacks (C2B validation and confirmation, STK callback) are tried
# from other addresses, with a wrong secret, for an unknown provider, by GET and with hostile
# bodies in tests/gateways/mobilemoney/test_hostile.py.
# The Africa's Talking callbacks of the phone channels (USSD hop and events, inbound SMS,
# delivery reports) are tried from other addresses, with a wrong secret, by GET and with broken
# and oversized forms in tests/gateways/ussd/.
# The card providers' wallet endpoints (signed callback, signed return, the sandbox page) are
# tried with bad signatures, replays, wrong amounts, unknown references, by GET and oversized
# in tests/wallet/test_card_hostile.py.
# The station API (stations and business-unit relays; every call signed by a station's Ed25519
# key, every answer by the master or relay; no sessions) is tried unsigned, signed by another
# key, by stations not allowed the call, by the wrong method and with tampered, malformed and
# hostile bodies and query values in tests/stations/ (test_relay.py: batches and
# batches/forward; test_changes.py: changes; test_batches_hostile.py and test_tamper.py:
# batches; test_vending_key_delivery.py: vending-keys; the others: their own calls).
OWN_MATRIX_NAMESPACES = (
    "api-v1",
    "voice",
    "mobilemoney",
    "phone",
    "wallet-card",
    "station_api",
)

Args = Callable[[Region], dict[str, Any]]
Body = Callable[[Regions, Region], dict[str, Any]]


def _none(region: Region) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Row:
    """One URL name: ``allowed`` and ``denied`` are keys of the world's cast (in the north)."""

    name: str  # "namespace:url-name"
    allowed: str | None  # who opens it (GET) or whose refused posts meet the region check
    denied: str | None = None  # a signed-in user refused with ``denied_status``; None: nobody is
    denied_status: int = 403
    args: Args = _none  # the URL's arguments for a region's records
    # How another region is kept out: "path" (the URL's object), "unit" (a ?unit= filter),
    # "body" (an object named in the POST body) or "" (the screen has no region of its own).
    region: str = ""
    get: bool = True  # False: the URL answers POST only
    post: Body | None = None  # a body that would change something if it were accepted
    post_denied: str | None = None  # who is refused that POST, when not ``denied``
    # "sign-in": sent to sign in; "open": a public page; "basic": a partner interface that
    # answers 401 without its HTTP Basic credentials (gateways/electrum); "portal": a customer
    # portal page, which sends anonymous visitors and staff sessions alike to the portal's own
    # sign-in (its signed-in cases, other customers' ids among them: tests/portal/)
    anonymous: str = "sign-in"
    allowed_status: int = 200
    pdf: bool = False  # renders a PDF (a second each): fewer hostile values, to keep the run short

    def url(self, region: Region) -> str:
        return reverse(self.name, kwargs=self.args(region))

    @property
    def post_refused_to(self) -> str | None:
        return self.post_denied or self.denied


def _pk(field: str) -> Args:
    return lambda r: {"pk": getattr(r, field).pk}


def _bill_account(r: Region) -> dict[str, Any]:
    assert r.bill is not None
    return {"pk": r.bill.customer_id}


def _wallet_ref(r: Region) -> dict[str, Any]:
    assert r.wallet is not None
    return {"reference": r.wallet.reference}


def _transfer_file(r: Region) -> bytes:
    assert r.wallet is not None
    return f"reference,date,amount,narrative\nMX-1,2026-06-14,7.00,{r.wallet.reference}\n".encode()


def _ref(r: Region) -> dict[str, Any]:
    return {"reference": r.sale.reference}


def _account(r: Region) -> dict[str, Any]:
    return {"account": r.customer.account_number}


def _number(r: Region) -> dict[str, Any]:
    return {"number": r.meter.number}


def _fmt(fmt: str) -> Args:
    return lambda r: {"fmt": fmt}


def _customer_body(w: Regions, r: Region) -> dict[str, Any]:
    return {
        "name": "Zawadi Otieno",
        "category": "residential",
        "org_unit": r.unit.pk,
        "tariff": r.tariff.pk,
        "phone": "+254700000009",
    }


def _meter_body(w: Regions, r: Region) -> dict[str, Any]:
    return {
        "number": "04777000012",
        "org_unit": r.unit.pk,
        "sgc": "123456",
        "ti": 1,
        "krn": 1,
        "kt": 2,
        "ken": 255,
        "ea": "07",
        "dkga": "02",
        "base_date_year": 2014,
        "key_ref": "test-vk",
        "make": "Acme",
        "model": "A1",
        "phases": 1,
        "carrier": "keypad",
    }


def _partner_key(r: Region) -> dict[str, Any]:
    assert r.partner_key is not None
    return {"pk": r.partner.pk, "key_pk": r.partner_key.pk}


def _body(**values: Any) -> Body:
    return lambda w, r: dict(values)


def _mobile_provider_body(w: Regions, r: Region) -> dict[str, Any]:
    return {
        "code": "matrix-mpesa",
        "name": "Matrix paybill",
        "kind": "daraja",
        "shortcode": "600999",
        "base_url": "https://api.safaricom.co.ke",
        "consumer_key_env": "MATRIX_KEY",
        "consumer_secret_env": "MATRIX_SECRET",
        "passkey_env": "MATRIX_PASSKEY",
        "response_type": "Completed",
        "stk_timeout_seconds": "120",
        "is_enabled": "on",
    }


def _aggregator(r: Region) -> dict[str, Any]:
    assert r.mobile_provider is not None
    return {"pk": r.mobile_provider.partner_id}


def _bank_link_body(w: Regions, r: Region) -> dict[str, Any]:
    return {
        "agency_id": "MATRIX01",
        "port": "",
        "header_width": "8",
        "binary_header": "0",
        "length_includes_header": "0",
        "charset": "ascii",
        "max_body_bytes": "4096",
        "read_timeout_seconds": "10",
        "is_enabled": "on",
    }


def _bank_upload(w: Regions, r: Region) -> dict[str, Any]:
    assert r.bank_link is not None
    return {"link": r.bank_link.pk, "bank_date": "2026-01-01"}


def _settlement_upload(w: Regions, r: Region) -> dict[str, Any]:
    assert r.settlement_file is not None
    return {"partner": r.settlement_file.partner_id, "business_date": "2026-01-01"}


def _entry(r: Region) -> int:
    assert r.book is not None
    return r.book.entries.get().pk


def _reading_file(r: Region) -> bytes:
    return f"meter_number,read_at,register_kwh\n{r.meter.number},2026-01-02T10:00Z,5000\n".encode()


SPEC = '{"currency": "KES", "energy": {"type": "flat", "rate": "9"}}'
USER_BODY = {
    "username": "matrix.new",
    "full_name": "Matrix New",
    "role": "operator",
    "capabilities": ["cashier"],
    "password": "a-long-new-password-5",
}


def _electrum(*names: str) -> Args:
    return lambda r: {
        name: f"0000000{i}-aaaa-bbbb-cccc-dddddddddddd" for i, name in enumerate(names)
    }


ROWS: list[Row] = [
    # --- sign-in and the shell ------------------------------------------------------------------
    Row("web:home", "manager"),
    Row("web:healthz", None, anonymous="open"),
    # Open to the load balancer; the test world runs no job worker, so it is not ready.
    Row("web:readyz", None, anonymous="open", allowed_status=503),
    # Closed (404) unless GRIDVEND_METRICS_TOKEN or _ALLOWED_IPS is set; opened in
    # tests/foundation/test_monitoring.py.
    Row("web:metrics", None, anonymous="open", allowed_status=404),
    Row("web:login", None, anonymous="open"),
    Row("web:logout", None, get=False, anonymous="open"),
    Row("web:second-factor", "admin", allowed_status=302),
    Row("web:second-factor-enrol", "admin"),
    Row("web:set-language", None, get=False, anonymous="open"),
    # --- the tree, points and people ------------------------------------------------------------
    Row("web:unit-list", "manager"),
    Row("web:levels", "admin", "manager", post=_body(action="add", name="Feeder zone")),
    Row(
        "web:unit-detail",
        "supervisor",
        args=lambda r: {"pk": r.unit.pk},
        region="path",
        post=_body(action="add-unit", **{"unit-name": "Sneaky"}),
        post_denied="cashier",
    ),
    Row("web:point-list", "manager"),
    Row(
        "web:point-detail",
        "supervisor",
        args=_pk("point"),
        region="path",
        post=_body(name="Hijacked", status="closed", address="", ip_allow_list=""),
        post_denied="cashier",
    ),
    Row("web:user-list", "manager"),
    Row(
        "web:user-create",
        "supervisor",
        "cashier",
        region="body",
        post=lambda w, r: {**USER_BODY, "org_unit": r.unit.pk},
    ),
    Row(
        "web:user-detail",
        "supervisor",
        args=_pk("cashier"),
        region="path",
        post=_body(action="password", password="another-long-pass-7"),
        post_denied="operator",
    ),
    Row("web:audit-log", "admin", "manager"),
    # --- customers, premises, debts -------------------------------------------------------------
    Row("backoffice:customer-list", "care", "cashier", region="unit"),
    Row("backoffice:customer-export", "care", "cashier", args=_fmt("csv"), region="unit"),
    Row(
        "backoffice:customer-create",
        "care",
        "field",
        post=_customer_body,
    ),
    Row(
        "backoffice:customer-detail",
        "field",
        "cashier",
        args=_pk("customer"),
        region="path",
        post=_body(status="suspended", reason="Tampering"),
        post_denied="field",
    ),
    Row(
        "backoffice:customer-edit",
        "care",
        "field",
        args=_pk("customer"),
        region="path",
        post=_customer_body,
    ),
    Row("backoffice:customer-debts", "care", "field", args=_pk("customer"), region="path"),
    Row("backoffice:customer-statement", "finance", "field", args=_pk("customer"), region="path"),
    Row(
        "backoffice:debt-create",
        "finance",
        "care",
        args=_pk("customer"),
        region="path",
        post=_body(amount="100", reason="Arrears"),
    ),
    Row("backoffice:premise-list", "field", "cashier", region="unit"),
    Row("backoffice:premise-export", "field", "cashier", args=_fmt("csv"), region="unit"),
    Row(
        "backoffice:premise-create",
        "care",
        "field",
        post=lambda w, r: {"org_unit": r.unit.pk, "address": "1 Nowhere"},
    ),
    Row("backoffice:premise-detail", "auditor", "cashier", args=_pk("premise"), region="path"),
    Row(
        "backoffice:premise-edit",
        "care",
        "finance",
        args=_pk("premise"),
        region="path",
        post=lambda w, r: {"org_unit": r.unit.pk, "address": "1 Nowhere"},
    ),
    Row("backoffice:debt-list", "finance", "field", region="unit"),
    Row("backoffice:debt-export", "finance", "field", args=_fmt("xlsx"), region="unit"),
    # --- reports -------------------------------------------------------------------------------
    Row("backoffice:report-index", "auditor", "field"),
    Row("backoffice:dashboard", "finance", "field", region="unit"),
    # One row per URL name: the sales journal, which reads the raw sales a page at a time (the
    # figure reports' screens meet the same checks in tests/reports/test_screen.py).
    Row(
        "backoffice:report-detail",
        "finance",
        "field",
        args=lambda r: {"slug": "sales-journal"},
        region="unit",
    ),
    Row(
        "backoffice:report-subscribe",
        "finance",
        "field",
        args=lambda r: {"slug": "sales"},
        region="body",
        get=False,
        post=lambda w, r: {"format": "csv", "frequency": "daily", "query": f"unit={r.unit.pk}"},
    ),
    # My report subscriptions: everyone signed in has their own; another's answers 404.
    Row("backoffice:report-subscriptions", "finance"),
    Row(
        "backoffice:report-subscription-action",
        "finance",
        args=_pk("subscription"),
        region="path",
        get=False,
        post=_body(action="pause"),
    ),
    # --- meters ---------------------------------------------------------------------------------
    Row("backoffice:meter-list", "field", "cashier", region="unit"),
    Row("backoffice:meter-export", "field", "cashier", args=_fmt("csv"), region="unit"),
    Row("backoffice:meter-register", "field", "finance", post=_meter_body),
    Row("backoffice:meter-detail", "finance", "cashier", args=_pk("meter"), region="path"),
    Row(
        "backoffice:meter-edit",
        "field",
        "finance",
        args=_pk("meter"),
        region="path",
        post=_body(make="X", model="Y", phases=3, carrier="keypad"),
    ),
    Row(
        "backoffice:meter-install",
        "care",
        "auditor",
        args=_pk("meter"),
        region="path",
        post=lambda w, r: {"account_number": r.customer.account_number, "premise": r.premise.pk},
    ),
    Row("backoffice:meter-replace", "field", "auditor", args=_pk("meter"), region="path"),
    Row(
        "backoffice:meter-retire",
        "care",
        "field",
        args=_pk("meter"),
        region="path",
        post=_body(reason="Burnt out"),
    ),
    Row(
        "backoffice:meter-mark-faulty",
        "care",
        "finance",
        args=_pk("meter"),
        region="path",
        post=_body(reason="No display"),
    ),
    # A meter that is not faulty: the screen sends the user back to the meter.
    Row(
        "backoffice:meter-clear-faulty",
        "care",
        "finance",
        args=_pk("meter"),
        region="path",
        allowed_status=302,
    ),
    # --- meter readings -------------------------------------------------------------------------
    Row("backoffice:book-list", "reader", "cashier", region="unit"),
    Row("backoffice:book-export", "reader", "cashier", args=_fmt("csv"), region="unit"),
    Row(
        "backoffice:book-create",
        "reading_supervisor",
        "reader",
        region="body",
        post=lambda w, r: {
            "org_unit": r.unit.pk,
            "code": "matrix-book",
            "name": "Matrix route",
            "cycle_day": 5,
        },
    ),
    Row(
        "backoffice:book-detail",
        "reader",
        "cashier",
        args=_pk("book"),
        region="path",
        post=lambda w, r: {"action": "remove", "meter": r.meter.pk},
        post_denied="reader",
    ),
    Row(
        "backoffice:book-edit",
        "reading_supervisor",
        "reader",
        args=_pk("book"),
        region="path",
        post=_body(name="Renamed route", cycle_day=3),
    ),
    Row(
        "backoffice:book-sheet",
        "reader",
        "auditor",
        args=_pk("book"),
        region="path",
        post=lambda w, r: {"read_at": "2026-01-02T10:00", f"m{_entry(r)}": "5000"},
    ),
    # Estimating answers with the book page (POST, or a GET sent back there).
    Row(
        "backoffice:book-estimate",
        "reading_supervisor",
        "reader",
        args=_pk("book"),
        region="path",
        allowed_status=302,
        post=_body(),
    ),
    Row("backoffice:reading-list", "reader", "cashier", region="unit"),
    Row("backoffice:reading-export", "auditor", "cashier", args=_fmt("csv"), region="unit"),
    Row(
        "backoffice:reading-create",
        "reader",
        "auditor",
        region="body",
        post=lambda w, r: {
            "meter_number": r.meter.number,
            "register_kwh": "5000",
            "read_at": "2026-01-02T10:00",
        },
    ),
    Row(
        "backoffice:reading-import",
        "reader",
        "auditor",
        post=lambda w, r: {"file": SimpleUploadedFile("matrix.csv", _reading_file(r))},
    ),
    Row(
        "backoffice:reading-import-detail",
        "reader",
        "cashier",
        args=_pk("reading_import"),
        region="path",
    ),
    Row("backoffice:reading-exceptions", "reading_supervisor", "reader", region="unit"),
    Row(
        "backoffice:reading-exception",
        "reading_supervisor",
        "reader",
        args=_pk("reading_exception"),
        region="path",
        post=_body(action="accept", note="checked"),
    ),
    # --- billing --------------------------------------------------------------------------------
    Row("backoffice:billing-run-list", "finance", "field", region="unit"),
    Row(
        "backoffice:billing-run-create",
        "finance",
        "auditor",
        region="body",
        post=lambda w, r: {
            "book": r.billing_run.book_id if r.billing_run else 0,
            "period_start": "2026-01-02",
            "period_end": "2026-02-01",
            "due_days": 14,
        },
    ),
    Row(
        "backoffice:billing-run-detail",
        "finance",
        "field",
        args=_pk("billing_run"),
        region="path",
        post=_body(action="cancel", note="matrix"),
        post_denied="auditor",
    ),
    Row("backoffice:bill-list", "finance", "field", region="unit"),
    Row("backoffice:bill-export", "auditor", "field", args=_fmt("csv"), region="unit"),
    Row("backoffice:bill-detail", "care", "field", args=_pk("bill"), region="path"),
    Row("backoffice:bill-pdf", "finance", "field", args=_pk("bill"), region="path", pdf=True),
    Row("backoffice:bill-payment-list", "finance", "field", region="unit"),
    Row(
        "backoffice:bill-payment-detail",
        "finance",
        "field",
        args=_pk("bill_payment"),
        region="path",
        post=_body(reason="matrix"),
        post_denied="auditor",
    ),
    Row("backoffice:billing-arrears", "finance", "field", region="unit"),
    Row(
        "backoffice:billing-account",
        "finance",
        "field",
        args=_bill_account,
        region="path",
        post=_body(confirm="on"),
        post_denied="auditor",
    ),
    # --- dunning --------------------------------------------------------------------------------
    Row("backoffice:dunning-rules", "auditor", "reader", region="unit"),
    Row(
        "backoffice:dunning-rule-create",
        "finance",
        "care",
        region="body",
        post=lambda w, r: {
            "name": "Matrix rule",
            "org_unit": r.unit.pk,
            "stage": "reminder",
            "days_overdue": 10,
            "minimum_arrears": "100",
            "send_sms": "on",
        },
    ),
    Row(
        "backoffice:dunning-rule-edit",
        "finance",
        "care",
        args=_pk("dunning_rule"),
        region="path",
        post=_body(name="Renamed rule", stage="notice", days_overdue=20, minimum_arrears="50"),
    ),
    Row("backoffice:dunning-tasks", "field", "reader", region="unit"),
    Row("backoffice:dunning-task-export", "auditor", "reader", args=_fmt("csv"), region="unit"),
    Row("backoffice:dunning-run", "finance", "care", get=False, post=_body()),
    Row(
        "backoffice:dunning-task",
        "field",
        "reader",
        args=_pk("dunning_task"),
        region="path",
        post=_body(),
        post_denied="field",
    ),
    Row(
        "backoffice:dunning-task-notice",
        "field",
        "reader",
        args=_pk("dunning_task"),
        region="path",
        pdf=True,
    ),
    Row(
        "backoffice:dunning-route-notices",
        "field",
        "reader",
        args=_pk("book"),
        region="path",
        pdf=True,
    ),
    Row("backoffice:dunning-calls", "finance", "reader"),
    Row("backoffice:dunning-calls-csv", "finance", "reader"),
    Row(
        "backoffice:dunning-voice-file",
        "finance",
        "reader",
        args=_pk("dunning_voice"),
        region="path",
    ),
    Row("backoffice:dunning-orders", "field", "reader", region="unit"),
    Row(
        "backoffice:dunning-order",
        "field",
        "reader",
        args=_pk("dunning_order"),
        region="path",
        post=_body(),
        post_denied="finance",
    ),
    # --- tariffs --------------------------------------------------------------------------------
    Row("backoffice:tariff-list", "finance", "care"),
    Row("backoffice:tariff-export", "auditor", "care", args=_fmt("csv")),
    Row(
        "backoffice:tariff-create",
        "finance",
        "auditor",
        post=lambda w, r: {"code": "x", "name": "X", "org_unit": r.unit.pk, "currency": "KES"},
    ),
    Row("backoffice:tariff-detail", "auditor", "care", args=_pk("tariff"), region="path"),
    Row("backoffice:tariff-compare", "checker", "care", args=_pk("tariff"), region="path"),
    Row(
        "backoffice:version-create",
        "finance",
        "auditor",
        args=_pk("tariff"),
        region="path",
        post=_body(spec=SPEC),
    ),
    Row(
        "backoffice:version-detail",
        "checker",
        "field",
        args=_pk("draft"),
        region="path",
        post=_body(action="submit"),
        post_denied="auditor",
    ),
    Row(
        "backoffice:version-create-json",
        "finance",
        "auditor",
        args=_pk("tariff"),
        region="path",
        post=_body(spec=SPEC),
    ),
    Row(
        "backoffice:version-edit",
        "finance",
        "checker",
        args=_pk("draft"),
        region="path",
        post=_body(spec=SPEC),
    ),
    Row(
        "backoffice:version-edit-json",
        "finance",
        "checker",
        args=_pk("draft"),
        region="path",
        post=_body(spec=SPEC),
    ),
    Row("backoffice:version-simulate", "auditor", "care", args=_pk("draft"), region="path"),
    # --- files ----------------------------------------------------------------------------------
    Row("backoffice:import", "care", "finance", post=_body(kind="customers")),
    Row("backoffice:import-confirm", None, "finance", get=False, post=_body(token="x")),
    Row(
        "backoffice:import-template",
        "care",
        "field",
        args=lambda r: {"kind": "meters", "fmt": "xlsx"},
    ),
    # --- partners -------------------------------------------------------------------------------
    Row("backoffice:partner-list", "finance", "cashier", region="unit"),
    Row("backoffice:partner-export", "auditor", "field", args=_fmt("csv"), region="unit"),
    Row(
        "backoffice:partner-create",
        "manager",
        "auditor",
        region="body",
        post=lambda w, r: {
            "code": "matrix-bank",
            "name": "Matrix Bank",
            "kind": "bank",
            "org_unit": r.unit.pk,
            "point_name": "Matrix online",
            "point_channel": "bank",
            "credit_limit": "0",
            "low_float": "0",
            "unconfirmed_policy": "auto_confirm",
            "confirmation_window_minutes": 60,
            "reversal_window_minutes": 60,
        },
    ),
    Row("backoffice:partner-detail", "auditor", "field", args=_pk("partner"), region="path"),
    Row(
        "backoffice:partner-edit",
        "manager",
        "auditor",
        args=_pk("partner"),
        region="path",
        post=_body(
            name="Renamed",
            status="suspended",
            credit_limit="0",
            low_float="0",
            unconfirmed_policy="auto_confirm",
            confirmation_window_minutes=60,
            reversal_window_minutes=60,
        ),
    ),
    Row(
        "backoffice:partner-point-add",
        "manager",
        "auditor",
        args=_pk("partner"),
        region="path",
        post=_body(name="Another till", channel="atm"),
    ),
    Row(
        "backoffice:top-up-request",
        "finance",
        "manager",
        args=_pk("partner"),
        region="path",
        post=_body(amount="250", reference="DEP-MATRIX"),
    ),
    Row("backoffice:partner-statement", "auditor", "field", args=_pk("partner"), region="path"),
    Row(
        "backoffice:partner-statement-export",
        "auditor",
        "field",
        args=lambda r: {"pk": r.partner.pk, "fmt": "csv"},
        region="path",
    ),
    Row(
        "backoffice:partner-key-issue",
        "manager",
        "auditor",
        args=_pk("partner"),
        region="path",
        post=_body(label="ATM switch", rate_limit_per_minute="600"),
    ),
    Row(
        "backoffice:partner-key-revoke",
        "manager",
        "auditor",
        args=_partner_key,
        region="path",
        get=False,
        post=_body(),
    ),
    # The region's finance person asked for the top-up: another one (the checker) decides it.
    Row("backoffice:top-up-list", "checker", "manager"),
    Row(
        "backoffice:top-up-decide",
        "checker",
        "manager",
        args=_pk("top_up"),
        region="path",
        get=False,
        post=_body(decision="approve", note="seen at the bank"),
    ),
    # --- partners' settlement --------------------------------------------------------------------
    Row(
        "backoffice:settlement",
        "auditor",
        "care",
        post=_settlement_upload,
        post_denied="auditor",
    ),
    Row(
        "backoffice:settlement-file",
        "auditor",
        "care",
        args=_pk("settlement_file"),
        region="path",
    ),
    Row(
        "backoffice:settlement-item-resolve",
        "finance",
        "auditor",
        args=_pk("settlement_item"),
        region="path",
        post=_body(action="accept", note="explained"),
    ),
    Row(
        "backoffice:settlement-resolution",
        "finance",
        "auditor",
        args=_pk("settlement_resolution"),
        region="path",
        post=_body(decision="approve", note="ok"),
    ),
    # --- offline stations' conflicts (the station API's own refusals: tests/stations/) ----------
    Row("backoffice:station-conflicts", "auditor", "field"),
    Row(
        "backoffice:station-conflict",
        "auditor",
        "field",
        args=_pk("station_conflict"),
        region="path",
        post=_body(note="replacement token issued"),
        post_denied="auditor",
    ),
    # --- handheld terminals (the gateway's own refusals: tests/terminals/test_gateway.py) --------
    Row("backoffice:terminals", "auditor", "field"),
    Row(
        "backoffice:terminal-register",
        "manager",
        "auditor",
        region="body",
        post=lambda w, r: {"terminal_id": "MATRIX01", "org_unit": r.unit.pk, "cipher": "aes256gcm"},
    ),
    Row(
        "backoffice:terminal",
        "auditor",
        "field",
        args=_pk("terminal"),
        region="path",
        post=_body(action="suspend", reason="matrix"),
        post_denied="auditor",
    ),
    Row(
        "backoffice:terminal-assign",
        "manager",
        "auditor",
        args=_pk("terminal"),
        region="path",
        post=lambda w, r: {"org_unit": r.unit.pk, "agent": "", "vending_point": ""},
    ),
    Row("backoffice:terminal-messages", "auditor", "manager", args=_pk("terminal"), region="path"),
    # --- offline stations (the station API's own refusals: tests/stations/) ---------------------
    Row("backoffice:stations", "auditor", "field"),
    Row(
        "backoffice:station-register",
        "manager",
        "auditor",
        region="body",
        post=lambda w, r: {
            "code": "matrix-st",
            "name": "Matrix station",
            "role": "station",
            "org_unit": r.unit.pk,
            "vending_point": r.station_point.pk if r.station_point else "",
            "parent": "",
        },
    ),
    Row(
        "backoffice:station",
        "auditor",
        "field",
        args=_pk("station"),
        region="path",
        post=_body(action="suspend", reason="matrix"),
        post_denied="auditor",
    ),
    Row(
        "backoffice:station-allowance",
        "manager",
        "auditor",
        args=_pk("station"),
        region="path",
        post=_body(ceiling="20000.00", valid_days="7"),
    ),
    Row("backoffice:agent-cash-list", "auditor", "field"),
    Row(
        "backoffice:agent-cash",
        "manager",
        "field",
        args=_pk("field_agent"),
        region="path",
        post=_body(action="limit", limit="10.00"),
        post_denied="auditor",
    ),
    Row("backoffice:cash-reconciliations", "auditor", "field"),
    # --- the bank link ---------------------------------------------------------------------------
    Row("backoffice:bank-links", "auditor", "field"),
    Row(
        "backoffice:bank-link-configure",
        "manager",
        "auditor",
        args=_pk("partner"),
        region="path",
        post=_bank_link_body,
    ),
    Row(
        "backoffice:bank-reconciliations",
        "auditor",
        "field",
        post=_bank_upload,
        post_denied="auditor",
    ),
    Row(
        "backoffice:bank-reconciliation",
        "auditor",
        "field",
        args=_pk("bank_reconciliation"),
        region="path",
        post=_body(close="1"),
        post_denied="auditor",
    ),
    Row(
        "backoffice:bank-discrepancy-resolve",
        "finance",
        "auditor",
        args=_pk("bank_line"),
        region="path",
        post=_body(reason="the bank's own test payment"),
    ),
    Row("backoffice:bank-messages", "auditor", "finance"),
    Row("backoffice:bank-message", "auditor", "finance", args=_pk("bank_message"), region="path"),
    # --- mobile money ---------------------------------------------------------------------------
    Row("backoffice:mobile-payments", "care", "field"),
    Row("backoffice:mobile-payment", "care", "field", args=_pk("mobile_payment"), region="path"),
    Row(
        "backoffice:mobile-payment-resolve",
        "care",
        "finance",
        args=_pk("mobile_payment"),
        region="path",
        get=False,
        post=lambda w, r: {"meter_number": r.meter.number, "note": "the right meter"},
    ),
    Row(
        "backoffice:mobile-payment-refund",
        "care",
        "finance",
        args=_pk("mobile_payment"),
        region="path",
        get=False,
        post=_body(reason="the customer asked"),
    ),
    Row(
        "backoffice:mobile-payment-payback",
        "care",
        "finance",
        args=_pk("mobile_payment"),
        region="path",
        get=False,
        post=_body(refund_reference="B2C0001", note="paid back by hand"),
    ),
    Row(
        "backoffice:mobile-refund-decide",
        "finance",
        "care",
        args=_pk("mobile_refund"),
        region="path",
        get=False,
        post=_body(decision="reject", note="not yet"),
    ),
    Row("backoffice:mobile-totals", "auditor", "field"),
    Row("backoffice:mobile-providers", "auditor", "field"),
    Row(
        "backoffice:mobile-provider-configure",
        "manager",
        "auditor",
        args=_aggregator,
        region="path",
        post=_mobile_provider_body,
    ),
    Row("backoffice:mobile-reconciliations", "auditor", "field"),
    Row("backoffice:phone-ussd-sessions", "care", "field"),
    Row("backoffice:phone-sms", "care", "field"),
    Row(
        "backoffice:mobile-reconciliation",
        "auditor",
        "field",
        args=_pk("mobile_reconciliation"),
        region="path",
    ),
    # --- wallets --------------------------------------------------------------------------------
    Row("backoffice:wallets", "finance", "field"),
    Row("backoffice:wallet", "care", "field", args=_wallet_ref, region="path"),
    Row(
        "backoffice:wallet-transfers",
        "finance",
        "care",
        post=lambda w, r: {"file": SimpleUploadedFile("matrix.csv", _transfer_file(r))},
    ),
    Row(
        "backoffice:wallet-transfer-credit",
        "finance",
        "care",
        args=_pk("wallet_transfer"),
        region="body",
        get=False,
        post=lambda w, r: {"wallet": _wallet_ref(r)["reference"]},
    ),
    Row("backoffice:point-export", "care", "cashier", args=_fmt("csv")),
    # My exports: everyone signed in has their own; another person's export answers 404.
    Row("web:export-list", "finance"),
    Row("web:export-rows", "finance"),
    Row("web:export-download", "finance", args=_pk("export"), region="path"),
    Row(
        "web:export-delete",
        "finance",
        args=_pk("export"),
        region="path",
        get=False,
        post=_body(confirm="1"),
    ),
    Row("backoffice:user-export", "auditor", "field", args=_fmt("xlsx")),
    # --- the counter ----------------------------------------------------------------------------
    Row("cashier:home", "cashier", "manager"),
    Row("cashier:search", "cashier", "manager"),
    Row("cashier:meter", "cashier", "manager", args=_number, region="path"),
    Row(
        "cashier:quote",
        "cashier",
        "manager",
        args=_number,
        region="path",
        get=False,
        post=_body(mode="money", amount="750", payment_method="cash"),
    ),
    Row(
        "cashier:sell",
        "cashier",
        "manager",
        args=_number,
        region="path",
        get=False,
        post=_body(mode="money", amount="750", payment_method="cash", client_reference="m" * 32),
    ),
    Row(
        "cashier:stk-push",
        "cashier",
        "manager",
        args=_number,
        region="path",
        get=False,
        post=lambda w, r: {
            "amount": "300",
            "phone": "0712 345 126",
            "paybill": r.mobile_provider.pk if r.mobile_provider else 0,
            "client_reference": "s" * 32,
        },
    ),
    # A push is followed by the cashier who asked for it only (another one's is not found).
    Row("cashier:stk", "cashier", "manager", args=_pk("stk_push"), region="path"),
    Row("cashier:sale", "cashier", "manager", args=_ref, region="path"),
    Row("cashier:reprint", "cashier", "manager"),
    Row("cashier:bills", "cashier", "manager"),
    Row("cashier:bill-receipt", "cashier", "manager", args=_pk("bill_payment"), region="path"),
    Row("cashier:wallet-top-up", "cashier", "manager"),
    Row("cashier:wallet-receipt", "cashier", "manager", args=_pk("wallet_top_up"), region="path"),
    Row("cashier:shift", "cashier", "manager", post=_body(counted_cash="0", note="")),
    # Another cashier's closed shift: a supervisor who also sells may read it, the cashier not.
    Row("cashier:closed", "supervisor", "manager", args=_pk("closed_shift"), region="path"),
    Row("cashier:lock", None, get=False),
    # Not locked: the unlock page sends the cashier back to the till.
    Row("cashier:unlock", "cashier", allowed_status=302),
    Row("cashier:alive", "cashier", allowed_status=204),
    # --- receipts -------------------------------------------------------------------------------
    Row("receipts:sale", "cashier", args=_ref, region="path"),
    Row("receipts:thermal", "cashier", args=_ref, region="path"),
    Row("receipts:pdf", "cashier", args=_ref, region="path", pdf=True),
    Row("receipts:escpos", "cashier", args=_ref, region="path", get=False, post=_body()),
    Row("receipts:shift-report", "supervisor", args=_pk("closed_shift"), region="path"),
    Row(
        "receipts:shift-report-pdf", "supervisor", args=_pk("closed_shift"), region="path", pdf=True
    ),
    # --- supervisors ----------------------------------------------------------------------------
    Row("supervisor:dashboard", "cashier", "auditor"),
    Row(
        "supervisor:request-reversal",
        "supervisor",
        "auditor",
        region="body",
        post=lambda w, r: {"sale_reference": r.sale.reference, "reason": "paid twice"},
    ),
    Row(
        "supervisor:approve-reversal",
        "finance",
        "cashier",
        args=_pk("reversal"),
        region="path",
        get=False,
        post=_body(note="checked the till"),
    ),
    Row(
        "supervisor:reject-reversal",
        "finance",
        "cashier",
        args=_pk("reversal"),
        region="path",
        get=False,
        post=_body(note="no"),
    ),
    Row(
        "supervisor:free-issue",
        "supervisor",
        "care_operator",
        region="body",
        post=lambda w, r: {
            "vending_point": r.point.pk,
            "meter_number": r.meter.number,
            "kwh": "12.5",
            "reason": "outage compensation",
            "client_reference": "f" * 32,
        },
    ),
    Row(
        "supervisor:free-issue-request",
        "finance",
        "care_operator",
        args=_pk("free_issue"),
        region="path",
    ),
    Row(
        "supervisor:approve-free-issue",
        "checker",
        "cashier",
        args=_pk("free_issue"),
        region="path",
        get=False,
        post=_body(note="fine"),
    ),
    Row(
        "supervisor:reject-free-issue",
        "checker",
        "cashier",
        args=_pk("free_issue"),
        region="path",
        get=False,
        post=_body(note="no"),
    ),
    Row(
        "supervisor:engineering-token",
        "supervisor",
        "care_operator",
        region="body",
        post=lambda w, r: {
            "vending_point": r.point.pk,
            "meter_number": r.meter.number,
            "kind": "clear_tamper",
            "value": "",
            "reason": "seal replaced",
            "client_reference": "c" * 32,
        },
    ),
    Row(
        "supervisor:key-change",
        "ms_manager",
        "supervisor",
        region="body",
        post=lambda w, r: {"meter_number": r.meter.number, "krn": "3", "reason": "rollout"},
    ),
    Row(
        "supervisor:meter-status",
        "supervisor",
        "care_operator",
        region="body",
        post=lambda w, r: {"meter_number": r.meter.number, "action": "block", "reason": "x"},
    ),
    Row("supervisor:fault-list", "field", "cashier"),
    Row(
        "supervisor:fault-create",
        "care_operator",
        "ms_manager",
        region="body",
        post=lambda w, r: {
            "meter_number": r.meter.number,
            "category": "no_supply",
            "reported_via": "call",
            "reporter_name": "Amina",
            "description": "no display",
        },
    ),
    Row(
        "supervisor:fault-detail",
        "field",
        "cashier",
        args=_pk("fault"),
        region="path",
        post=lambda w, r: {"action": "assign", "assignee": w.user("field").pk},
        post_denied="field",
    ),
    Row("supervisor:shift-list", "supervisor", "cashier"),
    Row("supervisor:banking-slip", "supervisor", "cashier"),
    Row(
        "supervisor:shift-detail", "supervisor", "cashier", args=_pk("closed_shift"), region="path"
    ),
    Row(
        "supervisor:shift-sign-off",
        "supervisor",
        "cashier",
        args=_pk("closed_shift"),
        region="path",
        get=False,
        post=_body(note="seen"),
    ),
    Row(
        "supervisor:shift-force-close",
        "supervisor",
        "cashier",
        args=_pk("closed_shift"),
        region="path",
        get=False,
        post=_body(reason="left"),
    ),
    # The Electrum Prepaid Utility interface: partners only, by their Basic credentials (its
    # scenarios with credentials: tests/gateways/electrum/).
    *(
        Row(f"electrum:{name}", None, args=_electrum(*ids), get=False, anonymous="basic")
        for name, ids in (
            ("meter-lookup", ("lookup_id",)),
            ("token-purchase", ("purchase_id",)),
            ("token-purchase-retry", ("purchase_id",)),
            ("token-purchase-trial", ("purchase_id",)),
            ("token-purchase-confirmation", ("purchase_id", "advice_id")),
            ("token-purchase-reversal", ("purchase_id", "advice_id")),
            ("token-reprint", ("reprint_id",)),
            ("key-change", ("request_id",)),
            ("key-change-confirmation", ("request_id", "advice_id")),
            ("fault-report", ("request_id",)),
        )
    ),
    # The Electrum Billpay interface: partners only, by their Basic credentials (its scenarios
    # with credentials: tests/gateways/billpay/).
    *(
        Row(f"billpay:{name}", None, args=_electrum(*ids), get=False, anonymous="basic")
        for name, ids in (
            ("account-lookup", ("request_id",)),
            ("payment", ("payment_id",)),
            ("payment-confirmation", ("payment_id", "advice_id")),
            ("payment-reversal", ("payment_id", "advice_id")),
            ("refund", ("refund_id",)),
            ("refund-confirmation", ("refund_id", "advice_id")),
            ("refund-reversal", ("refund_id", "advice_id")),
        )
    ),
    # The customer portal: its sign-up, sign-in and reset pages are open; every other page is a
    # customer's, and neither anonymous visitors nor staff sessions get past its sign-in. The
    # code steps send a visitor with no code in their session back to the step before (302).
    Row("portal:login", None, anonymous="open"),
    Row("portal:login-code", None, anonymous="open", allowed_status=302),
    Row("portal:logout", None, get=False, anonymous="open"),
    Row("portal:security", None, anonymous="portal"),
    Row("portal:language", None, get=False, anonymous="open"),
    Row("portal:sign-up", None, anonymous="open"),
    Row("portal:sign-up-code", None, anonymous="open", allowed_status=302),
    Row("portal:reset", None, anonymous="open"),
    Row("portal:reset-code", None, anonymous="open", allowed_status=302),
    Row("portal:home", None, anonymous="portal"),
    Row("portal:add-meter", None, anonymous="portal"),
    Row("portal:add-meter-code", None, anonymous="portal"),
    Row("portal:buy", None, anonymous="portal"),
    Row(
        "portal:pay",
        None,
        get=False,
        anonymous="portal",
        post=lambda w, r: {"meter": r.meter.number, "amount": "100", "request_id": "a" * 24},
    ),
    Row("portal:purchase", None, anonymous="portal", args=lambda r: {"pk": r.sale.pk}),
    # The portal's wallet pages (their signed-in cases: tests/portal/test_wallet.py and
    # test_isolation.py).
    Row("portal:wallet-index", None, anonymous="portal"),
    Row("portal:wallet", None, anonymous="portal", args=_account),
    Row("portal:wallet-statement", None, anonymous="portal", args=_account, pdf=True),
    Row(
        "portal:wallet-top-up",
        None,
        anonymous="portal",
        args=_account,
        post=lambda w, r: {"amount": "100", "method": "card:sandbox", "request_id": "a" * 24},
    ),
    Row(
        "portal:wallet-stk",
        None,
        anonymous="portal",
        args=lambda r: {**_account(r), "pk": r.sale.pk},
    ),
    Row(
        "portal:wallet-auto",
        None,
        anonymous="portal",
        args=_account,
        post=lambda w, r: {
            "enabled": "on",
            "meter": r.meter.number,
            "threshold": "100",
            "amount": "50",
        },
    ),
    Row(
        "portal:wallet-sale",
        None,
        anonymous="portal",
        args=lambda r: {**_account(r), "reference": r.sale.reference},
    ),
    Row("portal:wallet-card", None, anonymous="portal", args=_ref),
    Row(
        "portal:wallet-pay",
        None,
        get=False,
        anonymous="portal",
        post=lambda w, r: {
            "meter": r.meter.number,
            "amount": "100",
            "method": "wallet",
            "request_id": "a" * 24,
        },
    ),
    Row("portal:tokens", None, anonymous="portal"),
    Row("portal:token", None, anonymous="portal", args=_ref),
    Row("portal:token-pdf", None, anonymous="portal", args=_ref, pdf=True),
    Row("portal:token-rejected", None, anonymous="portal", args=_ref),
    Row("portal:usage", None, anonymous="portal"),
    Row("portal:bills", None, anonymous="portal"),
    Row("portal:bill-pdf", None, anonymous="portal", args=_pk("bill"), pdf=True),
    # Fault reports: other customers' ids are tried in tests/portal/test_isolation.py.
    Row("portal:faults", None, anonymous="portal"),
    Row(
        "portal:fault-new",
        None,
        anonymous="portal",
        post=lambda w, r: {
            "meter": r.meter.number,
            "kind": "no_supply",
            "description": "no power",
            "request_id": "a" * 24,
        },
    ),
    Row("portal:fault", None, anonymous="portal", args=lambda r: {"pk": r.fault.pk}),
    # Paying a bill from the wallet (signed-in cases: tests/portal/test_bill_pay.py).
    Row(
        "portal:bill-pay",
        None,
        get=False,
        anonymous="portal",
        args=_account,
        post=lambda w, r: {"amount": "100", "request_id": "a" * 24},
    ),
    Row(
        "portal:bill-paid",
        None,
        anonymous="portal",
        args=lambda r: {**_account(r), "pk": r.sale.pk},
    ),
]
