"""Encrypted backups and verified restores (issue 19 point 1), on the database the suite runs on:
a backup restores into an empty database and verifies (rows, ledger, audit chain, latest sale);
a changed, cut or foreign file restores nothing; a database is never restored over; no backup
holds the master key; old backups are pruned, nothing else is."""

from __future__ import annotations

import fcntl
import io
import json
import os
import sqlite3
import subprocess
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connection

from gridvend.operations import backup, restore
from gridvend.operations.errors import (
    BackupEngineMismatch,
    BackupKeyMissing,
    BackupNotABackup,
    BackupTampered,
    BackupToolFailed,
    BackupWrongKey,
    RestoreTargetNotEmpty,
)
from gridvend.vending.models import Sale
from tests.reports.support import scene, standard_sales

pytestmark = pytest.mark.django_db(transaction=True)

KEY = bytes(range(32))


@pytest.fixture(autouse=True)
def _backup_settings(settings: Any, tmp_path: Path) -> None:
    settings.BACKUP_KEY = KEY
    settings.BACKUP_DIR = tmp_path / "backups"


def _pg_admin(name: str) -> dict[str, Any]:
    params = connection.settings_dict
    info = {
        "dbname": name,
        "host": params.get("HOST") or None,
        "port": params.get("PORT") or None,
        "user": params.get("USER") or None,
        "password": params.get("PASSWORD") or None,
    }
    return {k: v for k, v in info.items() if v is not None}


def _pg_url(name: str) -> str:
    params = connection.settings_dict
    user = params.get("USER") or "postgres"
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgresql://{user}{password}@{host}:{port}/{name}"


