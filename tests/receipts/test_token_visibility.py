"""Viewing a receipt is not printing it, and live token digits are a capability.

Only the seller's print (the sale's operator, or whoever holds the shift it was sold in) is the
original and marks the sale printed; anyone else in scope gets a COPY that changes nothing and is
audited as ``receipt.viewed``. Whoever lacks ``view_tokens`` (auditors, finance, field agents,
other cashiers) sees ``**** **** **** **** 1234`` wherever token digits appear.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client

from gridvend.audit import triggers
from gridvend.audit.models import AuditEvent
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.vending.models import Sale
from tests import factories
from tests.receipts import pdftools
from tests.receipts.helpers import give, sell
from tests.world import World

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], Client]

MASKED = re.compile(r"\*{4} \*{4} \*{4} \*{4} (\d{4})")


def _auditor(world: World) -> User:
    return factories.user(world.unit, Role.OPERATOR, (Capability.AUDITOR,))


def _events(sale: Sale, event_type: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(event_type=event_type, target_id=str(sale.pk)).order_by("id")
    )


def _shown_tokens(html: str) -> list[str]:
    blocks = re.findall(r'<div class="token" dir="ltr">(.*?)</div>', html)
    return ["".join(re.findall(r'<span class="token-group">([0-9*]{4})</span>', b)) for b in blocks]


def _banners(html: str) -> list[str]:
    return re.findall(r'<div class="alert-banner" role="status">(.*?)</div>', html)


def test_auditor_viewing_a_receipt_neither_prints_it_nor_sees_the_digits(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    auditor = _auditor(world)
    html = client_for(auditor).get(f"/receipts/{sale.reference}/thermal/").content.decode()
    assert _banners(html) == ["COPY"]
    tokens = list(sale.tokens.order_by("sequence"))
    assert _shown_tokens(html) == ["*" * 16 + t.digits[-4:] for t in tokens]
    for token in tokens:
        assert token.digits not in html and token.grouped not in html
    sale.refresh_from_db()
    assert sale.receipt_printed_at is None
    assert _events(sale, "sale.receipt_printed") == [] and _events(sale, "sale.reprinted") == []
    [viewed] = _events(sale, "receipt.viewed")
    assert viewed.actor_id == auditor.pk and viewed.after == {"tokens_shown": False}
    # The cashier's real first print is still the original.
    first = client_for(world.cashier).get(f"/receipts/{sale.reference}/thermal/").content.decode()
    assert _banners(first) == []
    assert _shown_tokens(first) == [t.digits for t in tokens]
    sale.refresh_from_db()
    assert sale.receipt_printed_at is not None
    [printed] = _events(sale, "sale.receipt_printed")
    assert printed.actor_id == world.cashier.pk


@pdftools.needs_poppler
def test_auditor_pdf_is_a_masked_copy(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter())
    body = client_for(_auditor(world)).get(f"/receipts/{sale.reference}/pdf/").content
    assert body.startswith(b"%PDF")
    text = pdftools.text(body)
    assert "COPY" in text and "REPRINT" not in text
    for token in sale.tokens.all():
        assert token.grouped not in text
        assert f"**** **** **** **** {token.digits[-4:]}" in text
    sale.refresh_from_db()
    assert sale.receipt_printed_at is None


def test_field_agent_and_customer_care_in_scope_only_view_copies(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    agent = factories.user(world.unit, Role.OPERATOR, (Capability.FIELD_AGENT,))
    care = factories.user(world.unit, Role.OPERATOR, (Capability.CUSTOMER_CARE,))
    agent_html = client_for(agent).get(f"/receipts/{sale.reference}/thermal/").content.decode()
    assert all(MASKED.fullmatch(_group(t)) for t in _shown_tokens(agent_html))
    care_html = client_for(care).get(f"/receipts/{sale.reference}/thermal/").content.decode()
    # Customer care re-displays a lost token: the digits, on a copy.
    assert _shown_tokens(care_html) == [t.digits for t in sale.tokens.order_by("sequence")]
    assert _banners(care_html) == ["COPY"] and _banners(agent_html) == ["COPY"]
    sale.refresh_from_db()
    assert sale.receipt_printed_at is None
    assert [e.after for e in _events(sale, "receipt.viewed")] == [
        {"tokens_shown": False},
        {"tokens_shown": True},
    ]


def _group(digits: str) -> str:
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def test_supervisor_sees_the_digits_on_a_copy_and_the_seller_reprints(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    tokens = [t.digits for t in sale.tokens.order_by("sequence")]
    html = client_for(world.supervisor).get(f"/receipts/{sale.reference}/thermal/").content
    assert _shown_tokens(html.decode()) == tokens and _banners(html.decode()) == ["COPY"]
    cashier = client_for(world.cashier)
    assert _banners(cashier.get(f"/receipts/{sale.reference}/thermal/").content.decode()) == []
    again = cashier.get(f"/receipts/{sale.reference}/thermal/").content.decode()
    assert _banners(again) == ["REPRINT"]


def test_the_operator_of_a_free_issue_prints_its_original(
    world: World, client_for: ClientFor
) -> None:
    # A free issue made by the supervisor is theirs to print, even without a shift of their own.
    sale = give(world, world.add_meter(), world.supervisor)
    html = client_for(world.supervisor).get(f"/receipts/{sale.reference}/thermal/").content
    assert _banners(html.decode()) == []
    sale.refresh_from_db()
    assert sale.receipt_printed_at is not None


def test_the_holder_of_the_shift_prints_the_original(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter())
    # As if a supervisor had keyed the sale in at the cashier's till, inside the cashier's shift
    # (sales are append-only, so the set-up lifts the guard for this one edit).
    triggers.uninstall(connection)
    Sale.objects.filter(pk=sale.pk).update(operator=world.supervisor)
    triggers.install(connection)
    html = client_for(world.cashier).get(f"/receipts/{sale.reference}/thermal/").content
    assert _banners(html.decode()) == []
    assert _shown_tokens(html.decode()) == [t.digits for t in sale.tokens.order_by("sequence")]
    sale.refresh_from_db()
    assert sale.receipt_printed_at is not None
    [printed] = _events(sale, "sale.receipt_printed")
    assert printed.actor_id == world.cashier.pk


def test_view_tokens_capability_shows_the_digits(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter())
    reader = factories.user(world.unit, Role.OPERATOR, (Capability.AUDITOR, Capability.VIEW_TOKENS))
    assert permissions.can_view_tokens(reader)
    assert not permissions.can_view_tokens(_auditor(world))
    html = client_for(reader).get(f"/receipts/{sale.reference}/thermal/").content.decode()
    assert _shown_tokens(html) == [t.digits for t in sale.tokens.order_by("sequence")]
    assert _banners(html) == ["COPY"]


def test_another_cashier_sees_masked_tokens_on_the_sale_page(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    colleague = factories.user(world.unit, Role.OPERATOR, (Capability.CASHIER,))
    html = client_for(colleague).get(f"/cashier/sales/{sale.reference}/").content.decode()
    shown = re.findall(r'data-token="([0-9*]+)">([0-9* ]+)</div>', html)
    assert shown and all(MASKED.fullmatch(grouped) for _digits, grouped in shown)
    for token in sale.tokens.all():
        assert token.digits not in html
    own = client_for(world.cashier).get(f"/cashier/sales/{sale.reference}/").content.decode()
    for token in sale.tokens.all():
        assert f'data-token="{token.digits}"' in own and token.grouped in own


def test_meter_token_history_is_masked_for_an_auditor(world: World, client_for: ClientFor) -> None:
    meter = world.add_meter()
    sale = sell(world, meter)
    tokens = list(sale.tokens.all())
    html = client_for(_auditor(world)).get(f"/meters/{meter.pk}/").content.decode()
    for token in tokens:
        assert token.grouped not in html
        assert f"**** **** **** **** {token.digits[-4:]}" in html
    html = client_for(world.supervisor).get(f"/meters/{meter.pk}/").content.decode()
    for token in tokens:
        assert token.grouped in html
