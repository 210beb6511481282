"""What a customer would get for an amount now under a tariff spec of the caller's choosing — a
draft beside the version in force — priced exactly as a trial vend prices it; nothing is written."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings

from gridvend.customers.models import Customer
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import business_date
from gridvend.kernel.money import Money
from gridvend.kernel.pricing import Breakdown, SaleContext
from gridvend.kernel.tariffs import TariffSpec

# The trial vend's own steps: the customer's month so far, the checks on the request, and the
# price (a kWh sale rounded up to whole coins). One pricing path for sales, quotes, simulations.
from gridvend.vending.services._sale import _breakdown, _context, _validate_request


def customer_context(customer: Customer, spec: TariffSpec, now: datetime) -> SaleContext:
    """The customer's state that pricing reads (month-to-date kWh, fixed charges due, debt, FBE)
    at ``now``, as a sale would read it; no rows are locked."""
    today = business_date(now, settings.TIME_ZONE)
    ctx, _debts = _context(customer, spec, today, lock_debts=False)
    return ctx


def price_for_customer(
    *,
    actor: User,
    customer: Customer,
    spec: TariffSpec,
    now: datetime,
    tender: Money | None = None,
    kwh: Decimal | None = None,
) -> Breakdown:
    """The breakdown a sale to ``customer`` for ``tender`` (or ``kwh``) would have under ``spec``.

    Refuses as a sale would (sale limits, charges due, no energy bought); the customer must be in
    the actor's subtree. Nothing is written and nothing is locked.
    """
    require_unit_in_scope(actor, customer.org_unit)
    _validate_request(tender, kwh)
    return _breakdown(spec, customer_context(customer, spec, now), tender=tender, kwh=kwh)
