"""Settlement: a partner's daily file of what it sold, matched against our sales of that day,
the resolution of every difference (a second person above a threshold), and the daily check for
files that did not come. The file layout is in docs/settlement-files.md.

Every reconciliation ties by construction: each item carries the file's net amount and ours, so
the file's total is matched + mismatched + missing here, and ours matched + mismatched + missing
there (the summary keeps both per status).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from gridvend.approvals import services as approvals
from gridvend.audit.services import record
from gridvend.identity import permissions
from gridvend.identity.models import User
from gridvend.identity.roles import Capability
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.clock import Clock, FixedClock, SystemClock, business_date
from gridvend.kernel.errors import ReasonRequired
from gridvend.kernel.inputs import InvalidInput
from gridvend.partners import settlement_files
from gridvend.partners.errors import (
    SettlementActionNotPossible,
    SettlementDateInvalid,
    SettlementDayInResolution,
    SettlementFileNameInvalid,
    SettlementItemNotOpen,
)
from gridvend.partners.events import PartnerEvent
from gridvend.partners.locks import lock_partner, lock_request
from gridvend.partners.models import (
    MISMATCHED,
    ItemStatus,
    Partner,
    PartnerRequest,
    PartnerStatus,
    RequestKind,
    Resolution,
    ResolutionAction,
    SaleState,
    SettlementDay,
    SettlementDayStatus,
    SettlementFile,
    SettlementFileStatus,
    SettlementItem,
    SettlementResolutionRequest,
)
from gridvend.partners.settlement_files import REVERSAL, SALE, SettlementLine
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, SaleStatus

# Requests that move money: the ones a settlement file lists.
SETTLED_KINDS = (RequestKind.PURCHASE, RequestKind.PAY_ACCOUNT)
# How far back a file may still be uploaded for.
MAX_AGE_DAYS = 400
_CHUNK = 1000


def _require_finance(actor: User, partner: Partner) -> None:
    permissions.require_capability(actor, Capability.FINANCE)
    require_unit_in_scope(actor, partner.org_unit)


def _check_filename(filename: str) -> str:
    name = (filename or "").strip()
    if (
        not name
        or len(name) > 255
        or not name.lower().endswith((".csv", ".txt"))
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
    ):
        raise SettlementFileNameInvalid()
    return name


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


# Upload and reconciliation -----------------------------------------------------------------------


def upload_settlement_file(
    *,
    actor: User,
    partner: Partner,
    business_date: date,
    content: bytes,
    filename: str,
    clock: Clock | None = None,
) -> SettlementFile:
    """Store a partner's file for a day and reconcile it, in one transaction; the same bytes
    for the same partner and day again are the same upload (returned as it was)."""
    _require_finance(actor, partner)
    name = _check_filename(filename)
    now = (clock or SystemClock()).now()
    today = _today(now)
    if business_date > today or business_date < today - timedelta(days=MAX_AGE_DAYS):
        raise SettlementDateInvalid(business_date=business_date.isoformat())
    settlement_files.check_size(content)
    digest = hashlib.sha256(content).hexdigest()
    existing = SettlementFile.objects.filter(
        partner=partner, business_date=business_date, sha256=digest
    ).first()
    if existing is not None:
        return existing
    lines = settlement_files.parse(content, business_date=business_date, currency=partner.currency)
    try:
        with transaction.atomic(durable=True):
            # The partner's row orders uploads for it: one day's file replaces another's whole.
            lock_partner(partner.pk)
            existing = SettlementFile.objects.filter(
                partner=partner, business_date=business_date, sha256=digest
            ).first()
            if existing is not None:
                return existing
            replaced = _supersede(partner, business_date)
            upload = SettlementFile.objects.create(
                partner=partner,
                business_date=business_date,
                sha256=digest,
                filename=name,
                size_bytes=len(content),
                content=content,
                line_count=len(lines),
                currency=partner.currency,
                uploaded_by=actor,
                uploaded_at=now,
            )
            settled = _reconcile(upload, lines, now)
            SettlementDay.objects.update_or_create(
                partner=partner,
                business_date=business_date,
                defaults={"status": SettlementDayStatus.RECEIVED, "file": upload},
            )
            record(
                actor=actor,
                event_type=PartnerEvent.SETTLEMENT_FILE_RECONCILED,
                target=upload,
                after={
                    "partner": partner.code,
                    "business_date": business_date,
                    "filename": name,
                    "sha256": digest,
                    "lines": len(lines),
                    "file_total_minor": upload.file_total_minor,
                    "our_total_minor": upload.our_total_minor,
                    "counts": {k: v["count"] for k, v in upload.summary["statuses"].items()},
                    "settled": settled,
                    "replaces": replaced.pk if replaced is not None else None,
                },
            )
    except IntegrityError:
        # The same file, uploaded at the same moment by someone else: theirs is this upload.
        existing = SettlementFile.objects.filter(
            partner=partner, business_date=business_date, sha256=digest
        ).first()
        if existing is None:
            raise
        return existing
    return upload


def _today(now: datetime) -> date:
    return business_date(now, settings.TIME_ZONE)


def _supersede(partner: Partner, day: date) -> SettlementFile | None:
    """The day's current file steps aside for a new one, unless someone already acted on it."""
    current = (
        SettlementFile.objects.filter(
            partner=partner, business_date=day, status=SettlementFileStatus.RECONCILED
        )
        .order_by("-uploaded_at", "-id")
        .first()
    )
    if current is None:
        return None
    acted = current.items.exclude(resolution__in=(Resolution.OPEN, Resolution.NONE)).exists()
    pending = SettlementResolutionRequest.objects.filter(
        item__file=current, status="pending"
    ).exists()
    if acted or pending:
        raise SettlementDayInResolution(business_date=day.isoformat())
    SettlementFile.objects.filter(pk=current.pk).update(status=SettlementFileStatus.SUPERSEDED)
    return current


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _ours(partner: Partner, day: date, file_ids: list[str]) -> dict[str, PartnerRequest]:
    """Our requests with a sale: the day's, and any other the file names (a partner's day may
    end at another hour than ours), locked so that no advice moves them meanwhile."""
    start, end = _day_bounds(day)
    base = (
        PartnerRequest.objects.select_for_update(of=("self",))
        .select_related("sale__meter")
        .filter(partner=partner, sale__isnull=False, kind__in=SETTLED_KINDS)
        .order_by("pk")
    )
    found = {r.request_id: r for r in base.filter(created_at__gte=start, created_at__lt=end)}
    others = [i for i in file_ids if i not in found]
    for chunk in _chunks(others):
        found.update({r.request_id: r for r in base.filter(request_id__in=chunk)})
    return found


