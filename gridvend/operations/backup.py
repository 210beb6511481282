"""Encrypted backups of the whole database (issue 19): one file per backup, readable only with the
backup key, that says what it holds before anyone restores it.

A backup file (format 2) is::

    MAGIC (16 bytes) | clear length (4 bytes, big-endian) | clear header (JSON, UTF-8)
    | sealed length (4 bytes) | sealed header (JSON, AES-256-GCM) | its tag (16 bytes)
    | the database, encrypted with AES-256-GCM | the GCM tag (16 bytes)

Only the format, the id of the backup key (an HMAC of the key, which reveals nothing of it) and
the nonce are in the clear. The rest of the header is sealed under a key derived from the backup
key, with the clear part as associated data: the engine, when and from which database the backup
was made, and what a restore must find (the rows of every table, the latest sale, the migrations
applied), which whoever holds an off-site copy has no business reading. The database's cipher
takes everything before it as associated data, so a changed byte anywhere fails a tag. The facts
are read from the very state the dump holds: on PostgreSQL in one repeatable-read transaction
whose snapshot ``pg_dump --snapshot`` dumps (sales made meanwhile are in neither), on SQLite from
the copy the online backup API made.

Format 1 (before issue 19's review) kept the whole header in the clear, authenticated only; such
files are still read, verified and restored.

The database is ``pg_dump --format=custom`` on PostgreSQL and the SQLite file itself; it is
encrypted as it streams out of ``pg_dump``, so no clear copy touches the disk on PostgreSQL (on
SQLite the online backup copy is written beside the database itself, never into the backup folder
that is copied off the machine, readable by its owner only, and removed at once). Partial files
of a backup killed mid-way are removed by the next one. The master key lives only in the
environment: no backup holds it, and the vending keys in the database stay sealed under it.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import sqlite3
import stat
import subprocess
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from Crypto.Cipher import AES
from django.conf import settings
from django.db import connection
from django.utils import timezone

from gridvend.operations.errors import (
    BackupKeyMissing,
    BackupNotABackup,
    BackupTampered,
    BackupToolFailed,
    BackupWrongKey,
)

MAGIC = b"GRIDVEND-BACKUP\x01"
FORMAT = 2
# Format 1 kept the whole header in the clear (authenticated, not encrypted).
READABLE_FORMATS = (1, 2)
CLEAR_FIELDS = ("format", "key_id", "nonce")
TAG_BYTES = 16
# A header is a few kilobytes; anything much larger is not one of ours.
MAX_HEADER_BYTES = 1 << 20
CHUNK = 1 << 20
SUFFIX = ".gvbackup"
NAME = re.compile(r"^gridvend-(\d{8}T\d{6}Z)-[0-9a-f]{8}\.gvbackup$")
STAMP = "%Y%m%dT%H%M%SZ"
# Partial files of a backup killed mid-way (power cut, OOM killer, kill -9): the encrypted
# partial in the backup folder, the clear SQLite copy beside the database (and, from before
# it moved there, in the backup folder). Group "owner" is the file a running backup holds locked.
PARTIALS = re.compile(r"^(?P<owner>\.gridvend-\d{8}T\d{6}Z-[0-9a-f]{8}\.gvbackup\.(part|sqlite3))$")
COPIES = re.compile(r"^(?P<owner>\.gridvend-backup-[0-9a-f]{32}\.sqlite3)(-journal|-wal|-shm)?$")
# A partial younger than this may be one another backup has just created and not yet locked.
LEFTOVER_AGE_SECONDS = 60
# `pg_dump --version` answers at once; a client that does not is not one to dump with.
VERSION_TIMEOUT_SECONDS = 30

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backup:
    path: Path
    header: dict[str, Any]
    size: int


def backup_key() -> bytes:
    key: bytes = settings.BACKUP_KEY
    if not key:
        raise BackupKeyMissing()
    return key


def key_id(key: bytes) -> str:
    """A name for the key that reveals nothing of it."""
    return hmac.new(key, b"gridvend-backup-key-id", hashlib.sha256).hexdigest()[:16]


def _header_key(key: bytes) -> bytes:
    """The key the sealed header is encrypted under: not the database's key, so the one nonce
    serves both ciphers."""
    return hmac.new(key, b"gridvend-backup header key v2", hashlib.sha256).digest()


def engine() -> str:
    return "sqlite" if connection.vendor == "sqlite" else "postgresql"


# --- what the backup holds -------------------------------------------------------------------


def _facts(cursor: Any, vendor: str) -> dict[str, Any]:
    """Rows per table, the latest sale and the migrations, read through ``cursor`` (the
    snapshot's or the copy's)."""
    if vendor == "sqlite":
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    else:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
    tables = [row[0] for row in cursor.fetchall()]
    counts: dict[str, int] = {}
    for table in tables:
        # Names come from the database's own catalogue, quoted as identifiers.
        quoted = '"' + table.replace('"', '""') + '"'
        cursor.execute(f"SELECT COUNT(*) FROM {quoted}")  # noqa: S608
        counts[table] = int(cursor.fetchone()[0])
    latest: dict[str, Any] | None = None
    if "vending_sale" in counts:
        cursor.execute(
            "SELECT id, reference, tender_minor, status FROM vending_sale ORDER BY id DESC LIMIT 1"
        )
        row = cursor.fetchone()
        if row is not None:
            latest = {
                "id": int(row[0]),
                "reference": str(row[1]),
                "tender_minor": int(row[2]),
                "status": str(row[3]),
            }
    migrations: dict[str, str] = {}
    if "django_migrations" in counts:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, id")
        for app, name in cursor.fetchall():
            migrations[str(app)] = str(name)
    return {"counts": counts, "latest_sale": latest, "migrations": migrations}


def _header(key: bytes, nonce: bytes, facts: dict[str, Any], *, compression: str) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "format": FORMAT,
        "engine": engine(),
        "database": str(connection.settings_dict["NAME"]).rsplit("/", 1)[-1],
        "made_at": timezone.now().isoformat(),
        "gridvend": version("gridvend"),
        "key_id": key_id(key),
        "nonce": nonce.hex(),
        # pg_dump's custom format is compressed already; a SQLite file is zlib-compressed here.
        "compression": compression,
        **facts,
    }


# --- writing ---------------------------------------------------------------------------------


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _prefix(key: bytes, header: dict[str, Any]) -> bytes:
    """Everything before the database: the clear part, then the rest of the header sealed with
    the clear part as associated data."""
    clear = _json({name: header[name] for name in CLEAR_FIELDS})
    head = MAGIC + len(clear).to_bytes(4, "big") + clear
    sealed = _json({name: value for name, value in header.items() if name not in CLEAR_FIELDS})
    cipher = AES.new(_header_key(key), AES.MODE_GCM, nonce=bytes.fromhex(header["nonce"]))
    cipher.update(head)
    ciphertext, tag = cipher.encrypt_and_digest(sealed)
    return head + len(ciphertext).to_bytes(4, "big") + ciphertext + tag


def _compressed(chunks: Iterator[bytes]) -> Iterator[bytes]:
    packer = zlib.compressobj(6)
    for chunk in chunks:
        packed = packer.compress(chunk)
        if packed:
            yield packed
    yield packer.flush()


def create_private(path: Path) -> int:
    """A new file for this process alone: never an existing file, nor one a link points at
    (O_EXCL, O_NOFOLLOW), readable by its owner only, and locked (flock) while the returned
    descriptor is open, so that another process's :func:`remove_leftovers` leaves it alone."""
    descriptor = os.open(
        path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
    )
    try:
        # Blocking: a clean-up that found the file an instant ago lets go of it at once.
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    except BaseException:
        os.close(descriptor)
        path.unlink(missing_ok=True)
        raise
    return descriptor


