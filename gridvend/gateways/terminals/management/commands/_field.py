"""The simulator's field actions (`gridvend terminal routes|route|readings|bill|dunning-tasks|
precheck|visit|notice`): their arguments, their requests and the text the terminal prints."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandError

from gridvend.gateways.terminals import client
from gridvend.kernel.money import Money

ACTIONS = ("routes", "route", "readings", "bill", "dunning-tasks", "precheck", "visit", "notice")
OUTCOMES = ("notice_delivered", "disconnected", "no_access", "customer_absent", "showed_receipt")


def add_arguments(sub: Any) -> None:
    sub.add_parser("routes", help="the agent's reading routes")
    route = sub.add_parser("route", help="a page of a route's meters with their expected range")
    route.add_argument("--book", required=True)
    route.add_argument("--page", type=int, default=1)
    route.add_argument("--page-size", type=int, default=20)
    readings = sub.add_parser("readings", help="upload readings taken on the route")
    readings.add_argument(
        "--reading",
        action="append",
        required=True,
        metavar="ORDER:METER:KWH[:PHOTO]",
        help="one reading (repeat for more); PHOTO is the photo's reference",
    )
    readings.add_argument("--read-at", type=int, default=None, help="Unix seconds (default: now)")
    bill = sub.add_parser("bill", help="the bill on site for an uploaded reading (an estimate)")
    bill.add_argument("--order", required=True, help="the reading's order number")
    tasks = sub.add_parser("dunning-tasks", help="the open dunning tasks on the agent's routes")
    tasks.add_argument("--page", type=int, default=1)
    tasks.add_argument("--page-size", type=int, default=20)
    check = sub.add_parser("precheck", help="may this customer be disconnected now")
    check.add_argument("--task", type=int, required=True)
    visit = sub.add_parser("visit", help="report a dunning visit's outcome")
    visit.add_argument("--task", type=int, required=True)
    visit.add_argument("--outcome", choices=OUTCOMES, required=True)
    visit.add_argument("--order", required=True, help="the terminal's order number")
    visit.add_argument("--note", default="")
    notice = sub.add_parser("notice", help="print a task's dunning notice")
    notice.add_argument("--task", type=int, required=True)


def _reading(text: str, read_at: int) -> dict[str, Any]:
    parts = text.split(":")
    if not 3 <= len(parts) <= 4:
        raise CommandError(f"--reading {text!r} is not ORDER:METER:KWH[:PHOTO]")
    item: dict[str, Any] = {
        "order": parts[0],
        "meter_number": parts[1],
        "register_kwh": parts[2],
        "read_at": read_at,
    }
    if len(parts) == 4:
        item["photo"] = parts[3]
    return item


def run(device: client.Terminal, options: dict[str, Any]) -> dict[str, Any]:
    action = options["action"]
    if action == "routes":
        return device.request("routes")
    if action == "route":
        return device.request(
            "route", book=options["book"], page=options["page"], page_size=options["page_size"]
        )
    if action == "readings":
        at = options["read_at"] if options["read_at"] is not None else int(time.time())
        return device.request("readings", readings=[_reading(r, at) for r in options["reading"]])
    if action == "bill":
        return device.request("bill", order=options["order"])
    if action == "dunning-tasks":
        return device.request("dunning_tasks", page=options["page"], page_size=options["page_size"])
    if action == "visit":
        fields = {"task": options["task"], "outcome": options["outcome"], "order": options["order"]}
        if options["note"]:
            fields["note"] = options["note"]
        return device.request("visit", **fields)
    return device.request("precheck" if action == "precheck" else "notice", task=options["task"])


def _money(minor: object, currency: object) -> str:
    return Money(int(str(minor)), str(currency)).format()


def receipt(action: str, reply: dict[str, Any]) -> str:
    """What the terminal shows or prints for a field action's reply."""
    if action == "routes":
        lines = ["ROUTES"] + [
            f"{r['book']:<16} {r['meters']:>4} meters  day {r['cycle_day']:>2}  {r['name']}"
            for r in reply["routes"]
        ]
        return "\n".join(lines)
    if action == "route":
        lines = [f"ROUTE {reply['book']}  {reply['name']}  page {reply['page']}/{reply['pages']}"]
        for m in reply["meters"]:
            expected = (
                f"{m['expected_low_kwh']}-{m['expected_high_kwh']}"
                if m["expected_low_kwh"] is not None
                else "any"
            )
            lines.append(
                f"{m['position']:>4} {m['meter_number']}  {m['account_number']}  "
                f"last {m['last_register_kwh'] or '-'}  expected {expected}"
            )
        return "\n".join(lines)
    if action == "readings":
        return "\n".join(
            f"{r['order']}  {r['meter_number']}  {r['result'].upper()}"
            + (f"  {r['code']}" if r["code"] else "")
            for r in reply["results"]
        )
    if action == "bill":
        cur = reply["currency"]
        lines = [
            f"*** {reply['title']} ***",
            f"ACCOUNT {reply['account_number']}  {reply['name']}",
            f"METER   {reply['meter_number']}",
            f"PERIOD  {reply['period_start']} - {reply['period_end']}",
            f"READING {reply['previous_register_kwh']} -> {reply['current_register_kwh']} "
            f"= {reply['consumption_kwh']} kWh",
        ]
        lines += [
            f"  {line['label']:<28} {_money(line['amount_minor'], cur)}" for line in reply["lines"]
        ]
        lines += [
            f"ESTIMATED TOTAL  {_money(reply['amount_minor'], cur)}",
            f"*** {reply['title']} ***",
        ]
        return "\n".join(lines)
    if action == "dunning-tasks":
        lines = [f"DUNNING TASKS  page {reply['page']}/{reply['pages']}  ({reply['total']})"]
        lines += [
            f"task {t['task']}  {t['stage']:<13} {t['book']}#{t['position']}  "
            f"{t['account_number']}  {_money(t['arrears_minor'], t['currency'])}"
            + (f"  order {t['order']} {t['order_status']}" if t["order"] else "")
            for t in reply["tasks"]
        ]
        return "\n".join(lines)
    if action == "precheck":
        verdict = "MAY DISCONNECT" if reply["may_disconnect"] else "DO NOT DISCONNECT"
        lines = [
            f"PRE-DISCONNECTION CHECK  task {reply['task']}",
            f"ACCOUNT {reply['account_number']}  {reply['name']}",
            f"ARREARS   {_money(reply['arrears_minor'], reply['currency'])}",
            f"TOTAL DUE {_money(reply['total_due_minor'], reply['currency'])}",
            verdict + (f": {', '.join(reply['reasons'])}" if reply["reasons"] else ""),
        ]
        return "\n".join(lines)
    if action == "visit":
        return f"VISIT RECORDED  task {reply['task']}  {reply['outcome']}  ({reply['order']})" + (
            f"\norder {reply['disconnection_order']} {reply['order_status']}"
            if reply["disconnection_order"]
            else ""
        )
    return "\n".join(reply["lines"])
