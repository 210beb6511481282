"""The PKCS#11 token engine against SoftHSM2: tokens made with decoder keys derived in the HSM
are the software engine's tokens for the same key, the meter simulator accepts them, a sale
goes through it, and the vending key cannot be read or wrapped out of the HSM.

They run when GRIDVEND_TEST_SOFTHSM2 names SoftHSM2's PKCS#11 library (CI sets it, .ci/run) and
fail loudly when it names nothing; without it they are skipped with the reason. Each test process
initialises a fresh token in a temporary directory (SOFTHSM2_CONF)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

TEST_LIBRARY = os.environ.get("GRIDVEND_TEST_SOFTHSM2", "")
pytestmark = pytest.mark.skipif(
    not TEST_LIBRARY,
    reason="set GRIDVEND_TEST_SOFTHSM2=/usr/lib/softhsm/libsofthsm2.so to run the HSM tests",
)

TOKEN = "gridvend-test"
PIN = "246813"
PIN_ENV = "GRIDVEND_TEST_HSM_PIN"


# SoftHSM2 reads SOFTHSM2_CONF when the library is initialised, once per process (the PKCS#11
# library stays loaded): every module using the token gets this process's one token directory,
# or a module's fresh directory would be unseen until a C_Finalize/C_Initialize (the HSM restart
# probe) switched to it and lost every object the process had loaded.
_conf: list[Path] = []


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SoftHSM2 token in a temporary directory, made once per process; the library path."""
    if not Path(TEST_LIBRARY).is_file():
        pytest.fail(f"GRIDVEND_TEST_SOFTHSM2={TEST_LIBRARY!r} is not SoftHSM2's PKCS#11 library")
    util = shutil.which("softhsm2-util")
    if util is None:
        pytest.fail("softhsm2-util is not installed (Debian package softhsm2)")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ[PIN_ENV] = PIN
    if not _conf:
        home = tmp_path_factory.mktemp("softhsm")
        (home / "tokens").mkdir()
        conf = home / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\n")
        os.environ["SOFTHSM2_CONF"] = str(conf)
        subprocess.run(
            [util, "--init-token", "--free", "--label", TOKEN, "--so-pin", "13579", "--pin", PIN],
            check=True,
            capture_output=True,
        )
        _conf.append(conf)
    os.environ["SOFTHSM2_CONF"] = str(_conf[0])
    yield TEST_LIBRARY
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture
def hsm(softhsm: str) -> Iterator[Any]:
    from gridvend.keys.hsm import HsmTokenEngine
    from tests.keys.helpers import FIXED_RND

    engine = HsmTokenEngine(
        module=softhsm, token_label=TOKEN, pin_env=PIN_ENV, rnd_source=lambda: FIXED_RND
    )
    yield engine
    engine.close()


def _store(dkga: str = "04") -> tuple[str, str]:
    from gridvend.keys import services

    key_ref = f"hsm-{secrets.token_hex(4)}"
    key_hex = secrets.token_hex(20 if dkga == "04" else 8)
    services.store_vending_key(actor=None, key_ref=key_ref, key_hex=key_hex, dkga=dkga)
    services.forget_cached_keys()
    return key_ref, key_hex


def _hsm_tokens(engine: Any, key_ref: str, ea: str) -> list[str]:
    from tests.keys.helpers import meter

    m = meter(key_ref, dkga="04", ea=ea)
    tokens = [
        engine.issue_credit(m, kwh=Decimal(kwh), tid=6_000_000 + i).digits
        for i, kwh in enumerate(("12.5", "100", "0.1"))
    ]
    tokens.append(
        engine.issue_engineering(m, kind="set_power_limit", value=3000, tid=6_000_010).digits
    )
    return tokens


@pytest.mark.django_db
@pytest.mark.parametrize("ea", ["07", "11"])
def test_hsm_tokens_are_the_software_engines_and_the_meter_accepts_them(hsm: Any, ea: str) -> None:
    from tests.keys.helpers import all_accepted, credit_tokens, simulator

    key_ref, key_hex = _store()
    hsm.load_key(key_ref)
    made_in_hsm = _hsm_tokens(hsm, key_ref, ea)
    assert made_in_hsm == credit_tokens(key_ref, dkga="04", ea=ea)
    assert all_accepted(simulator(key_hex, dkga="04", ea=ea), made_in_hsm)