def remove_leftovers(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Delete the partial files in ``folder`` named as ``pattern`` says that a backup or restore
    killed mid-way left: regular files only, none that a running one holds locked, none made in
    the last minute. Returns what was deleted."""
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    for path in sorted(folder.iterdir()):
        match = pattern.match(path.name)
        if match is None:
            continue
        try:
            facts = path.lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(facts.st_mode) or time.time() - facts.st_mtime < LEFTOVER_AGE_SECONDS:
            continue
        owner = folder / match.group("owner")
        try:
            held = os.open(owner, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            held = None  # a journal whose database is gone: nobody is writing it
        except OSError:
            continue
        try:
            if held is not None:
                try:
                    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a running backup or restore is writing it
            path.unlink(missing_ok=True)
            removed.append(path)
        finally:
            if held is not None:
                os.close(held)
    for path in removed:
        logger.warning("removed %s, left by a backup or restore that was killed mid-way", path)
    return removed


def _write(target: Path, key: bytes, header: dict[str, Any], chunks: Iterator[bytes]) -> int:
    """The backup file: the header, the chunks (compressed first if the header says so)
    encrypted as they come, the tag. Written to a private partial file renamed into place only
    when complete. Returns the bytes of the database before compression."""
    prefix = _prefix(key, header)
    size = 0

    def counted() -> Iterator[bytes]:
        nonlocal size
        for chunk in chunks:
            size += len(chunk)
            yield chunk

    stream = _compressed(counted()) if header.get("compression") == "zlib" else counted()
    cipher = AES.new(key, AES.MODE_GCM, nonce=bytes.fromhex(header["nonce"]))
    cipher.update(prefix)
    partial = target.with_name(f".{target.name}.part")
    descriptor = create_private(partial)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(prefix)
            for chunk in stream:
                out.write(cipher.encrypt(chunk))
            out.write(cipher.digest())
            out.flush()
            os.fsync(out.fileno())
            # Renamed while still locked: no clean-up can take it between the two.
            partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as data:
        yield from iter(lambda: data.read(CHUNK), b"")


def _pg_env(settings_dict: dict[str, Any]) -> dict[str, str]:
    environ = dict(os.environ)
    for variable, key in (
        ("PGHOST", "HOST"),
        ("PGPORT", "PORT"),
        ("PGUSER", "USER"),
        ("PGPASSWORD", "PASSWORD"),
    ):
        value = settings_dict.get(key)
        if value:
            environ[variable] = str(value)
        else:
            environ.pop(variable, None)
    return environ


def client_major(tool: str, environ: dict[str, str]) -> int:
    """The PostgreSQL major version of ``pg_dump`` or ``pg_restore`` as this process would run
    it; BackupToolFailed when it cannot be run or does not say."""
    try:
        answered = subprocess.run(
            [tool, "--version"],
            capture_output=True,
            text=True,
            env=environ,
            timeout=VERSION_TIMEOUT_SECONDS,
            check=False,
        )
    except OSError as exc:
        # Not installed, or not on this process's PATH (systemd's, a slim container's).
        raise BackupToolFailed(
            tool=tool, reason="missing", detail=exc.strerror or type(exc).__name__
        ) from None
    except subprocess.TimeoutExpired:
        raise BackupToolFailed(
            tool=tool, detail=f"`{tool} --version` did not answer in {VERSION_TIMEOUT_SECONDS} s"
        ) from None
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", answered.stdout)
    if answered.returncode != 0 or found is None:
        said = (answered.stdout + answered.stderr).strip()[:200]
        raise BackupToolFailed(
            tool=tool, status=answered.returncode, detail=f"`{tool} --version` said: {said}"
        )
    return int(found.group(1))


def check_pg_dump(server_version: int, environ: dict[str, str]) -> int:
    """Refuse, before anything is written, a ``pg_dump`` older than the server (it would abort
    with 'server version mismatch'). ``server_version`` as libpq gives it (160004 for 16.4).
    Returns pg_dump's major version."""
    server = server_version // 10000
    client = client_major("pg_dump", environ)
    if client < server:
        raise BackupToolFailed(
            tool="pg_dump",
            reason="too_old",
            client=client,
            server=server,
            detail=f"pg_dump {client}, server {server}",
        )
    return client


def _backup_postgresql(target: Path, key: bytes, nonce: bytes) -> dict[str, Any]:
    import psycopg

    params = connection.settings_dict
    conninfo = {
        "dbname": params["NAME"],
        "host": params.get("HOST") or None,
        "port": params.get("PORT") or None,
        "user": params.get("USER") or None,
        "password": params.get("PASSWORD") or None,
    }
    environ = _pg_env(params)
    with psycopg.connect(**{k: v for k, v in conninfo.items() if v is not None}) as snap:
        check_pg_dump(snap.info.server_version, environ)
        snap.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        snap.read_only = True
        with snap.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            row = cursor.fetchone()
            assert row is not None
            snapshot = str(row[0])
            facts = _facts(cursor, "postgresql")
            # The dump reads the snapshot this transaction holds open: the facts and the dump
            # are one state of the database.
            try:
                process = subprocess.Popen(
                    [
                        "pg_dump",
                        "--format=custom",
                        "--compress=6",
                        f"--snapshot={snapshot}",
                        "--dbname",
                        str(params["NAME"]),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=environ,
                )
            except OSError as exc:
                raise BackupToolFailed(
                    tool="pg_dump", reason="missing", detail=exc.strerror or type(exc).__name__
                ) from None
            assert process.stdout is not None and process.stderr is not None
            stdout: IO[bytes] = process.stdout
            try:
                size = _write(
                    target,
                    key,
                    _header(key, nonce, facts, compression="none"),
                    iter(lambda: stdout.read(CHUNK), b""),
                )
            finally:
                stderr = process.stderr.read().decode("utf-8", "replace")
                status = process.wait()
            if status != 0:
                target.unlink(missing_ok=True)
                raise BackupToolFailed(tool="pg_dump", status=status, detail=stderr.strip()[:500])
            snap.rollback()
    return {**facts, "size": size}


def scratch_folder() -> Path:
    """Where the clear SQLite copy is made: beside the database file, which holds the same data
    and is not the backup folder that is copied off the machine (a file left there by a backup
    killed mid-way would be a clear copy of the database off site). An in-memory database (the
    tests') has no folder: the system's temporary one."""
    name = str(connection.settings_dict["NAME"])
    if name.startswith("file:") or name == ":memory:":
        return Path(tempfile.gettempdir())
    return Path(name).resolve().parent


def _backup_sqlite(target: Path, key: bytes, nonce: bytes) -> dict[str, Any]:
    copy = scratch_folder() / f".gridvend-backup-{uuid.uuid4().hex}.sqlite3"
    # Held (locked) until the copy is gone, so that a backup starting meanwhile leaves it alone.
    held = create_private(copy)
    try:
        connection.ensure_connection()
        source = connection.connection
        destination = sqlite3.connect(copy)
        try:
            # The online backup API: a consistent copy while sales go on.
            source.backup(destination)
            destination.execute("PRAGMA journal_mode=DELETE")
            facts = _facts(destination.cursor(), "sqlite")
        finally:
            destination.close()
        header = _header(key, nonce, facts, compression="zlib")
        size = _write(target, key, header, _file_chunks(copy))
    finally:
        copy.unlink(missing_ok=True)
        os.close(held)
    return {**facts, "size": size}


def take_backup(directory: Path | None = None) -> Backup:
    """One backup of the database into ``directory`` (GRIDVEND_BACKUP_DIR)."""
    key = backup_key()
    directory = Path(directory or settings.BACKUP_DIR)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    remove_leftovers(directory, PARTIALS)
    if engine() == "sqlite":
        remove_leftovers(scratch_folder(), COPIES)
    stamp = timezone.now().astimezone(datetime.UTC).strftime(STAMP)
    target = directory / f"gridvend-{stamp}-{uuid.uuid4().hex[:8]}{SUFFIX}"
    nonce = os.urandom(16)
    if engine() == "sqlite":
        _backup_sqlite(target, key, nonce)
    else:
        _backup_postgresql(target, key, nonce)
    return Backup(target, read_header(target), target.stat().st_size)


# --- reading ---------------------------------------------------------------------------------


_UNREADABLE = {
    errno.ENOENT: "there is no such file",
    errno.EISDIR: "it is a folder",
    errno.EACCES: "this user may not read it",
    errno.EPERM: "this user may not read it",
}


def _open(path: Path) -> IO[bytes]:
    """The backup file opened for reading; a name mistyped, a folder or a file this user may
    not read is a coded refusal, not a traceback."""
    try:
        data = path.open("rb")
    except OSError as exc:
        problem = _UNREADABLE.get(exc.errno or 0) or f"it cannot be read: {exc.strerror}"
        raise BackupNotABackup(path=str(path), problem=problem) from None
    if not stat.S_ISREG(os.fstat(data.fileno()).st_mode):
        data.close()
        raise BackupNotABackup(path=str(path), problem="it is not a regular file")
    return data


def read_header(path: Path) -> dict[str, Any]:
    """The header. Format 2 needs the backup key and authenticates the header (the database is
    authenticated by :func:`decrypt`); a format 1 header is returned as written."""
    with _open(path) as data:
        return _read_prefix(path, data)[0]


def _read_prefix(path: Path, data: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    """The header and the bytes before the database (the database cipher's associated data)."""
    magic = data.read(len(MAGIC))
    if magic != MAGIC:
        raise BackupNotABackup(path=str(path), problem="it does not start as one")
    length = int.from_bytes(data.read(4), "big")
    if not 0 < length <= MAX_HEADER_BYTES:
        raise BackupNotABackup(path=str(path), problem="its header is cut or too long")
    body = data.read(length)
    try:
        header = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BackupNotABackup(path=str(path), problem="its header is not readable") from None
    if not isinstance(header, dict) or header.get("format") not in READABLE_FORMATS:
        raise BackupNotABackup(path=str(path), problem="its format is not one this version reads")
    head = MAGIC + length.to_bytes(4, "big") + body
    if header["format"] == 1:
        return header, head
    return _unseal_header(path, data, header, head)


def _unseal_header(
    path: Path, data: IO[bytes], clear: dict[str, Any], head: bytes
) -> tuple[dict[str, Any], bytes]:
    key = backup_key()
    if clear.get("key_id") != key_id(key):
        raise BackupWrongKey(made_with=str(clear.get("key_id")), given=key_id(key))
    try:
        nonce = bytes.fromhex(str(clear.get("nonce", "")))
    except ValueError:
        raise BackupTampered(path=str(path)) from None
    length = int.from_bytes(data.read(4), "big")
    if len(nonce) != 16 or not 0 < length <= MAX_HEADER_BYTES:
        raise BackupTampered(path=str(path))
    ciphertext = data.read(length)
    tag = data.read(TAG_BYTES)
    if len(ciphertext) != length or len(tag) != TAG_BYTES:
        raise BackupTampered(path=str(path))
    cipher = AES.new(_header_key(key), AES.MODE_GCM, nonce=nonce)
    cipher.update(head)
    try:
        sealed = json.loads(cipher.decrypt_and_verify(ciphertext, tag).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise BackupTampered(path=str(path)) from None
    if not isinstance(sealed, dict):
        raise BackupTampered(path=str(path))
    # The clear fields win: they are the ones the ciphers used.
    return {**sealed, **clear}, head + length.to_bytes(4, "big") + ciphertext + tag


def decrypt(path: Path, out: IO[bytes] | None) -> dict[str, Any]:
    """Authenticate the whole backup, writing the database to ``out`` as it goes (``None``:
    only authenticate). Raises BackupTampered if a byte of the header or the database changed,
    or the file was cut: whatever was written to ``out`` must then be thrown away."""
    key = backup_key()
    with _open(path) as data:
        size = os.fstat(data.fileno()).st_size
        header, prefix = _read_prefix(path, data)
        if header.get("key_id") != key_id(key):
            raise BackupWrongKey(made_with=str(header.get("key_id")), given=key_id(key))
        try:
            nonce = bytes.fromhex(str(header.get("nonce", "")))
        except ValueError:
            raise BackupTampered(path=str(path)) from None
        remaining = size - len(prefix) - TAG_BYTES
        if remaining < 0 or len(nonce) != 16:
            raise BackupTampered(path=str(path))
        compression = header.get("compression", "none")
        if compression not in ("none", "zlib"):
            raise BackupNotABackup(path=str(path), problem=f"unknown compression {compression}")
        unpacker = zlib.decompressobj() if compression == "zlib" else None
        cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
        cipher.update(prefix)
        while remaining:
            chunk = data.read(min(CHUNK, remaining))
            if not chunk:
                raise BackupTampered(path=str(path))
            remaining -= len(chunk)
            plain = cipher.decrypt(chunk)
            if out is not None:
                out.write(_unpacked(unpacker, plain, path))
        tag = data.read(TAG_BYTES)
        try:
            cipher.verify(tag)
        except ValueError:
            raise BackupTampered(path=str(path)) from None
        if out is not None and unpacker is not None:
            out.write(unpacker.flush())
    return header


def _unpacked(unpacker: Any, plain: bytes, path: Path) -> bytes:
    if unpacker is None:
        return plain
    try:
        # Bounded by what was written: a zip bomb cannot pass the tag of a key we hold.
        return bytes(unpacker.decompress(plain))
    except zlib.error:
        # Data changed on the way: the tag, checked at the end, says so for certain.
        raise BackupTampered(path=str(path)) from None


# --- retention -------------------------------------------------------------------------------


def list_backups(directory: Path | None = None) -> list[Path]:
    """The backups in ``directory``, oldest first (by the time in their names)."""
    directory = Path(directory or settings.BACKUP_DIR)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_file() and NAME.match(p.name)]
    return sorted(found, key=lambda p: p.name)


def dated_in_the_future(directory: Path | None = None) -> list[Path]:
    """Backups whose names are later than now: made while the clock ran ahead (a flat RTC
    battery, a VM restored with a wrong clock). Their dates say nothing of their age, so pruning
    neither counts nor deletes them; they are reported for a person to delete."""
    now = timezone.now().astimezone(datetime.UTC).strftime(STAMP)
    return [path for path in list_backups(directory) if _stamp(path) > now]


def _stamp(path: Path) -> str:
    found = NAME.match(path.name)
    assert found is not None  # list_backups lists only names that match
    return found.group(1)


def prune(
    directory: Path | None = None, keep: int | None = None, *, just_made: Path | None = None
) -> list[Path]:
    """Delete all but the ``keep`` newest backups (GRIDVEND_BACKUP_KEEP); files that are not
    backups are never touched, nor are backups dated in the future (:func:`dated_in_the_future`).
    ``just_made``, the backup this run wrote, counts as the newest whatever its name says and is
    never deleted. Returns what was deleted."""
    keep = settings.BACKUP_KEEP if keep is None else keep
    if keep < 1:
        raise ValueError("at least one backup is kept")
    future = set(dated_in_the_future(directory))
    found = [path for path in list_backups(directory) if path not in future]
    if just_made is not None:
        # Its name is this clock's now: a clock set back since older backups were named would
        # sort it oldest.
        found = [path for path in found if path.name != just_made.name] + [just_made]
    doomed = found[:-keep] if len(found) > keep else []
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed
