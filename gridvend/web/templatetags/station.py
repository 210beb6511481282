"""The station banner of the cashier screen: how old the station's data is and how much of its
allowance is left (nothing at all on the master)."""

from __future__ import annotations

from typing import Any

from django import template

from gridvend.stations.selectors import station_overview

register = template.Library()


@register.inclusion_tag("cashier/_station.html")
def station_banner() -> dict[str, Any]:
    return {"station": station_overview()}
