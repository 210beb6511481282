"""Printing on an ESC/POS network printer without a dialogue: the seller's "print" action sends
the receipt over TCP to a real socket on 127.0.0.1 that stands in for the printer, and the test
reads what arrived (the token digits, the QR command, the cut). The print is recorded like any
other: original first, REPRINT after, a COPY with masked digits for someone else."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.test import Client, override_settings

from gridvend.audit.models import AuditEvent
from gridvend.configuration import (
    ConfigurationError,
    NetworkPrinter,
    environment,
    escpos_printers,
)
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.vending.models import Sale
from gridvend.web.receipts import escpos
from gridvend.web.receipts.render import build_receipt
from tests import factories
from tests.receipts.helpers import sell
from tests.world import World

ClientFor = Callable[[User], Client]


@dataclass
class FakePrinter:
    """A TCP listener on 127.0.0.1 that keeps every job it is sent, as a port-9100 printer."""

    address: NetworkPrinter
    jobs: list[bytes]

    def wait_for(self, count: int) -> list[bytes]:
        deadline = time.monotonic() + 10
        while len(self.jobs) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.jobs) == count, f"{len(self.jobs)} jobs arrived, not {count}"
        return self.jobs


@pytest.fixture
def printer() -> Iterator[FakePrinter]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    jobs: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                link, _peer = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with link:
                link.settimeout(10)
                chunks = []
                while data := link.recv(65536):
                    chunks.append(data)
                jobs.append(b"".join(chunks))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    fake = FakePrinter(NetworkPrinter("127.0.0.1", server.getsockname()[1]), jobs)
    with override_settings(ESCPOS_PRINTERS={"": fake.address}):
        yield fake
    stop.set()
    thread.join(5)
    server.close()


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as spare:
        return int(spare.getsockname()[1])


def _events(sale: Sale, event_type: str) -> int:
    return AuditEvent.objects.filter(event_type=event_type, target_id=str(sale.pk)).count()


def _print(client: Client, sale: Sale, *, back: str = "/cashier/sales/{}/") -> str:
    response = client.post(
        f"/receipts/{sale.reference}/print/", {"next": back.format(sale.reference)}, follow=True
    )
    assert response.status_code == 200
    return response.content.decode()


# --- the bytes ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_job_is_text_a_qr_command_and_a_cut(world: World) -> None:
    sale = sell(world, world.add_meter(name="Amina Wanjiru"))
    job = escpos.encode(build_receipt(sale))
    assert job.startswith(escpos.INIT + escpos.CODE_PAGE)
    assert job.endswith(escpos.CUT)
    assert escpos.qr_code(sale.reference.encode()) in job
    store = b"\x1d(k" + bytes([len(sale.reference) + 3, 0]) + b"1P0" + sale.reference.encode()
    assert store in job
    for token in sale.tokens.all():
        assert token.grouped.encode() in job
    text = job.decode("cp437")
    assert "Amina Wanjiru" in text and sale.meter.number in text
    for line in text.split("\n"):
        printable = "".join(ch for ch in line if ch.isprintable())
        assert len(printable) <= escpos.COLUMNS + 8, line  # commands aside, 48 columns


@pytest.mark.django_db
def test_characters_the_printer_lacks_print_as_question_marks(world: World) -> None:
    sale = sell(world, world.add_meter(name="محمد 王伟 Renée"))
    text = escpos.encode(build_receipt(sale)).decode("cp437")
    assert "Renée" in text and "???? ?? Renée" in text


def test_a_long_value_goes_under_its_label() -> None:
    slip = escpos.Slip(columns=20)
    slip.pair("Premises", "Plot 1143 Upper Milimani Estate")
    lines = slip.bytes().split(b"\n")
    texts = [line.split(b"\x1ba\x00")[-1] for line in lines if line]
    assert texts[0] == b"Premises"
    assert all(len(t) == 20 for t in texts[1:])


# --- the printer set-up -----------------------------------------------------------------------


def test_printers_are_read_per_vending_point_with_a_default() -> None:
    env = environment(
        {"GRIDVEND_ESCPOS_PRINTER": "10.0.0.5:9100, kitale-pay-office=printer-2.local:9100"}
    )
    assert escpos_printers(env) == {
        "": NetworkPrinter("10.0.0.5", 9100),
        "kitale-pay-office": NetworkPrinter("printer-2.local", 9100),
    }
    assert escpos_printers(environment({})) == {}
    assert escpos_printers(environment({"GRIDVEND_ESCPOS_PRINTER": "[fd00::5]:9100"})) == {
        "": NetworkPrinter("fd00::5", 9100)
    }


@pytest.mark.parametrize(
    "value",
    ["printer", "printer:0", "printer:70000", "bad host:9100", "a=b=c:1", "x:1,y:2", "[zz]:9100"],
)
def test_a_bad_printer_setting_stops_the_start(value: str) -> None:
    with pytest.raises(ConfigurationError, match="GRIDVEND_ESCPOS_PRINTER"):
        escpos_printers(environment({"GRIDVEND_ESCPOS_PRINTER": value}))


# --- the seller's print action ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_seller_prints_the_original_then_a_reprint(
    world: World, client_for: ClientFor, printer: FakePrinter
) -> None:
    sale = sell(world, world.add_meter())
    client = client_for(world.cashier)
    page = _print(client, sale)
    assert "The receipt was sent to the receipt printer." in page
    [job] = printer.wait_for(1)
    for token in sale.tokens.all():
        assert token.grouped.encode() in job
    assert job.endswith(escpos.CUT) and b"REPRINT" not in job
    sale.refresh_from_db()
    assert sale.receipt_printed_at is not None
    assert _events(sale, "sale.receipt_printed") == 1
    _print(client, sale)
    second = printer.wait_for(2)[1]
    assert b"*** REPRINT ***" in second
    assert _events(sale, "sale.reprinted") == 1


@pytest.mark.django_db
def test_the_sale_screen_offers_the_printer_only_when_there_is_one(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    client = client_for(world.cashier)
    assert b'id="print-escpos"' not in client.get(f"/cashier/sales/{sale.reference}/").content
    with override_settings(ESCPOS_PRINTERS={world.point.code: NetworkPrinter("10.9.9.9", 9100)}):
        assert b'id="print-escpos"' in client.get(f"/cashier/sales/{sale.reference}/").content
    with override_settings(ESCPOS_PRINTERS={"elsewhere": NetworkPrinter("10.9.9.9", 9100)}):
        assert b'id="print-escpos"' not in client.get(f"/cashier/sales/{sale.reference}/").content


@pytest.mark.django_db
def test_a_printer_that_does_not_answer_is_said_plainly(
    world: World, client_for: ClientFor
) -> None:
    sale = sell(world, world.add_meter())
    with override_settings(ESCPOS_PRINTERS={"": NetworkPrinter("127.0.0.1", _closed_port())}):
        page = _print(client_for(world.cashier), sale)
    assert "did not answer and nothing was printed" in page
    # The print was recorded before the printer failed: the next one is a REPRINT.
    sale.refresh_from_db()
    assert sale.receipt_printed_at is not None


@pytest.mark.django_db
def test_without_a_printer_nothing_is_recorded(world: World, client_for: ClientFor) -> None:
    sale = sell(world, world.add_meter())
    with override_settings(ESCPOS_PRINTERS={}):
        page = _print(client_for(world.cashier), sale)
    assert "No receipt printer is set up for this vending point." in page
    sale.refresh_from_db()
    assert sale.receipt_printed_at is None
    assert _events(sale, "sale.receipt_printed") == 0


@pytest.mark.django_db
def test_someone_else_prints_a_masked_copy(
    world: World, client_for: ClientFor, printer: FakePrinter
) -> None:
    sale = sell(world, world.add_meter())
    auditor = factories.user(world.unit, Role.OPERATOR, (Capability.AUDITOR,))
    _print(client_for(auditor), sale, back="/receipts/{}/")
    [job] = printer.wait_for(1)
    assert b"*** COPY ***" in job
    for token in sale.tokens.all():
        assert token.grouped.encode() not in job
        assert f"**** **** **** **** {token.digits[-4:]}".encode() in job
    sale.refresh_from_db()
    assert sale.receipt_printed_at is None


@pytest.mark.django_db
def test_print_action_is_a_signed_in_post_in_scope(
    world: World, client_for: ClientFor, printer: FakePrinter
) -> None:
    sale = sell(world, world.add_meter())
    url = f"/receipts/{sale.reference}/print/"
    anonymous = Client().post(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert client_for(world.cashier).get(url).status_code == 405
    south = factories.user(world.tree.south, Role.VENDING_POINT_MANAGER, (Capability.CASHIER,))
    assert client_for(south).post(url).status_code == 404
    # An outside address in "next" is not followed.
    response = client_for(world.cashier).post(url, {"next": "https://example.org/"})
    assert response["Location"] == f"/receipts/{sale.reference}/"
    printer.wait_for(1)
    assert len(printer.jobs) == 1
