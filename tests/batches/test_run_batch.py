"""The batch transaction: all rows or none, a dry run that leaves nothing behind, and row errors
that say which row, which column and which code."""

from __future__ import annotations

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.batches.files import Row, RowError, Rows
from gridvend.batches.services import ApplyRow, Problem, RowRefused, run_batch
from gridvend.customers import services as customers
from gridvend.customers.models import Customer
from gridvend.kernel.errors import DomainError
from tests.world import World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return build_world()


def _describe(exc: DomainError) -> str:
    return f"refused: {exc.code}"


def _apply(world: World) -> ApplyRow:
    def apply_row(row: dict[str, str], problems: list[Problem]) -> None:
        if not row["name"]:
            problems.append(("name", "empty"))
        if problems:
            raise RowRefused(problems)
        customers.create_customer.within_transaction(
            actor=world.admin,
            account_number=row.get("account_number", ""),
            name=row["name"],
            org_unit=world.unit,
            tariff=world.tariff,
            category="residential",
        )

    return apply_row


def _rows(*names: str) -> list[Row]:
    return [(number, {"name": name}) for number, name in enumerate(names, start=2)]


def test_a_real_run_with_good_rows_commits_every_row(world: World) -> None:
    report = run_batch(
        rows=_rows("Ann", "Ben"), apply_row=_apply(world), commit=True, describe=_describe
    )
    assert report.ok and report.committed and report.rows == 2
    assert Customer.objects.filter(name__in=["Ann", "Ben"]).count() == 2


def test_a_failing_row_rolls_back_the_good_ones(world: World) -> None:
    report = run_batch(
        rows=_rows("Ann", "", "Ben"), apply_row=_apply(world), commit=True, describe=_describe
    )
    assert not report.committed
    assert report.errors == [RowError(3, "name", "empty")]
    assert not Customer.objects.filter(name__in=["Ann", "Ben"]).exists()


def test_a_dry_run_writes_nothing_and_no_audit_event(world: World) -> None:
    events = AuditEvent.objects.count()
    report = run_batch(
        rows=_rows("Ann", "Ben"), apply_row=_apply(world), commit=False, describe=_describe
    )
    assert report.ok and not report.committed
    assert not Customer.objects.filter(name__in=["Ann", "Ben"]).exists()
    assert AuditEvent.objects.count() == events


def test_a_refusal_by_a_service_carries_its_row_column_and_code(world: World) -> None:
    rows: list[Row] = [(2, {"name": "Ann", "account_number": "bad number!"}), (3, {"name": "Ben"})]
    report = run_batch(
        rows=rows,
        apply_row=_apply(world),
        commit=True,
        describe=_describe,
        columns_by_code={"ACCOUNT_NUMBER_INVALID": "account_number"},
    )
    [error] = report.errors
    assert (error.row, error.column, error.code) == (2, "account_number", "ACCOUNT_NUMBER_INVALID")
    assert error.message == "refused: ACCOUNT_NUMBER_INVALID"
    assert report.failed_rows == 1 and not report.committed


def test_a_row_the_file_reader_could_not_read_is_reported_without_running(world: World) -> None:
    rows = Rows()
    rows.append((2, {"name": "Ann"}))
    rows.problems.append(RowError(3, "", "cannot be read"))
    report = run_batch(rows=rows, apply_row=_apply(world), commit=True, describe=_describe)
    assert report.rows == 2
    assert report.errors == [RowError(3, "", "cannot be read")]
    assert not Customer.objects.filter(name="Ann").exists()
