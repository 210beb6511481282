"""Every URL of the project tried from its row in tests/matrix.py: anonymous, without the
capability, with it but in another region, allowed, refused writes that change nothing, and
hostile query strings that never answer a server error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.hostile import HOSTILE_INT_PATH, HOSTILE_QUERY
from tests.matrix import OWN_MATRIX_NAMESPACES, ROWS, Row
from tests.signin import signed_in
from tests.world import Regions, build_world, snapshot, with_regions

pytestmark = pytest.mark.django_db

# Query names the screens read (search, paging, unit and status filters, links' sale and dates).
QUERY_NAMES = ("q", "page", "unit", "status", "sale", "date", "point", "a", "b", "next")


@pytest.fixture(scope="module")
def regions(django_db_setup: None, django_db_blocker: Any) -> Iterator[Regions]:
    """The world is built once for the module inside a transaction each test nests in, and
    rolled back at the end, as Django's setUpTestData does: the matrix only reads it."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        # Django lets durable use cases run inside its own test transactions; this is one.
        outer._from_testcase = True  # type: ignore[attr-defined]
        with outer:
            yield with_regions(build_world())
            transaction.set_rollback(True)


def _ids(rows: list[Row]) -> list[str]:
    return [row.name for row in rows]


def _rows(keep: Any) -> Any:
    chosen = [row for row in ROWS if keep(row)]
    return pytest.mark.parametrize("row", chosen, ids=_ids(chosen))


def _send(client: Client, method: str, url: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(url, data or {}) if method == "post" else client.get(url)


def _refused(client: Client, method: str, url: str, data: dict[str, Any] | None) -> Any:
    """Sends the request and checks it left every row as it was."""
    before = snapshot()
    response = _send(client, method, url, data)
    assert snapshot() == before, f"{method.upper()} {url} changed something"
    return response


def _url_names() -> set[str]:
    names: set[str] = set()

    def walk(entries: Any, namespace: str) -> None:
        for entry in entries:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, inner)
            elif isinstance(entry, URLPattern) and entry.name:
                names.add(namespace + entry.name)

    walk(get_resolver().url_patterns, "")
    return names


def test_every_url_name_has_a_matrix_row() -> None:
    rows = [row.name for row in ROWS]
    assert len(rows) == len(set(rows)), "a URL name has two rows"
    missing = {
        name
        for name in _url_names() - set(rows)
        if name.split(":", 1)[0] not in OWN_MATRIX_NAMESPACES
    }
    assert not missing, f"add a row to tests/matrix.py for: {sorted(missing)}"
    assert not set(rows) - _url_names(), "a row names a URL that no longer exists"


@_rows(lambda row: row.anonymous == "sign-in")
def test_anonymous_is_sent_to_sign_in_and_changes_nothing(regions: Regions, row: Row) -> None:
    url = row.url(regions.north)
    methods = (["get"] if row.get else []) + (["post"] if row.post or not row.get else [])
    for method in methods:
        data = row.post(regions, regions.north) if row.post else {}
        response = _refused(Client(), method, url, data)
        assert response.status_code == 302, method
        assert response["Location"].startswith("/login/"), method


@_rows(lambda row: row.anonymous == "portal")
def test_portal_pages_send_anonymous_and_staff_to_the_portal_sign_in_and_change_nothing(
    regions: Regions, row: Row
) -> None:
    url = row.url(regions.north)
    methods = (["get"] if row.get else []) + (["post"] if row.post or not row.get else [])
    # A staff session, even the administrator's, is no customer session.
    for client in (Client(), signed_in(regions.user("admin"))):
        for method in methods:
            data = row.post(regions, regions.north) if row.post else {}
            response = _refused(client, method, url, data)
            assert response.status_code == 302, method
            assert response["Location"].startswith("/portal/login/"), method


