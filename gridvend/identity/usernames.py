"""Usernames that cannot pass for one another: NFKC form, no hidden characters, TR39 skeletons.

The skeleton follows Unicode TR39 (section 4, "Confusable Detection"): decompose (NFD), replace
each character by its prototype from confusables.txt, decompose again; two names are confusable
when their skeletons are equal. No maintained PyPI library computes TR39 skeletons without a
compiled ICU (``confusable-homoglyphs`` only flags mixed scripts), so ``_PROTOTYPES`` holds the
confusables.txt rows (Unicode 14.0, the version of Python 3.11's ``unicodedata``) whose source is
a Latin, Greek or Cyrillic letter or a digit and whose prototype is plain ASCII: the look-alikes
that matter for names typed on the utility's keyboards. Compatibility forms (full-width,
mathematical letters, ligatures) need no row: NFKC has already folded them.

Plain Python with no Django, so it can be tested exhaustively on its own.
"""

from __future__ import annotations

import unicodedata

# Characters that draw nothing or reorder text although Unicode files them as letters or marks
# (Default_Ignorable_Code_Point outside the format category): Hangul fillers, the combining
# grapheme joiner, Khmer inherent vowels, Mongolian and generic variation selectors.
_INVISIBLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xE0100, 0xE01EF),
)

# Control (Cc), format — zero-width and bidi controls among them — (Cf), surrogate (Cs),
# private use (Co), unassigned (Cn), line and paragraph separators (Zl, Zp).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

