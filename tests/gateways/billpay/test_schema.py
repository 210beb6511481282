"""The Billpay interface's OpenAPI document: committed and current, one operation per URL."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.urls import reverse

from gridvend.gateways.billpay import urls
from gridvend.gateways.billpay.schema import OPERATIONS, document

DOC = Path(__file__).resolve().parents[3] / "docs" / "billpay-openapi.json"


def test_the_committed_document_is_the_generated_one() -> None:
    assert json.loads(DOC.read_text()) == json.loads(json.dumps(document())), "run make openapi"


def test_every_billpay_url_is_one_operation_of_the_document() -> None:
    names = {str(p.name) for p in urls.urlpatterns}
    assert names == set(OPERATIONS)
    paths = document()["paths"]
    for pattern in urls.urlpatterns:
        ids = re.findall(r"<str:(\w+)>", str(pattern.pattern))
        url = reverse(f"billpay:{pattern.name}", kwargs={name: "{" + name + "}" for name in ids})
        assert url.replace("%7B", "{").replace("%7D", "}") in paths
