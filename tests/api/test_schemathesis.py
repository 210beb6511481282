"""Schemathesis against the served OpenAPI document: generated requests for every operation,
with a real partner key, must never get a 5xx and every response must match the document
(status documented, content type, body schema, headers). The examples are bounded (and
derandomised) to keep the run short and repeatable.

One default check is left out: ``positive_data_acceptance`` expects every schema-valid request
to succeed, but a vending API refuses well-formed requests for business reasons (an unknown
meter, an amount below the minimum, a float spent), with documented 4xx answers that the other
checks still verify."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from gridvend.partners import credentials
from tests.partners.support import make_partner
from tests.world import build_world

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_connection_for_the_test():
    """The WSGI app closes the database connection after each request, as a server should; the
    test's transaction lives on that connection, so it stays open here (Django's test client
    does the same)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def partner_key() -> str:
    world = build_world()
    partner = make_partner(world, float_major="100000")
    world.add_meter()
    return credentials.issue_key(actor=world.admin, partner=partner).secret


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_response_matches_the_document(case, partner_key) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {partner_key}"},
        excluded_checks=[positive_data_acceptance],
    )
