"""Every URL of the URL conf and every form field, walked with hostile values: no 5xx, ever.

The walk signs in as an administrator, a supervisor and a cashier with an open shift and a sale,
crawls every page reachable by links from their start pages, and then, for each page:
- puts each hostile value into each query parameter the page's links and GET forms use (and
  ``page``), and into each path parameter of its URL pattern;
- posts each form on the page with each hostile value in each field in turn, the other fields
  keeping what the page filled in.
URL patterns that no link reaches are called with placeholder arguments, so nothing is left
out. Later channels (partner API, gateways) join this walk as they are added. The numbers of
URLs, parameters and requests tried are printed in the test summary.
"""

from __future__ import annotations

import html
import re
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone

from gridvend.banklink.services import links as bank_links
from gridvend.banklink.services import reconciliation as bank_reconciliation
from gridvend.customers import services as customers
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import business_date
from gridvend.meters import faults
from gridvend.meters.models import Meter
from gridvend.mobilemoney import services as mobile_services
from gridvend.mobilemoney.providers import C2BNotice, PulledTransaction
from gridvend.org import services as org_services
from gridvend.partners import services as partner_services
from gridvend.partners import settlement_files
from gridvend.readings import imports as reading_imports
from gridvend.readings import services as readings
from gridvend.reports import paging
from gridvend.stations.services import allowances as station_allowances
from gridvend.stations.services import registration as station_registration
from gridvend.vending import services as vending
from gridvend.vending import shifts
from tests import factories
from tests.hostile import (
    HOSTILE,
    HOSTILE_DEEP_JSON,
    HOSTILE_INT_PATH,
    HOSTILE_QUERY,
    HOSTILE_STR_PATH,
)
from tests.matrix import ROWS
from tests.partners.support import call, make_partner
from tests.signin import sign_in, signed_in
from tests.world import NOW, World, billed_postpaid_meter, build_world

# The lock's one answer is the unlock page, whatever it is sent (its `next` meets hostile values
# in tests/cashier/test_counter.py), so walking it would only lock the walk out.
SKIP_PATHS = ("/static/", "/logout/", "/i18n/", "/cashier/lock/")
LINK = re.compile(r"""(?:href|hx-get|hx-post|action)="([^"]*)\"""")
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
ATTR = re.compile(r"""([\w:-]+)="([^"]*)\"""")
FIELD = re.compile(
    r"<(select|textarea)\b([^>]*)>(.*?)</(?:select|textarea)>|<(input)\b([^>]*)>()", re.S | re.I
)
OPTION = re.compile(r"""<option\b[^>]*value="([^"]*)\"""", re.I)

MAX_PER_PATTERN = 1  # concrete URLs crawled per URL pattern
# The reports share one pattern: the sales journal (a start page, paged a sale at a time in the
# walk so that its cursor links are there), its second page, and the first report the index
# links to.
PER_PATTERN = {"reports/<slug:slug>/": 3}


@dataclass
class Stats:
    patterns: set[str] = field(default_factory=set)
    urls: set[str] = field(default_factory=set)
    parameters: int = 0
    forms: int = 0
    fields: int = 0
    requests: int = 0
    revived: int = 0  # requests sent again after the walk's own session was ended or locked
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain values a parallel test worker can send to the main process (execnet)."""
        return {
            "patterns": sorted(self.patterns),
            "urls": sorted(self.urls),
            "parameters": self.parameters,
            "forms": self.forms,
            "fields": self.fields,
            "requests": self.requests,
            "revived": self.revived,
            "failures": list(self.failures),
        }

    def add(self, other: dict[str, Any]) -> None:
        """Count a worker's walk into these totals (the main process of a parallel run)."""
        self.patterns.update(other["patterns"])
        self.urls.update(other["urls"])
        self.parameters += other["parameters"]
        self.forms += other["forms"]
        self.fields += other["fields"]
        self.requests += other["requests"]
        self.revived += other["revived"]
        self.failures.extend(other["failures"])


STATS = Stats()


def summary_lines(stats: Stats = STATS) -> list[str]:
    if not stats.requests:
        return []
    return [
        f"hostile walk: {len(stats.patterns)} URL patterns, {len(stats.urls)} URLs, "
        f"{stats.parameters} query/path parameters, {stats.forms} forms with {stats.fields} "
        f"fields; {len(HOSTILE_QUERY)} hostile values per parameter, {len(HOSTILE)} per field: "
        f"{stats.requests} requests ({stats.revived} sent again after a hostile value ended "
        f"the session), "
        f"{len(stats.failures)} server errors"
    ]


