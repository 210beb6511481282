"""A field agent's cash in transit: the ledger account that holds the cash the agent collected
or took for cash sales and has not handed in, its limit (per agent, whatever the number of the
agent's terminals), the office's hand-in (count, difference, clearing), the terminal's end of day
and the daily reconciliation of the gateway's stored replies against the ledger.

The limit is held by the database: the agent's account keeps its balance and ``limit_minor``
(``ledger.triggers``), so a posting that would take it above the limit is refused under the
account row's lock, however many terminals of the agent post at once (docs/terminals.md).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from gridvend.audit.changes import audited_change
from gridvend.audit.services import record
from gridvend.identity.errors import AccessDenied
from gridvend.identity.models import User
from gridvend.identity.scoping import require_unit_in_scope
from gridvend.kernel.ledger import JournalDraft, Posting
from gridvend.kernel.money import Money
from gridvend.ledger import services as ledger
from gridvend.ledger.models import Account, JournalEntry
from gridvend.ledger.models import Posting as LedgerPosting
from gridvend.terminals import permissions
from gridvend.terminals.errors import (
    CashHandInChanged,
    CashHandInInvalid,
    CashLimitInvalid,
    CashLimitReached,
)
from gridvend.terminals.events import TerminalEvent
from gridvend.terminals.models import (
    AgentCash,
    AgentDayEnd,
    CashHandIn,
    CashReconciliation,
    Direction,
    Stage,
    Terminal,
    TerminalMessage,
)

logger = logging.getLogger("gridvend.terminals")

HAND_IN_KIND = ledger.CASH_HANDED_IN_KIND
REQUEST_KEY = re.compile(r"[A-Za-z0-9-]{8,40}")
# The operations whose replies carry the agent's cash, as the gateway stored them.
CASH_OPERATIONS = ("collect", "sell", "reverse")
# The figures a day end and a reconciliation compare.
FIGURES = (
    "collections_count",
    "collections_minor",
    "sales_count",
    "sales_minor",
    "reversals_count",
    "reversals_minor",
)


def _max_limit_minor() -> int:
    return int(settings.MAX_FLOAT_AMOUNT) * 100


# --- the account and its limit -------------------------------------------------------------------


def agent_cash(agent: User) -> AgentCash:
    """The agent's cash-in-transit record and ledger account, made on first use with the
    configured default limit (``GRIDVEND_TERMINALS_CASH_LIMIT_MINOR``)."""
    found = AgentCash.objects.select_related("account").filter(agent=agent).first()
    if found is not None:
        return found
    currency = settings.CURRENCY
    code = ledger.cash_in_transit_code(agent.pk)
    try:
        with transaction.atomic():
            account = ledger.ensure_ledger_account(
                code, currency, name=f"Cash in transit: {agent.username}"[:150]
            )
            limit = Money(int(settings.TERMINALS_CASH_LIMIT_MINOR), currency)
            ledger.set_credit_limit(code, limit)
            return AgentCash.objects.create(
                agent=agent, account=account, currency=currency, limit_minor=limit.minor
            )
    except IntegrityError:
        return AgentCash.objects.select_related("account").get(agent=agent)


@dataclass(frozen=True)
class CashPosition:
    held_minor: int
    limit_minor: int
    currency: str

    @property
    def room_minor(self) -> int:
        """What the agent may still collect or sell for in cash before handing in."""
        return max(self.limit_minor - self.held_minor, 0)


def cash_position(agent: User) -> CashPosition:
    """The cash the agent holds now and the limit, read from the account row (nothing is
    written: an agent who never collected holds nothing under the default limit)."""
    found = (
        AgentCash.objects.filter(agent=agent)
        .values_list("account__balance_minor", "account__limit_minor", "currency")
        .first()
    )
    if found is None:
        return CashPosition(0, int(settings.TERMINALS_CASH_LIMIT_MINOR), settings.CURRENCY)
    held, limit, currency = found
    return CashPosition(int(held or 0), int(limit), currency)


def limit_refusal(agent: User, amount_minor: int) -> CashLimitReached:
    """The catalogued refusal of a collection or sale of ``amount_minor`` the database refused
    as above the agent's limit, with the room left (read after the refused transaction)."""
    position = cash_position(agent)
    return CashLimitReached(
        held_minor=position.held_minor,
        limit_minor=position.limit_minor,
        room_minor=position.room_minor,
        amount_minor=amount_minor,
    )


