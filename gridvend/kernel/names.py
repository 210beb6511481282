"""People's names folded into one spelling for search, so that what a cashier types matches what
a clerk stored whatever the accents, the case, the Arabic letter forms or the spacing.

``normalise_name`` is applied to the stored name (kept beside it) and to the typed text alike:
casefolded, compatibility forms unified (full-width Latin becomes ASCII), combining marks
removed (Latin accents, Arabic harakat and the hamza written on alef), Arabic tatweel removed,
alef forms, taa marbuta/haa and alef maqsura/yaa unified, whitespace collapsed. Chinese, Japanese
and Korean text is kept as it is (recomposed, so Hangul stays syllables).
"""

from __future__ import annotations

import re
import unicodedata

TATWEEL = "\u0640"
# After decomposition the hamza and madda marks are gone, but presentation forms and the wasla
# alef (which has no decomposition) remain.
_ARABIC_LETTERS = str.maketrans(
    {
        "\u0671": "\u0627",  # alef wasla -> alef
        "\u0629": "\u0647",  # taa marbuta -> haa
        "\u0649": "\u064a",  # alef maqsura -> yaa
        TATWEEL: None,
    }
)
_SPACE = re.compile(r"\s+")
# Ideographs, kana and Hangul: names written without spaces, matched by substring.
_CJK = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\U00020000-\U0002ffff]"
)


def normalise_name(text: str) -> str:
    """The search spelling of a name ("Zoë  Ångström" -> "zoe angstrom", "أحمد" -> "احمد")."""
    # Casefold first: it can itself produce combining marks ("İ" -> "i" and a dot above).
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = unicodedata.normalize("NFC", bare).casefold().translate(_ARABIC_LETTERS)
    return _SPACE.sub(" ", folded).strip()


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None
