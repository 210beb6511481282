"""Back-office screens of the phone channels: USSD sessions (what each did, the aggregator's end
report) and SMS (inbound commands with their outcome and reply, and the failed messages
waiting for customer care). Read only; scoped by the paybill's partner's unit."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from gridvend.phone import permissions
from gridvend.phone import selectors as phone_selectors
from gridvend.web.backoffice import access
from gridvend.web.backoffice.filtersets import InboundSmsFilterSet, UssdSessionFilterSet
from gridvend.web.lists import page_of, query_without_page
from gridvend.web.sessions import actor


@login_required
def ussd_sessions(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_traffic(user))
    filterset = UssdSessionFilterSet(
        request.GET, actor=user, selector=phone_selectors.list_sessions
    )
    context = {
        "filters": filterset.form,
        "echo": filterset.echo(),
        "page": page_of(request, filterset.qs),
        "query": query_without_page(request),
    }
    return render(request, "backoffice/phone_ussd_sessions.html", context)


@login_required
def sms_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(permissions.can_view_traffic(user))
    filterset = InboundSmsFilterSet(request.GET, actor=user, selector=phone_selectors.list_inbound)
    reports, given_up = phone_selectors.sms_for_care(user, limit=50)
    page = page_of(request, filterset.qs)
    replies = phone_selectors.replies(list(page))
    context = {
        "filters": filterset.form,
        "echo": filterset.echo(),
        "page": page,
        "rows": [(m, replies.get(m.reply_key)) for m in page],
        "query": query_without_page(request),
        "care_reports": reports,
        "care_given_up": given_up,
    }
    return render(request, "backoffice/phone_sms.html", context)
