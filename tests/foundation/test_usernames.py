"""Usernames: one NFKC form, no hidden characters, and no name that passes for an existing one."""

import pytest
from django.test import Client

from gridvend.identity import services, usernames
from gridvend.identity.errors import ValidationFailed
from gridvend.identity.models import User
from gridvend.identity.roles import Role
from tests import factories
from tests.signin import signed_in

CYRILLIC_A = "\u0430"
ZWSP = "\u200b"


# --- the pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lookalike", "original"),
    [
        (f"{CYRILLIC_A}dmin", "admin"),  # Cyrillic а
        ("p\u0430yp\u0430l", "paypal"),
        ("\u03bfperator", "operator"),  # Greek omicron
        ("\u0410DMIN", "admin"),  # Cyrillic А, capitals: sign-in ignores case
        ("biII", "bill"),  # capital I posing as l
        ("bi11", "bill"),  # digit one posing as l
        ("adrnin", "admin"),  # rn posing as m
        ("R00T", "ROOT"),  # zero posing as O
        ("\u0441\u0430sh\u0456\u0435r", "cashier"),  # Cyrillic с, а, і, е
        ("\u0440\u0435t\u0435r", "peter"),
        ("Jos\u0435\u0301", "Jos\u00e9"),  # Cyrillic е + combining acute against precomposed é
    ],
)
def test_lookalikes_are_confusable(lookalike: str, original: str) -> None:
    assert lookalike != original
    assert usernames.confusable(lookalike, original)
    assert usernames.confusable(original, lookalike)


@pytest.mark.parametrize(
    ("first", "second"),
    [("bill", "bili"), ("anna", "anne"), ("north.manager", "south.manager"), ("root", "r00t")],
)
def test_different_names_are_not_confusable(first: str, second: str) -> None:
    assert not usernames.confusable(first, second)


@pytest.mark.parametrize(
    "name",
    [
        f"a{ZWSP}dmin",  # zero-width space
        "ad\u200dmin",  # zero-width joiner
        "admin\u202e",  # right-to-left override
        "\u2066admin\u2069",  # isolates
        "ad\u00admin",  # soft hyphen
        "admin\u0007",  # bell
        "ad\u3164min",  # Hangul filler
        "admin\ufe0f",  # variation selector
        "ad\u2028min",  # line separator
        "ad\u1680min",  # Ogham space mark
    ],
)
def test_hidden_characters_are_found(name: str) -> None:
    assert usernames.has_hidden_characters(name)


@pytest.mark.parametrize(
    "name", ["admin", "kitale.cashier", "Jos\u00e9", "\u0410\u043d\u043d\u0430", "Mary Chebet"]
)
def test_ordinary_names_have_no_hidden_characters(name: str) -> None:
    assert not usernames.has_hidden_characters(name)


# --- the services and sign-in ------------------------------------------------------------------


def _create(tree: factories.Tree, username: str) -> User:
    return services.create_user(
        actor=tree.admin,
        username=username,
        full_name="Test User",
        org_unit=tree.north_sc,
        role=Role.OPERATOR,
        password=factories.PASSWORD,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "lookalike", [f"{CYRILLIC_A}dmin", "\u0410DMIN", "adrnin", "\u03b1dmin", "AdmIn"]
)
def test_create_user_refuses_a_lookalike_of_an_existing_username(lookalike: str) -> None:
    tree = factories.Tree()
    _create(tree, "admin")
    with pytest.raises(ValidationFailed) as refused:
        _create(tree, lookalike)
    assert refused.value.params["field"] == "username"
    assert User.objects.count() == 2  # root-admin and admin


@pytest.mark.django_db
def test_an_existing_lookalike_also_blocks_the_plain_name() -> None:
    tree = factories.Tree()
    _create(tree, "biII")
    with pytest.raises(ValidationFailed):
        _create(tree, "bill")


@pytest.mark.django_db
@pytest.mark.parametrize("name", [f"a{ZWSP}dmin", "admin\u202e", "ad\u2060min", "ad\u0000min"])
def test_create_user_refuses_hidden_characters(name: str) -> None:
    tree = factories.Tree()
    with pytest.raises(ValidationFailed) as refused:
        _create(tree, name)
    assert refused.value.params["field"] == "username"
    assert not User.objects.exclude(pk=tree.admin.pk).exists()


@pytest.mark.django_db
def test_create_user_stores_the_nfkc_form() -> None:
    tree = factories.Tree()
    user = _create(tree, "\uff4b\uff49\uff4f\uff53\uff4b\uff11")  # full-width "kiosk1"
    assert user.username == "kiosk1"


@pytest.mark.django_db
def test_full_width_twin_of_an_existing_username_is_taken() -> None:
    tree = factories.Tree()
    _create(tree, "kiosk")
    with pytest.raises(ValidationFailed):
        _create(tree, "\uff4biosk")


@pytest.mark.django_db
def test_different_usernames_are_still_accepted() -> None:
    tree = factories.Tree()
    _create(tree, "bill")
    _create(tree, "bili")
    _create(tree, "anna")
    assert User.objects.filter(username__in=["bill", "bili", "anna"]).count() == 3


@pytest.mark.django_db
def test_create_administrator_refuses_a_lookalike() -> None:
    tree = factories.Tree()
    with pytest.raises(ValidationFailed):
        services.create_administrator(
            username=f"root-{CYRILLIC_A}dmin",
            full_name="Impostor",
            password=factories.PASSWORD,
            org_unit=tree.root,
        )


@pytest.mark.django_db
def test_user_screen_shows_the_lookalike_refusal() -> None:
    tree = factories.Tree()
    _create(tree, "admin")
    client = signed_in(tree.admin)
    response = client.post(
        "/users/new/",
        {
            "username": f"{CYRILLIC_A}dmin",
            "full_name": "Impostor",
            "org_unit": tree.north_sc.pk,
            "role": "operator",
            "password": "a-long-new-password-5",
        },
    )
    assert response.status_code == 200
    assert "looks too much like an existing one" in response.content.decode()
    assert not User.objects.filter(full_name="Impostor").exists()


@pytest.mark.django_db
def test_sign_in_looks_the_username_up_in_nfkc_form(client: Client) -> None:
    tree = factories.Tree()
    factories.user(tree.north_sc, username="till")
    response = client.post(
        "/login/", {"username": "\uff54\uff49\uff4c\uff4c", "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"]
