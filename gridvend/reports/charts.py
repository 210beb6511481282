"""Charts of report figures as self-contained SVG, drawn on the server by pygal, so that the screen
and the PDF show the same picture and no page needs a charting script or a CDN.

Every label is plain text to the chart: pygal writes it through ElementTree, which escapes it, and
the SVG is then read back and rewritten without pygal's scripts (its tooltip loader names a remote
address, and the chart's configuration is an inline script) or comments. What remains is shapes,
text and one inline stylesheet: nothing is fetched when it is shown.

Text stays text (no glyph outlines). On a screen the chart is an ``<img>`` (:func:`data_uri`),
which may load no font, so the screen's SVG carries the shipped fonts cut down to the characters
of its labels (inline WOFF2, a few kB) whenever they are not plain ASCII: Arabic and Chinese show
on a computer without such fonts, and the browser joins the Arabic. WeasyPrint draws SVG text one
letter at a time, without shaping or the bidirectional algorithm, so the PDF's copy
(:func:`chart_svg_for_pdf`) has each right-to-left text already joined (Arabic presentation
forms, by arabic-reshaper) and in visual order (python-bidi), drawn with the fonts the PDF
declares. The axes run left to right in every language, as the figures' tables do.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from decimal import Decimal

import arabic_reshaper  # type: ignore[import-untyped]
import pygal  # type: ignore[import-untyped]
from bidi import get_display  # type: ignore[import-untyped]
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from fontTools import subset
from fontTools.ttLib import TTFont
from pygal.style import Style  # type: ignore[import-untyped]

from gridvend.pdf import fonts
from gridvend.reports.base import ChartKind, ChartSpec

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)

# The shipped fonts first (the PDF declares them), then what a browser is likely to have.
FONT_FAMILY = (
    f'"{fonts.SANS}", "{fonts.CJK}", "DejaVu Sans", "Noto Sans", "Noto Sans Arabic", '
    '"Droid Sans Fallback", "Noto Sans CJK SC", sans-serif'
)
WIDTH = 800
HEIGHT = 400
# A label longer than this is cut (with an ellipsis) so that the axis stays readable.
LABEL_CHARS = 24
# Colours that stay apart when printed in grey.
COLOURS = ("#1f5f8b", "#d9822b", "#3c8d40", "#b03a48", "#6f4e9c", "#7a7a7a", "#c2a813")

Series = Sequence[tuple[str | Promise, Sequence[int | Decimal]]]


def _style() -> Style:
    return Style(
        font_family=FONT_FAMILY,
        background="white",
        plot_background="white",
        foreground="#222",
        foreground_strong="#000",
        foreground_subtle="#666",
        colors=COLOURS,
        title_font_size=18,
        label_font_size=12,
        major_label_font_size=12,
        legend_font_size=13,
        value_font_size=12,
    )


def _grouped(value: float) -> str:
    """Axis and value labels grouped by thousands: 12,345.5."""
    return f"{value:,.10g}"


def _config() -> dict[str, object]:
    return {
        "style": _style(),
        "width": WIDTH,
        "height": HEIGHT,
        "js": [],  # the default loads tooltips from a remote address
        "disable_xml_declaration": True,
        # width and height on the <svg>: an <img> of it then has that size, not 300 x 150.
        "explicit_size": True,
        "truncate_label": LABEL_CHARS,
        "truncate_legend": LABEL_CHARS,
        "legend_at_bottom": True,
        "print_values": False,
        "show_minor_x_labels": True,
        "margin_right": 40,  # room for the last label of a line chart
        "value_formatter": _grouped,
    }


def _in_xml(ch: str) -> bool:
    """A character XML can hold: control characters, surrogates, U+FFFE and U+FFFF cannot (the
    edges refuse the first two, but take the last two, which are no controls)."""
    return ch in "\t\n" or " " <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd" or ch >= "\U00010000"


def _text(value: object) -> str:
    # A chart drops whatever XML cannot hold.
    return "".join(ch for ch in str(value) if _in_xml(ch))[:200]


def _number(value: int | Decimal) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _clean(svg: str) -> str:
    """pygal's SVG without scripts or comments (see the module's docstring)."""
    # pygal's own output, not input: labels reach it as text and come out escaped. ElementTree's
    # parser drops comments and never loads an external entity.
    root = ET.fromstring(svg)  # noqa: S314
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag in (f"{{{SVG_NS}}}script", "script"):
                parent.remove(child)
    root.set("role", "img")
    return ET.tostring(root, encoding="unicode")


@functools.lru_cache(maxsize=128)
def _font_faces(characters: str) -> str:
    """@font-face rules with the shipped fonts cut down to ``characters`` (WOFF2, inline): an SVG
    shown as an image may load no font, and a screen's computer may have no Arabic or Chinese one.
    Arabic keeps its shaping tables, so the browser still joins the letters. Cached: a dashboard
    draws the same labels again and again, and cutting Droid Sans Fallback takes a few tenths of a
    second."""
    sans = set(TTFont(fonts.FONT_DIR / fonts.REGULAR_FILE, lazy=True).getBestCmap())
    in_sans = "".join(ch for ch in characters if ord(ch) in sans)
    rest = "".join(ch for ch in characters if ord(ch) not in sans)
    rules = []
    faces = ((fonts.SANS, fonts.REGULAR_FILE, in_sans), (fonts.CJK, fonts.CJK_FILE, rest))
    for family, name, text in faces:
        if not text:
            continue
        options = subset.Options()
        options.layout_features = ["*"]
        options.flavor = "woff2"
        options.drop_tables += ["FFTM"]
        font = TTFont(fonts.FONT_DIR / name, lazy=True)
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=text)
        subsetter.subset(font)
        buffer = io.BytesIO()
        font.flavor = "woff2"
        font.save(buffer)
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        rules.append(
            f'@font-face {{ font-family: "{family}"; '
            f'src: url(data:font/woff2;base64,{encoded}) format("woff2"); }}'
        )
    return "\n".join(rules)


def _embed_fonts(svg: str) -> str:
    root = ET.fromstring(svg)  # noqa: S314 (our own SVG, as in _clean)
    drawn = "".join("".join(text.itertext()) for text in root.iter(f"{{{SVG_NS}}}text"))
    # Latin is drawn well enough by any screen's own sans-serif.
    characters = "".join(sorted({ch for ch in drawn if ord(ch) > 0x7F and not ch.isspace()}))
    if not characters:
        return svg
    style = ET.Element(f"{{{SVG_NS}}}style", {"type": "text/css"})
    style.text = _font_faces(characters)
    root.insert(0, style)
    return ET.tostring(root, encoding="unicode")


def _render(chart: pygal.graph.graph.Graph, title: str | Promise, embed_fonts: bool) -> str:
    chart.title = _text(title)
    svg = _clean(chart.render(is_unicode=True))
    return _embed_fonts(svg) if embed_fonts else svg


def bar_chart(
    title: str | Promise,
    labels: Sequence[str | Promise],
    series: Series,
    *,
    embed_fonts: bool = True,
) -> str:
    """Bars per label, one colour per series (e.g. tender per vending point, this month and
    last)."""
    chart = pygal.Bar(**_config())
    chart.x_labels = [_text(label) for label in labels]
    chart.x_label_rotation = 30 if len(labels) > 6 else 0
    for name, values in series:
        chart.add(_text(name), [_number(v) for v in values])
    return _render(chart, title, embed_fonts)


def line_chart(
    title: str | Promise,
    labels: Sequence[str | Promise],
    series: Series,
    *,
    embed_fonts: bool = True,
) -> str:
    """Lines over ordered labels (days, months), one per series."""
    # From zero, as the bars: a line of takings that starts at 5,000 overstates each change.
    chart = pygal.Line(**_config(), include_x_axis=True)
    chart.x_labels = [_text(label) for label in labels]
    chart.x_label_rotation = 30 if len(labels) > 12 else 0
    for name, values in series:
        chart.add(_text(name), [_number(v) for v in values])
    return _render(chart, title, embed_fonts)


def pie_or_share_chart(
    title: str | Promise,
    labels: Sequence[str | Promise],
    series: Series,
    *,
    embed_fonts: bool = True,
) -> str:
    """Each label's share of the whole of the first series (e.g. sales by channel)."""
    chart = pygal.Pie(**_config(), inner_radius=0.4)
    values = series[0][1] if series else []
    for label, value in zip(labels, values, strict=False):
        chart.add(_text(label), [_number(value)])
    return _render(chart, title, embed_fonts)


