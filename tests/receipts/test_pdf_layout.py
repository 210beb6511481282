"""Every PDF the product makes (the A4 receipt and the Z report), in English, Arabic and Chinese,
read back the way a person reads it: pictures of the pages are kept under
test-output/screenshots/pdf/ to look at, and the words and where they sit are checked against
what the template meant. Nothing runs off the page, no two words overlap (a Z report label once
ran into its amount), labels read in their language's order, tokens and numbers read left to
right in their groups, and no bracket comes out mirrored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.test import override_settings
from django.utils import translation
from django.utils.translation import gettext

from gridvend.customers import services as customers
from gridvend.reports import shifts as shift_reports
from gridvend.vending import shifts
from gridvend.vending.models import Sale, Shift
from gridvend.web.receipts import pdf
from gridvend.web.receipts.render import build_receipt, build_shift_report
from tests.receipts import pdftools
from tests.receipts.helpers import sell
from tests.world import World

pytestmark = [
    pytest.mark.django_db,
    pdftools.needs_poppler,
    pytest.mark.usefixtures("utility_details"),
]

LANGUAGES = ["en", "ar", "zh-hans"]
MM = 72 / 25.4
LONG_NAME = (
    "Wanjiku Nyambura Kamau-Odhiambo Chepkoech Achieng Atieno Wairimu Muthoni "
    "Njeri Akinyi Adhiambo Chebet"
)
LONG_ADDRESS = (
    "Plot 1143/27, Upper Milimani Estate, behind the Kitale Agricultural Showground, "
    "off Kitale-Eldoret Road, Trans-Nzoia County, P.O. Box 2201-30200 Kitale"
)
ARABIC_NAME = "عبد الرحمن بن محمد الحسن"
MIRRORED = re.compile(r"\)[^()\s]*\(")


@pytest.fixture
def utility_details() -> Iterator[None]:
    with override_settings(TAX_REGISTRATION_NUMBER="P051234567X", HELPLINE="+254 20 320 1000"):
        yield


@dataclass
class Scene:
    sale: Sale
    shift: Shift


@pytest.fixture
def scene(world: World) -> Scene:
    """A sale to a customer with a very long name and address, who owes an old bill, and the
    closed shift it was sold in (two tender types, counted, with an over/short). The utility
    prints its tax number and helpline."""
    meter = world.add_meter(name=LONG_NAME, address=LONG_ADDRESS)
    customers.open_debt(
        actor=world.supervisor,
        customer=world.customer(meter),
        amount=world.money("600.00"),
        reason="old bill",
    )
    sale = sell(world, meter, "1000.00")
    sell(world, world.add_meter(name=ARABIC_NAME), "350.00", method="mobile_money")
    shift = shifts.current_shift(world.cashier)
    assert shift is not None
    shifts.close_shift(
        actor=world.cashier,
        shift=shift,
        counted={"cash": world.money("1990.00"), "mobile_money": world.money("350.00")},
    )
    shift.refresh_from_db()
    sale.refresh_from_db()
    return Scene(sale, shift)


def _receipt(scene: Scene, language: str) -> bytes:
    with translation.override(language):
        return pdf.receipt_pdf(build_receipt(scene.sale))


def _z_report(scene: Scene, world: World, language: str) -> bytes:
    with translation.override(language):
        return pdf.shift_report_pdf(
            build_shift_report(shift_reports.z_report(world.supervisor, scene.shift))
        )


def _render(kind: str, scene: Scene, world: World, language: str) -> bytes:
    return _receipt(scene, language) if kind == "receipt" else _z_report(scene, world, language)


def _check_page_sense(body: bytes) -> pdftools.Layout:
    """What holds for every page of every PDF: words inside the margins, none overlapping, no
    mirrored brackets."""
    found = pdftools.layout(body)
    assert found.words
    for word in found.words:
        width, height = found.sizes[word.page]
        assert word.x0 >= 5 * MM and word.x1 <= width - 5 * MM, f"{word} runs off the page"
        assert word.y0 >= 0 and word.y1 <= height, word
        assert not MIRRORED.search(word.text), f"mirrored brackets in {word.text!r}"
    by_page: dict[int, list[pdftools.Word]] = {}
    for word in found.words:
        by_page.setdefault(word.page, []).append(word)
    for words in by_page.values():
        for i, one in enumerate(words):
            for other in words[i + 1 :]:
                assert not one.overlaps(other), f"{one} overlaps {other}"
    return found


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ["receipt", "z-report"])
def test_every_pdf_is_pictured_and_reads_as_meant(
    scene: Scene, world: World, kind: str, language: str
) -> None:
    body = _render(kind, scene, world, language)
    pages = pdftools.png(body, pdftools.SCREENSHOTS / f"{kind}-{language}")
    assert pages and all(p.stat().st_size > 5000 for p in pages)
    _check_page_sense(body)
    text = pdftools.text(body)
    assert scene.sale.reference in text
    if kind == "z-report":
        assert "KES 1,990.00" in text  # the count


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_long_name_and_address_wrap_inside_the_receipt(scene: Scene, language: str) -> None:
    found = pdftools.layout(_receipt(scene, language))
    for phrase in (LONG_NAME, LONG_ADDRESS):
        words = [w for w in phrase.split() if len(w) > 3]
        boxes = [next(b for b in found.words if b.text == w) for w in words]
        lines = {round(b.y0) for b in boxes}
        assert len(lines) >= 2, f"{phrase[:20]}... did not wrap"


@pytest.mark.parametrize("language", LANGUAGES)
def test_token_groups_and_numbers_read_left_to_right(scene: Scene, language: str) -> None:
    found = pdftools.layout(_receipt(scene, language))
    for token in scene.sale.tokens.order_by("sequence"):
        groups = pdftools.find_words(found, token.grouped)
        xs = [g.x0 for g in groups]
        assert xs == sorted(xs), f"{token.grouped} is not in order left to right"
        meta = f"{token.units} kWh · TID {token.tid}"
        parts = pdftools.find_words(found, meta)
        assert [p.x0 for p in parts] == sorted(p.x0 for p in parts), meta


def test_arabic_labels_read_right_to_left_before_their_values(scene: Scene) -> None:
    found = pdftools.layout(_receipt(scene, "ar"))
    with translation.override("ar"):
        labels = {
            gettext("Meter number"): scene.sale.meter.number,
            gettext("Receipt number"): scene.sale.reference,
            gettext("Amount tendered"): "KES",
        }
    for label, value in labels.items():
        assert " " in label  # a label of several words, whose order is what is checked
        words = pdftools.find_words(found, label)
        xs = [w.x0 for w in words]
        assert xs == sorted(xs, reverse=True), f"{label} is not read right to left"
        shown = next(w for w in found.words if w.text == value and w.same_line(words[0]))
        assert shown.x1 < min(w.x0 for w in words), f"{label}: the value is not after it"


def test_arabic_z_report_keeps_tender_labels_apart_from_their_amounts(
    scene: Scene, world: World
) -> None:
    found = pdftools.layout(_z_report(scene, world, "ar"))
    with translation.override("ar"):
        cash = gettext("Cash")
    # The tender table's cash line: the one with the count on it.
    counted = next(w for w in found.words if w.text == "1,990.00")
    label = next(
        w
        for w in found.words
        if pdftools.letters(w.text) == pdftools.letters(cash) and w.same_line(counted)
    )
    amounts = [w for w in found.words if w.same_line(label) and re.fullmatch(r"[-\d,.]+", w.text)]
    assert len(amounts) == 4  # takings, expected, counted, over/short
    assert all(a.x1 < label.x0 for a in amounts)  # right to left: the figures follow the label
