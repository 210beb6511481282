"""Row locks for tariff writes: a tariff before any of its versions, never the other way round.

Locks name ``of=("self",)`` so PostgreSQL does not also lock the tariff and organisation unit
rows read in the same query.
"""

from __future__ import annotations

from gridvend.tariffs.models import Tariff, TariffVersion


def lock_tariff(tariff: Tariff) -> Tariff:
    """The tariff's row; holding it serialises the numbering of its new versions."""
    return Tariff.objects.select_for_update(of=("self",)).get(pk=tariff.pk)


def lock_version(version: TariffVersion) -> TariffVersion:
    """The version's row, fresh, with its tariff and the tariff's unit read along."""
    return (
        TariffVersion.objects.select_for_update(of=("self",))
        .select_related("tariff__org_unit")
        .get(pk=version.pk)
    )
