"""Second review probes for issue 19 (keys): the HSM engine after the object check was added
(9d5e250), the key ceremony after the repeated-component fix (4a68ba4), and rotation. Each test
fails while the defect it names is real; one that passes pins behaviour that was checked."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections  # noqa: F401 (connection: skipif)

from gridvend.identity.roles import Capability, Role
from gridvend.kernel.errors import DomainError
from gridvend.keys import services
from gridvend.keys.ceremony import KeyCeremony
from gridvend.keys.crypto import check_value
from gridvend.keys.models import VendingKeyRecord
from tests import factories
from tests.keys.helpers import FIXED_RND, credit_tokens, meter, simulator
from tests.keys.test_hsm import PIN_ENV, TEST_LIBRARY, TOKEN, softhsm  # noqa: F401

needs_softhsm = pytest.mark.skipif(
    not TEST_LIBRARY, reason="set GRIDVEND_TEST_SOFTHSM2 to run the HSM probes"
)


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    services.forget_cached_keys()
    yield
    services.forget_cached_keys()


@pytest.fixture
def hsm(softhsm: str) -> Iterator[Any]:  # noqa: F811
    from gridvend.keys.hsm import HsmTokenEngine

    engine = HsmTokenEngine(
        module=softhsm, token_label=TOKEN, pin_env=PIN_ENV, rnd_source=lambda: FIXED_RND
    )
    yield engine
    engine.close()


def _stored_in_hsm(engine: Any) -> tuple[str, str]:
    key_ref = f"hsm-b-{secrets.token_hex(4)}"
    key_hex = secrets.token_hex(20)
    services.store_vending_key(actor=None, key_ref=key_ref, key_hex=key_hex, dkga="04")
    services.forget_cached_keys()
    engine.load_key(key_ref)
    return key_ref, key_hex


def _second_session() -> Any:
    """Another session on the same token, as another installation or an operator's
    pkcs11-tool has (the engine's session has logged the user in for this process)."""
    import pkcs11

    return pkcs11.lib(TEST_LIBRARY).get_token(token_label=TOKEN).open(rw=True)


def _put_object(session: Any, label: str, value: bytes) -> Any:
    from pkcs11 import Attribute, KeyType, ObjectClass

    return session.create_object(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.LABEL: label,
            Attribute.VALUE: value,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
        }
    )


def _issue(engine: Any, key_ref: str, tid: int) -> str:
    return str(engine.issue_credit(meter(key_ref, dkga="04"), kwh=Decimal("5"), tid=tid).digits)


# --- the HSM engine -----------------------------------------------------------------------------


@pytest.mark.django_db
@needs_softhsm
def test_probe_an_hsm_object_replaced_after_its_first_check_is_checked_again(hsm: Any) -> None:
    """The object check (9d5e250) runs once per process, key reference and row: the engine
    remembers (key_ref, row id, expected check), but looks the object up again by label for
    every token. An object deleted and re-created under the same label (a test install or a
    second site sharing a network HSM, an operator re-loading the wrong key with pkcs11-tool)
    is never checked by a web process that already checked the first one: it sells tokens
    the meter refuses until it restarts. Money taken, no electricity: HIGH for the customer,
    rated medium (needs someone with the token's PIN to replace the object).

    Cause: gridvend/keys/hsm.py HsmTokenEngine._verify keys the cache on the row, not on the
    object (handle) it checked. Fix: remember the object handle (or re-check when
    ``_key_object`` returns another handle), or check on every session open."""
    from gridvend.keys.hsm import hmac_key_value

    key_ref, key_hex = _stored_in_hsm(hsm)
    assert simulator(key_hex, dkga="04").enter(_issue(hsm, key_ref, 6_000_000)).accepted
    session = _second_session()
    try:
        from pkcs11 import KeyType, ObjectClass

        session.get_key(
            object_class=ObjectClass.SECRET_KEY, key_type=KeyType.GENERIC_SECRET, label=key_ref
        ).destroy()
        _put_object(session, key_ref, hmac_key_value(secrets.token_bytes(20)))
    finally:
        session.close()
    try:
        token = _issue(hsm, key_ref, 6_000_001)
    except DomainError as refused:
        assert refused.code == "HSM_KEY_MISMATCH"
        return
    assert simulator(key_hex, dkga="04").enter(token).accepted, (
        "the engine sold a token made by an HSM object that is not the stored key; "
        "the meter refuses it"
    )


