"""The back office's terminal screens: register (the code shown once), the list with last
contact and app version, suspend and a new key from the terminal's page, and the raw messages
for the auditor."""

from __future__ import annotations

import pytest

from gridvend.identity.roles import Capability, Role
from gridvend.terminals.models import Terminal, TerminalStatus
from gridvend.terminals.services import gateway
from tests import factories
from tests.signin import signed_in
from tests.terminals.conftest import IMEI, IMSI, SERIAL, Field

pytestmark = pytest.mark.django_db


def test_registering_shows_the_one_time_code_once(field: Field) -> None:
    client = signed_in(field.manager)
    response = client.post(
        "/terminals/new/",
        {"terminal_id": "hh0777", "org_unit": field.tree.north_sc.pk, "cipher": "des3cbcmac"},
    )
    assert response.status_code == 200
    terminal = Terminal.objects.get(terminal_id="HH0777")
    code = gateway.enrolment_code(terminal)
    assert code is not None and code in response.content.decode()
    assert terminal.cipher == "des3cbcmac"
    page = client.get(f"/terminals/{terminal.pk}/").content.decode()
    assert code not in page


def test_the_list_and_page_show_last_contact_and_app_version(field: Field) -> None:
    gateway.enrol(
        terminal=field.terminal,
        code=field.code,
        device=gateway.Device(SERIAL, IMSI, IMEI, "2.0.1"),
    )
    client = signed_in(field.manager)
    listed = client.get("/terminals/", {"status": "active"}).content.decode()
    assert "HH0001" in listed and "2.0.1" in listed and field.agent.full_name in listed
    assert "HH0001" not in client.get("/terminals/", {"status": "revoked"}).content.decode()
    page = client.get(f"/terminals/{field.terminal.pk}/").content.decode()
    assert SERIAL in page and IMEI in page and "2.0.1" in page


def test_suspend_and_a_new_key_from_the_terminal_s_page(field: Field) -> None:
    client = signed_in(field.manager)
    url = f"/terminals/{field.terminal.pk}/"
    response = client.post(url, {"action": "suspend", "reason": "left the company"})
    assert response.status_code == 302
    assert field.fresh().status == TerminalStatus.SUSPENDED
    refused = client.post(url, {"action": "suspend", "reason": "again"})
    assert refused.status_code == 400 and "TERMINAL_STATE_INVALID" not in refused.content.decode()
    client.post(url, {"action": "reinstate", "reason": "back"})
    shown = client.post(url, {"action": "rotate"})
    code = gateway.enrolment_code(field.fresh())
    assert code is not None and code in shown.content.decode() and code != field.code


def test_only_the_auditor_opens_the_raw_messages(field: Field) -> None:
    session = gateway.open_terminal_session(peer_host="127.0.0.1", peer_port=5000)
    gateway.note_terminal(session, field.terminal)
    gateway.store_terminal_message(session=session, direction="in", stage="wire", content=b"GT\x01")
    url = f"/terminals/{field.terminal.pk}/messages/"
    assert signed_in(field.manager).get(url).status_code == 403
    auditor = factories.user(field.tree.north, Role.OPERATOR, (Capability.AUDITOR,))
    page = signed_in(auditor).get(url).content.decode()
    assert "47 54 01" in page
