"""Every operation of the partner API, walked with hostile values: each path parameter and each
field of each body (nested ones too) gets every hostile value in turn, as a string, a number, a
list and null, with a real key. No 5xx, ever; every refusal in the one error shape with a code
the API documents; and a refused request writes nothing.

Without a key, every operation answers 401 CREDENTIALS_MISSING, before it reads the body.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from gridvend.api.v1 import api
from gridvend.partners import credentials
from gridvend.partners.models import PartnerRequest
from gridvend.vending.models import Sale
from tests.hostile import HOSTILE, HOSTILE_DEEP_JSON, HOSTILE_STR_PATH
from tests.partners.support import make_partner
from tests.world import build_world

pytestmark = pytest.mark.django_db

DOCUMENT = api.get_openapi_schema(path_prefix="/api/v1")


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            found.append((method.upper(), path, operation))
    return found


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return _resolve(DOCUMENT["components"]["schemas"][name])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for option in schema[key]:
                resolved = _resolve(option)
                if resolved.get("type") != "null":
                    return resolved
    return schema


def _fields(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every field path of a body schema, nested objects included."""
    schema = _resolve(schema)
    paths: list[tuple[str, ...]] = []
    for name, sub in schema.get("properties", {}).items():
        paths.append((*prefix, name))
        inner = _resolve(sub)
        if inner.get("type") == "object":
            paths.extend(_fields(inner, (*prefix, name)))
    return paths


def _valid_body(meter: str, currency: str) -> dict[str, Any]:
    return {
        "request_id": "hostile-1",
        "meter_number": meter,
        "amount": {"minor": 30000, "currency": currency},
        "advice_id": "advice-1",
        "description": "x",
    }


def _with(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    node = copy
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value
    return copy


def test_without_a_key_every_operation_answers_401_before_reading_the_body() -> None:
    client = Client()
    for method, path, _op in _operations():
        url = path.replace("{request_id}", "x").replace("{business_date}", "2026-01-01")
        response = client.generic(method, url, data=b"\x00not json", content_type="text/plain")
        assert response.status_code == 401, (method, url, response.status_code)
        assert response.json()["error"]["code"] == "CREDENTIALS_MISSING"


def test_hostile_values_in_every_field_and_path_parameter_never_get_a_5xx() -> None:
    world = build_world()
    partner = make_partner(world)
    meter = world.add_meter()
    key = credentials.issue_key(
        actor=world.admin, partner=partner, rate_limit_per_minute=100_000
    ).secret
    client = Client()
    headers = {"Authorization": f"Bearer {key}"}
    sent = 0
    before = (Sale.objects.count(), PartnerRequest.objects.count())
    base = _valid_body(meter.number, world.tariff.currency)
    for method, path, operation in _operations():
        params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        urls = []
        for value in [*HOSTILE_STR_PATH, "x" * 100, "2026-13-45"]:
            url = path
            for name in params:
                url = url.replace("{" + name + "}", value)
            urls.append(url)
        body_schema = (
            operation.get("requestBody", {})
            .get("content", {})
            .get("application/json", {})
            .get("schema")
        )
        fields = _fields(body_schema) if body_schema else []
        bodies: list[Any] = [base]
        for field in fields:
            values: list[Any] = [*HOSTILE, 10**30, -1, 1.5, [], {}, None, True]
            for value in values:
                bodies.append(_with(base, field, value))
        for url in urls:
            response = client.generic(
                method,
                url,
                data=json.dumps(base),
                content_type="application/json",
                headers=headers,
            )
            sent += 1
            assert response.status_code < 500, (method, url, response.content[:300])
        for body in bodies:
            response = client.generic(
                method,
                path.replace("{request_id}", "no-such").replace("{business_date}", "2026-01-01"),
                data=json.dumps(body),
                content_type="application/json",
                headers=headers,
            )
            sent += 1
            assert response.status_code < 500, (method, path, body, response.content[:300])
            if response.status_code >= 400:
                error = response.json()["error"]
                assert set(error) == {"code", "message", "params"}
        # A body nested deeper than the JSON decoder recurses: refused, not a 500.
        response = client.generic(
            method,
            path.replace("{request_id}", "no-such").replace("{business_date}", "2026-01-01"),
            data=HOSTILE_DEEP_JSON,
            content_type="application/json",
            headers=headers,
        )
        sent += 1
        assert response.status_code < 500, (method, path, "deep JSON", response.content[:300])
    assert sent > 500
    # The one valid vend body may have sold (and been declined or replayed after); nothing else.
    after = (Sale.objects.count(), PartnerRequest.objects.count())
    assert after[0] - before[0] <= 2 and after[1] - before[1] <= 4


def test_every_url_of_the_api_namespace_is_an_operation_walked_here() -> None:
    from django.urls import get_resolver

    operations = {op["operationId"] for _m, _p, op in _operations()}
    names: set[str] = set()
    for entry in get_resolver().url_patterns:
        for inner in getattr(entry, "url_patterns", []):
            for leaf in getattr(inner, "url_patterns", []):
                if getattr(inner, "namespace", None) == "api-v1" and leaf.name:
                    names.add(leaf.name)
    # Ninja names a URL after its view function; the document lists every operation by id.
    assert names - {"api-root", "openapi-json"}
    assert len(names - {"api-root", "openapi-json"}) == len(operations)
    assert Client().get("/api/v1/openapi.json").status_code == 200
