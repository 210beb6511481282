"""Back-office screens for tariffs: versions, drafting, comparing, and maker–checker review."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from gridvend.identity.errors import AccessDenied, NotFound
from gridvend.identity.models import User
from gridvend.kernel.errors import DomainError, ErrorCode, TariffNotFound
from gridvend.kernel.inputs import InvalidInput, parse_int
from gridvend.kernel.money import Money
from gridvend.org import selectors as org_selectors
from gridvend.tariffs import selectors as tariff_selectors
from gridvend.tariffs import services as tariff_services
from gridvend.tariffs.examples import starter_spec
from gridvend.tariffs.models import Tariff, TariffVersion, VersionStatus
from gridvend.web.backoffice import access, exports
from gridvend.web.backoffice import forms as bo_forms
from gridvend.web.backoffice.common import form_page, show_error, unit_choices
from gridvend.web.backoffice.filtersets import SearchFilterSet
from gridvend.web.backoffice.tariff_editor import SECTIONS, TariffEditor
from gridvend.web.backoffice.tariff_simulation import SimulationForm, find_customer, simulate
from gridvend.web.errors import describe
from gridvend.web.filters import MAX_ID
from gridvend.web.lists import ObjectList
from gridvend.web.sessions import actor

EDITABLE = (VersionStatus.DRAFT, VersionStatus.REJECTED)
UNDECIDED = (VersionStatus.DRAFT, VersionStatus.SUBMITTED, VersionStatus.REJECTED)


def _money(minor: Any, currency: str) -> Money | None:
    return None if minor is None else Money(int(minor), currency)


def spec_view(spec: dict[str, Any]) -> dict[str, Any]:
    """The stored spec with minor units turned into money, for reading rather than editing."""
    currency = spec.get("currency", "")
    energy = spec.get("energy") or {}
    if energy.get("type") == "flat":
        blocks = [{"up_to_kwh": None, "rate": energy.get("rate")}]
    else:
        blocks = list(energy.get("blocks") or [])
    rule = spec.get("debt_recovery")
    return {
        "currency": currency,
        "flat": energy.get("type") == "flat",
        "blocks": blocks,
        "fixed_charges": [
            {
                **charge,
                "amount": _money(charge.get("amount_minor"), currency),
                "cap": _money(charge.get("max_amount_minor"), currency),
            }
            for charge in spec.get("fixed_charges") or []
        ],
        "taxes": spec.get("taxes") or [],
        "fbe": sorted((spec.get("fbe_kwh") or {}).items()),
        "debt_recovery": None
        if rule is None
        else {
            "rate": rule.get("rate"),
            "min": _money(rule.get("min_per_sale_minor"), currency),
            "max": _money(rule.get("max_per_sale_minor"), currency),
            "month": _money(rule.get("max_per_month_minor"), currency),
        },
        "min_sale": _money(spec.get("min_sale_minor"), currency),
        "max_sale": _money(spec.get("max_sale_minor"), currency),
    }


def _require_view(user: User) -> None:
    access.require(access.can_view_tariffs(user))


TARIFFS = ObjectList(
    name="tariffs",
    filterset=SearchFilterSet,
    selector=tariff_selectors.list_visible_tariffs,
    columns=exports.TARIFF_COLUMNS,
    template="backoffice/tariff_list.html",
    allowed=access.can_view_tariffs,
    context=lambda user: {"can_draft": access.can_draft_tariffs(user)},
    rows=lambda user, page: [(t, tariff_selectors.manages_tariff(user, t)) for t in page],
)
tariff_list = TARIFFS.list_view()
tariff_export = TARIFFS.export_view()


@login_required
def tariff_create(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    access.require(access.can_draft_tariffs(user))
    form = bo_forms.TariffForm(request.POST or None, units=unit_choices(user))

    def save(data: dict[str, Any]) -> str:
        unit = org_selectors.get_unit(user, data.pop("org_unit"))
        tariff = tariff_services.create_tariff(actor=user, org_unit=unit, **data)
        return reverse("backoffice:version-create", kwargs={"pk": tariff.pk})

    return form_page(
        request,
        form,
        title=_("New tariff"),
        save=save,
        saved=_("Tariff created. Now draft its first version."),
    )


@login_required
def tariff_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    _require_view(user)
    tariff = tariff_selectors.get_tariff(user, pk)
    versions = list(tariff_selectors.list_versions(user, tariff))
    try:
        in_force: TariffVersion | None = tariff_selectors.version_in_force(tariff, timezone.now())
    except TariffNotFound:
        in_force = None
    return render(
        request,
        "backoffice/tariff_detail.html",
        {
            "tariff": tariff,
            "versions": versions,
            "in_force": in_force,
            "managed": tariff_selectors.manages_tariff(user, tariff),
            "can_draft": access.can_draft_tariffs(user)
            and tariff_selectors.manages_tariff(user, tariff),
        },
    )


def _spec_text(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, ensure_ascii=False)


def _draft_form(
    request: HttpRequest, user: User, tariff: Tariff, version: TariffVersion | None
) -> HttpResponse:
    if version is not None:
        initial = {"spec": _spec_text(version.spec), "notes": version.notes}
    else:
        latest = tariff_selectors.list_versions(user, tariff).first()
        spec = latest.spec if latest is not None else starter_spec(tariff.currency)
        initial = {"spec": _spec_text(spec)}
    form = bo_forms.TariffSpecForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if version is None:
                version = tariff_services.create_tariff_draft(
                    actor=user,
                    tariff=tariff,
                    spec=form.cleaned_data["spec"],
                    notes=form.cleaned_data["notes"],
                )
                messages.success(request, _("Draft saved. Submit it for approval when ready."))
            else:
                version = tariff_services.update_tariff_draft(
                    actor=user,
                    version=version,
                    spec=form.cleaned_data["spec"],
                    notes=form.cleaned_data["notes"],
                )
                messages.success(request, _("Draft saved."))
            return redirect("backoffice:version-detail", pk=version.pk)
        except DomainError as exc:
            if exc.code == "TARIFF_INVALID":
                form.add_error(
                    "spec",
                    _("Field %(field)s: %(problem)s.")
                    % {"field": exc.params.get("field"), "problem": exc.params.get("problem")},
                )
            elif exc.code == "CURRENCY_MISMATCH":
                form.add_error(
                    "spec",
                    _("The currency must be %(currency)s, the tariff's currency.")
                    % {"currency": tariff.currency},
                )
            else:
                show_error(form, exc)
    return render(
        request,
        "backoffice/version_form.html",
        {"form": form, "tariff": tariff, "version": version},
    )


def _save_draft(
    request: HttpRequest,
    user: User,
    tariff: Tariff,
    version: TariffVersion | None,
    spec: dict[str, Any],
    notes: str,
) -> TariffVersion:
    """Create or update the draft through the tariff services, with the matching message."""
    if version is None:
        version = tariff_services.create_tariff_draft(
            actor=user, tariff=tariff, spec=spec, notes=notes
        )
        messages.success(request, _("Draft saved. Submit it for approval when ready."))
    else:
        version = tariff_services.update_tariff_draft(
            actor=user, version=version, spec=spec, notes=notes
        )
        messages.success(request, _("Draft saved."))
    return version


def _editor(
    request: HttpRequest, user: User, tariff: Tariff, version: TariffVersion | None
) -> HttpResponse:
    """The form editor: rows for blocks, fixed charges and taxes, fields for the rest."""
    if version is not None:
        base, notes = version.spec, version.notes
    else:
        latest = tariff_selectors.list_versions(user, tariff).first()
        base = latest.spec if latest is not None else starter_spec(tariff.currency)
        notes = ""
    template = TariffEditor.from_spec(tariff.currency, base, notes)
    editor = template
    show_errors = True
    if request.method == "POST":
        section = request.POST.get("add", "")
        if section in SECTIONS:
            # "Add a row" redraws what was typed with one more empty row; nothing is checked.
            data = TariffEditor.with_row_added(request.POST, section)
            editor = TariffEditor.bound(tariff.currency, data, extra_fbe=template.extra_fbe)
            show_errors = False
        else:
            editor = TariffEditor.bound(tariff.currency, request.POST, extra_fbe=template.extra_fbe)
            spec = editor.spec() if editor.is_valid() else None
            if spec is not None:
                try:
                    saved = _save_draft(
                        request, user, tariff, version, spec, editor.general.cleaned_data["notes"]
                    )
                    return redirect("backoffice:version-detail", pk=saved.pk)
                except (AccessDenied, NotFound):
                    raise
                except DomainError as exc:
                    editor.explain(exc)
    return render(
        request,
        "backoffice/version_editor.html",
        {
            "editor": editor,
            "tariff": tariff,
            "version": version,
            "show_errors": show_errors,
        },
    )


def _require_draftable(user: User, tariff: Tariff) -> None:
    # A tariff read from above the user's unit is theirs to read, not to change.
    access.require(access.can_draft_tariffs(user) and tariff_selectors.manages_tariff(user, tariff))


def _draftable_tariff(user: User, pk: int) -> Tariff:
    _require_view(user)
    tariff = tariff_selectors.get_tariff(user, pk)
    _require_draftable(user, tariff)
    return tariff


@login_required
def version_create(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    return _editor(request, user, _draftable_tariff(user, pk), None)


@login_required
def version_create_json(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    return _draft_form(request, user, _draftable_tariff(user, pk), None)


def _version(user: User, pk: int) -> TariffVersion:
    version = tariff_selectors.get_version(user, pk)
    return version


def _editable_version(request: HttpRequest, user: User, pk: int) -> TariffVersion | None:
    """The user's own draft to edit, or None when its state no longer allows it."""
    version = _version(user, pk)
    access.require(access.can_draft_tariffs(user) and version.created_by_id == user.pk)
    if version.status not in EDITABLE:
        messages.error(request, _("Only a draft or a rejected version can be changed."))
        return None
    return version


