"""Partners' API keys: issued once and kept as digests, Basic and bearer, rotation with overlap,
signed requests with a replay window, the IP allow-list and the per-key rate limit; every refusal
with its stable code and status, leaving nothing written."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache

from gridvend.audit.models import AuditEvent
from gridvend.identity.errors import AccessDenied
from gridvend.partners import credentials
from gridvend.partners import services as partners
from gridvend.partners.credentials import authenticate, issue_key, revoke_key, sign
from gridvend.partners.errors import CredentialRefused, PartnerKeyInvalid
from gridvend.partners.models import Partner, PartnerKey
from tests.partners.support import make_partner
from tests.threads import run_processes
from tests.world import World, build_world

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 4, 10, 0, 20, tzinfo=UTC)
PATH = "/api/v1/purchases"
BODY = b'{"request_id":"r1","meter":"01234567890","amount":{"minor":10000,"currency":"KES"}}'


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _bearer(secret: str) -> str:
    return f"Bearer {secret}"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _auth(authorization: str | None, **kwargs: object) -> Partner:
    args: dict[str, object] = {
        "authorization": authorization,
        "ip": "192.0.2.10",
        "method": "POST",
        "path": PATH,
        "body": BODY,
        "now": NOW,
    }
    args.update(kwargs)
    return authenticate(**args)  # type: ignore[arg-type]


def _state() -> tuple[int, list[tuple[str, object, object]]]:
    keys = list(PartnerKey.objects.values_list("prefix", "last_used_at", "expires_at"))
    return AuditEvent.objects.count(), sorted(keys)


def _refused(authorization: str | None, **kwargs: object) -> CredentialRefused:
    before = _state()
    with pytest.raises(CredentialRefused) as caught:
        _auth(authorization, **kwargs)
    assert _state() == before, "a refused call wrote something"
    return caught.value


def _setup(world: World, **kwargs: object) -> tuple[Partner, credentials.IssuedKey]:
    partner = make_partner(world)
    issued = issue_key(actor=world.admin, partner=partner, now=NOW - timedelta(days=1), **kwargs)  # type: ignore[arg-type]
    return partner, issued


def test_a_bearer_key_names_its_partner_and_only_its_digest_is_stored() -> None:
    world = build_world()
    partner, issued = _setup(world, label="till 1")
    assert _auth(_bearer(issued.secret)) == partner
    row = PartnerKey.objects.get()
    assert issued.secret.startswith(row.prefix + "_") and len(issued.secret) == 55
    assert issued.secret not in row.digest and row.digest == credentials.key_digest(issued.secret)
    assert issued.signing_secret.encode() not in bytes(row.signing_ciphertext)
    assert credentials.signing_secret(row) == issued.signing_secret
    events = AuditEvent.objects.filter(event_type="partner_key.issued")
    assert events.count() == 1
    assert issued.secret not in str(events.get().after) and "signing" not in str(events.get().after)
    assert issued.secret not in repr(issued)


def test_basic_takes_the_prefix_or_the_partner_code_as_the_user() -> None:
    world = build_world()
    partner, issued = _setup(world)
    assert _auth(_basic(issued.key.prefix, issued.secret)) == partner
    assert _auth(_basic(partner.code, issued.secret)) == partner
    assert _refused(_basic("someone-else", issued.secret)).code == "CREDENTIALS_INVALID"


def test_the_last_use_is_written_at_most_once_a_minute() -> None:
    world = build_world()
    _partner, issued = _setup(world)
    _auth(_bearer(issued.secret))
    assert PartnerKey.objects.get().last_used_at == NOW
    _auth(_bearer(issued.secret), now=NOW + timedelta(seconds=30))
    assert PartnerKey.objects.get().last_used_at == NOW


@pytest.mark.parametrize(
    "header",
    [None, "", "   "],
)
def test_no_credentials_is_credentials_missing_401(header: str | None) -> None:
    world = build_world()
    _setup(world)
    refusal = _refused(header)
    assert (refusal.code, refusal.http_status) == ("CREDENTIALS_MISSING", 401)


def test_an_unknown_prefix_and_a_wrong_key_get_the_same_answer_after_a_constant_time_compare(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = build_world()
    _partner, issued = _setup(world)
    compared: list[tuple[str, str]] = []
    real = credentials.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(credentials, "compare_digest", spy)
    wrong_key = issued.secret[:-1] + ("a" if issued.secret[-1] != "a" else "b")
    unknown_prefix = "gvk_" + "a" * 10 + issued.secret[14:]
    answers = []
    for secret in (wrong_key, unknown_prefix):
        refusal = _refused(_bearer(secret))
        answers.append((refusal.code, refusal.http_status, refusal.message, refusal.params))
    assert answers[0] == answers[1] == ("CREDENTIALS_INVALID", 401, answers[0][2], {})
    # Both went through one HMAC and one constant-time comparison of digests.
    assert len(compared) == 2
    assert compared[0] == (credentials.key_digest(wrong_key), issued.key.digest)
    assert compared[1][0] == credentials.key_digest(unknown_prefix)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Token abc",
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "Bearer " + "x" * 600,
        "Bearer gvk_\u0661\u0662",
    ],
)
def test_malformed_headers_are_credentials_invalid(header: str) -> None:
    world = build_world()
    _setup(world)
    assert _refused(header).code == "CREDENTIALS_INVALID"


def test_an_expired_key_is_key_expired_and_a_revoked_key_key_revoked() -> None:
    world = build_world()
    partner = make_partner(world)
    expiring = issue_key(
        actor=world.admin,
        partner=partner,
        expires_at=NOW + timedelta(hours=1),
        now=NOW - timedelta(days=1),
    )
    assert _auth(_bearer(expiring.secret)) == partner
    refusal = _refused(_bearer(expiring.secret), now=NOW + timedelta(hours=1))
    assert (refusal.code, refusal.http_status, refusal.params) == (
        "KEY_EXPIRED",
        401,
        {"prefix": expiring.key.prefix},
    )
    revoked = issue_key(actor=world.admin, partner=partner, now=NOW - timedelta(days=1))
    revoke_key(actor=world.admin, key=revoked.key, now=NOW - timedelta(minutes=1))
    revoke_key(actor=world.admin, key=revoked.key, now=NOW)  # again: no change, no event
    assert AuditEvent.objects.filter(event_type="partner_key.revoked").count() == 1
    refusal = _refused(_bearer(revoked.secret))
    assert (refusal.code, refusal.http_status) == ("KEY_REVOKED", 401)


def test_a_suspended_partner_is_partner_not_active_403() -> None:
    world = build_world()
    partner, issued = _setup(world)
    partners.update_partner(actor=world.admin, partner=partner, status="suspended")
    refusal = _refused(_bearer(issued.secret))
    assert (refusal.code, refusal.http_status) == ("PARTNER_NOT_ACTIVE", 403)


def test_a_call_from_outside_the_allow_list_is_address_not_allowed_403() -> None:
    world = build_world()
    partner, issued = _setup(world)
    partners.update_partner(
        actor=world.admin, partner=partner, ip_allow_list="192.0.2.0/28, 2001:db8::1"
    )
    assert _auth(_bearer(issued.secret), ip="192.0.2.10") == partner
    assert _auth(_bearer(issued.secret), ip="2001:db8::1") == partner
    for ip in ("192.0.2.99", None, "not-an-address"):
        refusal = _refused(_bearer(issued.secret), ip=ip)
        assert (refusal.code, refusal.http_status) == ("ADDRESS_NOT_ALLOWED", 403)


def test_rotation_keeps_the_old_key_working_for_the_overlap_then_expires_it() -> None:
    world = build_world()
    partner, old = _setup(world)
    new = issue_key(
        actor=world.admin,
        partner=partner,
        replaces=old.key,
        overlap=timedelta(hours=2),
        now=NOW,
    )
    assert _auth(_bearer(new.secret)) == partner
    assert _auth(_bearer(old.secret), now=NOW + timedelta(hours=1, minutes=59)) == partner
    assert _refused(_bearer(old.secret), now=NOW + timedelta(hours=2)).code == "KEY_EXPIRED"
    assert _auth(_bearer(new.secret), now=NOW + timedelta(hours=3)) == partner
    event = AuditEvent.objects.filter(event_type="partner_key.issued").latest("id")
    assert event.after is not None and event.after["replaces"] == old.key.prefix
    with pytest.raises(PartnerKeyInvalid):
        issue_key(actor=world.admin, partner=partner, replaces=old.key, now=NOW)


def test_issuing_checks_its_bounds_and_the_managers_scope() -> None:
    world = build_world()
    partner = make_partner(world)
    for kwargs in (
        {"rate_limit_per_minute": 0},
        {"rate_limit_per_minute": 100_001},
        {"overlap": timedelta(days=31)},
        {"expires_at": NOW - timedelta(seconds=1)},
        {"expires_at": NOW + timedelta(days=6 * 366)},
        {"label": "x" * 121},
        {"label": "bad\u202elabel"},
    ):
        with pytest.raises(PartnerKeyInvalid):
            issue_key(actor=world.admin, partner=partner, now=NOW, **kwargs)
    other = make_partner(world, code="other-bank")
    foreign = issue_key(actor=world.admin, partner=other, now=NOW)
    with pytest.raises(PartnerKeyInvalid):
        issue_key(actor=world.admin, partner=partner, replaces=foreign.key, now=NOW)
    with pytest.raises(AccessDenied):
        issue_key(actor=world.cashier, partner=partner, now=NOW)
    with pytest.raises(AccessDenied):
        revoke_key(actor=world.cashier, key=foreign.key, now=NOW)
    assert PartnerKey.objects.filter(partner=partner).count() == 0


def _signed(issued: credentials.IssuedKey, sent: str, **overrides: object) -> dict[str, str]:
    """The headers of a call sent with timestamp ``sent``, signed over ``overrides`` if any."""
    parts: dict[str, object] = {"method": "POST", "path": PATH, "timestamp": sent, "body": BODY}
    parts.update(overrides)
    return {
        "timestamp": sent,
        "signature": sign(issued.signing_secret, **parts),  # type: ignore[arg-type]
    }


def test_a_good_signature_passes_in_unix_seconds_and_rfc_3339() -> None:
    world = build_world()
    partner, issued = _setup(world, requires_signature=True)
    unix = str(int(NOW.timestamp()))
    assert _auth(_bearer(issued.secret), **_signed(issued, unix)) == partner
    rfc = "2031-03-04T12:59:30+03:00"
    assert _auth(_bearer(issued.secret), **_signed(issued, rfc)) == partner
    # The same signature in capitals is the same signature: a replay.
    zulu = "2031-03-04T10:00:00Z"
    signed = _signed(issued, zulu)
    assert _auth(_bearer(issued.secret), **signed) == partner
    upper = {"timestamp": zulu, "signature": signed["signature"].upper()}
    assert _refused(_bearer(issued.secret), **upper).code == "SIGNATURE_REPLAYED"


def test_a_key_that_requires_signatures_refuses_an_unsigned_call() -> None:
    world = build_world()
    _partner, issued = _setup(world, requires_signature=True)
    refusal = _refused(_bearer(issued.secret))
    assert (refusal.code, refusal.http_status) == ("SIGNATURE_REQUIRED", 401)
    timestamp = str(int(NOW.timestamp()))
    assert _refused(_bearer(issued.secret), timestamp=timestamp).code == "SIGNATURE_REQUIRED"


def test_a_signature_over_anything_else_is_signature_invalid() -> None:
    world = build_world()
    _partner, issued = _setup(world, requires_signature=True)
    ts = str(int(NOW.timestamp()))
    for overrides in (
        {"body": BODY + b" "},
        {"path": "/api/v1/purchases?x=1"},
        {"method": "PUT"},
        {"timestamp": str(int(NOW.timestamp()) - 1)},
    ):
        signed = _signed(issued, ts, **overrides)
        refusal = _refused(_bearer(issued.secret), **signed)
        assert (refusal.code, refusal.http_status) == ("SIGNATURE_INVALID", 401)
    for bad in ("", "zz" * 32, "ab", "\u0661" * 64):
        refused = _refused(_bearer(issued.secret), timestamp=ts, signature=bad or " ")
        assert refused.code in {"SIGNATURE_INVALID", "SIGNATURE_REQUIRED"}
    other = issue_key(actor=world.admin, partner=issued.key.partner, now=NOW)
    signed = _signed(other, ts)
    assert _refused(_bearer(issued.secret), **signed).code == "SIGNATURE_INVALID"
    for timestamp in ("yesterday", "2031-03-04", "2031-03-04T10:00:00", "9" * 13, "1" * 41):
        signed = _signed(issued, timestamp)
        assert _refused(_bearer(issued.secret), **signed).code == "SIGNATURE_INVALID"


def test_a_signature_outside_five_minutes_is_signature_expired() -> None:
    world = build_world()
    partner, issued = _setup(world)
    for offset in (301, -301):
        ts = str(int(NOW.timestamp()) + offset)
        refusal = _refused(_bearer(issued.secret), **_signed(issued, ts))
        assert (refusal.code, refusal.params) == ("SIGNATURE_EXPIRED", {"window": 300})
    ts = str(int(NOW.timestamp()) - 300)
    assert _auth(_bearer(issued.secret), **_signed(issued, ts)) == partner


def test_a_signature_seen_before_is_signature_replayed() -> None:
    world = build_world()
    partner, issued = _setup(world)
    signed = _signed(issued, str(int(NOW.timestamp())))
    assert _auth(_bearer(issued.secret), **signed) == partner
    refusal = _refused(_bearer(issued.secret), **signed, now=NOW + timedelta(seconds=10))
    assert (refusal.code, refusal.http_status) == ("SIGNATURE_REPLAYED", 401)
    # A refused signature is not remembered: the same request correctly signed still passes.
    fresh = _signed(issued, str(int(NOW.timestamp()) + 1))
    _refused(_bearer(issued.secret), timestamp=fresh["timestamp"], signature="0" * 64)
    assert _auth(_bearer(issued.secret), **fresh) == partner


def test_the_rate_limit_refuses_past_the_limit_until_the_next_minute() -> None:
    world = build_world()
    partner, issued = _setup(world, rate_limit_per_minute=3)
    start = NOW.replace(second=0)
    for i in range(3):
        assert _auth(_bearer(issued.secret), now=start + timedelta(seconds=i)) == partner
    refusal = _refused(_bearer(issued.secret), now=start + timedelta(seconds=20))
    assert (refusal.code, refusal.http_status) == ("RATE_LIMITED", 429)
    assert refusal.params == {"limit": 3, "retry_after": 40}
    assert _auth(_bearer(issued.secret), now=start + timedelta(seconds=60)) == partner
    # Another key of the same partner has its own count.
    second = issue_key(actor=world.admin, partner=partner, now=NOW)
    assert _auth(_bearer(second.secret), now=start + timedelta(seconds=21)) == partner


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_share_one_rate_limit_through_the_cache() -> None:
    world = build_world()
    partner, issued = _setup(world, rate_limit_per_minute=10)
    start = NOW.replace(second=0)

    def work(i: int) -> list[str]:
        outcomes = []
        for _ in range(8):
            try:
                authenticate(
                    authorization=_bearer(issued.secret),
                    ip="192.0.2.10",
                    method="GET",
                    path=PATH,
                    body=b"",
                    now=start + timedelta(seconds=5),
                )
                outcomes.append("ok")
            except CredentialRefused as exc:
                outcomes.append(exc.code)
        return outcomes

    results, errors = run_processes(2, work)
    assert not errors
    flat = [outcome for outcomes in results for outcome in outcomes]
    assert flat.count("ok") == 10
    assert flat.count("RATE_LIMITED") == 6
    assert partner.pk
    cache.clear()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_signature_seen_by_one_process_is_replayed_in_another() -> None:
    world = build_world()
    partner, issued = _setup(world)
    signed = _signed(issued, str(int(NOW.timestamp())))

    def work(i: int) -> str:
        try:
            authenticate(
                authorization=_bearer(issued.secret),
                ip=None,
                method="POST",
                path=PATH,
                body=BODY,
                now=NOW,
                **signed,
            )
            return "ok"
        except CredentialRefused as exc:
            return exc.code

    results, errors = run_processes(2, work)
    assert not errors
    assert sorted(results) == ["SIGNATURE_REPLAYED", "ok"]
    assert partner.pk
    cache.clear()


def test_a_signature_stays_remembered_however_many_others_follow_it() -> None:
    """The replay window holds every accepted signature until it expires: a busy partner's
    later calls must not push an earlier signature out of the cache (Django's database cache
    culls live entries beyond 300 by default)."""
    world = build_world()
    partner, issued = _setup(world, rate_limit_per_minute=100_000)
    sent = []
    for n in range(400):
        body = f'{{"n": {n}}}'.encode()
        signed = _signed(issued, str(int(NOW.timestamp())), body=body)
        assert _auth(_bearer(issued.secret), body=body, **signed) == partner
        sent.append((body, signed))
    for body, signed in sent:
        refusal = _refused(
            _bearer(issued.secret), body=body, **signed, now=NOW + timedelta(seconds=30)
        )
        assert refusal.code == "SIGNATURE_REPLAYED"
