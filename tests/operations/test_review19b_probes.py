"""Second review probes for issue 19 (operations): restores on SQLite, what the restore report
and /readyz say about the keys, careless commands, check --deploy, request ids, and the sealed
backup header (f733f34). Each test fails while the defect it names is real; one that passes pins
behaviour that was checked."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.kernel.errors import DomainError
from gridvend.keys import services as keys
from gridvend.operations import backup, restore
from gridvend.operations.errors import BackupTampered, RestoreTargetNotEmpty
from tests.operations.test_deploy_checks import _ids, _sqlite, production  # noqa: F401
from tests.reports.support import scene, standard_sales

KEY = bytes(range(32))
on_sqlite = pytest.mark.skipif(
    "connection.vendor != 'sqlite'", reason="a SQLite backup restores into a SQLite file"
)


@pytest.fixture
def backups(settings: Any, tmp_path: Path) -> Path:
    settings.BACKUP_KEY = KEY
    settings.BACKUP_DIR = tmp_path / "backups"
    return tmp_path


def _sqlite_backup() -> backup.Backup:
    standard_sales(scene())
    return backup.take_backup()


# --- restoring on SQLite -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@on_sqlite
def test_probe_a_stale_wal_beside_the_target_is_not_replayed_into_the_restore(
    backups: Path,
) -> None:
    """The disaster drill on SQLite: the server died (its -wal and -shm files stay), the
    operator removes the broken database file and restores into the same path. The empty-target
    check looks only at the file itself, so the restore is written there and SQLite, opening it,
    replays the dead database's WAL over the restored pages: the restored database is not the
    backup (verification fails, or worse) and the target is no longer empty, so the restore
    cannot simply be run again. Severity: medium (the recovery of a lost database fails when it
    is needed most).

    Cause: gridvend/operations/restore.py _refuse_unless_empty / _restore_sqlite look only at
    the file NAME. Fix: refuse (RESTORE_TARGET_NOT_EMPTY) while NAME-wal, NAME-shm or
    NAME-journal exists, naming them."""
    made = _sqlite_backup()
    target = backups / "live.sqlite3"
    # The dead server's database, left with an unapplied WAL.
    dead = sqlite3.connect(target, isolation_level=None)
    dead.execute("PRAGMA journal_mode=WAL")
    dead.execute("PRAGMA wal_autocheckpoint=0")
    dead.execute("CREATE TABLE before_the_crash (x TEXT)")
    dead.execute("INSERT INTO before_the_crash VALUES ('x')")
    shutil.copy(f"{target}-wal", backups / "stale-wal")
    dead.close()
    target.unlink()
    for leftover in (Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copy(backups / "stale-wal", f"{target}-wal")

    try:
        verification = restore.restore(made.path, f"sqlite:///{target}")
    except RestoreTargetNotEmpty:
        return  # refused: the defect is not there
    except DomainError as failed:
        # What happens now: the child's verification dies on the replayed database.
        pytest.fail(f"the restore was written, then failed {failed.code}: {failed.message[:200]}")
    assert verification.ok, [c for c in verification.checks if not c.ok]


@pytest.mark.django_db(transaction=True)
@on_sqlite
def test_probe_a_restore_never_writes_through_a_file_at_its_partial_path(backups: Path) -> None:
    """``_restore_sqlite`` opens NAME.restoring with O_CREAT|O_TRUNC, without O_EXCL or
    O_NOFOLLOW (the backup writer uses O_EXCL): a file or symlink already there is truncated
    and written through. Two restores into one target at once write into the same inode (the
    second truncates the first's data and keeps writing into the file after it was renamed
    into place, past the 'never written over a database' check); a symlink left there sends the
    restore into whatever it points at, here another database. Severity: low (needs a second
    restore at once, or write access to the target's folder).

    Cause: gridvend/operations/restore.py _restore_sqlite, os.open(partial, ... O_TRUNC). Fix:
    O_CREAT|O_EXCL|O_NOFOLLOW on a name with a random part (as backup._write does), refuse
    when it cannot be created."""
    made = _sqlite_backup()
    victim = backups / "other.sqlite3"
    with sqlite3.connect(victim) as db:
        db.execute("CREATE TABLE precious (x TEXT)")
        db.execute("INSERT INTO precious VALUES ('keep me')")
    original = victim.read_bytes()
    target = backups / "restored.sqlite3"
    os.symlink(victim, backups / ".restored.sqlite3.restoring")
    with contextlib.suppress(DomainError):
        restore.restore(made.path, f"sqlite:///{target}")
    assert victim.read_bytes() == original, "the restore wrote over another database file"


@pytest.mark.django_db(transaction=True)
def test_probe_pruning_never_deletes_the_backup_just_written(backups: Path, settings: Any) -> None:
    """Retention sorts by the UTC time in the file names. A server whose clock once ran ahead
    (an offline station with a flat RTC battery, a VM restored with a wrong clock, fixed later
    by NTP) left backups dated in the future; from then on every new backup sorts oldest and
    the nightly job deletes it the moment it is written ('1 older deleted'), for as long as
    the wrong dates lie ahead: the job succeeds and no new backup is kept. Severity: medium.

    Cause: gridvend/operations/backup.py prune (sorted by name). Fix: never delete the backup
    just made (prune after take_backup excludes it), and order by the sealed made_at / mtime
    with future-dated files reported, not trusted."""
    from gridvend.operations import tasks

    settings.BACKUP_KEEP = 2
    first = backup.take_backup()
    for stamp in ("20991231T000000Z-0000aaaa", "20991231T000001Z-0000bbbb"):
        shutil.copy(first.path, settings.BACKUP_DIR / f"gridvend-{stamp}.gvbackup")
    first.path.unlink()
    written = Path(tasks.scheduled_backup())
    assert written.exists(), "the nightly job deleted the backup it had just written"


# --- what the verification and /readyz say about the keys ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_probe_a_restore_under_a_master_key_that_opens_no_vending_key_does_not_verify(
    backups: Path, settings: Any
) -> None:
    """docs/operations.md: 'A restored database needs the same master key to sell.' The drill's
    verification (row counts, ledger, audit chain, latest sale, migrations) never opens a
    vending key: restored on a spare server whose GRIDVEND_MASTER_KEY was not copied (or was
    typed wrong), it prints 'restore verified' and the database cannot sell one token. The
    operator learns it on the day of the disaster. Severity: medium.

    Cause: gridvend/operations/restore.py verify. Fix: a 'vending keys open' check: unseal
    every active key row with this process's master key(s) and compare its check value."""
    standard_sales(scene())
    keys.store_vending_key(actor=None, key_ref="vk-drill", key_hex=secrets.token_hex(20), dkga="04")
    made = backup.take_backup()
    header = backup.decrypt(made.path, None)
    settings.MASTER_KEY = secrets.token_bytes(32)  # the spare server's key: not the same one
    settings.MASTER_KEY_PREVIOUS = None
    keys.forget_cached_keys()
    try:
        verification = restore.verify(header)
    finally:
        keys.forget_cached_keys()
    assert not verification.ok, (
        "'restore verified' although no vending key opens with this master key: "
        + "; ".join(f"{c.name}: {c.detail}" for c in verification.checks)
    )


@pytest.mark.django_db
def test_probe_readyz_is_not_ready_while_the_hsm_engine_cannot_reach_its_hsm(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With GRIDVEND_TOKEN_ENGINE=pkcs11 every token is derived in the HSM, but the readiness
    'keys' check opens the first key with the software master key only: with the HSM gone (its
    library missing, the PIN not in the environment, the HSM down) /readyz answers 200 and the
    load balancer keeps sending sales to a server that refuses every one HSM_UNAVAILABLE.
    Severity: medium.

    Cause: gridvend/web/monitoring.py _keys. Fix: under the pkcs11 engine also open the
    engine's session (bounded) and find the first key's object; 'hsm' when it cannot."""
    from gridvend.web.monitoring import readiness

    keys.store_vending_key(
        actor=None, key_ref="vk-ready-hsm", key_hex=secrets.token_hex(20), dkga="04"
    )
    keys.forget_cached_keys()
    monkeypatch.delenv("GRIDVEND_REVIEW19B_NO_PIN", raising=False)
    settings.TOKEN_ENGINE = "pkcs11"
    settings.HSM_PKCS11_MODULE = "/nonexistent/libvendor-pkcs11.so"
    settings.HSM_TOKEN_LABEL = "gridvend"
    settings.HSM_PIN_ENV = "GRIDVEND_REVIEW19B_NO_PIN"
    checks = readiness()
    assert checks["keys"] != "ok", f"/readyz says the keys are ready with no HSM: {checks}"


# --- careless commands ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("backup", "verify", "{missing}"),
        ("backup", "verify", "{folder}"),
        ("restore", "{missing}", "--database-url", "sqlite:///{folder}/x.sqlite3"),
    ],
)
def test_probe_a_mistyped_backup_file_name_is_a_coded_refusal(
    backups: Path, command: tuple[str, ...]
) -> None:
    """`gridvend backup verify FILE` and `gridvend restore FILE` with a typo in FILE (or a
    folder): a FileNotFoundError / IsADirectoryError traceback instead of a refusal naming
    the file and a stable code, as every other refusal of these commands is. Severity: low.

    Cause: gridvend/operations/backup.py decrypt (path.stat()) and _read_prefix (path.open)
    let OSError out. Fix: turn OSError into BackupNotABackup (problem: 'it cannot be read:
    no such file')."""
    folder = backups / "backups"
    folder.mkdir(exist_ok=True)
    args = [
        part.format(missing=backups / "gridvend-2026.gvbakcup", folder=folder) for part in command
    ]
    try:
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    except CommandError as refused:
        assert "BACKUP_" in str(refused), refused
        return
    except OSError as exc:
        pytest.fail(f"{' '.join(command)}: {type(exc).__name__} traceback, no code")
    pytest.fail("a missing backup file was accepted")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pg_dump backs up PostgreSQL")
def test_probe_a_backup_without_pg_dump_installed_is_a_coded_refusal(
    backups: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/operations.md asks for postgresql-client on the server; a careless install without
    it (or a worker whose PATH lacks it: systemd's default PATH, a slim container) makes
    `gridvend backup` and the nightly job die with FileNotFoundError from subprocess.Popen, not
    BACKUP_TOOL_FAILED naming pg_dump; the job's failure text says only '[Errno 2] No such
    file or directory: 'pg_dump''. The same holds for pg_restore after the whole backup was
    decrypted into a temporary file. Severity: low.

    Cause: gridvend/operations/backup.py _backup_postgresql (Popen) and restore.py
    _restore_postgresql (subprocess.run). Fix: catch OSError there and raise
    BackupToolFailed(tool='pg_dump', detail='not installed: apt-get install
    postgresql-client-NN')."""
    empty = backups / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    try:
        backup.take_backup()
    except DomainError as refused:
        assert refused.code == "BACKUP_TOOL_FAILED"
        return
    except OSError as exc:
        pytest.fail(f"a backup without pg_dump: {type(exc).__name__}: {exc}")
    pytest.fail("a backup was written without pg_dump")


def test_probe_the_container_image_has_a_pg_dump_that_can_dump_the_compose_database() -> None:
    """deploy/compose.yaml runs PostgreSQL 16 (postgres:16); deploy/Containerfile builds on
    python:3.11-slim-bookworm and installs Debian bookworm's `postgresql-client`, which is
    PostgreSQL 15. pg_dump refuses a server newer than itself ('aborting because of server
    version mismatch'), so in the documented container deployment every backup, manual and
    nightly, fails BACKUP_TOOL_FAILED: the system is never backed up, while check --deploy
    passes (the schedule exists). docs/operations.md itself says pg_dump must be the server's
    major version or newer. Severity: high (no backups in the container deployment).

    Cause: deploy/Containerfile (postgresql-client from bookworm) vs deploy/compose.yaml
    (postgres:16). Fix: install postgresql-client-16 from apt.postgresql.org (or run
    postgres:15 in compose), and let check --deploy compare `pg_dump --version` with the
    server's major version."""
    import re

    root = Path(__file__).resolve().parents[2]
    compose = (root / "deploy/compose.yaml").read_text()
    containerfile = (root / "deploy/Containerfile").read_text()
    server = re.search(r"image:\s*\S*postgres:(\d+)", compose)
    assert server is not None
    server_major = int(server.group(1))
    # The client major the image installs: an explicit postgresql-client-NN, else the Debian
    # release's own (bookworm: 15, trixie: 17).
    explicit = re.search(r"postgresql-client-(\d+)", containerfile)
    debian_default = {"bookworm": 15, "trixie": 17}
    release = re.search(r"FROM\s+\S*-(bookworm|trixie)", containerfile)
    assert explicit is not None or release is not None
    client_major = (
        int(explicit.group(1)) if explicit else debian_default[release.group(1)]  # type: ignore[union-attr]
    )
    assert client_major >= server_major, (
        f"the image's pg_dump is PostgreSQL {client_major}, the compose database "
        f"{server_major}: pg_dump refuses to dump a newer server"
    )


# --- check --deploy ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_probe_check_deploy_fails_when_metrics_are_open_to_every_address_in_halves(
    production: Any,  # noqa: F811
) -> None:
    """E015 (b8af1af) looks for one network that holds every address; 0.0.0.0/1 and
    128.0.0.0/1 together (a common way to write 'everything', as VPN routes do), or any huge
    public block, pass. Severity: low.

    Cause: gridvend/operations/checks.py _metrics. Fix: refuse when the networks together
    cover a whole family, or any network larger than a private range (/8) that is not
    private."""
    production.METRICS_ALLOWED_IPS = ["0.0.0.0/1", "128.0.0.0/1"]
    assert _ids() - _sqlite(), "check --deploy passes with /metrics open to every address"


@pytest.mark.django_db
def test_probe_check_deploy_fails_when_the_hsm_library_does_not_exist(
    production: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """E016 (b8af1af) checks that the HSM settings are non-empty, not that they work: a module
    path that is not a file (a typo, the vendor package not installed) passes, and every sale
    is refused HSM_UNAVAILABLE. Severity: low.

    Cause: gridvend/operations/checks.py _hsm. Fix: require the module to be a readable file,
    and (bounded) open the token and log in with the PIN."""
    monkeypatch.setenv("GRIDVEND_REVIEW19B_PIN", "246813")
    production.TOKEN_ENGINE = "pkcs11"
    production.HSM_PKCS11_MODULE = "/usr/lib/nonexistent/libvendor-pkcs11.so"
    production.HSM_TOKEN_LABEL = "gridvend"
    production.HSM_PIN_ENV = "GRIDVEND_REVIEW19B_PIN"
    assert _ids() - _sqlite(), "check --deploy passes with an HSM library that does not exist"


# --- request ids ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_probe_a_client_cannot_choose_the_request_id_of_its_audit_events(settings: Any) -> None:
    """X-Request-ID is taken from any client, not only from the trusted proxies
    (deploy/nginx passes the client's header on as it came): a client gives its requests the id
    of another person's request (copied from a log, a screenshot, a support ticket), and the
    log lines and audit events of both requests then carry one id: 'request ids that match the
    audit trail' match the wrong request. Severity: low.

    Cause: gridvend/web/middleware.py RequestIdMiddleware; deploy/nginx/gridvend.conf. Fix:
    take X-Request-ID only from GRIDVEND_TRUSTED_PROXIES (nginx: set it from $request_id)."""
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    chosen = "support-ticket-4711"
    response = Client(raise_request_exception=False).get(
        "/login/", HTTP_X_REQUEST_ID=chosen, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code < 500
    assert response["X-Request-ID"] != chosen, "a client outside the proxies chose its request id"


# --- pinned --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pinned_a_sealed_header_cannot_be_moved_onto_another_backups_database(
    backups: Path,
) -> None:
    """Pinned: two backups under one key; the first one's prefix (clear part and sealed
    header) put before the second one's database and tag is refused BACKUP_TAMPERED, and so is
    a format 2 file whose clear part says format 1 (no downgrade past the tag)."""
    standard_sales(scene())
    first = backup.take_backup()
    second = backup.take_backup()
    with first.path.open("rb") as data:
        _header, prefix_one = backup._read_prefix(first.path, data)
    with second.path.open("rb") as data:
        _header, prefix_two = backup._read_prefix(second.path, data)
    spliced = backups / "spliced.gvbackup"
    spliced.write_bytes(prefix_one + second.path.read_bytes()[len(prefix_two) :])
    with pytest.raises(BackupTampered):
        backup.decrypt(spliced, None)
    raw = first.path.read_bytes()
    clear_length = int.from_bytes(raw[16:20], "big")
    clear = json.loads(raw[20 : 20 + clear_length])
    downgraded = json.dumps({**clear, "format": 1}, sort_keys=True, separators=(",", ":"))
    if len(downgraded) == clear_length:
        forged = backups / "downgraded.gvbackup"
        forged.write_bytes(raw[:20] + downgraded.encode() + raw[20 + clear_length :])
        with pytest.raises(DomainError):
            backup.decrypt(forged, None)


@pytest.mark.django_db
def test_pinned_readyz_keys_unreadable_under_a_wrong_master_key(settings: Any) -> None:
    """Pinned: with the software engine, /readyz says 'unreadable' (503) when the master key
    does not open the first key, and writes no audit event."""
    from gridvend.web.monitoring import readiness

    keys.store_vending_key(actor=None, key_ref="vk-ready", key_hex=secrets.token_hex(20), dkga="04")
    events = AuditEvent.objects.count()
    settings.MASTER_KEY = secrets.token_bytes(32)
    keys.forget_cached_keys()
    try:
        assert readiness()["keys"] == "unreadable"
    finally:
        keys.forget_cached_keys()
    assert AuditEvent.objects.count() == events
    assert connection.vendor in ("sqlite", "postgresql")
