from gridvend.banklink.services import links
from gridvend.gateways.banklink import layout


def test_w2():
    s = links.check_settings(links.LinkSettings(agency_id="A1", header_width=2, max_body_bytes=99))
    assert s.max_body_bytes >= layout.REQUEST_BYTES, "a link that accepts no request is saved"