def all_patterns() -> list[str]:
    """Every route of the URL conf, as 'prefix/route' strings."""
    found: list[str] = []

    def walk(entries: Any, prefix: str) -> None:
        for entry in entries:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                found.append(prefix + str(entry.pattern))

    walk(get_resolver().url_patterns, "")
    return found


def route_of(path: str) -> str | None:
    try:
        return resolve(path).route
    except Resolver404:
        return None


def _attrs(text: str) -> dict[str, str]:
    return {k.lower(): html.unescape(v) for k, v in ATTR.findall(text)}


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str]


def forms_of(page_path: str, body: str) -> list[Form]:
    result = []
    for form_attrs, inner in FORM.findall(body):
        attrs = _attrs(form_attrs)
        method = attrs.get("method", "get").lower()
        action = attrs.get("hx-post") or attrs.get("action") or page_path
        if attrs.get("hx-post"):
            method = "post"
        values: dict[str, str] = {}
        for match in FIELD.findall(inner):
            tag, field_attrs, content = match[0] or match[3], match[1] or match[4], match[2]
            fa = _attrs(field_attrs)
            name = fa.get("name")
            if not name or name == "csrfmiddlewaretoken":
                continue
            kind = fa.get("type", "text").lower()
            if kind in {"submit", "button"} and name in values:
                continue
            if kind in {"checkbox", "radio"} and "checked" not in field_attrs and name in values:
                continue
            if tag.lower() == "select":
                options = [html.unescape(o) for o in OPTION.findall(content)]
                chosen = [o for o in options if o] or options or [""]
                values[name] = chosen[0]
            elif tag.lower() == "textarea":
                values[name] = html.unescape(content)
            else:
                values[name] = fa.get("value", "")
        result.append(Form(action=action, method=method, fields=values))
    return result


# Screens whose matrix row expects 503 (/readyz while the test world runs no worker): that
# answer is the page doing its job, not a server error; anything else 5xx still is.
UNAVAILABLE = frozenset(row.name for row in ROWS if row.allowed_status == 503)


def _check(stats: Stats, what: str, send: Any) -> Any:
    stats.requests += 1
    try:
        response = send()
        # A streamed export fails while it streams: read it to the end here.
        raw = (
            b"".join(response.streaming_content)
            if getattr(response, "streaming", False)
            else response.content
        )
        kind = response.get("Content-Type", "")
        response.text_body = raw.decode("utf-8", "replace") if kind.startswith("text/html") else ""
    except Exception as exc:  # the test client re-raises what the view raised
        stats.failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
        return None
    match = getattr(response, "resolver_match", None)
    expected = response.status_code == 503 and getattr(match, "view_name", "") in UNAVAILABLE
    if response.status_code >= 500 and not expected:
        stats.failures.append(f"{what}: HTTP {response.status_code}")
    return response


def crawl(client: Client, start: list[str], stats: Stats) -> dict[str, list[tuple[str, str]]]:
    """Follow same-site links from ``start``; returns pattern -> [(url, body)]."""
    seen: dict[str, list[tuple[str, str]]] = {}
    queue = deque(start)
    visited: set[str] = set()
    while queue:
        url = queue.popleft()
        if url in visited:
            continue
        visited.add(url)
        path = urlsplit(url).path
        route = route_of(path)
        if route is None or path.startswith(SKIP_PATHS):
            continue
        if len(seen.setdefault(route, [])) >= PER_PATTERN.get(route, MAX_PER_PATTERN):
            continue
        response = _check(stats, f"GET {url}", lambda u=url: client.get(u))
        if response is None:
            continue
        body = response.text_body if response.status_code == 200 else ""
        seen[route].append((url, body))
        stats.patterns.add(route)
        stats.urls.add(url)
        for link in LINK.findall(body):
            link = html.unescape(link)
            if link.startswith("/") and not link.startswith("//"):
                queue.append(link.split("#")[0])
    return seen


