"""Dunning notices as PDF: one for a task, in its customer's language, and a route's batch in
reading order for the field agent, each notice in its own customer's language (Arabic shaped and
right to left, Chinese with the shipped CJK font; ``gridvend.pdf``)."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from gridvend.dunning.models import DunningTask
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
            },
        )


def notices_pdf(tasks: Sequence[DunningTask]) -> bytes:
    """The tasks' notices, one page each, in the order given."""
    sections = "\n".join(_notice_html(task) for task in tasks[:MAX_BATCH])
    page = (
        '<!doctype html><html dir="ltr"><head><meta charset="utf-8"></head>'
        f"<body>{sections}</body></html>"
    )
    return write_pdf(page, stylesheets=[_CSS])
