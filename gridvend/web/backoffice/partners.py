"""Back-office screens for partners: list, detail, set up and edit, points, float top-ups asked by
one person and decided by another, and the daily float statement (with its CSV)."""

from __future__ import annotations

from datetime import date
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridvend.approvals.models import RequestStatus
from gridvend.identity.models import User
from gridvend.kernel.clock import SystemClock, business_date
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.org import selectors as org_selectors
from gridvend.partners import credentials
from gridvend.partners import selectors as partner_selectors
from gridvend.partners import services as partner_services
from gridvend.partners.models import Partner, PartnerKind, PartnerStatus
from gridvend.partners.selectors import FloatStatement
from gridvend.web.backoffice import access, exports
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import form_page, initial_from, show_error, unit_choices
from gridvend.web.backoffice.filtersets import DayFilterSet, PartnerFilterSet, TopUpFilterSet
from gridvend.web.caching import no_store
from gridvend.web.errors import describe
from gridvend.web.lists import ObjectList, page_of, query_without_page
from gridvend.web.sessions import actor

PARTNER_COLUMNS = [
    *exports.attribute_columns("code", "name", "kind", "status", "currency"),
    exports.Column("org_unit", lambda p: p.org_unit.name),
    exports.Column("contact_email", lambda p: p.contact_email),
    exports.Column("contact_phone", lambda p: p.contact_phone),
    exports.Column("low_float", lambda p: exports.money_major(p.low_float_minor, p.currency)),
]


def _partner_rows(user: User, page: Page[Any]) -> list[tuple[Partner, Money]]:
    partners = list(page)
    available = partner_selectors.floats_available(partners)
    return [(p, available[p.pk]) for p in partners]


PARTNERS = ObjectList(
    name="partners",
    filterset=PartnerFilterSet,
    selector=partner_selectors.list_partners,
    columns=PARTNER_COLUMNS,
    template="backoffice/partner_list.html",
    allowed=access.can_view_partners,
    context=lambda user: {
        "statuses": PartnerStatus.choices,
        "kinds": PartnerKind.choices,
        "units": unit_choices(user),
        "can_manage": access.can_manage_partners(user),
        "can_top_up": access.can_top_up_partners(user),
    },
    rows=_partner_rows,
)
partner_list = PARTNERS.list_view()
partner_export = PARTNERS.export_view()


def _money(major: Any, currency: str) -> Money:
    return Money.from_major(major, currency)


def _detail_url(partner: Partner) -> str:
    return reverse("backoffice:partner-detail", kwargs={"pk": partner.pk})


@no_store
@login_required
def partner_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_partners(user))
    partner = partner_selectors.get_partner(user, pk)
    context = {
        "partner": partner,
        "available": partner_selectors.float_available(partner),
        "credit_limit": partner_selectors.credit_limit(partner),
        "low_float": Money(partner.low_float_minor, partner.currency),
        "points": list(partner_selectors.partner_points(partner)),
        "keys": list(partner_selectors.partner_keys(partner)[:50]),
        "requests": partner_selectors.recent_requests(partner, 25),
        "top_ups": list(partner_selectors.list_top_up_requests(user, partner=partner)[:25]),
        "can_manage": access.can_manage_partners(user),
        "can_top_up": access.can_top_up_partners(user),
        "decision_form": bo_forms.TopUpDecisionForm(),
    }
    return render(request, "backoffice/partner_detail.html", context)


