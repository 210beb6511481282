"""Version 1 of the partner REST API: one handler per operation, each a call to the partner
services and a translation of its answer (or refusal) to JSON."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security.base import AuthBase

from gridvend.api import schemas as s
from gridvend.api.errors import (
    BodyTooLarge,
    OutcomeUnknown,
    RequestInvalid,
    UnsupportedMediaType,
    refusal_response,
)
from gridvend.kernel.errors import DomainError
from gridvend.kernel.money import Money
from gridvend.ledger.selectors import account_balance
from gridvend.partners import credentials, selectors
from gridvend.partners import services as partners
from gridvend.partners.errors import CredentialsMissing
from gridvend.partners.models import Partner
from gridvend.partners.services import Answer, Call
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, Token

MAX_BODY_BYTES = 16 * 1024
log = logging.getLogger(__name__)


class _PartnerAuth(AuthBase):
    """A partner's key (Bearer, or Basic for clients that only speak it), optionally with a
    request signature; every refusal is raised with its code (see ``credentials``)."""

    max_bytes = MAX_BODY_BYTES
    media_type = "application/json"

    def __call__(self, request: HttpRequest) -> Partner | None:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > self.max_bytes:
            raise BodyTooLarge(limit=self.max_bytes)
        partner = credentials.authenticate(
            authorization=request.headers.get("Authorization"),
            ip=_client_ip(request),
            method=request.method or "GET",
            path=request.get_full_path(),
            body=request.body,
            timestamp=request.headers.get("X-Gridvend-Timestamp"),
            signature=request.headers.get("X-Gridvend-Signature"),
        )
        if request.method == "POST":
            kind = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
            if kind != self.media_type:
                raise UnsupportedMediaType(media_type=self.media_type)
        return partner


class _CsvAuth(_PartnerAuth):
    """The settlement file's own limits: a CSV body of up to the file cap (10 MB)."""

    max_bytes = 10 * 1024 * 1024
    media_type = "text/csv"


class CsvBearerKey(_CsvAuth):
    openapi_type = "http"
    openapi_scheme = "bearer"


class CsvBasicKey(_CsvAuth):
    openapi_type = "http"
    openapi_scheme = "basic"

    def __call__(self, request: HttpRequest) -> Partner | None:
        return None


class BearerKey(_PartnerAuth):
    openapi_type = "http"
    openapi_scheme = "bearer"


class BasicKey(_PartnerAuth):
    openapi_type = "http"
    openapi_scheme = "basic"

    def __call__(self, request: HttpRequest) -> Partner | None:
        # One pass does both schemes (credentials reads the header); this one is listed so that
        # the OpenAPI document shows Basic as accepted.
        return None


def _client_ip(request: HttpRequest) -> str | None:
    from gridvend.audit import context

    return context.current().ip


api = NinjaAPI(
    title="gridvend partner API",
    version="1.0.0",
    description=(
        "Sell prepaid electricity tokens from a partner's float: look a meter up, quote, sell, "
        "confirm or reverse, ask for the last answer to a request id. See docs/api.md."
    ),
    openapi_url="/openapi.json",
    docs_url=None,  # the interactive page loads scripts from a CDN: gridvend runs offline
    urls_namespace="api-v1",
    auth=[BearerKey(), BasicKey()],
)

REFUSALS: dict[int | str, Any] = {
    400: s.ErrorOut,
    401: s.ErrorOut,
    403: s.ErrorOut,
    404: s.ErrorOut,
    409: s.ErrorOut,
    413: s.ErrorOut,
    415: s.ErrorOut,
    422: s.ErrorOut,
    429: s.ErrorOut,
    503: s.ErrorOut,
}


