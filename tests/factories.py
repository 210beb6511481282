"""Test data built through the real services, so tests exercise the same paths as production."""

from __future__ import annotations

import itertools

from gridvend.identity import services as identity
from gridvend.identity.models import User
from gridvend.identity.roles import Role
from gridvend.org import services as org
from gridvend.org.models import OrgUnit, VendingPoint

PASSWORD = "correct-horse-battery-9"
_seq = itertools.count(1)


def root_and_admin() -> tuple[OrgUnit, User]:
    root = org.create_root(name="Test Utility", code="test-utility")
    admin = User.objects.filter(role=Role.ADMINISTRATOR).first()
    if admin is None:
        admin = identity.create_administrator(
            username="root-admin", full_name="Root Admin", password=PASSWORD, org_unit=root
        )
    return root, admin


def unit(parent: OrgUnit, name: str | None = None) -> OrgUnit:
    _, admin = root_and_admin()
    return org.create_unit(actor=admin, parent=parent, name=name or f"Unit {next(_seq)}")


def user(
    unit: OrgUnit,
    role: str = Role.OPERATOR,
    capabilities: tuple[str, ...] = (),
    username: str | None = None,
) -> User:
    _, admin = root_and_admin()
    return identity.create_user(
        actor=admin,
        username=username or f"user{next(_seq)}",
        full_name="Test User",
        org_unit=unit,
        role=role,
        password=PASSWORD,
        capabilities=capabilities,
    )


def vending_point(unit: OrgUnit, channel: str = "pay_office") -> VendingPoint:
    _, admin = root_and_admin()
    return org.create_vending_point(
        actor=admin, org_unit=unit, name=f"Point {next(_seq)}", channel=channel
    )


class Tree:
    """Root > two regions > one business unit each > one service centre each."""

    def __init__(self) -> None:
        self.root, self.admin = root_and_admin()
        self.north = unit(self.root, "North")
        self.south = unit(self.root, "South")
        self.north_bu = unit(self.north, "North BU")
        self.south_bu = unit(self.south, "South BU")
        self.north_sc = unit(self.north_bu, "North SC")
        self.south_sc = unit(self.south_bu, "South SC")
