"""The command line speaks the terminal's language: Japanese under a Japanese locale, English
otherwise, help and messages alike, from the catalogs' `cli.*` texts (complete in both)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from roster_helpers import new_city

from safetynet import cli
from safetynet.channels import registry
from safetynet.console import cli_language
from safetynet.i18n import catalog, t

JA_CLI = {k: v for k, v in catalog("ja").items() if k.startswith("cli.")}
EN_CLI = {k: v for k, v in catalog("en").items() if k.startswith("cli.")}
# The commands a city runs; sandbox, demo and bench are developers' tools (their options stay English).
PRODUCT = ("init", "staff", "token", "roster", "campaign", "serve", "triggers", "privacy", "audit")
# Help that is the same in every language: values typed as they are.
AS_TYPED = {"city_admin | district_head | association_head | deputy", "city | district:NAME | association:NAME",
            '{"id": …}', '{"id": …, "state": …}'}


def _env(lang: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    env["LANG"] = lang
    return env


def run(lang: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "safetynet", *argv], cwd=cwd, env=_env(lang), capture_output=True,
                          text=True, timeout=60, check=False)


def run_side_by_side(calls: list[tuple[str, ...]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """`run(lang, *argv)` of each (lang, *argv), the processes side by side (each is mostly its
    imports); for commands that touch no database."""
    procs = [subprocess.Popen([sys.executable, "-m", "safetynet", *argv], cwd=cwd, env=_env(lang), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for lang, *argv in calls]
    done = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return done


def squeeze(text: str) -> str:
    """Without whitespace: argparse wraps help to the terminal's width."""
    return "".join(text.split())


def test_the_cli_texts_are_complete_in_japanese_and_english() -> None:
    assert len(JA_CLI) > 100
    assert sorted(set(JA_CLI) ^ set(EN_CLI)) == []


@pytest.mark.parametrize(("env", "expected"), [
    ({"LANG": "ja_JP.UTF-8"}, "ja"), ({"LANG": "ja_JP.eucJP"}, "ja"), ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"), ({"LANG": "POSIX"}, "en"), ({}, "en"), ({"LANG": "fr_FR.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_ALL": "ja_JP.UTF-8"}, "ja"), ({"LANG": "ja_JP.UTF-8", "LC_MESSAGES": "C"}, "en"),
    ({"LANG": "C", "LANGUAGE": "ja:en"}, "ja"), ({"LANG": "ja_JP.UTF-8", "LC_ALL": ""}, "ja"),
])
def test_the_language_is_read_as_gettext_reads_it(env: dict[str, str], expected: str) -> None:
    assert cli_language(env) == expected


def test_help_and_usage_errors_in_japanese_under_a_japanese_locale(tmp_path: Path) -> None:
    ja, en, missing, choice, missing_en = run_side_by_side([
        ("ja_JP.UTF-8", "--help"), ("C.UTF-8", "--help"), ("ja_JP.UTF-8", "staff", "add"),
        ("ja_JP.UTF-8", "campaign", "report", "1", "--format", "pdf"), ("en_US.UTF-8", "staff", "add")], tmp_path)
    assert ja.returncode == 0
    assert ja.stdout.startswith("使い方: safetynet")
    for text in (JA_CLI["cli.description"], "オプション:", "コマンド:", JA_CLI["cli.init.help"],
                 JA_CLI["cli.roster.help"], JA_CLI["cli.argparse.help"]):
        assert squeeze(text) in squeeze(ja.stdout)
    assert "usage" not in ja.stdout and "show this help" not in ja.stdout

    assert en.returncode == 0 and en.stdout.startswith("usage: safetynet")
    assert squeeze(EN_CLI["cli.init.help"]) in squeeze(en.stdout) and "使い方" not in en.stdout
    # the sandbox serves every registered channel's provider, and its help says which
    assert squeeze(f"({', '.join(registry.names())})") in squeeze(en.stdout)

    assert missing.returncode == 2
    assert missing.stderr.startswith("使い方: safetynet staff add")
    assert missing.stderr.endswith("\nsafetynet staff add: エラー: 次の引数が必要です: login, --role\n")
    assert "usage" not in missing.stderr and "error" not in missing.stderr
    assert choice.returncode == 2
    assert "引数 --format: 'pdf' は使えません（'json', 'csv', 'html' のいずれか）" in choice.stderr
    assert missing_en.stderr.startswith("usage: safetynet staff add")
    assert missing_en.stderr.endswith("\nsafetynet staff add: error: the following arguments are required: login, --role\n")


