"""The OpenAPI document is part of the contract: served, committed, and the same as the code.

Regenerate the committed copy with ``make openapi`` after changing an endpoint."""

from __future__ import annotations

import json
from pathlib import Path

from django.test import Client

from gridvend.api.v1 import api

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_committed_document_is_the_one_the_code_serves() -> None:
    served = Client().get("/api/v1/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(COMMITTED.read_text()), "run `make openapi` and commit"


def test_every_operation_is_named_summarised_secured_and_documents_its_refusals() -> None:
    document = json.loads(json.dumps(api.get_openapi_schema()))  # as served: keys are text
    assert document["openapi"].startswith("3.1")
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) >= 12
    for op in operations:
        assert op.get("operationId") and op.get("summary"), op
        assert op.get("security"), op["operationId"]
        for status in ("400", "401", "403", "422", "429"):
            assert status in op["responses"], (op["operationId"], status)
