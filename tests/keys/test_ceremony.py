"""The key ceremony: a key imported from two or three custodians' components, each checked by
its own check value, makes the same tokens as the key imported whole; nothing but the sealed key
is stored; a custodian enters one component; a ceremony not finished in time is abandoned."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import AccessDenied, ValidationFailed
from gridvend.identity.roles import Capability, Role
from gridvend.kernel.clock import FixedClock
from gridvend.keys import services
from gridvend.keys.ceremony import KeyCeremony, authenticate_custodian
from gridvend.keys.crypto import check_value
from gridvend.keys.errors import (
    CustodianAlreadyEntered,
    CustodianNotAuthenticated,
    CustodianNotAuthorised,
    KeyCeremonyExpired,
    KeyCheckValueMismatch,
    KeyComponentCheckFailed,
    KeyComponentInvalid,
    KeyComponentRepeated,
)
from gridvend.keys.models import VendingKeyRecord
from tests import factories
from tests.keys.helpers import all_accepted, credit_tokens, simulator

PASSWORD = "correct horse battery staple 19"


def _xor(*parts: bytes) -> bytes:
    out = bytearray(len(parts[0]))
    for part in parts:
        for i, b in enumerate(part):
            out[i] ^= b
    return bytes(out)


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    services.forget_cached_keys()
    yield
    services.forget_cached_keys()


@pytest.fixture
def people() -> dict[str, Any]:
    tree = factories.Tree()
    admin = tree.admin
    admin.set_password(PASSWORD)
    admin.save()
    custodians = []
    for name in ("amina", "bruno", "chen"):
        user = factories.user(
            tree.root, Role.MASTER_STATION_MANAGER, (Capability.KEY_CUSTODIAN,), username=name
        )
        user.set_password(PASSWORD)
        user.save()
        custodians.append(user)
    return {"admin": admin, "custodians": custodians, "tree": tree}


# --- check values (no database) -------------------------------------------------------------


@pytest.mark.parametrize("dummy", [None])
def test_a_des_check_value_is_the_first_three_bytes_of_des_of_zeros(dummy: None) -> None:
    # The textbook KCV: DES key 0123456789ABCDEF encrypts 8 zero bytes to D5D44FF720683D0D.
    assert check_value(bytes.fromhex("0123456789ABCDEF")) == "D5D44F"


def test_a_dkga04_check_value_is_the_first_three_bytes_of_sha1_of_the_key() -> None:
    key = bytes(range(20))
    assert check_value(key) == hashlib.sha1(key).hexdigest()[:6].upper()


# --- the ceremony -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("dkga", "ea", "parts"), [("02", "07", 2), ("04", "07", 3), ("04", "11", 2)]
)
def test_a_key_from_components_makes_the_tokens_of_the_same_key_imported_whole(
    people: dict[str, Any], dkga: str, ea: str, parts: int
) -> None:
    size = 8 if dkga == "02" else 20
    components = [secrets.token_bytes(size) for _ in range(parts)]
    whole = _xor(*components)
    services.store_vending_key(actor=None, key_ref="whole", key_hex=whole.hex(), dkga=dkga)

    ceremony = KeyCeremony(
        opened_by=people["admin"], key_ref="from-parts", dkga=dkga, components=parts
    )
    for custodian, component in zip(people["custodians"], components, strict=False):
        accepted = ceremony.enter(
            custodian=custodian,
            component_hex=component.hex(),
            component_check_value=check_value(component).lower(),
        )
        assert accepted == check_value(component)
    # Nothing is stored, so nothing can sell, until a custodian confirms the key's check value.
    assert ceremony.awaiting_check
    assert not VendingKeyRecord.objects.filter(key_ref="from-parts").exists()
    confirmed = ceremony.confirm(
        custodian=people["custodians"][1], key_check_value=check_value(whole).lower()
    )
    assert ceremony.stored == confirmed
    stored = VendingKeyRecord.objects.get(key_ref="from-parts")
    assert stored.check_value == check_value(whole)

    made_whole = credit_tokens("whole", dkga=dkga, ea=ea)
    made_from_parts = credit_tokens("from-parts", dkga=dkga, ea=ea)
    assert made_from_parts == made_whole
    assert all_accepted(simulator(whole.hex(), dkga=dkga, ea=ea), made_from_parts)


@pytest.mark.django_db
def test_no_component_is_kept_anywhere_and_the_trail_names_custodians_and_check_values(
    people: dict[str, Any],
) -> None:
    components = [secrets.token_bytes(8) for _ in range(2)]
    ceremony = KeyCeremony(opened_by=people["admin"], key_ref="vk-c", dkga="02", components=2)
    for custodian, component in zip(people["custodians"], components, strict=False):
        ceremony.enter(
            custodian=custodian,
            component_hex=component.hex(),
            component_check_value=check_value(component),
        )
    ceremony.confirm(
        custodian=people["custodians"][0], key_check_value=check_value(_xor(*components))
    )
    trail = json.dumps(
        list(AuditEvent.objects.order_by("id").values("event_type", "after", "target_label"))
    ).upper()
    for secret in (*components, _xor(*components)):
        assert secret.hex().upper() not in trail
    # Each custodian's event is in their own stream of the trail: compared as a set of rows.
    events = sorted(
        AuditEvent.objects.filter(target_id=ceremony.id).values_list("event_type", "actor_id")
    )
    amina, bruno = people["custodians"][:2]
    assert events == sorted(
        [
            ("key_ceremony.started", people["admin"].pk),
            ("key_ceremony.component_entered", amina.pk),
            ("key_ceremony.component_entered", bruno.pk),
        ]
    )
    stored = AuditEvent.objects.get(event_type="vending_key.stored")
    assert stored.after is not None
    assert stored.after["custodians"] == ["amina", "bruno"]
    assert stored.after["component_check_values"] == [check_value(c) for c in components]
    assert stored.after["check_value_confirmed_by"] == "amina"
    row = VendingKeyRecord.objects.get(key_ref="vk-c")
    for secret in (*components, _xor(*components)):
        assert secret not in bytes(row.ciphertext)
    assert repr(ceremony) == "KeyCeremony(vk-c, 2 of 2)"


@pytest.mark.django_db
def test_a_component_that_does_not_match_its_check_value_is_refused_and_can_be_retyped(
    people: dict[str, Any],
) -> None:
    first, second = secrets.token_bytes(8), secrets.token_bytes(8)
    ceremony = KeyCeremony(opened_by=people["admin"], key_ref="vk-k", dkga="02", components=2)
    amina, bruno = people["custodians"][:2]
    with pytest.raises(KeyComponentCheckFailed) as refused:
        ceremony.enter(
            custodian=amina, component_hex=first.hex(), component_check_value=check_value(second)
        )
    assert refused.value.code == "KEY_COMPONENT_CHECK_FAILED"
    assert first.hex() not in refused.value.message
    ceremony.enter(
        custodian=amina, component_hex=first.hex(), component_check_value=check_value(first)
    )
    ceremony.enter(
        custodian=bruno, component_hex=second.hex(), component_check_value=check_value(second)
    )
    ceremony.confirm(custodian=bruno, key_check_value=check_value(_xor(first, second)))
    assert VendingKeyRecord.objects.get(key_ref="vk-k").check_value == check_value(
        _xor(first, second)
    )


@pytest.mark.django_db
def test_the_same_custodian_may_not_enter_two_components(people: dict[str, Any]) -> None:
    a, b = secrets.token_bytes(8), secrets.token_bytes(8)
    ceremony = KeyCeremony(opened_by=people["admin"], key_ref="vk-s", dkga="02", components=2)
    amina = people["custodians"][0]
    ceremony.enter(custodian=amina, component_hex=a.hex(), component_check_value=check_value(a))
    with pytest.raises(CustodianAlreadyEntered):
        ceremony.enter(custodian=amina, component_hex=b.hex(), component_check_value=check_value(b))
    assert not VendingKeyRecord.objects.exists()


@pytest.mark.django_db
def test_a_repeated_component_is_refused_and_a_fresh_one_completes_the_key(
    people: dict[str, Any],
) -> None:
    a, b, c = (secrets.token_bytes(20) for _ in range(3))
    ceremony = KeyCeremony(opened_by=people["admin"], key_ref="vk-rep", dkga="04", components=3)
    amina, bruno, chen = people["custodians"]
    ceremony.enter(custodian=amina, component_hex=a.hex(), component_check_value=check_value(a))
    ceremony.enter(custodian=bruno, component_hex=b.hex(), component_check_value=check_value(b))
    with pytest.raises(KeyComponentRepeated) as refused:
        ceremony.enter(custodian=chen, component_hex=a.hex(), component_check_value=check_value(a))
    assert refused.value.code == "KEY_COMPONENT_REPEATED"
    assert refused.value.params["check_value"] == check_value(a)
    assert a.hex() not in refused.value.message
    assert ceremony.is_open and not VendingKeyRecord.objects.exists()
    ceremony.enter(custodian=chen, component_hex=c.hex(), component_check_value=check_value(c))
    ceremony.confirm(custodian=chen, key_check_value=check_value(_xor(a, b, c)))
    stored = VendingKeyRecord.objects.get(key_ref="vk-rep")
    assert stored.check_value == check_value(_xor(a, b, c))


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["00" * 8, "abc", "zz" * 8, "11" * 9, ""])
def test_a_malformed_or_zero_component_is_refused(people: dict[str, Any], typed: str) -> None:
    ceremony = KeyCeremony(opened_by=people["admin"], key_ref="vk-m", dkga="02", components=2)
    with pytest.raises(KeyComponentInvalid):
        ceremony.enter(
            custodian=people["custodians"][0], component_hex=typed, component_check_value="000000"
        )
    assert ceremony.custodians == []


@pytest.mark.django_db
def test_a_half_done_ceremony_expires_and_stores_nothing(
    people: dict[str, Any], settings: Any
) -> None:
    settings.KEY_CEREMONY_MINUTES = 30
    clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    a, b = secrets.token_bytes(20), secrets.token_bytes(20)
    ceremony = KeyCeremony(
        opened_by=people["admin"], key_ref="vk-e", dkga="04", components=2, clock=clock
    )
    amina, bruno = people["custodians"][:2]
    ceremony.enter(custodian=amina, component_hex=a.hex(), component_check_value=check_value(a))
    clock.advance(timedelta(minutes=30))
    with pytest.raises(KeyCeremonyExpired):
        ceremony.enter(custodian=bruno, component_hex=b.hex(), component_check_value=check_value(b))
    assert not ceremony.is_open and ceremony.abandoned
    assert not VendingKeyRecord.objects.exists()
    abandoned = AuditEvent.objects.get(event_type="key_ceremony.abandoned")
    assert abandoned.after == {"key_ref": "vk-e", "reason": "expired", "entered": 1}


@pytest.mark.django_db
def test_only_a_key_custodian_enters_a_component_and_only_its_custodians_confirm(
    people: dict[str, Any],
) -> None:
    a, b = secrets.token_bytes(8), secrets.token_bytes(8)
    clerk = factories.user(
        people["tree"].root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,), username="dara"
    )
    ceremony = KeyCeremony(opened_by=people["admin"], key_ref="vk-cap", dkga="02", components=2)
    with pytest.raises(CustodianNotAuthorised) as refused:
        ceremony.enter(custodian=clerk, component_hex=a.hex(), component_check_value=check_value(a))
    assert refused.value.code == "CUSTODIAN_NOT_AUTHORISED" and ceremony.custodians == []
    amina, bruno, chen = people["custodians"]
    ceremony.enter(custodian=amina, component_hex=a.hex(), component_check_value=check_value(a))
    with pytest.raises(ValidationFailed):  # not every component is in
        ceremony.confirm(custodian=amina, key_check_value=check_value(a))
    ceremony.enter(custodian=bruno, component_hex=b.hex(), component_check_value=check_value(b))
    with pytest.raises(ValidationFailed):  # a third component for a two-part key
        ceremony.enter(custodian=chen, component_hex=a.hex(), component_check_value=check_value(a))
    # chen is a custodian, but not of this key.
    with pytest.raises(CustodianNotAuthorised):
        ceremony.confirm(custodian=chen, key_check_value=check_value(_xor(a, b)))
    assert not VendingKeyRecord.objects.exists()
    ceremony.confirm(custodian=bruno, key_check_value=check_value(_xor(a, b)))
    assert VendingKeyRecord.objects.get(key_ref="vk-cap").check_value == check_value(_xor(a, b))


@pytest.mark.django_db
def test_a_key_whose_check_value_is_not_the_notes_is_never_stored(people: dict[str, Any]) -> None:
    """The components were typed right (each matched its own check value) but are not all this
    key's (a component of another key, a wrong form): the note's check value tells."""
    a, b = secrets.token_bytes(8), secrets.token_bytes(8)
    ceremony = KeyCeremony(opened_by=people["admin"], key_ref="vk-kcv", dkga="02", components=2)
    amina, bruno = people["custodians"][:2]
    ceremony.enter(custodian=amina, component_hex=a.hex(), component_check_value=check_value(a))
    ceremony.enter(custodian=bruno, component_hex=b.hex(), component_check_value=check_value(b))
    wrong = "ABC123" if check_value(_xor(a, b)) != "ABC123" else "ABC124"
    for n in range(3):
        with pytest.raises(KeyCheckValueMismatch) as refused:
            ceremony.confirm(custodian=amina, key_check_value=wrong if n else "not hex <b>")
        assert refused.value.code == "KEY_CHECK_VALUE_MISMATCH"
        assert check_value(_xor(a, b)) not in refused.value.message
    assert ceremony.abandoned and not VendingKeyRecord.objects.exists()
    assert AuditEvent.objects.filter(event_type="key_ceremony.check_value_mismatch").count() == 3
    abandoned = AuditEvent.objects.get(event_type="key_ceremony.abandoned")
    assert abandoned.after == {"key_ref": "vk-kcv", "reason": "check value mismatch", "entered": 2}


@pytest.mark.django_db
def test_only_an_administrator_opens_a_ceremony(people: dict[str, Any]) -> None:
    manager = factories.user(
        people["tree"].root, Role.MASTER_STATION_MANAGER, (Capability.FINANCE,)
    )
    with pytest.raises(AccessDenied):
        KeyCeremony(opened_by=manager, key_ref="vk-x", dkga="02", components=2)
    assert not AuditEvent.objects.filter(event_type="key_ceremony.started").exists()


@pytest.mark.django_db
def test_a_wrong_custodian_password_is_refused_and_counted(people: dict[str, Any]) -> None:
    with pytest.raises(CustodianNotAuthenticated):
        authenticate_custodian("amina", "not her password")
    people["custodians"][0].refresh_from_db()
    assert people["custodians"][0].failed_logins == 1
    assert authenticate_custodian("amina", PASSWORD).username == "amina"


# --- the command --------------------------------------------------------------------------------


class Answers:
    """What the people at the keyboard type, in order (input() and getpass() alike)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str = "") -> str:
        self.prompts.append(prompt)
        return self.answers.pop(0)


