"""The demo's two partners (a bank and a mobile-money aggregator), each with a funded float and
an API key that the demo prints, so that an integrator can sell through the API at once.

A key is shown once and gridvend keeps only its digest, so the demo keeps the keys it issued in
a file of its own (``var/demo-partner-keys.json``, readable by its owner only) and prints them
again on the next run; a key that no longer authenticates (revoked, expired) is replaced.
Nothing like this exists outside the demo.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from gridvend.banklink.models import BankLink
from gridvend.banklink.services import links as bank_links
from gridvend.identity.models import User
from gridvend.kernel.money import Money
from gridvend.org.models import OrgUnit
from gridvend.partners import credentials
from gridvend.partners import services as partners
from gridvend.partners.models import Partner, PartnerKey
from gridvend.vending import services as vending

# The demo bank's fixed-format link (docs/bank-link.md), served by `gridvend banklink serve`.
DEMO_BANK_LINK = bank_links.LinkSettings(agency_id="DEMOBANK01", port=9100, charset="gbk")

# code, name, kind, channel of its point, float (major units), credit line (major units)
PARTNERS = (
    ("demo-bank", "Demo Commercial Bank", "bank", "bank", "500000", "100000"),
    ("demo-mobile-money", "Demo Mobile Money", "aggregator", "ussd", "250000", "0"),
)


@dataclass(frozen=True)
class DemoPartner:
    code: str
    name: str
    key: str
    signing_secret: str


def _keys_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-partner-keys.json"


def _stored() -> dict[str, dict[str, str]]:
    try:
        data = json.loads(_keys_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(keys: dict[str, dict[str, str]]) -> None:
    path = _keys_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys, indent=2))
    os.chmod(path, 0o600)


def _works(partner: Partner, key: str) -> bool:
    """Whether ``key`` is one of the partner's keys that is in force, checked on its digest:
    nothing is counted against the key's rate or marked as a use."""
    from django.db.models import Q
    from django.utils import timezone

    return (
        PartnerKey.objects.filter(
            partner=partner, digest=credentials.key_digest(key), revoked_at__isnull=True
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .exists()
    )


def ensure_partners(admin: User, root: OrgUnit) -> list[DemoPartner]:
    """Both demo partners, funded, with a key that works now (made once, kept in var/)."""
    stored = _stored()
    made: list[DemoPartner] = []
    for code, name, kind, channel, float_major, credit_major in PARTNERS:
        partner = Partner.objects.filter(code=code).first()
        if partner is None:
            partner = partners.create_partner(
                actor=admin,
                code=code,
                name=name,
                kind=kind,
                org_unit=root,
                currency=settings.CURRENCY,
                credit_limit=Money.from_major(credit_major, settings.CURRENCY),
                low_float=Money.from_major("50000", settings.CURRENCY),
            )
            point = partners.add_partner_point(
                actor=admin, partner=partner, name=f"{name} online", channel=channel
            )
            vending.top_up_float(
                actor=admin,
                vending_point=point,
                amount=Money.from_major(float_major, settings.CURRENCY),
                reference=f"{code}-opening-deposit",
            )
        if kind == "bank" and not BankLink.objects.filter(partner=partner).exists():
            bank_links.configure_link(actor=admin, partner=partner, values=DEMO_BANK_LINK)
        entry = stored.get(code, {})
        if not entry.get("key") or not _works(partner, entry["key"]):
            issued = credentials.issue_key(actor=admin, partner=partner, label="demo")
            entry = {"key": issued.secret, "signing_secret": issued.signing_secret}
            stored[code] = entry
            _store(stored)
        made.append(DemoPartner(code, name, entry["key"], entry["signing_secret"]))
    return made