@pytest.fixture()
def fresh_database(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes URLs of empty databases of the suite's engine, dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"gv_restore_{uuid.uuid4().hex[:12]}"
        if connection.vendor == "sqlite":
            return f"sqlite:///{tmp_path / name}.sqlite3"
        import psycopg

        with psycopg.connect(**_pg_admin("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return _pg_url(name)

    yield make
    if made:
        import psycopg

        with psycopg.connect(**_pg_admin("postgres"), autocommit=True) as admin:
            for name in made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def empty_target(fresh_database: Callable[[], str]) -> str:
    return fresh_database()


def _count_in(url: str, table: str) -> int:
    """Rows of ``table`` in the database at ``url``, read without Django."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return int(db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(**_pg_admin(name)) as db:
        row = db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
        assert row is not None
        return int(row[0])


def _world_with_sales() -> None:
    s = scene()
    standard_sales(s)


def test_a_backup_restores_into_an_empty_database_and_verifies(empty_target: str) -> None:
    _world_with_sales()
    sales = Sale.objects.count()
    latest = Sale.objects.order_by("-id").first()
    assert sales >= 8 and latest is not None
    made = backup.take_backup()
    assert made.path.parent == settings.BACKUP_DIR
    assert oct(made.path.stat().st_mode & 0o777) == "0o600"
    assert made.header["counts"]["vending_sale"] == sales
    assert made.header["latest_sale"]["reference"] == latest.reference

    verification = restore.restore(made.path, empty_target)

    assert verification.ok, verification.checks
    assert [check.name for check in verification.checks] == [
        "row counts",
        "ledger balanced",
        "audit chain intact",
        "latest sale present",
        "vending keys open",
        "migrations known to this version",
    ]
    keys_open = next(c for c in verification.checks if c.name == "vending keys open")
    assert "active vending key(s) open with master key" in keys_open.detail
    # Read back without gridvend: the restored database holds the sales and their postings.
    assert _count_in(empty_target, "vending_sale") == sales
    assert _count_in(empty_target, "ledger_posting") == made.header["counts"]["ledger_posting"] > 0


def test_a_changed_cut_or_foreign_backup_restores_nothing(
    empty_target: str, tmp_path: Path, settings: Any
) -> None:
    _world_with_sales()
    made = backup.take_backup()
    original = made.path.read_bytes()
    clear_length = len(backup.MAGIC) + 4 + int.from_bytes(original[16:20], "big")
    sealed_length = int.from_bytes(original[clear_length : clear_length + 4], "big")
    prefix_length = clear_length + 4 + sealed_length + backup.TAG_BYTES

    def variant(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    flipped = bytearray(original)
    flipped[prefix_length + 100] ^= 0x01  # one bit of the database
    # The clear header's nonce, one hex digit changed: still a readable header.
    at = original.index(b'"nonce":"') + len(b'"nonce":"')
    header_changed = original[:at] + (b"1" if original[at : at + 1] != b"1" else b"2")
    header_changed += original[at + 1 :]
    assert (
        json.loads(header_changed[20:clear_length])["nonce"]
        != json.loads(original[20:clear_length])["nonce"]
    )
    assert set(json.loads(original[20:clear_length])) == {"format", "key_id", "nonce"}
    sealed_changed = bytearray(original)
    sealed_changed[clear_length + 4 + 2] ^= 0x01  # one bit of the sealed header
    cases = {
        "bit.gvbackup": bytes(flipped),
        "header.gvbackup": header_changed,
        "sealed.gvbackup": bytes(sealed_changed),
        "cut.gvbackup": original[:-40],
        "tag.gvbackup": original[:-1] + bytes([original[-1] ^ 0xFF]),
    }
    for name, data in cases.items():
        with pytest.raises(BackupTampered):
            restore.restore(variant(name, data), empty_target)
        assert not _target_holds_tables(empty_target), name
    with pytest.raises(BackupNotABackup):
        restore.restore(variant("text.gvbackup", b"not a backup at all\n" * 10), empty_target)
    settings.BACKUP_KEY = bytes(reversed(KEY))
    with pytest.raises(BackupWrongKey):
        restore.restore(made.path, empty_target)
    settings.BACKUP_KEY = b""
    with pytest.raises(BackupKeyMissing):
        backup.decrypt(made.path, None)
    assert not _target_holds_tables(empty_target)


def test_a_backup_shows_only_format_key_id_and_nonce_in_the_clear(tmp_path: Path) -> None:
    _world_with_sales()
    made = backup.take_backup()
    data = made.path.read_bytes()
    clear_length = len(backup.MAGIC) + 4 + int.from_bytes(data[16:20], "big")
    assert json.loads(data[20:clear_length]) == {
        "format": 2,
        "key_id": backup.key_id(KEY),
        "nonce": made.header["nonce"],
    }
    database = str(connection.settings_dict["NAME"]).rsplit("/", 1)[-1]
    for secret in (database, made.header["latest_sale"]["reference"], "vending_sale", "made_at"):
        assert secret.encode() not in data, secret
    settings.BACKUP_KEY = b""
    with pytest.raises(BackupKeyMissing):
        backup.read_header(made.path)


def test_a_format_1_backup_with_its_header_in_the_clear_still_restores(
    empty_target: str, tmp_path: Path
) -> None:
    """Written here by hand as format 1 was: MAGIC, the whole header in the clear as the
    cipher's associated data, then the database and the tag."""
    from Crypto.Cipher import AES

    _world_with_sales()
    made = backup.take_backup()
    plain = io.BytesIO()
    header = backup.decrypt(made.path, plain)
    database = plain.getvalue()
    if header["compression"] == "zlib":
        database = zlib.compress(database)
    old = {**header, "format": 1}
    body = json.dumps(old, sort_keys=True, separators=(",", ":")).encode()
    prefix = backup.MAGIC + len(body).to_bytes(4, "big") + body
    cipher = AES.new(KEY, AES.MODE_GCM, nonce=bytes.fromhex(header["nonce"]))
    cipher.update(prefix)
    old_file = tmp_path / "gridvend-20260101T000000Z-0123abcd.gvbackup"
    old_file.write_bytes(prefix + cipher.encrypt(database) + cipher.digest())

    assert backup.read_header(old_file)["latest_sale"] == header["latest_sale"]
    verification = restore.restore(old_file, empty_target)
    assert verification.ok, verification.checks


def _target_holds_tables(url: str) -> bool:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists() or path.stat().st_size == 0:
            return False
        with sqlite3.connect(path) as db:
            return bool(db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0])
    import psycopg

    with psycopg.connect(**_pg_admin(url.rsplit("/", 1)[1])) as db:
        row = db.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert row is not None
        return int(row[0]) > 0


def test_a_database_is_never_restored_over(empty_target: str) -> None:
    _world_with_sales()
    made = backup.take_backup()
    assert restore.restore(made.path, empty_target).ok
    sales = _count_in(empty_target, "vending_sale")
    with pytest.raises(RestoreTargetNotEmpty):
        restore.restore(made.path, empty_target)
    assert _count_in(empty_target, "vending_sale") == sales
    other = "postgresql://x@127.0.0.1/y" if connection.vendor == "sqlite" else "sqlite:///z.db"
    with pytest.raises(BackupEngineMismatch):
        restore.restore(made.path, other)


def test_no_backup_holds_the_master_key(tmp_path: Path) -> None:
    _world_with_sales()
    made = backup.take_backup()
    plain = io.BytesIO()
    backup.decrypt(made.path, plain)
    data = plain.getvalue()
    if connection.vendor != "sqlite":
        # The custom format is compressed: read it back as plain SQL to search it.
        dump = tmp_path / "dump"
        dump.write_bytes(data)
        data = subprocess.run(
            ["pg_restore", "--file=-", str(dump)], capture_output=True, check=True
        ).stdout
    assert b"vending_sale" in data  # the search reads the real contents
    master: bytes = settings.MASTER_KEY
    for form in (master, master.hex().encode(), master.hex().upper().encode()):
        assert form not in data
    # Nor is the backup key.
    assert KEY not in made.path.read_bytes() and KEY.hex().encode() not in data


def test_prune_keeps_the_newest_and_touches_nothing_else(tmp_path: Path) -> None:
    directory = settings.BACKUP_DIR
    made = [backup.take_backup() for _ in range(3)]
    foreign = directory / "notes.txt"
    foreign.write_text("keep me")
    lookalike = directory / "gridvend-2020.gvbackup"
    lookalike.write_text("not ours")
    names = [p.name for p in backup.list_backups()]
    assert names == sorted(m.path.name for m in made)
    deleted = backup.prune(keep=2)
    assert deleted == [backup.list_backups()[0].parent / names[0]]
    assert [p.name for p in backup.list_backups()] == names[1:]
    assert foreign.exists() and lookalike.exists()
    with pytest.raises(ValueError):
        backup.prune(keep=0)


@pytest.mark.postgres
def test_a_backup_taken_while_sales_go_on_counts_what_it_holds(empty_target: str) -> None:
    """The counts and the dump are one state: sales made during the backup are in neither, so
    the restore's row counts agree whatever the timing."""
    s = scene()
    standard_sales(s)
    stop = threading.Event()
    sold: list[int] = []
    failed: list[BaseException] = []

    def sell() -> None:
        day = 0
        try:
            while not stop.is_set() and day < 200:
                s.sell(f"2026-03-{1 + day % 28:02d} 10:{day % 60:02d}", "60.00")
                sold.append(day)
                day += 1
        except BaseException as error:  # reported by the test below
            failed.append(error)
        finally:
            close_old_connections()
            connection.close()

    seller = threading.Thread(target=sell)
    seller.start()
    try:
        made = backup.take_backup()
    finally:
        stop.set()
        seller.join()
    assert not failed, failed
    assert sold, "no sale was made while the backup ran"
    verification = restore.restore(made.path, empty_target)
    assert verification.ok, verification.checks
    assert _count_in(empty_target, "vending_sale") == made.header["counts"]["vending_sale"]


def test_pruning_keeps_the_backup_just_made_and_never_trusts_a_date_in_the_future() -> None:
    """A clock that once ran ahead left backups dated in the future: they are neither counted
    nor deleted (a person deletes them), and the backup just made is always kept, counted as
    the newest even when a clock set back named it older than the rest."""
    directory = settings.BACKUP_DIR
    made = backup.take_backup()
    ahead = directory / "gridvend-20991231T000000Z-0000aaaa.gvbackup"
    behind = directory / "gridvend-20000101T000000Z-0000bbbb.gvbackup"
    older = directory / "gridvend-20010101T000000Z-0000cccc.gvbackup"
    for copy in (ahead, behind, older):
        copy.write_bytes(made.path.read_bytes())
    out, err = io.StringIO(), io.StringIO()

    # The clock was set back: this backup's name sorts before the one of 2001.
    deleted = backup.prune(keep=2, just_made=behind)

    assert deleted == [older]
    assert behind.exists() and ahead.exists() and made.path.exists()
    assert backup.dated_in_the_future() == [ahead]
    call_command("backup", "--keep", "1", stdout=out, stderr=err)
    assert ahead.exists()
    assert f"dated in the future, so neither counted nor deleted: {ahead}" in err.getvalue()
    assert f"older backup deleted: {behind}" in out.getvalue()


def test_a_backup_killed_mid_way_leaves_nothing_the_next_one_keeps(tmp_path: Path) -> None:
    """Partial files of a backup killed mid-way (the encrypted partial, a clear SQLite copy)
    are removed by the next backup; a partial another backup is writing (locked) or has only
    just made is left alone, and so is anything else in the folder."""
    directory = settings.BACKUP_DIR
    directory.mkdir(parents=True, exist_ok=True)
    stale = [
        directory / ".gridvend-20261201T011500Z-1a2b3c4d.gvbackup.part",
        directory / ".gridvend-20261201T011500Z-1a2b3c4d.gvbackup.sqlite3",
    ]
    running = directory / ".gridvend-20261201T011600Z-5e6f7a8b.gvbackup.part"
    fresh = directory / ".gridvend-20261201T011700Z-9c0d1e2f.gvbackup.part"
    other = directory / ".gridvend-notes.part"
    hour_ago = time.time() - 3600
    for path in [*stale, running, fresh, other]:
        path.write_bytes(b"x")
    for path in [*stale, running, other]:
        os.utime(path, (hour_ago, hour_ago))
    held = os.open(running, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        made = backup.take_backup()
    finally:
        os.close(held)
    assert not any(path.exists() for path in stale)
    assert running.exists() and fresh.exists() and other.exists()
    assert sorted(p.name for p in directory.iterdir() if not p.name.startswith(".")) == [
        made.path.name
    ]
    # The clear copy of a SQLite database is made beside the database, never in this folder
    # that is copied off the machine; a copy left there by a killed backup goes the same way.
    copy = backup.scratch_folder() / f".gridvend-backup-{uuid.uuid4().hex}.sqlite3"
    copy.write_bytes(b"clear data")
    os.utime(copy, (hour_ago, hour_ago))
    assert backup.remove_leftovers(backup.scratch_folder(), backup.COPIES) == [copy]
    assert backup.scratch_folder() != directory


def test_a_missing_or_unreadable_backup_file_is_a_coded_refusal(tmp_path: Path) -> None:
    for path, problem in (
        (tmp_path / "gridvend-typo.gvbakcup", "there is no such file"),
        (tmp_path, "it is a folder"),
    ):
        with pytest.raises(BackupNotABackup) as refused:
            backup.decrypt(path, None)
        assert problem in refused.value.message
        with pytest.raises(BackupNotABackup):
            backup.read_header(path)


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="SQLite's journal files")
@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_a_sqlite_restore_refuses_while_a_dead_databases_journal_is_there(
    tmp_path: Path, suffix: str
) -> None:
    made = backup.take_backup()
    target = tmp_path / "restored.sqlite3"
    Path(f"{target}{suffix}").write_bytes(b"left by a server that died")
    with pytest.raises(RestoreTargetNotEmpty) as refused:
        restore.restore(made.path, f"sqlite:///{target}")
    assert refused.value.params["reason"] == "leftovers"
    assert f"restored.sqlite3{suffix}" in refused.value.message
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".restored")] == []


