"""The terminal's field operations: the agent's reading routes, readings uploaded from the route,
the bill on site, the dunning tasks, the pre-disconnection check, the visit's outcome and the
dunning notice for the printer. Each calls the same services the office uses; the agent sees
only the books they read in the terminal's service centre and the dunning tasks on them."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from gridvend.billing.services.on_site import bill_on_site
from gridvend.dunning import field as dunning_field
from gridvend.dunning import selectors as dunning_selectors
from gridvend.dunning.models import DunningTask, VisitOutcome
from gridvend.dunning.notices import notice_lines
from gridvend.gateways.terminals import handlers
from gridvend.gateways.terminals.handlers import Operation, _agent, order_field, text_field
from gridvend.identity.models import User
from gridvend.meters.selectors import normalise_meter_number
from gridvend.readings import selectors as reading_selectors
from gridvend.readings import services as reading_services
from gridvend.readings.errors import ReadingValueInvalid
from gridvend.readings.models import MeterReading, ReadingBook
from gridvend.terminals.errors import FieldNotOnRoute, TerminalMessageInvalid
from gridvend.terminals.models import Terminal

MAX_ROUTES = 50
MAX_PAGE_SIZE = 50
MAX_PAGE = 10**6
MAX_UPLOAD = 50
MAX_TASK_ID = 2**53
# A reading's time, Unix seconds: after 2000 and before 2200.
MIN_READ_AT, MAX_READ_AT = 946684800, 7258118400
MAX_PHOTO = 120
MAX_NOTE = 200
ESTIMATE_TITLE = "ESTIMATE - NOT A BILL"


def _int_field(
    message: dict[str, Any], name: str, *, low: int, high: int, default: int | None = None
) -> int:
    value = message.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TerminalMessageInvalid(problem=f"{name} must be a whole number {low} to {high}")
    return value


def _page(message: dict[str, Any], default_size: int = 20) -> tuple[int, int]:
    page = _int_field(message, "page", low=1, high=MAX_PAGE, default=1)
    size = _int_field(message, "page_size", low=1, high=MAX_PAGE_SIZE, default=default_size)
    return page, size


def _paged(total: int, page: int, size: int) -> dict[str, int]:
    return {"page": page, "page_size": size, "pages": max(1, -(-total // size)), "total": total}


def _stamp(moment: datetime.datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def _books(terminal: Terminal, agent: User) -> QuerySet[ReadingBook]:
    return reading_selectors.reader_books(agent, unit=terminal.org_unit)


def _book(terminal: Terminal, agent: User, code: str) -> ReadingBook:
    book = _books(terminal, agent).filter(code=code.strip().lower()).first()
    if book is None:
        raise FieldNotOnRoute(item="book", value=code)
    return book


def routes(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """The books the agent reads in the terminal's service centre."""
    agent = _agent(terminal, message)
    books = list(_books(terminal, agent)[:MAX_ROUTES])
    counts = {book.pk: reading_selectors.book_entries(book).count() for book in books}
    return {
        "ok": True,
        "routes": [
            {
                "book": book.code,
                "name": book.name,
                "cycle_day": book.cycle_day,
                "meters": counts[book.pk],
            }
            for book in books
        ],
    }


