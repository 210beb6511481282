"""The raw-message store keeps a decrypted message whole but for its secrets (docs/terminals.md)."""

from __future__ import annotations

import json

import pytest

from gridvend.terminals.models import Direction, Stage
from gridvend.terminals.services import gateway

pytestmark = pytest.mark.django_db


def test_secret_fields_are_redacted_and_the_rest_is_kept() -> None:
    plain = b'{"op":"sell","session":"' + b"ab" * 32 + b'","order":"A-1","amount_minor":500}'
    kept = json.loads(gateway.redact_plain(plain))
    assert kept == {"op": "sell", "session": "[redacted]", "order": "A-1", "amount_minor": 500}
    nested = json.loads(gateway.redact_plain(b'{"op":"x","extra":[{"pin":"4821"}]}'))
    assert nested == {"op": "x", "extra": [{"pin": "[redacted]"}]}


def test_a_message_without_secrets_is_stored_byte_for_byte() -> None:
    plain = b'{ "op" : "ping",  "app_version":"1.2"}'
    assert gateway.redact_plain(plain) == plain


def test_a_message_that_is_not_json_has_its_secrets_redacted_by_pattern() -> None:
    broken = b'{"op":"login","pin":"4821","key":1234, "session":"c0ffee'
    redacted = gateway.redact_plain(broken)
    assert b"4821" not in redacted and b"1234" not in redacted and b"c0ffee" not in redacted
    assert b'"op":"login"' in redacted


def test_only_the_decrypted_stage_is_redacted() -> None:
    session = gateway.open_terminal_session(peer_host="127.0.0.1", peer_port=4000)
    wire = b'GT\x01{"pin":"4821"}'
    stored = gateway.store_terminal_message(
        session=session, direction=Direction.IN, stage=Stage.WIRE, content=wire
    )
    assert bytes(stored.content) == wire
    plain = gateway.store_terminal_message(
        session=session, direction=Direction.IN, stage=Stage.PLAIN, content=b'{"pin":"4821"}'
    )
    assert bytes(plain.content) == b'{"pin":"[redacted]"}'
    assert plain.byte_count == len(b'{"pin":"[redacted]"}')
