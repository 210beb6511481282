"""A partner's requests and advices through the service layer: one answer per request id, sales
that are final only by advice or policy, and a float that always ties to the sales."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from gridvend.customers.models import Customer
from gridvend.kernel.clock import FixedClock
from gridvend.kernel.errors import DomainError
from gridvend.ledger.selectors import account_balance
from gridvend.partners import services as partners
from gridvend.partners.models import AdviceOutcome, PartnerAdvice, PartnerRequest, SaleState
from gridvend.vending.models import Sale, SaleStatus
from gridvend.vending.selectors import float_available
from tests.partners.support import call, make_partner
from tests.world import build_world

pytestmark = pytest.mark.django_db


def _refused(fn, *args, **kwargs) -> str:
    with pytest.raises(DomainError) as caught:
        fn(*args, **kwargs)
    return caught.value.code


def test_purchase_sells_from_the_float_and_the_meter_accepts_the_token_once() -> None:
    world = build_world()
    partner = make_partner(world, float_major="1000")
    meter = world.add_meter()
    answer = partners.purchase(call(partner), "req-1", meter.number, tender=world.money("300"))
    assert not answer.replayed and answer.result is not None
    assert answer.request.state == SaleState.PENDING
    sale = answer.result.sale
    assert sale.vending_point_id == partners.partner_point(partner).pk
    assert sale.shift_id is None and sale.payment_method == "float"
    sim = world.simulator(meter)
    for token in answer.result.tokens:
        assert sim.enter(token.digits).accepted
        assert not sim.enter(token.digits).accepted
    point = partners.partner_point(partner)
    assert float_available(point, partner.currency) == world.money("700")


def test_a_repeated_request_id_gets_the_same_tokens_and_sells_nothing_more() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    first = partners.purchase(call(partner), "same", meter.number, tender=world.money("300"))
    again = partners.purchase(call(partner), "same", meter.number, tender=world.money("300"))
    assert again.replayed and again.result is not None and first.result is not None
    assert [t.digits for t in again.result.tokens] == [t.digits for t in first.result.tokens]
    assert Sale.objects.count() == 1


def test_the_same_request_id_with_another_body_is_refused_and_writes_nothing() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    partners.purchase(call(partner), "dup", meter.number, tender=world.money("300"))
    code = _refused(
        partners.purchase, call(partner), "dup", meter.number, tender=world.money("150")
    )
    assert code == "DUPLICATE_REQUEST"
    assert Sale.objects.count() == 1 and PartnerRequest.objects.count() == 1


def test_a_declined_request_keeps_its_answer_even_after_the_float_is_topped_up() -> None:
    world = build_world()
    partner = make_partner(world, float_major="100")
    meter = world.add_meter()
    assert (
        _refused(partners.purchase, call(partner), "r", meter.number, tender=world.money("300"))
        == "INSUFFICIENT_FLOAT"
    )
    stored = PartnerRequest.objects.get(request_id="r")
    assert stored.state == SaleState.DECLINED and stored.error_code == "INSUFFICIENT_FLOAT"
    from gridvend.vending import services as vending

    vending.top_up_float(
        actor=world.admin,
        vending_point=partners.partner_point(partner),
        amount=world.money("500"),
        reference="top-2",
    )
    assert (
        _refused(partners.purchase, call(partner), "r", meter.number, tender=world.money("300"))
        == "INSUFFICIENT_FLOAT"
    )
    assert Sale.objects.count() == 0
    # A new id sells.
    partners.purchase(call(partner), "r2", meter.number, tender=world.money("300"))


def test_the_credit_limit_lets_the_float_be_drawn_below_zero_and_no_further() -> None:
    world = build_world()
    partner = make_partner(world, float_major="0", credit_major="400")
    meter = world.add_meter()
    partners.purchase(call(partner), "a", meter.number, tender=world.money("300"))
    code = _refused(partners.purchase, call(partner), "b", meter.number, tender=world.money("300"))
    assert code == "INSUFFICIENT_FLOAT"
    assert account_balance(partner.float_account) == 30000


def test_confirmation_makes_the_sale_final_and_a_later_reversal_is_refused() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    partners.purchase(call(partner), "p1", meter.number, tender=world.money("300"))
    done = partners.confirm(call(partner), "c1", "p1")
    assert done.request.state == SaleState.CONFIRMED
    # The same advice again: the same answer, counted.
    partners.confirm(call(partner), "c1", "p1")
    assert PartnerAdvice.objects.get(advice_id="c1").times_seen == 2
    assert _refused(partners.reverse, call(partner), "v1", "p1") == "SALE_ALREADY_CONFIRMED"
    # The refused advice keeps its answer when repeated.
    assert _refused(partners.reverse, call(partner), "v1", "p1") == "SALE_ALREADY_CONFIRMED"
    assert Sale.objects.get().status == SaleStatus.COMPLETED


def test_a_reversal_advice_refunds_the_float_and_a_confirmation_after_it_is_refused() -> None:
    world = build_world()
    partner = make_partner(world, float_major="1000")
    meter = world.add_meter()
    point = partners.partner_point(partner)
    partners.purchase(call(partner), "p1", meter.number, tender=world.money("300"))
    assert float_available(point, partner.currency) == world.money("700")
    done = partners.reverse(call(partner), "v1", "p1", reason="TIMEOUT")
    assert done.request.state == SaleState.REVERSED
    assert Sale.objects.get().status == SaleStatus.REVERSED
    assert float_available(point, partner.currency) == world.money("1000")
    partners.reverse(call(partner), "v1", "p1", reason="TIMEOUT")  # again: nothing more
    assert float_available(point, partner.currency) == world.money("1000")
    assert _refused(partners.confirm, call(partner), "c1", "p1") == "SALE_ALREADY_REVERSED"


def test_a_reversal_after_the_partners_window_is_refused() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    clock = FixedClock(world.clock.now())
    partners.purchase(call(partner), "p1", meter.number, tender=world.money("300"), clock=clock)
    clock.advance(timedelta(minutes=31))
    code = _refused(partners.reverse, call(partner), "v1", "p1", clock=clock)
    assert code == "REVERSAL_WINDOW_CLOSED"
    assert PartnerAdvice.objects.get().outcome == AdviceOutcome.REFUSED


def test_a_reversal_before_the_purchase_makes_the_late_purchase_sell_nothing() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    assert _refused(partners.reverse, call(partner), "v0", "late") == "REQUEST_NOT_FOUND"
    code = _refused(
        partners.purchase, call(partner), "late", meter.number, tender=world.money("300")
    )
    assert code == "REQUEST_ALREADY_REVERSED"
    assert Sale.objects.count() == 0
    # The advice repeated now finds its request (reversed): a final answer.
    assert partners.reverse(call(partner), "v0", "late").request.state == SaleState.REVERSED
    # Confirming what the partner itself gave up on contradicts it.
    assert _refused(partners.confirm, call(partner), "c9", "late") == "REQUEST_ALREADY_REVERSED"


def test_a_confirmation_before_the_purchase_is_applied_when_the_purchase_arrives() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    assert _refused(partners.confirm, call(partner), "c0", "early") == "REQUEST_NOT_FOUND"
    answer = partners.purchase(call(partner), "early", meter.number, tender=world.money("300"))
    assert answer.request.state == SaleState.CONFIRMED
    assert PartnerAdvice.objects.get(advice_id="c0").outcome == AdviceOutcome.APPLIED


def test_an_advice_id_reused_for_another_request_is_refused() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    partners.purchase(call(partner), "p1", meter.number, tender=world.money("300"))
    partners.purchase(call(partner), "p2", meter.number, tender=world.money("300"))
    partners.confirm(call(partner), "adv", "p1")
    assert _refused(partners.confirm, call(partner), "adv", "p2") == "ADVICE_CONFLICT"


@pytest.mark.parametrize(
    ("policy", "state", "status"),
    [
        ("auto_confirm", SaleState.EXPIRED, SaleStatus.COMPLETED),
        ("auto_reverse", SaleState.REVERSED, SaleStatus.REVERSED),
    ],
)
def test_unconfirmed_sales_past_the_window_follow_the_partners_policy(
    policy: str, state: str, status: str
) -> None:
    world = build_world()
    partner = make_partner(world, policy=policy)
    meter = world.add_meter()
    clock = FixedClock(world.clock.now())
    partners.purchase(call(partner), "p1", meter.number, tender=world.money("300"), clock=clock)
    partners.purchase(call(partner), "p2", meter.number, tender=world.money("300"), clock=clock)
    partners.confirm(call(partner), "c2", "p2", clock=clock)
    clock.advance(timedelta(minutes=59))
    assert partners.finalise_unconfirmed(clock=clock) == {"expired": 0, "reversed": 0, "skipped": 0}
    clock.advance(timedelta(minutes=2))
    partners.finalise_unconfirmed(clock=clock)
    request = PartnerRequest.objects.get(request_id="p1")
    assert request.state == state and request.finalised_by == "policy"
    assert request.sale is not None and request.sale.status == status
    assert PartnerRequest.objects.get(request_id="p2").state == SaleState.CONFIRMED


def test_a_suspended_partner_cannot_sell_or_advise() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    partners.purchase(call(partner), "p1", meter.number, tender=world.money("300"))
    partners.update_partner(actor=world.admin, partner=partner, status="suspended")
    partner.refresh_from_db()
    code = _refused(partners.purchase, call(partner), "p2", meter.number, tender=world.money("1"))
    assert code == "PARTNER_NOT_ACTIVE"
    assert _refused(partners.confirm, call(partner), "c1", "p1") == "PARTNER_NOT_ACTIVE"


def test_lookup_tells_the_limits_the_debt_and_the_free_energy_due() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    found = partners.lookup(call(partner), meter.number)
    assert found.meter.pk == meter.pk and found.customer.pk == meter.customer_id
    assert found.minimum.currency == partner.currency
    assert found.debt_balance.minor == 0
    assert not found.key_change_pending


def test_the_service_account_cannot_sign_in_or_be_given_a_password() -> None:
    from django.contrib.auth import authenticate

    from gridvend.identity import services as identity

    world = build_world()
    partner = make_partner(world)
    user = partner.service_user
    assert authenticate(username=user.username, password="") is None
    assert _refused(identity.reset_password, actor=world.admin, user=user, password="x" * 20) in (
        "PERMISSION_DENIED",
    )


def test_pay_account_pays_debts_oldest_first_and_a_reversal_restores_them() -> None:
    from gridvend.customers import services as customers
    from gridvend.customers.models import Debt

    world = build_world()
    partner = make_partner(world, float_major="1000")
    meter = world.add_meter()
    customer = world.customer(meter)
    first = customers.open_debt(
        actor=world.admin, customer=customer, amount=world.money("100"), reason="old bill"
    )
    second = customers.open_debt(
        actor=world.admin, customer=customer, amount=world.money("80"), reason="newer bill"
    )
    assert (
        _refused(
            partners.pay_account, call(partner), "pa0", meter.number, amount=world.money("200")
        )
        == "DEBT_PAYMENT_ABOVE_BALANCE"
    )
    answer = partners.pay_account(call(partner), "pa1", meter.number, amount=world.money("150"))
    assert answer.result is not None and answer.result.tokens == []
    assert answer.request.state == SaleState.PENDING
    assert Debt.objects.get(pk=first.pk).balance_minor == 0
    assert Debt.objects.get(pk=second.pk).balance_minor == 3000
    assert float_available(partners.partner_point(partner), partner.currency) == world.money("850")
    partners.reverse(call(partner), "pv1", "pa1")
    assert Debt.objects.get(pk=first.pk).balance_minor == 10000
    assert Debt.objects.get(pk=second.pk).balance_minor == 8000
    assert float_available(partners.partner_point(partner), partner.currency) == world.money("1000")


def test_pay_account_with_nothing_owed_is_refused() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    code = _refused(
        partners.pay_account, call(partner), "pa", meter.number, amount=world.money("10")
    )
    assert code == "NO_DEBT_OUTSTANDING"


def test_a_purchase_with_the_buyers_phone_queues_one_token_sms(settings) -> None:
    from dataclasses import replace

    settings.SMS_BACKEND = "console"
    from gridvend.jobs.models import OutboxMessage

    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    with_phone = replace(call(partner), msisdn="+254712345678")
    answer = partners.purchase(with_phone, "sms-1", meter.number, tender=world.money("300"))
    again = partners.purchase(with_phone, "sms-1", meter.number, tender=world.money("300"))
    assert again.replayed
    assert answer.result is not None
    rows = list(OutboxMessage.objects.all())
    assert len(rows) == 1
    text = json.dumps(rows[0].payload)
    digits = answer.result.tokens[0].digits
    assert " ".join(digits[i : i + 4] for i in range(0, 20, 4)) in text
    # A number that is not one: the sale stands, nothing is queued.
    odd = replace(call(partner), msisdn="not a phone")
    partners.purchase(odd, "sms-2", meter.number, tender=world.money("300"))
    assert OutboxMessage.objects.count() == 1
    # Written in the account's language; a language the buyer chose on the channel wins.
    assert rows[0].payload["language"] == "en"
    Customer.objects.filter(meters=meter).update(language="ar")
    partners.purchase(with_phone, "sms-3", meter.number, tender=world.money("300"))
    chosen = replace(with_phone, language="zh-hans")
    partners.purchase(chosen, "sms-4", meter.number, tender=world.money("300"))
    languages = list(
        OutboxMessage.objects.order_by("id").values_list("payload__language", flat=True)
    )
    assert languages == ["en", "ar", "zh-hans"]


def test_the_policy_runs_as_a_declared_periodic_job() -> None:
    from gridvend.jobs.queue import declared_schedules
    from gridvend.partners import tasks

    func, cron = declared_schedules()["gridvend.partners.finalise_unconfirmed"]
    assert func == tasks.FINALISE_JOB and cron == tasks.FINALISE_CRON
    assert tasks.finalise_unconfirmed_sales() == {"expired": 0, "reversed": 0, "skipped": 0}
    func, cron = declared_schedules()["gridvend.partners.low_floats"]
    assert func == tasks.LOW_FLOAT_JOB and cron == tasks.LOW_FLOAT_CRON
    assert tasks.check_partner_floats() == {"alerted": 0, "recovered": 0}


def test_advices_follow_a_sale_reversed_in_the_back_office() -> None:
    from gridvend.vending import services as vending

    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    sold = partners.purchase(call(partner), "bo1", meter.number, tender=world.money("300"))
    assert sold.result is not None
    vending.reverse_sale(actor=world.admin, sale=sold.result.sale, reason="customer complained")
    done = partners.reverse(call(partner), "x1", "bo1")
    assert done.request.state == SaleState.REVERSED and done.advice.outcome == "already"
    assert _refused(partners.confirm, call(partner), "c1", "bo1") == "SALE_ALREADY_REVERSED"
    # A repeat of the purchase hands out nothing: the money went back.
    again = _refused(
        partners.purchase, call(partner), "bo1", meter.number, tender=world.money("300")
    )
    assert again == "REQUEST_ALREADY_REVERSED"
    assert _refused(partners.reprint, call(partner), "bo1") == "REQUEST_NOT_REPRINTABLE"