@pytest.mark.django_db
def test_the_vending_key_cannot_be_read_or_wrapped_out_of_the_hsm(hsm: Any) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.exceptions import AttributeSensitive, KeyUnextractable, PKCS11Error

    key_ref, key_hex = _store()
    hsm_check_value = hsm.load_key(key_ref)
    # A second session of this process: the engine's has logged the user in already.
    session = pkcs11.lib(TEST_LIBRARY).get_token(token_label=TOKEN).open(rw=True)
    try:
        key = session.get_key(
            object_class=ObjectClass.SECRET_KEY, key_type=KeyType.GENERIC_SECRET, label=key_ref
        )
        # C_GetAttributeValue(CKA_VALUE) is refused.
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]
        # C_WrapKey under a key made for wrapping is refused.
        wrapper = session.generate_key(
            KeyType.AES, 256, template={Attribute.WRAP: True, Attribute.TOKEN: False}
        )
        with pytest.raises(KeyUnextractable):
            wrapper.wrap_key(key)  # type: ignore[attr-defined]
        # And it cannot be made extractable afterwards (CKR_ACTION_PROHIBITED: the object was
        # made unmodifiable; CKR_ATTRIBUTE_READ_ONLY on modules that check the attribute first).
        with pytest.raises(PKCS11Error):
            key[Attribute.EXTRACTABLE] = True
        assert key[Attribute.SENSITIVE] is True and key[Attribute.EXTRACTABLE] is False
        # The HSM's own check value of the object (PKCS#11 v3.0: SHA-1 of its value) is that
        # of the vending key followed by the 12 zero bytes HMAC pads it with anyway.
        padded = bytes.fromhex(key_hex) + bytes(12)
        import hashlib

        assert hsm_check_value == hashlib.sha1(padded).hexdigest()[:6].upper()
    finally:
        session.close()


@pytest.mark.django_db
def test_a_sale_through_the_hsm_engine_is_accepted_by_the_meter(hsm: Any) -> None:
    from gridvend.keys.engine import meter_params
    from gridvend.meters import services as meters
    from gridvend.meters.selectors import meter_key_ref
    from gridvend.sts.keys import VendingKey
    from gridvend.sts.simulator import MeterSimulator
    from gridvend.vending import services as vending
    from gridvend.vending.key_usage import key_usage
    from gridvend.vending.models import Token
    from tests.world import build_world, meter_number

    world = build_world()
    key_ref, key_hex = _store()
    hsm.load_key(key_ref)
    # World.add_meter registers DKGA02 meters; this one is registered by hand.
    from gridvend.customers import services as customers

    customer = customers.create_customer(
        actor=world.admin, name="HSM Customer", org_unit=world.unit, tariff=world.tariff,
        category="residential",
    )  # fmt: skip
    premise = customers.create_premise(actor=world.admin, org_unit=world.unit, address="1 HSM Rd")
    registered = meters.register_meter(
        actor=world.admin, number=meter_number(90001), org_unit=world.unit, sgc="600675", ti=1,
        krn=2, base_date_year=2014, key_ref=key_ref, dkga="04", ea="11",
    )  # fmt: skip
    meters.install_meter(actor=world.admin, meter=registered, customer=customer, premise=premise)
    result = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="hsm-sale",
        meter_number=registered.number,
        tender=world.money("500.00"),
        clock=world.clock,
        engine=hsm,
    )
    registered.refresh_from_db()
    ref = meter_key_ref(registered)
    sim = MeterSimulator.for_meter(meter_params(ref), VendingKey.from_hex(key_hex))
    assert sim.has_key(hsm.decoder_key(ref)[0])
    assert all(sim.enter(t.digits).accepted for t in result.tokens)
    assert sim.credit() == sum((t.units or Decimal(0)) for t in result.tokens)
    assert set(Token.objects.filter(sale_id=result.sale.pk).values_list("key_ref", flat=True)) == {
        key_ref
    }
    assert {u.key_ref: u.tokens for u in key_usage()}[key_ref] == len(result.tokens)


@pytest.mark.django_db
def test_a_dkga02_key_is_refused_by_the_hsm_engine_with_its_code(hsm: Any) -> None:
    from gridvend.keys.errors import HsmKeyUnsupported
    from tests.keys.helpers import meter

    key_ref, _hex = _store("02")
    with pytest.raises(HsmKeyUnsupported) as refused:
        hsm.load_key(key_ref)
    assert refused.value.code == "HSM_KEY_UNSUPPORTED"
    with pytest.raises(HsmKeyUnsupported):
        hsm.issue_credit(meter(key_ref), kwh=Decimal("1"), tid=6_000_000)


