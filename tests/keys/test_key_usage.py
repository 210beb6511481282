"""Usage counters per vending key: how many tokens each key made and when it last made one,
read from the token rows (a sale writes nothing extra; its pinned statement count is unchanged,
tests/vending/test_vend_queries.py)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command

from gridvend.keys import services as keys
from gridvend.meters.keychanges import request_key_change
from gridvend.vending import services as vending
from gridvend.vending.key_usage import key_usage
from gridvend.vending.models import Token, TokenKind
from tests.world import build_world

pytestmark = pytest.mark.django_db


def test_each_key_counts_the_tokens_it_made_and_when_it_last_made_one() -> None:
    world = build_world()
    idle = keys.store_vending_key(actor=None, key_ref="vk-idle", key_hex="11" * 8, dkga="02")
    first, second = world.add_meter(), world.add_meter()
    # The first sale of the month: a credit token and an FBE token.
    sale = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="u1",
        meter_number=first.number,
        tender=world.money("500.00"),
        clock=world.clock,
    )
    world.clock.advance(timedelta(hours=2))
    later = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="u2",
        meter_number=second.number,
        tender=world.money("500.00"),
        clock=world.clock,
    )
    made = len(sale.tokens) + len(later.tokens)
    assert made == 4  # credit and FBE each
    usage = {u.key_ref: u for u in key_usage()}
    assert usage[world.key_ref].tokens == 4
    assert usage[world.key_ref].last_used_at == world.clock.now()
    assert (usage[idle.key_ref].tokens, usage[idle.key_ref].last_used_at) == (0, None)

    out = io.StringIO()
    call_command("keys", "list", stdout=out)
    line = next(row for row in out.getvalue().splitlines() if row.startswith(world.key_ref))
    assert f" 4 {world.clock.now():%Y-%m-%d %H:%M} UTC" in line
    idle_line = next(row for row in out.getvalue().splitlines() if row.startswith("vk-idle"))
    assert idle_line.endswith(" 0 never") and idle.check_value in idle_line


def test_key_change_tokens_count_for_the_old_key_and_later_tokens_for_the_new() -> None:
    world = build_world()
    keys.store_vending_key(actor=None, key_ref="vk-next", key_hex="22" * 8, dkga="02")
    meter = world.add_meter()
    request_key_change(actor=world.admin, meter=meter, key_ref="vk-next", reason="new key")
    sale = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="kc",
        meter_number=meter.number,
        tender=world.money("500.00"),
        clock=world.clock,
    )
    rows = list(Token.objects.filter(sale_id=sale.sale.pk).order_by("sequence"))
    kinds = [(t.kind, t.key_ref) for t in rows]
    assert kinds[:2] == [(TokenKind.KEY_CHANGE, world.key_ref)] * 2
    assert {k for kind, k in kinds[2:]} == {"vk-next"}
    usage = {u.key_ref: u.tokens for u in key_usage()}
    assert usage[world.key_ref] == 2 and usage["vk-next"] == len(rows) - 2


def test_a_meter_test_token_is_made_by_no_key() -> None:
    world = build_world()
    meter = world.add_meter()
    vending.issue_engineering_token(
        actor=world.supervisor,
        vending_point=world.point,
        client_reference="test",
        meter_number=meter.number,
        kind="test",
        value=None,
        reason="site visit",
        clock=world.clock,
    )
    assert list(Token.objects.values_list("token_class", "key_ref")) == [(1, "")]
    assert {u.key_ref: u.tokens for u in key_usage()}[world.key_ref] == 0
