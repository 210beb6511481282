"""The utility's organisation tree (materialised path) and the vending points hanging under it."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from gridvend.audit.changes import AuditedFields

PATH_SEGMENT_WIDTH = 8  # hex digits per level: 4 billion units, fixed width keeps paths sortable


class OrgLevel(models.Model):
    """The utility's own name for each depth of the tree (0 = data centre)."""

    depth = models.PositiveSmallIntegerField(unique=True)
    name = models.CharField(max_length=80)
    code = models.SlugField(max_length=20, unique=True)

    class Meta:
        ordering = ["depth"]

    def __str__(self) -> str:
        return self.name


class OrgUnit(models.Model):
    name = models.CharField(max_length=120)
    code = models.SlugField(max_length=40, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    depth = models.PositiveSmallIntegerField(default=0)
    # Materialised path of hex ids ("0000000a/0000002f/"): a subtree is one indexed prefix scan.
    path = models.CharField(max_length=255, unique=True)
    is_active = models.BooleanField(default=True)
    # TID lanes of the meters here (kernel.tokens.allocate_tids): 1 until an offline station
    # serves the unit, then gridvend.stations.models.TID_LANES (lane 0 the master's, one lane per
    # station), so tokens made apart during an outage never share a TID.
    tid_lanes = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"], name="org_unit_unique_name_under_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_org_path(self) -> str:
        return self.path

    def is_within(self, ancestor: OrgUnit) -> bool:
        return self.path.startswith(ancestor.path)


class Channel(models.TextChoices):
    PAY_OFFICE = "pay_office", _("Pay office")
    AGENT = "agent", _("Agent")
    BANK = "bank", _("Bank")
    ATM = "atm", _("ATM")
    HANDHELD = "handheld", _("Handheld terminal")
    USSD = "ussd", _("USSD")
    MOBILE_MONEY = "mobile_money", _("Mobile money")
    WEB = "web", _("Web")
    OFFLINE_STATION = "offline_station", _("Offline station")


class VendingPointStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    CLOSED = "closed", _("Closed")


class VendingPoint(models.Model):
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="vending_points")
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    status = models.CharField(
        max_length=12, choices=VendingPointStatus.choices, default=VendingPointStatus.ACTIVE
    )
    address = models.CharField(max_length=255, blank=True)
    # Comma-separated addresses or networks (CIDR); empty means any address may sell here.
    ip_allow_list = models.TextField(blank=True)
    # Prefunded points (banks, agents, aggregators) sell against a float and stop at zero.
    uses_float = models.BooleanField(default=False)
    # The ledger account of that float, when it is not the point's own (``float:<code>``): the
    # points of one partner sell from the partner's one float.
    float_account = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    audited_fields: ClassVar[AuditedFields] = (
        "code",
        "name",
        "channel",
        "status",
        "org_unit",
        "ip_allow_list",
        "address",
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path
