"""The dunning tests' scene: billing's scene (a north book with postpaid A and B billed for last
month, a south postpaid account), a field agent of the north and the south's finance person;
bills are posted through billing's own services and paid through ``take_payment``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from gridvend.billing import services as billing
from gridvend.billing.models import Bill, BillPayment
from gridvend.customers.models import Customer
from gridvend.dunning import services
from gridvend.dunning.models import DunningRule
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.meters.models import Meter
from tests import factories
from tests.billing.conftest import Scene, scene

__all__ = ["Dunning", "dunning", "scene"]


@dataclass
class Dunning:
    s: Scene
    field: User  # field agent of the north service centre
    south_finance: User
    due_date: date  # of last month's bills

    def customer(self, meter: Meter) -> Customer:
        return self.s.customer(meter)

    def day(self, days_late: int) -> date:
        return self.due_date + timedelta(days=days_late)

    def rule(self, stage: str, days: int, minimum: int = 10000, **extra: object) -> DunningRule:
        return services.create_rule(
            actor=self.s.finance, org_unit=self.s.world.tree.north, name=f"{stage} {days}",
            stage=stage, days_overdue=days, minimum_arrears_minor=minimum, currency="KES",
            **extra,  # type: ignore[arg-type]
        )  # fmt: skip

    def pay(self, meter: Meter, amount: int, ref: str) -> BillPayment:
        return billing.take_payment(
            actor=self.s.finance,
            account_number=self.customer(meter).account_number,
            amount_minor=amount,
            currency="KES",
            channel="bank",
            source_reference=ref,
        )

    def owed(self, meter: Meter) -> int:
        bill = Bill.objects.get(customer=self.customer(meter))
        return bill.amount_minor + bill.late_fee_minor - bill.paid_minor


@pytest.fixture
def dunning(scene: Scene) -> Dunning:
    s = scene
    s.billed()
    tree = s.world.tree
    field = factories.user(tree.north_sc, Role.OPERATOR, (Capability.FIELD_AGENT,))
    south_finance = factories.user(tree.south, Role.VENDING_POINT_MANAGER, (Capability.FINANCE,))
    due = Bill.objects.filter(customer=s.customer(s.a)).values_list("due_date", flat=True).get()
    return Dunning(s, field, south_finance, due)