_PROTOTYPES: dict[str, str] = {
    # ASCII itself: the rows every look-alike below ends on.
    "0": "O",
    "1": "l",
    "I": "l",
    "|": "l",
    "m": "rn",
    # Latin letters outside ASCII
    "\u0131": "i",  # ı dotless i
    "\u0184": "b",  # Ƅ tone six
    "\u0196": "l",  # Ɩ capital iota
    "\u01a6": "R",  # Ʀ yr
    "\u01bd": "s",  # ƽ tone five
    "\u01c0": "l",  # ǀ dental click
    "\u01c1": "ll",  # ǁ lateral click
    "\u0251": "a",  # ɑ alpha
    "\u0261": "g",  # ɡ script g
    "\u0263": "y",  # ɣ gamma
    "\u0269": "i",  # ɩ iota
    "\u026a": "i",  # ɪ small capital i
    "\u026f": "w",  # ɯ turned m
    "\u028b": "u",  # ʋ v with hook
    "\u028f": "y",  # ʏ small capital y
    "\u1d04": "c",  # ᴄ small capital c
    "\u1d0f": "o",  # ᴏ small capital o
    "\u1d11": "o",  # ᴑ sideways o
    "\u1d1c": "u",  # ᴜ small capital u
    "\u1d20": "v",  # ᴠ small capital v
    "\u1d21": "w",  # ᴡ small capital w
    "\u1d22": "z",  # ᴢ small capital z
    "\u1eff": "y",  # ỿ y with loop
    "\ua731": "s",  # ꜱ small capital s
    "\ua799": "f",  # ꞙ f with stroke
    "\ua79f": "u",  # ꞟ volapuk ue
    "\ua7b2": "J",  # Ʝ j with crossed-tail
    "\ua7b3": "X",  # Ꭓ chi
    "\ua7b4": "B",  # Ꞵ beta
    # Greek
    "\u037f": "J",  # Ϳ yot
    "\u0391": "A",  # Α alpha
    "\u0392": "B",  # Β beta
    "\u0395": "E",  # Ε epsilon
    "\u0396": "Z",  # Ζ zeta
    "\u0397": "H",  # Η eta
    "\u0399": "l",  # Ι iota
    "\u039a": "K",  # Κ kappa
    "\u039c": "M",  # Μ mu
    "\u039d": "N",  # Ν nu
    "\u039f": "O",  # Ο omicron
    "\u03a1": "P",  # Ρ rho
    "\u03a4": "T",  # Τ tau
    "\u03a5": "Y",  # Υ upsilon
    "\u03a7": "X",  # Χ chi
    "\u03b1": "a",  # α alpha
    "\u03b3": "y",  # γ gamma
    "\u03b9": "i",  # ι iota
    "\u03bd": "v",  # ν nu
    "\u03bf": "o",  # ο omicron
    "\u03c1": "p",  # ρ rho
    "\u03c3": "o",  # σ sigma
    "\u03c5": "u",  # υ upsilon
    "\u03dc": "F",  # Ϝ digamma
    "\u03f2": "c",  # ϲ lunate sigma
    "\u03f3": "j",  # ϳ yot
    "\u03f9": "C",  # Ϲ capital lunate sigma
    "\u03fa": "M",  # Ϻ san
    "\u1d26": "r",  # ᴦ small capital gamma
    # Cyrillic
    "\u0405": "S",  # Ѕ dze
    "\u0406": "l",  # І byelorussian-ukrainian i
    "\u0408": "J",  # Ј je
    "\u0410": "A",  # А a
    "\u0412": "B",  # В ve
    "\u0415": "E",  # Е ie
    "\u0417": "3",  # З ze
    "\u041a": "K",  # К ka
    "\u041c": "M",  # М em
    "\u041d": "H",  # Н en
    "\u041e": "O",  # О o
    "\u0420": "P",  # Р er
    "\u0421": "C",  # С es
    "\u0422": "T",  # Т te
    "\u0423": "Y",  # У u
    "\u0425": "X",  # Х ha
    "\u042b": "bl",  # Ы yeru
    "\u042c": "b",  # Ь soft sign
    "\u042e": "lO",  # Ю yu
    "\u0430": "a",  # а a
    "\u0431": "6",  # б be
    "\u0433": "r",  # г ghe
    "\u0435": "e",  # е ie
    "\u043e": "o",  # о o
    "\u0440": "p",  # р er
    "\u0441": "c",  # с es
    "\u0443": "y",  # у u
    "\u0445": "x",  # х ha
    "\u0455": "s",  # ѕ dze
    "\u0456": "i",  # і byelorussian-ukrainian i
    "\u0458": "j",  # ј je
    "\u0461": "w",  # ѡ omega
    "\u0474": "V",  # Ѵ izhitsa
    "\u0475": "v",  # ѵ izhitsa
    "\u04ae": "Y",  # Ү straight u
    "\u04af": "y",  # ү straight u
    "\u04bb": "h",  # һ shha
    "\u04bd": "e",  # ҽ abkhasian che
    "\u04c0": "l",  # Ӏ palochka
    "\u04cf": "i",  # ӏ small palochka
    "\u04d4": "AE",  # Ӕ ligature a ie
    "\u04d5": "ae",  # ӕ ligature a ie
    "\u04e0": "3",  # Ӡ abkhasian dze
    "\u0501": "d",  # ԁ komi de
    "\u050c": "G",  # Ԍ komi sje
    "\u051b": "q",  # ԛ qa
    "\u051c": "W",  # Ԝ we
    "\u051d": "w",  # ԝ we
    "\ua647": "i",  # ꙇ iota
    "\ua698": "OO",  # Ꚙ double o
    "\ua699": "oo",  # ꚙ double o
}


def normalise(raw: str) -> str:
    """The form a username is stored and looked up in: NFKC, without surrounding spaces."""
    return unicodedata.normalize("NFKC", raw).strip()


def _hidden(char: str) -> bool:
    if unicodedata.category(char) in _HIDDEN_CATEGORIES:
        return True
    if unicodedata.category(char) == "Zs" and char != " ":
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES)


def has_hidden_characters(name: str) -> bool:
    """True when the name holds a character a reader cannot see or that reorders the text."""
    return any(_hidden(char) for char in name)


def skeleton(name: str) -> str:
    """TR39 skeleton: equal skeletons mean the two names can be mistaken for each other."""
    decomposed = unicodedata.normalize("NFD", name)
    mapped = "".join(_PROTOTYPES.get(char, char) for char in decomposed)
    return unicodedata.normalize("NFD", mapped)


def confusable_keys(name: str) -> frozenset[str]:
    """The skeletons a name is compared by.

    Sign-in ignores case, so the case-folded name's skeleton counts too (Cyrillic ``АDMIN``
    against ``admin``); the name as written keeps its own, because folding first would hide
    capital I posing as l (``biII`` against ``bill``).
    """
    form = normalise(name)
    return frozenset({skeleton(form), skeleton(form.casefold())})


def confusable(first: str, second: str) -> bool:
    return bool(confusable_keys(first) & confusable_keys(second))