def _ceremony_command(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> tuple[str, str]:
    typed = Answers(answers)
    monkeypatch.setattr("builtins.input", typed)
    monkeypatch.setattr("getpass.getpass", typed)
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(
            "keys", "ceremony", "--key-ref", "vk-cli", "--dkga", "02", "--components", "2",
            "--by", "root-admin", stdout=out, stderr=err,
        )  # fmt: skip
    finally:
        assert not typed.answers, "the command asked fewer questions than expected"
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_the_ceremony_command_takes_each_custodian_in_turn_and_shows_only_check_values(
    people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = secrets.token_bytes(8), secrets.token_bytes(8)
    out, err = _ceremony_command(
        monkeypatch,
        [
            PASSWORD,  # the Administrator opens the ceremony
            "bruno", PASSWORD, a.hex(), check_value(b),  # a typing slip: the wrong KCV
            a.hex(), check_value(a),  # typed again, right
            "bruno",  # bruno again: refused, another custodian must come
            "chen", PASSWORD, b.hex(), check_value(b),
            "amina",  # entered no component: refused
            "chen", PASSWORD, "000000",  # not the note's check value
            "chen", PASSWORD, check_value(_xor(a, b)),
        ],
    )  # fmt: skip
    key = _xor(a, b)
    assert f"key check value {check_value(key)}" in out
    assert f"check value {check_value(a)}" in out and f"check value {check_value(b)}" in out
    for secret in (a, b, key):
        assert secret.hex() not in out + err and secret.hex().upper() not in out + err
    assert "does not match the check value" in err and "already entered" in err
    assert "amina entered no component" in err and "Nothing was stored" in err
    # The key's own check value is shown only once it was confirmed (compared, not copied).
    assert out.index(f"key check value {check_value(key)}") > out.index("delivery note")
    stored = VendingKeyRecord.objects.get(key_ref="vk-cli")
    assert stored.check_value == check_value(key)
    assert services.load_vending_key("vk-cli")[0].secret_bytes() == key


class InterruptedAfter(Answers):
    """Types the answers, then someone presses Ctrl-C."""

    def __call__(self, prompt: str = "") -> str:
        if not self.answers:
            self.prompts.append(prompt)
            raise KeyboardInterrupt
        return super().__call__(prompt)


@pytest.mark.django_db
def test_the_ceremony_command_abandons_on_interrupt_and_stores_nothing(
    people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Administrator opens; bruno signs in; Ctrl-C at his component prompt.
    typed = InterruptedAfter([PASSWORD, "bruno", PASSWORD])
    monkeypatch.setattr("builtins.input", typed)
    monkeypatch.setattr("getpass.getpass", typed)
    with pytest.raises(CommandError, match="interrupted"):
        call_command(
            "keys", "ceremony", "--key-ref", "vk-int", "--dkga", "02", "--by", "root-admin",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    assert typed.prompts[-1].startswith("Component")
    assert not VendingKeyRecord.objects.exists()
    assert AuditEvent.objects.filter(event_type="key_ceremony.abandoned").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["é", "\u202e123", "1" * 500, "", "ZZZZZZ"])
def test_a_hostile_check_value_is_refused_without_being_echoed(
    people: dict[str, Any], typed: str
) -> None:
    component = secrets.token_bytes(8)
    ceremony = KeyCeremony(opened_by=people["admin"], key_ref="vk-h", dkga="02", components=2)
    with pytest.raises(KeyComponentCheckFailed) as refused:
        ceremony.enter(
            custodian=people["custodians"][0],
            component_hex=component.hex(),
            component_check_value=typed,
        )
    assert refused.value.params["check_value"] == "?"
    assert ceremony.custodians == []


@pytest.mark.django_db
def test_a_non_ascii_component_is_refused_as_malformed(people: dict[str, Any]) -> None:
    ceremony = KeyCeremony(opened_by=people["admin"], key_ref="vk-n", dkga="02", components=2)
    with pytest.raises(KeyComponentInvalid):
        ceremony.enter(
            custodian=people["custodians"][0],
            component_hex="١٢٣٤٥٦٧٨٩٠١٢٣٤٥",  # Arabic-Indic digits: 16 characters, not hex
            component_check_value="000000",
        )
