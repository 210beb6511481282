"""What a partner asks for: meter lookups, trial vends and sales (credit, free basic electricity,
key-change tokens), each request id answered once and the same way every time it is repeated.

Every sale goes through the vending services (one vend path for every channel); this module adds
the partner's request record, written in the sale's own transaction (``after_write``), so that a
sale never exists without its request nor a request without its sale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from gridvend.identity.models import User
from gridvend.kernel.clock import Clock, SystemClock
from gridvend.kernel.errors import DomainError, DuplicateRequest, catalogue_entry
from gridvend.kernel.money import Money
from gridvend.kernel.tokens import TokenEngine
from gridvend.meters.faults import register_fault
from gridvend.meters.models import FaultReport
from gridvend.meters.selectors import find_meter
from gridvend.org.models import VendingPoint
from gridvend.partners.errors import (
    PartnerNotActive,
    PartnerPointUnknown,
    RequestAlreadyReversed,
    RequestNotReprintable,
)
from gridvend.partners.models import (
    AdviceKind,
    AdviceOutcome,
    Partner,
    PartnerAdvice,
    PartnerPoint,
    PartnerRequest,
    PartnerStatus,
    RequestKind,
    SaleState,
)
from gridvend.vending import services as vending
from gridvend.vending.models import SaleStatus
from gridvend.vending.services import MeterLookup, Quote, SaleResult

MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class Call:
    """Who is asking, through which interface, from which of its tills (as it says)."""

    partner: Partner
    interface: str  # "api" or "electrum"
    vending_point: str = ""  # one of the partner's points by code; empty: its default point
    terminal_id: str = ""
    operator_id: str = ""
    msisdn: str = ""
    # The language the buyer chose on the channel (a USSD menu, an SMS ``LANG``): the token SMS
    # to ``msisdn`` is written in it; empty: in the account's language, else the utility's.
    language: str = ""
    # The interface's fields to give back on a repeat (Electrum echoes its originator...).
    echo: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> User:
        return self.partner.service_user


@dataclass(frozen=True)
class Answer:
    """A sale request's answer: the request record and, when it sold, the sale and tokens."""

    request: PartnerRequest
    result: SaleResult | None
    replayed: bool


def require_active(partner: Partner) -> None:
    if partner.status != PartnerStatus.ACTIVE:
        raise PartnerNotActive(partner=partner.code, status=partner.status)


def partner_point(partner: Partner, code: str = "") -> VendingPoint:
    """The point a request sells at: the one it names (one of the partner's), or the default."""
    points = PartnerPoint.objects.filter(partner=partner).select_related("vending_point__org_unit")
    link = (
        points.filter(vending_point__code=code).first()
        if code
        else points.filter(is_default=True).first()
    )
    if link is None:
        raise PartnerPointUnknown(vending_point=code or "(default)")
    return link.vending_point


def fingerprint(payload: dict[str, Any]) -> str:
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def lookup(call: Call, meter_number: str, *, clock: Clock | None = None) -> MeterLookup:
    require_active(call.partner)
    return vending.lookup_meter(actor=call.actor, meter_number=meter_number, clock=clock)


def trial(
    call: Call,
    meter_number: str,
    *,
    tender: Money | None = None,
    kwh: Decimal | None = None,
    clock: Clock | None = None,
) -> Quote:
    require_active(call.partner)
    return vending.trial_vend(
        actor=call.actor, meter_number=meter_number, tender=tender, kwh=kwh, clock=clock
    )


