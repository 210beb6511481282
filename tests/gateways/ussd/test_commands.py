"""The SMS command reader and the USSD screen limit, without a database."""

from __future__ import annotations

import pytest

from gridvend.phone import sms, ussd
from gridvend.phone.models import SmsCommand


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BUY 04229889888 500", sms.Command("BUY", meter="04229889888", amount="500")),
        ("  buy   0422 9889 888\t500 ", sms.Command("BUY", meter="04229889888", amount="500")),
        ("Token 04229889888", sms.Command("TOKEN", meter="04229889888")),
        ("bal 0422-9889-888", sms.Command("BAL", meter="04229889888")),
        ("help", sms.Command("HELP")),
        ("lang zh", sms.Command("LANG", language="zh-hans")),
        ("LANG Ar", sms.Command("LANG", language="ar")),
        ("BUY 04229889888", sms.Command("")),
        ("BUY 04229889888 5O0", sms.Command("")),
        ("BUY 04229889888 500.50", sms.Command("")),
        ("TOKEN abc", sms.Command("")),
        ("LANG fr", sms.Command("")),
        ("", sms.Command("")),
        ("hello there", sms.Command("")),
    ],
)
def test_commands_are_read_in_any_case_and_spacing(text: str, expected: sms.Command) -> None:
    assert sms.parse(text) == expected


def test_the_command_choices_cover_every_keyword() -> None:
    assert {c.value for c in SmsCommand} == {"BUY", "TOKEN", "BAL", "HELP", "LANG", ""}


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("x" * 182, True),
        ("x" * 183, False),
        ("ع" * 80, True),
        ("ع" * 81, False),
        ("中" * 80, True),
        ("x" * 79 + "中", True),
        ("x" * 80 + "中", False),
    ],
)
def test_a_screen_fits_182_gsm_characters_or_80_ucs2(text: str, fits: bool) -> None:
    assert ussd.fits(text) is fits


@pytest.mark.parametrize(
    ("name", "masked"),
    [("John Mwangi", "J*** M***"), ("  ", "***"), ("Wanjiku N. Kamau Otieno", "W*** N*** K***")],
)
def test_a_name_is_masked_to_its_initials(name: str, masked: str) -> None:
    from gridvend.phone.common import mask_name

    assert mask_name(name) == masked