def test_messages_of_a_command_in_each_language(tmp_path: Path) -> None:
    # the city's database is there (every command but init refuses a missing one, in its own words)
    (tmp_path / "config.toml").write_text('[store]\npath = "var/safetynet.db"\n', encoding="utf-8")
    new_city(tmp_path / "config.toml")
    argv = ("campaign", "report", "1", "--format", "csv", "--encoding", "cp932")  # refused before the database
    ja = run("ja_JP.UTF-8", *argv, cwd=tmp_path)
    assert ja.returncode == 2 and ja.stderr == f"エラー: {JA_CLI['cli.report.encoding_needs_csv_file']}\n"
    en = run("C.UTF-8", *argv, cwd=tmp_path)
    assert en.returncode == 2 and en.stderr == f"error: {EN_CLI['cli.report.encoding_needs_csv_file']}\n"
    assert run("ja_JP.UTF-8", "triggers", "replay", "no-such-folder", cwd=tmp_path).stderr.startswith(
        "エラー: フォルダではありません: no-such-folder")


def test_every_commands_error_line_begins_in_the_terminals_language(tmp_path: Path) -> None:
    """The commands' own error lines said 「error: 安否確認 7 は見つかりません。」 amid Japanese (only
    argparse's usage error said エラー): the line's prefix is the catalog's too, in every command's
    error path (the command line's own, a roster file's, a replay's), and stays `error:` in English."""
    argv = (("campaign", "status", "7"),  # no city here: the command line's own refusal
            ("roster", "check", str(tmp_path / "none.csv")), ("triggers", "replay", "no-such-folder"))
    done = run_side_by_side([(lang, *a) for lang in ("ja_JP.UTF-8", "C.UTF-8") for a in argv], cwd=tmp_path)
    ja, en = done[:len(argv)], done[len(argv):]
    assert [(d.returncode, d.stderr[:5], "error:" in d.stderr) for d in ja] == [(2, "エラー: ", False)] * len(argv), ja
    assert ja[0].stderr == f"エラー: {t('ja', 'cli.no_config', folder=str(tmp_path))}\n"
    assert [(d.returncode, d.stderr[:7]) for d in en] == [(2, "error: ")] * len(argv), en


def test_a_campaign_refusal_in_each_language(tmp_path: Path) -> None:
    """The broadcast service's refusals are catalog texts: Japanese under a Japanese locale (they were English)."""
    (tmp_path / "config.toml").write_text('[store]\npath = "var/safetynet.db"\n', encoding="utf-8")
    new_city(tmp_path / "config.toml")
    ja = run("ja_JP.UTF-8", "campaign", "close", "7", cwd=tmp_path)
    assert (ja.returncode, ja.stderr) == (2, "エラー: 安否確認 7 は見つかりません。\n")
    en = run("C.UTF-8", "campaign", "close", "7", cwd=tmp_path)
    assert (en.returncode, en.stderr) == (2, "error: no campaign 7\n")
    ja = run("ja_JP.UTF-8", "campaign", "report", "7", cwd=tmp_path)  # the report's own look-up, as close's
    assert (ja.returncode, ja.stderr) == (2, "エラー: 安否確認 7 は見つかりません。\n")
    en = run("C.UTF-8", "campaign", "report", "7", cwd=tmp_path)
    assert (en.returncode, en.stderr) == (2, "error: no campaign 7\n")


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def _contact_options(lang: str) -> set[str]:
    """`staff add`'s contact options (one per roster column), each a catalog text filled with its kind's label."""
    return {t(lang, "cli.staff.add.contact", kind=t(lang, registry.kind(c.kind).label_key))
            for c in registry.roster_columns()}


def _sandbox_help(lang: str) -> set[str]:
    """The sandbox command's help: a catalog text filled with the registered channels."""
    return {t(lang, "cli.sandbox.help", channels=", ".join(registry.names()))}


def test_every_help_text_of_the_product_commands_comes_from_the_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    for lang, texts in (("ja_JP.UTF-8", set(JA_CLI.values()) | _contact_options("ja") | _sandbox_help("ja")),
                        ("C.UTF-8", set(EN_CLI.values()) | _contact_options("en") | _sandbox_help("en"))):
        monkeypatch.setenv("LANG", lang)
        seen = 0
        for path, parser in _parsers(cli.build_parser()):
            if path and path[0] not in PRODUCT:
                continue
            shown = [parser.description] + [a.help for a in parser._actions]
            shown += [a.help for a in parser._actions if isinstance(a, argparse._SubParsersAction)
                      for a in a._choices_actions]
            for text in shown:
                if text is None or text == argparse.SUPPRESS:
                    continue
                assert text in texts or text in AS_TYPED, (lang, path, text)
                seen += 1
        assert seen > 100, lang
