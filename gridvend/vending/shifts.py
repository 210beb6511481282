"""The cashier-shift names callers have always imported from here: the use cases live in
``vending.services.shifts``, the reads in ``vending.selectors``, the predicates in
``vending.permissions`` and the Z report and banking slip in ``gridvend.reports.shifts``."""

from gridvend.vending.errors import ShiftError
from gridvend.vending.models import (
    PAID_BY_BACK_OFFICE,
    PAID_FROM_DRAWER,
    PAID_FROM_OWN_SHIFT,
    PAID_THROUGH_CHANNEL,
    SHIFT_CHANNELS,
    TENDER_TYPES,
)
from gridvend.vending.permissions import (
    SUPERVISOR_RANK,
    can_read_report,
    can_supervise_shifts,
    can_view_shifts,
    expected_hidden,
)
from gridvend.vending.selectors import (
    abandon_after,
    current_shift,
    expected_takings,
    is_abandoned,
    refund_paid_elsewhere,
    refund_paid_from,
    shift_required,
    shift_sales,
)
from gridvend.vending.services.shifts import (
    close_shift,
    force_close_shift,
    open_shift,
    require_open_shift,
    sign_off_shift,
)

__all__ = [
    "PAID_BY_BACK_OFFICE",
    "PAID_FROM_DRAWER",
    "PAID_FROM_OWN_SHIFT",
    "PAID_THROUGH_CHANNEL",
    "SHIFT_CHANNELS",
    "SUPERVISOR_RANK",
    "TENDER_TYPES",
    "ShiftError",
    "abandon_after",
    "can_read_report",
    "can_supervise_shifts",
    "can_view_shifts",
    "close_shift",
    "current_shift",
    "expected_hidden",
    "expected_takings",
    "force_close_shift",
    "is_abandoned",
    "open_shift",
    "refund_paid_elsewhere",
    "refund_paid_from",
    "require_open_shift",
    "shift_required",
    "shift_sales",
    "sign_off_shift",
]
