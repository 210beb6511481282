"""Review probes for issue 19 (keys): an attacker's and a careless operator's view of the key
ceremony, master-key rotation and the HSM engine. Each test fails while the defect it names is
real; one that passes shows the attack does not work."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections  # noqa: F401 (connection: the skipif condition)
from django.test import Client

from gridvend.audit.models import AuditEvent
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.errors import DomainError
from gridvend.keys import rotation, services
from gridvend.keys.ceremony import KeyCeremony
from gridvend.keys.crypto import check_value, master_key_id
from gridvend.keys.models import VendingKeyRecord
from gridvend.partners import credentials
from gridvend.vending.models import Sale
from tests import factories
from tests.keys.helpers import all_accepted, credit_tokens, simulator
from tests.keys.test_hsm import PIN_ENV, TEST_LIBRARY, TOKEN, softhsm  # noqa: F401
from tests.partners.support import make_partner
from tests.world import build_world

PASSWORD = "correct horse battery staple 19"


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    services.forget_cached_keys()
    yield
    services.forget_cached_keys()


def _people() -> tuple[Any, list[Any]]:
    tree = factories.Tree()
    custodians = []
    for name in ("amina", "bruno", "chen"):
        user = factories.user(
            tree.root, Role.MASTER_STATION_MANAGER, (Capability.KEY_CUSTODIAN,), username=name
        )
        user.set_password(PASSWORD)
        user.save()
        custodians.append(user)
    return tree.admin, custodians


# --- the ceremony -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_probe_a_three_part_ceremony_refuses_a_component_entered_twice() -> None:
    """Components A, B, A XOR to B: the key is then the one custodian's component, known whole
    to one person, which the ceremony exists to prevent. The repeat must be refused."""
    admin, custodians = _people()
    a, b = secrets.token_bytes(20), secrets.token_bytes(20)
    ceremony = KeyCeremony(opened_by=admin, key_ref="vk-aba", dkga="04", components=3)
    ceremony.enter(
        custodian=custodians[0], component_hex=a.hex(), component_check_value=check_value(a)
    )
    ceremony.enter(
        custodian=custodians[1], component_hex=b.hex(), component_check_value=check_value(b)
    )
    with contextlib.suppress(DomainError):
        ceremony.enter(
            custodian=custodians[2], component_hex=a.hex(), component_check_value=check_value(a)
        )
    stored = VendingKeyRecord.objects.filter(key_ref="vk-aba").first()
    assert stored is None or stored.check_value != check_value(b), (
        "the stored key is custodian bruno's component alone (A xor B xor A = B)"
    )


# --- rotation -----------------------------------------------------------------------------------

OLD = secrets.token_bytes(32)
NEW = secrets.token_bytes(32)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_probe_two_rotations_at_once_reseal_each_key_once_and_lose_none(settings: Any) -> None:
    settings.MASTER_KEY, settings.MASTER_KEY_PREVIOUS = OLD, None
    stored = {}
    for i in range(6):
        key_hex = secrets.token_hex(20)
        services.store_vending_key(actor=None, key_ref=f"vk-r{i}", key_hex=key_hex, dkga="04")
        stored[f"vk-r{i}"] = key_hex
    before = {ref: credit_tokens(ref, dkga="04") for ref in stored}
    settings.MASTER_KEY, settings.MASTER_KEY_PREVIOUS = NEW, OLD
    services.forget_cached_keys()

    start = threading.Barrier(2)
    reports: list[Any] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(10)
            reports.append(rotation.rotate_master_key())
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    assert all(report.complete for report in reports), [r.problems for r in reports]
    assert sum(len(r.resealed) for r in reports) == len(stored)
    assert AuditEvent.objects.filter(event_type="vending_key.resealed").count() == len(stored)
    settings.MASTER_KEY_PREVIOUS = None
    services.forget_cached_keys()
    assert rotation.master_key_status() == {master_key_id(NEW): len(stored)}
    after = {ref: credit_tokens(ref, dkga="04") for ref in stored}
    assert after == before
    for ref, key_hex in stored.items():
        assert all_accepted(simulator(key_hex, dkga="04"), after[ref])


@pytest.mark.django_db
def test_probe_a_sale_under_a_key_the_master_key_cannot_open_is_a_coded_refusal(
    settings: Any,
) -> None:
    """The careless operator rotates (or restarts one server) with GRIDVEND_MASTER_KEY_PREVIOUS
    missing: a partner's vend must be refused with a stable code and nothing written, not
    answered 500 by an uncaught KeyDecryptionFailed."""
    world = build_world()
    partner = make_partner(world, float_major="1000")
    key = credentials.issue_key(actor=world.admin, partner=partner).secret
    meter = world.add_meter()
    settings.MASTER_KEY = secrets.token_bytes(32)
    settings.MASTER_KEY_PREVIOUS = None
    services.forget_cached_keys()
    amount = world.money("300")
    response = Client(raise_request_exception=False).post(
        "/api/v1/vends",
        data=json.dumps(
            {
                "request_id": "probe-19-wrong-master",
                "meter_number": meter.number,
                "amount": {"minor": amount.minor, "currency": amount.currency},
            }
        ),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert Sale.objects.count() == 0
    assert response.status_code != 500, "an uncaught KeyDecryptionFailed answered 500"
    # The API's one error shape is {"error": {"code", "message", "params"}} (api/errors.py).
    assert 400 <= response.status_code < 600 and response.json()["error"].get("code"), (
        response.content
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "VENDING_KEY_UNAVAILABLE"


# --- the HSM engine -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.skipif(not TEST_LIBRARY, reason="set GRIDVEND_TEST_SOFTHSM2 to run the HSM probes")
def test_probe_the_hsm_engine_refuses_an_hsm_key_that_is_not_the_stored_key(
    softhsm: str,  # noqa: F811
) -> None:
    """The HSM token holds an object labelled with the key reference that is not the key the
    database holds under it (a token shared with a test install, a database restored on
    another site, a key re-entered): the engine must refuse, not sell tokens no meter takes."""
    from gridvend.keys.hsm import HsmTokenEngine
    from tests.keys.helpers import FIXED_RND, meter

    key_ref = f"hsm-probe-{secrets.token_hex(3)}"
    other = secrets.token_hex(20)
    services.store_vending_key(actor=None, key_ref=key_ref, key_hex=other, dkga="04")
    engine = HsmTokenEngine(
        module=softhsm, token_label=TOKEN, pin_env=PIN_ENV, rnd_source=lambda: FIXED_RND
    )
    try:
        engine.load_key(key_ref)
        # The database now holds a different key under the same reference (a restored or
        # re-created key store); the HSM still holds the other one.
        VendingKeyRecord.objects.filter(key_ref=key_ref).delete()
        real = secrets.token_hex(20)
        services.store_vending_key(actor=None, key_ref=key_ref, key_hex=real, dkga="04")
        services.forget_cached_keys()
        try:
            token = engine.issue_credit(
                meter(key_ref, dkga="04"), kwh=Decimal("5"), tid=6_000_000
            ).digits
        except DomainError:
            return  # refused: the defect is not there
        assert simulator(real, dkga="04").enter(token).accepted, (
            "the HSM engine sold a token made with a key other than the stored one; "
            "the meter refuses it"
        )
    finally:
        engine.close()
