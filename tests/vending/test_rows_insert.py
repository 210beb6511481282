"""The rows a sale writes through ``gridvend.rows.insert`` are stored exactly as the ORM stores
the same objects: the same column values, byte for byte as the database gives them back."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, models

from gridvend import rows
from gridvend.vending import services as vending
from gridvend.vending.models import Sale, Token
from tests.world import World

pytestmark = pytest.mark.django_db


def _stored(model: type[models.Model], pk: int, skip: set[str]) -> dict[str, Any]:
    """The row as the database returns it to a bare cursor, without the columns in ``skip``."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])
        names = [column[0] for column in cursor.description]
        values = cursor.fetchone()
    return {name: value for name, value in zip(names, values, strict=True) if name not in skip}


def _twin(obj: models.Model, **changes: Any) -> Any:
    """A new unsaved instance with the same field values (``changes`` applied)."""
    values = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
    values.pop("id")
    values.update(changes)
    return type(obj)(**values)


def _sell(world: World, meter_number: str) -> vending.SaleResult:
    """A first sale of the month: a credit and a free basic electricity token; a cash tender
    with a slip number, so that strings, integers, decimals, dates, JSON and nulls all occur."""
    return vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference=f"till-{meter_number}",
        meter_number=meter_number,
        tender=world.money("1250.50"),
        payment_reference="slip 0042",
        cash_received=world.money("1300.00"),
        clock=world.clock,
    )


def test_a_sale_and_its_tokens_are_stored_as_the_orm_stores_them(world: World) -> None:
    meter = world.add_meter()
    result = _sell(world, meter.number)
    sale, tokens = result.sale, result.tokens
    assert len(tokens) == 2 and sale.breakdown and sale.shift_id is not None

    # The columns each sale has of its own: the twin gets its own (its entry none).
    twin = _twin(sale, reference="SORMTWIN0001", client_reference="orm-twin", journal_entry_id=None)
    Sale.objects.bulk_create([twin])
    unique = {"id", "reference", "client_reference", "journal_entry_id"}
    assert _stored(Sale, twin.pk, unique) == _stored(Sale, sale.pk, unique)

    twins = [
        _twin(t, sale_id=twin.pk, tid=(t.tid or 0) + 1000, digits=f"{i:020d}")
        for i, t in enumerate(tokens)
    ]
    Token.objects.bulk_create(twins)
    per_row = {"id", "sale_id", "tid", "digits"}
    for token, token_twin in zip(tokens, twins, strict=True):
        assert _stored(Token, token_twin.pk, per_row) == _stored(Token, token.pk, per_row)


def test_every_value_is_prepared_as_its_field_prepares_it(world: World) -> None:
    """Taken as it is, wrapped in the backend's integer type, or (a bool in an integer column,
    a number in a text column, an enum member) prepared by the field: each parameter is what
    the field's own preparation gives, of the same type."""
    meter = world.add_meter()
    sale = _sell(world, meter.number).sale
    odd = Token(sequence=True, kind=7, digits="1" * 20, token_class=0, subclass=0, meter=meter)
    for obj in (sale, odd):
        fields = rows._insert_fields(type(obj))
        expected = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
        got = rows._params([obj], connection)
        for field, want, have in zip(fields, expected, got, strict=True):
            if isinstance(field, models.JSONField):
                continue  # an adapter object on PostgreSQL, compared by the stored row above
            assert (type(have), have) == (type(want), want), field.name
