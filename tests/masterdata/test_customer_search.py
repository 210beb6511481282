"""Customer search by kind: what a text is read as, that each kind finds the right customer
(Arabic, Chinese and accented names, phones typed every way, meter and account numbers) and
never one outside the searcher's subtree, and on PostgreSQL that each kind is an index scan."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from gridvend.customers import selectors as customers
from gridvend.customers.models import Customer
from gridvend.customers.search import (
    SearchKind,
    classify,
    customer_condition,
)
from gridvend.kernel.names import normalise_name
from gridvend.meters import selectors as meters
from gridvend.web.backoffice.customers import CUSTOMERS
from tests.masterdata import factories as md
from tests.masterdata.conftest import World

K = SearchKind


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        # A meter's length is also an account's or a local mobile's in many countries.
        ("04000000001", (K.METER, K.ACCOUNT, K.NATIONAL_ID, K.PHONE)),
        ("0400 0000-001", (K.METER, K.ACCOUNT, K.NATIONAL_ID, K.PHONE)),
        ("0400000000012", (K.METER, K.ACCOUNT, K.NATIONAL_ID, K.PHONE)),
        ("٠٤٠٠٠٠٠٠٠٠١", (K.METER, K.ACCOUNT, K.NATIONAL_ID, K.PHONE)),  # Arabic-Indic digits
        ("+254712345678", (K.PHONE,)),
        ("+254 712 345 678", (K.PHONE,)),
        ("0712 345 678", (K.ACCOUNT, K.NATIONAL_ID, K.PHONE)),
        ("254712345678", (K.ACCOUNT, K.NATIONAL_ID, K.PHONE)),
        ("712345678", (K.ACCOUNT, K.NATIONAL_ID, K.PHONE)),
        ("(074) 527-5900", (K.ACCOUNT, K.NATIONAL_ID, K.PHONE)),
        ("345678", (K.ACCOUNT, K.NATIONAL_ID, K.PHONE)),
        ("10000", (K.ACCOUNT, K.NATIONAL_ID)),
        ("1", (K.ACCOUNT, K.NATIONAL_ID)),
        ("KSM-00123", (K.ACCOUNT, K.NATIONAL_ID)),
        ("id-998877", (K.ACCOUNT, K.NATIONAL_ID)),
        ("123456789012345678901", (K.NATIONAL_ID, K.PHONE)),  # too long for an account
        ("kamau", (K.NAME,)),
        ("Kamau Wanjiru", (K.NAME,)),
        ("ali 2", (K.NATIONAL_ID, K.NAME)),  # digits and letters may be an id as stored
        ("QQ 12 34 56 C", (K.NATIONAL_ID,)),
        ("محمد", (K.NAME,)),
        ("王伟", (K.NAME,)),
        ("Li Wei", (K.NAME,)),  # the longest word is long enough
        ("", ()),
        ("   ", ()),
        ("ab", ()),
        ("王", ()),
        ("a b", ()),
        ("---", ()),
        ("+", ()),
        ("%_", ()),
    ],
)
def test_classify_reads_each_shape_as_its_kinds(text: str, kinds: tuple[SearchKind, ...]) -> None:
    assert classify(text, region="KE").kinds == kinds


def test_classify_carries_the_value_each_kind_looks_up() -> None:
    meter = classify(" 0400 0000 001 ", region="KE")
    assert meter.meter == "04000000001"
    phone = classify("0712 345 678", region="KE")
    assert phone.account == "0712345678"
    assert phone.phone.number == "+254712345678" and phone.phone.tail == "0712345678"
    assert "0712 345 678" in phone.national_ids and "0712345678" in phone.national_ids
    assert classify("ksm-001", region="KE").account == "KSM-001"
    assert classify("  Wanjiru   KAMAU ", region="KE").words == ("wanjiru", "kamau")
    short = classify("ab", region="KE")
    assert short.too_short and customer_condition(short) is None
    assert classify("", region="KE").is_empty and not classify("ab", region="KE").is_empty


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("مُحَمَّد", "محمد"),  # harakat
        ("أحمد", "احمد"),  # alef with hamza above
        ("إبراهيم", "ابراهيم"),  # alef with hamza below
        ("آمنة", "امنه"),  # alef with madda, taa marbuta
        ("مصطفى", "مصطفي"),  # alef maqsura
        ("مـحـمـد", "محمد"),  # tatweel
        ("ﻣﺤﻤﺪ", "محمد"),  # presentation forms
        ("Zoë Ångström", "zoe angstrom"),
        ("ÉLODIE  Müller", "elodie muller"),
        ("Straße", "strasse"),
        ("王小明", "王小明"),
        ("김민준", "김민준"),
        ("ＫＡＭＡＵ", "kamau"),
    ],
)
def test_normalise_name_folds_spellings_together(stored: str, typed: str) -> None:
    assert normalise_name(stored) == normalise_name(typed) == typed


# Through the selectors, on whichever database the pass runs ------------------------------------

pytestmark_db = pytest.mark.django_db


def _accounts(queryset: Any) -> set[str]:
    return {c.account_number for c in queryset}


@dataclasses.dataclass
class People:
    wanjiru: Customer
    mohammed: Customer
    fatima: Customer
    wang: Customer
    zoe: Customer
    south_twin: Customer  # same name, phone tail and account prefix, but in South
    meter_number: str


@pytest.fixture
def people(world: World) -> People:
    north = world.tree.north_sc
    wanjiru = md.customer(
        org_unit=north,
        name="Wanjiru Kamau",
        account_number="3100000001",
        phone="0712 345 678",
        national_id="ID-998877",
    )
    meter = md.meter(customer=wanjiru)
    return People(
        wanjiru=wanjiru,
        mohammed=md.customer(org_unit=north, name="مُحَمَّد أَحْمَد", account_number="3200000001"),
        fatima=md.customer(org_unit=north, name="فاطمة الزهراء", account_number="3300000001"),
        wang=md.customer(org_unit=north, name="王小明", account_number="3400000001"),
        zoe=md.customer(org_unit=north, name="Zoë Ångström", account_number="3500000001"),
        south_twin=md.customer(
            org_unit=world.tree.south_sc,
            name="Wanjiru Kamau",
            account_number="3100000002",
            phone="+255712345678",  # same last nine digits, another country
            national_id="ID-998877",
        ),
        meter_number=meter.number,
    )


@pytestmark_db
@pytest.mark.parametrize(
    ("typed", "who"),
    [
        ("Wanjiru Kamau", "wanjiru"),
        ("kamau wanjiru", "wanjiru"),  # words in any order
        ("WANJ", "wanjiru"),
        ("محمد", "mohammed"),
        ("أحمد", "mohammed"),  # typed with a hamza, stored with harakat
        ("مُحَمَّد", "mohammed"),
        ("احمد محمد", "mohammed"),
        ("فاطمه", "fatima"),  # haa for taa marbuta
        ("الزهراء", "fatima"),
        ("小明", "wang"),  # Chinese: a substring, no spaces
        ("王小明", "wang"),
        ("zoe", "zoe"),
        ("ANGSTRÖM", "zoe"),
        ("0712 345 678", "wanjiru"),
        ("+254712345678", "wanjiru"),
        ("254712345678", "wanjiru"),
        ("712345678", "wanjiru"),
        ("345678", "wanjiru"),
        ("31000", "wanjiru"),  # an account prefix
        ("3100000001", "wanjiru"),
        ("id-998877", "wanjiru"),
    ],
)
def test_each_kind_finds_the_customer_and_nobody_outside_the_subtree(
    world: World, people: People, typed: str, who: str
) -> None:
    expected = getattr(people, who).account_number
    assert _accounts(customers.list_customers(world.care, search=typed)) == {expected}
    # The administrator at the root sees South too: the scope is what kept it out.
    found = _accounts(customers.list_customers(world.tree.admin, search=typed))
    assert expected in found


@pytestmark_db
def test_the_south_twin_is_found_only_from_its_own_subtree(world: World, people: People) -> None:
    twin = people.south_twin.account_number
    for typed in ("Wanjiru Kamau", "345678", "31000", "id-998877", "+255712345678"):
        assert twin not in _accounts(customers.list_customers(world.care, search=typed))
        assert twin in _accounts(customers.list_customers(world.care_south, search=typed))


@pytestmark_db
def test_a_meter_number_with_spaces_finds_its_customer(world: World, people: People) -> None:
    number = people.meter_number
    spaced = f"{number[:4]} {number[4:8]} {number[8:]}"
    assert _accounts(customers.list_customers(world.care, search=spaced)) == {"3100000001"}
    assert _accounts(customers.list_customers(world.care_south, search=spaced)) == set()
    assert [m.number for m in meters.list_meters(world.care, search=spaced)] == [number]
    assert [m.number for m in meters.list_meters(world.care, search=number[:6])] == [number]
    assert [m.number for m in meters.list_meters(world.care, search="kamau wanjiru")] == [number]


@pytestmark_db
def test_debts_are_searched_the_same_way(world: World, people: People) -> None:
    from gridvend.customers import services as customer_services
    from gridvend.kernel.money import Money

    for customer in (people.wanjiru, people.mohammed, people.south_twin):
        customer_services.open_debt(
            actor=world.tree.admin, customer=customer, amount=Money(500, "KES"), reason="arrears"
        )
    for typed, expected in (("أحمد", "3200000001"), ("kamau", "3100000001"), ("31", "3100000001")):
        found = customers.list_all_debts(world.finance, search=typed)
        assert {d.customer.account_number for d in found} == {expected}


@pytestmark_db
def test_a_too_short_name_finds_nothing_rather_than_everyone(world: World, people: People) -> None:
    assert list(customers.list_customers(world.care, search="ka")) == []
    assert list(customers.list_customers(world.care, search="---")) == []


@pytestmark_db
def test_a_renamed_customer_is_found_by_the_new_name(world: World, people: People) -> None:
    from gridvend.customers import services as customer_services

    customer_services.update_customer(actor=world.care, customer=people.zoe, name="Chloé Dupont")
    assert _accounts(customers.list_customers(world.care, search="chloe")) == {"3500000001"}
    assert _accounts(customers.list_customers(world.care, search="zoe")) == set()


@pytestmark_db
def test_the_customers_list_says_when_more_match_than_it_shows(
    world: World, people: People
) -> None:
    for _ in range(4):
        md.customer(org_unit=world.tree.north_sc, name="Refine Otieno")
    view = dataclasses.replace(CUSTOMERS, search_limit=3, export_source=False).list_view()

    def page(query: dict[str, str]) -> str:
        request = RequestFactory().get("/backoffice/customers/", query)
        request.user = world.care
        return view(request).content.decode()

    many = page({"q": "otieno"})
    assert 'id="more-match"' in many and many.count("Refine Otieno") == 3
    exact = page({"q": "otieno refine", "status": "active"})
    assert 'id="more-match"' in exact  # four still match, three are shown
    few = page({"q": "wanjiru"})
    assert 'id="more-match"' not in few and "Wanjiru Kamau" in few
    short = page({"q": "ot"})
    assert 'id="search-note"' in short and "Refine Otieno" not in short


# PostgreSQL: each kind is served by an index at a realistic size --------------------------------

# Syllables that make some eight thousand surnames per script, so a full name is as rare as in
# a real customer base (a uniform list of a few names would make every name search unselective).
LATIN = [
    "ka",
    "mau",
    "wa",
    "nji",
    "ru",
    "o",
    "tie",
    "no",
    "ach",
    "eng",
    "mwa",
    "ngi",
    "che",
    "ru",
    "ki",
    "ba",
    "zo",
    "le",
    "ma",
    "ti",
]
ARABIC = [
    "مح",
    "مد",
    "فا",
    "طم",
    "ال",
    "زه",
    "را",
    "ء",
    "اب",
    "را",
    "هي",
    "م",
    "عب",
    "د",
    "سل",
    "ما",
    "ن",
    "ي",
    "نو",
    "ر",
]
CJK = [
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "小",
    "明",
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
]


def _name(index: int) -> str:
    script = (LATIN, ARABIC, CJK)[index % 3]
    parts = [script[(index // 3) % 20], script[(index // 60) % 20], script[(index // 1200) % 20]]
    if script is CJK:
        return "".join(parts)
    return f"{parts[0]}{parts[1]} {parts[2]}{script[index % 17]}{index % 1000}"


def _seq_scans_of_customers(plan: Any) -> list[str]:
    found = []
    if isinstance(plan, dict):
        scan = plan.get("Node Type"), plan.get("Relation Name")
        if scan == ("Seq Scan", "customers_customer"):
            found.append(plan.get("Filter", ""))
        for value in plan.values():
            found.extend(_seq_scans_of_customers(value))
    elif isinstance(plan, list):
        for value in plan:
            found.extend(_seq_scans_of_customers(value))
    return found


def _customer_filters(plan: Any) -> str:
    """The conditions checked on customers rows that an index scan (not a sequential one) read."""
    found = []
    if isinstance(plan, dict):
        if plan.get("Relation Name") == "customers_customer" and plan.get("Node Type") in (
            "Index Scan",
            "Index Only Scan",
            "Bitmap Heap Scan",  # its rows come from the bitmap index scans below it
        ):
            found.append(str(plan.get("Filter", "")))
        for value in plan.values():
            found.append(_customer_filters(value))
    elif isinstance(plan, list):
        found.extend(_customer_filters(value) for value in plan)
    return " ".join(found)


def _index_conditions(plan: Any) -> str:
    """Every condition an index applies in the plan (what is found, not filtered afterwards)."""
    found = []
    if isinstance(plan, dict):
        found.append(str(plan.get("Index Cond", "")))
        for value in plan.values():
            found.append(_index_conditions(value))
    elif isinstance(plan, list):
        found.extend(_index_conditions(value) for value in plan)
    return " ".join(found)


@pytest.mark.postgres
@pytestmark_db
def test_every_search_kind_is_an_index_scan_on_postgresql(world: World) -> None:

    # Most customers are elsewhere, as in a national utility: the searcher's subtree is a part.
    units = [world.tree.south_sc] * 8 + [world.tree.north_sc, world.tree.north_bu]
    rows = []
    for index in range(20_000):
        name = _name(index)
        rows.append(
            Customer(
                account_number=f"{500_000_000 + index * 7:010d}",
                name=name,
                name_search=normalise_name(name),
                national_id=f"NID{index:08d}",
                phone=f"+2547{index * 37 % 100_000_000:08d}",
                org_unit=units[index % 10 if index % 7 else 9],
                tariff=world.tariff,
            )
        )
    Customer.objects.bulk_create(rows, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    north = [i for i in range(20_000) if i % 7 == 0][1234]
    latin, arabic, chinese = (
        next(i for i in range(north, 20_000, 7) if i % 3 == k) for k in range(3)
    )
    phone = rows[north].phone
    for typed, column in (
        (" ".join(reversed(rows[latin].name.split())), "name_search"),
        (rows[arabic].name, "name_search"),
        # Three characters: pg_trgm needs three in a row, so a two-character search is scoped
        # by the unit's index and filtered instead (still no walk through every customer).
        (rows[chinese].name, "name_search"),
        # Digits may be an account prefix, a national id or a phone's tail: each looked up on
        # its own index (customers.search.IDENTIFIER_CAP), then the page by the ids found.
        (rows[north].account_number[:8], "account_number"),
        (rows[north].national_id, "national_id"),
        (phone, "phone"),
        ("0" + phone[4:], "phone"),
        (phone[-7:], "phone"),  # the last digits, through the trigram index
    ):
        # Every query the search runs (the identifier look-ups and the page), explained.
        with CaptureQueriesContext(connection) as ran:
            found = list(customers.list_customers(world.care, search=typed)[:21])
        plans = []
        with connection.cursor() as cursor:
            for query in ran.captured_queries:
                if "customers_customer" not in query["sql"]:
                    continue
                cursor.execute("EXPLAIN (FORMAT JSON) " + query["sql"])
                plans.append(cursor.fetchone()[0])
        assert plans, typed
        assert _seq_scans_of_customers(plans) == [], (typed, plans)
        # Found by an index on the column, or (where the subtree is the smaller set, as the
        # planner may judge a 2,000-customer unit) read through the unit's index and filtered:
        # either way an index bounds the rows read, never a walk through every customer.
        assert column in _index_conditions(plans) or column in _customer_filters(plans), (
            typed,
            plans,
        )
        assert found, typed