@pytest.mark.postgres
def test_a_pg_dump_older_than_the_server_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_dump refuses a newer server ('server version mismatch'); the backup says so first,
    with both versions and the package to install, and writes nothing."""
    tools = tmp_path / "old-client"
    tools.mkdir()
    pg_dump = tools / "pg_dump"
    pg_dump.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.22'\n")
    pg_dump.chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    connection.ensure_connection()
    server = int(connection.pg_version) // 10000  # type: ignore[attr-defined]
    with pytest.raises(BackupToolFailed) as refused:
        backup.take_backup()
    assert refused.value.params["reason"] == "too_old"
    assert (refused.value.params["client"], refused.value.params["server"]) == (12, server)
    assert f"postgresql-client-{server}" in refused.value.message
    assert list(settings.BACKUP_DIR.iterdir()) == []


@pytest.mark.postgres
def test_a_restore_without_pg_restore_installed_is_a_coded_refusal(
    empty_target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = backup.take_backup()
    nothing = tmp_path / "no-tools"
    nothing.mkdir()
    monkeypatch.setenv("PATH", str(nothing))
    with pytest.raises(BackupToolFailed) as refused:
        restore.restore(made.path, empty_target)
    assert refused.value.params["reason"] == "missing"
    assert "pg_restore cannot be run" in refused.value.message
    assert not _target_holds_tables(empty_target)
