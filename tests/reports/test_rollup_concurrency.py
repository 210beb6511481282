"""Two folds at once (a retried job beside the command) fold each sale once: each batch holds the
watermark row's lock, so the second waits and then finds nothing left (PostgreSQL: row locks)."""

from __future__ import annotations

from typing import Any

import pytest

from gridvend.reports import rollup
from gridvend.reports.models import SalesDay
from gridvend.vending.models import Sale
from tests.reports.support import ZONE, scene, standard_sales
from tests.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_folds_at_once_count_every_sale_once(settings: Any) -> None:
    settings.TIME_ZONE = ZONE
    s = scene()
    standard_sales(s)
    results, errors = run_threads(4, lambda i: rollup.fold(batch=2))
    assert not errors, errors
    assert sum(r.sales for r in results) == Sale.objects.count()
    assert sum(SalesDay.objects.values_list("sale_count", flat=True)) == Sale.objects.count()
    assert rollup.verify() == []
