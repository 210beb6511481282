"""Scoped reads of settlement: files, their items, days without a file, resolutions awaiting a
second person. Finance and auditors read them, within their subtree."""

from __future__ import annotations

from django.db.models import QuerySet

from gridvend.identity.models import User
from gridvend.identity.scoping import get_scoped, scoped
from gridvend.partners.models import (
    Partner,
    SettlementDay,
    SettlementDayStatus,
    SettlementFile,
    SettlementItem,
    SettlementResolutionRequest,
)

_PARTNER_PATH = "partner__org_unit__path"


def list_partners(actor: User) -> QuerySet[Partner]:
    return scoped(Partner.objects.select_related("org_unit"), actor)


def get_partner(actor: User, pk: int) -> Partner:
    return get_scoped(Partner.objects.select_related("org_unit", "service_user"), actor, pk=pk)


def list_files(actor: User) -> QuerySet[SettlementFile]:
    return scoped(
        SettlementFile.objects.select_related("partner", "uploaded_by").defer("content"),
        actor,
        path=_PARTNER_PATH,
    )


def get_file(actor: User, pk: int) -> SettlementFile:
    return get_scoped(
        SettlementFile.objects.select_related("partner__org_unit", "uploaded_by").defer("content"),
        actor,
        path=_PARTNER_PATH,
        pk=pk,
    )


def list_items(actor: User, upload: SettlementFile) -> QuerySet[SettlementItem]:
    return scoped(
        SettlementItem.objects.filter(file=upload).select_related(
            "request__sale__meter", "resolved_by"
        ),
        actor,
        path=f"file__{_PARTNER_PATH}",
    )


def get_item(actor: User, pk: int) -> SettlementItem:
    return get_scoped(
        SettlementItem.objects.select_related(
            "file__partner__org_unit", "request__sale__meter", "resolved_by"
        ).defer("file__content"),
        actor,
        path=f"file__{_PARTNER_PATH}",
        pk=pk,
    )


def list_missing_days(actor: User) -> QuerySet[SettlementDay]:
    return scoped(
        SettlementDay.objects.filter(status=SettlementDayStatus.MISSING).select_related("partner"),
        actor,
        path=_PARTNER_PATH,
    )


def list_pending_resolutions(actor: User) -> QuerySet[SettlementResolutionRequest]:
    return scoped(
        SettlementResolutionRequest.objects.filter(status="pending").select_related(
            "item__file__partner", "requested_by"
        ),
        actor,
        path=f"item__file__{_PARTNER_PATH}",
    )


def get_resolution_request(actor: User, pk: int) -> SettlementResolutionRequest:
    return get_scoped(
        SettlementResolutionRequest.objects.select_related(
            "item__file__partner__org_unit", "requested_by"
        ),
        actor,
        path=f"item__file__{_PARTNER_PATH}",
        pk=pk,
    )