@pytest.mark.django_db
@needs_softhsm
def test_probe_two_hsm_objects_under_one_label_are_a_coded_refusal(hsm: Any) -> None:
    """Two objects labelled with the key reference (``hsm-load`` run at the same time from two
    servers: each sees no object and creates one; or another installation's load) make
    ``session.get_key`` raise pkcs11.MultipleObjectsReturned, which ``_key_object`` does not
    catch (only NoSuchKey): the sale ends in an uncaught PKCS11Error, a 500 at the API and the
    counter, for every sale to every meter on that key. Severity: medium.

    Cause: gridvend/keys/hsm.py HsmTokenEngine._key_object. Fix: catch PKCS11Error there
    (MultipleObjectsReturned: HSM_KEY_MISMATCH with a log line; others: drop the session,
    HSM_UNAVAILABLE)."""
    from gridvend.keys.hsm import hmac_key_value

    key_ref, key_hex = _stored_in_hsm(hsm)
    session = _second_session()
    try:
        _put_object(session, key_ref, hmac_key_value(bytes.fromhex(key_hex)))
    finally:
        session.close()
    try:
        _issue(hsm, key_ref, 6_000_000)
    except DomainError:
        return
    except Exception as exc:  # the defect: not a coded refusal
        pytest.fail(f"two objects under one label raised {type(exc).__name__}, not a code")


@pytest.mark.django_db
@needs_softhsm
def test_probe_the_hsm_engine_opens_a_new_session_after_the_hsm_restarts(hsm: Any) -> None:
    """A restarted HSM (simulated by C_Finalize/C_Initialize: every session handle is dead)
    must cost at most one refused sale: the comment in decoder_key says 'the next token opens
    a new one'. But the dead session is used first by ``_key_object`` (C_FindObjects), whose
    PKCS11Error (SessionHandleInvalid) is neither caught nor drops the session: every later
    sale of the process raises the same uncaught error (500s) until the web server is
    restarted by hand. Severity: high (all HSM sales down after any HSM blip).

    Cause: gridvend/keys/hsm.py HsmTokenEngine._key_object / decoder_key (the lookup is outside
    the try that drops the session). Fix: do the lookup inside that try, drop the session on
    any PKCS11Error and refuse HSM_UNAVAILABLE; the next call reopens."""
    import pkcs11

    key_ref, key_hex = _stored_in_hsm(hsm)
    assert simulator(key_hex, dkga="04").enter(_issue(hsm, key_ref, 6_000_000)).accepted
    pkcs11.lib(TEST_LIBRARY).reinitialize()
    outcomes: list[str] = []
    token = ""
    for tid in (6_000_001, 6_000_002):
        try:
            token = _issue(hsm, key_ref, tid)
            outcomes.append("sold")
        except DomainError as refused:
            outcomes.append(str(refused.code))
        except Exception as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes[0] in ("sold", "HSM_UNAVAILABLE"), outcomes
    assert outcomes[1] == "sold", f"after the HSM restarted: {outcomes}"
    assert simulator(key_hex, dkga="04").enter(token).accepted


@pytest.mark.django_db
@needs_softhsm
def test_pinned_the_hsm_key_cannot_be_read_by_a_second_session(hsm: Any) -> None:
    """Pinned: the loaded object refuses CKA_VALUE to any session of the process (sensitive)."""
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.exceptions import PKCS11Error

    key_ref, _key_hex = _stored_in_hsm(hsm)
    session = _second_session()
    try:
        key = session.get_key(
            object_class=ObjectClass.SECRET_KEY, key_type=KeyType.GENERIC_SECRET, label=key_ref
        )
        with pytest.raises(PKCS11Error):
            key[Attribute.VALUE]
        assert key[Attribute.EXTRACTABLE] is False and key[Attribute.SENSITIVE] is True
    finally:
        session.close()


@pytest.mark.django_db
@needs_softhsm
def test_pinned_the_hsm_key_cannot_be_copied_into_a_key_that_derives(hsm: Any) -> None:
    """Pinned: the classic PKCS#11 extraction (copy the object with CKA_DERIVE set, derive
    1-byte keys with CONCATENATE_BASE_AND_DATA, brute-force each byte by HMAC) fails at the
    first step: the object is not modifiable, so C_CopyObject cannot turn DERIVE on, and the
    object itself refuses to derive."""
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.exceptions import PKCS11Error

    key_ref, _key_hex = _stored_in_hsm(hsm)
    session = _second_session()
    try:
        key = session.get_key(
            object_class=ObjectClass.SECRET_KEY, key_type=KeyType.GENERIC_SECRET, label=key_ref
        )
        with pytest.raises(PKCS11Error):
            key.copy({Attribute.DERIVE: True, Attribute.TOKEN: False})
        assert key[Attribute.DERIVE] is False and key[Attribute.MODIFIABLE] is False
    finally:
        session.close()


