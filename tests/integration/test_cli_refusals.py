"""What the command line refuses, with a clear message and nothing written (the CLI audit's second round):
logins, names and labels that cannot be shown or typed, impossible numbers and dates, paths that are
folders where a file belongs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from roster_helpers import init_city

from safetynet.cli import main
from safetynet.config import load_config
from safetynet.domain import Role
from safetynet.domain.roster import StaffInputError
from safetynet.store import store_session


@pytest.fixture
def city(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    c = init_city(tmp_path)
    capsys.readouterr()
    return c


def _listed(c: list[str], capsys: pytest.CaptureFixture[str], what: str) -> str:
    capsys.readouterr()
    assert main([*c, what, "list"]) == 0
    return capsys.readouterr().out


def _refused(c: list[str], capsys: pytest.CaptureFixture[str], argv: list[str], prefix: str = "error: ") -> str:
    assert main([*c, *argv]) == 2, argv
    err = capsys.readouterr().err
    assert err.startswith(prefix) and "Traceback" not in err, err
    return err


LOGIN_RULE = "a login is 1 to 64 characters: letters A-Z a-z, digits, and . _ - @"


@pytest.mark.parametrize("login", ["", "ta naka", "ta\x1bnaka", "tanaka\x00", "a" * 5000, "田中", "a" * 65])
def test_staff_add_refuses_a_login_that_is_not_short_plain_text(
        city: list[str], capsys: pytest.CaptureFixture[str], login: str) -> None:
    before = _listed(city, capsys, "staff")
    err = _refused(city, capsys, ["staff", "add", login, "--role", "city_admin"])
    assert LOGIN_RULE in err
    assert "\x1b" not in err and "\x00" not in err and len(err) < 300  # named, never echoed raw
    assert _listed(city, capsys, "staff") == before


def test_a_login_of_64_plain_characters_is_taken(city: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    login = "tanaka.ichiro-01_@" + "x" * 46
    assert main([*city, "staff", "add", login, "--role", "city_admin"]) == 0
    assert login in _listed(city, capsys, "staff")


@pytest.mark.parametrize(("name", "said"), [
    ("\u202eevil", "--name contains U+202E (RIGHT-TO-LEFT OVERRIDE) at character 1"),
    ("田中\x1b[31m一郎", "--name contains U+001B (ESC) at character 3"),
    ("名" * 101, "--name has 101 characters; at most 100 are allowed"),
])
def test_staff_add_refuses_a_name_with_control_characters_or_too_long(
        city: list[str], capsys: pytest.CaptureFixture[str], name: str, said: str) -> None:
    before = _listed(city, capsys, "staff")
    assert said in _refused(city, capsys, ["staff", "add", "tanaka", "--role", "city_admin", "--name", name])
    assert _listed(city, capsys, "staff") == before


@pytest.mark.parametrize(("label", "said"), [
    ("\x1b]0;owned\x07", "--label contains U+001B (ESC) at character 1"),
    ("x" * 100_000, "--label has 100000 characters; at most 200 are allowed"),
])
def test_token_create_refuses_a_label_with_control_characters_or_too_long(
        city: list[str], capsys: pytest.CaptureFixture[str], label: str, said: str) -> None:
    before = _listed(city, capsys, "token")
    assert said in _refused(city, capsys, ["token", "create", "--role", "city_admin", "--label", label])
    assert _listed(city, capsys, "token") == before


def test_the_refusals_speak_japanese_under_a_japanese_locale(
        city: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert "ログイン名 'ta naka' は使えません" in _refused(city, capsys, ["staff", "add", "ta naka", "--role", "city_admin"], "エラー: ")
    assert "制御文字 U+202E" in _refused(city, capsys, ["staff", "add", "tanaka", "--role", "city_admin",
                                                       "--name", "\u202ex"], "エラー: ")
    assert "--label が 201 文字あります" in _refused(city, capsys, ["token", "create", "--role", "city_admin",
                                                                "--label", "x" * 201], "エラー: ")
    assert "ログイン名" in _refused(city, capsys, ["init", "--admin-login", "bou sai"], "エラー: ")


def test_the_store_refuses_them_too_for_the_admin_page(city: list[str]) -> None:
    """The web form's staff go through the same store call: one rule for every way staff are made."""
    cfg = load_config(Path(city[1]))

    async def run() -> list[str]:
        refused = []
        async with store_session(cfg) as store:
            for login, name in (("ta naka", "x"), ("", "x"), ("tanaka", "\u202eevil"), ("tanaka", "x" * 101)):
                try:
                    await store.auth.add_staff(login, name, Role.CITY_ADMIN, "city", None)
                except StaffInputError as e:
                    refused.append(str(e))
            assert [s.login for s in await store.auth.list_staff()] == ["admin"]
        return refused

    refused = asyncio.run(run())
    assert len(refused) == 4 and "a login is 1 to 64 characters" in refused[0]
    assert "U+202E" in refused[2] and "at most 100" in refused[3]


