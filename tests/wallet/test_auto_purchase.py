"""Auto-purchase: a top-up that brings the wallet to or above the customer's threshold queues,
after commit, one purchase of the chosen amount for the chosen meter, whose token goes by SMS;
the job run twice sells once; a top-up below the threshold queues nothing; the setting is
refused for another customer's meter or an amount above the threshold."""

from __future__ import annotations

import pytest
from django.test import override_settings

from gridvend.customers.models import Customer
from gridvend.jobs import queue
from gridvend.jobs.models import OutboxMessage
from gridvend.kernel.errors import DomainError
from gridvend.vending.models import Sale
from gridvend.wallet import services
from gridvend.wallet.selectors import balance
from gridvend.wallet.tasks import auto_purchase
from tests.wallet.conftest import WalletWorld

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
@override_settings(SMS_BACKEND="file")
def test_a_top_up_reaching_the_threshold_buys_once_and_sends_the_token(ww: WalletWorld) -> None:
    w = ww.world
    Customer.objects.filter(pk=ww.wallet.customer_id).update(phone="0712345678")
    ww.wallet.customer.refresh_from_db()
    services.set_auto_purchase(
        actor=None,
        wallet=ww.wallet,
        meter=ww.meter,
        threshold=w.money("500"),
        amount=w.money("300"),
    )
    services.top_up_cash(actor=w.cashier, wallet=ww.wallet, amount=w.money("400"), receipt="a")
    assert queue.queued_jobs() == []
    top_up = services.top_up_cash(
        actor=w.cashier, wallet=ww.wallet, amount=w.money("100"), receipt="b"
    )
    jobs = queue.queued_jobs()
    assert [job.func for job in jobs] == ["gridvend.wallet.tasks.auto_purchase"]
    with override_settings(WALLET_VENDING_POINT=w.point.code, WALLET_SELLER=w.cashier.username):
        assert queue.run_queued_jobs() == 1
        again = auto_purchase(ww.wallet.pk, top_up.pk)
    sale = Sale.objects.get(payment_method="wallet")
    assert again == sale.reference
    assert sale.meter_id == ww.meter.pk and sale.tender_minor == 30000
    assert balance(ww.wallet) == w.money("200")
    sms = OutboxMessage.objects.get(key=f"sms:sale:{sale.reference}")
    assert sms.payload["to"] == "+254712345678"


def test_auto_purchase_without_a_seller_set_sells_nothing(ww: WalletWorld) -> None:
    services.set_auto_purchase(
        actor=None,
        wallet=ww.wallet,
        meter=ww.meter,
        threshold=ww.world.money("500"),
        amount=ww.world.money("300"),
    )
    top_up = services.top_up_cash(
        actor=ww.world.cashier, wallet=ww.wallet, amount=ww.world.money("600"), receipt="c"
    )
    assert auto_purchase(ww.wallet.pk, top_up.pk) is None
    assert Sale.objects.count() == 0


@pytest.mark.parametrize("case", ["other meter", "amount above threshold", "zero amount"])
def test_an_auto_purchase_setting_that_cannot_work_is_refused(ww: WalletWorld, case: str) -> None:
    w = ww.world
    meter = w.add_meter() if case == "other meter" else ww.meter
    threshold, amount = w.money("500"), w.money("300")
    if case == "amount above threshold":
        amount = w.money("600")
    if case == "zero amount":
        amount = w.money("0")
    with pytest.raises(DomainError) as refused:
        services.set_auto_purchase(
            actor=None, wallet=ww.wallet, meter=meter, threshold=threshold, amount=amount
        )
    assert refused.value.code == "WALLET_AUTO_PURCHASE_INVALID"
    ww.wallet.refresh_from_db()
    assert ww.wallet.auto_meter_id is None
