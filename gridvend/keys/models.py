"""Vending keys, encrypted at rest with the master key from the environment."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class VendingKeyRecord(models.Model):
    key_ref = models.CharField(max_length=60, unique=True)
    description = models.CharField(max_length=200, blank=True)
    dkga = models.CharField(max_length=2)
    # "real" for meters in the field; "sample" only for the standard's worked examples.
    sta_tables = models.CharField(max_length=10, default="real")
    nonce = models.BinaryField(max_length=16)
    ciphertext = models.BinaryField(max_length=64)
    tag = models.BinaryField(max_length=16)
    fingerprint = models.CharField(max_length=16)
    # Which master key sealed the row (crypto.master_key_id); rows stored before master-key
    # rotation existed have none until `gridvend keys rotate-master` re-seals them.
    master_key_id = models.CharField(max_length=16, blank=True)
    # The key check value custodians compare (crypto.check_value); filled by rotation for rows
    # stored before it was kept.
    check_value = models.CharField(max_length=6, blank=True)
    # The HSM object's check (gridvend.keys.hsm.hsm_check_value), written by `gridvend keys
    # hsm-load`; the HSM engine compares the object under the key reference with it before the
    # object's first use in a process. Empty: not loaded into an HSM since it was kept.
    hsm_check_value = models.CharField(max_length=6, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key_ref"]

    def __str__(self) -> str:
        return f"vending key {self.key_ref} ({self.fingerprint})"

    def __repr__(self) -> str:
        return f"<VendingKeyRecord {self.key_ref} fingerprint={self.fingerprint}>"