_DRAW = {ChartKind.BAR: bar_chart, ChartKind.LINE: line_chart, ChartKind.SHARE: pie_or_share_chart}
EMPTY_HEIGHT = 120


def has_data(spec: ChartSpec) -> bool:
    """Whether the chart has a figure to draw: some label with a value other than zero."""
    if not spec.labels:
        return False
    return any(
        (number := _number(v)) is not None and number != 0
        for _name, values in spec.series
        for v in values
    )


def empty_chart(title: str | Promise, *, embed_fonts: bool = True) -> str:
    """A chart with nothing to draw: its title and a sentence saying so, no axes (pygal would
    draw empty axes and an untranslated "No data")."""
    root = ET.Element(
        f"{{{SVG_NS}}}svg",
        {
            "width": str(WIDTH),
            "height": str(EMPTY_HEIGHT),
            "viewBox": f"0 0 {WIDTH} {EMPTY_HEIGHT}",
            "role": "img",
            "font-family": FONT_FAMILY,
        },
    )
    ET.SubElement(root, f"{{{SVG_NS}}}rect", {"width": "100%", "height": "100%", "fill": "white"})
    lines = ((_text(title), 45, "18", "#000"), (_text(_("Nothing to chart.")), 85, "14", "#666"))
    for text, y, size, colour in lines:
        element = ET.SubElement(
            root,
            f"{{{SVG_NS}}}text",
            {
                "x": str(WIDTH // 2),
                "y": str(y),
                "text-anchor": "middle",
                "font-size": size,
                "fill": colour,
            },
        )
        element.text = text
    svg = ET.tostring(root, encoding="unicode")
    return _embed_fonts(svg) if embed_fonts else svg


def chart_svg(spec: ChartSpec, *, embed_fonts: bool = True) -> str:
    """The SVG of a report's chart (for a screen: with the fonts its labels need); a chart with
    no figure to draw is its title and a sentence (:func:`empty_chart`)."""
    if not has_data(spec):
        return empty_chart(spec.title, embed_fonts=embed_fonts)
    return _DRAW[spec.kind](spec.title, spec.labels, spec.series, embed_fonts=embed_fonts)


def data_uri(svg: str) -> str:
    """``svg`` as an ``<img src>``: how a screen shows a chart. The screens' Content-Security-Policy
    allows no inline style (``style-src 'self'``) but does allow ``data:`` images, and an SVG
    shown as an image keeps its own stylesheet, runs no script and loads nothing."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


def _visual(text: str) -> str:
    return str(get_display(arabic_reshaper.reshape(text))) if _has_rtl(text) else text


def chart_svg_for_pdf(spec: ChartSpec) -> str:
    """The same chart with right-to-left text pre-shaped for WeasyPrint (see the module's
    docstring); for a PDF only, since a browser would shape it a second time."""
    # WeasyPrint draws with the fonts the PDF declares; it needs none inside the SVG.
    root = ET.fromstring(chart_svg(spec, embed_fonts=False))  # noqa: S314 (our own SVG)
    for element in root.iter():
        if element.text:
            element.text = _visual(element.text)
        if element.tail:
            element.tail = _visual(element.tail)
    return ET.tostring(root, encoding="unicode")
