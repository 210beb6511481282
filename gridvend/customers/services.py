"""Every write to customers, premises and debts, each one scoped, permission-checked and audited."""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from gridvend.audit.changes import audited_change, record_created
from gridvend.audit.services import record
from gridvend.customers.errors import (
    AccountNumberInvalid,
    AccountNumberTaken,
    CustomerClosed,
    CustomerStatusUnchanged,
    DebtAmountInvalid,
    TariffNotApplicable,
)
from gridvend.customers.events import CustomerEvent
from gridvend.customers.guards import check_kind_guards
from gridvend.customers.integrity import debt_binding
from gridvend.customers.locks import lock_customer, lock_premise
from gridvend.customers.models import (
    AccountKind,
    Customer,
    CustomerCategory,
    CustomerStatus,
    Debt,
    Premise,
)
from gridvend.identity.errors import ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.permissions import require_capability
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.errors import CurrencyMismatch, ReasonRequired
from gridvend.kernel.ledger import Posting, journal
from gridvend.kernel.money import Money
from gridvend.kernel.names import normalise_name
from gridvend.kernel.phones import parse_phone
from gridvend.kernel.tokens import luhn_check_digit
from gridvend.ledger import services as ledger
from gridvend.ledger.digests import draft_lines
from gridvend.org.models import OrgUnit
from gridvend.tariffs.models import Tariff
from gridvend.transactions import use_case

ACCOUNT_NUMBER_LENGTH = 10
_GENERATION_ATTEMPTS = 20


def require_reason(reason: str) -> str:
    """The trimmed reason; audited state changes are refused without one."""
    cleaned = reason.strip()
    if not cleaned:
        raise ReasonRequired()
    return cleaned[:255]


def _require_customer_care(actor: User) -> None:
    require_capability(actor, Capability.CUSTOMER_CARE)


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationFailed(_("A customer needs a name."), field="name")
    if len(cleaned) > 150:
        raise ValidationFailed(_("The name is too long."), field="name")
    return cleaned


def _clean_category(category: str) -> str:
    if category not in CustomerCategory.values:
        raise ValidationFailed(_("Unknown customer category."), field="category")
    return category


def _clean_account_kind(kind: str) -> str:
    if kind not in AccountKind.values:
        raise ValidationFailed(_("Unknown kind of account."), field="account_kind")
    return kind


def _clean_language(language: str) -> str:
    if language and language not in {code for code, _name in settings.LANGUAGES}:
        raise ValidationFailed(_("Unknown language."), field="language")
    return language


def _clean_email(email: str) -> str:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    cleaned = email.strip()
    if cleaned:
        try:
            validate_email(cleaned)
        except ValidationError:
            raise ValidationFailed(_("That is not an e-mail address."), field="email") from None
    return cleaned


def _clean_phone(phone: str) -> str:
    # Stored in E.164 whoever calls (a screen, an import, the demo), so search matches exactly.
    return parse_phone(phone, region=settings.DEFAULT_COUNTRY, field="phone")


def _clean_account_number(account_number: str) -> str:
    cleaned = account_number.strip().upper()
    if (
        not cleaned
        or len(cleaned) > 20
        or not cleaned.isascii()
        or not cleaned.replace("-", "").isalnum()
    ):
        raise AccountNumberInvalid(account_number=account_number)
    return cleaned


def _check_tariff(tariff: Tariff, unit: OrgUnit) -> None:
    # A tariff defined at a node applies to every customer beneath it, never to a sibling branch.
    if not unit.path.startswith(tariff.org_unit.path):
        raise TariffNotApplicable(tariff=tariff.code)


def generate_account_number() -> str:
    """Nine random digits (no leading zero) and a Luhn check digit, so typing errors are caught."""
    payload = str(100_000_000 + secrets.randbelow(900_000_000))
    return payload + str(luhn_check_digit(payload))


def _free_account_number() -> str:
    for _attempt in range(_GENERATION_ATTEMPTS):
        candidate = generate_account_number()
        if not Customer.objects.filter(account_number=candidate).exists():
            return candidate
    raise RuntimeError("could not find a free account number; the number space is exhausted")


