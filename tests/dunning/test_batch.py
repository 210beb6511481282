"""Dunning reads its accounts' figures in batches: a fixed number of queries however many
accounts a run covers, and the same figures as the one-account read a pre-check makes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridvend.dunning import services
from gridvend.dunning.due import read_due, read_dues
from tests.dunning.conftest import Dunning

pytestmark = pytest.mark.django_db

# One query for the open bills, one for credit, last payment and latest bill per account.
DUES_QUERIES = 2


def _bill_queries(captured: CaptureQueriesContext) -> int:
    return sum('"billing_bill"' in q["sql"] for q in captured.captured_queries)


def test_the_figures_of_many_accounts_take_the_queries_of_one(dunning: Dunning) -> None:
    d = dunning
    today = d.day(6)
    d.pay(d.s.b, 10000, "BATCH-B")
    a, b = d.customer(d.s.a), d.customer(d.s.b)
    prepaid, south = d.customer(d.s.prepaid), d.customer(d.s.south)
    for customer in (a, b, prepaid, south):
        customer.refresh_from_db()  # the org unit and tariff loaded, as the run's query does
        customer.org_unit, customer.tariff
    with CaptureQueriesContext(connection) as one:
        alone = read_dues(d.s.finance, [a], today=today)
    with CaptureQueriesContext(connection) as four:
        many = read_dues(d.s.finance, [a, b, prepaid, south], today=today)
    assert len(one.captured_queries) == len(four.captured_queries) == DUES_QUERIES
    # A prepaid-only account and one outside the finance person's region are left out.
    assert set(many) == {a.pk, b.pk} and alone[a.pk] == many[a.pk]
    for customer in (a, b):
        assert many[customer.pk] == read_due(d.s.finance, customer.account_number, today=today)
    last = many[b.pk].last_payment
    assert last is not None and last[1] == 10000
    assert many[b.pk].arrears_minor == d.owed(d.s.b) and many[b.pk].oldest_overdue == d.due_date


def test_a_run_reads_the_bills_once_and_not_once_per_account(dunning: Dunning) -> None:
    d = dunning
    d.rule("reminder", days=5)
    with CaptureQueriesContext(connection) as run:
        result = services.run_dunning(actor=d.s.finance, today=d.day(6))
    assert (result.checked, result.opened) == (2, 2)
    # A read per account would query the bills twice for each of the two accounts.
    assert _bill_queries(run) <= DUES_QUERIES