def _standing(request: PartnerRequest) -> bool:
    return (
        request.state != SaleState.REVERSED
        and request.sale is not None
        and request.sale.status == SaleStatus.COMPLETED
    )


def _match(line: SettlementLine, reversed_in_file: bool, ours: PartnerRequest | None) -> str:
    if ours is None or ours.sale is None:
        return ItemStatus.MATCHED if reversed_in_file else ItemStatus.MISSING_HERE
    standing = _standing(ours)
    if reversed_in_file == standing:
        return ItemStatus.REVERSAL_MISMATCH
    if not standing:
        return ItemStatus.MATCHED
    if line.amount_minor != ours.sale.tender_minor:
        return ItemStatus.AMOUNT_MISMATCH
    if line.meter_number != ours.sale.meter.number or (
        line.sale_reference and line.sale_reference != ours.sale.reference.upper()
    ):
        return ItemStatus.DETAIL_MISMATCH
    return ItemStatus.MATCHED


def _reconcile(upload: SettlementFile, lines: list[SettlementLine], now: datetime) -> int:
    """Write the items and totals of a new file; settle the matched sales. Returns how many
    sales were settled."""
    partner = upload.partner
    sales = [line for line in lines if line.type == SALE]
    reversed_ids = {line.request_id for line in lines if line.type == REVERSAL}
    ours = _ours(partner, upload.business_date, [line.request_id for line in sales])
    items: list[SettlementItem] = []
    to_settle: list[PartnerRequest] = []
    for line in sales:
        request = ours.pop(line.request_id, None)
        in_file_reversed = line.request_id in reversed_ids
        status = _match(line, in_file_reversed, request)
        our_amount = 0
        if request is not None and request.sale is not None and _standing(request):
            our_amount = request.sale.tender_minor
            if status == ItemStatus.MATCHED:
                to_settle.append(request)
        items.append(
            SettlementItem(
                file=upload,
                line_number=line.line,
                request_ref=line.request_id,
                request=request,
                status=status,
                meter_number=line.meter_number,
                sale_reference=line.sale_reference,
                partner_time=line.partner_time,
                in_file=True,
                file_reversed=in_file_reversed,
                file_amount_minor=0 if in_file_reversed else line.amount_minor,
                our_amount_minor=our_amount,
                resolution=Resolution.NONE if status == ItemStatus.MATCHED else Resolution.OPEN,
            )
        )
    start, end = _day_bounds(upload.business_date)
    for request in ours.values():
        # Ours of the day the file does not mention; a sale reversed here needs nothing.
        if not (start <= request.created_at < end) or not _standing(request):
            continue
        assert request.sale is not None
        items.append(
            SettlementItem(
                file=upload,
                line_number=None,
                request_ref=request.request_id,
                request=request,
                status=ItemStatus.MISSING_THERE,
                in_file=False,
                our_amount_minor=request.sale.tender_minor,
                resolution=Resolution.OPEN,
            )
        )
    SettlementItem.objects.bulk_create(items, batch_size=2000)
    summary = summarise(items)
    upload.summary = summary
    upload.file_total_minor = summary["file_total_minor"]
    upload.our_total_minor = summary["our_total_minor"]
    SettlementFile.objects.filter(pk=upload.pk).update(
        summary=summary,
        file_total_minor=upload.file_total_minor,
        our_total_minor=upload.our_total_minor,
    )
    return _settle(to_settle, now)


