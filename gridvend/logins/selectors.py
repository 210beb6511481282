"""Reads of a customer login: only its own meters (still installed for the customer they were
proved for), their purchases from every channel, and its own portal purchases. Anything else
answers NotFound, exactly as a thing that does not exist."""

from __future__ import annotations

from django.db.models import F, Q

from gridvend.identity.errors import NotFound
from gridvend.logins.models import CustomerLogin, LinkedMeter, PortalPurchase
from gridvend.vending.models import Sale, Token

RECENT_PURCHASES = 20


def linked_meters(login: CustomerLogin) -> list[LinkedMeter]:
    """The login's meters that still belong to the customer they were proved for."""
    return list(
        LinkedMeter.objects.filter(login=login, meter__customer_id=F("customer_id"))
        .select_related("meter", "customer")
        .order_by("linked_at", "id")
    )


def get_linked_meter(login: CustomerLogin, meter_number: str) -> LinkedMeter:
    number = str(meter_number)[:20]
    for link in linked_meters(login):
        if link.meter.number == number:
            return link
    raise NotFound()


def recent_purchases(login: CustomerLogin, *, limit: int = RECENT_PURCHASES) -> list[Sale]:
    """The newest sales of the login's meters, whatever channel sold them, made for the
    customer each meter was proved for (an earlier occupant's purchases stay theirs)."""
    links = linked_meters(login)
    if not links:
        return []
    mine = Q()
    for link in links:
        mine |= Q(meter_id=link.meter_id, customer_id=link.customer_id)
    return list(
        Sale.objects.filter(mine)
        .select_related("meter")
        .order_by("-created_at", "-id")[: max(1, min(limit, 100))]
    )


def get_portal_purchase(login: CustomerLogin, pk: int) -> PortalPurchase:
    found = (
        PortalPurchase.objects.filter(login=login, pk=pk)
        .select_related("meter", "push", "push__payment", "push__payment__sale")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def purchase_sale(purchase: PortalPurchase) -> Sale | None:
    """The sale the purchase's payment made, once it is made."""
    payment = purchase.push.payment
    return payment.sale if payment is not None else None


def sale_tokens(sale: Sale) -> list[Token]:
    return list(sale.tokens.order_by("sequence"))
