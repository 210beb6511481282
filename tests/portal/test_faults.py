"""Fault reports from the portal: a customer reports a fault on their meter (prefilled from a
purchase), staff follow it up in the back office, and the customer reads its status and the
notes meant for them and is told of each change; once per form, a few an hour, hostile input
refused with nothing written."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.jobs.models import OutboxMessage
from gridvend.kernel.errors import DomainError
from gridvend.logins import faults as portal_faults
from gridvend.logins.models import CustomerLogin, PortalFault, PortalPurchase
from gridvend.meters import faults
from gridvend.meters.models import FaultNote, FaultReport, FaultStatus, Meter
from tests import factories
from tests.portal.conftest import Portal
from tests.signin import signed_in
from tests.world import snapshot

pytestmark = pytest.mark.django_db

REPORT = re.compile(r"/portal/faults/(\d+)/$")


def _form(for_meter: Meter, **extra: Any) -> dict[str, Any]:
    return {
        "meter": for_meter.number,
        "kind": "no_supply",
        "description": "No power since the storm last night.\nThe neighbours have power.",
        "phone": "",
        "request_id": "fault-form-0001",
        **extra,
    }


def _report(client: Client, meter: Meter, **extra: Any) -> PortalFault:
    answer = client.post("/portal/faults/new/", _form(meter, **extra))
    assert answer.status_code == 302, answer.content.decode()[:3000]
    found = REPORT.search(answer["Location"])
    assert found is not None, answer["Location"]
    return PortalFault.objects.get(fault_id=int(found.group(1)))


def _purchase(portal: Portal, client: Client, meter: Meter) -> PortalPurchase:
    client.post(
        "/portal/buy/pay/",
        {
            "meter": meter.number,
            "amount": "300",
            "phone": "0712 345 126",
            "method": "mobile_money",
            "request_id": f"fault-buy-{meter.pk}-0001",
        },
    )
    portal.paybill.deliver_held()
    bought = PortalPurchase.objects.get(meter=meter)
    assert bought.push.payment is not None and bought.push.payment.sale is not None
    return bought


def _messages(fault: FaultReport) -> list[OutboxMessage]:
    return list(
        OutboxMessage.objects.filter(key__startswith=f"sms:fault:{fault.pk}:").order_by("id")
    )


def _agent(portal: Portal) -> User:
    return factories.user(portal.paybill.world.unit, Role.OPERATOR, (Capability.FIELD_AGENT,))


def test_a_customer_reports_a_fault_and_reads_its_progress(portal: Portal) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    page = amina.get("/portal/faults/new/").content.decode()
    assert portal.meter.number in page and 'name="description"' in page
    report = _report(amina, portal.meter)
    fault = report.fault
    assert fault.meter == portal.meter and fault.reported_via == "portal"
    assert fault.registered_by is None and fault.status == FaultStatus.OPEN
    # No phone typed: the one on the login (proved by its code) is where news goes.
    assert fault.reporter_phone == "+254712345126"
    assert AuditEvent.objects.filter(event_type="fault.reported", target_id=str(fault.pk)).exists()
    assert AuditEvent.objects.filter(event_type="portal_fault.reported").exists()
    assert [m.payload["to"] for m in _messages(fault)] == ["+254712345126"]

    staff = portal.paybill.world.supervisor
    agent = _agent(portal)
    faults.change_fault_status(actor=staff, fault=fault, status=FaultStatus.ACKNOWLEDGED)
    faults.add_fault_note(
        actor=staff, fault=fault, text="Crew checks the pole transformer.", is_public=True
    )
    faults.add_fault_note(actor=staff, fault=fault, text="Suspect theft of cable.", is_public=False)
    faults.assign_fault(actor=staff, fault=fault, assignee=agent)
    faults.change_fault_status(actor=agent, fault=fault, status=FaultStatus.IN_PROGRESS)

    page = amina.get(f"/portal/faults/{report.fault_id}/").content.decode()
    assert "In progress" in page
    assert "Crew checks the pole transformer." in page
    assert "Suspect theft of cable." not in page
    listed = amina.get("/portal/faults/").content.decode()
    assert f"/portal/faults/{report.fault_id}/" in listed
    # One message a step (reported, acknowledged, the public note, assigned, in progress).
    texts = [m.payload["text"] for m in _messages(fault)]
    assert len(texts) == 5
    assert "In progress" in texts[-1]
    assert any("pole transformer" in t for t in texts)
    assert not any("theft" in t for t in texts)


def test_the_status_message_goes_in_the_customers_language_and_by_email_without_a_phone(
    portal: Portal,
) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    amina.post("/portal/language/", {"language": "ar", "next": "/portal/"})
    CustomerLogin.objects.filter(username="amina").update(phone="", email="amina@example.org")
    report = _report(amina, portal.meter)
    fault = report.fault
    assert fault.reporter_phone == "" and fault.reporter_email == "amina@example.org"
    faults.change_fault_status(
        actor=portal.paybill.world.supervisor, fault=fault, status=FaultStatus.REJECTED
    )
    mails = OutboxMessage.objects.filter(key__startswith=f"email:fault:{fault.pk}:").order_by("id")
    assert [m.payload["to"] for m in mails] == [["amina@example.org"]] * 2
    assert all("بلاغ العطل" in m.payload["text"] for m in mails)


def test_a_second_submit_of_the_same_form_answers_the_first_report(portal: Portal) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    first = _report(amina, portal.meter)
    again = _report(amina, portal.meter)
    assert again.pk == first.pk and FaultReport.objects.count() == 1


def test_reports_past_the_hours_share_are_refused_and_write_nothing(
    portal: Portal, settings: Any
) -> None:
    settings.PORTAL_FAULTS_PER_HOUR = 2
    amina = portal.sign_up(portal.meter, "amina")
    _report(amina, portal.meter, request_id="fault-form-0001")
    _report(amina, portal.meter, request_id="fault-form-0002")
    before = snapshot()
    answer = amina.post("/portal/faults/new/", _form(portal.meter, request_id="fault-form-0003"))
    assert answer.status_code == 400
    assert "several fault reports in the last hour" in answer.content.decode()
    assert snapshot() == before


def test_the_rejected_token_link_prefills_the_meter_the_purchase_and_the_kind(
    portal: Portal,
) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    sale = _purchase(portal, amina, portal.meter).push.payment.sale  # type: ignore[union-attr]
    assert sale is not None
    page = amina.get(
        f"/portal/faults/new/?meter={portal.meter.pk}&purchase={sale.pk}"
    ).content.decode()
    assert 'id="about-purchase"' in page and sale.reference in page
    assert re.search(r'value="token_rejected"[^>]*checked', page)
    assert f'name="purchase" value="{sale.pk}"' in page
    report = _report(amina, portal.meter, kind="token_rejected", purchase=str(sale.pk))
    assert report.sale == sale and report.fault.category == "token_rejected"
    staff = signed_in(portal.paybill.world.supervisor)
    detail = staff.get(f"/supervisor/faults/{report.fault.pk}/").content.decode()
    assert 'id="portal-report"' in detail and sale.reference in detail


HOSTILE = [
    ("description", "x" * 2001),
    ("description", "   "),
    ("description", "power off \u202e now"),
    ("description", "nul \x00 byte"),
    ("kind", "keypad_fault; drop table"),
    ("kind", ""),
    ("phone", "call me maybe"),
    ("phone", "9" * 30),
    ("meter", "04000000000"),
    ("purchase", "-1"),
    ("purchase", "9" * 40),
    ("purchase", "999999"),
    ("request_id", "short"),
    ("request_id", "x" * 41),
]


def test_hostile_fault_forms_are_refused_and_write_nothing(portal: Portal) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    before = snapshot()
    for field, value in HOSTILE:
        answer = amina.post("/portal/faults/new/", _form(portal.meter, **{field: value}))
        assert answer.status_code == 400, (field, value)
        assert 'role="alert"' in answer.content.decode(), (field, value)
    assert snapshot() == before
    for query in ("meter=abc", "meter=" + "9" * 30, "purchase=x", "purchase=" + "9" * 40):
        assert amina.get(f"/portal/faults/new/?{query}").status_code == 404, query
    assert amina.get("/portal/faults/new/?kind=zap").status_code == 404


def test_the_status_flow_refuses_steps_it_does_not_allow(portal: Portal) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    fault = _report(amina, portal.meter).fault
    staff = portal.paybill.world.supervisor

    def refused(status: str) -> None:
        before = snapshot()
        with pytest.raises(DomainError) as err:
            faults.change_fault_status(actor=staff, fault=fault, status=status)
        assert err.value.code == "FAULT_TRANSITION_INVALID"
        assert snapshot() == before

    refused(FaultStatus.IN_PROGRESS)  # nobody is assigned
    refused(FaultStatus.CLOSED)  # not resolved
    refused("resolved")  # resolution has its own step, with the solution
    refused("open")
    faults.change_fault_status(actor=staff, fault=fault, status=FaultStatus.DUPLICATE)
    # The same click twice changes nothing more.
    events = AuditEvent.objects.count()
    faults.change_fault_status(actor=staff, fault=fault, status=FaultStatus.DUPLICATE)
    assert AuditEvent.objects.count() == events
    refused(FaultStatus.ACKNOWLEDGED)
    with pytest.raises(DomainError) as err:
        faults.assign_fault(actor=staff, fault=fault, assignee=_agent(portal))
    assert err.value.code == "FAULT_STATE_INVALID"


def test_a_resolved_fault_is_closed_and_the_customer_reads_the_solution_time(
    portal: Portal,
) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    report = _report(amina, portal.meter)
    staff = portal.paybill.world.supervisor
    agent = _agent(portal)
    faults.assign_fault(actor=staff, fault=report.fault, assignee=agent)
    faults.change_fault_status(actor=agent, fault=report.fault, status=FaultStatus.IN_PROGRESS)
    faults.resolve_fault(actor=agent, fault=report.fault, solution="Replaced the service fuse.")
    faults.change_fault_status(actor=staff, fault=report.fault, status=FaultStatus.CLOSED)
    page = amina.get(f"/portal/faults/{report.fault_id}/").content.decode()
    assert "Closed" in page and "Resolved" in page
    # The solution is the engineer's record; the customer reads the notes meant for them.
    assert "service fuse" not in page


def test_notes_are_bounded_and_only_staff_who_follow_faults_write_them(portal: Portal) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    fault = _report(amina, portal.meter).fault
    staff = portal.paybill.world.supervisor
    for text in ("", "  ", "y" * 2001, "a\u202eb"):
        with pytest.raises(DomainError):
            faults.add_fault_note(actor=staff, fault=fault, text=text, is_public=True)
    auditor = factories.user(portal.paybill.world.unit, Role.OPERATOR, (Capability.AUDITOR,))
    with pytest.raises(DomainError):
        faults.add_fault_note(actor=auditor, fault=fault, text="hello", is_public=True)
    assert not FaultNote.objects.exists()


def test_a_report_for_a_meter_no_longer_the_customers_is_hidden(portal: Portal) -> None:
    amina = portal.sign_up(portal.meter, "amina")
    report = _report(amina, portal.meter)
    login = CustomerLogin.objects.get(username="amina")
    assert portal_faults.get_portal_fault(login, report.fault_id) == report
    # The meter moves to another customer: her link shows nothing, and nor does the report.
    Meter.objects.filter(pk=portal.meter.pk).update(customer=portal.other.customer)
    assert amina.get(f"/portal/faults/{report.fault_id}/").status_code == 404
    assert f"/portal/faults/{report.fault_id}/" not in amina.get("/portal/faults/").content.decode()
