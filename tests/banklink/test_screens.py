"""The bank link's back-office screens: the raw message as hex and as GBK text for an auditor
only, a bank's day uploaded and its discrepancy resolved and closed by finance, the status."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from gridvend.banklink.models import Direction, Reconciliation, ReconciliationStatus
from gridvend.banklink.services import links
from gridvend.identity.roles import Capability, Role
from gridvend.ledger.services import today
from tests import factories
from tests.banklink.conftest import Bank
from tests.signin import signed_in

pytestmark = pytest.mark.django_db


def test_an_auditor_reads_a_raw_message_as_hex_and_as_gbk_text_and_finance_cannot(
    bank: Bank,
) -> None:
    session = links.open_session(link=bank.link, peer_host="10.1.2.3", peer_port=5000, is_tls=False)
    message = links.store_message(
        session=session, direction=Direction.IN, content=b"0004" + "电费".encode("gbk")
    )
    root = bank.scene.world.tree.root
    auditor = factories.user(root, Role.OPERATOR, (Capability.AUDITOR,))
    listed = signed_in(auditor).get("/bank-links/messages/?direction=in")
    assert listed.status_code == 200 and "10.1.2.3" in listed.content.decode()
    page = signed_in(auditor).get(f"/bank-links/messages/{message.pk}/").content.decode()
    assert "30 30 30 34 b5 e7 b7 d1" in page and "0004电费" in page
    assert signed_in(bank.finance).get(f"/bank-links/messages/{message.pk}/").status_code == 403
    bad = signed_in(auditor).get("/bank-links/messages/?day_from=2026-13-45")
    assert bad.status_code == 400


def test_finance_uploads_a_day_resolves_its_discrepancy_and_closes_it(bank: Bank) -> None:
    client = signed_in(bank.finance)
    upload = SimpleUploadedFile(
        "day.csv", f"bank_serial,account_number,amount_minor\nX1,{bank.account},300\n".encode()
    )
    answer = client.post(
        "/bank-links/reconciliations/",
        {"link": bank.link.pk, "bank_date": today().isoformat(), "file": upload},
    )
    recon = Reconciliation.objects.get()
    assert answer.status_code == 302 and answer["Location"].endswith(f"/{recon.pk}/")
    line = recon.lines.get()
    refused = client.post(f"/bank-links/reconciliations/{recon.pk}/")
    assert refused.status_code == 400
    resolved = client.post(
        f"/bank-links/discrepancies/{line.pk}/resolve/", {"reason": "the bank's test payment"}
    )
    assert resolved.status_code == 302
    assert client.post(f"/bank-links/reconciliations/{recon.pk}/").status_code == 302
    recon.refresh_from_db()
    assert recon.status == ReconciliationStatus.CLOSED
    status = client.get("/bank-links/").content.decode()
    assert bank.link.agency_id in status