def is_agents_account(agent: User, account_code: str) -> bool:
    """Whether a BALANCE_LIMIT refusal names this agent's cash in transit ("" on SQLite, whose
    refusal names no account: the caller's only kept account in a terminal's cash sale or
    collection is the agent's)."""
    return account_code in ("", ledger.cash_in_transit_code(agent.pk))


def _require_cash_office(actor: User, agent: User) -> None:
    if not permissions.can_handle_agent_cash(actor):
        raise AccessDenied()
    require_unit_in_scope(actor, agent.org_unit)


def set_cash_limit(*, actor: User, agent: User, limit: Money) -> AgentCash:
    """The agent's cash-in-transit limit (audited). Below what the agent holds now it blocks
    every further collection until the cash is handed in."""
    _require_cash_office(actor, agent)
    if not permissions.can_manage_terminals(actor):
        raise AccessDenied()
    if not permissions.can_work_in_field(agent):
        raise CashHandInInvalid(problem="not an active field agent")
    cash = agent_cash(agent)
    maximum = _max_limit_minor()
    if limit.currency != cash.currency or not 0 <= limit.minor <= maximum:
        raise CashLimitInvalid(maximum=str(Money(maximum, cash.currency)))
    with transaction.atomic(durable=True):
        locked = AgentCash.objects.select_for_update().select_related("agent__org_unit")
        locked_cash = locked.get(pk=cash.pk)
        with audited_change(
            actor=actor,
            instance=locked_cash,
            event=TerminalEvent.CASH_LIMIT_SET,
            skip_unchanged=True,
        ):
            locked_cash.limit_minor = limit.minor
            locked_cash.updated_at = timezone.now()
        ledger.set_credit_limit(cash.account.code, limit)
    return locked_cash


# --- the office's hand-in ------------------------------------------------------------------------


@dataclass(frozen=True)
class CashDay:
    """One business day of an agent's cash in transit, by kind of entry."""

    day: date
    collections_count: int = 0
    collections_minor: int = 0
    sales_count: int = 0
    sales_minor: int = 0
    reversals_count: int = 0
    reversals_minor: int = 0
    handed_in_minor: int = 0

    @property
    def net_minor(self) -> int:
        return self.collections_minor + self.sales_minor - self.reversals_minor


def _bucket(kind: str) -> str:
    if kind == HAND_IN_KIND:
        return "handed_in"
    if kind.endswith(".reversal"):
        return "reversals"
    if kind.startswith("sale"):
        return "sales"
    return "collections"


def _ledger_days(
    account_ids: list[int], days: list[date] | None = None, since: date | None = None
) -> dict[tuple[int, date], dict[str, int]]:
    """Per (account, day, bucket): the count of entries and the sum of their postings."""
    postings = LedgerPosting.objects.filter(account_id__in=account_ids)
    if days is not None:
        postings = postings.filter(entry__business_date__in=days)
    if since is not None:
        postings = postings.filter(entry__business_date__gte=since)
    rows = postings.values_list("account_id", "entry__business_date", "entry__kind").annotate(
        count=Count("entry_id", distinct=True), total=Sum("amount_minor")
    )
    found: dict[tuple[int, date], dict[str, int]] = {}
    for account_id, day, kind, count, total in rows:
        figures = found.setdefault((account_id, day), {})
        bucket = _bucket(kind)
        figures[f"{bucket}_count"] = figures.get(f"{bucket}_count", 0) + int(count)
        figures[f"{bucket}_minor"] = figures.get(f"{bucket}_minor", 0) + abs(int(total or 0))
    return found