# A bulk import runs this (and create_premise) row by row with ``.within_transaction``.
@use_case
def create_customer(
    *,
    actor: User,
    account_number: str = "",
    name: str,
    org_unit: OrgUnit,
    tariff: Tariff,
    category: str,
    national_id: str = "",
    phone: str = "",
    email: str = "",
    account_kind: str = AccountKind.PREPAID,
    language: str = "",
) -> Customer:
    """A new customer, with an account number chosen or generated (nine digits and a Luhn check)."""
    _require_customer_care(actor)
    require_unit_in_scope(actor, org_unit)
    cleaned_name = _clean_name(name)
    fields = {
        "name": cleaned_name,
        "name_search": normalise_name(cleaned_name),
        "category": _clean_category(category),
        "account_kind": _clean_account_kind(account_kind),
        "national_id": national_id.strip(),
        "phone": _clean_phone(phone),
        "email": _clean_email(email),
        "language": _clean_language(language),
    }
    _check_tariff(tariff, org_unit)
    chosen = _clean_account_number(account_number) if account_number.strip() else ""
    if chosen and Customer.objects.filter(account_number=chosen).exists():
        raise AccountNumberTaken(account_number=chosen)
    number = chosen or _free_account_number()
    try:
        with transaction.atomic():
            customer = Customer.objects.create(
                account_number=number, org_unit=org_unit, tariff=tariff, **fields
            )
            record_created(actor=actor, instance=customer, event=CustomerEvent.CREATED)
    except IntegrityError:
        # Two clerks racing for the same number: the unique index decides, the loser is told.
        raise AccountNumberTaken(account_number=number) from None
    return customer


def update_customer(
    *,
    actor: User,
    customer: Customer,
    name: str | None = None,
    national_id: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    category: str | None = None,
    tariff: Tariff | None = None,
    org_unit: OrgUnit | None = None,
    account_kind: str | None = None,
    language: str | None = None,
) -> Customer:
    """Change contact details, category, kind of account (prepaid, postpaid or both), tariff or
    organisation unit (both ends in scope)."""
    _require_customer_care(actor)
    require_unit_in_scope(actor, customer.org_unit)
    if org_unit is not None:
        require_unit_in_scope(actor, org_unit)
    with transaction.atomic(durable=True):
        locked = lock_customer(customer)
        require_unit_in_scope(actor, locked.org_unit)
        with audited_change(
            actor=actor, instance=locked, event=CustomerEvent.UPDATED, skip_unchanged=True
        ):
            if name is not None:
                locked.name = _clean_name(name)
                locked.name_search = normalise_name(locked.name)
            if national_id is not None:
                locked.national_id = national_id.strip()
            if phone is not None:
                locked.phone = _clean_phone(phone)
            if email is not None:
                locked.email = _clean_email(email)
            if category is not None:
                locked.category = _clean_category(category)
            if account_kind is not None:
                kind = _clean_account_kind(account_kind)
                if kind != locked.account_kind:
                    check_kind_guards(locked, kind)
                locked.account_kind = kind
            if language is not None:
                locked.language = _clean_language(language)
            if org_unit is not None:
                locked.org_unit = org_unit
            if tariff is not None:
                locked.tariff = tariff
            _check_tariff(locked.tariff, locked.org_unit)
    return locked


def set_customer_status(*, actor: User, customer: Customer, status: str, reason: str) -> Customer:
    _require_customer_care(actor)
    require_unit_in_scope(actor, customer.org_unit)
    if status not in CustomerStatus.values:
        raise ValidationFailed(_("Unknown customer status."), field="status")
    cleaned_reason = require_reason(reason)
    with transaction.atomic(durable=True):
        locked = lock_customer(customer)
        if locked.status == status:
            raise CustomerStatusUnchanged(status=status)
        with audited_change(
            actor=actor,
            instance=locked,
            event=CustomerEvent.STATUS_CHANGED,
            fields=("status",),
            after_extra={"reason": cleaned_reason},
        ):
            locked.status = status
    return locked


def _clean_coordinate(value: Decimal | str | int | None, field: str, limit: int) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        raise TypeError(f"{field} must not be a float")
    try:
        number = Decimal(value).quantize(Decimal("0.000001"))
    except ArithmeticError:
        raise ValidationFailed(_("That is not a coordinate."), field=field) from None
    if not number.is_finite() or abs(number) > limit:
        raise ValidationFailed(_("That is not a coordinate."), field=field)
    return number


def _clean_address(address: str) -> str:
    cleaned = " ".join(address.split())
    if not cleaned:
        raise ValidationFailed(_("A premise needs an address."), field="address")
    return cleaned[:255]


@use_case
def create_premise(
    *,
    actor: User,
    org_unit: OrgUnit,
    address: str,
    latitude: Decimal | str | None = None,
    longitude: Decimal | str | None = None,
    feeder: str = "",
    transformer: str = "",
) -> Premise:
    """A new premise (an address, and where it sits on the network) in ``org_unit``."""
    _require_customer_care(actor)
    require_unit_in_scope(actor, org_unit)
    values = {
        "address": _clean_address(address),
        "latitude": _clean_coordinate(latitude, "latitude", 90),
        "longitude": _clean_coordinate(longitude, "longitude", 180),
        "feeder": feeder.strip()[:60],
        "transformer": transformer.strip()[:60],
    }
    with transaction.atomic():
        premise = Premise.objects.create(org_unit=org_unit, **values)
        record_created(actor=actor, instance=premise, event=CustomerEvent.PREMISE_CREATED)
    return premise