def summarise(items: Iterable[SettlementItem]) -> dict[str, Any]:
    """Counts and totals per status, and the two sides' totals with the groups they tie to."""
    statuses = {s.value: {"count": 0, "file_minor": 0, "our_minor": 0} for s in ItemStatus}
    for item in items:
        row = statuses[item.status]
        row["count"] += 1
        row["file_minor"] += item.file_amount_minor
        row["our_minor"] += item.our_amount_minor
    mismatched = {
        "count": sum(statuses[s]["count"] for s in MISMATCHED),
        "file_minor": sum(statuses[s]["file_minor"] for s in MISMATCHED),
        "our_minor": sum(statuses[s]["our_minor"] for s in MISMATCHED),
    }
    return {
        "statuses": statuses,
        "mismatched": mismatched,
        "file_total_minor": sum(r["file_minor"] for r in statuses.values()),
        "our_total_minor": sum(r["our_minor"] for r in statuses.values()),
    }


def _settle(requests: list[PartnerRequest], now: datetime) -> int:
    """Matched sales are settled: a reversal advice is refused from now on. One still pending
    is confirmed by the file (the partner says its customer has the token)."""
    pending = [r.pk for r in requests if r.state == SaleState.PENDING]
    final = [r.pk for r in requests if r.state != SaleState.PENDING]
    for start in range(0, len(pending), _CHUNK):
        PartnerRequest.objects.filter(pk__in=pending[start : start + _CHUNK]).update(
            state=SaleState.CONFIRMED,
            finalised_at=now,
            finalised_by="settlement",
            settled_at=now,
        )
    for start in range(0, len(final), _CHUNK):
        PartnerRequest.objects.filter(
            pk__in=final[start : start + _CHUNK], settled_at__isnull=True
        ).update(settled_at=now)
    return len(requests)