def query_names(url: str, body: str) -> set[str]:
    names = {"page"} | {k for k, _v in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    for link in LINK.findall(body):
        link = html.unescape(link)
        if urlsplit(link).path == urlsplit(url).path:
            names |= {k for k, _v in parse_qsl(urlsplit(link).query, keep_blank_values=True)}
    for form in forms_of(urlsplit(url).path, body):
        if form.method == "get":
            names |= set(form.fields)
    return names


def hostile_paths(url: str) -> list[str]:
    """The URL with each path parameter replaced by hostile values its converter accepts."""
    path = urlsplit(url).path
    match = resolve(path)
    urls = []
    for name, value in match.kwargs.items():
        raw = str(value)
        values = HOSTILE_INT_PATH if isinstance(value, int) else HOSTILE_STR_PATH
        for bad in values:
            candidate = path.replace(f"/{quote(raw)}/", f"/{bad}/", 1)
            if candidate != path:
                urls.append(candidate)
        del name
    return urls


SIGN_IN_PATHS = ("/login/", "/second-factor/", "/cashier/unlock/")


def _bounced(response: Any) -> bool:
    """The request never reached its view: the session was sent to sign in or to unlock."""
    if response is None or response.status_code not in (301, 302, 303):
        return False
    target = urlsplit(response.get("Location", "")).path
    return target.startswith(SIGN_IN_PATHS)


class Reviver:
    """Puts a walker back on its feet: unlocked, signed in past the second factor, and (for a
    cashier) with an open shift, after a hostile value took one of those away."""

    def __init__(self, client: Client, user: Any, world: World | None = None) -> None:
        self.client, self.user, self.world = client, user, world

    def __call__(self) -> None:
        from gridvend.identity.models import User

        User.objects.filter(pk=self.user.pk).update(failed_logins=0, locked_until=None)
        self.user.refresh_from_db()
        sign_in(self.client, self.user)
        self.after_post()

    def after_post(self) -> None:
        if self.world is None:
            return
        from gridvend.vending import shifts

        if shifts.current_shift(self.user) is None:
            shifts.open_shift(
                actor=self.user,
                vending_point=self.world.point,
                opening_float=self.world.money("0"),
            )


def attack_page(
    client: Client,
    url: str,
    body: str,
    stats: Stats,
    posted: set[Any],
    revive: Reviver,
    mine: Callable[[str | None], bool] = lambda route: True,
) -> None:
    """Hostile values in the page's query and path parameters (if its route is ``mine``) and in
    every field of its forms whose action's route is ``mine``."""
    path = urlsplit(url).path
    if mine(route_of(path)):
        names = query_names(url, body)
        stats.parameters += len(names)
        for name in sorted(names):
            for value in HOSTILE_QUERY:
                target = f"{path}?{urlencode({name: value})}"
                _check(stats, f"GET {path}?{name}={value[:30]!r}", lambda t=target: client.get(t))
        for bad_url in hostile_paths(url):
            stats.parameters += 1
            _check(stats, f"GET {bad_url[:120]}", lambda t=bad_url: client.get(t))
    for form in forms_of(path, body):
        if form.method != "post" or not form.fields:
            continue
        action_path = urlsplit(html.unescape(form.action)).path or path
        if action_path.startswith(SKIP_PATHS) or route_of(action_path) is None:
            continue
        if not mine(route_of(action_path)):
            continue
        key = (route_of(action_path), tuple(sorted(form.fields)))
        if key in posted:
            continue
        posted.add(key)
        stats.forms += 1
        stats.fields += len(form.fields)
        for name in form.fields:
            for value in HOSTILE:
                data = {**form.fields, name: value}
                what = f"POST {action_path} {name}={value[:30]!r}"
                response = _check(stats, what, lambda a=form.action, d=data: client.post(a, d))
                if _bounced(response):
                    # A hostile value signed the walk out (wrong passwords lock the account)
                    # or closed what the form needs: put it back and send the value again, so
                    # that the form itself, not the sign-in page, answers it.
                    revive()
                    stats.revived += 1
                    response = _check(stats, what, lambda a=form.action, d=data: client.post(a, d))
                    if _bounced(response):
                        stats.failures.append(f"{what}: never reached the form (sent to sign-in)")
                revive.after_post()


def _world() -> tuple[World, Any]:
    world = build_world()
    meter = world.add_meter(name="Walk Customer")
    world.add_meter(name="Second Customer")
    vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="walk-1",
        meter_number=meter.number,
        tender=world.money("500"),
        payment_method="cash",
    )
    customers.open_debt(
        actor=world.admin,
        customer=world.customer(meter),
        amount=world.money("25"),
        reason="Old arrears",
    )
    faults.register_fault(
        actor=world.supervisor,
        meter=meter,
        description="No supply since Monday",
    )
    # A partner with a sale and a top-up someone else asked for: the administrator's walk reaches
    # its page, statement, edit and top-up forms and the decision buttons.
    partner = make_partner(world, code="walk-float", float_major="1000")
    partner_services.purchase(call(partner), "walk-req", meter.number, tender=world.money("100"))
    partner_services.request_top_up(
        actor=factories.user(world.tree.root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,)),
        partner=partner,
        amount=world.money("50"),
        reference="WALK-DEP",
    )
    # A second cashier's shift, left open an hour after the cashier's: newest, it heads the
    # supervisors' shift list, so the walk force-closes (and then signs off) this one and the
    # cashier keeps selling.
    shifts.open_shift(
        actor=factories.user(world.unit, capabilities=("cashier",)),
        vending_point=world.point,
        opening_float=world.money("0"),
        now=NOW + timedelta(hours=1),
    )
    _settlement(world, meter.number)
    _readings(world, meter)
    # A posted billing run with a bill and a payment, so the billing pages have rows to follow.
    billed_postpaid_meter(world, world.unit, "Walk")
    _mobile(world, meter.number)
    _station(world)
    return world, meter


