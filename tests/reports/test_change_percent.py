"""The "Change %" of the summaries and the dashboard: a rise is positive and a fall negative,
whatever the sign of the figure before (a day of more reversals than sales nets below zero)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gridvend.reports.catalogue import change_percent


@pytest.mark.parametrize(
    ("now", "before", "expected"),
    [
        (150, 100, Decimal("50.0")),
        (50, 100, Decimal("-50.0")),
        (-50, -100, Decimal("50.0")),  # from -100 up to -50: a rise
        (100, -100, Decimal("200.0")),
        (-150, -100, Decimal("-50.0")),  # further down: a fall
        (-100, 100, Decimal("-200.0")),
        (1, 3, Decimal("-66.7")),
    ],
)
def test_a_rise_is_positive_and_a_fall_negative(now: int, before: int, expected: Decimal) -> None:
    assert change_percent(now, before) == expected


def test_no_change_is_given_against_nothing() -> None:
    assert change_percent(100, 0) is None
