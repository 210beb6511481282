"""The organisation's permission predicates: where a vending point may sell from."""

from __future__ import annotations

import ipaddress

from gridvend.org.models import VendingPoint


def ip_allowed(point: VendingPoint, ip: str | None) -> bool:
    """Whether a request from `ip` may sell at this point (empty allow-list: any address)."""
    return address_allowed(point.ip_allow_list, ip)


def address_allowed(allow_list: str, ip: str | None) -> bool:
    """Whether `ip` is in an allow-list as ``services.clean_allow_list`` stores it (addresses
    and networks joined by commas; empty: any address). Vending points and partners use it."""
    if not allow_list:
        return True
    if not ip:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(item, strict=False) for item in allow_list.split(","))