def route(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """One page of a book's meters in reading order, each with its last reading and the range
    a reading now may take without becoming an exception."""
    agent = _agent(terminal, message)
    book = _book(terminal, agent, text_field(message, "book", max_length=40))
    page, size = _page(message)
    entries = reading_selectors.book_entries(book)
    total = entries.count()
    chunk = list(entries[(page - 1) * size : page * size])
    stops = reading_selectors.route_stops(chunk, at=timezone.now())
    meters = []
    for stop in stops:
        meter = stop.entry.meter
        customer = meter.customer
        meters.append(
            {
                "position": stop.entry.position,
                "meter_number": meter.number,
                "account_number": customer.account_number if customer else "",
                "name": customer.name if customer else "",
                "last_register_kwh": f"{stop.last.register_kwh:f}" if stop.last else None,
                "last_read_at": _stamp(stop.last.read_at) if stop.last else None,
                "expected_low_kwh": f"{stop.expected[0]:f}" if stop.expected else None,
                "expected_high_kwh": f"{stop.expected[1]:f}" if stop.expected else None,
            }
        )
    return {
        "ok": True,
        "book": book.code,
        "name": book.name,
        **_paged(total, page, size),
        "meters": meters,
    }


def _reference(terminal: Terminal, order: str) -> str:
    return f"{terminal.terminal_id}:{order}"


def _upload(
    terminal: Terminal, agent: User, row: int, item: object, seen: set[str]
) -> reading_services.Upload | dict[str, Any]:
    """One row of the upload: the service's Upload, or the row's refusal."""
    if not isinstance(item, dict):
        raise TerminalMessageInvalid(problem="each reading must be a JSON object")
    order = order_field(item)
    if order in seen:
        raise TerminalMessageInvalid(problem=f"order {order} is twice in the message")
    seen.add(order)
    number = normalise_meter_number(text_field(item, "meter_number", max_length=20))
    raw_value = item.get("register_kwh")
    if not isinstance(raw_value, str) or len(raw_value) > 16:
        raise TerminalMessageInvalid(problem="register_kwh must be a decimal string")
    read_at = _int_field(item, "read_at", low=MIN_READ_AT, high=MAX_READ_AT)
    photo = text_field(item, "photo", max_length=MAX_PHOTO, required=False)
    note = text_field(item, "note", max_length=MAX_NOTE, required=False)
    entry = (
        reading_selectors.book_entries_of_reader(agent, unit=terminal.org_unit)
        .filter(meter__number=number)
        .first()
    )
    if entry is None:
        refusal = FieldNotOnRoute(item="meter", value=number)
        return _row(row, order, number, "refused", refusal.code, refusal.message)
    try:
        value = reading_services.parse_register(raw_value)
    except ReadingValueInvalid as exc:
        return _row(row, order, number, "refused", exc.code, exc.message)
    return reading_services.Upload(
        row=row,
        reference=_reference(terminal, order),
        meter=entry.meter,
        register_kwh=value,
        read_at=datetime.datetime.fromtimestamp(read_at, tz=datetime.UTC),
        book=entry.book,
        photo_reference=photo,
        note=note,
    )


def _row(row: int, order: str, meter: str, result: str, code: str, text: str) -> dict[str, Any]:
    return {
        "row": row,
        "order": order,
        "meter_number": meter,
        "result": result,
        "code": str(code),
        "message": str(text),
    }


def readings(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """Readings taken on the route: each accepted, an exception (a check failed, as in the
    office) or refused on its own; a repeat of an order returns what it became first."""
    agent = _agent(terminal, message)
    items = message.get("readings")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_UPLOAD:
        raise TerminalMessageInvalid(problem=f"readings must be a list of 1 to {MAX_UPLOAD}")
    seen: set[str] = set()
    rows = [_upload(terminal, agent, row, item, seen) for row, item in enumerate(items, start=1)]
    uploads = [r for r in rows if isinstance(r, reading_services.Upload)]
    done = {
        result.row: result
        for result in reading_services.record_uploads(actor=agent, uploads=uploads)
    }
    answers = []
    for row, item in zip(rows, items, strict=True):
        if isinstance(item, dict) and isinstance(row, reading_services.Upload):
            result = done[row.row]
            answers.append(
                _row(
                    row.row,
                    str(item["order"]),
                    row.meter.number,
                    result.result,
                    result.code,
                    result.message,
                )
            )
        elif isinstance(row, dict):
            answers.append(row)
    return {"ok": True, "results": answers}


def bill(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """The bill on site for a reading this terminal uploaded (by its order): the central run's
    own computation, shown and printed as an estimate."""
    agent = _agent(terminal, message)
    order = order_field(message)
    reading = (
        MeterReading.objects.select_related("meter", "meter__customer", "meter__org_unit")
        .filter(client_reference=_reference(terminal, order), entered_by=agent)
        .first()
    )
    if reading is None:
        raise FieldNotOnRoute(item="reading", value=order)
    found = bill_on_site(actor=agent, reading=reading)
    return {
        "ok": True,
        "estimate": True,
        "title": ESTIMATE_TITLE,
        "order": order,
        "account_number": found.account_number,
        "name": found.name,
        "meter_number": found.meter_number,
        "period_start": found.period_start.isoformat(),
        "period_end": found.period_end.isoformat(),
        "previous_register_kwh": f"{found.previous_register_kwh:f}",
        "current_register_kwh": f"{found.current_register_kwh:f}",
        "consumption_kwh": f"{found.consumption_kwh:f}",
        "currency": found.currency,
        "lines": [
            {
                "kind": line.kind,
                "label": line.label,
                "kwh": None if line.kwh is None else f"{line.kwh:f}",
                "rate": None if line.rate is None else f"{line.rate:f}",
                "amount_minor": line.amount_minor,
            }
            for line in found.lines
        ],
        "amount_minor": found.amount_minor,
    }


def _task(terminal: Terminal, agent: User, message: dict[str, Any]) -> DunningTask:
    pk = _int_field(message, "task", low=1, high=MAX_TASK_ID)
    task = (
        dunning_selectors.agent_tasks(agent, unit=terminal.org_unit)
        .filter(pk=pk)
        .select_related("customer", "customer__org_unit", "book")
        .first()
    )
    if task is None:
        raise FieldNotOnRoute(item="task", value=str(pk))
    return task


def dunning_tasks(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """One page of the open dunning tasks on the agent's routes, in route order."""
    agent = _agent(terminal, message)
    page, size = _page(message)
    tasks = dunning_selectors.agent_tasks(agent, unit=terminal.org_unit, status="open")
    total = tasks.count()
    chunk = list(tasks[(page - 1) * size : page * size])
    orders = dunning_selectors.live_disconnections(chunk)
    return {
        "ok": True,
        **_paged(total, page, size),
        "tasks": [
            {
                "task": task.pk,
                "stage": task.stage,
                "book": task.book.code if task.book else "",
                "position": task.position,
                "account_number": task.customer.account_number,
                "name": task.customer.name,
                "currency": task.currency,
                "arrears_minor": task.arrears_minor,
                "total_due_minor": task.total_due_minor,
                "oldest_due_date": task.oldest_due_date.isoformat(),
                "order": orders[task.pk].pk if task.pk in orders else None,
                "order_status": orders[task.pk].status if task.pk in orders else "",
            }
            for task in chunk
        ],
    }


def precheck(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """The pre-disconnection check, live: may the supply be cut now, and if not, why not."""
    agent = _agent(terminal, message)
    task = _task(terminal, agent, message)
    check = dunning_field.pre_disconnection_check(actor=agent, task=task)
    figures = check.figures
    return {
        "ok": True,
        "task": task.pk,
        "account_number": task.customer.account_number,
        "name": task.customer.name,
        "may_disconnect": check.may_disconnect,
        "reasons": check.reasons,
        "currency": figures["currency"] or task.currency,
        "arrears_minor": figures["arrears_minor"],
        "total_due_minor": figures["total_due_minor"],
        "days_overdue": figures["days_overdue"],
        "last_payment_at": _stamp(check.last_payment[0]) if check.last_payment else None,
        "last_payment_minor": check.last_payment[1] if check.last_payment else None,
        "order": check.order.pk if check.order else None,
        "order_status": check.order.status if check.order else "",
    }


def visit(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """The visit's outcome; ``disconnected`` executes the task's order after its pre-check."""
    agent = _agent(terminal, message)
    task = _task(terminal, agent, message)
    outcome = text_field(message, "outcome", max_length=20)
    if outcome not in VisitOutcome.values:
        raise TerminalMessageInvalid(problem="outcome is not one of the visit outcomes")
    order = order_field(message)
    done = dunning_field.record_visit(
        actor=agent,
        task=task,
        outcome=outcome,
        reference=_reference(terminal, order),
        note=text_field(message, "note", max_length=MAX_NOTE, required=False),
    )
    return {
        "ok": True,
        "visit": done.pk,
        "order": order,
        "task": task.pk,
        "outcome": done.outcome,
        "recorded_at": _stamp(done.created_at),
        "disconnection_order": done.order_id,
        "order_status": done.order.status if done.order else "",
    }


def notice(terminal: Terminal, message: dict[str, Any]) -> dict[str, Any]:
    """The task's dunning notice as lines for the printer, in the customer's language."""
    agent = _agent(terminal, message)
    task = _task(terminal, agent, message)
    language, lines = notice_lines(task)
    return {"ok": True, "task": task.pk, "language": language, "lines": lines}


OPERATIONS: dict[str, Operation] = {
    "routes": routes,
    "route": route,
    "readings": readings,
    "bill": bill,
    "dunning_tasks": dunning_tasks,
    "precheck": precheck,
    "visit": visit,
    "notice": notice,
}
# The registry is handlers.OPERATIONS; handlers imports this module at its end.
handlers.OPERATIONS.update(OPERATIONS)
