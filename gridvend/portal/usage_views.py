"""Usage (issue 18 point 5): the money paid and the kWh bought per month for the login's meters,
as server-drawn SVG charts (the reports' chart machinery: no script, no CDN) and as a table,
each month beside the same month a year before and the customer's own average month."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.kernel.clock import business_date
from gridvend.kernel.money import Money
from gridvend.logins import purchases, selectors
from gridvend.logins.models import CustomerLogin
from gridvend.portal.views import _page, customer_required
from gridvend.reports.charts import bar_chart, data_uri


def _month_label(month: str) -> str:
    return month  # "2026-06": the same in every language, and short on a phone's axis


@customer_required
def usage(request: HttpRequest, login: CustomerLogin) -> HttpResponse:
    links = selectors.linked_meters(login)
    chosen = str(request.GET.get("meter", ""))[:20]
    meter = next((link.meter for link in links if link.meter.number == chosen), None)
    today = business_date(timezone.now(), settings.TIME_ZONE)
    found = purchases.monthly_usage(
        login,
        this_month=f"{today.year:04d}-{today.month:02d}",
        meter_id=meter.pk if meter is not None else None,
    )
    labels = [_month_label(m.month) for m in found.months]
    count = len(found.months)
    money_chart = bar_chart(
        _("Paid per month (%(currency)s)") % {"currency": found.currency},
        labels,
        [
            (
                _("Last twelve months"),
                [Money(m.paid_minor, found.currency).to_major() for m in found.months],
            ),
            (
                _("A year before"),
                [Money(m.year_before_paid_minor, found.currency).to_major() for m in found.months],
            ),
            (
                _("Your average"),
                [Money(found.average_paid_minor, found.currency).to_major()] * count,
            ),
        ],
    )
    kwh_chart = bar_chart(
        _("kWh bought per month"),
        labels,
        [
            (_("Last twelve months"), [m.kwh for m in found.months]),
            (_("A year before"), [m.year_before_kwh for m in found.months]),
            (_("Your average"), [found.average_kwh] * count),
        ],
    )
    rows = [
        (
            m,
            Money(m.paid_minor, found.currency).format(),
            Money(m.year_before_paid_minor, found.currency).format(),
        )
        for m in reversed(found.months)
    ]
    context = {
        "usage": found,
        "rows": rows,
        "average_paid": Money(found.average_paid_minor, found.currency).format(),
        "links": links,
        "meter": meter,
        "money_chart": data_uri(money_chart),
        "kwh_chart": data_uri(kwh_chart),
    }
    return _page(request, "usage.html", context)
