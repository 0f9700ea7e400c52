"""Every text a person reads comes from the catalogs: each key the code names is in the source catalog, and
no Japanese string literal is left in the code outside safetynet/i18n/ but the data contracts listed here."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from safetynet import i18n
from safetynet.channels import registry
from safetynet.channels.spec import ENROL_ROLES
from safetynet.domain import CampaignKind, Role
from safetynet.domain.replies import Location
from safetynet.i18n import SOURCE, catalog
from safetynet.web.dash_text import METHODS, STATUS_ICONS
from safetynet.web.staff_reach import UNREACHED_REASONS

PACKAGE = Path(i18n.__file__).parent.parent
SOURCE_KEYS = frozenset(catalog(SOURCE))


# -- families of keys the code builds from a value -------------------------------------------------


def test_every_value_the_code_builds_a_key_from_has_its_text() -> None:
    keys = [f"reply.location.{loc}" for loc in Location]
    # the channels' words: the keys their specs name (a new channel brings its texts to the catalogs)
    keys += [k.label_key for k in registry.kinds().values()]
    keys += [s.label_key for s in registry.SPECS]
    keys += [s.enrolment.key(s.name, role) for s in registry.SPECS if s.enrolment is not None
             for role in ENROL_ROLES[s.enrolment.method]]
    keys += [f"letters.step_{step}" for s in registry.SPECS for step in s.letter_steps]
    keys += [f"dash.role_{role}" for role in Role]
    keys += [f"dash.status.{status}" for status in STATUS_ICONS]
    keys += [f"dash.method.{method}" for method in METHODS]
    keys += [f"dash.confirm_by.{method}" for method in METHODS]
    keys += [f"dash.state_{state}" for state in ("draft", "pending_approval", "running", "closed", "cancelled")]
    keys += [f"report.status.{s}" for s in STATUS_ICONS]
    keys += [f"dash.unreached_reason.{reason}" for reason in UNREACHED_REASONS]
    # a report's title, its kind and the link to it say what the campaign was (a real event is no drill)
    keys += [f"{k}{kind}" for kind in CampaignKind for k in ("report.title_", "report.", "dash.report_")]
    assert sorted(set(keys) - SOURCE_KEYS) == []
    for lang in ("ja-easy", "en"):
        for key in (f"reply.location.{loc}" for loc in Location):
            assert key in catalog(lang)


# -- the code -------------------------------------------------------------------------------------


def _modules(containing: re.Pattern[str] | None = None) -> Iterator[tuple[str, ast.Module]]:
    """The package's modules outside i18n/, parsed: those whose source matches `containing`, if given
    (parsing and walking every module is most of these tests' time)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("i18n/"):
            continue
        source = path.read_text(encoding="utf-8")
        if containing is None or containing.search(source):
            yield rel, ast.parse(source, rel)


_TEMPLATE_SUFFIXES = (".html", ".txt", ".csv")  # file names ("reply.html", "roster.csv") look like keys
_KEY = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+\.?")
# Helpers that take a key without its area's namespace: (module, function) -> namespace.
_SHORT_KEYS = {("web/dash_text.py", "t"): "dash.", ("stats/report_render.py", "_l"): "report."}


def _short_key_helpers(rel: str, tree: ast.Module) -> dict[str, str]:
    """Names in `rel` that call a short-key helper, with its namespace."""
    names = {fn: ns for (mod, fn), ns in _SHORT_KEYS.items() if mod == rel}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            mod = node.module.removeprefix("safetynet.").replace(".", "/") + ".py"
            for alias in node.names:
                if (mod, alias.name) in _SHORT_KEYS:
                    names[alias.asname or alias.name] = _SHORT_KEYS[(mod, alias.name)]
    return names


def _keys_in_code() -> Iterator[tuple[str, int, str]]:
    """(module, line, key or key prefix ending in "." or "_") for every key the code names."""
    namespaces = {k.split(".")[0] for k in SOURCE_KEYS}
    for rel, tree in _modules():
        helpers = _short_key_helpers(rel, tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _KEY.fullmatch(node.value):
                if node.value.split(".")[0] in namespaces and not node.value.endswith(_TEMPLATE_SUFFIXES):
                    yield rel, node.lineno, node.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
                if len(node.args) < 2:
                    continue
                arg, ns = node.args[1], helpers[node.func.id]
                if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Add):
                    arg = arg.left  # "role_" + role: a prefix
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        yield rel, node.lineno, ns + arg.value + ("" if arg.value.endswith(("_", ".")) else "_")
                    continue
                if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                    yield rel, node.lineno, ns + str(arg.values[0].value)
                elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield rel, node.lineno, ns + arg.value


def test_every_key_named_in_the_code_is_in_the_source_catalog() -> None:
    found = list(_keys_in_code())
    assert len(found) > 250  # the scan sees the code's keys (a broken scan finds none)
    missing = [f"{rel}:{line}: {key}" for rel, line, key in found
               if key not in SOURCE_KEYS and not (key.endswith((".", "_")) and any(k.startswith(key) for k in SOURCE_KEYS))]
    assert missing == []


_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")

# Japanese in the code that is not a text for a person to read but a data contract. Keys are
# "module" (the whole module) or "module::name" (a top-level name: constant, function or class).
ALLOWED_JAPANESE: dict[str, str] = {
    # roster files: what city staff's spreadsheets say
    "roster/csvio.py::_HOUSEHOLD_COLUMNS": "roster CSV header names (世帯番号, 世帯主, …) the import reads and the export writes",
    "roster/csvio.py::COLUMNS": "the roster CSV header 備考 (notes), after the channels' contact columns",
    "channels/sms/contacts.py::PHONE_COLUMN": "the roster CSV header 携帯電話 (and 携帯) of the SMS channel's column",
    "channels/email/mail.py::_AFTER": "Japanese punctuation a mail's line may be folded after: not a text",
    "channels/voice/contacts.py::LANDLINE_COLUMN": "the roster CSV header 固定電話 (and 固定) of the voice channel's column",
    "channels/telegram/contacts.py::TELEGRAM_COLUMN": "the roster CSV header テレグラム of the Telegram channel's column",
    "channels/email/contacts.py::EMAIL_COLUMN": "the roster CSV header メール (and メールアドレス) of the email channel's column",
    "roster/csvio.py::_EXTRA_ALIASES": "more header spellings and association suffixes (町内会, 自治会) found in real rosters",
    "logs.py::_SEP": "the dash-like marks (－, ー) people type between a phone number's digits: the log masks such numbers",
    "roster/values.py::_YES": "cell values read as yes (はい, 有, ○)",
    "roster/values.py::_NO": "cell values read as no (いいえ, 無, ×)",
    "roster/values.py::_LANGUAGE_ALIASES": "language cells written in Japanese (英語, やさしい日本語) and the codes they mean",
    "roster/values.py::parse_members": "the counters 人 and 名 after a number of members",
    "roster/values.py::_CONSENT_WORDS": "consent cells read as yes, no or ordinance (同意, 不同意, 条例)",
    "roster/values.py::CONSENT_WORDS_JA": "the consent cells the export writes under Japanese headers",
    "roster/letters.py::_NO_START": "line-breaking rule (禁則): punctuation that may not start a line of a letter",
    "roster/enrol_letters.py::LETTER_HEADERS": "column names of the letters CSV that mail-merge templates refer to",
    "roster/codes.py::_SEPARATORS": "the long-vowel mark ー typed as a dash inside enrolment codes",
    "domain/walking.py::_DASHES": "the long-vowel mark ー and full-width dash typed between block numbers",
    "domain/phones.py::_SEPARATORS": "the long-vowel mark ー and full-width dash typed inside phone numbers",
    "roster/generate.py": "a synthetic roster: Japanese names, towns and notes as real rosters hold them",
    "roster/commands.py::add_arguments": "an example command line with an association name as typed",
    "domain/moves.py::_DROP": "the full-width space and nakaguro a head's name is compared without",
    "roster/names.py": "association names as rosters spell them: kanji digits, ヶ, 町内会/自治会 and the module's examples",
    # replies: what residents type
    "replies/keywords.py::_SAFE_WORDS_JA": "the words that mean safe inside any sentence (無事, ぶじ)",
    "replies/keywords.py::_DAIJOUBU_WORDS": "大丈夫, safe only when the reply says nothing else",
    "replies/keywords.py::_COUNTER": "counters after a digit that make it a number, not a key (1人, 1階)",
    "replies/keywords.py::_SAFE_JA": "無事 told, not looked for (母の無事, 無事が確認できません)",
    "replies/keywords.py::_CHECK_FAILED_JA": "a check that failed (確認できません), for no safe and for trouble",
    "replies/keywords.py::_NOT_KNOWN_JA": "not known (わからない, 不明), for no safe and for trouble",
    "replies/keywords.py::_ASKED_JA": "a safe word asked, not told (大丈夫ですか, 無事？)",
    "replies/keywords.py::_HELP_JA": "words in an SMS reply that mean need help (助けて, たすけて)",
    "replies/keywords.py::_NEGATED_JA": "negations that turn 無事 into not safe (無事じゃない)",
    "replies/keywords.py::_FILLER": "endings and punctuation ignored around a keyword (です, 。)",
    "web/reply_pages.py::_people": "the counter words residents type after a number of people (2人, 3名)",
    "replies/keywords.py::_TROUBLE_JA": "words of trouble in a reply that make it need help (けが, 動けない)",
    "replies/keywords.py::_CANNOT_JA": "a 'cannot' that is trouble whatever negation it holds (動けません, 出られない)",
    "replies/keywords.py::_DENIED_AFTER": "denials that follow a word of trouble (なく, なし, ません, 不要)",
    # Chinese (Han) words a resident types, matched, never shown: as the Japanese ones above
    "replies/keywords.py::_SAFE_ZH": "the words that mean safe in Chinese (平安, 没事), alone",
    "replies/keywords.py::_HELP_ZH": "words in a Chinese text that mean need help (救命, 求救)",
    "replies/keywords.py::_HELP_DENIED_BEFORE_ZH": "denials before a Chinese call for help (不需要)",
    "replies/keywords.py::_TROUBLE_ZH": "words of trouble in a Chinese text (受伤, 被困)",
    "replies/keywords.py::_TROUBLE_SHARED_JA": "the Chinese trouble words Japanese writes too (流血, 失火)",
    "replies/keywords.py::_TROUBLE_DENIED_BEFORE_ZH": "denials before a Chinese word of trouble (没有人)",
    "replies/keywords.py::_CANNOT_OTHER": "a Chinese 'cannot' that is trouble (动不了)",
    "replies/keywords.py::_NEGATED_OTHER": "negations that turn a Chinese safe word into not safe (不安全)",
    "replies/keywords.py::_ASKED_OTHER": "a Chinese safe word asked, not told (平安吗)",
    "replies/keywords.py::_FILLER_OTHER": "Chinese words ignored around a safe word (我们, 都)",
    "replies/keywords.py::_STOP_WHAT": "what a resident asks to stop (配信, 通知, 連絡, メール)",
    "replies/keywords.py::_STOP": "a text that only asks to stop the messages (配信停止, 解除してください)",
    "replies/keywords.py::_STOP_FILLER": "punctuation ignored around a request to stop (。, 「」)",
    "replies/keywords.py::_HANDLED_WORDS": "what staff text back to mark a help request handled (対応済み)",
    "replies/keywords.py::_NUMBER": "what staff type around a household number in a staff text (世帯番号, 番)",
    "replies/keywords.py::_SEPS": "punctuation around the words of a staff member's 対応済み text (、, 「」)",
    "replies/keywords.py::_SEP_CHARS": "punctuation taken off around a staff member's 対応済み text (、, 「」)",
    "replies/keywords.py::_ENDING": "endings after 対応済み or 訪問済み in a staff text (です, しました)",
    "replies/keywords.py::_HANDLED_FILLER": "endings and punctuation ignored around 対応済み and a number (です, 。)",
    "replies/keywords.py::_HANDLED_SEP": "punctuation between the words of a staff member's 対応済み text (、, 「」)",
    "replies/keywords.py::_NUMBER_AROUND": "what staff type around a household number (世帯番号, 番)",
    "replies/keywords.py::_VISITED": "what staff text back to confirm a household seen (訪問済み, 確認済み)",
    "replies/keywords.py::_VISIT_UNDONE": "what staff text back to take a confirmation back (取消, 取り消し)",
    # triggers: JMA's telegrams
    "triggers/jma.py::STATUSES": "values of Control/Status in JMA telegrams (通常, 訓練, 試験)",
    "triggers/jma.py::INFO_TYPES": "values of Head/InfoType in JMA telegrams (発表, 訂正, 取消)",
    "triggers/jma.py::JmaTelegram": "compares Control/Status with JMA's values 訓練 and 試験",
    "triggers/jma.py::_kind": "the telegram title 緊急地震速報",
    "triggers/jma.py::jma_from_root": "the English parse errors name JMA's allowed values",
    "triggers/feed.py::WANTED_TITLES": "titles of the telegrams read from JMA's Atom feed",
    "domain/triggers.py::_INTENSITY_LABELS": "JMA's seismic intensity words (震度5強) as telegrams write them",
    "domain/triggers.py::_INTENSITY_ALIASES": "other spellings of intensities in telegrams and configs (5強, ５強)",
    "domain/triggers.py::UNRECEIVED_5LOWER": "JMA's value 震度５弱以上未入電 (estimated, not received)",
    "domain/triggers.py::TsunamiGrade": "JMA's tsunami warning names (津波警報, 大津波警報)",
    "domain/triggers.py::KIND_BY_TITLE": "telegram titles mapped to their kind",
    "triggers/rules.py::CANCEL": "JMA's InfoType 取消 the rules compare with",
    "triggers/rules.py::_follow_up": "compares InfoType with JMA's 訂正",
    # configuration and command lines
    "config.py::CityConfig": "the default city name, a proper noun config.toml replaces",
    "cli.py::_add_init_and_access": "example command lines with a scope and a label as typed",
    "broadcast/commands.py::_EXAMPLES": "example command lines with an association name as typed",
    # tooling the product does not run: simulated residents and benchmarks
    "channels/sms/resident.py::WORDS": "what simulated residents text back (the lab's SMS resident)",
    "lab/sim/city.py::add_staff": "display names of the demo city's staff accounts",
    "lab/bench_broadcast.py": "benchmark campaign: title and body as an official would type them",
    "lab/bench_citywide.py": "benchmark campaign body",
    "lab/bench_replies.py": "benchmark campaign: title and body as an official would type them",
    "lab/bench_channels.py": "benchmark message as an official would type it",
    "lab/bench_channels_bare.py": "the bare-library baseline of `bench channels`: each library as its docs show, "
                              "no project code, with the same words as our senders",
}


def _owner(node: ast.stmt) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return f"line {node.lineno}"


def _japanese_literals() -> Iterator[tuple[str, str, int, str]]:
    """(module, top-level name, line, text) of Japanese string literals; docstrings are not texts shown."""
    for rel, tree in _modules(containing=_JAPANESE):  # a module with no Japanese at all has no such literal
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for top in tree.body:
            for node in ast.walk(top):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                        and _JAPANESE.search(node.value)):
                    yield rel, _owner(top), node.lineno, node.value


