"""Charts are self-contained SVG: no script, no external address, labels as escaped text."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from decimal import Decimal

import pytest

from gridvend.reports import charts
from gridvend.reports.base import ChartKind, ChartSpec

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = ["<script>x()</script>", '"><img onerror=x>', "a' onload='x"]
DRAWERS: list[Callable[..., str]] = [charts.bar_chart, charts.line_chart, charts.pie_or_share_chart]


def _tree(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _texts(root: ET.Element) -> list[str]:
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("draw", DRAWERS, ids=lambda d: d.__name__)
def test_a_chart_has_no_script_and_no_external_reference(draw: Callable[..., str]) -> None:
    svg = draw("Sales", ["Kasarani", "Ruaka"], [("This month", [10, 20])])
    root = _tree(svg)
    assert root.tag == f"{SVG}svg"
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    for element in root.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), name
            if name.endswith("href") or name == "src":
                assert value.startswith("#"), value
        # Inline CSS may not import or point anywhere either.
        if element.tag == f"{SVG}style":
            assert "@import" not in (element.text or "")
            # Only the fonts its labels need, inline (see test_screen_charts_carry_their_fonts).
            assert not re.search(r"url\((?!#|data:font/woff2;base64,)", element.text or "")
    assert "://" not in re.sub(r'xmlns(:\w+)?="[^"]*"', "", svg)


@pytest.mark.parametrize("draw", DRAWERS, ids=lambda d: d.__name__)
def test_hostile_labels_are_escaped_text(draw: Callable[..., str]) -> None:
    svg = draw(HOSTILE[0], HOSTILE, [(HOSTILE[1], [1, 2, 3])])
    root = _tree(svg)
    assert "<script" not in svg and "<img" not in svg
    assert not [e for e in root.iter() if e.tag.endswith(("script", "img"))]
    assert not [n for e in root.iter() for n in e.attrib if n.lower().startswith("on")]
    texts = _texts(root)
    assert HOSTILE[0] in texts  # the title, drawn as the text it is
    assert any(HOSTILE[2] in text for text in texts)


def test_bar_heights_are_proportional_to_the_values() -> None:
    root = _tree(charts.bar_chart("t", ["a", "b", "c"], [("s", [10, 20, Decimal("35")])]))
    bars = [
        float(rect.attrib["height"])
        for group in root.iter(f"{SVG}g")
        if group.get("class") == "bar"
        for rect in group.iter(f"{SVG}rect")
    ]
    assert len(bars) == 3
    assert bars[1] / bars[0] == pytest.approx(2.0)
    assert bars[2] / bars[0] == pytest.approx(3.5)


def test_arabic_and_chinese_labels_are_kept_as_text_in_the_shipped_fonts() -> None:
    labels = ["مكتب شبرا", "海淀营业厅"]
    svg = charts.line_chart("المبيعات", labels, [("本月", [3, 4])])
    texts = _texts(_tree(svg))
    assert "المبيعات" in texts and "海淀营业厅" in texts and "مكتب شبرا" in texts
    assert 'font-family:"GV Sans","GV CJK"' in svg


def test_the_pdf_copy_has_arabic_joined_in_visual_order_and_chinese_as_is() -> None:
    spec = ChartSpec(ChartKind.BAR, "المبيعات", ["مكتب شبرا", "海淀营业厅"], [("s", [1, 2])])
    texts = _texts(_tree(charts.chart_svg_for_pdf(spec)))
    # المبيعات in presentation forms (final alef-tah... initial alef), right to left as drawn.
    assert "\ufe95\ufe8e\ufecc\ufef4\ufe92\ufee4\ufedf\ufe8d" in texts
    assert "المبيعات" not in texts
    assert "海淀营业厅" in texts


def test_a_share_chart_draws_one_slice_per_label() -> None:
    root = _tree(
        charts.pie_or_share_chart("Channels", ["Cash", "Mobile", "Bank"], [("n", [5, 3, 2])])
    )
    slices = [g for g in root.iter(f"{SVG}g") if (g.get("class") or "").startswith("slices")]
    assert len(slices) == 3


@pytest.mark.parametrize("kind", list(ChartKind))
def test_every_kind_of_spec_is_drawn(kind: ChartKind) -> None:
    spec = ChartSpec(kind, "t", ["a", "b"], [("s", [1, 2])])
    assert _tree(charts.chart_svg(spec)).tag == f"{SVG}svg"


def test_screen_charts_carry_their_fonts_inline_and_the_pdf_copy_none() -> None:
    spec = ChartSpec(ChartKind.BAR, "المبيعات", ["مكتب شبرا", "海淀营业厅"], [("s", [1, 2])])
    screen = charts.chart_svg(spec)
    faces = re.findall(r'font-family: "([^"]+)"; src: url\(data:font/woff2;base64,', screen)
    assert faces == ["GV Sans", "GV CJK"]
    assert "@font-face" not in charts.chart_svg_for_pdf(spec)
    # A chart in Latin letters only needs no font of its own.
    assert "@font-face" not in charts.bar_chart("Sales", ["Kasarani"], [("s", [1])])


@pytest.mark.parametrize(
    "spec",
    [
        ChartSpec(ChartKind.BAR, "Top points", [], []),
        ChartSpec(ChartKind.BAR, "Top points", ["Kasarani"], [("Today", [0])]),
        ChartSpec(ChartKind.LINE, "Trend", ["1", "2"], [("Tender", [0, Decimal(0)])]),
        ChartSpec(ChartKind.SHARE, "Channels", ["Cash"], []),
    ],
    ids=["no-labels", "all-zero-bar", "all-zero-line", "no-series"],
)
def test_a_chart_with_nothing_to_draw_is_its_title_and_a_sentence(spec: ChartSpec) -> None:
    assert not charts.has_data(spec)
    root = _tree(charts.chart_svg(spec))
    assert _texts(root) == [spec.title, "Nothing to chart."]
    # No axes, no plot: just the white card and the two lines.
    assert [child.tag for child in root] == [f"{SVG}rect", f"{SVG}text", f"{SVG}text"]
    assert int(root.get("height") or 0) == charts.EMPTY_HEIGHT


def test_an_empty_chart_in_arabic_carries_its_font_on_screen_and_is_shaped_in_the_pdf() -> None:
    spec = ChartSpec(ChartKind.BAR, "أعلى نقاط البيع", [], [])
    assert "@font-face" in charts.chart_svg(spec)
    [title, _sentence] = _texts(_tree(charts.chart_svg_for_pdf(spec)))
    # Pre-shaped for WeasyPrint: presentation forms (U+FE70-FEFF), not the plain letters.
    assert any("\ufe70" <= ch <= "\ufeff" for ch in title)


def test_one_figure_other_than_zero_is_drawn_as_a_chart() -> None:
    spec = ChartSpec(ChartKind.BAR, "Top points", ["A", "B"], [("Today", [0, 5])])
    assert charts.has_data(spec)
    assert any(el.tag == f"{SVG}g" for el in _tree(charts.chart_svg(spec)).iter())
