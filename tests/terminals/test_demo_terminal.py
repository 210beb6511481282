"""The demo's handheld terminal: after `gridvend demo` the commands its banner prints log the
agent in, sell a token the meter accepts and collect a postpaid payment straight away against
the gateway over a real socket; a second run adds nothing, and a lost state file is enrolled
again from the same device."""

from __future__ import annotations

import json
import shlex
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from gridvend.billing.models import BillPayment
from gridvend.demo.terminal import DEMO_AGENT, DEMO_TERMINAL_ID, state_file
from gridvend.keys.engine import meter_params
from gridvend.keys.services import load_vending_key
from gridvend.meters.models import Meter
from gridvend.meters.selectors import meter_key_ref
from gridvend.sts.simulator import MeterSimulator
from gridvend.sts.tables import TableSet
from gridvend.terminals.models import Terminal, TerminalStatus
from gridvend.vending.models import Sale
from tests.terminals.conftest import settle

pytestmark = pytest.mark.django_db(transaction=True)

# A few customers in each service centre (Kisumu's among them), no sales history.
DEMO_ARGS = ("--customers", "16", "--history-days", "0")


def load_demo() -> str:
    out = StringIO()
    call_command("demo", *DEMO_ARGS, stdout=out)
    return out.getvalue()


def terminal_commands(banner: str) -> list[list[str]]:
    """The `gridvend terminal` commands the banner prints, as argument lists after `terminal`."""
    commands = []
    for line in banner.splitlines():
        words = shlex.split(line)
        if "terminal" in words and words[0] == "GRIDVEND_DEMO=1":
            commands.append(words[words.index("terminal") + 1 :])
    return commands


def run(port: int, args: list[str]) -> str:
    out = StringIO()
    try:
        call_command("terminal", *args, stdout=out)
    finally:
        settle(port)
    return out.getvalue()


@pytest.fixture
def demo_gateway(gateway: int, settings: Any, tmp_path: Path) -> int:
    """The demo's settings for the terminal: its var folder, the test gateway's port."""
    settings.VAR_DIR = tmp_path
    settings.TERMINALS_HOST = "127.0.0.1"
    settings.TERMINALS_PORT = gateway
    return gateway


def test_the_demo_terminal_logs_in_sells_and_collects_with_the_printed_commands(
    demo_gateway: int,
) -> None:
    banner = load_demo()
    commands = terminal_commands(banner)
    assert [c[2] for c in commands] == ["login", "sell", "arrears", "collect", "day-totals"]
    assert all(c[:2] == ["--state", str(state_file())] for c in commands)
    assert f"127.0.0.1:{demo_gateway}" in banner and "PIN 4821" in banner
    assert state_file().stat().st_mode & 0o077 == 0
    terminal = Terminal.objects.get(terminal_id=DEMO_TERMINAL_ID)
    assert terminal.agent is not None and terminal.agent.username == DEMO_AGENT
    assert terminal.status == TerminalStatus.ACTIVE

    printed = [run(demo_gateway, command) for command in commands]
    login, sell, arrears, collect, totals = printed
    assert "LOGGED IN  Kevin Ouma" in login
    assert "PREPAID ELECTRICITY" in sell and "TOKEN" in sell
    assert "ACCOUNT " in arrears
    assert f"RECEIPT {DEMO_TERMINAL_ID}:C-0001" in collect
    assert "SALES           1" in totals and "COLLECTIONS     1" in totals

    sale = Sale.objects.get(client_reference=f"{DEMO_TERMINAL_ID}:A-0001")
    assert sale.operator is not None and sale.operator.username == DEMO_AGENT
    assert sale.vending_point == terminal.vending_point
    payment = BillPayment.objects.get(source_reference=f"{DEMO_TERMINAL_ID}:C-0001")
    assert payment.amount_minor == 100000 and payment.channel == "handheld"
    # The token the terminal printed is accepted, once, by a meter holding the demo key.
    meter = Meter.objects.get(pk=sale.meter_id)
    key, tables = load_vending_key(meter.key_ref)
    simulator = MeterSimulator.for_meter(
        meter_params(meter_key_ref(meter)), key, sta_tables=TableSet(tables)
    )
    for token in sale.tokens.order_by("sequence"):
        grouped = " ".join(token.digits[at : at + 4] for at in range(0, 20, 4))
        assert grouped in sell
        assert simulator.enter(token.digits).accepted
        assert not simulator.enter(token.digits).accepted


def test_a_second_demo_run_keeps_the_terminal_and_a_lost_state_file_is_enrolled_again(
    demo_gateway: int,
) -> None:
    commands = terminal_commands(load_demo())
    key_hex = json.loads(state_file().read_text())["key_hex"]
    assert terminal_commands(load_demo()) == commands
    assert json.loads(state_file().read_text())["key_hex"] == key_hex
    assert Terminal.objects.get(terminal_id=DEMO_TERMINAL_ID).key_version == 1

    state_file().unlink()
    again = terminal_commands(load_demo())
    terminal = Terminal.objects.get(terminal_id=DEMO_TERMINAL_ID)
    assert terminal.key_version == 2 and terminal.status == TerminalStatus.ACTIVE
    assert json.loads(state_file().read_text())["key_hex"] != key_hex
    assert "LOGGED IN" in run(demo_gateway, again[0])
