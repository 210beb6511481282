"""Keyset-paged lists: every row exactly once in order, filters kept, hostile cursors refused."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from urllib.parse import unquote

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from gridvend.audit import selectors as audit_selectors
from gridvend.audit.models import AuditEvent
from gridvend.customers import selectors as customer_selectors
from gridvend.customers.models import Premise
from gridvend.web import lists
from tests.backoffice.conftest import World
from tests.masterdata import factories as md
from tests.signin import signed_in as client_for

NEXT = re.compile(r'rel="next" href="\?([^"]*)"')
PREVIOUS = re.compile(r'rel="prev" href="\?([^"]*)"')
LAST = re.compile(r'href="\?([^"]*)">Last<')


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(lists, "PAGE_SIZE", 4)
    return 4


def _premises_with_ties(world: World) -> None:
    # Three addresses shared by several premises: only the id orders those.
    for n in range(13):
        md.premise(org_unit=world.tree.north_sc, address=f"{n % 3} Shared Road")


def _walk(client: Client, url: str, link: re.Pattern[str]) -> tuple[list[list[int]], list[str]]:
    """Follows ``link`` from ``url`` to its end: the ids of each page and each query used."""
    pages: list[list[int]] = []
    queries: list[str] = []
    query: str | None = url.partition("?")[2]
    path = url.partition("?")[0]
    while query is not None:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 200
        pages.append([obj.pk for obj in response.context["page"]])
        queries.append(query)
        found = link.search(response.content.decode())
        query = unescape(found.group(1)) if found else None
        assert len(pages) < 100, "the walk does not end"
    return pages, queries


def test_walking_next_visits_every_premise_once_in_order_with_ties(
    world: World, small_pages: int
) -> None:
    _premises_with_ties(world)
    client = client_for(world.admin)
    pages, _queries = _walk(client, "/premises/", NEXT)
    walked = [pk for page in pages for pk in page]
    expected = list(
        customer_selectors.list_premises(world.admin)
        .order_by("address", "id")
        .values_list("id", flat=True)
    )
    assert len(expected) > 3 * small_pages
    assert walked == expected
    assert all(len(page) == small_pages for page in pages[:-1])


def test_last_page_then_previous_walks_back_over_every_row_once(
    world: World, small_pages: int
) -> None:
    _premises_with_ties(world)
    client = client_for(world.admin)
    first = client.get("/premises/").content.decode()
    last_query = unescape(LAST.search(first).group(1))  # type: ignore[union-attr]
    last = client.get(f"/premises/?{last_query}")
    expected = list(
        customer_selectors.list_premises(world.admin)
        .order_by("address", "id")
        .values_list("id", flat=True)
    )
    # The last page is the list's last rows, shown in the list's order.
    assert [p.pk for p in last.context["page"]] == expected[-small_pages:]
    assert last.context["page"].is_last and not last.context["page"].has_next
    pages, _queries = _walk(client, f"/premises/?{last_query}", PREVIOUS)
    walked = [pk for page in reversed(pages) for pk in page]
    assert walked == expected
    assert pages[-1][0] == expected[0]


def test_the_operation_log_walks_newest_first_without_gaps(world: World, small_pages: int) -> None:
    for n in range(9):
        md.premise(org_unit=world.tree.north_sc, address=f"{n} Audit Lane")
    client = client_for(world.admin)
    pages, _queries = _walk(client, "/operation-log/", NEXT)
    walked = [pk for page in pages for pk in page]
    expected = list(audit_selectors.list_events(world.admin).values_list("id", flat=True))
    assert walked == expected == sorted(expected, reverse=True)


def test_a_filter_is_kept_on_every_page_and_the_export_still_has_every_filtered_row(
    world: World, small_pages: int
) -> None:
    _premises_with_ties(world)
    md.premise(org_unit=world.tree.north_sc, address="9 Other Street")
    client = client_for(world.admin)
    pages, queries = _walk(client, "/premises/?q=Shared", NEXT)
    assert all("q=Shared" in query for query in queries)
    walked = [pk for page in pages for pk in page]
    shared = Premise.objects.filter(address__contains="Shared").order_by("address", "id")
    assert walked == [p.pk for p in shared]
    assert len(pages) > 1
    # The export ignores the page and carries all filtered rows, however small the pages.
    export = client.get(f"/premises/export.csv?{queries[1]}")
    body = b"".join(export.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    exported = [row["address"] for row in csv.DictReader(io.StringIO(body))]
    assert sorted(exported) == sorted(p.address for p in shared)


def test_a_filtered_list_counts_exactly_up_to_the_cap(
    world: World, small_pages: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _premises_with_ties(world)
    client = client_for(world.admin)
    page = client.get("/premises/?q=Shared").context["page"]
    assert page.count == lists.RowCount(13, "exact")
    monkeypatch.setattr(lists, "COUNT_CAP", 10)
    capped = client.get("/premises/?q=Shared")
    assert capped.context["page"].count == lists.RowCount(10, "at_least")
    assert "10+ rows" in capped.content.decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "abc",
        "x" * 5000,
        "²",
        signing.dumps({"d": "a", "k": ["1 Shared Road", 1]}, salt="gridvend.lists.customers"),
        signing.dumps({"d": "a", "k": ["1 Shared Road"]}, salt="gridvend.lists.premises"),
        signing.dumps({"d": "z", "k": []}, salt="gridvend.lists.premises"),
        signing.dumps({"d": "a", "k": ["1 Shared Road", "x"]}, salt="gridvend.lists.premises"),
        signing.dumps(["a"], salt="gridvend.lists.premises"),
    ],
    # Stable names: a signed cursor carries the time it was made, and the parallel test
    # processes (pytest-xdist) must collect the same tests.
    ids=[
        "short",
        "long",
        "superscript",
        "other-list",
        "key-too-short",
        "no-key",
        "key-of-wrong-type",
        "not-a-dict",
    ],
)
def test_a_hostile_or_foreign_cursor_is_refused_with_a_sentence(
    world: World, cursor: str, small_pages: int
) -> None:
    _premises_with_ties(world)
    client = client_for(world.admin)
    response = client.get("/premises/", {"cursor": cursor})
    assert response.status_code == 400
    assert "This page link is not valid" in response.content.decode()


def test_a_cursor_from_a_changed_page_link_is_refused(world: World, small_pages: int) -> None:
    _premises_with_ties(world)
    client = client_for(world.admin)
    first = client.get("/premises/").content.decode()
    cursor = unescape(NEXT.search(first).group(1)).partition("cursor=")[2]  # type: ignore[union-attr]
    raw = unquote(cursor)
    tampered = raw[:-2] + ("AA" if not raw.endswith("AA") else "BB")
    assert client.get("/premises/", {"cursor": raw}).status_code == 200
    assert client.get("/premises/", {"cursor": tampered}).status_code == 400


def test_a_scoped_user_pages_only_their_subtree(world: World, small_pages: int) -> None:
    _premises_with_ties(world)
    for n in range(6):
        md.premise(org_unit=world.south.customer.org_unit, address=f"{n} Shared Road")
    pages, _queries = _walk(client_for(world.care), "/premises/", NEXT)
    walked = [pk for page in pages for pk in page]
    expected = list(
        customer_selectors.list_premises(world.care)
        .order_by("address", "id")
        .values_list("id", flat=True)
    )
    assert walked == expected
    seen = Premise.objects.filter(pk__in=walked).select_related("org_unit")
    assert all(p.org_unit.path.startswith(world.care.org_unit.path) for p in seen)
    assert not Premise.objects.filter(
        pk__in=walked, org_unit__path__startswith=world.south.customer.org_unit.path
    ).exists()


def test_the_operation_log_offers_event_types_from_the_code_not_from_its_rows(
    world: World,
) -> None:
    client = client_for(world.admin)
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/operation-log/")
    reads = [q["sql"] for q in captured.captured_queries if "audit_auditevent" in q["sql"]]
    assert reads and not [sql for sql in reads if "DISTINCT" in sql.upper()]
    # A type declared in code but never written is offered all the same.
    declared = audit_selectors.event_types()
    unwritten = [t for t in declared if not AuditEvent.objects.filter(event_type=t).exists()]
    assert unwritten
    assert f'value="{unwritten[0]}"' in response.content.decode()