@login_required
def partner_create(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(access.can_manage_partners(user))
    form = bo_forms.PartnerCreateForm(
        request.POST or None,
        units=unit_choices(user),
        initial={
            "unconfirmed_policy": "auto_confirm",
            "confirmation_window_minutes": 24 * 60,
            "reversal_window_minutes": 24 * 60,
            "credit_limit": "0",
            "low_float": "0",
        },
    )
    currency = settings.CURRENCY

    def save(data: dict[str, Any]) -> str:
        unit = org_selectors.get_unit(user, data.pop("org_unit"))
        point_name, point_channel = data.pop("point_name"), data.pop("point_channel")
        partner = partner_services.create_partner(
            actor=user,
            code=data.pop("code"),
            name=data.pop("name"),
            kind=data.pop("kind"),
            org_unit=unit,
            currency=currency,
            credit_limit=_money(data.pop("credit_limit"), currency),
            low_float=_money(data.pop("low_float"), currency),
            **data,
        )
        partner_services.add_partner_point(
            actor=user, partner=partner, name=point_name, channel=point_channel
        )
        return _detail_url(partner)

    return form_page(
        request,
        form,
        title=_("Set up a partner"),
        intro=_("Amounts in %(currency)s. The partner sells from one float through its points.")
        % {"currency": currency},
        save=save,
        saved=_("Partner set up."),
    )


@login_required
def partner_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_partners(user))
    partner = partner_selectors.get_partner(user, pk)
    access.require(access.can_manage_partners(user))
    initial = initial_from(
        partner,
        "name",
        "status",
        "ip_allow_list",
        "contact_email",
        "contact_phone",
        "unconfirmed_policy",
        "confirmation_window_minutes",
        "reversal_window_minutes",
        "settlement_bank",
        "settlement_account",
        "delivers_settlement_files",
        credit_limit=partner_selectors.credit_limit(partner).to_major(),
        low_float=Money(partner.low_float_minor, partner.currency).to_major(),
    )
    form = bo_forms.PartnerEditForm(request.POST or None, initial=initial)

    def save(data: dict[str, Any]) -> str:
        data["credit_limit"] = _money(data["credit_limit"], partner.currency)
        data["low_float"] = _money(data["low_float"], partner.currency)
        partner_services.update_partner(actor=user, partner=partner, **data)
        return _detail_url(partner)

    return form_page(
        request,
        form,
        title=_("Edit partner %(code)s") % {"code": partner.code},
        intro=_("Amounts in %(currency)s.") % {"currency": partner.currency},
        save=save,
        saved=_("Partner saved."),
    )


@login_required
def partner_point_add(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_partners(user))
    partner = partner_selectors.get_partner(user, pk)
    access.require(access.can_manage_partners(user))
    form = bo_forms.PartnerPointForm(request.POST or None)

    def save(data: dict[str, Any]) -> str:
        partner_services.add_partner_point(actor=user, partner=partner, **data)
        return _detail_url(partner)

    return form_page(
        request,
        form,
        title=_("Add a vending point to %(code)s") % {"code": partner.code},
        intro=_("It sells from the partner's float."),
        save=save,
        saved=_("Vending point added."),
    )


@no_store
@login_required
def partner_key_issue(request: HttpRequest, pk: int) -> HttpResponse:
    """A new API key for the partner, shown on the answering page once and never again (only
    its digest is kept): the page is not stored, and reloading it issues nothing."""
    user = actor(request)
    access.require(access.can_view_partners(user))
    partner = partner_selectors.get_partner(user, pk)
    access.require(access.can_manage_partners(user))
    form = bo_forms.PartnerKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            issued = credentials.issue_key(
                actor=user,
                partner=partner,
                label=data["label"],
                requires_signature=data["requires_signature"],
                rate_limit_per_minute=data["rate_limit_per_minute"],
            )
        except DomainError as exc:
            if exc.code in ("PERMISSION_DENIED", "NOT_FOUND"):
                raise
            show_error(form, exc)
        else:
            return render(
                request,
                "backoffice/partner_key_issued.html",
                {"partner": partner, "issued": issued},
            )
    return render(
        request,
        "backoffice/form_page.html",
        {
            "form": form,
            "title": _("Issue an API key to %(code)s") % {"code": partner.code},
            "intro": _(
                "The key and its signing secret are shown once, on the next page: hand them "
                "to the partner there. gridvend keeps only a digest and cannot show them again."
            ),
        },
    )


@require_POST
@login_required
def partner_key_revoke(request: HttpRequest, pk: int, key_pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_partners(user))
    partner = partner_selectors.get_partner(user, pk)
    access.require(access.can_manage_partners(user))
    key = partner_selectors.partner_key(partner, key_pk)
    credentials.revoke_key(actor=user, key=key)
    messages.success(
        request, _("Key %(prefix)s revoked: it stops working now.") % {"prefix": key.prefix}
    )
    return redirect(_detail_url(partner))


@login_required
def top_up_request(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_view_partners(user))
    partner = partner_selectors.get_partner(user, pk)
    access.require(access.can_top_up_partners(user))
    form = bo_forms.TopUpRequestForm(request.POST or None)

    def save(data: dict[str, Any]) -> str:
        made = partner_services.request_top_up(
            actor=user,
            partner=partner,
            amount=_money(data["amount"], partner.currency),
            reference=data["reference"],
            note=data["note"],
        )
        if made.status == RequestStatus.PENDING:
            messages.info(request, _("Another person with the finance role must approve it."))
        return _detail_url(partner)

    return form_page(
        request,
        form,
        title=_("Top up the float of %(code)s") % {"code": partner.code},
        intro=_("Amount in %(currency)s, as received at the bank.")
        % {"currency": partner.currency},
        save=save,
        saved=_("Top-up recorded."),
    )


