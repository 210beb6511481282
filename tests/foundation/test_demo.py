"""The demo utility: idempotent, and every demo login works and sees only its subtree."""

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone

from gridvend.audit.events import is_registered
from gridvend.audit.models import AuditEvent
from gridvend.customers.models import Customer, Debt, Premise
from gridvend.demo.loader import DEMO_PASSWORD, USERS, _centres
from gridvend.demo.postpaid import KINDS
from gridvend.demo.utility import DEMO_KEY_REF
from gridvend.identity.models import User
from gridvend.kernel.tariffs import TariffSpec
from gridvend.keys.engine import meter_params
from gridvend.keys.models import VendingKeyRecord
from gridvend.keys.services import load_vending_key
from gridvend.ledger.models import JournalEntry, Posting
from gridvend.ledger.selectors import reconcile_balances, unbalanced_entries
from gridvend.meters.models import Installation, Meter
from gridvend.meters.selectors import meter_key_ref
from gridvend.org.models import OrgUnit, VendingPoint
from gridvend.sts.identity import MeterNumber
from gridvend.sts.simulator import MeterSimulator
from gridvend.sts.tables import TableSet
from gridvend.tariffs.models import Tariff, TariffVersion, VersionStatus
from gridvend.tariffs.selectors import spec_in_force
from gridvend.vending.models import Reversal, Sale, SaleKind, Shift, Token

pytestmark = pytest.mark.django_db


# The organisation and its logins need no customers; the sales history is tested further down.
NO_CUSTOMERS = ("--customers", "0", "--history-days", "0")
# Three postpaid accounts (two postpaid, one "both") per service centre, beside the prepaid ones.
POSTPAID_ACCOUNTS = len(KINDS) * len(_centres())


