"""The demo's handheld terminal: terminal HH0001 of the Kisumu service centre, given to the field
agent ``kisumu.agent`` (who also sells) at the centre's handheld vending point, with a PIN, and
enrolled, so that once `make demo` runs the gateway, ``gridvend terminal`` logs in and sells or
collects at once (docs/terminals.md).

The terminal's side (its id, key and sequence) is the simulator's state file
``var/demo-terminal-hh0001.json`` (readable by its owner only). The demo enrols the terminal
through the gateway's own enrolment service with a one-time code it issued, as a device would
over the wire; when the state file is missing or no longer holds the terminal's key (a fresh
``var/``, a key the back office rotated) the demo rotates the key and enrols again from the same
device. A terminal the back office suspended or revoked is left as it is. Nothing like this
exists outside the demo.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from gridvend.customers.models import AccountKind, Customer
from gridvend.identity.models import User
from gridvend.meters.models import Meter, MeterStatus
from gridvend.org import services as org
from gridvend.org.models import Channel, OrgUnit, VendingPoint
from gridvend.terminals.models import AgentPin, Terminal, TerminalStatus
from gridvend.terminals.services import agents, gateway, setup

DEMO_TERMINAL_ID = "HH0001"
DEMO_AGENT = "kisumu.agent"
DEMO_CENTRE = "Kisumu SC"
DEMO_PIN = "4821"
DEMO_POINT = "Kisumu Field Handhelds"
# The demo device: a serial, a Kenyan IMSI and an IMEI with its Luhn check digit.
DEMO_DEVICE = gateway.Device(
    serial_number="HX-2024-00017",
    imsi="639020123456789",
    imei="490154203237518",
    app_version="gridvend-demo-1",
)


@dataclass(frozen=True)
class DemoTerminal:
    terminal_id: str
    state_file: Path
    agent_username: str
    agent_name: str
    pin: str
    host: str
    port: int
    meter: str  # a prepaid meter of the centre, to sell to
    account: str  # a postpaid account of the centre, to collect from


def state_file() -> Path:
    return Path(settings.VAR_DIR) / f"demo-terminal-{DEMO_TERMINAL_ID.lower()}.json"


def _point(admin: User, centre: OrgUnit) -> VendingPoint:
    existing = VendingPoint.objects.filter(org_unit=centre, name=DEMO_POINT).first()
    return existing or org.create_vending_point(
        actor=admin, org_unit=centre, name=DEMO_POINT, channel=Channel.HANDHELD
    )


def _holds_key(terminal: Terminal, path: Path) -> bool:
    """The state file is this terminal's and holds its current key."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    key = gateway.terminal_key(terminal)
    return (
        key is not None
        and isinstance(state, dict)
        and state.get("terminal_id") == terminal.terminal_id
        and state.get("key_version") == terminal.key_version
        and hmac.compare_digest(str(state.get("key_hex", "")), key.hex())
    )


def _enrol(terminal: Terminal, code: str, path: Path) -> None:
    """Enrol as the device would and write the simulator's state file (the fields of
    ``gateways.terminals.client.TerminalState``, which the demo, a layer below the channels,
    does not import)."""
    enrolled, key = gateway.enrol(terminal=terminal, code=code, device=DEMO_DEVICE)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "terminal_id": enrolled.terminal_id,
        "cipher": enrolled.cipher,
        "key_hex": key.hex(),
        "key_version": enrolled.key_version,
        "sequence": 0,
        "session": "",
    }
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def ensure_terminal(admin: User, units: dict[str, OrgUnit]) -> DemoTerminal | None:
    """Register, assign and enrol the demo terminal (once); None when the back office has taken
    it out of service or the demo agent is missing."""
    centre = units[DEMO_CENTRE]
    agent = User.objects.filter(username=DEMO_AGENT).first()
    if agent is None:
        return None
    point = _point(admin, centre)
    if not AgentPin.objects.filter(agent=agent).exists():
        agents.set_agent_pin(actor=admin, agent=agent, pin=DEMO_PIN)
    path = state_file()
    terminal = Terminal.objects.filter(terminal_id=DEMO_TERMINAL_ID).first()
    if terminal is None:
        terminal, code = setup.register_terminal(
            actor=admin, terminal_id=DEMO_TERMINAL_ID, org_unit=centre
        )
        terminal = setup.assign_terminal(
            actor=admin, terminal=terminal, agent=agent, org_unit=centre, vending_point=point
        )
        _enrol(terminal, code, path)
    elif terminal.status == TerminalStatus.ACTIVE and not _holds_key(terminal, path):
        terminal, code = setup.rotate_key(actor=admin, terminal=terminal)
        _enrol(terminal, code, path)
    terminal.refresh_from_db()
    if terminal.status != TerminalStatus.ACTIVE:
        return None
    inside = centre.path
    meter = (
        Meter.objects.filter(
            org_unit__path__startswith=inside,
            status=MeterStatus.ACTIVE,
            customer__status="active",
            customer__account_kind=AccountKind.PREPAID,
        )
        .order_by("number")
        .values_list("number", flat=True)
        .first()
    )
    account = (
        Customer.objects.filter(
            org_unit__path__startswith=inside, account_kind=AccountKind.POSTPAID
        )
        .order_by("account_number")
        .values_list("account_number", flat=True)
        .first()
    )
    return DemoTerminal(
        terminal_id=terminal.terminal_id,
        state_file=path,
        agent_username=agent.username,
        agent_name=agent.full_name,
        pin=DEMO_PIN,
        host=settings.TERMINALS_HOST,
        port=settings.TERMINALS_PORT,
        meter=meter or "",
        account=account or "",
    )
