"""Stations, their allowances, journals and conflicts (docs/stations.md).

Master side (also kept by a business-unit relay for the stations under it): ``Station``,
``StationAllowance``, ``StationBatch``, ``StationEntry``, ``StationConflict`` and the master's own
signing key ``StationSigningKey``. Station side: ``LocalStation`` (one row: who this install is),
``LocalAllowance`` and ``LocalEntry`` (the station's own journal).

Wire formats (canonical JSON, hashes, signatures) are in ``gridvend.stations.protocol``; the TID
lanes that keep offline tokens unique per meter in ``gridvend.kernel.tokens``.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridvend.audit.changes import AuditedFields
from gridvend.identity.models import User
from gridvend.org.models import OrgUnit, VendingPoint

# TIDs of a meter served by stations are split into this many lanes (tid % lanes): lane 0 is the
# master's, lanes 1.. are the stations' of that organisation unit (one lane each).
TID_LANES = 16


class StationStatus(models.TextChoices):
    # Registered on the master, waiting for `gridvend station init` with its one-time code.
    PENDING = "pending", _("Waiting for enrolment")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    REVOKED = "revoked", _("Revoked")


class StationRole(models.TextChoices):
    # Sells at one vending point.
    STATION = "station", _("Vending station")
    # A business unit's server: collects the journals of the stations under it and forwards them.
    RELAY = "relay", _("Business-unit relay")


class Station(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    role = models.CharField(max_length=8, choices=StationRole.choices, default=StationRole.STATION)
    # The organisation unit it serves: its meters are the station's, its people may manage it.
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="stations")
    # The vending point it sells as (a station's only; a relay sells nothing).
    vending_point = models.OneToOneField(
        VendingPoint, null=True, blank=True, on_delete=models.PROTECT, related_name="station"
    )
    # The relay it reaches the master through, if any (station -> business unit -> data centre).
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # Its TID lane (1..TID_LANES-1), unique among the live stations of its organisation unit.
    tid_lane = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=StationStatus.choices, default=StationStatus.PENDING
    )
    status_reason = models.CharField(max_length=255, blank=True)
    # sha256 of the one-time enrolment code (high-entropy, so a fast hash suffices), until used.
    enrol_code_hash = models.CharField(max_length=64, blank=True)
    enrol_code_expires_at = models.DateTimeField(null=True, blank=True)
    # Wrong enrolment codes tried since the last code was issued: at ENROL_ATTEMPTS the
    # enrolment locks until a new code is issued.
    enrol_failures = models.PositiveSmallIntegerField(default=0)
    # What the station said it runs, at enrolment.
    app_version = models.CharField(max_length=40, blank=True)
    # The station's Ed25519 public key (32 bytes, hex), set at enrolment.
    public_key = models.CharField(max_length=64, blank=True)
    enrolled_at = models.DateTimeField(null=True, blank=True)
    # How many times the station enrolled (a relay enrolled again after its disk was lost gets
    # a new key): the sequence of the master's relay key statement (``protocol.RelayKey``).
    key_sequence = models.PositiveIntegerField(default=0)
    last_contact_at = models.DateTimeField(null=True, blank=True)
    last_upload_at = models.DateTimeField(null=True, blank=True)
    # The journal as far as verified and applied: the last entry's sequence number and hash.
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True)
    # The oldest entry the station said it had not uploaded yet, at its last contact.
    unsynced_since = models.DateTimeField(null=True, blank=True)
    # The tender of every sale of its journal applied so far, as the master counts it (each
    # sale entry's cumulative total is checked against it: docs/stations.md, "Conflicts").
    sold_total_minor = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    audited_fields: ClassVar[AuditedFields] = ("code", "name", "status", "org_unit", "parent")

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["org_unit", "tid_lane"],
                condition=models.Q(tid_lane__isnull=False) & ~models.Q(status="revoked"),
                name="station_tid_lane_once_per_unit",
            ),
        ]

    def __str__(self) -> str:
        return f"station {self.code}"

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path


class StationAllowance(models.Model):
    """A signed credit allowance: the station may sell offline until the sum of everything it
    ever sold offline reaches ``ceiling_minor``, and not after ``valid_until``. A top-up is a new
    allowance with the next sequence number and a higher ceiling; an older one is never honoured
    again (the station keeps the highest sequence it accepted)."""

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="allowances")
    sequence = models.PositiveIntegerField()
    ceiling_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    # The canonical JSON the master signed and its Ed25519 signature (hex), as sent.
    payload = models.TextField()
    signature = models.CharField(max_length=128)
    # The manager who issued it (always set on the master; empty on a relay, which pulls the
    # allowances of its stations without the people who issued them).
    issued_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["station", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["station", "sequence"], name="allowance_once"),
            models.CheckConstraint(
                condition=models.Q(ceiling_minor__gte=0), name="allowance_ceiling_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"allowance {self.station_id}#{self.sequence}"


class BatchStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    REJECTED = "rejected", _("Rejected")
    # On a business-unit relay: verified and kept, to be forwarded up (``forwarded_at``).
    STORED = "stored", _("Stored for forwarding")


class StationBatch(models.Model):
    """One upload of journal entries. ``(station, batch_id)`` is unique: a batch sent again is
    answered with the first answer and applied once."""

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="batches")
    batch_id = models.CharField(max_length=64)
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    entry_count = models.PositiveIntegerField()
    body_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=BatchStatus.choices)
    # Why it was rejected (a stable code and the first entry at fault).
    reason_code = models.CharField(max_length=40, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    # The relay that forwarded it, when it did not come from the station itself.
    via = models.ForeignKey(
        Station, null=True, blank=True, on_delete=models.PROTECT, related_name="forwarded"
    )
    received_at = models.DateTimeField(default=timezone.now)
    # On a relay: when the next hop acknowledged it (until then the relay keeps sending it).
    forwarded_at = models.DateTimeField(null=True, blank=True)
    # What the batch was answered (an applied batch's answer, or a rejection's error): the
    # same batch sent again gets exactly this back.
    answer = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["station", "first_seq"]
        constraints = [
            models.UniqueConstraint(fields=["station", "batch_id"], name="station_batch_once"),
        ]

    def __str__(self) -> str:
        return f"batch {self.batch_id} of station {self.station_id}"


class StationEntry(models.Model):
    """A journal entry as the station signed it. ``body`` is the exact canonical JSON text (the
    hash is over it), kept so that anyone can verify the chain again later."""

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="entries")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=20)
    occurred_at = models.DateTimeField()
    body = models.TextField()
    entry_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)
    batch = models.ForeignKey(StationBatch, on_delete=models.PROTECT, related_name="entries")
    # The central sale this entry became (sale entries, once applied on the master).
    sale = models.OneToOneField(
        "vending.Sale",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="station_entry",
    )
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["station", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["station", "seq"], name="station_entry_once"),
        ]

    def __str__(self) -> str:
        return f"entry {self.station_id}#{self.seq}"


class ConflictKind(models.TextChoices):
    METER_BLOCKED = "meter_blocked", _("Meter blocked meanwhile")
    METER_RETIRED = "meter_retired", _("Meter retired or moved meanwhile")
    TARIFF_CHANGED = "tariff_changed", _("Tariff changed meanwhile")
    DEBT_CHANGED = "debt_changed", _("Debt changed meanwhile")
    KEY_CHANGED = "key_changed", _("Meter key changed meanwhile")
    TID_CLASH = "tid_clash", _("Token identifier already used")
    ALLOWANCE_EXCEEDED = "allowance_exceeded", _("Sold beyond the allowance")
    MONTH_TOTALS_CHANGED = "month_totals_changed", _("Month's purchases changed meanwhile")


class ConflictStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class StationConflict(models.Model):
    """Something the master found when applying a station's sale. The sale is applied all the
    same (the customer paid and has the token); a supervisor reviews and resolves the conflict."""

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="conflicts")
    entry = models.ForeignKey(StationEntry, on_delete=models.PROTECT, related_name="conflicts")
    sale = models.ForeignKey(
        "vending.Sale", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=ConflictKind.choices)
    detail = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=ConflictStatus.choices, default=ConflictStatus.OPEN
    )
    created_at = models.DateTimeField(default=timezone.now)
    resolved_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "kind"], name="station_conflict_once"),
        ]

    def __str__(self) -> str:
        return f"conflict {self.kind} on {self.entry_id}"


class StationSigningKey(models.Model):
    """The master's (or a relay's) own Ed25519 key: it signs allowances and sync answers. The
    private half is sealed under the master key (``keys.crypto.seal``, key_ref
    ``station-signing``)."""

    public_key = models.CharField(max_length=64, unique=True)
    nonce = models.BinaryField(max_length=16)
    ciphertext = models.BinaryField(max_length=64)
    tag = models.BinaryField(max_length=16)
    master_key_id = models.CharField(max_length=16, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"station signing key {self.public_key[:16]}"


class SyncChange(models.Model):
    """The master's change log for down-sync: one row per insert, update or delete of a row a
    station may hold (``gridvend.stations.changes.SYNCED``), written by database triggers
    (``gridvend.stations.changelog``), so that bulk and raw updates are caught as well as
    ``save()``. It names the row, not its values: a station is sent the row's state at the time
    it asks. ``seq`` is the cursor; it is given to rows only once they are committed
    (``changelog.assign_sequence``), so a station that has read up to ``seq`` never misses a row
    committed later with a smaller number."""

    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    model = models.CharField(max_length=40)
    object_id = models.BigIntegerField()
    # The organisation path the row belonged to when it changed ("" for global rows); a row that
    # moved is logged under its old path too, so the station that loses it hears of it.
    path = models.CharField(max_length=255, blank=True)
    deleted = models.BooleanField(default=False)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(
                fields=["id"],
                name="sync_change_unsequenced",
                condition=models.Q(seq__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"change {self.seq} {self.model}#{self.object_id}"


# --- Station side --------------------------------------------------------------------------


class LocalStation(models.Model):
    """Who this install is, when it is a station or a relay (one row, pk 1). Its presence puts
    the install in station mode."""

    code = models.SlugField(max_length=40)
    role = models.CharField(max_length=8, choices=StationRole.choices, default=StationRole.STATION)
    master_url = models.URLField(max_length=255)
    # The station's Ed25519 private key (32-byte seed), sealed under this install's master key
    # (key_ref ``station:<code>``).
    nonce = models.BinaryField(max_length=16)
    ciphertext = models.BinaryField(max_length=64)
    tag = models.BinaryField(max_length=16)
    master_key_id = models.CharField(max_length=16, blank=True)
    public_key = models.CharField(max_length=64)
    # The data centre master's public key: it signs allowances.
    master_public_key = models.CharField(max_length=64)
    # The key that signs the answers of ``master_url``: the master's own, or the business-unit
    # relay's when the station reaches the master through one.
    upstream_public_key = models.CharField(max_length=64)
    # Under a relay: the relay's code and the sequence of the master's statement of its key
    # (``protocol.RelayKey``); a newer statement for the same relay moves the key on.
    upstream_code = models.CharField(max_length=40, blank=True)
    upstream_key_sequence = models.PositiveIntegerField(default=0)
    # On a relay: the master's statement of this relay's key (canonical JSON of {payload,
    # signature}), sent with every answer to the stations below (header ``X-Relay-Key``).
    key_statement = models.TextField(blank=True)
    # The master's ids (rows pulled by down-sync keep the master's primary keys).
    org_unit_id_on_master = models.BigIntegerField()
    vending_point_id_on_master = models.BigIntegerField(null=True, blank=True)
    tid_lane = models.PositiveSmallIntegerField(null=True, blank=True)
    # Down-sync: the master's change cursor this station has everything up to.
    sync_cursor = models.BigIntegerField(default=0)
    # While the first pull (the snapshot, cursor 0) is paged: where the next page starts
    # (``gridvend.stations.changes.SnapshotPosition``); empty otherwise.
    sync_snapshot = models.CharField(max_length=80, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_upload_at = models.DateTimeField(null=True, blank=True)
    last_contact_at = models.DateTimeField(null=True, blank=True)
    # As the master last said: active, suspended or revoked (a suspended or revoked station
    # stops selling).
    status = models.CharField(
        max_length=10, choices=StationStatus.choices, default=StationStatus.ACTIVE
    )
    # Back-off of the link: failures in a row and when to try again.
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The cumulative tender of every sale entry in the journal (the allowance is a ceiling on
    # it), kept beside the journal under this row's lock.
    sold_total_minor = models.BigIntegerField(default=0)
    # The master's last refusal of an upload (its stable code and message), kept for the
    # operator until an upload goes through.
    upload_refusal_code = models.CharField(max_length=60, blank=True)
    upload_refusal = models.CharField(max_length=500, blank=True)
    # Why the last cycle failed (a link down), for `gridvend station status`.
    last_failure = models.CharField(max_length=255, blank=True)
    # On a relay: station code -> the last journal entry the master had applied for it, as the
    # master said with the page that ended this relay's last finished pull (every row the relay
    # holds counts those entries' sales). Told to the stations below with their pages, so they
    # net off their debt recoveries until the master has applied them (docs/stations.md).
    applied_seqs = models.JSONField(default=dict, blank=True)
    # On a selling station: the highest ``applied_seq`` a changes page said (its journal as far
    # as the master applied it; never moves back). An upstream's status below it rewinds the
    # upload only to here (``upload.rewind``).
    applied_seq = models.BigIntegerField(default=0)
    # The position the last audited rewind went back to: the same rewind again is not audited
    # again (an upstream that says it every cycle fills the log, not the audit trail).
    rewound_to = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"this station ({self.code})"


class LocalAllowance(models.Model):
    """An allowance this station accepted (signature and station checked on arrival)."""

    sequence = models.PositiveIntegerField(unique=True)
    ceiling_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    payload = models.TextField()
    signature = models.CharField(max_length=128)
    received_at = models.DateTimeField(default=timezone.now)
    # The journal's last seq when it was accepted (null: accepted before this was kept). The
    # station's clock is judged only against entries journalled since: a fresh allowance from
    # the master puts right a journal dated ahead by a clock that was wrong.
    journal_seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-sequence"]

    def __str__(self) -> str:
        return f"allowance #{self.sequence}"


class LocalEntry(models.Model):
    """This station's journal: append-only, each entry's body names the previous entry's hash
    and is signed with the station's key. ``uploaded_at`` is set when the master (or the relay)
    acknowledged the batch that carried it."""

    seq = models.BigIntegerField(unique=True)
    kind = models.CharField(max_length=20)
    occurred_at = models.DateTimeField()
    body = models.TextField()
    entry_hash = models.CharField(max_length=64, unique=True)
    signature = models.CharField(max_length=128)
    # The local sale it records (sale entries).
    sale = models.OneToOneField(
        "vending.Sale", null=True, blank=True, on_delete=models.PROTECT, related_name="local_entry"
    )
    batch_id = models.CharField(max_length=64, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"journal entry #{self.seq}"


class StationShift(models.Model):
    """A cashier shift a station opened offline and the master's shift it became (the station's
    shift ids are its own; its journal names them)."""

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="shifts")
    station_shift = models.BigIntegerField()
    shift = models.OneToOneField(
        "vending.Shift", on_delete=models.PROTECT, related_name="station_shift"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["station", "station_shift"], name="station_shift_once"),
        ]

    def __str__(self) -> str:
        return f"station {self.station_id} shift {self.station_shift}"