# Resolutions -------------------------------------------------------------------------------------


def approval_threshold_minor() -> int:
    return int(settings.SETTLEMENT_RESOLUTION_APPROVAL_MINOR)


def _lock_item(pk: int) -> SettlementItem:
    return (
        SettlementItem.objects.select_for_update(of=("self",))
        .select_related("file__partner__org_unit", "request")
        .get(pk=pk)
    )


def _check_open(item: SettlementItem, action: str) -> None:
    if item.file.status != SettlementFileStatus.RECONCILED:
        raise SettlementItemNotOpen(resolution=SettlementFileStatus.SUPERSEDED)
    if item.resolution != Resolution.OPEN:
        raise SettlementItemNotOpen(resolution=item.resolution)
    if action == ResolutionAction.REVERSE:
        request = item.request
        if request is None or request.sale_id is None or request.state == SaleState.REVERSED:
            raise SettlementActionNotPossible(action=action)


def resolve_item(
    *,
    actor: User,
    item: SettlementItem,
    action: str,
    note: str,
    clock: Clock | None = None,
) -> SettlementItem | SettlementResolutionRequest:
    """Resolve an open item: accept it, reverse our sale, or write it off. Above the approval
    threshold this asks for a second person instead, and returns the pending request."""
    partner = item.file.partner
    _require_finance(actor, partner)
    if action not in ResolutionAction.values:
        raise InvalidInput(reason="required", field="action")
    note = (note or "").strip()
    if not note:
        raise ReasonRequired()
    note = note[:255]
    now = (clock or SystemClock()).now()
    with transaction.atomic(durable=True):
        locked = _lock_item(item.pk)
        if SettlementResolutionRequest.objects.filter(item=locked, status="pending").exists():
            raise SettlementItemNotOpen(resolution="pending")
        _check_open(locked, action)
        amount = locked.amount_at_stake_minor
        if amount > approval_threshold_minor():
            return approvals.request_decision(
                RESOLUTION_DECISION,
                actor=actor,
                after={
                    "item": locked.pk,
                    "request_id": locked.request_ref,
                    "action": action,
                    "reason": note,
                    "amount_minor": amount,
                },
                item=locked,
                action=action,
                reason=note,
                amount_minor=amount,
            )
        _carry_out(actor, locked, action, note, now)
    return locked


def _carry_out(actor: User, item: SettlementItem, action: str, note: str, now: datetime) -> None:
    """The resolution itself, in the caller's transaction (a direct one's or an approval's)."""
    partner = item.file.partner
    before = {"resolution": item.resolution}
    if action == ResolutionAction.REVERSE:
        assert item.request is not None
        request = lock_request(partner, item.request.request_id)
        if request is None or request.sale_id is None or request.state == SaleState.REVERSED:
            raise SettlementActionNotPossible(action=action)
        sale = Sale.objects.select_related("meter__org_unit", "journal_entry").get(
            pk=request.sale_id
        )
        # The reversal's own checks (finance, scope, the sale still completed, the window) and
        # its reversing entry; the money goes back to the partner's float, as for any partner
        # sale. The non-durable form, so that the item and its audit commit with it.
        vending.reverse_channel_sale(
            actor=actor,
            sale=sale,
            reason=f"settlement of {partner.code} {item.file.business_date}: {note}"[:200],
            window=timedelta(hours=settings.REVERSAL_WINDOW_HOURS),
            clock=FixedClock(now),
        )
        PartnerRequest.objects.filter(pk=request.pk).update(
            state=SaleState.REVERSED, finalised_at=now, finalised_by="settlement"
        )
        record(
            actor=actor,
            event_type=PartnerEvent.SALE_REVERSED,
            target=request,
            after={"request_id": request.request_id, "by": "settlement", "item": item.pk},
        )
    resolution = {
        ResolutionAction.ACCEPT: Resolution.ACCEPTED,
        ResolutionAction.REVERSE: Resolution.REVERSED,
        ResolutionAction.WRITE_OFF: Resolution.WRITTEN_OFF,
    }[ResolutionAction(action)]
    SettlementItem.objects.filter(pk=item.pk).update(
        resolution=resolution, resolved_by=actor, resolved_at=now, resolution_note=note
    )
    item.resolution, item.resolved_by, item.resolved_at, item.resolution_note = (
        resolution,
        actor,
        now,
        note,
    )
    record(
        actor=actor,
        event_type=PartnerEvent.SETTLEMENT_ITEM_RESOLVED,
        target=item,
        before=before,
        after={
            "resolution": resolution,
            "status": item.status,
            "request_id": item.request_ref,
            "file_amount_minor": item.file_amount_minor,
            "our_amount_minor": item.our_amount_minor,
            "note": note,
        },
    )


