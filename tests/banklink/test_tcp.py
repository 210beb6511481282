"""The fixed-format bank link over a real socket: a client in the test speaks to the link's
server (an ephemeral port, a thread) which answers through the real services and billing.

Framing cases (a frame split across reads, two frames in one read, a slow client, a truncated
frame, an oversize length, GBK, binary and ASCII headers), then query, pay and cancel end to
end with the refusals the bank must get, every raw message stored."""

from __future__ import annotations

import time

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.banklink.models import BankSession, Direction, RawMessage, SessionOutcome
from gridvend.billing.models import BillPayment, PaymentStatus
from gridvend.customers import services as customers
from gridvend.gateways.banklink import layout
from gridvend.gateways.banklink.framing import FrameReader
from gridvend.gateways.banklink.layout import ReturnCode
from gridvend.gateways.banklink.server import frame_spec
from gridvend.ledger.models import JournalEntry
from tests.banklink.conftest import (
    Bank,
    connect,
    exchange,
    read_all,
    reply_fields,
    request,
    wait_for,
)
from tests.billing.test_payments import A_BILL

pytestmark = pytest.mark.django_db(transaction=True)


def books() -> tuple[int, int, int]:
    return (BillPayment.objects.count(), JournalEntry.objects.count(), AuditEvent.objects.count())


def closed_sessions(count: int) -> list[BankSession]:
    return wait_for(
        lambda: (
            list(BankSession.objects.exclude(outcome=SessionOutcome.OPEN).order_by("pk"))
            if BankSession.objects.exclude(outcome=SessionOutcome.OPEN).count() >= count
            else None
        )
    )


def test_a_query_answers_the_account_its_total_and_its_bills_and_keeps_both_messages(
    bank: Bank, server: int
) -> None:
    sent = request(bank, layout.QUERY)
    body = exchange(bank, server, sent)
    head = reply_fields(bank, body)
    assert head["return_code"] == ReturnCode.OK
    assert head["account_number"] == bank.account
    assert head["customer_name"] == bank.scene.customer(bank.scene.a).name
    assert int(head["total_due"]) == A_BILL
    assert int(head["count"]) == 1
    row = body[sum(w for _, w in layout.REPLY_HEAD) :]
    assert int(row[20 + 6 : 20 + 6 + 14]) == A_BILL
    [session] = closed_sessions(1)
    assert session.outcome == SessionOutcome.ANSWERED and session.peer_host == "127.0.0.1"
    stored = list(RawMessage.objects.filter(session=session).order_by("pk"))
    assert [m.direction for m in stored] == [Direction.IN, Direction.OUT]
    assert bytes(stored[0].content) == frame_spec(bank.link).frame(sent)
    assert stored[0].message_type == layout.QUERY
    assert bytes(stored[1].content)[4:] == body and stored[1].return_code == ReturnCode.OK


def test_a_frame_split_across_reads_is_joined(bank: Bank, server: int) -> None:
    framed = frame_spec(bank.link).frame(request(bank, layout.QUERY))
    with connect(server) as sock:
        for part in (framed[:1], framed[1:3], framed[3:10], framed[10:]):
            sock.sendall(part)
            # Each part its own segment: the server reads the frame in pieces.
            time.sleep(0.05)
        reply = read_all(sock)
    assert reply_fields(bank, reply[4:])["return_code"] == ReturnCode.OK
    assert RawMessage.objects.filter(direction=Direction.IN).count() == 1


def test_a_keep_alive_and_a_query_in_one_read_are_both_answered(bank: Bank, server: int) -> None:
    spec = frame_spec(bank.link)
    with connect(server) as sock:
        sock.sendall(spec.header(0) + spec.frame(request(bank, layout.QUERY)))
        reply = read_all(sock)
    assert reply[:4] == b"0000"  # the keep-alive echoed
    assert reply_fields(bank, reply[8:])["return_code"] == ReturnCode.OK


def test_two_queries_in_one_read_get_two_replies_on_a_long_connection(
    bank: Bank, server: int
) -> None:
    bank.reconfigure(is_short_connection=False)
    spec = frame_spec(bank.link)
    one = request(bank, layout.QUERY, bank_serial="Q1")
    two = request(bank, layout.QUERY, bank_serial="Q2")
    with connect(server) as sock:
        sock.sendall(spec.frame(one) + spec.frame(two))
        reader = FrameReader(spec, sock.recv)
        first, second = reader.read(), reader.read()
    assert first is not None and second is not None
    assert reply_fields(bank, first)["bank_serial"] == "Q1"
    assert reply_fields(bank, second)["bank_serial"] == "Q2"


