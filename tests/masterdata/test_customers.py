"""Customer, premise and debt services: what they write, what they audit, and what they refuse."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.customers import services
from gridvend.customers.models import CustomerStatus, Debt
from gridvend.identity.errors import AccessDenied, NotFound, ValidationFailed
from gridvend.kernel.errors import DomainError
from gridvend.kernel.inputs import InvalidInput
from gridvend.kernel.money import Money
from gridvend.kernel.tokens import luhn_check_digit
from gridvend.ledger import selectors as ledger_selectors
from gridvend.ledger import services as ledger
from gridvend.ledger.models import JournalEntry
from tests.masterdata import factories as md
from tests.masterdata.conftest import World, payload, snapshot
from tests.tariffs.factories import published_tariff

pytestmark = pytest.mark.django_db


def _create(world: World, **overrides: object) -> object:
    kwargs: dict[str, object] = {
        "actor": world.care,
        "name": "Amina Otieno",
        "org_unit": world.tree.north_sc,
        "tariff": world.tariff,
        "category": "residential",
        "phone": "+254700111222",
    }
    kwargs.update(overrides)
    return services.create_customer(**kwargs)  # type: ignore[arg-type]


def test_create_customer_generates_a_ten_digit_account_number_with_check_digit(
    world: World,
) -> None:
    customer = services.create_customer(
        actor=world.care,
        name="  Amina   Otieno ",
        org_unit=world.tree.north_sc,
        tariff=world.tariff,
        category="residential",
        national_id="12345678",
        email="amina@example.org",
    )
    number = customer.account_number
    assert len(number) == 10 and number.isdigit() and number[0] != "0"
    assert luhn_check_digit(number[:-1]) == int(number[-1])
    assert customer.name == "Amina Otieno"
    event = AuditEvent.objects.get(event_type="customer.created", target_id=str(customer.pk))
    assert event.actor_id == world.care.pk
    assert payload(event.after)["account_number"] == number
    assert event.org_path == world.tree.north_sc.path


def test_create_customer_keeps_a_given_account_number(world: World) -> None:
    customer = _create(world, account_number=" leg-0042 ")
    assert customer.account_number == "LEG-0042"  # type: ignore[attr-defined]


def test_generated_account_numbers_differ() -> None:
    numbers = {services.generate_account_number() for _ in range(200)}
    assert len(numbers) > 190


def test_duplicate_account_number_is_refused(world: World) -> None:
    _create(world, account_number="ACC-1")
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        _create(world, account_number="acc-1")
    assert exc.value.code == "ACCOUNT_NUMBER_TAKEN"
    assert snapshot() == before


@pytest.mark.parametrize("number", ["with space", "x" * 21, "ÄBC"])
def test_malformed_account_number_is_refused(world: World, number: str) -> None:
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        _create(world, account_number=number)
    assert exc.value.code == "ACCOUNT_NUMBER_INVALID"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"name": "   "}, "name"), ({"category": "royalty"}, "category"), ({"email": "no"}, "email")],
)
def test_invalid_customer_fields_are_refused(
    world: World, overrides: dict[str, object], field: str
) -> None:
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        _create(world, **overrides)
    assert exc.value.params["field"] == field
    assert snapshot() == before


def test_customer_writes_need_customer_care(world: World) -> None:
    before = snapshot()
    for actor in (world.cashier, world.finance, world.field_agent, world.ms_manager):
        with pytest.raises(AccessDenied):
            _create(world, actor=actor)
    assert snapshot() == before


def test_customer_outside_the_actors_subtree_is_not_found(world: World) -> None:
    before = snapshot()
    with pytest.raises(NotFound):
        _create(world, org_unit=world.tree.south_sc)
    with pytest.raises(NotFound):
        _create(world, org_unit=world.tree.root)
    assert snapshot() == before


def test_tariff_of_another_branch_does_not_apply(world: World) -> None:
    south_tariff = published_tariff(org_unit=world.tree.south)
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        _create(world, tariff=south_tariff)
    assert exc.value.code == "TARIFF_NOT_APPLICABLE"
    assert snapshot() == before


def test_update_customer_changes_fields_and_audits_before_and_after(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc, phone="0700 111 222")
    north_tariff = published_tariff(org_unit=world.tree.north)
    updated = services.update_customer(
        actor=world.care,
        customer=customer,
        phone="0711 222 333",
        category="commercial",
        tariff=north_tariff,
        org_unit=world.tree.north_bu,
    )
    updated.refresh_from_db()
    assert (updated.phone, updated.category, updated.tariff_id, updated.org_unit_id) == (
        "+254711222333",
        "commercial",
        north_tariff.pk,
        world.tree.north_bu.pk,
    )
    event = AuditEvent.objects.get(event_type="customer.updated", target_id=str(customer.pk))
    assert payload(event.before)["phone"] == "+254700111222"
    assert payload(event.after)["phone"] == "+254711222333"


def test_update_customer_without_a_change_writes_no_event(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc, phone="0700 111 222")
    before = AuditEvent.objects.count()
    # The same number written another way is no change.
    services.update_customer(actor=world.care, customer=customer, phone="+254 700 111222")
    assert AuditEvent.objects.count() == before


def test_phones_are_stored_in_e164_whoever_calls_the_service(world: World) -> None:
    customer = _create(world, phone="(070) 011-1222")
    assert customer.phone == "+254700111222"  # type: ignore[attr-defined]


def test_a_phone_that_is_not_a_number_is_refused_and_nothing_changes(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc, phone="0700 111 222")
    before = snapshot()
    with pytest.raises(InvalidInput) as refused:
        services.update_customer(actor=world.care, customer=customer, name="New", phone="0700")
    assert (refused.value.reason, refused.value.params["field"]) == ("phone_too_short", "phone")
    with pytest.raises(InvalidInput):
        _create(world, phone="call the shop")
    assert snapshot() == before


def test_update_customer_refusals_change_nothing(world: World) -> None:
    north = md.customer(org_unit=world.tree.north_sc)
    south = md.customer(org_unit=world.tree.south_sc)
    before = snapshot()
    with pytest.raises(NotFound):
        services.update_customer(actor=world.care, customer=south, phone="1")
    with pytest.raises(NotFound):
        services.update_customer(actor=world.care, customer=north, org_unit=world.tree.south_sc)
    with pytest.raises(AccessDenied):
        services.update_customer(actor=world.cashier, customer=north, phone="1")
    with pytest.raises(ValidationFailed):
        services.update_customer(actor=world.care, customer=north, name=" ", phone="1")
    with pytest.raises(DomainError) as exc:
        services.update_customer(
            actor=world.care, customer=north, tariff=published_tariff(org_unit=world.tree.south)
        )
    assert exc.value.code == "TARIFF_NOT_APPLICABLE"
    after = snapshot()
    # published_tariff wrote its own audit events; the customers themselves did not change.
    assert after["customers.Customer"] == before["customers.Customer"]


def test_set_customer_status_records_the_reason(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    services.set_customer_status(
        actor=world.care, customer=customer, status=CustomerStatus.SUSPENDED, reason="moved away"
    )
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.SUSPENDED
    event = AuditEvent.objects.get(event_type="customer.status_changed")
    assert event.before == {"status": "active"}
    assert event.after == {"status": "suspended", "reason": "moved away"}


def test_set_customer_status_refusals_change_nothing(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    south = md.customer(org_unit=world.tree.south_sc)
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        services.set_customer_status(
            actor=world.care, customer=customer, status="closed", reason=""
        )
    assert exc.value.code == "REASON_REQUIRED"
    with pytest.raises(DomainError) as exc:
        services.set_customer_status(
            actor=world.care, customer=customer, status="active", reason="x"
        )
    assert exc.value.code == "CUSTOMER_STATUS_UNCHANGED"
    with pytest.raises(ValidationFailed):
        services.set_customer_status(actor=world.care, customer=customer, status="gone", reason="x")
    with pytest.raises(NotFound):
        services.set_customer_status(actor=world.care, customer=south, status="closed", reason="x")
    with pytest.raises(AccessDenied):
        services.set_customer_status(
            actor=world.cashier, customer=customer, status="closed", reason="x"
        )
    assert snapshot() == before


def test_create_and_update_premise(world: World) -> None:
    premise = services.create_premise(
        actor=world.care,
        org_unit=world.tree.north_sc,
        address=" Plot 7,  Moi Avenue ",
        latitude="-1.286389",
        longitude=Decimal("36.817223"),
        feeder="F12",
    )
    assert premise.address == "Plot 7, Moi Avenue"
    assert premise.latitude == Decimal("-1.286389")
    assert AuditEvent.objects.filter(
        event_type="premise.created", target_id=str(premise.pk)
    ).exists()
    services.update_premise(actor=world.care, premise=premise, transformer="T3", latitude="")
    premise.refresh_from_db()
    assert premise.transformer == "T3" and premise.latitude is None
    event = AuditEvent.objects.get(event_type="premise.updated")
    assert payload(event.before)["transformer"] == ""
    assert payload(event.after)["transformer"] == "T3"


def test_premise_refusals_change_nothing(world: World) -> None:
    premise = md.premise(org_unit=world.tree.north_sc)
    south = md.premise(org_unit=world.tree.south_sc)
    before = snapshot()
    with pytest.raises(NotFound):
        services.create_premise(actor=world.care, org_unit=world.tree.south_sc, address="x")
    with pytest.raises(AccessDenied):
        services.create_premise(actor=world.field_agent, org_unit=world.tree.north_sc, address="x")
    with pytest.raises(ValidationFailed):
        services.create_premise(actor=world.care, org_unit=world.tree.north_sc, address=" ")
    with pytest.raises(ValidationFailed):
        services.create_premise(
            actor=world.care, org_unit=world.tree.north_sc, address="x", latitude="91"
        )
    with pytest.raises(NotFound):
        services.update_premise(actor=world.care, premise=south, address="y")
    with pytest.raises(NotFound):
        services.update_premise(actor=world.care, premise=premise, org_unit=world.tree.south)
    with pytest.raises(AccessDenied):
        services.update_premise(actor=world.cashier, premise=premise, address="y")
    assert snapshot() == before


def test_open_debt_posts_a_balanced_entry_and_moves_the_balances(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    debt = services.open_debt(
        actor=world.finance,
        customer=customer,
        amount=Money(250_000, "KES"),
        reason="meter bypass penalty",
    )
    assert (debt.original_minor, debt.balance_minor, debt.currency) == (250_000, 250_000, "KES")
    assert debt.opened_by_id == world.finance.pk and debt.source == "manual"
    entry = JournalEntry.objects.get(kind="debt.opened")
    postings = {p.account.code: p.amount_minor for p in entry.postings.select_related("account")}
    code = f"debt:{customer.account_number}"
    assert postings == {code: 250_000, ledger.ARREARS_INCOME: -250_000}
    assert ledger_selectors.account_balance(code) == 250_000
    assert ledger_selectors.account_balance(ledger.ARREARS_INCOME) == -250_000
    assert ledger_selectors.unbalanced_entries() == []
    assert ledger_selectors.reconcile_balances() == []
    event = AuditEvent.objects.get(event_type="debt.opened", target_id=str(debt.pk))
    assert payload(event.after)["journal_entry"] == entry.pk

    services.open_debt(
        actor=world.finance,
        customer=customer,
        amount=Money(50_000, "KES"),
        reason="old arrears",
        source="migration",
    )
    assert ledger_selectors.account_balance(code) == 300_000
    assert ledger_selectors.reconcile_balances() == []


@pytest.mark.parametrize(
    ("amount", "reason", "code"),
    [
        (Money(0, "KES"), "x", "DEBT_AMOUNT_INVALID"),
        (Money(-100, "KES"), "x", "DEBT_AMOUNT_INVALID"),
        (Money(100, "UGX"), "x", "CURRENCY_MISMATCH"),
        (Money(100, "KES"), "  ", "REASON_REQUIRED"),
    ],
)
def test_invalid_debts_are_refused(world: World, amount: Money, reason: str, code: str) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        services.open_debt(actor=world.finance, customer=customer, amount=amount, reason=reason)
    assert exc.value.code == code
    assert snapshot() == before


def test_open_debt_access_refusals_change_nothing(world: World) -> None:
    customer = md.customer(org_unit=world.tree.north_sc)
    closed = md.customer(org_unit=world.tree.north_sc)
    services.set_customer_status(actor=world.care, customer=closed, status="closed", reason="x")
    south = md.customer(org_unit=world.tree.south_sc)
    amount = Money(100, "KES")
    before = snapshot()
    with pytest.raises(AccessDenied):
        services.open_debt(actor=world.care, customer=customer, amount=amount, reason="x")
    with pytest.raises(NotFound):
        services.open_debt(actor=world.finance, customer=south, amount=amount, reason="x")
    with pytest.raises(DomainError) as exc:
        services.open_debt(actor=world.finance, customer=closed, amount=amount, reason="x")
    assert exc.value.code == "CUSTOMER_CLOSED"
    assert snapshot() == before
    assert not Debt.objects.exists()