def _edit(request: HttpRequest, pk: int, form: Callable[..., HttpResponse]) -> HttpResponse:
    """A version's own editor (``_editor`` or ``_draft_form``), or back to it if it is decided."""
    user = actor(request)
    _require_view(user)
    version = _editable_version(request, user, pk)
    if version is None:
        return redirect("backoffice:version-detail", pk=pk)
    return form(request, user, version.tariff, version)


@login_required
def version_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, pk, _editor)


@login_required
def version_edit_json(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, pk, _draft_form)


@login_required
def version_simulate(request: HttpRequest, pk: int) -> HttpResponse:
    """What a customer would pay for an amount under this version and under the one in force."""
    user = actor(request)
    _require_view(user)
    version = _version(user, pk)
    tariff = version.tariff
    form = SimulationForm(request.GET or None)
    result = None
    now = timezone.now()
    try:
        in_force: TariffVersion | None = tariff_selectors.version_in_force(tariff, now)
    except TariffNotFound:
        in_force = None
    if request.GET and form.is_valid():
        data = form.cleaned_data
        customer = None
        unknown = _("No customer or installed meter with that number in your area.")
        try:
            customer = find_customer(user, data["who"])
        except NotFound:
            form.add_error("who", unknown)
        except DomainError as exc:
            if exc.code != ErrorCode.METER_NOT_FOUND:
                raise
            form.add_error("who", unknown)
        if data["tender"] is not None:
            try:
                Money.from_major(data["tender"], tariff.currency)
            except DomainError:
                form.add_error(
                    "tender",
                    _("Amounts in %(currency)s have at most %(places)s decimal places.")
                    % {"currency": tariff.currency, "places": Money.zero(tariff.currency).exponent},
                )
        if customer is not None and not form.errors:
            versions = [(_("Version %(n)s") % {"n": version.number}, version)]
            if in_force is not None and in_force.pk != version.pk:
                versions.append(
                    (_("Version %(n)s, in force now") % {"n": in_force.number}, in_force)
                )
            result = simulate(
                actor=user,
                customer=customer,
                versions=versions,
                now=now,
                tender=data["tender"],
                kwh=data["kwh"],
            )
    return render(
        request,
        "backoffice/version_simulate.html",
        {
            "version": version,
            "tariff": tariff,
            "in_force": in_force,
            "form": form,
            "result": result,
        },
    )