@no_store
@login_required
def top_up_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(access.can_top_up_partners(user))
    data = request.GET.copy()
    if "status" not in data:
        data["status"] = RequestStatus.PENDING
    found = TopUpFilterSet(data, actor=user, selector=partner_selectors.list_top_up_requests)
    page = page_of(request, found.qs)
    context = {
        "page": page,
        "filters": found.echo(),
        "statuses": RequestStatus.choices,
        "query": query_without_page(request),
        "decision_form": bo_forms.TopUpDecisionForm(),
    }
    return render(request, "backoffice/top_up_list.html", context)


@require_POST
@login_required
def top_up_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    access.require(access.can_top_up_partners(user))
    top_up = partner_selectors.get_top_up_request(user, pk)
    form = bo_forms.TopUpDecisionForm(request.POST)
    # Back to the list or to the partner, never to an address the form names.
    back = (
        _detail_url(top_up.partner)
        if request.POST.get("back") == "partner"
        else reverse("backoffice:top-up-list")
    )
    if not form.is_valid():
        for problems in form.errors.values():
            messages.error(request, " ".join(str(p) for p in problems))
        return redirect(back)
    note = form.cleaned_data["note"]
    try:
        if form.cleaned_data["decision"] == "approve":
            partner_services.approve_top_up(actor=user, request=top_up, note=note)
            messages.success(request, _("Top-up approved and added to the float."))
        else:
            partner_services.reject_top_up(actor=user, request=top_up, note=note)
            messages.success(request, _("Top-up rejected."))
    except DomainError as exc:
        if exc.code in ("PERMISSION_DENIED", "NOT_FOUND"):
            raise
        messages.error(request, describe(exc))
    return redirect(back)


def _statement(request: HttpRequest, pk: int) -> FloatStatement:
    user = actor(request)
    access.require(access.can_view_partners(user))
    partner = partner_selectors.get_partner(user, pk)
    values = DayFilterSet(
        request.GET, actor=user, selector=partner_selectors.list_partners
    ).values()
    day: date = values.get("day") or business_date(SystemClock().now(), settings.TIME_ZONE)
    return partner_selectors.float_statement(partner, day)


def _statement_lines(statement: FloatStatement) -> list[dict[str, Any]]:
    lines = [
        ("opening", _("Opening balance"), None, statement.opening),
        ("top_ups", _("Top-ups"), statement.top_up_count, statement.top_ups),
        ("sales", _("Sales"), statement.sale_count, statement.sales),
        ("reversals", _("Reversals"), statement.reversal_count, statement.reversals),
        ("closing", _("Closing balance"), None, statement.closing),
    ]
    return [
        {"line": key, "label": label, "count": count, "amount": amount}
        for key, label, count, amount in lines
    ]


@no_store
@login_required
def partner_statement(request: HttpRequest, pk: int) -> HttpResponse:
    statement = _statement(request, pk)
    context = {
        "partner": statement.partner,
        "statement": statement,
        "lines": _statement_lines(statement),
        "day": statement.day.isoformat(),
    }
    return render(request, "backoffice/partner_statement.html", context)


STATEMENT_COLUMNS = [
    exports.Column("partner", itemgetter("partner")),
    exports.Column("day", itemgetter("day")),
    exports.Column("line", itemgetter("line")),
    exports.Column("count", itemgetter("count")),
    exports.Column("amount", itemgetter("amount")),
    exports.Column("currency", itemgetter("currency")),
    exports.Column("ties_to_ledger", itemgetter("ties")),
]


@login_required
def partner_statement_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    statement = _statement(request, pk)
    rows = [
        {
            "partner": statement.partner.code,
            "day": statement.day,
            "line": line["line"],
            "count": line["count"],
            "amount": line["amount"].to_major(),
            "currency": line["amount"].currency,
            "ties": statement.ties,
        }
        for line in _statement_lines(statement)
    ]
    return exports.respond(
        fmt, f"float-statement-{statement.partner.code}-{statement.day}", STATEMENT_COLUMNS, rows
    )
