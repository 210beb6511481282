"""The vending key store and `gridvend keys`: keys are sealed at rest, bound to their reference,
open only with the right master key, and never appear in output, argv or text forms."""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import replace
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridvend.identity.roles import Capability, Role
from gridvend.kernel.errors import DomainError
from gridvend.kernel.tokens import MeterKeyRef
from gridvend.keys import services
from gridvend.keys.crypto import Sealed
from gridvend.keys.engine import SoftwareStsEngine
from gridvend.keys.errors import VendingKeyUnavailable
from gridvend.keys.models import VendingKeyRecord
from gridvend.sts.keys import VendingKey
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> None:
    services.forget_cached_keys()


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("keys", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _store(key_ref: str = "vk-test", dkga: str = "02") -> tuple[VendingKeyRecord, str]:
    key_hex = secrets.token_hex(8 if dkga == "02" else 20)
    record = services.store_vending_key(actor=None, key_ref=key_ref, key_hex=key_hex, dkga=dkga)
    return record, key_hex


# --- the command --------------------------------------------------------------------------------


def test_add_reads_the_key_from_the_environment_and_prints_only_the_fingerprint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_hex = secrets.token_hex(20)
    monkeypatch.setenv("VK_UNDER_TEST", key_hex)
    out, err = _run(
        "add", "--key-ref", "utility-2026", "--dkga", "04", "--tables", "real",
        "--description", "Utility key 2026", "--key-env", "VK_UNDER_TEST",
    )  # fmt: skip
    record = VendingKeyRecord.objects.get(key_ref="utility-2026")
    assert record.fingerprint in out
    assert key_hex not in out + err and key_hex.upper() not in out + err
    assert (record.dkga, record.sta_tables, record.description) == (
        "04",
        "real",
        "Utility key 2026",
    )
    key, tables = services.load_vending_key("utility-2026")
    assert key == VendingKey.from_hex(key_hex) and tables == "real"


def test_add_has_no_way_to_take_the_key_on_the_command_line() -> None:
    with pytest.raises((CommandError, SystemExit)):
        _run("add", "--key-ref", "x", "--dkga", "02", "--key", secrets.token_hex(8))
    assert not VendingKeyRecord.objects.exists()


def test_add_refuses_a_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VK_NOT_SET", raising=False)
    with pytest.raises(CommandError, match="VK_NOT_SET"):
        _run("add", "--key-ref", "x", "--dkga", "02", "--key-env", "VK_NOT_SET")
    assert not VendingKeyRecord.objects.exists()


def test_add_refuses_a_wrong_length_without_echoing_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_hex = secrets.token_hex(9)
    monkeypatch.setenv("VK_UNDER_TEST", key_hex)
    with pytest.raises(CommandError) as caught:
        _run("add", "--key-ref", "x", "--dkga", "02", "--key-env", "VK_UNDER_TEST")
    assert "8 bytes" in str(caught.value) and key_hex not in str(caught.value)
    assert not VendingKeyRecord.objects.exists()


def test_list_shows_references_and_fingerprints_never_keys() -> None:
    first, first_hex = _store("vk-a")
    second, second_hex = _store("vk-b", dkga="04")
    services.set_vending_key_active(
        actor=factories.root_and_admin()[1], key_ref="vk-b", is_active=False
    )
    out, _err = _run("list")
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert first.fingerprint in lines["vk-a"] and "yes" in lines["vk-a"]
    assert second.fingerprint in lines["vk-b"] and "no" in lines["vk-b"] and "04" in lines["vk-b"]
    for key_hex in (first_hex, second_hex):
        assert key_hex not in out.lower()


def test_deactivate_stops_the_key_being_loaded() -> None:
    _store("vk-a")
    _root, admin = factories.root_and_admin()
    out, _err = _run("deactivate", "vk-a", "--by", admin.username)
    assert "vk-a" in out
    assert not VendingKeyRecord.objects.get(key_ref="vk-a").is_active
    with pytest.raises(services.VendingKeyUnavailable):
        services.load_vending_key("vk-a")
    _run("activate", "vk-a", "--by", admin.username)
    assert services.load_vending_key("vk-a")[1] == "real"


def test_deactivate_needs_an_administrator() -> None:
    _store("vk-a")
    root, _admin = factories.root_and_admin()
    manager = factories.user(root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,))
    with pytest.raises(CommandError, match="Administrator"):
        _run("deactivate", "vk-a", "--by", manager.username)
    assert VendingKeyRecord.objects.get(key_ref="vk-a").is_active


def test_deactivate_an_unknown_reference_fails_clearly() -> None:
    _root, admin = factories.root_and_admin()
    with pytest.raises(CommandError):
        _run("deactivate", "no-such-key", "--by", admin.username)


# --- the store ----------------------------------------------------------------------------------