def _may_decide_resolution(actor: User, request: SettlementResolutionRequest) -> None:
    _require_finance(actor, request.item.file.partner)


RESOLUTION_DECISION = approvals.DecisionType(
    model=SettlementResolutionRequest,
    requested=PartnerEvent.RESOLUTION_REQUESTED,
    approved=PartnerEvent.RESOLUTION_APPROVED,
    rejected=PartnerEvent.RESOLUTION_REJECTED,
    may_decide=_may_decide_resolution,
    subject="settlement_resolution",
    related=("item", "requested_by"),
)


def approve_resolution(
    *,
    actor: User,
    request: SettlementResolutionRequest,
    note: str = "",
    clock: Clock | None = None,
) -> SettlementItem:
    """Carry out the proposed resolution as the second person."""
    now = (clock or SystemClock()).now()

    def carry_out(locked: SettlementResolutionRequest) -> approvals.Outcome[SettlementItem]:
        item = _lock_item(locked.item_id)
        _check_open(item, locked.action)
        _carry_out(actor, item, locked.action, locked.reason, now)
        return approvals.Outcome(item, audit={"item": item.pk, "action": locked.action})

    return approvals.approve_decision(
        RESOLUTION_DECISION, actor=actor, request=request, note=note, now=now, carry_out=carry_out
    )


def reject_resolution(
    *,
    actor: User,
    request: SettlementResolutionRequest,
    note: str,
    clock: Clock | None = None,
) -> SettlementResolutionRequest:
    """Refuse the proposed resolution; the item stays open for another."""
    return approvals.reject_decision(
        RESOLUTION_DECISION,
        actor=actor,
        request=request,
        note=note,
        now=(clock or SystemClock()).now(),
    )


# The daily run -----------------------------------------------------------------------------------


def run_daily_reconciliations(
    day: date | None = None, *, clock: Clock | None = None
) -> dict[str, int]:
    """For each active partner that delivers files: the day is reconciled if its file came (an
    upload reconciles at once), else the day is flagged missing, once, with an audit event.
    ``day`` defaults to yesterday; run by a daily job."""
    now = (clock or SystemClock()).now()
    day = day or _today(now) - timedelta(days=1)
    done = {"received": 0, "missing": 0, "already_flagged": 0}
    partners = Partner.objects.filter(
        delivers_settlement_files=True, status=PartnerStatus.ACTIVE
    ).select_related("org_unit")
    for partner in partners:
        with transaction.atomic(durable=True):
            lock_partner(partner.pk)
            current = SettlementDay.objects.filter(partner=partner, business_date=day).first()
            if current is not None and current.status == SettlementDayStatus.RECEIVED:
                done["received"] += 1
                continue
            if current is not None:
                done["already_flagged"] += 1
                continue
            flagged = SettlementDay.objects.create(
                partner=partner,
                business_date=day,
                status=SettlementDayStatus.MISSING,
                flagged_at=now,
            )
            record(
                actor=None,
                event_type=PartnerEvent.SETTLEMENT_FILE_MISSING,
                target=flagged,
                after={"partner": partner.code, "business_date": day},
            )
            done["missing"] += 1
    return done