def test_a_slow_client_is_closed_at_the_timeout_with_nothing_written(
    bank: Bank, server: int
) -> None:
    bank.reconfigure(read_timeout_seconds=1)
    with connect(server) as sock:
        sock.sendall(b"01")  # half a header, then nothing
        assert read_all(sock) == b""
    [session] = closed_sessions(1)
    assert session.outcome == SessionOutcome.TIMED_OUT
    [stored] = RawMessage.objects.filter(session=session)
    assert stored.direction == Direction.IN and bytes(stored.content) == b"01"
    assert "timeout" in stored.problem


def test_a_truncated_frame_is_kept_and_never_answered(bank: Bank, server: int) -> None:
    framed = frame_spec(bank.link).frame(request(bank, layout.PAY, amount=100))
    before = books()
    with connect(server) as sock:
        sock.sendall(framed[:50])
        sock.shutdown(1)  # the bank closes its side mid-frame
        assert read_all(sock) == b""
    [session] = closed_sessions(1)
    assert session.outcome == SessionOutcome.REFUSED
    [stored] = RawMessage.objects.filter(session=session)
    assert bytes(stored.content) == framed[:50] and "truncated" in stored.problem
    assert books() == before


def test_an_oversize_length_is_refused_before_the_body_is_read(bank: Bank, server: int) -> None:
    with connect(server) as sock:
        sock.sendall(b"9999" + b"x" * 20)
        reply = read_all(sock)
    assert reply_fields(bank, reply[4:])["return_code"] == ReturnCode.MALFORMED
    [session] = closed_sessions(1)
    assert session.outcome == SessionOutcome.REFUSED and "oversize" in session.note


def test_a_gbk_body_is_counted_in_bytes_and_a_chinese_name_comes_back_in_gbk(
    bank: Bank, server: int
) -> None:
    customer = bank.scene.customer(bank.scene.a)
    customers.update_customer(actor=bank.scene.world.admin, customer=customer, name="王小明")
    sent = request(bank, layout.QUERY, outlet="工商银行网点")
    assert len(sent) == layout.REQUEST_BYTES  # the Chinese outlet fills bytes, not characters
    head = reply_fields(bank, exchange(bank, server, sent))
    assert head["return_code"] == ReturnCode.OK and head["customer_name"] == "王小明"
    stored = RawMessage.objects.filter(direction=Direction.IN).get()
    assert "工商银行网点".encode("gbk") in bytes(stored.content)


def test_a_body_in_the_wrong_charset_is_refused_as_such(bank: Bank, server: int) -> None:
    bank.reconfigure(charset="utf-8")
    sent = layout.encode_request(
        {
            "message_type": 1,
            "agency_id": bank.link.agency_id,
            "bank_serial": "S9",
            "outlet": "网点",
            "account_number": bank.account,
        },
        "gbk",
    )
    head = reply_fields(bank, exchange(bank, server, sent))
    assert head["return_code"] == ReturnCode.WRONG_CHARSET


@pytest.mark.parametrize("includes", [False, True])
def test_a_binary_two_byte_header_frames_the_same_query(
    bank: Bank, server: int, includes: bool
) -> None:
    bank.reconfigure(header_width=2, binary_header=True, length_includes_header=includes)
    body = exchange(bank, server, request(bank, layout.QUERY))
    assert reply_fields(bank, body)["return_code"] == ReturnCode.OK
    stored = RawMessage.objects.filter(direction=Direction.IN).get()
    length = int.from_bytes(bytes(stored.content)[:2], "big")
    assert length == layout.REQUEST_BYTES + (2 if includes else 0)


@pytest.mark.parametrize("width", [6, 8, 10])
def test_ascii_headers_of_each_width_frame_the_same_query(
    bank: Bank, server: int, width: int
) -> None:
    bank.reconfigure(header_width=width, length_includes_header=True)
    body = exchange(bank, server, request(bank, layout.QUERY))
    assert reply_fields(bank, body)["return_code"] == ReturnCode.OK
    stored = bytes(RawMessage.objects.filter(direction=Direction.IN).get().content)
    assert stored[:width] == str(layout.REQUEST_BYTES + width).zfill(width).encode()