def _station(world: World) -> None:
    """An offline station with an allowance, so the walk reaches its page, its action form and
    its top-up form (the station API itself is walked by the placeholder calls)."""
    point = org_services.create_vending_point(
        actor=world.admin, org_unit=world.unit, name="Walk station", channel="offline_station"
    )
    station, _code = station_registration.register_station(
        actor=world.admin,
        code="walk-st1",
        name="Walk station",
        org_unit=world.unit,
        vending_point=point,
    )
    station_allowances.issue_allowance(
        actor=world.admin,
        station=station,
        ceiling=100_000,
        valid_until=timezone.now() + timedelta(days=3),
    )


def _mobile(world: World, meter_number: str) -> None:
    """A paybill with a payment for an unknown account in suspense, another whose refund a
    customer-care person asked for, and a reconciled day: the walk reaches the payments, the
    resolve, refund and decision forms, the providers, totals and reconciliation screens."""
    aggregator = make_partner(world, code="walk-mpesa", float_major="1000", kind="aggregator")
    provider = mobile_services.configure_provider(
        actor=world.admin,
        partner=aggregator,
        values=mobile_services.ProviderSettings(
            code="walk-mpesa",
            name="Walk paybill",
            kind="sandbox",
            shortcode="600300",
            base_url="http://127.0.0.1:9",
            consumer_key_env="GRIDVEND_MPESA_CONSUMER_KEY",
            consumer_secret_env="GRIDVEND_MPESA_CONSUMER_SECRET",
            passkey_env="GRIDVEND_MPESA_PASSKEY",
        ),
    )
    payments = []
    for trans_id, account in (
        ("WALKMM1", "nowhere"),
        ("WALKMM2", "nowhere"),
        ("WALKMM3", meter_number),
    ):
        payment, _new = mobile_services.receive_payment(
            provider=provider,
            notice=C2BNotice(
                trans_id=trans_id,
                trans_time="",
                amount="100",
                bill_ref=account,
                msisdn="2547 ***** 126",
            ),
            source="confirmation",
        )
        payments.append(payment)
    care = factories.user(world.tree.root, Role.MASTER_STATION_MANAGER, (Capability.CUSTOMER_CARE,))
    mobile_services.request_payment_refund(actor=care, payment=payments[1], reason="no account")
    mobile_services.reconcile_statement(
        provider=provider,
        day=business_date(timezone.now(), settings.TIME_ZONE),
        statement=[
            PulledTransaction(
                trans_id="WALKMM9",
                occurred_at=None,
                msisdn="254712345126",
                bill_ref="x",
                amount="5",
            )
        ],
    )


def _readings(world: World, meter: Any) -> None:
    """A reading book holding the walk's meter, read twice by a meter reader (the second lower:
    an exception for the administrator to decide) and a meter-data file the reader imported."""
    reader = factories.user(world.unit, Role.OPERATOR, (Capability.METER_READER,))
    book = readings.create_book(
        actor=world.admin, org_unit=world.unit, code="walk-route", name="Walk route", cycle_day=1
    )
    readings.add_book_meter(actor=world.admin, book=book, meter=meter)
    now = timezone.now()
    for days, value in ((60, "1000"), (30, "900")):
        readings.record_reading(
            actor=reader,
            meter=meter,
            register_kwh=Decimal(value),
            read_at=now - timedelta(days=days),
        )
    content = f"meter_number,read_at,register_kwh\n{meter.number},{now.isoformat()},1100\n"
    reading_imports.import_readings(actor=reader, filename="walk.csv", content=content.encode())


