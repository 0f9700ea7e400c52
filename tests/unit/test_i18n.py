"""The catalogs (safetynet/i18n/locale/<lang>/LC_MESSAGES/messages.po), `t` and its fallback, gettext."""

from __future__ import annotations

import re
import string
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from safetynet import i18n
from safetynet.i18n import CATALOGS, SOURCE, catalog, fallback_chain, t

PACKAGE = Path(i18n.__file__).parent.parent
SOURCE_KEYS = frozenset(catalog(SOURCE))


def _po_path(lang: str) -> Path:
    return PACKAGE / "i18n" / "locale" / lang / "LC_MESSAGES" / "messages.po"


def _fields(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def _filled(text: str) -> str:
    return text.format(**{name: f"<{name}>" for name in _fields(text)})


# -- the catalogs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", CATALOGS)
def test_a_catalog_has_no_empty_fuzzy_or_repeated_entry(lang: str) -> None:
    path = _po_path(lang)
    with path.open("rb") as f:
        po = read_po(f, abort_invalid=True)
    entries = [m for m in po if m.id]
    assert entries, f"{lang}: empty catalog"
    for m in entries:
        assert isinstance(m.id, str) and isinstance(m.string, str), f"{lang} {m.id!r}: plural forms are not used yet"
        assert m.string.strip(), f"{lang} {m.id!r}: empty text (delete the entry to fall back instead)"
        assert not m.fuzzy, f"{lang} {m.id!r}: fuzzy entries are not shown; review it or delete it"
    assert not list(po.obsolete), f"{lang}: obsolete (#~) entries"
    ids = Counter(re.findall(r'^msgid "(.+)"$', path.read_text(encoding="utf-8"), re.M))
    assert [k for k, n in ids.items() if n > 1] == [], f"{lang}: a key given twice"
    assert po.locale is not None and str(po.locale).split("_")[0] == lang.split("-")[0]


@pytest.mark.parametrize("lang", [c for c in CATALOGS if c != SOURCE])
def test_a_catalog_has_only_keys_of_the_source(lang: str) -> None:
    assert sorted(set(catalog(lang)) - SOURCE_KEYS) == []


@pytest.mark.parametrize("lang", CATALOGS)
def test_placeholders_are_names_and_match_the_source(lang: str) -> None:
    ja = catalog(SOURCE)
    for key, text in catalog(lang).items():
        fields = _fields(text)
        assert all(f.isidentifier() for f in fields), f"{lang} {key!r}: placeholders are {{name}}, got {fields}"
        assert fields == _fields(ja[key]), f"{lang} {key!r}: placeholders {fields} differ from {SOURCE}'s"
        _filled(text)  # a stray brace fails here, not in front of a resident


def test_key_names_are_namespaced_by_area() -> None:
    bad = [k for k in SOURCE_KEYS if not re.fullmatch(r"[a-z]+(\.[a-z0-9_]+)+", k)]
    assert bad == []


# -- t and the fallback ---------------------------------------------------------------------------


def test_fallback_chains() -> None:
    assert list(fallback_chain("ja")) == ["ja"]
    assert list(fallback_chain("ja-easy")) == ["ja-easy", "ja"]
    assert list(fallback_chain("en")) == ["en", "ja"]
    for lang in ("zh", "ko", "vi", "pt"):
        assert list(fallback_chain(lang)) == [lang, "ja-easy", "ja"]


@pytest.mark.parametrize("lang", CATALOGS)
def test_t_gives_the_first_catalog_of_the_chain_that_has_the_text(lang: str) -> None:
    for key in SOURCE_KEYS:
        text = next(catalog(c)[key] for c in fallback_chain(lang) if key in catalog(c))
        fields = _fields(text)
        assert t(lang, key, **{f: f"<{f}>" for f in fields}) == _filled(text)


def test_a_foreign_language_without_the_text_reads_easy_japanese() -> None:
    assert "dash.logout" not in catalog("vi") and "reply.safe_button" in catalog("vi")
    assert t("vi", "reply.safe_button") == catalog("vi")["reply.safe_button"]
    assert t("vi", "voice.prompt") == catalog("ja")["voice.prompt"]  # no Vietnamese voice prompt yet
    assert t("en", "campaign.preview_body") == catalog("ja")["campaign.preview_body"]


@pytest.mark.parametrize(("code", "expected"), [
    ("ja", "ja"), (" ja ", "ja"), ("ja-JP", "ja"), ("JA", "ja"), ("ja-easy", "ja-easy"),
    ("en", "en"), ("en-GB", "en"), ("EN", "en"), ("pt-BR", "pt"), ("zh-Hant", "zh"), ("ko", "ko"),
    ("es", "ja-easy"), ("tl", "ja-easy"), ("", "ja-easy"),
])
def test_catalog_language(code: str, expected: str) -> None:
    assert i18n.catalog_language(code) == expected


@pytest.mark.parametrize(("code", "expected"), [
    ("ja", "ja"), ("ja-easy", "ja-easy"), ("en-US", "en"), ("zh", "zh"), ("vi", "vi"), ("pt-BR", "pt"),
    ("ko-KR", "ko"), ("es", "ja-easy"), (None, "ja-easy"), ("ja-JP", "ja"),
])
def test_ui_language_is_a_page_language(code: str | None, expected: str) -> None:
    assert i18n.ui_language(code) == expected


def test_placeholders_are_filled_and_an_unknown_key_names_itself() -> None:
    assert t("ja", "reply.lead", association="桜町一丁目町会") == "桜町一丁目町会からの安否確認です。"
    assert t("en", "reply.lead", association="Sakura") == "Safety check from Sakura."
    with pytest.raises(KeyError, match=r"reply\.no_such_text"):
        t("ja", "reply.no_such_text")


def test_page_languages_are_named_in_their_own_language() -> None:
    assert i18n.LANGUAGES == (("ja", "日本語"), ("ja-easy", "やさしい日本語"), ("en", "English"), ("zh", "中文"),
                              ("ko", "한국어"), ("vi", "Tiếng Việt"), ("pt", "Português"))


# What a resident reads: the reply page, the enrolment page and their dead ends, the messages.
# A channel added later brings its own words (enrol.<channel>.*); until translated they fall back.
RESIDENT_PREFIXES = ("reply.", "sms.", "enrol.", "join.", "contact.kind.", "message.", "manifest.", "page.",
                     "campaign.fallback_body")
RESIDENT_CHANNELS = ("webpush", "telegram", "sms", "voice")


def _resident_keys() -> list[str]:
    keys = []
    for k in SOURCE_KEYS:
        parts = k.split(".")
        if parts[0] in ("enrol", "channel") and len(parts) > 2 and parts[1] not in {*RESIDENT_CHANNELS, "list", "remove"}:
            continue
        if k.startswith(RESIDENT_PREFIXES) or (parts[0] == "channel" and parts[1] in RESIDENT_CHANNELS):
            keys.append(k)
    return sorted(keys)


@pytest.mark.parametrize("lang", [c for c in i18n.PAGE_LANGUAGES if c != SOURCE])
def test_a_page_language_has_every_text_a_resident_reads(lang: str) -> None:
    keys = _resident_keys()
    assert len(keys) > 90
    assert [k for k in keys if k not in catalog(lang)] == []


def test_gettext_translations_fall_back_like_t() -> None:
    vi = i18n.translations("vi")
    assert vi.gettext("message.reply_label") == catalog("vi")["message.reply_label"]
    assert vi.gettext("reply.safe_button") == catalog("vi")["reply.safe_button"]
    assert vi.gettext("dash.logout") == catalog("ja")["dash.logout"]
    assert i18n.translations("en").gettext("dash.logout") == "Log out"
    assert i18n.translations("en").gettext("no.such.key") == "no.such.key"
