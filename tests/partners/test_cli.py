"""`gridvend partners` end to end: add a partner, list it, issue a key that then opens the API,
rotate and revoke keys, and a day's float statement that ties to the ledger."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from gridvend.audit.models import AuditEvent
from gridvend.kernel.clock import business_date
from gridvend.partners import services as partners
from gridvend.partners.credentials import authenticate
from gridvend.partners.errors import CredentialRefused
from gridvend.partners.models import Partner, PartnerKey
from gridvend.partners.selectors import float_statement
from gridvend.vending import services as vending
from tests.partners.support import call, make_partner
from tests.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("partners", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _auth(secret: str) -> Partner:
    return authenticate(
        authorization=f"Bearer {secret}", ip="192.0.2.1", method="GET", path="/", body=b""
    )


def test_add_list_issue_key_and_the_printed_key_opens_the_api() -> None:
    world = build_world()
    out, _err = _run(
        "add",
        "mpesa-agg",
        "--name",
        "M-Pesa Aggregator",
        "--kind",
        "aggregator",
        "--unit",
        world.tree.root.code,
        "--credit-limit",
        "500",
        "--channel",
        "ussd",
    )
    partner = Partner.objects.get(code="mpesa-agg")
    assert "mpesa-agg" in out and partner.points.count() == 1
    event = AuditEvent.objects.filter(event_type="partner.created").latest("id")
    assert event.actor_id == world.admin.pk  # the first active Administrator
    listed, _err = _run("list")
    assert "mpesa-agg" in listed and "M-Pesa Aggregator" in listed

    out, err = _run("issue-key", "mpesa-agg", "--label", "core switch", "--requires-signature")
    key = re.search(r"API key:\s+(gvk_\S+)", out)
    signing = re.search(r"Signing secret:\s+(gvs_\S+)", out)
    assert key is not None and signing is not None
    assert "never again" in err
    row = PartnerKey.objects.get(partner=partner)
    assert row.requires_signature and row.label == "core switch"
    assert key.group(1) not in row.digest
    with pytest.raises(CredentialRefused) as refused:
        _auth(key.group(1))
    assert refused.value.code == "SIGNATURE_REQUIRED"

    out, _err = _run("issue-key", "mpesa-agg", "--as", world.admin.username)
    plain = re.search(r"API key:\s+(gvk_\S+)", out)
    assert plain is not None and _auth(plain.group(1)) == partner
    listed, _err = _run("list")
    assert re.search(r"mpesa-agg .* 2 ", listed)


def test_rotate_then_revoke_from_the_command_line() -> None:
    world = build_world()
    partner = make_partner(world)
    out, _err = _run("issue-key", partner.code)
    old = re.search(r"API key:\s+(gvk_\S+)", out)
    assert old is not None
    old_prefix = old.group(1)[:14]
    out, _err = _run("issue-key", partner.code, "--replaces", old_prefix, "--overlap-hours", "1")
    new = re.search(r"API key:\s+(gvk_\S+)", out)
    assert new is not None and "keeps working until" in out
    assert _auth(old.group(1)) == partner and _auth(new.group(1)) == partner
    old_row = PartnerKey.objects.get(prefix=old_prefix)
    assert old_row.expires_at is not None
    assert old_row.expires_at <= timezone.now() + timedelta(hours=1)
    out, _err = _run("revoke-key", new.group(1)[:14])
    assert "revoked" in out
    with pytest.raises(CredentialRefused) as refused:
        _auth(new.group(1))
    assert refused.value.code == "KEY_REVOKED"


@pytest.mark.parametrize(
    "args",
    [
        ("issue-key", "no-such-partner"),
        ("issue-key", "acme-bank", "--as", "nobody"),
        ("issue-key", "acme-bank", "--rate-limit", "0"),
        ("issue-key", "acme-bank", "--overlap-hours", "9999"),
        ("issue-key", "acme-bank", "--expires", "not-a-date"),
        ("issue-key", "acme-bank", "--expires", "2000-01-01"),
        ("issue-key", "acme-bank", "--replaces", "gvk_aaaaaaaaaa"),
        ("revoke-key", "gvk_aaaaaaaaaa"),
        ("statement", "acme-bank", "--day", "2031-02-30"),
        ("add", "x y", "--name", "X", "--kind", "bank", "--unit", "root"),
    ],
)
def test_refused_commands_say_why_and_write_nothing(args: tuple[str, ...]) -> None:
    world = build_world()
    make_partner(world)
    before = (AuditEvent.objects.count(), PartnerKey.objects.count(), Partner.objects.count())
    with pytest.raises(CommandError):
        _run(*args)
    after = (AuditEvent.objects.count(), PartnerKey.objects.count(), Partner.objects.count())
    assert after == before


def test_a_cashier_cannot_issue_keys() -> None:
    world = build_world()
    partner = make_partner(world)
    with pytest.raises(CommandError):
        _run("issue-key", partner.code, "--as", world.cashier.username)
    assert not PartnerKey.objects.exists()


def test_the_float_statement_ties_sales_reversals_and_top_ups_to_the_ledger() -> None:
    world = build_world()
    partner = make_partner(world, float_major="1000")
    today = business_date(timezone.now(), settings.TIME_ZONE)
    meter = world.add_meter()
    first = partners.purchase(call(partner), "r-1", meter.number, tender=world.money("300"))
    partners.purchase(call(partner), "r-2", meter.number, tender=world.money("100"))
    assert first.result is not None
    partners.reverse(call(partner), "adv-1", "r-1")
    vending.top_up_float(
        actor=world.admin,
        vending_point=partners.partner_point(partner),
        amount=world.money("50"),
        reference="second",
    )
    statement = float_statement(partner, today)
    assert statement.opening == world.money("0")
    assert statement.top_ups == world.money("1050") and statement.top_up_count == 2
    assert statement.sales == world.money("400") and statement.sale_count == 2
    assert statement.reversals == world.money("300") and statement.reversal_count == 1
    assert statement.closing == world.money("950") and statement.ties
    tomorrow = float_statement(partner, today + timedelta(days=1))
    assert tomorrow.opening == statement.closing == tomorrow.closing
    assert tomorrow.sale_count == 0
    out, _err = _run("statement", partner.code, "--day", today.isoformat())
    for label in ("Opening", "Top-ups", "Sales", "Reversals", "Closing"):
        assert label in out
    assert world.money("950").format() in out
