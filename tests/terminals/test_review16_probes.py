"""Review of issue 16 (the handheld terminal gateway): probes over a real socket that fail while
the defect they name is there. Each states what docs/terminals.md promises and where it breaks."""

from __future__ import annotations

import threading

import pytest
from django.test import override_settings

from gridvend.audit.models import AuditEvent
from gridvend.gateways.terminals import client, protocol
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.errors import DomainError
from gridvend.terminals.models import Stage, TerminalMessage, TerminalSession
from gridvend.terminals.services import agents, setup
from gridvend.terminals.services.gateway import contact_count
from tests import factories
from tests.terminals.conftest import Field, enrolled, settle
from tests.threads import run_threads

pytestmark = pytest.mark.django_db(transaction=True)

PIN = "4821"


def _stored(stage: str | None = None) -> bytes:
    rows = TerminalMessage.objects.all()
    if stage is not None:
        rows = rows.filter(stage=stage)
    return b"\n".join(bytes(row.content) for row in rows)


def test_review16_the_message_store_keeps_no_terminal_key(field: Field, gateway: int) -> None:
    """server.answer stores every reply decrypted (Stage.PLAIN). The enrolment reply carries
    the terminal's new 32-byte key in hex, so the key that gateway.enrol seals under the master
    key is kept in the clear beside it, in terminals_terminalmessage, and shown to the auditor
    on /terminals/<id>/messages/. Whoever reads it can speak as the terminal (and, with the
    agent's token below, sell as the agent)."""
    device = enrolled(field, gateway)
    settle(gateway)
    key_hex = device.state.key_hex.encode()
    assert len(key_hex) == 64
    assert key_hex not in _stored(), "the terminal's key is stored in the clear"


def test_review16_the_message_store_keeps_no_pin_and_no_session_token(
    field: Field, gateway: int
) -> None:
    """The log-in request (with the agent's PIN) and its reply (the session token, which
    AgentSession keeps only as a SHA-256 digest) are stored decrypted too: the PIN and a
    working token are readable by anyone who may read the message store."""
    agents.set_agent_pin(actor=field.manager, agent=field.agent, pin=PIN)
    device = enrolled(field, gateway)
    device.login(PIN)
    settle(gateway)
    token = device.state.session.encode()
    assert len(token) == 64
    plain = _stored(Stage.PLAIN)
    assert b'"pin":"' + PIN.encode() + b'"' not in plain, "the agent's PIN is stored in clear"
    assert token not in plain, "the agent's session token is stored in clear"
    # ... and that token works: the stored copy is as good as the terminal's.
    assert device.request("day_totals")["ok"] is True


def test_review16_wrong_pins_and_the_lockout_are_audited(field: Field, gateway: int) -> None:
    """Five wrong PINs lock the agent out (agents.log_in), but neither a wrong PIN nor the
    lockout writes an audit event (TerminalEvent has none; _count_failure records nothing),
    unlike the portal's and the staff's sign-ins. A PIN being guessed on a stolen handheld
    leaves no trace for the auditor but raw frames."""
    agents.set_agent_pin(actor=field.manager, agent=field.agent, pin=PIN)
    device = enrolled(field, gateway)
    settle(gateway)
    before = AuditEvent.objects.count()
    codes = []
    for wrong in ("1357", "2468", "3579", "4680", "5791"):
        with pytest.raises(client.GatewayRefused) as refused:
            device.login(wrong)
        codes.append(refused.value.code)
    assert codes[-1] == "AGENT_LOCKED"
    assert AuditEvent.objects.count() > before, "no audit event for wrong PINs or the lockout"


def test_review16_an_agent_who_is_no_longer_a_field_agent_loses_the_log_in(
    field: Field, gateway: int
) -> None:
    """agents.session_agent checks only that the token is the terminal's and that the terminal
    is still assigned to the same person: not that the person is still active. A field agent
    dismissed (deactivated) after logging in keeps working on the terminal until the token
    expires (TERMINALS_AGENT_SESSION_HOURS, 12 by default)."""
    agents.set_agent_pin(actor=field.manager, agent=field.agent, pin=PIN)
    device = enrolled(field, gateway)
    device.login(PIN)
    User.objects.filter(pk=field.agent.pk).update(is_active=False)
    with pytest.raises(client.GatewayRefused) as refused:
        device.request("day_totals")
    assert refused.value.code in ("AGENT_SESSION_INVALID", "TERMINAL_NOT_ASSIGNED")