def _traceback_free(err: str) -> str:
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(("argv", "said"), [
    (["audit", "export", "--until", "9999-12-31"], "--until '9999-12-31': the day is out of range"),
    (["audit", "export", "--since", "2026-02-01", "--until", "2026-01-31"],
     "--since 2026-02-01 is after --until 2026-01-31"),
    (["campaign", "preview", "{tmp}"], "is a folder: name a scenario file (.toml)"),
    (["serve", "--host", "999.1.1.1"], "server host '999.1.1.1' is not an address this machine can listen on"),
])
def test_impossible_days_hosts_and_folders_are_clear_errors(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert said in _traceback_free(_refused(city, capsys, argv))


@pytest.mark.parametrize("argv", [
    ["roster", "generate", "--households", "10", "--per-association", "0", "--output", "{tmp}/r.csv"],
    ["roster", "generate", "--households", "10", "--per-district", "0", "--output", "{tmp}/r.csv"],
    ["bench", "citywide", "--households", "-1"],
    ["demo", "--households", "0"],
    ["demo", "--push-share", "2"],
    ["demo", "--email-share", "nan"],
    ["sandbox", "--fail-5xx", "2"],
    ["bench", "citywide", "--answer-share", "-0.1"],
])
def test_counts_below_one_and_shares_outside_0_to_1_are_refused_at_parsing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "out of range: at least 1" in err or "is not a share: a number from 0 to 1" in err, err
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.sqlite_only
def test_a_secret_key_that_is_a_folder_is_a_clear_error(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    key = tmp_path / "var" / "secret.key"
    key.unlink()
    key.mkdir()
    err = _refused(city, capsys, ["staff", "list"])
    assert f"the secret key {key} cannot be read (a folder)" in err


@pytest.mark.sqlite_only
def test_init_where_the_data_folder_is_a_file_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[store]\npath = "var/sn.db"\n', encoding="utf-8")
    (tmp_path / "var").write_text("not a folder\n", encoding="utf-8")
    err = _refused(["--config", str(cfg)], capsys, ["init", "--admin-password", "kinkyu-renraku-mou"])
    assert f"cannot make the city's keys in {tmp_path / 'var'}" in err
    assert (tmp_path / "var").read_text(encoding="utf-8") == "not a folder\n"


def _init_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], store_path: str) -> str:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[store]\npath = "{store_path}"\n', encoding="utf-8")
    return _refused(["--config", str(cfg)], capsys, ["init", "--admin-password", "kinkyu-renraku-mou"])


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="Linux's sysfs: no folder can be made in it, even by root")
def test_init_into_a_folder_it_may_not_write_names_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests run as root, whom chmod does not stop; sysfs refuses a new folder to anyone
    (PermissionError, or read-only where it is mounted so)."""
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    folder = Path("/sys/kernel/safetynet-test-city")
    err = _init_refused(tmp_path, capsys, f"{folder}/sn.db")
    assert f"cannot make the city's keys in {folder} (" in err
    assert "it must be a folder this user can write" in err
    assert not folder.exists()


@pytest.mark.sqlite_only
def test_init_that_fails_half_way_leaves_no_keys_behind(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret key made, then the VAPID key refused (a folder that turned read-only, a full disk):
    a half set of keys would be kept by the next `init`, so what this one made is removed."""
    from safetynet.channels.webpush import vapid

    def refused(data_dir: Path) -> None:
        (data_dir / vapid.VAPID_KEY_FILE).write_bytes(b"")  # a part written before the refusal
        raise PermissionError(13, "Permission denied", str(data_dir / vapid.VAPID_KEY_FILE))

    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    monkeypatch.setattr(vapid, "load_or_create_vapid", refused)
    (tmp_path / "srv").mkdir()
    err = _init_refused(tmp_path, capsys, "srv/city/var/sn.db")
    assert f"cannot make the city's keys in {tmp_path / 'srv' / 'city' / 'var'} (Permission denied)" in err
    assert list((tmp_path / "srv").iterdir()) == []  # the folders it made are gone too, not only the keys


@pytest.mark.sqlite_only
def test_init_leaves_the_folder_as_it_was_when_a_key_cannot_be_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    var = tmp_path / "var"
    (var / "vapid_private.pem").mkdir(parents=True)  # a folder where the VAPID key belongs
    (var / "notes.txt").write_text("the operator's\n", encoding="utf-8")
    err = _init_refused(tmp_path, capsys, "var/sn.db")
    assert f"cannot make the city's keys in {var} (" in err
    assert sorted(p.name for p in var.iterdir()) == ["notes.txt", "vapid_private.pem"]  # no secret.key left
