"""What the billing use cases share: the accounts and channels billing books to, the business
day, the permission and reason checks, and the tariff a bill was priced with."""

from __future__ import annotations

from datetime import date, datetime

from django.conf import settings
from django.utils import timezone

from gridvend.billing.models import (
    ARREARS_DEBT_SOURCE,
)
from gridvend.customers.models import Customer
from gridvend.identity.errors import AccessDenied
from gridvend.kernel.clock import business_date
from gridvend.kernel.errors import ReasonRequired
from gridvend.kernel.inputs import clean_text
from gridvend.kernel.tariffs import TariffSpec
from gridvend.ledger import services as ledger
from gridvend.tariffs.models import TariffVersion

MAX_PERIOD_DAYS = 62
MAX_BANK_FACTS = 12
# What a prepaid sale recovered of a postpaid account's arrears pays its bills under this
# channel (gridvend-internal: no partner or point takes these).
RECOVERY_CHANNEL = "prepaid_recovery"
DEBT_SOURCE = ARREARS_DEBT_SOURCE
# Arrears handed to the prepaid side and not yet recovered: credited when a debt is opened for
# them, debited as recoveries pay the bills; its balance is minus the debts still to recover.
ARREARS_CLEARING = f"{ledger.SUSPENSE}:billing-arrears"
# A bill's adjustments (a credit for a faulty meter, a back-billed charge) are revenue of their
# own, so the energy, fixed-charge and tax accounts keep what the tariff priced.
ADJUSTMENT_REVENUE = "revenue:bill-adjustments"
MAX_ADJUSTMENT_MINOR = 10**12
# How many earlier bills an over-estimate credit looks back through.
MAX_CREDIT_BILLS = 24


def receivable_code(customer: Customer) -> str:
    return f"{ledger.RECEIVABLE}:{customer.account_number}"


def _today(at: datetime | None = None) -> date:
    return business_date(at or timezone.now(), settings.TIME_ZONE)


def business_today() -> date:
    """Today in the utility's time zone: the day payments and arrears are reckoned on."""
    return _today()


def _require(allowed: bool) -> None:
    if not allowed:
        raise AccessDenied()


def _reason(reason: str) -> str:
    cleaned = clean_text(reason, max_length=255, field="reason")
    if not cleaned:
        raise ReasonRequired()
    return cleaned


def _spec(version_id: int) -> TariffSpec:
    """The spec a bill was priced with (a published version never changes)."""
    return TariffSpec.from_dict(
        TariffVersion.objects.values_list("spec", flat=True).get(pk=version_id)
    )
