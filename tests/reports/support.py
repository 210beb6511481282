"""Real sales for the report tests, made through the vending services at pinned instants around a
daylight-saving change and a month boundary of Europe/London, and the independent sums the
reports are checked against: added up here from the Sale, Reversal and Posting rows, with each
row's local day worked out from its own timestamp (never from the code under test)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import FixedClock
from gridvend.ledger.models import Posting
from gridvend.meters.models import Meter
from gridvend.org import services as org
from gridvend.org.models import VendingPoint
from gridvend.vending import services as vending
from gridvend.vending.models import Reversal, Sale
from gridvend.vending.shifts import open_shift
from tests import factories
from tests.world import World, build_world

ZONE = "Europe/London"
LONDON = ZoneInfo(ZONE)
# Europe/London in 2026: summer time from 29 March 01:00 UTC (a 23-hour day) to 25 October
# 01:00 UTC (a 25-hour day).
START = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
_refs = itertools.count(1)


def at(text: str) -> datetime:
    """A UTC instant written "2026-03-29 23:30"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local_day(instant: datetime) -> date:
    return instant.astimezone(LONDON).date()


@dataclass
class Scene:
    world: World
    south_point: VendingPoint
    south_cashier: User
    north_meter: Meter
    north_meter_2: Meter
    south_meter: Meter
    sales: list[Sale] = field(default_factory=list)

    def sell(
        self, when: str, major: str, *, meter: Meter | None = None, south: bool = False
    ) -> Sale:
        w = self.world
        sale = vending.vend_credit(
            actor=self.south_cashier if south else w.cashier,
            vending_point=self.south_point if south else w.point,
            client_reference=f"report-{next(_refs)}",
            meter_number=(meter or (self.south_meter if south else self.north_meter)).number,
            tender=w.money(major),
            clock=FixedClock(at(when)),
        ).sale
        self.sales.append(sale)
        return sale

    def reverse(self, sale: Sale, when: str) -> Reversal:
        return vending.reverse_sale(
            actor=self.world.supervisor,
            sale=sale,
            reason="wrong meter typed",
            clock=FixedClock(at(when)),
        )


def scene() -> Scene:
    """The shared world (north service centre: a pay office, two meters), and a pay office with
    a cashier and a meter in the south's service centre, another business unit."""
    world = build_world(now=START)
    tree = world.tree
    south_point = org.create_vending_point(
        actor=world.admin, org_unit=tree.south_sc, name="South Pay Office", channel="pay_office"
    )
    south_cashier = factories.user(tree.south_sc, Role.OPERATOR, (Capability.CASHIER,))
    open_shift(
        actor=south_cashier, vending_point=south_point, opening_float=world.money("0"), now=START
    )
    return Scene(
        world=world,
        south_point=south_point,
        south_cashier=south_cashier,
        north_meter=world.add_meter(name="North One"),
        north_meter_2=world.add_meter(name="North Two"),
        south_meter=world.add_meter(unit=tree.south_sc, name="South One"),
    )


def standard_sales(s: Scene) -> None:
    """Sales on both sides of the spring change and of the March/April boundary, in both
    regions, and one reversal made on a later day than its sale."""
    s.sell("2026-03-28 23:30", "1100")  # 28 March, 23:30 GMT
    s.sell("2026-03-29 00:30", "1200")  # 29 March 00:30 GMT (the 23-hour day)
    s.sell("2026-03-29 22:30", "1300", meter=s.north_meter_2)  # 29 March 23:30 BST
    s.sell("2026-03-29 23:30", "1400")  # 30 March 00:30 BST: a UTC 29th, a London 30th
    s.sell("2026-03-31 22:30", "1500")  # 31 March 23:30 BST
    last = s.sell("2026-03-31 23:30", "1600")  # 1 April 00:30 BST: UTC March, London April
    s.sell("2026-03-30 10:00", "1700", south=True)
    s.sell("2026-04-01 10:00", "1800", south=True)
    s.reverse(last, "2026-04-02 08:00")


@dataclass
class Expected:
    count: int = 0
    tender: int = 0
    kwh: Decimal = Decimal(0)
    tax: int = 0
    fixed: int = 0
    debt: int = 0
    reversed_count: int = 0
    reversed: int = 0

    @property
    def net(self) -> int:
        return self.tender - self.reversed


def expected_sales(
    first: date,
    last: date,
    *,
    unit_path: str = "",
    kinds: Iterable[str] = ("credit", "debt_payment"),
    key: Callable[[Sale, date], Any] = lambda sale, day: None,
) -> dict[Any, Expected]:
    """Independent sums: every sale made (local day of its ``created_at``) and every reversal
    made (local day of the reversal's ``created_at``) in [first, last], per ``key``."""
    wanted = set(kinds)
    found: dict[Any, Expected] = {}
    for sale in Sale.objects.select_related("meter__org_unit"):
        if sale.kind not in wanted or not sale.meter.org_unit.path.startswith(unit_path):
            continue
        day = local_day(sale.created_at)
        if first <= day <= last:
            e = found.setdefault(key(sale, day), Expected())
            e.count += 1
            e.tender += sale.tender_minor
            e.kwh += sale.kwh
            e.tax += sale.tax_minor
            e.fixed += sale.fixed_charges_minor
            e.debt += sale.debt_recovered_minor
    for reversal in Reversal.objects.select_related("sale__meter__org_unit"):
        sale = reversal.sale
        if sale.kind not in wanted or not sale.meter.org_unit.path.startswith(unit_path):
            continue
        day = local_day(reversal.created_at)
        if first <= day <= last:
            e = found.setdefault(key(sale, day), Expected())
            e.reversed_count += 1
            e.reversed += sale.tender_minor
    return found


def posted(sales: Iterable[Sale], prefix: str) -> int:
    """What the sales' journal entries credited to accounts whose code starts with ``prefix``
    (credits are negative postings): read from the books, not from the sale's columns."""
    entries = [s.journal_entry_id for s in sales if s.journal_entry_id]
    return -sum(
        p.amount_minor
        for p in Posting.objects.filter(entry_id__in=entries, account__code__startswith=prefix)
    )


def total_row(result: Any, table: int = 0) -> dict[str, Any]:
    rows = result.tables[table].rows
    assert rows[-1].role == "total"
    return dict(rows[-1].cells)


def row_by(result: Any, group: str, table: int = 0, column: str = "group") -> dict[str, Any]:
    matches = [r for r in result.tables[table].rows if str(r.cells.get(column)) == group]
    assert len(matches) == 1, [r.cells.get(column) for r in result.tables[table].rows]
    return dict(matches[0].cells)
