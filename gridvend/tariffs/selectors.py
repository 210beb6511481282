"""Reads of tariffs: scoped lists for staff, and the version in force for pricing a sale."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from django.db.models import Q, QuerySet

from gridvend.customers.models import Customer
from gridvend.identity.errors import NotFound
from gridvend.identity.models import User
from gridvend.identity.scoping import scoped, unit_in_scope
from gridvend.kernel.clock import ensure_utc
from gridvend.kernel.errors import TariffNotFound
from gridvend.kernel.tariffs import TariffSpec
from gridvend.org.models import PATH_SEGMENT_WIDTH, OrgUnit
from gridvend.tariffs.models import Tariff, TariffVersion, VersionStatus


def list_tariffs(actor: User, *, search: str = "") -> QuerySet[Tariff]:
    """Tariffs the actor manages: those defined in their subtree."""
    qs = scoped(Tariff.objects.select_related("org_unit"), actor)
    if search:
        qs = qs.filter(Q(code__icontains=search) | Q(name__icontains=search))
    return qs.order_by("code")


def _ancestor_paths(unit: OrgUnit) -> list[str]:
    # A materialised path lists every ancestor: "0000000a/0000002f/" has "0000000a/" above it.
    step = PATH_SEGMENT_WIDTH + 1
    return [unit.path[:end] for end in range(step, len(unit.path) + 1, step)]


def tariffs_available_for_unit(unit: OrgUnit) -> QuerySet[Tariff]:
    """Tariffs a customer of ``unit`` may be put on: the unit's own and its ancestors', not its
    descendants' or its siblings'. Not scoped to an actor: callers scope the customer first."""
    return (
        Tariff.objects.select_related("org_unit")
        .filter(org_unit__path__in=_ancestor_paths(unit))
        .order_by("code")
    )


def _visible(actor: User) -> Q:
    """Tariffs the actor may read: those of their subtree (which they manage), those defined
    above their unit (which apply to their customers), and any tariff one of their customers is
    on. The last adds nothing while customers obey TARIFF_NOT_APPLICABLE; it keeps a customer's
    tariff readable should the two ever disagree."""
    unit = actor.org_unit
    own_customers = Customer.objects.filter(org_unit__path__startswith=unit.path)
    return (
        Q(org_unit__path__startswith=unit.path)
        | Q(org_unit__path__in=_ancestor_paths(unit))
        | Q(pk__in=own_customers.values("tariff_id"))
    )


def list_visible_tariffs(actor: User, *, search: str = "") -> QuerySet[Tariff]:
    """Tariffs the actor may read (see :func:`_visible`); only :func:`manages_tariff` ones may be
    changed by them."""
    if not actor.is_active:
        return Tariff.objects.none()
    qs = Tariff.objects.select_related("org_unit").filter(_visible(actor))
    if search:
        qs = qs.filter(Q(code__icontains=search) | Q(name__icontains=search))
    return qs.order_by("code")


def manages_tariff(actor: User, tariff: Tariff) -> bool:
    """Whether the tariff lies in the actor's subtree, where the tariff services let them act."""
    return unit_in_scope(actor, tariff.org_unit)


def get_tariff(actor: User, pk: int) -> Tariff:
    """A tariff the actor may read, or NotFound."""
    found = list_visible_tariffs(actor).filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def list_versions(actor: User, tariff: Tariff) -> QuerySet[TariffVersion]:
    """The versions of a tariff, newest number first: every one in the actor's subtree, only the
    published ones of a tariff they read from above (drafts there are someone else's work)."""
    qs = TariffVersion.objects.filter(tariff=tariff)
    if not manages_tariff(actor, tariff):
        if not list_visible_tariffs(actor).filter(pk=tariff.pk).exists():
            raise NotFound()
        qs = qs.filter(status=VersionStatus.PUBLISHED)
    return qs.select_related("created_by", "submitted_by", "approved_by").order_by("-number")


def get_version(actor: User, pk: int) -> TariffVersion:
    """A version the actor may read (see :func:`list_versions`), or NotFound."""
    version = (
        TariffVersion.objects.select_related("tariff__org_unit")
        .filter(pk=pk, tariff__in=list_visible_tariffs(actor).values("pk"))
        .first()
    )
    if version is None:
        raise NotFound()
    if not manages_tariff(actor, version.tariff) and version.status != VersionStatus.PUBLISHED:
        raise NotFound()
    return version