def test_no_japanese_text_in_the_code_outside_the_catalogs() -> None:
    found = list(_japanese_literals())
    stray = [f"{rel}:{line} ({owner}): {text[:40]!r}" for rel, owner, line, text in found
             if rel not in ALLOWED_JAPANESE and f"{rel}::{owner}" not in ALLOWED_JAPANESE]
    assert stray == [], "texts a person reads belong in safetynet/i18n/locale/*/LC_MESSAGES/messages.po"
    used = {rel for rel, *_ in found} | {f"{rel}::{owner}" for rel, owner, *_ in found}
    assert sorted(set(ALLOWED_JAPANESE) - used) == [], "allow-list entries that no longer match anything"


# -- the templates --------------------------------------------------------------------------------

TEMPLATES = PACKAGE / "web" / "templates"
# t(lang, "key"…) or t(lang, "prefix." + value) in a template
_TEMPLATE_KEY = re.compile(r"""\bt\(\s*[\w"']+\s*,\s*["']([a-z][a-z0-9_.]*)["']\s*(\+)?""")
_TEMPLATE_COMMENT = re.compile(r"\{#.*?#\}", re.S)


def test_every_key_named_in_a_template_is_in_the_source_catalog() -> None:
    found = []
    for path in sorted(TEMPLATES.glob("*.html")):
        for m in _TEMPLATE_KEY.finditer(path.read_text(encoding="utf-8")):
            found.append((path.name, m.group(1), bool(m.group(2))))
    assert len(found) > 30
    missing = [f"{name}: {key}" for name, key, prefix in found
               if not (any(k.startswith(key) for k in SOURCE_KEYS) if prefix else key in SOURCE_KEYS)]
    assert missing == []


def test_no_japanese_text_in_the_templates() -> None:
    stray = []
    for path in sorted(TEMPLATES.glob("*.html")):
        text = _TEMPLATE_COMMENT.sub("", path.read_text(encoding="utf-8"))
        stray += [f"{path.name}: {line.strip()[:60]}" for line in text.splitlines() if _JAPANESE.search(line)]
    assert stray == []
