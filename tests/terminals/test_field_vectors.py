"""The field operations' byte-level examples in docs/terminals.md are what the protocol writes:
each documented plain message, sealed under the documented key, header and nonce, gives the
documented body, and opens back to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gridvend.gateways.terminals import protocol

KEY = bytes.fromhex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
DOC = Path(__file__).resolve().parents[2] / "docs" / "terminals.md"
VECTOR = re.compile(
    r"```vector\nsequence (\d+) time (\d+)\nplain (\{.*\})\nbody ([0-9a-f]+)\n```", re.MULTILINE
)
FIELD_OPS = {"routes", "route", "readings", "bill", "dunning_tasks", "precheck", "visit", "notice"}


def test_every_field_operation_has_a_documented_vector_that_seal_writes() -> None:
    found = VECTOR.findall(DOC.read_text(encoding="utf-8"))
    ops = set()
    for sequence, sent_at, plain, body in found:
        header = protocol.Header(
            protocol.CIPHER_AES_GCM, protocol.TO_GATEWAY, "HH0001", 1, int(sequence), int(sent_at)
        )
        sealed = protocol.seal(header, KEY, plain.encode("utf-8"), nonce=bytes(12))
        assert sealed.hex() == body
        opened_header, opened = protocol.open_body(bytes.fromhex(body), KEY)
        assert opened_header == header and opened == plain.encode("utf-8")
        ops.add(json.loads(plain)["op"])
    assert ops == FIELD_OPS
