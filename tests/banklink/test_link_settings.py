"""A bank link's settings are refused at save when its frames could not carry the layout: a body
cap below a request, or a header too narrow to state the longest reply."""

from __future__ import annotations

import pytest

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
