"""The framer and the fixed-width layout, without a socket: every header form, byte counts in
GBK, the cap checked before the body, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridvend.gateways.banklink import layout
from gridvend.gateways.banklink.framing import FrameError, FrameReader, FrameSpec


def chunks(data: bytes, sizes: list[int]):
    """A recv() that hands out ``data`` in the given chunk sizes, then EOF."""
    parts = []
    at = 0
    for size in sizes:
        parts.append(data[at : at + size])
        at += size
    parts.append(data[at:])
    queue = [p for p in parts if p]

    def recv(_: int) -> bytes:
        return queue.pop(0) if queue else b""

    return recv


@pytest.mark.parametrize(
    ("spec", "header"),
    [
        (FrameSpec(header_width=4), b"0005"),
        (FrameSpec(header_width=8), b"00000005"),
        (FrameSpec(header_width=10, length_includes_header=True), b"0000000015"),
        (FrameSpec(header_width=6, length_includes_header=True), b"000011"),
        (FrameSpec(header_width=2, binary_header=True, max_body_bytes=1000), b"\x00\x05"),
        (
            FrameSpec(header_width=2, binary_header=True, length_includes_header=True),
            b"\x00\x07",
        ),
        (FrameSpec(header_width=4, binary_header=True), b"\x00\x00\x00\x05"),
    ],
)
def test_each_header_form_states_the_body_length_as_the_bank_writes_it(spec, header):
    assert spec.frame(b"hello") == header + b"hello"
    assert FrameReader(spec, chunks(header + b"hello", [])).read() == b"hello"


def test_a_gbk_body_is_counted_in_bytes_not_characters():
    body = "电费缴纳".encode("gbk")
    assert len(body) == 8
    assert FrameSpec(header_width=4, charset="gbk").frame(body)[:4] == b"0008"


def test_a_frame_split_across_reads_is_joined_and_two_in_one_read_are_two():
    spec = FrameSpec(header_width=4)
    data = spec.frame(b"first") + spec.frame(b"second")
    reader = FrameReader(spec, chunks(data, [1, 2, 3, 1, 20]))
    assert reader.read() == b"first"
    assert reader.read() == b"second"
    assert reader.read() is None


def test_a_zero_length_is_a_keep_alive_and_is_written_as_zeros():
    spec = FrameSpec(header_width=4, length_includes_header=True)
    assert spec.header(0) == b"0000"
    assert FrameReader(spec, chunks(b"0000", [])).read() == b""


def test_an_oversize_length_is_refused_before_the_body_is_read():
    spec = FrameSpec(header_width=8, max_body_bytes=100)
    reads: list[int] = []
    data = iter([b"00000101"])

    def recv(size: int) -> bytes:
        reads.append(size)
        return next(data, b"")

    with pytest.raises(FrameError) as caught:
        FrameReader(spec, recv).read()
    assert caught.value.reason == FrameError.OVERSIZE
    assert len(reads) == 1  # only the header was asked for


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"00", FrameError.TRUNCATED),
        (b"0010abc", FrameError.TRUNCATED),
        (b"00x5hello", FrameError.HEADER_INVALID),
        (b"-005hello", FrameError.HEADER_INVALID),
    ],
)
def test_a_cut_or_unreadable_frame_is_refused_with_its_reason(data, reason):
    with pytest.raises(FrameError) as caught:
        FrameReader(FrameSpec(header_width=4), chunks(data, [])).read()
    assert caught.value.reason == reason


def test_a_length_shorter_than_its_own_header_is_refused():
    spec = FrameSpec(header_width=4, length_includes_header=True)
    with pytest.raises(FrameError) as caught:
        FrameReader(spec, chunks(b"0002ab", [])).read()
    assert caught.value.reason == FrameError.HEADER_INVALID


def test_a_spec_whose_cap_the_header_cannot_state_is_refused():
    with pytest.raises(ValueError, match="fit"):
        FrameSpec(header_width=2, max_body_bytes=100)
    with pytest.raises(ValueError, match="width"):
        FrameSpec(header_width=3)


@given(
    body=st.binary(min_size=1, max_size=300),
    width=st.sampled_from([4, 6, 8, 10]),
    binary=st.booleans(),
    includes=st.booleans(),
    split=st.lists(st.integers(min_value=1, max_value=50), max_size=10),
)
def test_any_body_round_trips_through_any_header_and_any_chunking(
    body, width, binary, includes, split
):
    spec = FrameSpec(header_width=width, binary_header=binary, length_includes_header=includes)
    reader = FrameReader(spec, chunks(spec.frame(body) * 2, split))
    assert reader.read() == body
    assert reader.read() == body
    assert reader.read() is None


def request(**values) -> bytes:
    base: dict[str, str | int] = {
        "message_type": layout.PAY,
        "agency_id": "ICBC01",
        "trans_date": "20261201",
        "trans_time": "093000",
        "bank_serial": "S0001",
        "outlet": "网点01",
        "teller": "T7",
        "account_number": "ACC1",
        "bill_month": "",
        "bank_date": "20261201",
        "amount": 12345,
        "original_serial": "",
    }
    base.update(values)
    return layout.encode_request(base, "gbk")


def test_a_request_is_read_field_by_field_in_its_charset():
    body = request()
    assert len(body) == layout.REQUEST_BYTES
    read = layout.read_request(body, "gbk")
    assert (read.message_type, read.bank_serial, read.outlet) == (2, "S0001", "网点01")
    assert (read.account_number, read.amount_minor) == ("ACC1", 12345)
    assert read.bank_date.isoformat() == "2026-12-01"


def test_a_gbk_body_read_as_utf8_is_a_wrong_charset():
    with pytest.raises(layout.LayoutError) as caught:
        layout.read_request(request(), "utf-8")
    assert caught.value.code == layout.ReturnCode.WRONG_CHARSET


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"message_type": 7}, layout.ReturnCode.UNKNOWN_MESSAGE_TYPE),
        ({"amount": 0}, layout.ReturnCode.AMOUNT_INVALID),
        ({"trans_date": "20261301"}, layout.ReturnCode.MALFORMED),
        ({"trans_time": "256000"}, layout.ReturnCode.MALFORMED),
        ({"bank_serial": ""}, layout.ReturnCode.MALFORMED),
        ({"bill_month": "202613"}, layout.ReturnCode.MALFORMED),
        ({"message_type": layout.CANCEL}, layout.ReturnCode.MALFORMED),
    ],
)
def test_a_bad_field_is_refused_with_its_return_code(values, code):
    with pytest.raises(layout.LayoutError) as caught:
        layout.read_request(request(**values), "gbk")
    assert caught.value.code == code


def test_a_request_of_the_wrong_length_is_malformed():
    with pytest.raises(layout.LayoutError, match="bytes"):
        layout.read_request(request()[:-1], "gbk")


def test_a_reply_cuts_a_long_chinese_name_on_a_character_boundary():
    reply = layout.Reply(
        message_type=1,
        return_code="0000",
        return_message="成功",
        customer_name="张" * 30,
        total_due_minor=500,
        arrears=[layout.Arrear("B1", "202611", 300, 20), layout.Arrear("B2", "202612", 200, 0)],
    )
    body = reply.encode("gbk")
    head = sum(width for _, width in layout.REPLY_HEAD)
    row = sum(width for _, width in layout.ARREAR_ROW)
    assert len(body) == head + 2 * row
    name_at = sum(w for n, w in layout.REPLY_HEAD[:6])
    assert body[name_at : name_at + 40].decode("gbk") == "张" * 20


def test_a_reconciliation_must_add_up_and_name_each_serial_once():
    head: dict[str, str | int] = {
        "message_type": 90,
        "agency_id": "ICBC01",
        "trans_date": "20261202",
        "trans_time": "010000",
        "bank_serial": "R1",
        "bank_date": "20261201",
        "count": 2,
        "total": 300,
    }
    rows: list[dict[str, str | int]] = [
        {"bank_serial": "S1", "account_number": "A", "amount": 100},
        {"bank_serial": "S2", "account_number": "B", "amount": 200},
    ]
    read = layout.read_reconciliation(layout.encode_reconciliation(head, rows, "ascii"), "ascii")
    assert [r.bank_serial for r in read.rows] == ["S1", "S2"]
    with pytest.raises(layout.LayoutError, match="add up"):
        layout.read_reconciliation(
            layout.encode_reconciliation({**head, "total": 301}, rows, "ascii"), "ascii"
        )
    rows[1]["bank_serial"] = "S1"
    with pytest.raises(layout.LayoutError, match="twice"):
        layout.read_reconciliation(layout.encode_reconciliation(head, rows, "ascii"), "ascii")
