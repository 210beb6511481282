"""Phone numbers: every way a person writes one becomes the same E.164 number; non-numbers are
refused with a reason; search texts become the number and the tail they may match."""

from __future__ import annotations

import pytest

from gridvend.kernel.inputs import InvalidInput
from gridvend.kernel.phones import (
    display_phone,
    example_phone,
    is_region,
    is_registered_phone,
    parse_phone,
    phone_query,
    stored_phone,
)

WRITTEN_WAYS = [
    "0745 275 900",
    "0745275900",
    "+254745275900",
    "+254 745 275 900",
    "254745275900",
    "(074) 527-5900",
    "0745-275-900",
    "٠٧٤٥٢٧٥٩٠٠",  # Arabic-Indic digits
]


@pytest.mark.parametrize("written", WRITTEN_WAYS)
def test_every_way_of_writing_a_kenyan_number_is_the_same_e164(written: str) -> None:
    assert parse_phone(written, region="KE") == "+254745275900"


def test_a_number_with_its_country_code_keeps_its_own_country() -> None:
    assert parse_phone("+44 20 7946 0958", region="KE") == "+442079460958"
    assert parse_phone("0803 123 4567", region="NG") == "+2348031234567"


def test_an_empty_phone_stays_empty() -> None:
    assert parse_phone("  ", region="KE") == ""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0700", "phone_too_short"),
        ("0745 275 900 123 456", "phone_too_long"),
        ("Amina", "not_a_phone"),
        ("0745 CALL ME", "not_a_phone"),
        ("0745 275 900 ext 12", "not_a_phone"),
        ("+999 745 275 900", "not_a_phone"),
        ("+", "not_a_phone"),
        ("+2547" + "0" * 28, "too_long"),
        ("+254\x07700000009", "control_character"),
        ("+254\u202e700000009", "bidi_control"),
        (12.5, "not_text"),
    ],
)
def test_what_is_not_a_possible_number_is_refused_with_a_reason(raw: object, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_phone(raw, region="KE", field="phone")
    assert refused.value.reason == reason
    assert refused.value.params["field"] == "phone"


def test_a_refusal_names_the_region_its_message_gives_an_example_of() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_phone("0700", region="KE")
    assert refused.value.params["region"] == "KE"
    assert example_phone("KE") == "0712 123456"


def test_stored_values_that_do_not_parse_are_left_for_a_person() -> None:
    assert stored_phone("0745 275 900", region="KE") == "+254745275900"
    assert stored_phone("", region="KE") == ""
    assert stored_phone("call the shop", region="KE") is None
    assert stored_phone("0700", region="KE") is None


def test_display_is_national_at_home_and_international_abroad() -> None:
    assert display_phone("+254745275900", region="KE") == "0745 275900"
    assert display_phone("+442079460958", region="KE") == "+44 20 7946 0958"
    assert display_phone("+254745275900", region="UG") == "+254 745 275900"
    assert display_phone("call the shop", region="KE") == "call the shop"
    assert display_phone("", region="KE") == ""


def test_a_search_text_gives_the_number_and_the_tail_it_may_match() -> None:
    local = phone_query("0745 275 900", region="KE")
    assert local.number == "+254745275900"
    assert phone_query("275900", region="KE").tail == "275900"
    assert phone_query("275900", region="KE").number is None
    assert phone_query("27590", region="KE").tail is None
    assert phone_query("Amina", region="KE") == phone_query("", region="KE")
    assert phone_query("Amina", region="KE").number is None
    assert phone_query("x" * 1000, region="KE").tail is None


def test_regions_are_iso_3166_codes_with_phone_metadata() -> None:
    assert is_region("KE") and is_region("NG")
    assert not is_region("ke") and not is_region("XX") and not is_region("001")


def test_a_registered_number_matches_however_it_was_stored_and_nothing_else_does() -> None:
    assert is_registered_phone("0745 275 900", "+254745275900", region="KE")
    assert is_registered_phone("+254745275900", "+254745275900", region="KE")
    assert not is_registered_phone("0745 275 901", "+254745275900", region="KE")
    # An empty or unreadable stored number matches nobody, not even an empty sender.
    assert not is_registered_phone("", "", region="KE")
    assert not is_registered_phone("call me", "+254745275900", region="KE")
