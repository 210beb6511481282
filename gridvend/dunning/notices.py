"""Dunning notices as PDF: one for a task, in its customer's language, and a route's batch in
reading order for the field agent, each notice in its own customer's language (Arabic shaped and
right to left, Chinese with the shipped CJK font; ``gridvend.pdf``); and the same notice's text
as lines for a handheld terminal's receipt printer (``notice_lines``)."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy

from gridvend.dunning.models import DunningTask, Stage
from gridvend.kernel.money import Money
from gridvend.pdf.layout import write_pdf

# A route's batch is printed at most this many notices at a time (a page each).
MAX_BATCH = 300

_CSS = """
@page { size: A4; margin: 18mm 16mm; }
body { font-size: 11pt; line-height: 1.45; }
.notice { page-break-after: always; }
.notice:last-child { page-break-after: auto; }
h1 { font-size: 16pt; margin: 0 0 4mm 0; }
table { border-collapse: collapse; margin: 4mm 0; }
td { padding: 1mm 4mm 1mm 0; vertical-align: top; }
.route { color: #555; font-size: 9pt; }
.stage { font-weight: bold; }
"""


# The notice's words, one set for the PDF's template and the printer's lines.
TITLES = {
    Stage.DISCONNECTION: gettext_lazy("Final notice before disconnection"),
    Stage.NOTICE: gettext_lazy("Notice of overdue electricity bill"),
    Stage.REMINDER: gettext_lazy("Reminder: electricity bill overdue"),
}
BODIES = {
    Stage.DISCONNECTION: gettext_lazy(
        "Your supply will be disconnected unless the amount overdue is paid. If you have paid "
        "in the last days, please show the receipt to our field agent."
    ),
    Stage.NOTICE: gettext_lazy(
        "Please pay the amount overdue now. If it stays unpaid, your supply may be disconnected."
    ),
    Stage.REMINDER: gettext_lazy(
        "Please pay the amount overdue at a pay office, through your bank or by mobile money."
    ),
}
AS_OF = gettext_lazy(
    "Figures as of the date of this notice; payments made since then are not shown."
)
LABELS = {
    "customer": gettext_lazy("Customer"),
    "account": gettext_lazy("Account number"),
    "since": gettext_lazy("Overdue since"),
    "arrears": gettext_lazy("Amount overdue"),
    "total": gettext_lazy("Total amount due"),
    "date": gettext_lazy("Date of this notice"),
}


def _language(task: DunningTask) -> str:
    language = task.customer.language or settings.LANGUAGE_CODE
    return language if language in {code for code, _name in settings.LANGUAGES} else "en"


def _notice_html(task: DunningTask) -> str:
    language = _language(task)
    with translation.override(language):
        return render_to_string(
            "dunning/notice.html",
            {
                "task": task,
                "customer": task.customer,
                "language": language,
                "rtl": language in settings.LANGUAGES_BIDI,
                "utility": settings.UTILITY_NAME,
                "arrears": Money(task.arrears_minor, task.currency).format(),
                "total_due": Money(task.total_due_minor, task.currency).format(),
                "title": TITLES[Stage(task.stage)],
                "body": BODIES[Stage(task.stage)],
                "as_of": AS_OF,
                "labels": LABELS,
            },
        )


def notice_lines(task: DunningTask) -> tuple[str, list[str]]:
    """The task's notice as plain lines for a receipt printer, in the customer's language (the
    same words as the PDF), and that language's code."""
    language = _language(task)
    with translation.override(language):
        lines = [
            settings.UTILITY_NAME,
            str(TITLES[Stage(task.stage)]),
            f"{LABELS['customer']}: {task.customer.name}",
            f"{LABELS['account']}: {task.customer.account_number}",
            f"{LABELS['since']}: {task.oldest_due_date:%Y-%m-%d}",
            f"{LABELS['arrears']}: {Money(task.arrears_minor, task.currency).format()}",
            f"{LABELS['total']}: {Money(task.total_due_minor, task.currency).format()}",
            f"{LABELS['date']}: {task.business_date:%Y-%m-%d}",
            str(BODIES[Stage(task.stage)]),
            str(AS_OF),
        ]
    return language, lines


def notices_pdf(tasks: Sequence[DunningTask]) -> bytes:
    """The tasks' notices, one page each, in the order given."""
    sections = "\n".join(_notice_html(task) for task in tasks[:MAX_BATCH])
    page = (
        '<!doctype html><html dir="ltr"><head><meta charset="utf-8"></head>'
        f"<body>{sections}</body></html>"
    )
    return write_pdf(page, stylesheets=[_CSS])
