"""The catalogs (safetynet/i18n/locale/<lang>/LC_MESSAGES/messages.po), `t` and its fallback, gettext."""

from __future__ import annotations

import re
import string
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from safetynet import i18n
from safetynet.channels.voice.twiml import SAY_LANGUAGE
from safetynet.i18n import CATALOGS, SOURCE, catalog, fallback_chain, t
from safetynet.roster.letters import LETTER_LANGUAGES

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


# What a resident reads, in the household's own language: the reply and enrolment pages and their dead
# ends, the contact check, the words of every channel (enrol.<channel>.*, channel.<name>.label, a LINE
# question above its buttons…) and the messages. Everything else (dash., console., cli., report.,
# staff., alert., scope., password., letters.page_*) is read by staff and is Japanese and English only.
# A channel brings its words in every page language: a gap is Japanese in front of a foreign resident.
RESIDENT_PREFIXES = ("reply.", "sms.", "enrol.", "join.", "contact.kind.", "channel.", "check.", "message.",
                     "manifest.", "page.", "line.", "language.", "campaign.fallback_body")
# Resident texts written in fewer languages on purpose; the code that reads them says which:
# - voice.*: a call speaks only the languages with a text-to-speech voice (SAY_LANGUAGE); every other
#   household hears Japanese, so a zh/ko/vi/pt text would never be spoken.
# - letters.* (not letters.page_*, the staff form): a letter is printed whole in one of LETTER_LANGUAGES;
#   every other household's letter is in やさしい日本語.
LIMITED: dict[str, tuple[str, ...]] = {"voice.": tuple(SAY_LANGUAGE), "letters.": LETTER_LANGUAGES}


def _resident_keys() -> list[str]:
    return sorted(k for k in SOURCE_KEYS if k.startswith(RESIDENT_PREFIXES))


def _missing(lang: str, keys: list[str]) -> list[str]:
    """The keys `lang` lacks, but a brand name (ASCII in the source, LINE) that reads the same in its fallback."""
    own = catalog(lang)
    return [k for k in keys if k not in own and not (lang == "ja-easy" and catalog(SOURCE)[k].isascii())]


@pytest.mark.parametrize("lang", [c for c in i18n.PAGE_LANGUAGES if c != SOURCE])
def test_a_page_language_has_every_text_a_resident_reads(lang: str) -> None:
    keys = _resident_keys()
    assert len(keys) > 130
    assert {"line.question", "line.follow", "enrol.line.title", "enrol.email.title", "channel.email.label"} <= set(keys)
    assert _missing(lang, keys) == [], f"{lang}: these resident texts fall back to Japanese"
    for k in keys:
        if k in catalog(lang):
            assert _fields(catalog(lang)[k]) == _fields(catalog(SOURCE)[k]), f"{lang} {k!r}: placeholders"


@pytest.mark.parametrize(("prefix", "langs"), LIMITED.items())
def test_texts_read_in_fewer_languages_are_in_each_of_them(prefix: str, langs: tuple[str, ...]) -> None:
    keys = sorted(k for k in SOURCE_KEYS if k.startswith(prefix) and not k.startswith("letters.page_"))
    assert keys and set(langs) <= set(CATALOGS)
    for lang in langs:
        assert _missing(lang, keys) == [], lang


def test_gettext_translations_fall_back_like_t() -> None:
    vi = i18n.translations("vi")
    assert vi.gettext("message.reply_label") == catalog("vi")["message.reply_label"]
    assert vi.gettext("reply.safe_button") == catalog("vi")["reply.safe_button"]
    assert vi.gettext("dash.logout") == catalog("ja")["dash.logout"]
    assert i18n.translations("en").gettext("dash.logout") == "Log out"
    assert i18n.translations("en").gettext("no.such.key") == "no.such.key"
