"""What a search box's text means, decided once for every customer search (cashier, customers,
debts, meters): a meter number, an account number, a phone, a national id or a name, each looked
up through its own index instead of one OR of every column that no index can serve.

``classify`` is pure: it reads the text and says which kinds it can be. Digits of a meter's
length are a meter; "+" and digits a phone; other digits (or letters with digits, the shape of an
account number or a national id) may be an account prefix, a national id or a phone, so those two
or three cheap indexed conditions are ORed (PostgreSQL answers with a BitmapOr of their indexes);
anything else is a name. ``customer_condition`` turns the result into one condition on customers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db.models import Model, Q, QuerySet

from gridvend.kernel.names import has_cjk, normalise_name
from gridvend.kernel.phones import PhoneQuery, phone_query
from gridvend.meters.models import Meter

METER_LENGTHS = (11, 13)
ACCOUNT_MAX_LENGTH = 20
NATIONAL_ID_MAX_LENGTH = 40
# The longest word of a name search must have this many letters: fewer would match a large part
# of a national customer base and cannot use a trigram index. Chinese, Japanese and Korean names
# are two or three characters long, so two are enough there.
MIN_NAME_LETTERS = 3
MIN_CJK_NAME_LETTERS = 2
# A cashier types a name, a number or a phone; nothing longer than this is any of them.
MAX_SEARCH_TEXT = 150
# Digits and what people write between them: a meter, account, phone or id number.
_NUMBER = re.compile(r"^\+?[\d\s().\-/]+$")
NO_PHONE = PhoneQuery(None, None)

M = TypeVar("M", bound=Model)


class SearchKind(StrEnum):
    METER = "meter"
    ACCOUNT = "account"
    PHONE = "phone"
    NATIONAL_ID = "national_id"
    NAME = "name"


@dataclass(frozen=True, slots=True)
class CustomerSearch:
    """A typed text read as the kinds of identifier it can be, with each kind's value."""

    kinds: tuple[SearchKind, ...]
    meter: str = ""
    account: str = ""
    phone: PhoneQuery = NO_PHONE
    national_ids: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    # A name too short to search by (the screen asks for more letters).
    too_short: bool = False

    @property
    def is_empty(self) -> bool:
        return not self.kinds and not self.too_short


def ascii_digits(text: str) -> str:
    # Arabic-Indic and other digits typed on a local keyboard are the same number.
    return "".join(str(unicodedata.digit(ch)) if ch.isdigit() else ch for ch in text)


def _is_identifier(text: str) -> bool:
    """Letters and digits (and dashes) with at least one digit: an account number or an id."""
    return (
        text.isascii()
        and any(ch.isdigit() for ch in text)
        and text.replace("-", "").isalnum()
        and not text.startswith("-")
    )


def _identifier(typed: str, account: str) -> CustomerSearch:
    kinds = [SearchKind.ACCOUNT] if len(account) <= ACCOUNT_MAX_LENGTH else []
    ids: tuple[str, ...] = ()
    if len(typed) <= NATIONAL_ID_MAX_LENGTH:
        kinds.append(SearchKind.NATIONAL_ID)
        # National ids are stored as typed; the usual spellings are tried, each an equality.
        ids = tuple(dict.fromkeys((typed, typed.upper(), account, account.upper())))
    return CustomerSearch(kinds=tuple(kinds), account=account.upper(), national_ids=ids)


def _number(typed: str, plain: str, *, region: str, meter_too: bool = True) -> CustomerSearch:
    digits = "".join(ch for ch in plain if ch.isdigit())
    if not digits:
        return CustomerSearch(kinds=(), too_short=True)
    international = plain.startswith("+")
    if meter_too and not international and len(digits) in METER_LENGTHS:
        # A meter's length is also that of an account number or a local mobile number in many
        # countries (China, Nigeria, Egypt: 11 digits): each is looked up on its own index.
        other = _number(typed, plain, region=region, meter_too=False)
        return CustomerSearch(
            kinds=(SearchKind.METER, *other.kinds),
            meter=digits,
            account=other.account,
            phone=other.phone,
            national_ids=other.national_ids,
        )
    phone = phone_query(plain, region=region)
    has_phone = phone.number is not None or phone.tail is not None
    if international:
        return CustomerSearch(kinds=(SearchKind.PHONE,) if has_phone else (), phone=phone)
    found = _identifier(typed, digits)
    if not has_phone:
        return found
    return CustomerSearch(
        kinds=(*found.kinds, SearchKind.PHONE),
        account=found.account,
        phone=phone,
        national_ids=found.national_ids,
    )


