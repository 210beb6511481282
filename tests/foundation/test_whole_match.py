"""Identifiers and numbers checked with a regular expression are matched whole: ``$`` also
matches before a final newline, so ``"<id>\\n"`` once passed as a second, different id."""

from __future__ import annotations

import pytest

from gridvend.gateways.electrum.errors import MessageInvalid
from gridvend.gateways.electrum.protocol import message_id

UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_an_electrum_message_id_with_a_trailing_newline_is_refused() -> None:
    assert message_id(UUID) == UUID
    with pytest.raises(MessageInvalid):
        message_id(UUID + "\n")


def test_an_electrum_time_with_a_trailing_newline_is_refused() -> None:
    from gridvend.gateways.electrum.protocol import _time

    stamp = "2026-12-02T09:30:00Z"
    assert _time(stamp) == stamp
    with pytest.raises(MessageInvalid):
        _time(stamp + "\n")
