"""Master-key rotation: every key re-sealed under the new master key while both open, resumable,
verified, and the tokens every key makes are the same before and after."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridvend.audit.models import AuditEvent
from gridvend.keys import rotation, services
from gridvend.keys.crypto import check_value, master_key_id
from gridvend.keys.errors import VendingKeyUnavailable
from gridvend.keys.models import VendingKeyRecord
from tests.keys.helpers import all_accepted, credit_tokens, simulator

OLD = secrets.token_bytes(32)
NEW = secrets.token_bytes(32)


@pytest.fixture
def _old_master(settings: Any) -> Iterator[None]:
    settings.MASTER_KEY = OLD
    settings.MASTER_KEY_PREVIOUS = None
    services.forget_cached_keys()
    yield
    services.forget_cached_keys()


def _keys() -> dict[str, tuple[str, str]]:
    stored = {}
    for ref, dkga, ea in (("vk-02", "02", "07"), ("vk-04", "04", "07"), ("vk-04m", "04", "11")):
        key_hex = secrets.token_hex(8 if dkga == "02" else 20)
        services.store_vending_key(actor=None, key_ref=ref, key_hex=key_hex, dkga=dkga)
        stored[ref] = (key_hex, ea)
    return stored


def _tokens(stored: dict[str, tuple[str, str]]) -> dict[str, list[str]]:
    services.forget_cached_keys()
    dkga = {"vk-02": "02", "vk-04": "04", "vk-04m": "04"}
    return {ref: credit_tokens(ref, dkga=dkga[ref], ea=ea) for ref, (_, ea) in stored.items()}


def _switch_to_new(settings: Any, *, keep_previous: bool = True) -> None:
    settings.MASTER_KEY = NEW
    settings.MASTER_KEY_PREVIOUS = OLD if keep_previous else None
    services.forget_cached_keys()


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("keys", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
@pytest.mark.usefixtures("_old_master")
def test_rotation_reseals_every_key_and_leaves_every_token_unchanged(settings: Any) -> None:
    stored = _keys()
    before = _tokens(stored)
    fingerprints = dict(VendingKeyRecord.objects.values_list("key_ref", "fingerprint"))

    _switch_to_new(settings)
    # Both master keys open the rows while the rotation has not run: sales go on.
    assert _tokens(stored) == before
    out, _err = _run("rotate-master")
    assert f"verified under {master_key_id(NEW)}" in out and "Remove" in out

    rows = VendingKeyRecord.objects.all()
    assert {r.master_key_id for r in rows} == {master_key_id(NEW)}
    for row in rows:
        key_hex, _ = stored[row.key_ref]
        assert row.check_value == check_value(bytes.fromhex(key_hex))
        assert row.fingerprint != fingerprints[row.key_ref]  # an HMAC under the master key
    # The old master key retired: every key opens with the new one alone, tokens unchanged.
    _switch_to_new(settings, keep_previous=False)
    after = _tokens(stored)
    assert after == before
    dkga = {"vk-02": "02", "vk-04": "04", "vk-04m": "04"}
    for ref, (key_hex, ea) in stored.items():
        assert all_accepted(simulator(key_hex, dkga=dkga[ref], ea=ea), after[ref])
    assert AuditEvent.objects.filter(event_type="vending_key.resealed").count() == 3


@pytest.mark.django_db
@pytest.mark.usefixtures("_old_master")
def test_an_interrupted_rotation_resumes_where_it_stopped(settings: Any) -> None:
    stored = _keys()
    before = _tokens(stored)
    _switch_to_new(settings)

    def stop_after_the_first(key_ref: str, outcome: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotation.rotate_master_key(on_key=stop_after_the_first)
    status = rotation.master_key_status()
    assert status == {master_key_id(NEW): 1, master_key_id(OLD): 2}
    # Half-way, both kinds of row still open (the previous key is still configured).
    assert _tokens(stored) == before

    report = rotation.rotate_master_key()
    assert len(report.resealed) == 2 and report.complete and report.verified == 3
    _switch_to_new(settings, keep_previous=False)
    assert _tokens(stored) == before
    # Running it again finds nothing to do.
    again = rotation.rotate_master_key()
    assert again.resealed == [] and again.verified == 3


@pytest.mark.django_db
@pytest.mark.usefixtures("_old_master")
def test_without_the_previous_key_rotation_fails_and_says_to_keep_it(settings: Any) -> None:
    _keys()
    _switch_to_new(settings, keep_previous=False)
    with pytest.raises(CommandError, match="GRIDVEND_MASTER_KEY_PREVIOUS"):
        _run("rotate-master")
    assert rotation.master_key_status() == {master_key_id(OLD): 3}
    with pytest.raises(VendingKeyUnavailable):
        services.load_vending_key("vk-02")


@pytest.mark.django_db
@pytest.mark.usefixtures("_old_master")
def test_a_key_whose_check_value_disagrees_is_not_resealed(settings: Any) -> None:
    _keys()
    VendingKeyRecord.objects.filter(key_ref="vk-04").update(check_value="000000")
    _switch_to_new(settings)
    report = rotation.rotate_master_key()
    assert not report.complete
    assert any("vk-04" in p and "000000" in p for p in report.problems)
    assert VendingKeyRecord.objects.get(key_ref="vk-04").master_key_id == master_key_id(OLD)


@pytest.mark.django_db
@pytest.mark.usefixtures("_old_master")
def test_check_only_reports_and_changes_nothing(settings: Any) -> None:
    _keys()
    _switch_to_new(settings)
    out, _err = _run("rotate-master", "--check")
    assert f"3 key(s) sealed under {master_key_id(OLD)}" in out
    assert rotation.master_key_status() == {master_key_id(OLD): 3}


@pytest.mark.django_db
@pytest.mark.usefixtures("_old_master")
def test_rows_from_before_rotation_existed_are_resealed_too(settings: Any) -> None:
    stored = _keys()
    before = _tokens(stored)
    VendingKeyRecord.objects.update(master_key_id="", check_value="")
    _switch_to_new(settings)
    assert _tokens(stored) == before
    report = rotation.rotate_master_key()
    assert report.complete and len(report.resealed) == 3
    assert all(r.check_value for r in VendingKeyRecord.objects.all())


def test_audit_checkpoints_signed_before_a_rotation_verify_until_the_old_key_is_retired(
    settings: Any, tmp_path: Path
) -> None:
    from gridvend.audit import checkpoints

    settings.MASTER_KEY, settings.MASTER_KEY_PREVIOUS = OLD, None
    before = checkpoints.make(stream=0, seq=5, hash="ab" * 32, count=5)
    path = tmp_path / "checkpoints.jsonl"
    path.write_text(before.line() + "\n", encoding="utf-8")

    _switch_to_new(settings)
    assert checkpoints.read(path).problems == []
    _switch_to_new(settings, keep_previous=False)
    assert any("signed with another key" in p for p in checkpoints.read(path).problems)