def test_an_unknown_account_another_agency_and_a_bad_field_each_get_their_code(
    bank: Bank, server: int
) -> None:
    cases = [
        (request(bank, layout.QUERY, account_number="NOPE0001"), ReturnCode.UNKNOWN_ACCOUNT),
        (request(bank, layout.QUERY, agency_id="OTHER"), ReturnCode.AGENCY_UNKNOWN),
        (request(bank, layout.QUERY, trans_date="20261399"), ReturnCode.MALFORMED),
        (request(bank, layout.QUERY)[:-3], ReturnCode.MALFORMED),
        (b"0007" + request(bank, layout.QUERY)[4:], ReturnCode.UNKNOWN_MESSAGE_TYPE),
        (
            request(bank, layout.QUERY, account_number=bank.scene.customer(
                bank.scene.prepaid).account_number),
            ReturnCode.ACCOUNT_NOT_POSTPAID,
        ),
    ]  # fmt: skip
    for body, code in cases:
        assert reply_fields(bank, exchange(bank, server, body))["return_code"] == code


def test_pay_cancel_and_the_refusals_of_the_bank_serial(bank: Bank, server: int) -> None:
    paid = reply_fields(bank, exchange(bank, server, request(bank, layout.PAY, amount=100000)))
    assert paid["return_code"] == ReturnCode.OK
    assert int(paid["total_due"]) == A_BILL - 100000
    payment = BillPayment.objects.get()
    assert payment.source_reference == "S0001" and payment.partner_id == bank.partner.pk
    assert payment.bank_facts["outlet"] == "网点0001" and payment.bank_facts["teller"] == "T07"
    # The same serial and amount again (a retry): the same payment, nothing new.
    again = reply_fields(bank, exchange(bank, server, request(bank, layout.PAY, amount=100000)))
    assert again["return_code"] == ReturnCode.OK and again["reference"] == paid["reference"]
    assert BillPayment.objects.count() == 1
    # The same serial with another amount: refused, nothing written.
    before = books()
    reused = exchange(bank, server, request(bank, layout.PAY, amount=99))
    assert reply_fields(bank, reused)["return_code"] == ReturnCode.SERIAL_REUSED
    assert books() == before
    # Cancel it, then a second cancel, then a cancel of a serial never paid.
    cancel = request(bank, layout.CANCEL, bank_serial="C1", original_serial="S0001")
    assert reply_fields(bank, exchange(bank, server, cancel))["return_code"] == ReturnCode.OK
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    before = books()
    second = request(bank, layout.CANCEL, bank_serial="C2", original_serial="S0001")
    assert reply_fields(bank, exchange(bank, server, second))["return_code"] == (
        ReturnCode.ALREADY_CANCELLED
    )
    b_account = bank.scene.customer(bank.scene.b).account_number
    other = request(
        bank, layout.CANCEL, bank_serial="C4", original_serial="S0001", account_number=b_account
    )
    assert reply_fields(bank, exchange(bank, server, other))["return_code"] == (
        ReturnCode.NO_RECORD_TO_CANCEL
    )
    never = request(bank, layout.CANCEL, bank_serial="C3", original_serial="NOPE")
    assert reply_fields(bank, exchange(bank, server, never))["return_code"] == (
        ReturnCode.NO_RECORD_TO_CANCEL
    )
    assert books() == before


def test_a_peer_outside_the_partners_allow_list_is_closed_unanswered(
    bank: Bank, server: int
) -> None:
    from gridvend.partners import services as partner_services

    partner_services.update_partner(
        actor=bank.scene.world.admin, partner=bank.partner, ip_allow_list="10.9.9.9"
    )
    with connect(server) as sock:
        sock.sendall(frame_spec(bank.link).frame(request(bank, layout.QUERY)))
        assert read_all(sock) == b""
    [session] = closed_sessions(1)
    assert session.outcome == SessionOutcome.REFUSED
    assert not RawMessage.objects.exists()


def test_keep_alives_do_not_hold_a_short_connection_open_past_its_read_timeout(bank: Bank) -> None:
    """A peer sending only keep-alives is closed at the read timeout, or 32 such peers would
    lock the bank out for as long as they like."""
    import socket
    import threading
    import time

    from gridvend.gateways.banklink.server import LinkServer, frame_spec

    link = bank.reconfigure(read_timeout_seconds=1, is_short_connection=True)
    listener = LinkServer(link, ("127.0.0.1", 0), max_connections=1)
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    port = int(listener.server_address[1])
    spec = frame_spec(link)
    try:
        hog = socket.create_connection(("127.0.0.1", port), timeout=10)
        started = time.monotonic()
        alive = True
        while time.monotonic() - started < 4:
            try:
                hog.sendall(spec.header(0))
                if hog.recv(16) == b"":
                    alive = False
                    break
            except OSError:
                alive = False
                break
            time.sleep(0.5)
        hog.close()
        assert not alive, "four seconds of keep-alives held a 1-second short connection"
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join(timeout=10)