def _settlement(world: World, meter_number: str) -> None:
    """A partner's reconciled file with open items and a resolution another finance person
    proposed, so the walk reaches the report, the resolve form and the decision form."""
    partner = partner_services.create_partner(
        actor=world.admin,
        code="walk-bank",
        name="Walk Bank",
        kind="bank",
        org_unit=world.tree.root,
        currency=world.tariff.currency,
    )
    maker = factories.user(world.tree.root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,))
    day = business_date(timezone.now(), settings.TIME_ZONE)
    lines = [",".join(settlement_files.COLUMNS)] + [
        f"{day},walk-{n},,{meter_number},{amount},{partner.currency},SALE,{day}T08:00:00Z"
        for n, amount in ((1, 500), (2, 900000))
    ]
    upload = partner_services.upload_settlement_file(
        actor=maker,
        partner=partner,
        business_date=day,
        content="\n".join(lines).encode(),
        filename="walk.csv",
    )
    partner_services.resolve_item(
        actor=maker, item=upload.items.get(request_ref="walk-2"), action="accept", note="test"
    )
    _bank_link(world, partner, maker, meter_number)


def _bank_link(world: World, partner: Any, maker: Any, meter_number: str) -> None:
    """The walk bank's fixed-format link, a day of it with a discrepancy to resolve, and a raw
    message in each direction, so the walk reaches the status, reconciliation, resolve and
    raw-message screens."""
    link = bank_links.configure_link(
        actor=world.admin, partner=partner, values=bank_links.LinkSettings(agency_id="WALK01")
    )
    account = world.customer(Meter.objects.get(number=meter_number)).account_number
    bank_reconciliation.receive(
        actor=maker,
        link=link,
        bank_date=business_date(timezone.now(), settings.TIME_ZONE),
        rows=[bank_reconciliation.BankRow("WALKS1", account, 500)],
        source="upload",
    )
    session = bank_links.open_session(
        link=link, peer_host="127.0.0.1", peer_port=40000, is_tls=False
    )
    for direction, content in (("in", "0004测试".encode("gbk")), ("out", b"0000")):
        bank_links.store_message(session=session, direction=direction, content=content)


# The walk is cut into shards by URL pattern, so that parallel workers share it: each shard
# builds the same world and crawls every user's pages (cheap), then sends hostile values only to
# the patterns that fall in it (by a stable hash), its pages' parameters and the forms posting to
# them, and calls the patterns its crawl did not reach with placeholder arguments.
SHARDS = 4


def shard_of(route: str | None) -> int:
    return zlib.crc32((route or "").encode()) % SHARDS