@_rows(lambda row: row.anonymous == "basic")
def test_a_partner_interface_without_credentials_answers_401_and_changes_nothing(
    regions: Regions, row: Row
) -> None:
    before = snapshot()
    response = Client().post(row.url(regions.north), b"{}", content_type="application/json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert snapshot() == before


@_rows(lambda row: row.anonymous == "open" and row.get)
def test_public_pages_open_without_signing_in(regions: Regions, row: Row) -> None:
    assert Client().get(row.url(regions.north)).status_code == row.allowed_status


@_rows(lambda row: row.denied is not None and row.get)
def test_without_the_capability_the_screen_answers_403(regions: Regions, row: Row) -> None:
    assert row.denied is not None
    response = signed_in(regions.user(row.denied)).get(row.url(regions.north))
    assert response.status_code == row.denied_status
    assert "Traceback" not in response.content.decode(errors="replace")


@_rows(lambda row: row.post is not None and row.post_refused_to is not None)
def test_a_post_without_the_capability_answers_403_and_changes_nothing(
    regions: Regions, row: Row
) -> None:
    assert row.post is not None and row.post_refused_to is not None
    client = signed_in(regions.user(row.post_refused_to))
    data = row.post(regions, regions.north)
    response = _refused(client, "post", row.url(regions.north), data)
    assert response.status_code == 403


@_rows(lambda row: row.region in ("path", "unit") and row.allowed and row.get)
def test_another_regions_object_answers_404(regions: Regions, row: Row) -> None:
    assert row.allowed is not None
    client = signed_in(regions.user(row.allowed))
    if row.region == "path":
        url = row.url(regions.south)
    else:
        url = f"{row.url(regions.north)}?unit={regions.south.unit.pk}"
    assert client.get(url).status_code == 404


@_rows(lambda row: row.region in ("path", "body") and row.allowed and row.post)
def test_a_post_about_another_regions_object_changes_nothing(regions: Regions, row: Row) -> None:
    assert row.allowed is not None and row.post is not None
    client = signed_in(regions.user(row.allowed))
    target = regions.south if row.region == "path" else regions.north
    response = _refused(client, "post", row.url(target), row.post(regions, regions.south))
    if row.region == "path":
        assert response.status_code == 404
    else:
        # Named in a form field: the form answers, saying the object is not found or not offered.
        assert response.status_code in (200, 404)


@_rows(lambda row: row.allowed is not None and row.get)
def test_the_allowed_user_opens_the_screen(regions: Regions, row: Row) -> None:
    assert row.allowed is not None
    response = signed_in(regions.user(row.allowed)).get(row.url(regions.north))
    assert response.status_code == row.allowed_status


@_rows(lambda row: row.get)
def test_hostile_query_strings_and_ids_never_answer_a_server_error(
    regions: Regions, row: Row
) -> None:
    client = signed_in(regions.user(row.allowed)) if row.allowed else Client()
    url = row.url(regions.north)
    values = HOSTILE_QUERY[:3] if row.pdf else HOSTILE_QUERY
    tried = [f"{url}?{urlencode(dict.fromkeys(QUERY_NAMES, value))}" for value in values]
    for value in row.args(regions.north).values():
        if isinstance(value, int):
            tried += [url.replace(f"/{value}/", f"/{bad}/", 1) for bad in HOSTILE_INT_PATH]
    for target in tried:
        response: Any = client.get(target)
        if response.streaming:
            b"".join(response.streaming_content)  # an export fails while it streams
        # A readiness probe's 503 ("not ready") is its answer, not a server error.
        assert response.status_code < 500 or response.status_code == row.allowed_status == 503, (
            target[:200]
        )


# Only a draft's author edits it, whoever else may read it.
ONLY_THE_AUTHOR = {"backoffice:version-edit", "backoffice:version-edit-json"}


@_rows(
    lambda row: (
        row.name.startswith("backoffice:")
        and row.get
        and row.allowed_status == 200
        and row.name not in ONLY_THE_AUTHOR
    )
)
def test_the_administrator_opens_every_back_office_screen_in_both_regions(
    regions: Regions, row: Row
) -> None:
    client = signed_in(regions.user("admin"))
    for region in (regions.north, regions.south):
        assert client.get(row.url(region)).status_code == 200
