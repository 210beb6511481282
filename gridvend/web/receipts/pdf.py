"""A4 PDFs of a receipt and of a shift's Z report: the same HTML templates and stylesheet as the
screens, laid out by WeasyPrint, whose text goes through Pango and HarfBuzz (Arabic joined and
in right-to-left order, numbers and tokens kept left to right by the templates' isolates).

Nothing is fetched from the network or the server's disk outside the package: the fetcher below
serves the package's own static files (the stylesheet, the shipped fonts) and inline ``data:``
images (the QR code), and refuses every other address.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from django.template.loader import render_to_string
from weasyprint import CSS, HTML, URLFetcher
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcherResponse

from gridvend.web.receipts import fonts
from gridvend.web.receipts.render import ReceiptData, ShiftReportData

STATIC_DIR = (Path(__file__).resolve().parent.parent / "static").resolve()
STYLESHEET = STATIC_DIR / "gridvend" / "receipts.css"

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


# WeasyPrint does not apply ``unicode-bidi: isolate`` (nor <bdi>'s default style) yet; the
# same isolation is written into the text with the Unicode isolate controls, which Pango's bidi
# algorithm honours: LRI, RLI or FSI before a <bdi>'s content and PDI after it. Only the
# templates write <bdi>: record values are escaped, and bidi controls are refused at the edge.
_ISOLATE_OPEN = {"ltr": "\u2066", "rtl": "\u2067"}
_FSI, _PDI = "\u2068", "\u2069"
_BDI_OPEN = re.compile(r"<bdi(\s[^>]*)?>")
_BDI_DIR = re.compile(r"""\bdir=["']?(ltr|rtl)""")


def _isolate(match: re.Match[str]) -> str:
    direction = _BDI_DIR.search(match.group(1) or "")
    return match.group(0) + (_ISOLATE_OPEN[direction.group(1)] if direction else _FSI)


def isolate_bdi(html: str) -> str:
    """Every <bdi> of ``html`` with its content wrapped in Unicode isolate controls."""
    return _BDI_OPEN.sub(_isolate, html).replace("</bdi>", _PDI + "</bdi>")


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    """``template`` rendered with ``pdf`` set (no screen toolbar, links or external
    stylesheet) and laid out as a PDF in the active language."""
    html = isolate_bdi(render_to_string(template, {**context, "pdf": True}))
    fetcher = PackageFilesOnly()
    # @font-face rules only take effect through a font configuration shared with the layout.
    font_config = FontConfiguration()
    stylesheets = [
        CSS(filename=str(STYLESHEET), url_fetcher=fetcher, font_config=font_config),
        CSS(string=fonts.font_face_css(), url_fetcher=fetcher, font_config=font_config),
    ]
    document = HTML(string=html, base_url=STATIC_DIR.as_uri() + "/", url_fetcher=fetcher)
    body: bytes = document.write_pdf(
        stylesheets=stylesheets, font_config=font_config, **PDF_OPTIONS
    )
    return body


def receipt_pdf(data: ReceiptData) -> bytes:
    """The receipt on an A4 page (more if a sale has many tokens)."""
    return render_pdf("receipts/a4.html", {"r": data})


def shift_report_pdf(data: ShiftReportData) -> bytes:
    """The Z report on landscape A4 pages, from the printable report's own template."""
    return render_pdf("receipts/shift_report.html", {"z": data})