@pytest.mark.django_db
def test_a_key_not_in_the_hsm_or_a_wrong_pin_refuses_with_a_code(
    softhsm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridvend.keys.errors import HsmUnavailable, VendingKeyUnavailable
    from gridvend.keys.hsm import HsmTokenEngine
    from tests.keys.helpers import meter

    key_ref, _hex = _store()
    right = HsmTokenEngine(module=softhsm, token_label=TOKEN, pin_env=PIN_ENV)
    with pytest.raises(VendingKeyUnavailable):
        right.issue_credit(meter(key_ref, dkga="04"), kwh=Decimal("1"), tid=6_000_000)
    right.close()
    monkeypatch.setenv("GRIDVEND_TEST_WRONG_PIN", "000000")
    wrong = HsmTokenEngine(module=softhsm, token_label=TOKEN, pin_env="GRIDVEND_TEST_WRONG_PIN")
    with pytest.raises(HsmUnavailable) as refused:
        wrong.issue_credit(meter(key_ref, dkga="04"), kwh=Decimal("1"), tid=6_000_000)
    assert refused.value.code == "HSM_UNAVAILABLE" and "000000" not in refused.value.message


@pytest.mark.django_db
def test_settings_choose_the_hsm_engine_for_every_sale(softhsm: str, settings: Any) -> None:
    from gridvend.keys import engine as engines
    from gridvend.keys.hsm import HsmTokenEngine
    from tests.keys.helpers import meter, simulator

    key_ref, key_hex = _store()
    settings.TOKEN_ENGINE = "pkcs11"
    settings.HSM_PKCS11_MODULE = softhsm
    settings.HSM_TOKEN_LABEL = TOKEN
    settings.HSM_PIN_ENV = PIN_ENV
    engines._engine = None
    chosen = engines.token_engine()
    try:
        assert isinstance(chosen, HsmTokenEngine)
        assert engines.engine_or_default(None) is chosen
        chosen.load_key(key_ref)
        token = chosen.issue_credit(meter(key_ref, dkga="04"), kwh=Decimal("7.5"), tid=6_000_000)
        assert simulator(key_hex, dkga="04").enter(token.digits).accepted
    finally:
        if isinstance(chosen, HsmTokenEngine):
            chosen.close()
        engines._engine = None


@pytest.mark.django_db
def test_the_hsm_object_is_checked_against_the_row_before_its_first_use(
    softhsm: str, hsm: Any
) -> None:
    """hsm-load stores the object's check on the key row; the engine compares the object with
    it once per process and row, and refuses HSM_KEY_MISMATCH when they differ."""
    import hashlib
    import hmac

    from gridvend.keys.errors import HsmKeyMismatch
    from gridvend.keys.hsm import HsmTokenEngine
    from gridvend.keys.models import VendingKeyRecord
    from tests.keys.helpers import meter

    key_ref, key_hex = _store()
    hsm.load_key(key_ref)
    # Worked out here from the key itself: HMAC-SHA-256 (key padded to 32 bytes) of the block.
    block = b"gridvend HSM object check v1".ljust(64, b"\x00")
    padded = bytes.fromhex(key_hex) + bytes(12)
    expected = hmac.new(padded, block, hashlib.sha256).digest()[:3].hex().upper()
    assert VendingKeyRecord.objects.get(key_ref=key_ref).hsm_check_value == expected
    assert hsm.issue_credit(meter(key_ref, dkga="04"), kwh=Decimal("1"), tid=6_000_000).digits
    # Another process whose row says the object is some other key refuses before any token.
    VendingKeyRecord.objects.filter(key_ref=key_ref).update(hsm_check_value="000000")
    hsm.close()  # one logged-in session per token in this process
    other = HsmTokenEngine(module=softhsm, token_label=TOKEN, pin_env=PIN_ENV)
    try:
        with pytest.raises(HsmKeyMismatch) as refused:
            other.issue_credit(meter(key_ref, dkga="04"), kwh=Decimal("1"), tid=6_000_001)
        assert refused.value.code == "HSM_KEY_MISMATCH"
        assert key_hex not in refused.value.message
    finally:
        other.close()
