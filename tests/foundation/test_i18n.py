"""Languages: Arabic pages are right-to-left, and every string has Arabic and Chinese text."""

from pathlib import Path

import polib
import pytest
from django.test import Client

from tests import factories

LOCALE = Path(__file__).resolve().parents[2] / "gridvend" / "locale"


@pytest.mark.django_db
def test_arabic_login_page_is_right_to_left() -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="ar")
    body = client.get("/login/").content.decode()
    assert 'dir="rtl"' in body and 'lang="ar"' in body
    assert "bootstrap.rtl.min.css" in body
    assert "تسجيل الدخول" in body


@pytest.mark.django_db
def test_user_language_preference_wins(settings: object) -> None:
    tree = factories.Tree()
    user = factories.user(tree.north_sc)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    response = client.post("/i18n/language/", {"language": "zh-hans", "next": "/org/"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == "zh-hans"
    fresh = Client(HTTP_ACCEPT_LANGUAGE="en")
    fresh.force_login(user)
    body = fresh.get("/org/").content.decode()
    assert 'lang="zh-hans"' in body and 'dir="ltr"' in body
    assert "组织" in body


@pytest.mark.parametrize("language", ["ar", "zh_Hans"])
def test_every_message_is_translated(language: str) -> None:
    po = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))
    untranslated = [entry.msgid for entry in po.untranslated_entries()]
    fuzzy = [entry.msgid for entry in po.fuzzy_entries()]
    assert not untranslated, untranslated
    assert not fuzzy, fuzzy
    assert len(po) > 50


@pytest.mark.parametrize("language", ["ar", "zh_Hans"])
def test_compiled_catalogue_matches_sources(language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    compiled = polib.mofile(str(folder / "django.mo"))
    source = polib.pofile(str(folder / "django.po"))
    assert {e.msgid: e.msgstr for e in compiled if e.msgid} == {
        e.msgid: e.msgstr for e in source.translated_entries() if not e.msgid_plural
    } | {e.msgid: e.msgstr for e in compiled if e.msgid_plural}