def purchase(
    call: Call,
    request_id: str,
    meter_number: str,
    *,
    tender: Money | None = None,
    kwh: Decimal | None = None,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> Answer:
    """Sell credit from the partner's float: pending confirmation until an advice or the
    window's policy makes it final."""
    return _sale_request(
        call,
        request_id,
        meter_number,
        RequestKind.PURCHASE,
        {
            "tender": tender.to_dict() if tender is not None else None,
            "kwh": str(kwh) if kwh is not None else None,
        },
        vending.vend_credit,
        clock,
        tender=tender,
        kwh=kwh,
        payment_method="float",
        engine=engine,
    )


def free_basic(
    call: Call,
    request_id: str,
    meter_number: str,
    *,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> Answer:
    """This month's free basic electricity, when due: a token and no money."""
    return _sale_request(
        call, request_id, meter_number, RequestKind.FBE, {}, vending.issue_fbe, clock, engine=engine
    )


def key_change(
    call: Call,
    request_id: str,
    meter_number: str,
    *,
    clock: Clock | None = None,
    engine: TokenEngine | None = None,
) -> Answer:
    """The tokens of the meter's pending key change on their own."""
    return _sale_request(
        call,
        request_id,
        meter_number,
        RequestKind.KEY_CHANGE,
        {},
        vending.issue_key_change_tokens,
        clock,
        engine=engine,
    )


vending_after_write = Callable[[SaleResult], None]


def disclosed_address(address: str) -> str:
    """What a partner may tell of a customer's address (API_ADDRESS_DISCLOSURE): all of it,
    each word's first letter ("masked", the default), or nothing."""
    disclosure = getattr(settings, "API_ADDRESS_DISCLOSURE", "masked")
    if disclosure == "full":
        return address
    if disclosure == "none":
        return ""
    return " ".join(word[0] + "***" for word in address.split() if word)


def reprint(call: Call, request_id: str) -> SaleResult:
    """The stored tokens of one of this partner's own sales, never new ones; audited. Refused
    for a request that sold nothing, that was reversed (its tokens must not be handed out
    again), or that carried no token (an account payment)."""
    from gridvend.partners.selectors import partner_request

    require_active(call.partner)
    found = partner_request(call.partner, request_id)
    sale = found.sale
    if (
        sale is None
        or found.state == SaleState.REVERSED
        or sale.status != SaleStatus.COMPLETED
        or found.kind == RequestKind.PAY_ACCOUNT
    ):
        raise RequestNotReprintable(request_id=request_id)
    return vending.reprint_sale(actor=call.actor, sale=sale)


def pay_account(
    call: Call,
    request_id: str,
    meter_number: str,
    *,
    amount: Money,
    clock: Clock | None = None,
) -> Answer:
    """Money towards the arrears of the customer on this meter, from the float; no token."""
    return _sale_request(
        call,
        request_id,
        meter_number,
        RequestKind.PAY_ACCOUNT,
        {"amount": amount.to_dict()},
        vending.pay_debt,
        clock,
        amount=amount,
        payment_method="float",
    )


def report_fault(
    call: Call,
    meter_number: str,
    *,
    description: str,
    category: str = "other",
    reporter_phone: str = "",
) -> FaultReport:
    """A fault the partner's customer reports (a dead meter, a rejected token): written down
    for customer care and field agents like any other, marked as reported through a partner."""
    require_active(call.partner)
    meter = find_meter(call.actor, meter_number)
    return register_fault(
        actor=call.actor,
        meter=meter,
        description=description,
        category=category,
        reported_via="partner",
        reporter_name=f"{call.partner.name} {call.terminal_id}".strip()[:120],
        reporter_phone=reporter_phone,
    )


def _check_request_id(request_id: str) -> str:
    from gridvend.vending.errors import ClientReferenceInvalid

    if not request_id or len(request_id) > MAX_ID_LENGTH or request_id != request_id.strip():
        raise ClientReferenceInvalid()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in request_id):
        raise ClientReferenceInvalid()
    return request_id


def _sale_request(
    call: Call,
    request_id: str,
    meter_number: str,
    kind: str,
    fields: dict[str, Any],
    use_case: Callable[..., SaleResult],
    clock: Clock | None,
    **arguments: Any,
) -> Answer:
    """The request's one answer: the stored one for a repeat (same body), DUPLICATE_REQUEST for
    the same id with another body, else the sale made by the vending ``use_case`` (called as
    the partner at its point, under the request id, with ``arguments``), or the refusal,
    recorded under the id. ``fields``: what, besides the meter, makes the request's body."""
    body = {"op": kind, "meter": "".join(ch for ch in meter_number if ch.isdigit()), **fields}

    def sell(point: VendingPoint, after_write: vending_after_write) -> SaleResult:
        return use_case(
            actor=call.actor,
            vending_point=point,
            client_reference=request_id,
            meter_number=meter_number,
            clock=clock,
            after_write=after_write,
            **arguments,
        )

    partner = call.partner
    request_id = _check_request_id(request_id)
    point = partner_point(partner, call.vending_point)
    print_ = fingerprint({**body, "point": point.pk})
    known = _known(partner, request_id, print_)
    if known is not None:
        return known
    require_active(partner)
    now = (clock or SystemClock()).now()

    def after_write(result: SaleResult) -> None:
        # The reversal advice that came first: the partner gave up on this request, so a late
        # arrival sells nothing (the unique request id refuses this row: see below).
        confirmed = PartnerAdvice.objects.filter(
            partner=partner,
            request_ref=request_id,
            kind=AdviceKind.CONFIRMATION,
            outcome=AdviceOutcome.UNMATCHED,
        ).first()
        request = PartnerRequest(
            partner=partner,
            request_id=request_id,
            kind=kind,
            interface=call.interface,
            fingerprint=print_,
            vending_point=point,
            sale=result.sale,
            state=SaleState.CONFIRMED if confirmed is not None else SaleState.PENDING,
            terminal_id=call.terminal_id[:40],
            operator_id=call.operator_id[:40],
            msisdn=call.msisdn[:32],
            echo=call.echo,
            created_at=now,
            finalised_at=now if confirmed is not None else None,
            finalised_by="advice" if confirmed is not None else "",
        )
        if kind not in (RequestKind.PURCHASE, RequestKind.PAY_ACCOUNT):
            # Free tokens and key changes move no money: nothing to confirm or reverse.
            request.state = SaleState.CONFIRMED
            request.finalised_at, request.finalised_by = now, "sale"
        request.save(force_insert=True)
        if call.msisdn and result.tokens:
            # The buyer's phone gets the token by SMS, queued in the sale's transaction (sent by
            # the worker after commit; never holds up or fails the sale: see vending.notices).
            _queue_token_sms(result, call.msisdn, call.language)
        if confirmed is not None:
            PartnerAdvice.objects.filter(pk=confirmed.pk).update(
                request=request, outcome=AdviceOutcome.APPLIED
            )
        created.append(request)

    created: list[PartnerRequest] = []
    try:
        result = sell(point, after_write)
    except IntegrityError:
        # Another request row under this id committed first: a reversal advice that came before
        # the request, or the same request sent twice at once. Its answer is this one's.
        known = _known(partner, request_id, print_)
        if known is None:
            raise
        return known
    except DuplicateRequest:
        raise
    except DomainError as exc:
        return _declined(call, request_id, kind, print_, point, exc, now)
    if result.replayed or not created:
        known = _known(partner, request_id, print_)
        if known is None:  # a sale under this id without a request: not the partner's
            raise DuplicateRequest(reference=request_id)
        return known
    if kind in (RequestKind.PURCHASE, RequestKind.PAY_ACCOUNT):
        # The sale has committed: tell the partner once when it took the float below its alert
        # level (a read of the float, and a write only on the crossing).
        from gridvend.partners.services.floats import after_sale

        after_sale(partner, clock=clock)
    return Answer(created[0], result, replayed=False)


def _queue_token_sms(result: SaleResult, msisdn: str, language: str) -> None:
    from gridvend.kernel.inputs import InvalidInput
    from gridvend.vending.notices import queue_token_sms

    customer = result.sale.customer
    said_in = language or (customer.language if customer is not None else "") or None
    try:
        with transaction.atomic():
            queue_token_sms(sale=result.sale, to=msisdn, language=said_in)
    except InvalidInput:
        # A number that is not one: the sale stands, the partner still has the token to hand over.
        return


def _known(partner: Partner, request_id: str, print_: str) -> Answer | None:
    """The answer already given to this request id, if any (a repeat gets it unchanged). A new
    id, by far the common case, costs one indexed lookup of two columns."""
    hit = list(
        PartnerRequest.objects.filter(partner=partner, request_id=request_id)
        .order_by()
        .values_list("pk", "fingerprint")[:1]
    )
    if not hit:
        return None
    pk, fingerprint_ = hit[0]
    if fingerprint_ and fingerprint_ != print_:
        raise DuplicateRequest(reference=request_id)
    request = PartnerRequest.objects.select_related(
        "sale__meter", "sale__customer", "vending_point"
    ).get(pk=pk)
    if request.sale is None and request.error_code == RequestAlreadyReversed.code:
        raise RequestAlreadyReversed(request_id=request_id)
    if request.sale is not None and (
        request.state == SaleState.REVERSED or request.sale.status != SaleStatus.COMPLETED
    ):
        # Sold, then reversed: the float has its money back, so the tokens are not handed out
        # again (the last-response query still shows what happened).
        raise RequestAlreadyReversed(request_id=request_id)
    if request.sale is None:
        # Declined before: the same refusal again, however things stand now.
        raise refusal_of(request)
    tokens = list(request.sale.tokens.order_by("sequence"))
    return Answer(request, SaleResult(request.sale, tokens, replayed=True), replayed=True)


def _declined(
    call: Call,
    request_id: str,
    kind: str,
    print_: str,
    point: VendingPoint,
    exc: DomainError,
    now: Any,
) -> Answer:
    """Record the refusal under the request id, so its repeat and the last-response query give
    the same answer; then raise it for the interface to send."""
    try:
        with transaction.atomic(durable=True):
            PartnerRequest.objects.create(
                partner=call.partner,
                request_id=request_id,
                kind=kind,
                interface=call.interface,
                fingerprint=print_,
                vending_point=point,
                state=SaleState.DECLINED,
                error_code=str(exc.code)[:40],
                error_params=exc.as_dict()["params"],
                terminal_id=call.terminal_id[:40],
                operator_id=call.operator_id[:40],
                msisdn=call.msisdn[:32],
                echo=call.echo,
                created_at=now,
                finalised_at=now,
                finalised_by="sale",
            )
    except IntegrityError:
        # Recorded concurrently: by a twin that sold (its sale is this request's answer) or
        # that was refused too (then this refusal stands).
        known = _known(call.partner, request_id, print_)
        if known is not None:
            return known
    raise exc


def refusal_of(request: PartnerRequest) -> DomainError:
    """The refusal a declined request got, rebuilt from its code and params for a repeat."""
    params = {
        key: Money.from_dict(value)
        if isinstance(value, dict) and set(value) == {"minor", "currency"}
        else value
        for key, value in request.error_params.items()
    }
    entry = catalogue_entry(request.error_code)
    if entry is None:
        return DomainError(request.error_code, request.error_code, **params)
    error = entry.error_class.__new__(entry.error_class)
    DomainError.__init__(error, **params)
    return error
