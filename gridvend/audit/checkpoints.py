"""Signed checkpoints of the audit chain's end, kept outside the database (a file and the log),
so that a truncated table, rows cut from the end or a rewritten chain no longer verify.

A checkpoint is one JSON line per stream of the trail: the stream's name (``audit:7``), the
sequence number and hash of its last row, the number of its rows, when it was taken, and an
HMAC-SHA256 signature under a key derived from GRIDVEND_MASTER_KEY. Lines written before the
trail had streams name the one chain ``audit``; that chain became stream 0, and they are read
as stream 0's. Someone who can write the database but not read the master key cannot
forge one, and cannot make the table agree with one after deleting or rewriting rows.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
from argparse import ArgumentParser
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

# The name of a stream in the file; the one chain before streams, now stream 0, was "audit".
_PREFIX = "audit:"
LEGACY_STREAM = "audit"
_KEY_PURPOSE = b"gridvend audit checkpoint signing key v1"

logger = logging.getLogger("gridvend.audit.checkpoint")


def _signing_key(master: bytes | None = None) -> bytes:
    # Derived, so the master key itself never signs anything but vending-key seals.
    return hmac.new(master or settings.MASTER_KEY, _KEY_PURPOSE, hashlib.sha256).digest()


def key_id(master: bytes | None = None) -> str:
    """Names the signing key without revealing it (lines signed under another key say so)."""
    return hashlib.sha256(b"key id:" + _signing_key(master)).hexdigest()[:16]


def _known_signing_keys() -> dict[str, bytes]:
    """The signing keys lines may be checked with: the master key's and, while a master-key
    rotation runs (GRIDVEND_MASTER_KEY_PREVIOUS), the retiring key's, so earlier lines verify."""
    masters = [settings.MASTER_KEY]
    if settings.MASTER_KEY_PREVIOUS:
        masters.append(settings.MASTER_KEY_PREVIOUS)
    return {key_id(master): _signing_key(master) for master in masters}


def stream_name(stream: int) -> str:
    return f"{_PREFIX}{stream}"


def stream_number(name: str) -> int | None:
    """The stream a line's name refers to; None for a name that is not one of the trail's."""
    if name == LEGACY_STREAM:
        return 0
    number = name.removeprefix(_PREFIX)
    if name.startswith(_PREFIX) and number.isdigit() and str(int(number)) == number:
        return int(number)
    return None


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Checkpoint:
    stream: str
    seq: int
    hash: str
    count: int
    at: str
    key_id: str
    signature: str = ""

    def body(self) -> dict[str, Any]:
        body = asdict(self)
        del body["signature"]
        return body

    def expected_signature(self) -> str:
        key = _known_signing_keys().get(self.key_id, _signing_key())
        return hmac.new(key, _canonical(self.body()), hashlib.sha256).hexdigest()

    def line(self) -> str:
        return _canonical({**self.body(), "signature": self.signature}).decode("utf-8")

    @property
    def number(self) -> int:
        """The stream's number (a checkpoint read from a file names one of the trail's)."""
        number = stream_number(self.stream)
        if number is None:
            raise ValueError(f"{self.stream!r} is not a stream of the audit trail")
        return number


def make(
    *, stream: int, seq: int, hash: str, count: int, now: datetime | None = None
) -> Checkpoint:
    at = (now or timezone.now()).astimezone(UTC).isoformat(timespec="seconds")
    unsigned = Checkpoint(stream_name(stream), seq, hash, count, at, key_id())
    return Checkpoint(**{**asdict(unsigned), "signature": unsigned.expected_signature()})


def default_path() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_FILE)


@dataclass
class CheckpointFile:
    path: Path
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def latest(self) -> dict[int, Checkpoint]:
        """Each stream's latest checkpoint, by stream number."""
        return {checkpoint.number: checkpoint for checkpoint in self.checkpoints}


def add_arguments(parser: ArgumentParser) -> None:
    """The options every command that verifies the chain takes: which file, and whether to sign."""
    parser.add_argument(
        "--checkpoint-file",
        type=Path,
        default=None,
        help="checkpoint file to compare with and append to "
        "(default: GRIDVEND_AUDIT_CHECKPOINT_FILE)",
    )
    parser.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="verify only; sign nothing (for a copy of the database, such as a backup)",
    )


def _parse(raw: str) -> Checkpoint:
    data = json.loads(raw)
    checkpoint = Checkpoint(
        stream=str(data["stream"]),
        seq=int(data["seq"]),
        hash=str(data["hash"]),
        count=int(data["count"]),
        at=str(data["at"]),
        key_id=str(data["key_id"]),
        signature=str(data["signature"]),
    )
    if checkpoint.line() != raw.strip():
        raise ValueError("not in the form gridvend writes")
    return checkpoint


def read(path: Path | None = None) -> CheckpointFile:
    """Every checkpoint of the trail's streams in the file, each signature checked, in the
    file's order; problems as sentences."""
    result = CheckpointFile(path or default_path())
    if not result.path.exists():
        return result
    known = _known_signing_keys()
    latest: dict[int, Checkpoint] = {}
    with result.path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where = f"checkpoint file {result.path} line {number}"
            try:
                checkpoint = _parse(raw)
            except (ValueError, KeyError, TypeError):
                result.problems.append(f"{where} is unreadable (edited)")
                continue
            stream = stream_number(checkpoint.stream)
            if stream is None:
                continue
            if checkpoint.key_id not in known:
                result.problems.append(
                    f"{where} is signed with another key ({checkpoint.key_id}); "
                    "GRIDVEND_MASTER_KEY differs from the one that signed it"
                )
                continue
            if not hmac.compare_digest(checkpoint.signature, checkpoint.expected_signature()):
                result.problems.append(f"{where}: the signature does not match (forged or edited)")
                continue
            previous = latest.get(stream)
            if previous is not None and (
                checkpoint.seq < previous.seq or checkpoint.count < previous.count
            ):
                result.problems.append(
                    f"{where} goes back from row {previous.seq} to row {checkpoint.seq} of "
                    f"stream {stream} (edited)"
                )
                continue
            latest[stream] = checkpoint
            result.checkpoints.append(checkpoint)
    return result


def _last_seqs(handle: Any) -> dict[int, int]:
    handle.seek(0)
    last: dict[int, int] = {}
    for raw in handle:
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        number = stream_number(str(data.get("stream")))
        if number is not None:
            last[number] = max(last.get(number, -1), int(data.get("seq", -1)))
    return last


def append_all(made: Sequence[Checkpoint], path: Path | None = None) -> list[Checkpoint]:
    """Add the checkpoints to the file and the log, each unless the file already holds its
    stream's row or a later one (a slower verification finishing after a newer checkpoint).
    Returns those written."""
    target = path or default_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        # Verification and the timer may finish together; the file stays in order.
        fcntl.flock(handle, fcntl.LOCK_EX)
        last = _last_seqs(handle)
        written = [c for c in made if last.get(c.number, -1) < c.seq]
        if not written:
            return []
        handle.write("".join(c.line() + "\n" for c in written))
        handle.flush()
        os.fsync(handle.fileno())
    # The log is a second copy, usually shipped off the machine (syslog, journald forwarding).
    for checkpoint in written:
        logger.info("audit checkpoint %s", checkpoint.line())
    return written


def append(checkpoint: Checkpoint, path: Path | None = None) -> bool:
    """Add one checkpoint (see :func:`append_all`). True when written."""
    return bool(append_all([checkpoint], path))