def test_review16_a_new_pin_ends_the_agent_s_earlier_log_ins(field: Field, gateway: int) -> None:
    """A manager who resets an agent's PIN (a PIN seen or guessed) does not end the log-ins made
    with the old one: set_agent_pin leaves every AgentSession open, so whoever logged in with
    the leaked PIN keeps selling for up to 12 hours."""
    agents.set_agent_pin(actor=field.manager, agent=field.agent, pin=PIN)
    device = enrolled(field, gateway)
    device.login(PIN)
    agents.set_agent_pin(actor=field.manager, agent=field.agent, pin="9173")
    with pytest.raises(client.GatewayRefused) as refused:
        device.request("day_totals")
    assert refused.value.code == "AGENT_SESSION_INVALID"


def test_review16_a_forged_frame_is_not_counted_as_the_terminal_s_contact(
    field: Field, gateway: int
) -> None:
    """answer() attributes the session to the terminal named in the clear header before the
    message is authenticated (gateway.note_terminal). Anyone who can reach the port can send
    frames naming HH0001 under a made-up key, and the back office's count of "sessions the
    terminal opened" (gateway.contact_count) and its session list grow with them."""
    device = enrolled(field, gateway)
    settle(gateway)
    genuine = contact_count(field.fresh())
    impostor = client.Terminal(
        "127.0.0.1",
        gateway,
        client.TerminalState(terminal_id="HH0001", key_hex="00" * 32, key_version=1),
    )
    for _ in range(3):
        with pytest.raises(client.GatewayRefused) as refused:
            impostor.request("ping")
        assert refused.value.code == "TERMINAL_AUTH_FAILED"
        assert refused.value.encrypted is False
    settle(gateway)
    assert device.state.key_version == 1 and protocol.CIPHER_NONE == 0
    assert TerminalSession.objects.filter(terminal=field.terminal).count() >= genuine
    assert contact_count(field.fresh()) == genuine, "forged frames counted as the terminal's"


@pytest.mark.postgres
def test_review16_parallel_wrong_pins_check_at_most_the_attempt_limit(
    field: Field, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agents.log_in reads the lockout without a row lock, checks the PIN, and only then counts
    the failure: parallel log-ins (one connection each, as the gateway serves them) all pass
    the lockout check before any failure is counted, so a stolen terminal gets as many PIN
    guesses per lockout as it can open connections at once, not five. The portal's sign-in
    counts under the login's row lock and checks at most LOGIN_MAX_FAILURES (its own test).
    The real Argon2 hasher is used for the PIN, as in production; the PIN checks are counted
    (the real check_password, wrapped)."""
    real_check = agents.check_password
    checked: list[int] = []
    lock = threading.Lock()

    def counted(raw: str, encoded: str) -> bool:
        with lock:
            checked.append(1)
        return real_check(raw, encoded)

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.Argon2PasswordHasher"]):
        agents.set_agent_pin(actor=field.manager, agent=field.agent, pin=PIN)
        monkeypatch.setattr(agents, "check_password", counted)
        terminal = field.fresh()

        def guess(i: int) -> str:
            try:
                agents.log_in(terminal=terminal, pin=f"{1000 + i:04d}")
            except DomainError as exc:
                return str(exc.code)
            return "ok"

        results, errors = run_threads(20, guess)
    assert errors == [] and "ok" not in results
    assert len(checked) <= agents.MAX_ATTEMPTS, (
        f"{len(checked)} PINs checked in parallel; the lockout allows {agents.MAX_ATTEMPTS}"
    )


def test_review16_a_log_in_ended_by_a_reassignment_does_not_come_back(
    field: Field, gateway: int
) -> None:
    """docs/terminals.md and agents.py: a log-in lasts until it expires, the agent logs in
    again, "or the terminal is given to someone else". Giving the terminal to another agent
    ends nothing (session_agent only compares the terminal's current agent with the token's):
    when the terminal is given back, the first agent's old token works again."""
    other = factories.user(field.tree.north_sc, Role.OPERATOR, (Capability.FIELD_AGENT,))
    agents.set_agent_pin(actor=field.manager, agent=field.agent, pin=PIN)
    device = enrolled(field, gateway)
    device.login(PIN)
    for agent in (other, field.agent):
        setup.assign_terminal(
            actor=field.manager,
            terminal=field.fresh(),
            agent=agent,
            org_unit=field.tree.north_sc,
            vending_point=field.point,
        )
    with pytest.raises(client.GatewayRefused) as refused:
        device.request("day_totals")
    assert refused.value.code == "AGENT_SESSION_INVALID"