def open_cash_days(agent: User, *, limit_days: int = 31) -> list[CashDay]:
    """The agent's days since the day of the last hand-in (at most ``limit_days`` back), newest
    first: what makes up the cash the office is about to count."""
    cash = AgentCash.objects.filter(agent=agent).first()
    if cash is None:
        return []
    last = CashHandIn.objects.filter(agent=agent).order_by("-received_at", "-pk").first()
    since = timezone.localdate() - timedelta(days=limit_days)
    if last is not None and last.business_date > since:
        since = last.business_date
    found = _ledger_days([cash.account_id], since=since)
    return [
        CashDay(day=day, **{k: v for k, v in figures.items() if k in CashDay.__dataclass_fields__})
        for (_account, day), figures in sorted(
            found.items(), key=lambda item: item[0][1], reverse=True
        )
    ]


def _request_key(raw: str) -> str:
    if not isinstance(raw, str) or not REQUEST_KEY.fullmatch(raw):
        raise CashHandInInvalid(problem="the form's key is missing or malformed; reload the page")
    return raw


def _same_hand_in(existing: CashHandIn, agent: User, counted: Money) -> CashHandIn:
    if existing.agent_id != agent.pk or existing.counted_minor != counted.minor:
        raise CashHandInInvalid(problem="this form was already used for another hand-in")
    return existing


def hand_in_cash(
    *,
    actor: User,
    agent: User,
    counted: Money,
    expected_minor: int,
    request_key: str,
    note: str = "",
) -> CashHandIn:
    """The office counted ``counted`` of the agent's cash and took it: the agent's cash in
    transit is cleared to the service centre's cash account, the difference from what the agent
    held (``expected_minor``, the figure the office saw) is booked to the agent's difference
    account, the agent's reported day ends are confirmed, and collection is open again.

    Idempotent on ``request_key`` (the form's): a second submit returns the first hand-in."""
    _require_cash_office(actor, agent)
    key = _request_key(request_key)
    cash = AgentCash.objects.select_related("account").filter(agent=agent).first()
    if cash is None:
        raise CashHandInInvalid(problem="the agent holds no cash to hand in")
    maximum = int(settings.MAX_CASH_COUNT) * 100
    if counted.currency != cash.currency or not 0 <= counted.minor <= maximum:
        raise CashHandInInvalid(problem=f"the count must be between 0 and {maximum // 100}")
    cleaned_note = " ".join(str(note or "").split())[:200]
    existing = CashHandIn.objects.filter(request_key=key).first()
    if existing is not None:
        return _same_hand_in(existing, agent, counted)
    try:
        with transaction.atomic(durable=True):
            account = Account.objects.select_for_update().get(pk=cash.account_id)
            held = int(account.balance_minor or 0)
            if held != expected_minor:
                raise CashHandInChanged(held=str(Money(held, cash.currency)))
            if held <= 0:
                raise CashHandInInvalid(problem="the agent holds no cash to hand in")
            now = timezone.now()
            day = timezone.localdate(now)
            difference = counted.minor - held
            unit = agent.org_unit
            postings = [Posting(account.code, Money(-held, cash.currency))]
            if counted.minor:
                postings.append(Posting(ledger.office_cash_code(unit.code), counted))
            if difference:
                postings.append(
                    Posting(
                        ledger.cash_difference_code(agent.pk), Money(-difference, cash.currency)
                    )
                )
            holder: dict[str, CashHandIn] = {}

            def write(entry: JournalEntry) -> None:
                holder["hand_in"] = CashHandIn.objects.create(
                    agent=agent,
                    org_unit=unit,
                    request_key=key,
                    currency=cash.currency,
                    expected_minor=held,
                    counted_minor=counted.minor,
                    difference_minor=difference,
                    journal_entry=entry,
                    received_by=actor,
                    received_at=now,
                    business_date=day,
                    note=cleaned_note,
                )

            ledger.post_journal_entry(
                JournalDraft(tuple(postings), f"cash handed in by agent {agent.username}"),
                kind=HAND_IN_KIND,
                business_date=day,
                actor=actor,
                before_postings=write,
            )
            hand_in = holder["hand_in"]
            confirmed = list(
                AgentDayEnd.objects.filter(agent=agent, hand_in__isnull=True).values_list(
                    "pk", "business_date", "is_matching"
                )
            )
            AgentDayEnd.objects.filter(pk__in=[pk for pk, _d, _m in confirmed]).update(
                hand_in=hand_in
            )
            record(
                actor=actor,
                event_type=TerminalEvent.CASH_HANDED_IN,
                target=hand_in,
                target_type="terminals.cashhandin",
                org_path=unit.path,
                after={
                    "agent": agent.username,
                    "currency": cash.currency,
                    "expected_minor": held,
                    "counted_minor": counted.minor,
                    "difference_minor": difference,
                    "journal_entry": hand_in.journal_entry_id,
                    "day_ends_confirmed": [
                        {"day": d.isoformat(), "matching": m} for _pk, d, m in confirmed
                    ],
                    "note": cleaned_note,
                },
            )
    except IntegrityError:
        # The same form submitted twice at once: the other submit's hand-in.
        winner = CashHandIn.objects.filter(request_key=key).first()
        if winner is None:
            raise
        return _same_hand_in(winner, agent, counted)
    return hand_in