def classify(text: str, *, region: str) -> CustomerSearch:
    """What ``text`` can be, for a utility in ``region`` (ISO 3166 alpha-2, for phones)."""
    typed = " ".join(text.split())[:MAX_SEARCH_TEXT]
    if not typed:
        return CustomerSearch(kinds=())
    plain = ascii_digits(typed)
    if _NUMBER.match(plain):
        return _number(typed, plain, region=region)
    account = plain.replace(" ", "")
    if " " not in plain and _is_identifier(account):
        # Letters with digits: an account number ("KSM-00123") or a national id.
        return _identifier(typed, account)
    words = tuple(normalise_name(typed).split())
    needed = MIN_CJK_NAME_LETTERS if has_cjk(typed) else MIN_NAME_LETTERS
    is_name = bool(words) and max(len(word) for word in words) >= needed
    # Letters, digits and spaces ("QQ 12 34 56 C") may be a national id written as stored.
    is_id = any(ch.isdigit() for ch in plain) and len(typed) <= NATIONAL_ID_MAX_LENGTH
    if not is_name and not is_id:
        return CustomerSearch(kinds=(), too_short=True)
    return CustomerSearch(
        kinds=((SearchKind.NATIONAL_ID,) if is_id else ())
        + ((SearchKind.NAME,) if is_name else ()),
        national_ids=(typed,) if is_id else (),
        words=words if is_name else (),
    )


# An identifier (meter, account prefix, national id, phone) names a handful of customers: each is
# looked up on its own index first and the page filtered by the ids found. Joined into the page's
# query instead, an OR of them beside the subtree and an ORDER BY ... LIMIT lets the planner walk
# the whole ordering index (~400 ms at 200,000 customers). An identifier that names more than
# this many customers nationally (a short account prefix) stays a condition of the query, which
# is slower but never loses a customer of the searcher's units behind the cap.
IDENTIFIER_CAP = 1000


def _identifier_arms(search: CustomerSearch) -> list[Q]:
    """The identifier conditions on customers themselves (no path prefix)."""
    arms: list[Q] = []
    for kind in search.kinds:
        if kind is SearchKind.METER:
            # A subquery rather than a join, so a customer with several meters appears once.
            owners = Meter.objects.filter(number=search.meter).values("customer_id")
            arms.append(Q(pk__in=owners))
        elif kind is SearchKind.ACCOUNT:
            arms.append(Q(account_number__startswith=search.account))
        elif kind is SearchKind.NATIONAL_ID:
            # Stored as typed, compared without case (an index on its upper case serves it).
            spellings = dict.fromkeys(value.upper() for value in search.national_ids)
            condition = Q()
            for spelling in spellings:
                condition |= Q(national_id__iexact=spelling)
            arms.append(condition)
        elif kind is SearchKind.PHONE:
            # Phones are stored in E.164 (gridvend.kernel.phones): a whole number is an equality
            # (its b-tree index); digits that may be the end of one ("the last six") are a
            # suffix, served by a trigram index.
            if search.phone.number:
                arms.append(Q(phone=search.phone.number))
            if search.phone.tail and not search.phone.is_valid:
                arms.append(Q(phone__endswith=search.phone.tail))
    return arms


def _prefixed(condition: Q, prefix: str) -> Q:
    """``condition`` on customers, moved to the path ``prefix`` (e.g. ``"customer__"``)."""
    if not prefix:
        return condition
    moved = Q(_connector=condition.connector, _negated=condition.negated)
    for child in condition.children:
        if isinstance(child, Q):
            moved.children.append(_prefixed(child, prefix))
        else:
            key, value = cast(tuple[str, Any], child)
            moved.children.append((f"{prefix}{key}", value))
    return moved


def customer_condition(search: CustomerSearch, *, prefix: str = "") -> Q | None:
    """The condition on customers (``prefix`` is the path to them, e.g. ``"customer__"``), or
    None when nothing can match (an empty or too short text).

    Identifier kinds are looked up here, each on its own index (see ``IDENTIFIER_CAP``): the
    condition then names the customers found by id."""
    from gridvend.customers.models import Customer

    arms: list[Q] = []
    found: list[int] = []
    for arm in _identifier_arms(search):
        ids = list(Customer.objects.filter(arm).values_list("pk", flat=True)[: IDENTIFIER_CAP + 1])
        if len(ids) > IDENTIFIER_CAP:
            arms.append(_prefixed(arm, prefix))
        else:
            found.extend(ids)
    if found or (search.kinds and not arms and SearchKind.NAME not in search.kinds):
        arms.append(Q(**{f"{prefix}pk__in": sorted(set(found))}))
    if SearchKind.NAME in search.kinds:
        # Every word, in any order; the stored column is already normalised, so a
        # case-sensitive LIKE is both correct and served by the trigram index.
        name = Q()
        for word in search.words:
            name &= Q(**{f"{prefix}name_search__contains": word})
        arms.append(name)
    if not arms:
        return None
    condition = arms[0]
    for other in arms[1:]:
        condition |= other
    return condition


def read_search(text: str) -> CustomerSearch:
    """What a search box's text means for this utility (its country reads phone numbers)."""
    return classify(text, region=settings.DEFAULT_COUNTRY)


def matching(queryset: QuerySet[M], search: CustomerSearch, *, prefix: str = "") -> QuerySet[M]:
    """``queryset`` narrowed to the customers ``search`` finds (none for a too short name)."""
    condition = customer_condition(search, prefix=prefix)
    return queryset.none() if condition is None else queryset.filter(condition)