def test_demo_loads_twice_without_duplicates(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("demo", *NO_CUSTOMERS)
    counts = (OrgUnit.objects.count(), VendingPoint.objects.count(), User.objects.count())
    call_command("demo", *NO_CUSTOMERS)
    assert (OrgUnit.objects.count(), VendingPoint.objects.count(), User.objects.count()) == counts
    assert OrgUnit.objects.filter(depth=1).count() >= 2
    assert OrgUnit.objects.filter(depth=2).count() >= 4
    assert OrgUnit.objects.filter(depth=3).count() >= 8
    out = capsys.readouterr().out
    assert DEMO_PASSWORD in out and "kitale.cashier" in out


@pytest.mark.parametrize("spec", USERS, ids=[u.username for u in USERS])
def test_every_demo_user_signs_in_and_sees_only_their_subtree(
    spec: object, settings: object, small_demo: None
) -> None:
    user = User.objects.get(username=spec.username)  # type: ignore[attr-defined]
    client = Client()
    response = client.post("/login/", {"username": user.username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    body = client.get("/org/").content.decode()
    for unit in OrgUnit.objects.all():
        inside = unit.path.startswith(user.org_unit.path)
        assert (f"/org/{unit.pk}/" in body) == inside, unit.name


# --- the commercial side: key, tariffs, customers, meters, sales history, debts ------------------

SMALL = ("--customers", "30", "--history-days", "40")


def _counts() -> dict[str, int]:
    models = (
        OrgUnit, VendingPoint, User, VendingKeyRecord, Tariff, TariffVersion, Customer, Premise,
        Meter, Installation, Sale, Token, Reversal, Shift, Debt, JournalEntry, Posting, AuditEvent,
    )  # fmt: skip
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture(scope="module")
def small_demo(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Loaded once for the module inside a transaction that is rolled back at its end; each
    test runs in its own savepoint on top (the usual pytest-django layering)."""
    # Marked as Django's TestCase marks its own: the use cases the demo calls are durable and
    # would refuse to run inside any other transaction.
    outer = transaction.atomic()
    outer._from_testcase = True  # type: ignore[attr-defined]
    with django_db_blocker.unblock(), outer:
        call_command("demo", *SMALL, stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


def test_every_event_type_the_demo_writes_is_registered(small_demo: None) -> None:
    written = set(AuditEvent.objects.values_list("event_type", flat=True).distinct())
    assert {"user.created", "customer.created", "meter.installed"} <= written
    assert {"sale.created", "shift.opened"} <= written
    unregistered = [t for t in written if not is_registered(t)]
    assert sorted(unregistered) == []


def test_a_second_run_adds_nothing_at_all(small_demo: None) -> None:
    before = _counts()
    out = io.StringIO()
    call_command("demo", *SMALL, stdout=out)
    assert _counts() == before
    everyone = 30 + POSTPAID_ACCOUNTS
    assert before["Customer"] == before["Meter"] == before["Installation"] == everyone
    assert before["Sale"] > 30 and before["Shift"] > 0
    assert f"{everyone} customers" in out.getvalue() and "watamu.cashier" in out.getvalue()


def test_every_demo_meter_number_is_a_valid_sts_number(small_demo: None) -> None:
    meters = list(Meter.objects.all())
    assert meters
    for meter in meters:
        assert len(meter.number) == 11
        assert MeterNumber.parse(meter.number).digits == meter.number
        assert (meter.sgc, meter.ti, meter.krn, meter.base_date_year) == ("600675", 1, 2, 2014)
        assert meter.key_ref == DEMO_KEY_REF and meter.customer_id is not None


def test_every_demo_phone_is_stored_in_e164(small_demo: None) -> None:
    from gridvend.kernel.phones import parse_phone

    phones = list(Customer.objects.exclude(phone="").values_list("phone", flat=True))
    assert len(phones) == 30 + POSTPAID_ACCOUNTS
    for phone in phones:
        assert phone.startswith("+254") and parse_phone(phone, region="KE") == phone


def test_the_demo_key_is_random_per_installation_and_sealed(small_demo: None) -> None:
    record = VendingKeyRecord.objects.get(key_ref=DEMO_KEY_REF)
    key, tables = load_vending_key(DEMO_KEY_REF)
    assert tables == "real" and record.dkga == "02" and len(key) == 8
    assert key.secret_bytes() not in bytes(record.ciphertext)


def test_every_demo_token_is_accepted_once_by_a_meter_holding_the_demo_key(
    small_demo: None,
) -> None:
    key, tables = load_vending_key(DEMO_KEY_REF)
    entered = 0
    for meter in Meter.objects.filter(tokens__isnull=False).distinct():
        simulator = MeterSimulator.for_meter(
            meter_params(meter_key_ref(meter)), key, sta_tables=TableSet(tables)
        )
        for token in Token.objects.filter(meter=meter).order_by("tid"):
            result = simulator.enter(token.digits)
            assert result.accepted, (meter.number, token.tid, result.code)
            assert result.amount == token.units
            assert not simulator.enter(token.digits).accepted
            entered += 1
    assert entered == Token.objects.count() > 0


def test_the_demo_books_reconcile(small_demo: None) -> None:
    assert reconcile_balances() == []
    assert unbalanced_entries() == []
    assert Sale.objects.filter(kind=SaleKind.CREDIT, journal_entry__isnull=True).count() == 0


def test_demo_customers_owe_debts_and_both_tariffs_are_published_and_in_force(
    small_demo: None,
) -> None:
    assert Debt.objects.filter(balance_minor__gt=0).exists()
    now = timezone.now()
    first_sale = Sale.objects.order_by("created_at").first()
    assert first_sale is not None
    for code in ("demo-residential", "demo-commercial"):
        tariff = Tariff.objects.get(code=code)
        for instant in (now, first_sale.created_at):
            version, spec = spec_in_force(tariff, instant)
            assert version.status == VersionStatus.PUBLISHED
            assert version.approved_by_id not in (version.created_by_id, None)
        assert any(tax.code == "VAT" for tax in spec.taxes)
    residential = TariffSpec.from_dict(
        Tariff.objects.get(code="demo-residential").versions.get().spec
    )
    commercial = TariffSpec.from_dict(
        Tariff.objects.get(code="demo-commercial").versions.get().spec
    )
    assert residential.fbe_kwh and not residential.is_flat
    assert commercial.is_flat and not commercial.fbe_kwh and commercial.fixed_charges
    assert Customer.objects.filter(category="commercial").exists()


def test_the_demo_partner_keys_it_prints_sell_through_the_api(small_demo: None) -> None:
    from gridvend.demo.partners import ensure_partners

    admin = User.objects.get(username="admin")
    root = OrgUnit.objects.get(depth=0)
    partners = ensure_partners(admin, root)
    assert {p.code for p in partners} == {"demo-bank", "demo-mobile-money"}
    meter = (
        Meter.objects.exclude(customer=None)
        .filter(status="active", customer__status="active")
        .order_by("number")
        .first()
    )
    assert meter is not None
    for n, partner in enumerate(partners):
        sold = Client().post(
            "/api/v1/vends",
            data={
                "request_id": f"demo-test-{n}",
                "meter_number": meter.number,
                "amount": {"minor": 50000, "currency": "KES"},
            },
            content_type="application/json",
            headers={"Authorization": f"Bearer {partner.key}"},
        )
        assert sold.status_code == 201, sold.content
    # A second run prints the same keys (they are shown once, so the demo keeps them).
    assert [p.key for p in ensure_partners(admin, root)] == [p.key for p in partners]


def test_every_postpaid_screen_of_the_demo_has_something_on_it(small_demo: None) -> None:
    from gridvend.billing.models import Bill, BillingRun, BillPayment, BillStatus
    from gridvend.dunning.models import DunningTask, TaskStatus
    from gridvend.readings.models import ReadingBook, ReadingException

    centres = len(_centres())
    books = ReadingBook.objects.filter(code__startswith="demo-")
    assert books.count() == centres
    assert all(book.entries.count() == len(KINDS) for book in books)
    assert set(Customer.objects.values_list("account_kind", flat=True)) == {
        "prepaid",
        "postpaid",
        "both",
    }
    # Two posted runs per book; the latest leaves out the account whose reading waits for a
    # supervisor (one pending exception per book).
    assert BillingRun.objects.filter(book__in=books, status="posted").count() == 2 * centres
    assert Bill.objects.filter(status=BillStatus.OPEN).exists()
    assert Bill.objects.filter(status=BillStatus.PAID).count() == centres
    assert ReadingException.objects.filter(status="pending").count() == centres
    assert BillPayment.objects.filter(source_reference__startswith="DEMO-").count() == 2 * centres
    # The older bills are overdue: the part-paid and the unpaid account of each book are dunned.
    assert DunningTask.objects.filter(status=TaskStatus.OPEN).count() == 2 * centres
    assert reconcile_balances() == [] and unbalanced_entries() == []


def test_the_demo_customer_signs_in_to_the_portal_and_pays_the_bill_from_the_wallet(
    small_demo: None, settings: Any
) -> None:
    import re

    from gridvend.billing.models import BillPayment
    from gridvend.demo import wallet as demo_wallet

    settings.WALLET_VENDING_POINT = demo_wallet.SELLER_POINT
    settings.WALLET_SELLER = demo_wallet.SELLER_USER
    settings.SMS_BACKEND = "console"
    found = demo_wallet.ensure_portal_customer()
    assert found is not None
    client = Client()
    answer = client.post("/portal/login/", {"username": found.username, "password": found.password})
    assert answer.status_code == 302
    body = client.get("/portal/bills/").content.decode()
    rid = re.search(r'name="request_id" value="([0-9a-f]+)"', body)
    assert rid is not None
    paid = client.post(
        f"/portal/bills/{found.account_number}/pay/",
        {"amount": "100", "request_id": rid.group(1)},
    )
    assert paid.status_code == 302, paid.content.decode()[:2000]
    assert BillPayment.objects.filter(source_reference__startswith=found.wallet).count() == 1