# --- the terminal's end of day -------------------------------------------------------------------


def record_day_end(
    *, terminal: Terminal, agent: User, reported: dict[str, int], central: dict[str, int]
) -> AgentDayEnd:
    """The totals the terminal reports for today beside the central ledger's (``central``, the
    gateway's reading of ``selectors.agent_day_totals``). A second report of the day replaces
    the first until the office confirms it with a hand-in; a report after that hand-in (the
    agent kept collecting) is kept for the next hand-in to confirm. The confirmed report sent
    again (the terminal's retry) is answered with itself."""
    day = timezone.localdate()
    matching = all(reported.get(name) == central.get(name) for name in FIGURES)
    with transaction.atomic(durable=True):
        mine = AgentDayEnd.objects.filter(terminal=terminal, agent=agent, business_date=day)
        existing = mine.select_for_update().filter(hand_in__isnull=True).first()
        if existing is None:
            confirmed = mine.exclude(hand_in__isnull=True).order_by("-reported_at", "-pk").first()
            if confirmed is not None and confirmed.reported == reported:
                return confirmed
        values = {
            "reported": reported,
            "central": central,
            "is_matching": matching,
            "reported_at": timezone.now(),
        }
        if existing is None:
            day_end = AgentDayEnd.objects.create(
                terminal=terminal, agent=agent, business_date=day, **values
            )
        else:
            AgentDayEnd.objects.filter(pk=existing.pk).update(**values)
            existing.refresh_from_db()
            day_end = existing
        record(
            actor=agent,
            event_type=TerminalEvent.DAY_END_REPORTED,
            target=terminal,
            after={"day": day.isoformat(), "reported": reported, "matching": matching},
        )
    return day_end


# --- the daily reconciliation --------------------------------------------------------------------


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


