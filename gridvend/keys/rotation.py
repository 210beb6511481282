"""Master-key rotation: every vending key re-sealed under GRIDVEND_MASTER_KEY while the key being
retired (GRIDVEND_MASTER_KEY_PREVIOUS) still opens the rows not yet done, so sales go on.

One short transaction per key (its row locked, opened, sealed again, read back and compared),
so an interrupted rotation is resumed by running it again: rows already under the new master key
are skipped. A final pass opens every row with the new master key alone and compares its key
check value with the one recorded when the key was stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from gridvend.audit.services import record
from gridvend.keys.crypto import (
    KeyDecryptionFailed,
    check_value,
    current_master_id,
    fingerprint,
    seal,
    unseal,
)
from gridvend.keys.events import KeyEvent
from gridvend.keys.models import VendingKeyRecord
from gridvend.keys.services import forget_cached_keys, sealed_of


@dataclass
class RotationReport:
    master_key_id: str
    resealed: list[str] = field(default_factory=list)
    already_current: list[str] = field(default_factory=list)
    verified: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every key opens with the new master key alone: the previous one may be retired."""
        return not self.problems


def master_key_status() -> dict[str, int]:
    """How many keys each master key (by id) sealed; '' for rows from before rotation existed."""
    counts: dict[str, int] = {}
    for master_id in VendingKeyRecord.objects.values_list("master_key_id", flat=True):
        counts[master_id] = counts.get(master_id, 0) + 1
    return counts


def rotate_master_key(*, on_key: Callable[[str, str], None] | None = None) -> RotationReport:
    """Re-seal every key not yet under the current master key, then verify all of them.

    ``on_key(key_ref, outcome)`` reports progress ("resealed", "current", "failed")."""
    current = current_master_id()
    report = RotationReport(master_key_id=current)
    pending = list(
        VendingKeyRecord.objects.exclude(master_key_id=current)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in pending:
        outcome = _reseal_one(pk, current, report)
        if on_key is not None:
            on_key(*outcome)
    forget_cached_keys()
    _verify_all(report)
    return report


def _reseal_one(pk: int, current: str, report: RotationReport) -> tuple[str, str]:
    with transaction.atomic(durable=True):
        row = VendingKeyRecord.objects.select_for_update().get(pk=pk)
        if row.master_key_id == current:
            # Another run got here first.
            report.already_current.append(row.key_ref)
            return row.key_ref, "current"
        try:
            secret = unseal(sealed_of(row), key_ref=row.key_ref)
        except KeyDecryptionFailed as exc:
            report.problems.append(str(exc))
            return row.key_ref, "failed"
        kcv = check_value(secret)
        if row.check_value and row.check_value != kcv:
            report.problems.append(
                f"vending key {row.key_ref} opens, but its check value is {kcv}, "
                f"not the {row.check_value} recorded when it was stored"
            )
            return row.key_ref, "failed"
        sealed = seal(secret, key_ref=row.key_ref)
        # Read back before writing: a row is never replaced by one that does not open.
        if unseal(sealed, key_ref=row.key_ref, current_only=True) != secret:
            report.problems.append(f"vending key {row.key_ref} did not read back after sealing")
            return row.key_ref, "failed"
        before = {"master_key_id": row.master_key_id, "fingerprint": row.fingerprint}
        row.nonce, row.ciphertext, row.tag = sealed.nonce, sealed.ciphertext, sealed.tag
        row.master_key_id = sealed.master_id
        row.fingerprint = fingerprint(secret)
        row.check_value = kcv
        row.save(
            update_fields=[
                "nonce",
                "ciphertext",
                "tag",
                "master_key_id",
                "fingerprint",
                "check_value",
            ]
        )
        record(
            actor=None,
            event_type=KeyEvent.RESEALED,
            target=row,
            before=before,
            after={
                "master_key_id": row.master_key_id,
                "fingerprint": row.fingerprint,
                "check_value": kcv,
            },
        )
        del secret
    report.resealed.append(row.key_ref)
    return row.key_ref, "resealed"


def _verify_all(report: RotationReport) -> None:
    for row in VendingKeyRecord.objects.order_by("pk"):
        if row.master_key_id != report.master_key_id:
            report.problems.append(f"vending key {row.key_ref} is not under the new master key")
            continue
        try:
            secret = unseal(sealed_of(row), key_ref=row.key_ref, current_only=True)
        except KeyDecryptionFailed as exc:
            report.problems.append(str(exc))
            continue
        if check_value(secret) != row.check_value:
            report.problems.append(f"vending key {row.key_ref} does not match its check value")
            continue
        report.verified += 1