def version_in_force(tariff: Tariff, at: datetime) -> TariffVersion:
    """The published version with the latest ``effective_from`` not after ``at``, in one query.

    Two versions published for the same instant: the higher number wins, being the later
    correction. No such version: the kernel's TARIFF_NOT_FOUND, which refuses the sale.
    """
    version = (
        TariffVersion.objects.filter(
            tariff=tariff, status=VersionStatus.PUBLISHED, effective_from__lte=ensure_utc(at)
        )
        .order_by("-effective_from", "-number")
        .first()
    )
    if version is None:
        raise TariffNotFound()
    # The caller already holds the tariff; sharing it saves a query when pricing reads it.
    version.tariff = tariff
    return version


_parsed: dict[tuple[int, object], TariffSpec] = {}


def spec_in_force(tariff: Tariff, at: datetime) -> tuple[TariffVersion, TariffSpec]:
    """The version in force and its parsed spec; a published version never changes, so its
    parsed spec is kept per process instead of being rebuilt for every sale."""
    version = version_in_force(tariff, at)
    # The approval instant makes the key unique even where ids are reused (rolled-back tests).
    key = (version.pk, version.approved_at)
    spec = _parsed.get(key)
    if spec is None:
        spec = TariffSpec.from_dict(version.spec)
        if len(_parsed) > 1000:
            _parsed.clear()
        _parsed[key] = spec
    return version, spec


_by_version: dict[tuple[int, str], tuple[list[Any], TariffSpec]] = {}


def spec_of_version(version_id: int, key: str) -> tuple[TariffVersion, TariffSpec]:
    """A published version and its parsed spec, by id, read once per process: a published
    version never changes. ``key`` (its approval instant as the database gives it) tells two
    versions apart where ids are reused (rolled-back tests on SQLite). Each caller gets its own
    instance of the row, so nothing one caller caches on it reaches another."""
    names = [f.attname for f in TariffVersion._meta.concrete_fields]
    found = _by_version.get((version_id, key))
    if found is None:
        version = TariffVersion.objects.get(pk=version_id)
        found = ([getattr(version, name) for name in names], TariffSpec.from_dict(version.spec))
        if len(_by_version) > 1000:
            _by_version.clear()
        _by_version[(version_id, key)] = found
    values, spec = found
    return TariffVersion.from_db("default", names, list(values)), spec


class ChangeKind(StrEnum):
    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class Change:
    """One differing value between two specs; ``old`` is None when added, ``new`` when removed."""

    path: str
    old: Any
    new: Any
    kind: ChangeKind = ChangeKind.CHANGED

    def __str__(self) -> str:
        if self.kind is ChangeKind.ADDED:
            return f"{self.path}: + {self.new!r}"
        if self.kind is ChangeKind.REMOVED:
            return f"{self.path}: - {self.old!r}"
        return f"{self.path}: {self.old!r} → {self.new!r}"


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, _key_path(path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def _key_path(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _same(old: Any, new: Any) -> bool:
    # Specs store numbers as strings; "2.0" and "2.00" are the same rate and no change at all.
    if isinstance(old, str) and isinstance(new, str) and old != new:
        try:
            return Decimal(old) == Decimal(new)
        except InvalidOperation:
            return False
    return bool(type(old) is type(new) and old == new)


def _diff(old: Any, new: Any, path: str, out: list[Change]) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key, value in old.items():
            if key in new:
                _diff(value, new[key], _key_path(path, key), out)
            else:
                out.extend(
                    Change(p, v, None, ChangeKind.REMOVED)
                    for p, v in _leaves(value, _key_path(path, key))
                )
        for key, value in new.items():
            if key not in old:
                out.extend(
                    Change(p, None, v, ChangeKind.ADDED)
                    for p, v in _leaves(value, _key_path(path, key))
                )
    elif isinstance(old, list | tuple) and isinstance(new, list | tuple):
        for index, (before, after) in enumerate(zip(old, new, strict=False)):
            _diff(before, after, f"{path}[{index}]", out)
        for index in range(len(new), len(old)):
            out.extend(
                Change(p, v, None, ChangeKind.REMOVED)
                for p, v in _leaves(old[index], f"{path}[{index}]")
            )
        for index in range(len(old), len(new)):
            out.extend(
                Change(p, None, v, ChangeKind.ADDED)
                for p, v in _leaves(new[index], f"{path}[{index}]")
            )
    elif not _same(old, new):
        # A section switched on or off (debt recovery set to None) reads best as one change.
        out.append(Change(path, old, new))


def diff_specs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Differences between two spec dicts, leaf by leaf, in the order the fields appear."""
    changes: list[Change] = []
    _diff(old, new, "", changes)
    return changes


def compare_versions(a: TariffVersion, b: TariffVersion) -> list[Change]:
    """What changed from version ``a`` to version ``b``, e.g. ``energy.blocks[1].rate``."""
    return diff_specs(a.spec, b.spec)
