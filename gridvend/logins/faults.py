"""A customer's fault reports from the portal: sent for one of the login's own meters (and, if
about a purchase, one of that meter's purchases for the same customer), once per report form,
at most GRIDVEND_PORTAL_FAULTS_PER_HOUR an hour per login; the utility follows each up as any
other fault (gridvend.meters.faults), and the customer reads its status and the notes meant for
them."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from gridvend.audit.services import record
from gridvend.identity.errors import NotFound
from gridvend.kernel.errors import DuplicateRequest
from gridvend.logins import selectors
from gridvend.logins.errors import TooManyFaults
from gridvend.logins.events import LoginEvent
from gridvend.logins.locks import lock_login
from gridvend.logins.models import CustomerLogin, PortalFault
from gridvend.logins.services import _request_id
from gridvend.meters import faults
from gridvend.meters.models import FaultNote
from gridvend.vending.models import Sale

# How many of a login's reports the list shows.
LISTED_FAULTS = 50


def purchase_of(login: CustomerLogin, meter_number: str, sale_id: object) -> Sale:
    """One purchase of the login's meter, made for the customer the meter was proved for;
    NotFound for anything else (another customer's purchase looks like no purchase)."""
    link = selectors.get_linked_meter(login, meter_number)
    text = str(sale_id or "")[:19]
    if not (text.isascii() and text.isdigit()):
        raise NotFound()
    found = Sale.objects.filter(pk=int(text), meter_id=link.meter_id, customer_id=link.customer_id)
    sale = found.first()
    if sale is None:
        raise NotFound()
    return sale


def report_portal_fault(
    *,
    login: CustomerLogin,
    meter_number: str,
    category: str,
    description: object,
    phone: object = "",
    sale_id: object = None,
    request_id: object,
) -> PortalFault:
    """Send a fault report for one of the login's meters. The same request id answers the
    report it made (a second tap of the button, a reload); one with a different meter or
    text is refused as a duplicate request."""
    request = _request_id(request_id)
    link = selectors.get_linked_meter(login, meter_number)
    sale = purchase_of(login, meter_number, sale_id) if sale_id not in (None, "") else None
    try:
        with transaction.atomic(durable=True):
            # The login's row serialises its reports: the hour's count cannot be raced past.
            current = lock_login(login.pk)
            earlier = PortalFault.objects.filter(login=current, request_id=request).first()
            if earlier is not None:
                return _same(earlier, link.meter_id, sale)
            since = timezone.now() - timedelta(hours=1)
            recent = PortalFault.objects.filter(login=current, created_at__gte=since).count()
            if recent >= settings.PORTAL_FAULTS_PER_HOUR:
                raise TooManyFaults()
            fault = faults.report_customer_fault(
                meter=link.meter,
                category=category,
                description=description,
                phone=phone or current.phone,
                email=current.email,
                language=current.language,
            )
            report = PortalFault.objects.create(
                login=current, fault=fault, sale=sale, request_id=request
            )
            record(
                actor=None,
                event_type=LoginEvent.FAULT_REPORTED,
                target=current,
                after={"fault": fault.pk, "sale": sale.pk if sale else None, "request": request},
            )
            return report
    except IntegrityError:
        # A simultaneous submit of the same form won the unique constraint: answer its report.
        earlier = PortalFault.objects.filter(login=login, request_id=request).first()
        if earlier is None:
            raise
        return _same(earlier, link.meter_id, sale)


def _same(earlier: PortalFault, meter_id: int, sale: Sale | None) -> PortalFault:
    if earlier.fault.meter_id != meter_id or earlier.sale_id != (sale.pk if sale else None):
        raise DuplicateRequest(reference=earlier.request_id)
    return earlier


def list_portal_faults(login: CustomerLogin) -> QuerySet[PortalFault]:
    """The login's reports, newest first, on meters that are still the customer's."""
    mine = [link.meter_id for link in selectors.linked_meters(login)]
    return (
        PortalFault.objects.filter(login=login, fault__meter_id__in=mine)
        .select_related("fault", "fault__meter", "sale")
        .order_by("-created_at", "-id")[:LISTED_FAULTS]
    )


def get_portal_fault(login: CustomerLogin, number: int) -> PortalFault:
    """One of the login's reports by the fault's number (the one its pages and the SMS quote),
    on a meter still the customer's; NotFound otherwise (another customer's fault too)."""
    mine = [link.meter_id for link in selectors.linked_meters(login)]
    found = (
        PortalFault.objects.filter(login=login, fault_id=number, fault__meter_id__in=mine)
        .select_related("fault", "fault__meter", "sale")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def public_notes(report: PortalFault) -> list[FaultNote]:
    """The engineers' notes meant for the customer; internal notes never leave the back office."""
    return list(report.fault.notes.filter(is_public=True).order_by("created_at", "id"))