@api.exception_handler(DomainError)
def _refused(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return refusal_response(request, exc)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    problems = []
    for error in exc.errors[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return refusal_response(request, RequestInvalid(problem="; ".join(problems) or "invalid"))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # Django Ninja's own refusals (a body that is not JSON, say).
    return refusal_response(request, RequestInvalid(problem=str(exc)[:200]))


@api.exception_handler(Exception)
def _unforeseen(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Still a 500 (and logged with its traceback), but in the one error shape, so a client's
    # parser never meets an HTML page; the outcome of a sale is unknown to this answer.
    log.error("partner API: unexpected error on %s", request.path, exc_info=exc)
    return refusal_response(request, OutcomeUnknown())


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return refusal_response(request, CredentialsMissing())


def _call(request: HttpRequest, till: s.Till | None = None, msisdn: str = "") -> Call:
    partner: Partner = request.auth  # type: ignore[attr-defined]
    return Call(
        partner=partner,
        interface="api",
        vending_point=till.vending_point if till is not None else "",
        terminal_id=till.terminal_id if till is not None else "",
        operator_id=till.operator_id if till is not None else "",
        msisdn=msisdn,
    )


def _money(amount: s.Amount | None) -> Money | None:
    return Money(amount.minor, amount.currency) if amount is not None else None


def _kwh(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _out(money: Money) -> dict[str, Any]:
    return {"minor": money.minor, "currency": money.currency}


def _minor(minor: int, currency: str) -> dict[str, Any]:
    return {"minor": minor, "currency": currency}


def _decimal(value: Decimal) -> str:
    """kWh as plain text, the same for a sale just made and the same sale read back."""
    return format(Decimal(value).normalize(), "f")


def _token(token: Token) -> dict[str, Any]:
    digits = token.digits
    return {
        "kind": token.kind,
        "token": digits,
        "display": " ".join(digits[i : i + 4] for i in range(0, len(digits), 4)),
        "units": _decimal(token.units) if token.units is not None else None,
        "tid": token.tid,
    }


def _sale(sale: Sale, tokens: list[Token]) -> dict[str, Any]:
    cur = sale.currency
    return {
        "reference": sale.reference,
        "kind": sale.kind,
        "meter_number": sale.meter.number,
        "customer_name": sale.customer.name if sale.customer is not None else "",
        "created_at": sale.created_at,
        "business_date": sale.business_date,
        "currency": cur,
        "amount": _minor(sale.tender_minor, cur),
        "energy": _minor(sale.energy_minor, cur),
        "tax": _minor(sale.tax_minor, cur),
        "fixed_charges": _minor(sale.fixed_charges_minor, cur),
        "debt_recovered": _minor(sale.debt_recovered_minor, cur),
        "kwh": _decimal(sale.kwh),
        "fbe_kwh": _decimal(sale.fbe_kwh),
        "tokens": [_token(t) for t in tokens],
    }


def _vend(answer: Answer) -> Status:
    assert answer.result is not None
    body = {
        "request_id": answer.request.request_id,
        "state": answer.request.state,
        "replayed": answer.replayed,
        "sale": _sale(answer.result.sale, answer.result.tokens),
    }
    return Status(200 if answer.replayed else 201, body)


@api.post(
    "/meter-lookups",
    response={200: s.LookupOut, **REFUSALS},
    operation_id="lookupMeter",
    summary="Confirm a meter and its customer before a sale",
)
def lookup_meter(request: HttpRequest, body: s.LookupIn) -> Any:
    found = partners.lookup(_call(request), body.meter_number)
    premise = found.meter.premise
    return {
        "request_id": body.request_id,
        "meter_number": found.meter.number,
        "customer": {
            "name": found.customer.name,
            "account_number": found.customer.account_number,
            "address": partners.disclosed_address(premise.address if premise is not None else ""),
        },
        "currency": found.currency,
        "min_amount": _out(found.minimum),
        "max_amount": _out(found.maximum) if found.maximum is not None else None,
        "arrears": _out(found.debt_balance),
        "fbe_due_kwh": _decimal(found.fbe_due_kwh),
        "key_change_pending": found.key_change_pending,
    }


@api.post(
    "/trial-vends",
    response={200: s.TrialOut, **REFUSALS},
    operation_id="trialVend",
    summary="The full breakdown of a sale, with nothing sold",
)
def trial_vend(request: HttpRequest, body: s.TrialIn) -> Any:
    quote = partners.trial(
        _call(request), body.meter_number, tender=_money(body.amount), kwh=_kwh(body.kwh)
    )
    b = quote.breakdown
    return {
        "request_id": body.request_id,
        "meter_number": quote.meter.number,
        "currency": b.currency,
        "amount": _out(b.tender),
        "energy": _out(b.energy_net),
        "tax": _out(b.tax_total),
        "fixed_charges": _out(b.fixed_charges_net),
        "debt_recovered": _out(b.debt_recovered),
        "kwh": _decimal(b.kwh),
        "fbe_kwh": _decimal(b.fbe_kwh),
        "key_change_pending": quote.key_change_pending,
        "token_count": quote.token_count,
    }


@api.post(
    "/vends",
    response={200: s.VendOut, 201: s.VendOut, **REFUSALS},
    operation_id="vend",
    summary="Sell credit (by money or by kWh) from the float",
)
def vend(request: HttpRequest, body: s.VendIn) -> Any:
    answer = partners.purchase(
        _call(request, body, body.msisdn),
        body.request_id,
        body.meter_number,
        tender=_money(body.amount),
        kwh=_kwh(body.kwh),
    )
    return _vend(answer)


@api.post(
    "/account-payments",
    response={200: s.VendOut, 201: s.VendOut, **REFUSALS},
    operation_id="payAccount",
    summary="Pay towards the customer's arrears, without a token",
)
def pay_account(request: HttpRequest, body: s.PaymentIn) -> Any:
    amount = _money(body.amount)
    assert amount is not None
    answer = partners.pay_account(
        _call(request, body), body.request_id, body.meter_number, amount=amount
    )
    return _vend(answer)


@api.post(
    "/fbe-vends",
    response={200: s.VendOut, 201: s.VendOut, **REFUSALS},
    operation_id="vendFreeBasicElectricity",
    summary="This month's free basic electricity, when due",
)
def fbe_vend(request: HttpRequest, body: s.FreeIn) -> Any:
    return _vend(partners.free_basic(_call(request, body), body.request_id, body.meter_number))


@api.post(
    "/key-change-vends",
    response={200: s.VendOut, 201: s.VendOut, **REFUSALS},
    operation_id="vendKeyChange",
    summary="The tokens of a meter's pending key change",
)
def key_change_vend(request: HttpRequest, body: s.FreeIn) -> Any:
    return _vend(partners.key_change(_call(request, body), body.request_id, body.meter_number))


@api.post(
    "/vends/{request_id}/confirmations",
    response={202: s.AdviceOut, **REFUSALS},
    operation_id="confirmVend",
    summary="Confirmation advice: the customer has the token",
)
def confirm_vend(request: HttpRequest, request_id: s.Id, body: s.AdviceIn) -> Any:
    done = partners.confirm(_call(request), body.advice_id, request_id)
    return Status(202, _advice(done))


@api.post(
    "/vends/{request_id}/reversals",
    response={202: s.AdviceOut, **REFUSALS},
    operation_id="reverseVend",
    summary="Reversal advice: the customer did not get the token",
)
def reverse_vend(request: HttpRequest, request_id: s.Id, body: s.ReversalIn) -> Any:
    done = partners.reverse(_call(request), body.advice_id, request_id, reason=body.reason)
    return Status(202, _advice(done))


def _advice(done: partners.AdviceAnswer) -> dict[str, Any]:
    return {
        "advice_id": done.advice.advice_id,
        "request_id": done.request.request_id,
        "outcome": done.advice.outcome,
        "state": done.request.state,
    }


@api.get(
    "/requests/{request_id}",
    response={200: s.RequestOut, **REFUSALS},
    operation_id="lastResponse",
    summary="Does this request exist, and what was the answer?",
)
def last_response(request: HttpRequest, request_id: s.Id) -> Any:
    call = _call(request)
    found = selectors.partner_request(call.partner, request_id)
    sale = found.sale
    error = None
    if sale is None:
        error = partners.refusal_of(found).as_dict() if found.error_code else None
    return {
        "request_id": found.request_id,
        "kind": found.kind,
        "state": found.state,
        "created_at": found.created_at,
        "finalised_at": found.finalised_at,
        "sale": _sale(sale, list(sale.tokens.order_by("sequence"))) if sale else None,
        "error": error,
    }


@api.post(
    "/reprints",
    response={200: s.VendOut, **REFUSALS},
    operation_id="reprint",
    summary="The tokens of an earlier sale again (never new ones); audited",
)
def reprint(request: HttpRequest, body: s.ReprintIn) -> Any:
    call = _call(request)
    result = partners.reprint(call, body.request_id)
    found = selectors.partner_request(call.partner, body.request_id)
    return Status(
        200,
        {
            "request_id": found.request_id,
            "state": found.state,
            "replayed": True,
            "sale": _sale(result.sale, result.tokens),
        },
    )


@api.get(
    "/float",
    response={200: s.FloatOut, **REFUSALS},
    operation_id="floatBalance",
    summary="What the float holds and what may still be sold",
)
def float_balance(request: HttpRequest) -> Any:
    partner = _call(request).partner
    point = partners.partner_point(partner)
    kept = account_balance(partner.float_account)
    limit = selectors.credit_limit(partner)
    return {
        "partner": partner.code,
        "currency": partner.currency,
        "balance": _minor(-kept, partner.currency),
        "credit_limit": _out(limit),
        "available": _out(vending.float_available(point, partner.currency)),
    }


@api.get(
    "/float/statements/{business_date}",
    response={200: s.StatementOut, **REFUSALS},
    operation_id="floatStatement",
    summary="The float's statement for one business day",
)
def float_statement(request: HttpRequest, business_date: s.Day) -> Any:
    partner = _call(request).partner
    st = selectors.float_statement(partner, _day(business_date))
    return {
        "partner": partner.code,
        "business_date": st.day,
        "currency": partner.currency,
        "opening": _out(st.opening),
        "sales": _out(st.sales),
        "sale_count": st.sale_count,
        "reversals": _out(st.reversals),
        "reversal_count": st.reversal_count,
        "top_ups": _out(st.top_ups),
        "top_up_count": st.top_up_count,
        "closing": _out(st.closing),
        "ties_to_ledger": st.ties,
    }


@api.post(
    "/fault-reports",
    response={201: s.FaultOut, **REFUSALS},
    operation_id="reportFault",
    summary="A meter fault the customer reports",
)
def report_fault(request: HttpRequest, body: s.FaultIn) -> Any:
    fault = partners.report_fault(
        _call(request),
        body.meter_number,
        description=body.description,
        category=body.category,
        reporter_phone=body.reporter_phone,
    )
    return Status(
        201,
        {
            "request_id": body.request_id,
            "fault_id": fault.pk,
            "meter_number": fault.meter.number,
            "category": fault.category,
            "status": fault.status,
        },
    )


@api.post(
    "/settlement-files/{business_date}",
    response={201: s.SettlementOut, 200: s.SettlementOut, **REFUSALS},
    operation_id="uploadSettlementFile",
    summary="Send the day's settlement file (CSV, docs/settlement-files.md); it is reconciled",
    auth=[CsvBearerKey(), CsvBasicKey()],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string", "maxLength": 10485760}}},
        }
    },
)
def upload_settlement_file(request: HttpRequest, business_date: s.Day) -> Any:
    from gridvend.partners.services import reconciliation

    partner = _call(request).partner
    day = _day(business_date)
    before = partner.settlement_files.filter(business_date=day).count()
    upload = reconciliation.upload_settlement_file(
        actor=partner.service_user,
        partner=partner,
        business_date=day,
        content=request.body,
        filename=f"{partner.code}-{day.isoformat()}.csv",
    )
    again = partner.settlement_files.filter(business_date=day).count() == before
    return Status(
        200 if again else 201,
        {
            "business_date": upload.business_date,
            "status": upload.status,
            "line_count": upload.line_count,
            "currency": upload.currency,
            "file_total": _minor(upload.file_total_minor, upload.currency),
            "our_total": _minor(upload.our_total_minor, upload.currency),
            "counts": {
                name: int(entry.get("count", 0))
                for name, entry in (upload.summary.get("statuses") or {}).items()
            },
        },
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2026-02-30: the pattern lets the day of a month through
        raise RequestInvalid(problem=f"business_date: {text} is not a date") from None