def test_a_stored_key_round_trips_through_load_vending_key() -> None:
    for dkga in ("02", "04"):
        _record, key_hex = _store(f"vk-{dkga}", dkga=dkga)
        services.forget_cached_keys()
        key, tables = services.load_vending_key(f"vk-{dkga}")
        assert key == VendingKey.from_hex(key_hex) and tables == "real"


def test_the_row_holds_no_plaintext() -> None:
    record, key_hex = _store()
    secret = bytes.fromhex(key_hex)
    record.refresh_from_db()
    for column in (record.nonce, record.ciphertext, record.tag):
        assert secret not in bytes(column)
    text_columns = (record.key_ref, record.description, record.fingerprint)
    assert all(key_hex not in value.lower() for value in text_columns)


def test_a_different_master_key_fails_with_a_coded_refusal_and_a_clear_log_line(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _store("vk-a")
    services.forget_cached_keys()
    settings.MASTER_KEY = secrets.token_bytes(32)
    with (
        caplog.at_level("ERROR", logger="gridvend.keys"),
        pytest.raises(VendingKeyUnavailable) as refused,
    ):
        services.load_vending_key("vk-a")
    assert refused.value.code == "VENDING_KEY_UNAVAILABLE"
    assert re.search(r"vk-a does not open with this server's master key", caplog.text)


def test_a_ciphertext_moved_to_another_reference_does_not_open() -> None:
    # The key reference is the associated data of the seal: copying a row's sealed bytes onto
    # another reference (to make meters of one key use another) is detected.
    source, _source_hex = _store("vk-a")
    _store("vk-b")
    VendingKeyRecord.objects.filter(key_ref="vk-b").update(
        nonce=source.nonce, ciphertext=source.ciphertext, tag=source.tag
    )
    services.forget_cached_keys()
    with pytest.raises(VendingKeyUnavailable):
        services.load_vending_key("vk-b")
    assert services.load_vending_key("vk-a")


def test_text_forms_never_contain_the_key() -> None:
    record, key_hex = _store()
    key, _tables = services.load_vending_key(record.key_ref)
    sealed = Sealed(bytes(record.nonce), bytes(record.ciphertext), bytes(record.tag))
    forms = [
        repr(record), str(record), repr(key), str(key), f"{key}", repr(sealed), str(sealed),
        repr(SoftwareStsEngine()), repr(services._cache), str(services._cache),
    ]  # fmt: skip
    for text in forms:
        assert key_hex not in text.lower() and key_hex.upper() not in text
        assert bytes.fromhex(key_hex).decode("latin-1") not in text


@pytest.mark.django_db
def test_a_key_deactivated_elsewhere_stops_being_used_after_the_cache_lifetime(
    settings: object,
) -> None:
    from gridvend.keys.models import VendingKeyRecord
    from gridvend.keys.services import (
        VendingKeyUnavailable,
        forget_cached_keys,
        load_vending_key,
        store_vending_key,
    )

    forget_cached_keys()
    store_vending_key(actor=None, key_ref="elsewhere", key_hex="0123456789abcdef", dkga="02")
    load_vending_key("elsewhere")
    # Another server deactivates it: only the row changes, this process's cache does not.
    VendingKeyRecord.objects.filter(key_ref="elsewhere").update(is_active=False)
    settings.VENDING_KEY_CACHE_SECONDS = 3600  # type: ignore[attr-defined]
    load_vending_key("elsewhere")  # still cached
    settings.VENDING_KEY_CACHE_SECONDS = 0  # type: ignore[attr-defined]
    with pytest.raises(VendingKeyUnavailable):
        load_vending_key("elsewhere")


# --- the engine ---------------------------------------------------------------------------------


def test_engine_refuses_a_key_change_that_keeps_the_key_with_a_domain_code() -> None:
    """Also at issue time, for a key change recorded before the request-time check existed."""
    _record, key_hex = _store("vk-a")
    services.store_vending_key(actor=None, key_ref="vk-a-copy", key_hex=key_hex, dkga="02")
    old = MeterKeyRef(
        meter_number="11111111115", sgc="123456", ti=1, krn=1, kt=2, ken=255, ea="07",
        dkga="02", base_date_year=1993, key_ref="vk-a",
    )  # fmt: skip
    engine = SoftwareStsEngine()
    for new in (
        replace(old, base_date_year=2014),
        replace(old, key_ref="vk-a-copy"),
        replace(old, ken=100, base_date_year=2035),
    ):
        for attempt in (
            lambda: engine.check_key_change(old, new),
            lambda: engine.issue_key_change(old, new, roll_over=True),
        ):
            with pytest.raises(DomainError) as refused:
                attempt()
            assert refused.value.code == "KEY_CHANGE_SAME_KEY"
            assert key_hex not in repr(refused.value).lower()
    rolled = replace(old, base_date_year=2014, krn=2)
    engine.check_key_change(old, rolled)
    assert len(engine.issue_key_change(old, rolled, roll_over=True)) == 2
