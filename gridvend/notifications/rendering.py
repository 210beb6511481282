"""Messages rendered from templates in the reader's language.

An SMS template is ``notifications/sms/<name>.txt``; an e-mail is ``notifications/email/<name>
.subject.txt``, ``<name>.txt`` and, when it exists, ``<name>.html``. They live in the templates
folder of the app that sends them (the token SMS in vending's), use ``{% translate %}`` and
``{% blocktranslate %}``, and are translated in the project's catalogues (`make messages`).
Text is rendered without HTML escaping (an SMS is not HTML); the HTML part of an e-mail with it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.template import Engine, TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import translation

from gridvend.notifications.errors import NotificationLanguageUnsupported

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_BLANK_RUN = re.compile(r"\n{3,}")

# Bidi isolates (LRI … PDI) keep a number, a token or a meter number left to right inside
# Arabic text (STYLE.md: "numbers ... are isolated left-to-right inside RTL text").
LRI = "\u2066"
PDI = "\u2069"


@functools.lru_cache(maxsize=1)
def _text_engine() -> Engine:
    return Engine(app_dirs=True, autoescape=False, libraries={"i18n": "django.templatetags.i18n"})


def language_code(language: str | None) -> str:
    """One of settings.LANGUAGES ("en", "ar", "zh-hans"); "zh_Hans" and "AR" are read too;
    None or "" is the utility's default language."""
    if not language:
        return str(settings.LANGUAGE_CODE)
    code = language.strip().lower().replace("_", "-")
    if code in {known for known, _label in settings.LANGUAGES}:
        return code
    raise NotificationLanguageUnsupported(language=language[:20])


def _checked(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a {kind} template name (a-z, 0-9, _)")
    return name


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()


def isolate(value: object, language: str) -> str:
    """``value`` as text, wrapped in bidi isolates when the message is right to left."""
    text = str(value)
    return f"{LRI}{text}{PDI}" if language in settings.LANGUAGES_BIDI else text


def render_sms(name: str, context: Mapping[str, Any], language: str) -> str:
    template = _text_engine().get_template(f"notifications/sms/{_checked('SMS', name)}.txt")
    with translation.override(language):
        return _tidy(template.render(_context(context, language)))


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(name: str, context: Mapping[str, Any], language: str) -> RenderedEmail:
    base = f"notifications/email/{_checked('e-mail', name)}"
    engine = _text_engine()
    values = _context(context, language)
    with translation.override(language):
        subject: str = engine.get_template(f"{base}.subject.txt").render(values)
        text: str = engine.get_template(f"{base}.txt").render(values)
        html: str
        try:
            html = render_to_string(f"{base}.html", dict(values.flatten()))
        except TemplateDoesNotExist:
            html = ""
    # One line: a line break in a subject would start another header.
    return RenderedEmail(subject=" ".join(subject.split()), text=_tidy(text), html=html.strip())


def _context(values: Mapping[str, Any], language: str) -> Any:
    from django.template import Context

    return Context(
        {**values, "language": language, "rtl": language in settings.LANGUAGES_BIDI},
        autoescape=False,
    )
