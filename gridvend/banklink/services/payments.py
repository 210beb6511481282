"""Bank payments over the fixed-format link: taken and cancelled through billing, in one
transaction with the check that the bank accounting date is not being reconciled or closed.

The bank's serial is billing's source reference for the bank partner (billing is idempotent on
it: a repeat with the same amount returns the first payment, another amount is refused
PAYMENT_REFERENCE_REUSED); the serial, outlet, teller and bank date are the payment's bank facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction

from gridvend.banklink.errors import (
    BankPaymentReconciled,
    ReconciliationDone,
    ReconciliationInProgress,
)
from gridvend.banklink.models import BankLink, Reconciliation, ReconciliationStatus
from gridvend.billing import selectors as billing_selectors
from gridvend.billing import services as billing
from gridvend.billing.models import BillPayment
from gridvend.identity.errors import NotFound
from gridvend.org.models import Channel


@dataclass(frozen=True)
class BankFacts:
    bank_serial: str
    outlet: str
    teller: str
    bank_date: date

    def as_dict(self) -> dict[str, str]:
        return {
            "interface": "banklink",
            "bank_serial": self.bank_serial,
            "outlet": self.outlet,
            "teller": self.teller,
            "bank_date": self.bank_date.isoformat(),
        }


def require_day_open(link: BankLink, bank_date: date, *, serial: str = "") -> None:
    """Refuse while the bank date is being reconciled or once it is closed (row locked)."""
    day = (
        Reconciliation.objects.select_for_update()
        .filter(link=link, bank_date=bank_date)
        .exclude(status=ReconciliationStatus.SUPERSEDED)
        .first()
    )
    if day is None:
        return
    if day.status == ReconciliationStatus.OPEN:
        raise ReconciliationInProgress(bank_date=bank_date.isoformat())
    if serial:
        raise BankPaymentReconciled(bank_serial=serial)
    raise ReconciliationDone(bank_date=bank_date.isoformat())


def refuse_cancel_while_reconciling(payment: BillPayment, at: datetime) -> None:
    """Billing's cancel guard: a bank's payment whose bank date is being reconciled (an open
    reconciliation of its link) is not cancelled by anyone until the day is closed. A cancel
    promised at ``at`` (a Billpay refund approved with a 201, the customer paid back) before
    the bank's file came is carried out: the bank's file left that payment out for it."""
    if payment.partner_id is None:
        return
    day = (payment.bank_facts or {}).get("bank_date", "")
    try:
        bank_date = date.fromisoformat(str(day))
    except ValueError:
        return
    if Reconciliation.objects.filter(
        link__partner_id=payment.partner_id,
        bank_date=bank_date,
        status=ReconciliationStatus.OPEN,
        received_at__lte=at,
    ).exists():
        raise ReconciliationInProgress(bank_date=bank_date.isoformat())


def pay(*, link: BankLink, account_number: str, amount_minor: int, facts: BankFacts) -> BillPayment:
    partner = link.partner
    with transaction.atomic(durable=True):
        require_day_open(link, facts.bank_date)
        return billing.take_payment.within_transaction(
            actor=partner.service_user,
            account_number=account_number,
            amount_minor=amount_minor,
            currency=partner.currency,
            channel=Channel.BANK,
            source_reference=facts.bank_serial,
            partner=partner,
            bank_facts=facts.as_dict(),
        )


def cancel(
    *, link: BankLink, original_serial: str, cancel_serial: str, account_number: str
) -> BillPayment:
    """Cancel the payment the bank took under ``original_serial`` for ``account_number`` (the
    same business day, before its bank date is reconciled); a serial of another account is no
    payment to cancel (NotFound)."""
    partner = link.partner
    actor = partner.service_user
    payment = billing_selectors.find_payment(
        actor, channel=Channel.BANK, partner=partner, source_reference=original_serial
    )
    if payment.customer.account_number != account_number.strip().upper():
        raise NotFound()
    raw_date = str(payment.bank_facts.get("bank_date", ""))
    with transaction.atomic(durable=True):
        if raw_date:
            require_day_open(link, date.fromisoformat(raw_date), serial=original_serial)
        return billing.cancel_payment.within_transaction(
            actor=actor,
            payment=payment,
            reason=f"bank cancel {cancel_serial} of {original_serial}",
        )
