"""A partner in the test world: a bank with one point selling from a float, topped up."""

from __future__ import annotations

from gridvend.kernel.money import Money
from gridvend.partners import services as partners
from gridvend.partners.models import Partner
from gridvend.partners.services import Call
from gridvend.vending import services as vending
from tests.world import World


def make_partner(
    world: World,
    *,
    code: str = "acme-bank",
    float_major: str = "10000",
    credit_major: str = "0",
    policy: str = "auto_confirm",
    kind: str = "bank",
) -> Partner:
    partner = partners.create_partner(
        actor=world.admin,
        code=code,
        name=code.replace("-", " ").title(),
        kind=kind,
        org_unit=world.tree.root,
        currency=world.tariff.currency,
        credit_limit=world.money(credit_major),
        unconfirmed_policy=policy,
        confirmation_window_minutes=60,
        reversal_window_minutes=30,
    )
    point = partners.add_partner_point(
        actor=world.admin,
        partner=partner,
        name=f"{code} online",
        channel="mobile_money" if kind == "aggregator" else "bank",
    )
    if Money.from_major(float_major, world.tariff.currency).is_positive():
        vending.top_up_float(
            actor=world.admin,
            vending_point=point,
            amount=world.money(float_major),
            reference=f"{code}-opening",
        )
    partner.refresh_from_db()
    return partner


def call(partner: Partner, interface: str = "api") -> Call:
    return Call(partner=partner, interface=interface, terminal_id="T0000001", operator_id="op1")
