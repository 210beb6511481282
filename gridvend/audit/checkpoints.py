"""Signed checkpoints of the audit chain's end, kept outside the database (a file and the log),
so that a truncated table, rows cut from the end or a rewritten chain no longer verify.

A checkpoint is one JSON line: the chain's name, the sequence number and hash of its last row,
the number of rows, when it was taken, and an HMAC-SHA256 signature under a key derived from
GRIDVEND_MASTER_KEY. Someone who can write the database but not read the master key cannot
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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

# Today there is one chain. Per-stream chains will write one line per stream under its own name.
STREAM = "audit"
_KEY_PURPOSE = b"gridvend audit checkpoint signing key v1"

logger = logging.getLogger("gridvend.audit.checkpoint")


def _signing_key() -> bytes:
    # Derived, so the master key itself never signs anything but vending-key seals.
    return hmac.new(settings.MASTER_KEY, _KEY_PURPOSE, hashlib.sha256).digest()


def key_id() -> str:
    """Names the signing key without revealing it (lines signed under another key say so)."""
    return hashlib.sha256(b"key id:" + _signing_key()).hexdigest()[:16]


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
        return hmac.new(_signing_key(), _canonical(self.body()), hashlib.sha256).hexdigest()

    def line(self) -> str:
        return _canonical({**self.body(), "signature": self.signature}).decode("utf-8")


def make(*, seq: int, hash: str, count: int, now: datetime | None = None) -> Checkpoint:
    at = (now or timezone.now()).astimezone(UTC).isoformat(timespec="seconds")
    unsigned = Checkpoint(STREAM, seq, hash, count, at, key_id())
    return Checkpoint(**{**asdict(unsigned), "signature": unsigned.expected_signature()})


def default_path() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_FILE)


@dataclass
class CheckpointFile:
    path: Path
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def latest(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None


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
    """Every checkpoint of this chain in the file, each signature checked; problems as sentences."""
    result = CheckpointFile(path or default_path())
    if not result.path.exists():
        return result
    mine = key_id()
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
            if checkpoint.stream != STREAM:
                continue
            if checkpoint.key_id != mine:
                result.problems.append(
                    f"{where} is signed with another key ({checkpoint.key_id}); "
                    "GRIDVEND_MASTER_KEY differs from the one that signed it"
                )
                continue
            if not hmac.compare_digest(checkpoint.signature, checkpoint.expected_signature()):
                result.problems.append(f"{where}: the signature does not match (forged or edited)")
                continue
            previous = result.latest
            if previous is not None and (
                checkpoint.seq < previous.seq or checkpoint.count < previous.count
            ):
                result.problems.append(
                    f"{where} goes back from row {previous.seq} to row {checkpoint.seq} (edited)"
                )
                continue
            result.checkpoints.append(checkpoint)
    return result


def _last_seq(handle: Any) -> int:
    handle.seek(0)
    last = -1
    for raw in handle:
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("stream") == STREAM:
            last = max(last, int(data.get("seq", -1)))
    return last


def append(checkpoint: Checkpoint, path: Path | None = None) -> bool:
    """Add the checkpoint to the file and the log, unless the file already holds this row or a
    later one (a slower verification finishing after a newer checkpoint). True when written."""
    target = path or default_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        # Verification and the timer may finish together; the file stays in order.
        fcntl.flock(handle, fcntl.LOCK_EX)
        if _last_seq(handle) >= checkpoint.seq:
            return False
        handle.write(checkpoint.line() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    # The log is a second copy, usually shipped off the machine (syslog, journald forwarding).
    logger.info("audit checkpoint %s", checkpoint.line())
    return True