@pytest.mark.long
@pytest.mark.django_db
@pytest.mark.parametrize("shard", range(SHARDS))
def test_no_url_and_no_form_field_answers_a_server_error(
    shard: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "PAGE_SIZE", 1)
    world, walk_meter = _world()
    stats = STATS
    requests_before = stats.requests

    def mine(route: str | None) -> bool:
        return shard_of(route) == shard

    posted: set[Any] = set()
    everyone = [
        (
            world.admin,
            [
                "/reports/sales-journal/",
                "/",
                "/customers/",
                "/meters/",
                "/tariffs/",
                "/operation-log/",
                "/partners/",
                "/settlement/",
                "/reports/",
                "/reading-books/",
                "/readings/",
                "/readings/exceptions/",
                "/billing/runs/",
                "/billing/bills/",
                "/billing/payments/",
                "/billing/arrears/",
            ],
        ),
        (world.supervisor, ["/", "/supervisor/"]),
        # Finance and auditor at once: the bank link's reconciliation forms and raw messages.
        (
            factories.user(
                world.tree.root,
                Role.MASTER_STATION_MANAGER,
                (Capability.FINANCE, Capability.AUDITOR),
            ),
            ["/bank-links/", "/bank-links/reconciliations/", "/bank-links/messages/"],
        ),
        (world.cashier, ["/cashier/"]),
    ]
    crawled: dict[str, list[tuple[str, str]]] = {}
    for user, start in everyone:
        client = signed_in(user)
        revive = Reviver(client, user, world if user == world.cashier else None)
        pages = crawl(client, start, stats)
        for route, found in pages.items():
            crawled.setdefault(route, []).extend(found)
        for found in pages.values():
            for url, body in found:
                attack_page(client, url, body, stats, posted, revive, mine)
        if user == world.cashier:
            # The sell form only exists on a quote's answer: get one, and walk its form too.
            revive()
            quote_url = f"/cashier/meters/{walk_meter.number}/quote/"
            answer = client.post(
                quote_url, {"mode": "money", "amount": "500", "payment_method": "cash"}
            )
            body = answer.content.decode()
            assert 'name="client_reference"' in body, "the walk could not reach a quote"
            attack_page(client, quote_url, body, stats, posted, revive, mine)

    # Patterns no link reached are still called, with placeholder arguments.
    admin = signed_in(world.admin)
    revive_admin = Reviver(admin, world.admin)
    for route in all_patterns():
        if route in crawled or not mine(route):
            continue
        concrete = re.sub(r"<int:\w+>", "1", route)
        concrete = re.sub(r"<(?:str|slug):\w+>", "x", concrete)
        concrete = "/" + concrete.lstrip("/")
        stats.patterns.add(route)
        stats.urls.add(concrete)
        response = _check(stats, f"GET {concrete}", lambda c=concrete: admin.get(c))
        body = response.text_body if response is not None else ""
        attack_page(admin, concrete, body, stats, posted, revive_admin, mine)

    print("\n" + "\n".join(summary_lines()))
    assert stats.requests - requests_before > 1000
    assert not stats.failures, "\n".join(stats.failures[:40])


@pytest.mark.django_db
def test_no_url_answers_a_deeply_nested_json_body_with_a_server_error() -> None:
    """Every route of the URL conf (placeholder arguments, as the walk's last step) is posted a
    JSON body nested deeper than the decoder recurses, anonymously and as an administrator:
    a JSON endpoint must refuse it (the decoder's RecursionError is not a ValueError), a form
    must ignore it. The signed channels get the same body with their credentials beside their
    own tests (station API: tests/stations/test_review17_round3.py; partner API:
    tests/api/test_api_hostile.py)."""
    world = build_world()
    stats = Stats()
    callers = [Client(raise_request_exception=True), signed_in(world.admin)]
    for route in all_patterns():
        concrete = re.sub(r"<int:\w+>", "1", route)
        concrete = re.sub(r"<(?:str|slug|path):\w+>", "x", concrete)
        concrete = "/" + concrete.lstrip("/")
        if concrete.startswith(SKIP_PATHS):
            continue
        for caller in callers:
            _check(
                stats,
                f"POST {concrete} (deep JSON)",
                lambda c=caller, u=concrete: c.post(
                    u, HOSTILE_DEEP_JSON, content_type="application/json"
                ),
            )
    assert stats.requests > 400
    assert not stats.failures, "\n".join(stats.failures[:40])


def test_the_walk_counts_of_parallel_workers_add_up_to_one_summary() -> None:
    """In a parallel run each worker sends Stats.as_dict() and the main process adds them."""
    one, two = Stats(), Stats()
    one.patterns |= {"customers/", "meters/"}
    one.urls |= {"/customers/", "/meters/"}
    one.parameters, one.forms, one.fields, one.requests, one.revived = 5, 2, 7, 300, 1
    two.patterns |= {"meters/", "tariffs/"}
    two.urls |= {"/meters/", "/tariffs/"}
    two.parameters, two.forms, two.fields, two.requests = 3, 1, 4, 200
    two.failures.append("GET /tariffs/?q=x: 500")
    total = Stats()
    for worker in (one, two):
        total.add(worker.as_dict())
    assert total.patterns == {"customers/", "meters/", "tariffs/"}
    assert len(total.urls) == 3
    assert (total.parameters, total.forms, total.fields) == (8, 3, 11)
    assert (total.requests, total.revived, total.failures) == (500, 1, two.failures)
    [line] = summary_lines(total)
    assert "3 URL patterns, 3 URLs, 8 query/path parameters, 3 forms with 11 fields" in line
    assert "500 requests (1 sent again" in line and line.endswith("1 server errors")
    assert summary_lines(Stats()) == []