def update_premise(
    *,
    actor: User,
    premise: Premise,
    address: str | None = None,
    latitude: Decimal | str | None = None,
    longitude: Decimal | str | None = None,
    feeder: str | None = None,
    transformer: str | None = None,
    org_unit: OrgUnit | None = None,
) -> Premise:
    """Change a premise; a coordinate passed as "" clears it, None leaves it as it is."""
    _require_customer_care(actor)
    require_unit_in_scope(actor, premise.org_unit)
    if org_unit is not None:
        require_unit_in_scope(actor, org_unit)
    with transaction.atomic(durable=True):
        locked = lock_premise(premise)
        require_unit_in_scope(actor, locked.org_unit)
        with audited_change(
            actor=actor, instance=locked, event=CustomerEvent.PREMISE_UPDATED, skip_unchanged=True
        ):
            if address is not None:
                locked.address = _clean_address(address)
            if latitude is not None:
                locked.latitude = _clean_coordinate(latitude, "latitude", 90)
            if longitude is not None:
                locked.longitude = _clean_coordinate(longitude, "longitude", 180)
            if feeder is not None:
                locked.feeder = feeder.strip()[:60]
            if transformer is not None:
                locked.transformer = transformer.strip()[:60]
            if org_unit is not None:
                locked.org_unit = org_unit
    return locked


def debt_account_code(customer: Customer) -> str:
    """The ledger account holding what this customer owes."""
    return f"debt:{customer.account_number}"


@use_case
def open_debt(
    *, actor: User, customer: Customer, amount: Money, reason: str, source: str = "manual"
) -> Debt:
    """Raise an arrears item and book it (debit the customer's debt, credit arrears income).

    A sale's reversal raises the debt for refunded fixed charges inside its own transaction, with
    ``open_debt_of_reversal``."""
    require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, customer.org_unit)
    return _open_debt(actor=actor, customer=customer, amount=amount, reason=reason, source=source)


def open_debt_of_reversal(*, actor: User, customer: Customer, amount: Money, reason: str) -> Debt:
    """The debt a sale's reversal raises for fixed charges it refunded that a later sale had
    already counted as paid: a step of the reversal's transaction, authorised by it (a partner's
    own reversal advice needs no finance capability, and its debt must not be lost)."""
    if not connection.in_atomic_block:
        raise RuntimeError("open_debt_of_reversal is a step of the reversal's transaction")
    return _open_debt(
        actor=actor, customer=customer, amount=amount, reason=reason, source="reversal"
    )


def _open_debt(*, actor: User, customer: Customer, amount: Money, reason: str, source: str) -> Debt:
    cleaned_reason = require_reason(reason)
    currency = customer.tariff.currency
    if amount.currency != currency:
        raise CurrencyMismatch(expected=currency, got=amount.currency)
    if amount.minor <= 0:
        raise DebtAmountInvalid(amount=amount)
    cleaned_source = source.strip()[:40] or "manual"
    # The customer row lock orders debt writes per customer with the vending service's.
    locked = lock_customer(customer)
    if locked.status == CustomerStatus.CLOSED:
        raise CustomerClosed(account_number=locked.account_number)
    return book_debt(
        actor=actor,
        customer=locked,
        amount=amount,
        reason=cleaned_reason,
        source=cleaned_source,
        credit_account=ledger.ARREARS_INCOME,
        business_date=ledger.today(),
    )


def book_debt(
    *,
    actor: User | None,
    customer: Customer,
    amount: Money,
    reason: str,
    source: str,
    credit_account: str,
    business_date: date,
) -> Debt:
    """Write a debt and its entry (the customer's debt account debited, ``credit_account``
    credited) and audit them, bound by digests: the one way a debt is opened, for the manual,
    reversal and postpaid-arrears debts. The caller has checked the inputs and locked the
    customer."""
    debt = Debt.objects.create(
        customer=customer,
        reason=reason,
        currency=amount.currency,
        original_minor=amount.minor,
        balance_minor=amount.minor,
        opened_by=actor,
        source=source,
    )
    code = debt_account_code(customer)
    ledger.ensure_ledger_account(code, amount.currency, name=f"Debt {customer.account_number}")
    draft = journal(
        [Posting(code, amount), Posting(credit_account, -amount)],
        memo=f"debt {debt.pk} {customer.account_number}: {reason}",
    )
    entry = ledger.post_journal_entry(
        draft, kind="debt.opened", business_date=business_date, actor=actor
    )
    # The memo names the debt, so the entry comes after it and is linked back.
    Debt.objects.filter(pk=debt.pk).update(journal_entry=entry)
    debt.journal_entry = entry
    record(
        actor=actor,
        event_type=CustomerEvent.DEBT_OPENED,
        target=debt,
        after={
            "customer": customer.account_number,
            "amount": amount.to_dict(),
            "reason": reason,
            "source": source,
            "journal_entry": entry.pk,
            # Binds the debt and its entry: an edited original or posting no longer matches.
            "digests": debt_binding(debt, draft_lines(draft)),
        },
    )
    return debt
