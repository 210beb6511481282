"""A bank link's settings are refused at save when its frames could not carry the layout: a body
cap below a request, or a header too narrow to state the longest reply."""

from __future__ import annotations

import pytest

from gridvend.banklink import models as bank_models
from gridvend.banklink.errors import BankLinkInvalid
from gridvend.banklink.services import links
from gridvend.gateways.banklink import layout


def test_the_link_checks_use_the_layouts_own_sizes() -> None:
    assert links.REQUEST_BYTES == layout.REQUEST_BYTES
    longest = sum(w for _n, w in layout.REPLY_HEAD) + layout.MAX_ARREAR_ROWS * sum(
        w for _n, w in layout.ARREAR_ROW
    )
    assert longest == links.LONGEST_REPLY_BYTES


def test_a_body_cap_that_cannot_hold_a_request_is_refused() -> None:
    with pytest.raises(BankLinkInvalid) as refused:
        links.check_settings(links.LinkSettings(agency_id="A1", max_body_bytes=165))
    assert refused.value.params["field"] == "max_body_bytes"


def test_a_header_too_narrow_for_the_longest_reply_is_refused() -> None:
    with pytest.raises(BankLinkInvalid) as refused:
        links.check_settings(links.LinkSettings(agency_id="A1", header_width=2, max_body_bytes=99))
    assert refused.value.params["field"] in ("max_body_bytes", "header_width")
    with pytest.raises(BankLinkInvalid) as refused:
        links.check_settings(
            links.LinkSettings(agency_id="A1", header_width=2, binary_header=False)
        )
    # A four-digit ASCII header states up to 9999 bytes: enough.
    links.check_settings(links.LinkSettings(agency_id="A1", header_width=4, max_body_bytes=4096))


def test_the_reconciliation_sizes_are_the_layouts_own() -> None:
    assert bank_models.RECONCILE_HEAD_BYTES == layout.RECONCILE_HEAD_BYTES
    assert bank_models.RECONCILE_ROW_BYTES == layout.RECONCILE_ROW_BYTES
    assert bank_models.MAX_RECONCILE_ROWS == layout.MAX_RECONCILE_ROWS


def test_a_body_cap_that_cannot_hold_a_one_row_reconciliation_is_refused() -> None:
    # 166 holds a request but a reconciliation of one row is 128 + 54 = 182 bytes.
    for size in (166, 181):
        with pytest.raises(BankLinkInvalid) as refused:
            links.check_settings(links.LinkSettings(agency_id="A1", max_body_bytes=size))
        assert refused.value.params["field"] == "max_body_bytes"
    links.check_settings(links.LinkSettings(agency_id="A1", max_body_bytes=182))


@pytest.mark.parametrize(
    ("max_body", "rows"), [(182, 1), (235, 1), (236, 2), (8192, 149), (9999, 182), (10**6, 5000)]
)
def test_the_rows_a_reconciliation_frame_carries(max_body: int, rows: int) -> None:
    assert bank_models.reconcile_rows(max_body) == rows
