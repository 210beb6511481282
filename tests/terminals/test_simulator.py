"""The `gridvend terminal` simulator against the gateway over a real socket: it enrols with the
back office's code, keeps its key and sequence in its state file, and pings."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridvend.terminals.models import TerminalStatus
from tests.terminals.conftest import IMEI, IMSI, SERIAL, Field, settle

pytestmark = pytest.mark.django_db(transaction=True)


def run(port: int, state: Path, *args: str) -> str:
    out = StringIO()
    try:
        call_command("terminal", "--port", str(port), "--state", str(state), *args, stdout=out)
    finally:
        settle(port)
    return out.getvalue()


def test_the_simulator_enrols_and_pings_printing_its_receipts(
    field: Field, gateway: int, tmp_path: Path
) -> None:
    state = tmp_path / "hh0001.json"
    printed = run(
        gateway,
        state,
        "enrol",
        "--terminal-id",
        "HH0001",
        "--code",
        field.code,
        "--serial",
        SERIAL,
        "--imsi",
        IMSI,
        "--imei",
        IMEI,
    )
    assert "ENROLLED  terminal HH0001" in printed and "key version 1" in printed
    assert state.stat().st_mode & 0o077 == 0
    assert field.fresh().status == TerminalStatus.ACTIVE
    printed = run(gateway, state, "ping")
    assert "GATEWAY OK  terminal HH0001  status active" in printed
    assert field.agent.full_name in printed
    assert json.loads(state.read_text())["sequence"] == field.fresh().last_sequence


def test_the_simulator_reports_a_refusal_by_its_code(
    field: Field, gateway: int, tmp_path: Path
) -> None:
    state = tmp_path / "hh0001.json"
    with pytest.raises(CommandError, match="TERMINAL_AUTH_FAILED"):
        run(
            gateway,
            state,
            "enrol",
            "--terminal-id",
            "HH0001",
            "--code",
            "A" * 20,
            "--serial",
            SERIAL,
            "--imsi",
            IMSI,
            "--imei",
            IMEI,
        )
    assert field.fresh().status == TerminalStatus.PENDING
