"""Reading the PDFs back as a person and a program would: poppler-utils' pdftotext for the text
and where each word sits, pdffonts for the embedded fonts, pdftoppm for pictures of the pages.

The tests that need them are skipped, with the reason, where poppler-utils is not installed
(`apt-get install poppler-utils`); CI installs it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots" / "pdf"
TOOLS = ("pdftotext", "pdftoppm", "pdffonts")
# pdftotext marks the direction of the runs it reorders (LRE, RLE, PDF, LRM, RLM...).
_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")

needs_poppler = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in TOOLS),
    reason="needs poppler-utils (pdftotext, pdftoppm, pdffonts): apt-get install poppler-utils",
)


def _run(args: list[str], body: bytes, *, to_stdout: bool = True) -> str:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.pdf"
        source.write_bytes(body)
        tail = [str(source), "-"] if to_stdout else [str(source)]
        result = subprocess.run([*args, *tail], capture_output=True, check=True, timeout=60)
    return result.stdout.decode("utf-8")


def text(body: bytes) -> str:
    """The PDF's text in reading order, without the direction marks pdftotext adds."""
    return _MARKS.sub("", _run(["pdftotext", "-enc", "UTF-8"], body))


def fonts(body: bytes) -> list[str]:
    """Names of the fonts the PDF uses (subset prefix removed)."""
    lines = _run(["pdffonts"], body, to_stdout=False).splitlines()[2:]
    return [line.split()[0].split("+", 1)[-1] for line in lines if line.strip()]


@dataclass(frozen=True)
class Word:
    text: str
    page: int
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Word, slack: float = 0.5) -> bool:
        return (
            self.page == other.page
            and self.x0 + slack < other.x1
            and other.x0 + slack < self.x1
            and self.y0 + slack < other.y1
            and other.y0 + slack < self.y1
        )

    def same_line(self, other: Word) -> bool:
        middle = (self.y0 + self.y1) / 2
        return self.page == other.page and other.y0 <= middle <= other.y1


@dataclass(frozen=True)
class Layout:
    words: list[Word]
    sizes: list[tuple[float, float]]  # page width and height, in points


def layout(body: bytes) -> Layout:
    """Every word with its box, from ``pdftotext -bbox-layout``."""
    xhtml = _run(["pdftotext", "-enc", "UTF-8", "-bbox-layout"], body)
    root = ET.fromstring(xhtml)
    words: list[Word] = []
    sizes: list[tuple[float, float]] = []
    for number, page in enumerate(root.iter("{http://www.w3.org/1999/xhtml}page")):
        sizes.append((float(page.get("width", 0)), float(page.get("height", 0))))
        for word in page.iter("{http://www.w3.org/1999/xhtml}word"):
            clean = _MARKS.sub("", word.text or "")
            if not clean.strip():
                continue
            box = [float(word.get(k, 0)) for k in ("xMin", "yMin", "xMax", "yMax")]
            words.append(Word(clean, number, *box))
    return Layout(words, sizes)


def letters(word: str) -> str:
    """A word's letters, order aside: pdftotext writes Arabic ligatures (lam-alef) with their
    two letters swapped, so words are matched on what they contain and ordered by position."""
    return "".join(sorted(unicodedata.normalize("NFC", _MARKS.sub("", word))))


def find_words(found: Layout, phrase: str) -> list[Word]:
    """The words of ``phrase`` as laid out on one line, in the phrase's logical order."""
    wanted = [letters(w) for w in phrase.split()]
    candidates = [w for w in found.words if letters(w.text) == wanted[0]]
    for first in candidates:
        picked = [first]
        for key in wanted[1:]:
            match = next(
                (
                    w
                    for w in found.words
                    if letters(w.text) == key and w.same_line(first) and w not in picked
                ),
                None,
            )
            if match is None:
                break
            picked.append(match)
        if len(picked) == len(wanted):
            return picked
    raise AssertionError(f"{phrase!r} is not on one line of the PDF")


def png(body: bytes, stem: Path, *, dpi: int = 80) -> list[Path]:
    """Pictures of the pages as ``<stem>-<n>.png`` (kept for people to look at)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    for old in stem.parent.glob(f"{stem.name}-*.png"):
        old.unlink()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.pdf"
        source.write_bytes(body)
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", str(source), str(stem)],
            check=True,
            timeout=120,
        )
    return sorted(stem.parent.glob(f"{stem.name}-*.png"))