def _actions(user: User, version: TariffVersion) -> dict[str, bool]:
    """Which buttons to show; the services decide again when one is pressed."""
    managed = tariff_selectors.manages_tariff(user, version.tariff)
    maker = managed and access.can_draft_tariffs(user)
    checker = managed and access.can_review_tariffs(user)
    involved = user.pk in (version.created_by_id, version.submitted_by_id)
    status = version.status
    future = version.effective_from is not None and version.effective_from > timezone.now()
    return {
        "edit": maker and status in EDITABLE and version.created_by_id == user.pk,
        "submit": maker and status == VersionStatus.DRAFT,
        "review": checker and status == VersionStatus.SUBMITTED and not involved,
        "own_review": checker and status == VersionStatus.SUBMITTED and involved,
        "withdraw": maker
        and (
            (status in UNDECIDED and (version.created_by_id == user.pk or checker))
            or (status == VersionStatus.PUBLISHED and checker and future)
        ),
    }


@login_required
def version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    _require_view(user)
    version = _version(user, pk)
    publish_form = bo_forms.TariffPublishForm(initial={"effective_from": timezone.localtime()})
    reject_form = bo_forms.TariffRejectForm()
    if request.method == "POST":
        access.require(tariff_selectors.manages_tariff(user, version.tariff))
        action = request.POST.get("action", "")
        try:
            if action == "submit":
                tariff_services.submit_tariff_version(actor=user, version=version)
                messages.success(request, _("Submitted for approval."))
                return redirect("backoffice:version-detail", pk=version.pk)
            if action == "publish":
                publish_form = bo_forms.TariffPublishForm(request.POST)
                access.require(access.can_review_tariffs(user))
                if publish_form.is_valid():
                    tariff_services.publish_tariff_version(
                        actor=user,
                        version=version,
                        effective_from=publish_form.cleaned_data["effective_from"],
                    )
                    messages.success(request, _("Version approved and published."))
                    return redirect("backoffice:version-detail", pk=version.pk)
            elif action == "reject":
                reject_form = bo_forms.TariffRejectForm(request.POST)
                access.require(access.can_review_tariffs(user))
                if reject_form.is_valid():
                    tariff_services.reject_tariff_version(
                        actor=user, version=version, reason=reject_form.cleaned_data["reason"]
                    )
                    messages.success(request, _("Version rejected and sent back to its author."))
                    return redirect("backoffice:version-detail", pk=version.pk)
            elif action == "withdraw":
                tariff_services.withdraw_tariff_version(actor=user, version=version)
                messages.success(request, _("Version withdrawn."))
                return redirect("backoffice:version-detail", pk=version.pk)
            else:
                raise AccessDenied()
        except DomainError as exc:
            if isinstance(exc, AccessDenied | NotFound):
                raise
            target = publish_form if action == "publish" else reject_form
            if action in ("publish", "reject") and exc.params.get("field") in target.fields:
                show_error(target, exc)
            else:
                messages.error(request, describe(exc))
                return redirect("backoffice:version-detail", pk=version.pk)
    versions = list(tariff_selectors.list_versions(user, version.tariff))
    return render(
        request,
        "backoffice/version_detail.html",
        {
            "version": version,
            "tariff": version.tariff,
            "spec": spec_view(version.spec),
            "spec_json": _spec_text(version.spec),
            "actions": _actions(user, version),
            "managed": tariff_selectors.manages_tariff(user, version.tariff),
            "publish_form": publish_form,
            "reject_form": reject_form,
            "others": [v for v in versions if v.pk != version.pk],
        },
    )


@login_required
def tariff_compare(request: HttpRequest, pk: int) -> HttpResponse:
    user = actor(request)
    _require_view(user)
    tariff = tariff_selectors.get_tariff(user, pk)
    versions = list(tariff_selectors.list_versions(user, tariff))
    by_pk = {v.pk: v for v in versions}

    def pick(name: str, default: TariffVersion | None) -> TariffVersion | None:
        raw = request.GET.get(name, "")
        if not raw:
            return default
        try:
            pk = parse_int(raw, minimum=1, maximum=MAX_ID, field=name)
        except InvalidInput:
            raise NotFound() from None
        if pk not in by_pk:
            raise NotFound()
        return by_pk[pk]

    newest = versions[0] if versions else None
    older = versions[1] if len(versions) > 1 else None
    a = pick("a", older)
    b = pick("b", newest)
    changes = tariff_selectors.compare_versions(a, b) if a is not None and b is not None else []
    return render(
        request,
        "backoffice/tariff_compare.html",
        {"tariff": tariff, "versions": versions, "a": a, "b": b, "changes": changes},
    )