# --- the ceremony -------------------------------------------------------------------------------


def _custodians(names: tuple[str, ...] = ("dina", "emil", "fatou")) -> tuple[Any, list[Any]]:
    # Granted the Key custodian capability, which components need since f76225c.
    tree = factories.Tree()
    people = [
        factories.user(
            tree.root, Role.MASTER_STATION_MANAGER, (Capability.KEY_CUSTODIAN,), username=name
        )
        for name in names
    ]
    return tree.admin, people


@pytest.mark.django_db
def test_pinned_a_dkga02_component_differing_only_in_parity_bits_is_a_repeat() -> None:
    """DES ignores the parity bit of each byte: A and A with its parity bits flipped are one
    DES key with one check value. A, B, A' would leave B (DES-equal) as the key; the repeat
    check (4a68ba4) refuses A' because the check values are equal. Pinned."""
    admin, people = _custodians()
    a = bytes.fromhex("0123456789ABCDEF")
    b = bytes.fromhex("FEDCBA9876543210")
    a_parity = bytes(x ^ 0x01 for x in a)
    assert check_value(a) == check_value(a_parity)
    ceremony = KeyCeremony(opened_by=admin, key_ref="vk-parity", dkga="02", components=3)
    ceremony.enter(custodian=people[0], component_hex=a.hex(), component_check_value=check_value(a))
    ceremony.enter(custodian=people[1], component_hex=b.hex(), component_check_value=check_value(b))
    with pytest.raises(DomainError) as refused:
        ceremony.enter(
            custodian=people[2],
            component_hex=a_parity.hex(),
            component_check_value=check_value(a_parity),
        )
    assert refused.value.code == "KEY_COMPONENT_REPEATED"
    assert not VendingKeyRecord.objects.filter(key_ref="vk-parity").exists()


@pytest.mark.django_db
def test_pinned_a_ceremony_key_makes_the_tokens_of_the_same_key_typed_whole() -> None:
    """Pinned: two components XOR to the key; its tokens equal those of the key typed whole."""
    admin, people = _custodians()
    whole = secrets.token_bytes(20)
    a = secrets.token_bytes(20)
    b = bytes(x ^ y for x, y in zip(whole, a, strict=True))
    ceremony = KeyCeremony(opened_by=admin, key_ref="vk-cer", dkga="04", components=2)
    ceremony.enter(custodian=people[0], component_hex=a.hex(), component_check_value=check_value(a))
    ceremony.enter(custodian=people[1], component_hex=b.hex(), component_check_value=check_value(b))
    ceremony.confirm(custodian=people[0], key_check_value=check_value(whole))
    services.store_vending_key(actor=None, key_ref="vk-whole", key_hex=whole.hex(), dkga="04")
    assert credit_tokens("vk-cer", dkga="04") == credit_tokens("vk-whole", dkga="04")
    assert VendingKeyRecord.objects.get(key_ref="vk-cer").check_value == check_value(whole)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_probe_two_ceremonies_finishing_at_once_for_one_reference_refuse_with_a_code() -> None:
    """Two ceremonies for one key reference (two administrators, or a ceremony restarted in a
    second terminal after the first seemed to hang) each pass the 'reference already used'
    check when they open and again in store_key_secret (an exists() read, then the insert):
    finishing at the same moment, the second insert hits the unique index and raises an
    uncaught IntegrityError, a traceback in `gridvend keys ceremony` after every custodian has
    typed, instead of a refusal saying the reference is taken. Nothing is half-written (the
    transaction rolls back). Severity: low.

    Cause: gridvend/keys/services.py store_key_secret (exists() then create()). Fix: catch
    IntegrityError on the create (or lock by inserting first) and raise the same
    ValidationFailed('That key reference is already used.')."""
    # Where both ceremonies end: store_key_secret with the same reference, at the same moment
    # (called directly, so the ceremonies' own audit writes do not space the two apart).
    admin, _people = _custodians()
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def finish() -> None:
        try:
            start.wait(10)
            services.store_key_secret(
                actor=admin,
                key_ref="vk-twice",
                secret=secrets.token_bytes(20),
                dkga="04",
                sta_tables="real",
                description="",
            )
            outcomes.append("stored")
        except DomainError as refused:
            outcomes.append(str(refused.code))
        except Exception as exc:
            outcomes.append(type(exc).__name__)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=finish) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert VendingKeyRecord.objects.filter(key_ref="vk-twice").count() == 1
    assert outcomes.count("stored") == 1 and "IntegrityError" not in outcomes, outcomes
