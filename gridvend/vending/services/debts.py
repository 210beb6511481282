"""Paying towards a customer's arrears without buying a token (a partner's "pay account"): the
money goes to the customer's debts, oldest first, through the same idempotent, locked, journaled
and audited path as a sale."""

from __future__ import annotations

from django.conf import settings

from gridvend.audit.services import record
from gridvend.identity.models import User
from gridvend.kernel.clock import Clock, SystemClock, business_date
from gridvend.kernel.errors import InsufficientFloat, InvalidAmount
from gridvend.kernel.ledger import Posting, journal
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.ledger.digests import draft_lines
from gridvend.ledger.errors import BalanceLimitReached
from gridvend.ledger.models import JournalEntry
from gridvend.org.models import VendingPoint
from gridvend.vending import sale_hooks
from gridvend.vending.errors import DebtPaymentAboveBalance, NoDebtOutstanding
from gridvend.vending.events import sale_created
from gridvend.vending.integrity.sales import sale_binding
from gridvend.vending.locks import ShiftWanted, open_debts
from gridvend.vending.models import Sale, SaleKind
from gridvend.vending.selectors import float_account_code, float_available, shift_required
from gridvend.vending.services._sale import (
    SaleResult,
    _check_meter_sellable,
    _check_point,
    _lock_meter,
    _month,
    _new_reference,
    _read,
    _require_seller,
    _source_account,
)
from gridvend.vending.services.credit import PAYMENT_METHODS, _sale_shift
from gridvend.vending.services.idempotency import (
    AfterWrite,
    _check_client_reference,
    _fingerprint,
    _run_idempotent,
)

MAX_PAYMENT_MINOR = 10**12


def pay_debt(
    *,
    actor: User,
    vending_point: VendingPoint,
    client_reference: str,
    meter_number: str,
    amount: Money,
    payment_method: str = "cash",
    clock: Clock | None = None,
    after_write: AfterWrite | None = None,
) -> SaleResult:
    """Pay ``amount`` off the arrears of the customer on this meter; refused when nothing is
    owed or when the amount is more than is owed (the rest belongs in a token sale)."""
    sale_hooks.require_online("debt_payment")
    _require_seller(actor)
    _check_point(actor, vending_point)
    ref = _check_client_reference(client_reference)
    if not 0 < amount.minor <= MAX_PAYMENT_MINOR:
        raise InvalidAmount(value=str(amount), reason="it must be above zero")
    # A wallet pays for tokens only (gridvend.wallet): arrears are paid in money.
    if payment_method not in PAYMENT_METHODS or payment_method == "wallet":
        from gridvend.vending.errors import PaymentMethodInvalid

        raise PaymentMethodInvalid(payment_method=payment_method)
    fingerprint = _fingerprint(
        {
            "op": "debt_payment",
            "meter": "".join(ch for ch in meter_number if ch.isdigit()),
            "amount": amount.to_dict(),
            "payment": payment_method,
        }
    )
    now = (clock or SystemClock()).now()
    needs_shift = shift_required(vending_point)

    def body() -> SaleResult:
        locked = _lock_meter(actor, meter_number)
        customer = _check_meter_sellable(locked)
        wanted = ShiftWanted(actor.pk, vending_point.pk, lock=True) if needs_shift else None
        reads = _read(locked, customer, now, shift=wanted)
        shift_id = _sale_shift(actor, vending_point, reads) if needs_shift else None
        debts = [d for d in open_debts(customer, lock=True) if d.currency == amount.currency]
        owed = sum(d.balance_minor for d in debts)
        if owed <= 0:
            raise NoDebtOutstanding(account_number=customer.account_number)
        if amount.minor > owed:
            raise DebtPaymentAboveBalance(
                amount=str(amount), owed=str(Money(owed, amount.currency))
            )
        allocations: list[list[int]] = []
        left = amount.minor
        for debt in debts:
            take = min(left, debt.balance_minor)
            if take > 0:
                allocations.append([debt.pk, take])
                left -= take
        today = business_date(now, settings.TIME_ZONE)
        reference = _new_reference()
        debt_account = f"debt:{customer.account_number}"
        ledger.ensure_ledger_account(debt_account, amount.currency)
        draft = journal(
            [
                Posting(_source_account(vending_point, payment_method, customer), amount),
                Posting(debt_account, -amount),
            ],
            memo=f"debt payment {reference}",
        )
        sale = Sale(
            reference=reference,
            kind=SaleKind.DEBT_PAYMENT,
            vending_point=vending_point,
            channel=vending_point.channel,
            client_reference=ref,
            request_fingerprint=fingerprint,
            operator=actor,
            shift_id=shift_id,
            meter=locked,
            customer=customer,
            currency=amount.currency,
            tender_minor=amount.minor,
            debt_recovered_minor=amount.minor,
            breakdown={"debt_allocations": allocations},
            payment_method=payment_method,
            debt_balance_after_minor=owed - amount.minor,
            key_sgc=locked.sgc,
            key_ti=locked.ti,
            key_krn=locked.krn,
            created_at=now,
            business_date=today,
            business_month=_month(today),
        )
        digests: list[dict[str, str]] = []

        def write(entry: JournalEntry) -> None:
            sale.journal_entry = entry
            sale.save(force_insert=True)
            digests.append(sale_binding(sale, [], draft_lines(draft)))

        ledger.post_journal_entry(
            draft, kind="debt_payment", business_date=today, actor=actor, before_postings=write
        )
        from gridvend.customers.models import Debt

        balances = {d.pk: d.balance_minor for d in debts}
        for debt_id, take in allocations:
            Debt.objects.filter(pk=debt_id).update(balance_minor=balances[debt_id] - take)
        record(
            actor=actor,
            event_type=sale_created(SaleKind.DEBT_PAYMENT),
            target=sale,
            stream_key=locked.pk,
            after={
                "reference": reference,
                "kind": SaleKind.DEBT_PAYMENT,
                "meter": locked.number,
                "tender_minor": amount.minor,
                "currency": amount.currency,
                "debt_allocations": allocations,
                "digests": digests[0],
            },
        )
        return SaleResult(sale, [])

    try:
        return _run_idempotent(vending_point, ref, fingerprint, body, after_write=after_write)
    except BalanceLimitReached as exc:
        if not vending_point.uses_float or exc.params.get("account") != float_account_code(
            vending_point
        ):
            raise
        available = float_available(vending_point, amount.currency)
        raise InsufficientFloat(available=available, required=amount) from exc
