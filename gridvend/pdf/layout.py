"""WeasyPrint confined to the package: HTML laid out as PDF with the shipped fonts, Pango and
HarfBuzz shaping every script (Arabic joined and in right-to-left order, numbers and tokens kept
left to right by <bdi> isolates).

Nothing is fetched from the network or the server's disk outside the package: the fetcher below
serves the package's own static files (stylesheets, the shipped fonts) and inline ``data:``
images (a QR code, a chart), and refuses every other address.
"""

from __future__ import annotations

import html
import logging
import mimetypes
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from weasyprint import CSS, HTML, URLFetcher
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcherResponse

from gridvend.pdf import fonts

STATIC_DIR = (Path(__file__).resolve().parent.parent / "web" / "static").resolve()

# Passed to every write_pdf; tests may switch compression off to read the content streams.
PDF_OPTIONS: dict[str, Any] = {}

logger = logging.getLogger(__name__)


class RefusedAddress(ValueError):
    """A PDF asked for something other than a package file or inline data."""


class PackageFilesOnly(URLFetcher):
    """WeasyPrint's fetcher, limited to ``data:`` URLs and files under the package's static
    folder: a name or address typed into a record can never make the server fetch anything."""

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            response: URLFetcherResponse = super().fetch(url, headers)
            return response
        if scheme == "file" and not parts.netloc:
            path = Path(url2pathname(unquote(parts.path))).resolve()
            if path.is_relative_to(STATIC_DIR) and path.is_file():
                mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(
                    path.as_uri(), body=path.read_bytes(), headers={"Content-Type": mime}
                )
        logger.warning("PDF rendering refused to fetch %s", url[:200])
        raise RefusedAddress(f"only package files are fetched, not {url[:200]}")


# WeasyPrint does not apply ``unicode-bidi: isolate`` (nor <bdi>'s default style) yet, and it
# runs the bidi algorithm again on each line it breaks. Each <bdi> therefore gets both:
# - the Unicode isolate controls around its content (LRI or RLI ... PDI), which Pango's bidi
#   algorithm honours within a line;
# - an explicit direction and the class "isolate" (an inline block in the PDF stylesheet), so
#   that a value that wraps, such as a Latin address on an Arabic receipt, keeps its own order
#   on every line.
# A <bdi> without dir takes the direction of its first strong character, as a browser would.
# Only the templates write <bdi>: record values are escaped, and bidi controls are refused at
# the edge.
_ISOLATE_OPEN = {"ltr": "\u2066", "rtl": "\u2067"}
_PDI = "\u2069"
_BDI = re.compile(r"<bdi(\s[^>]*)?>((?:(?!<bdi[\s>]).)*?)</bdi>", re.S)
_BDI_DIR = re.compile(r"""\sdir=(["']?)(ltr|rtl)\1""")
_BDI_CLASS = re.compile(r"""\sclass=["']([^"']*)["']""")
_TAG = re.compile(r"<[^>]*>")


def _first_strong(content: str) -> str | None:
    for char in html.unescape(_TAG.sub("", content)):
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    return None


def _isolate(match: re.Match[str]) -> str:
    attrs, content = match.group(1) or "", match.group(2)
    given = _BDI_DIR.search(attrs)
    # Digits and punctuation alone read left to right (as dir=auto does in a browser).
    direction = given.group(2) if given else (_first_strong(content) or "ltr")
    attrs = _BDI_DIR.sub("", attrs)
    classes = _BDI_CLASS.search(attrs)
    attrs = _BDI_CLASS.sub("", attrs)
    names = f"{classes.group(1)} isolate" if classes else "isolate"
    # Renamed until every <bdi> is done, so that an enclosing one matches on the next pass.
    return (
        f'<gv-bdi dir="{direction}" class="{names}"{attrs}>'
        f"{_ISOLATE_OPEN[direction]}{content}{_PDI}</gv-bdi>"
    )


def isolate_bdi(page: str) -> str:
    """Every <bdi> of ``page`` isolated in a way WeasyPrint lays out (see above), innermost
    first."""
    while True:
        done = _BDI.sub(_isolate, page)
        if done == page:
            return done.replace("<gv-bdi ", "<bdi ").replace("</gv-bdi>", "</bdi>")
        page = done


# The isolates' own lines are aligned as the page is, like a <bdi> in a browser.
ISOLATE_CSS = """
.isolate { display: inline-block; }
html[dir="rtl"] .isolate { text-align: right; }
html[dir="ltr"] .isolate { text-align: left; }
"""


def write_pdf(page: str, *, stylesheets: Sequence[Path | str] = ()) -> bytes:
    """``page`` (HTML) laid out as a PDF: its <bdi> isolated, the shipped fonts declared, then
    each stylesheet, a file under :data:`STATIC_DIR` (a ``Path``) or CSS text (a ``str``)."""
    fetcher = PackageFilesOnly()
    # @font-face rules only take effect through a font configuration shared with the layout.
    font_config = FontConfiguration()
    sheets = []
    for sheet in stylesheets:
        if isinstance(sheet, Path):
            sheets.append(CSS(filename=str(sheet), url_fetcher=fetcher, font_config=font_config))
        else:
            sheets.append(CSS(string=sheet, url_fetcher=fetcher, font_config=font_config))
    sheets += [
        CSS(string=fonts.font_face_css(), url_fetcher=fetcher, font_config=font_config),
        CSS(string=ISOLATE_CSS, url_fetcher=fetcher, font_config=font_config),
    ]
    document = HTML(
        string=isolate_bdi(page), base_url=STATIC_DIR.as_uri() + "/", url_fetcher=fetcher
    )
    body: bytes = document.write_pdf(stylesheets=sheets, font_config=font_config, **PDF_OPTIONS)
    return body