def _gateway_figures(day: date) -> dict[int, dict[str, int]]:
    """Per agent: what the gateway answered on ``day`` as done — collections, cash sales and
    reversals — read from the replies it stored in the clear. A repeat answered with the first
    payment or sale (the terminal's retry) counts once."""
    start, end = _day_bounds(day)
    replies = (
        TerminalMessage.objects.filter(
            direction=Direction.OUT,
            stage=Stage.PLAIN,
            session__operation__in=CASH_OPERATIONS,
            session__opened_at__gte=start,
            session__opened_at__lt=end,
        )
        .values_list("session__operation", "content")
        .order_by("pk")
    )
    seen: set[tuple[str, str]] = set()
    figures: dict[int, dict[str, int]] = {}
    for operation, content in replies.iterator(chunk_size=500):
        try:
            reply = json.loads(bytes(content).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            continue
        if not isinstance(reply, dict) or reply.get("ok") is not True:
            continue
        agent_id, amount = reply.get("agent_id"), reply.get("amount_minor")
        if not isinstance(agent_id, int) or not isinstance(amount, int):
            continue
        if operation == "sell" and "cash_room_minor" not in reply:
            continue  # a sale from a float: not the agent's cash
        bucket = {"collect": "collections", "sell": "sales", "reverse": "reversals"}[operation]
        key = (bucket, str(reply.get("receipt") or reply.get("reference") or ""))
        if key in seen:
            continue
        seen.add(key)
        mine = figures.setdefault(agent_id, dict.fromkeys(FIGURES, 0))
        mine[f"{bucket}_count"] += 1
        mine[f"{bucket}_minor"] += amount
    return figures


def reconcile_cash_day(*, day: date, actor: User | None = None) -> list[CashReconciliation]:
    """Compare, per agent, the gateway's stored replies of ``day`` with the postings of that
    business day to the agent's cash in transit; write one result per agent (run again, it is
    replaced) and raise an alarm for each difference: an audit event, which the operation log
    shows, and an error in the log. ``actor``: None for the job and the command."""
    if actor is not None and not permissions.can_reconcile_agent_cash(actor):
        raise AccessDenied()
    gateway_side = _gateway_figures(day)
    cashes = {c.account_id: c for c in AgentCash.objects.select_related("agent__org_unit")}
    ledger_side: dict[int, dict[str, int]] = {}
    for (account_id, _day), figures in _ledger_days(list(cashes), days=[day]).items():
        agent_id = cashes[account_id].agent_id
        ledger_side[agent_id] = {name: figures.get(name, 0) for name in FIGURES}
    agents = {c.agent_id: c.agent for c in cashes.values()}
    results = []
    for agent_id in sorted(set(gateway_side) | set(ledger_side)):
        agent = agents.get(agent_id) or User.objects.select_related("org_unit").get(pk=agent_id)
        ours = gateway_side.get(agent_id, dict.fromkeys(FIGURES, 0))
        books = ledger_side.get(agent_id, dict.fromkeys(FIGURES, 0))
        differences = [
            {"figure": name, "gateway": ours[name], "ledger": books[name]}
            for name in FIGURES
            if ours[name] != books[name]
        ]
        with transaction.atomic(durable=True):
            result, _created = CashReconciliation.objects.update_or_create(
                agent=agent,
                business_date=day,
                defaults={
                    "org_unit": agent.org_unit,
                    "currency": settings.CURRENCY,
                    "gateway": ours,
                    "ledger": books,
                    "differences": differences,
                    "is_clean": not differences,
                    "run_at": timezone.now(),
                },
            )
            event = (
                TerminalEvent.CASH_DIFFERENCE_FOUND
                if differences
                else TerminalEvent.CASH_RECONCILED
            )
            record(
                actor=actor,
                event_type=event,
                target=result,
                target_type="terminals.cashreconciliation",
                org_path=agent.org_unit.path,
                after={"agent": agent.username, "day": day.isoformat(), "differences": differences},
            )
        if differences:
            logger.error(
                "cash in transit of agent %s on %s differs from the gateway's records: %s",
                agent.username,
                day.isoformat(),
                differences,
            )
        results.append(result)
    return results


def central_figures(totals: Any) -> dict[str, int]:
    """``selectors.DayTotals`` as the figures a day end compares."""
    return {name: int(getattr(totals, name)) for name in FIGURES}
