"""What the command line says before a command can run, on the night it is needed (QA walking the README
after an earthquake): run from the wrong folder, with the city's keys missing, on a port already taken, on a
database that cannot be written, or stopped with Ctrl-C at once."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from locale_helpers import terminal_locale
from pg_helpers import ON_POSTGRES, SERVER, PgReader
from ports import free_port, listening_socket
from roster_helpers import init_city, new_city

from safetynet import servecmd
from safetynet.admin import shown_database
from safetynet.cli import main
from safetynet.config import load_config
from safetynet.i18n import t
from safetynet.store import store_session
from safetynet.store.postgres.db import redact

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "roster-sample.csv"
DRILL = REPO / "drills" / "citywide-earthquake.toml"
PASSWORD = "kinkyu-renraku-mou"


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder that is not the SafetyNet folder, the current one, with no config named anywhere."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for name in ("SAFETYNET_CONFIG", "SAFETYNET_STORE_URL", "SAFETYNET_STORE_PATH"):
        monkeypatch.delenv(name, raising=False)
    terminal_locale(monkeypatch, "C.UTF-8")
    return folder


# -- 1. no config file: the commands that need the city say so, not "run init" ---------------------------

@pytest.mark.parametrize("argv", [
    ["campaign", "list"], ["campaign", "start", str(DRILL)], ["roster", "import", str(SAMPLE)],
    ["roster", "letters", "--output", "letters.pdf"], ["staff", "add", "tanaka", "--role", "city_admin"],
    ["staff", "list"], ["token", "list"], ["serve"], ["privacy", "purge"], ["audit", "export", "--output", "a.csv"],
    ["store", "copy", "--to", "postgresql://db/safetynet"],
])
def test_a_command_on_the_city_run_from_another_folder_says_there_is_no_config_file(
        elsewhere: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"error: {t('en', 'cli.no_config', folder=str(elsewhere))}\n"
    assert "safetynet init" not in err and "--config" in err
    assert list(elsewhere.iterdir()) == []  # no second city, not even its folder


def test_the_same_in_japanese(elsewhere: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert main(["campaign", "list"]) == 2
    err = capsys.readouterr().err
    assert f"このフォルダ（{elsewhere}）に config.toml がない" in err and "SAFETYNET_CONFIG" in err


def test_init_keeps_the_default_and_says_how_the_other_commands_find_the_city(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`init` makes a city: where no config file is, it does so on the embedded default (./var), saying so
    first. The other commands find it from this folder (its database is where the defaults say: a city
    made so before the check, a systemd unit's WorkingDirectory, keeps working), not from another."""
    assert main(["init", "--admin-password", PASSWORD]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(t("en", "cli.init.no_config", folder=str(elsewhere), data=str(elsewhere / "var")))
    assert (elsewhere / "var" / "safetynet.db").exists() and "created city admin 'admin'" in captured.out
    assert main(["staff", "list"]) == 0
    assert capsys.readouterr().out.startswith("admin\tcity_admin")
    (elsewhere / "sub").mkdir()
    os.chdir(elsewhere / "sub")
    assert main(["staff", "list"]) == 2
    assert "no config.toml in this folder" in capsys.readouterr().err


def test_commands_that_need_no_city_run_without_a_config_file(
        elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["roster", "check", str(SAMPLE)]) == 0
    assert main(["roster", "generate", "--households", "5", "--output", "r.csv"]) == 0
    assert "config.toml" not in capsys.readouterr().err
    assert sorted(p.name for p in elsewhere.iterdir()) == ["r.csv"]


def test_a_config_named_by_option_or_environment_or_a_store_named_in_the_environment_is_found(
        elsewhere: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "city").mkdir()
    c = init_city(tmp_path / "city")
    assert main([*c, "staff", "list"]) == 0
    monkeypatch.setenv("SAFETYNET_CONFIG", c[1])
    assert main(["staff", "list"]) == 0
    monkeypatch.delenv("SAFETYNET_CONFIG")
    # a deployment configured by its environment alone: the store is named, the rest is the default
    monkeypatch.setenv("SAFETYNET_STORE_PATH", str(tmp_path / "city" / "var" / "sn.db"))
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", "k" + "0123456789abcdefghijklmnopqrstuvwxyz")
    assert main(["staff", "list"]) == 0
    assert capsys.readouterr().out.count("admin\tcity_admin") == 3
    assert list(elsewhere.iterdir()) == []


# -- 2. the city's secret key gone: bring it back from the backup, not `init` ----------------------------

@pytest.fixture
def city(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    terminal_locale(monkeypatch, "C.UTF-8")
    c = init_city(tmp_path)
    assert main([*c, "roster", "import", str(SAMPLE)]) == 0
    capsys.readouterr()
    return c


@pytest.mark.parametrize("argv", [["roster", "letters", "--output", "{tmp}/l.pdf"], ["roster", "codes", "--output", "{tmp}/c.csv"],
                                  ["campaign", "start", str(DRILL)], ["serve", "--port", "0"]])
def test_a_city_whose_key_is_gone_is_told_to_restore_it_from_the_backup(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    key = tmp_path / "var" / "secret.key"
    key.rename(tmp_path / "moved.key")
    assert main([*city, *(a.replace("{tmp}", str(tmp_path)) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the city's data (") and f"its secret key {key} is not" in err
    assert f"put secret.key and vapid_private.pem back into {tmp_path / 'var'} from the backup" in err
    assert "run `safetynet init`" not in err and "Traceback" not in err
    # no new key made (the database's own files aside, which PostgreSQL has not)
    assert sorted(p.name for p in (tmp_path / "var").iterdir() if not p.name.startswith("sn.db")) == ["vapid_private.pem"]
    assert not (tmp_path / "l.pdf").exists() and not (tmp_path / "c.csv").exists()


def test_the_same_in_japanese_and_the_commands_that_need_no_key_still_run(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "var" / "secret.key").unlink()
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert main([*city, "roster", "letters", "--output", str(tmp_path / "l.pdf")]) == 2
    err = capsys.readouterr().err
    assert "秘密鍵" in err and "バックアップから secret.key と vapid_private.pem を" in err
    assert main([*city, "staff", "list"]) == 0 and main([*city, "campaign", "list"]) == 0


def test_a_database_with_no_city_yet_keeps_the_advice_to_run_init(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    terminal_locale(monkeypatch, "C.UTF-8")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[store]\npath = "var/sn.db"\n', encoding="utf-8")
    new_city(cfg)  # the tables, no admin, no keys: `init` was never run
    assert main(["--config", str(cfg), "serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "run `safetynet init`" in err and "backup" not in err


def _tables(cfg: Path) -> list[str]:
    """The tables of the database `cfg` names (this test's PostgreSQL schema in that pass), read outside SafetyNet."""
    if ON_POSTGRES:
        return sorted(r[0] for r in PgReader(os.environ["SAFETYNET_STORE_URL"]).execute("SELECT name FROM sqlite_master"))
    with contextlib.closing(sqlite3.connect(cfg.parent / "var" / "sn.db")) as con:
        return sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master"))


def test_serve_on_a_database_with_no_safetynet_tables_refuses_and_makes_none(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: a mistyped PostgreSQL name that is another, empty database: `serve` made an empty city there and
    ran it, silently. The README's order is `init` first (SQLite's missing file is refused the same way)."""
    terminal_locale(monkeypatch, "C.UTF-8")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[store]\npath = "var/sn.db"\n', encoding="utf-8")
    (tmp_path / "var").mkdir()
    if ON_POSTGRES:
        PgReader(os.environ["SAFETYNET_STORE_URL"]).execute("CREATE TABLE notes (x integer)")
    else:
        with contextlib.closing(sqlite3.connect(tmp_path / "var" / "sn.db")) as con:
            con.execute("CREATE TABLE notes (x integer)")  # another program's file
    db = shown_database(load_config(cfg))
    for lang, said in (("C.UTF-8", f"error: the database {db} has no SafetyNet tables (it is a new, empty database); "
                                   "nothing was started"),
                       ("ja_JP.UTF-8", f"エラー: データベース {db} には SafetyNet の表がありません")):
        terminal_locale(monkeypatch, lang)
        assert main(["--config", str(cfg), "serve", "--port", "0"]) == 2
        out, err = capsys.readouterr()
        assert err.startswith(said) and "`safetynet init`" in err and "Traceback" not in err, err
        assert "SafetyNet serving" not in out
        assert _tables(cfg) == ["notes"]


def _serve_once(c: list[str]) -> str:
    """`serve` started in a process of its own and stopped (SIGTERM) once it says it serves: its stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    env.update(LANG="C.UTF-8", PYTHONPATH=str(REPO))
    with subprocess.Popen([sys.executable, "-m", "safetynet", *c, "serve", "--port", "0"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("SafetyNet serving"):
                break
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def test_serve_on_a_city_with_no_roster_says_so_and_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A city set up but given no roster (or `init` run on a mistyped database): the server starts (the roster
    may come next), and says on one line which database holds nobody."""
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    c = init_city(tmp_path)
    db = shown_database(load_config(Path(c[1])))
    warning = t("en", "cli.serve.no_roster", db=db)
    assert warning.startswith(f"warning: the roster in the database {db} is empty (no associations, no households)")
    assert warning in _serve_once(c).splitlines()
    assert main([*c, "roster", "import", str(SAMPLE)]) == 0
    assert "the roster in the database" not in _serve_once(c)


def test_serve_says_at_start_when_the_triggers_scenario_cannot_be_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review: a trigger scenario whose ladder does not end with the door knock (made before that rule)
    was refused only when the earthquake's alert came, and the city-wide fallback went out instead,
    with one error in the log. `serve` says so when it starts; a usable one says nothing."""
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    c = init_city(tmp_path)
    assert main([*c, "roster", "import", str(SAMPLE)]) == 0
    (tmp_path / "feed").mkdir()
    (tmp_path / "coast.toml").write_text(
        'title = "津波"\n[messages]\nja = "津波です。"\n[[ladder]]\nafter_minutes = 0\nchannels = ["sms"]\n',
        encoding="utf-8")
    config = Path(c[1])
    base = config.read_text(encoding="utf-8")
    config.write_text(base + '\n[triggers.jma]\nwatch_dir = "feed"\nscenario = "coast.toml"\n', encoding="utf-8")
    said = [line for line in _serve_once(c).splitlines() if "triggers' scenario" in line]
    path = str(tmp_path / "coast.toml")
    assert said == [f"warning: the triggers' scenario {path} cannot be used ({path}"
                    + ": ladder[0]: the last step must be the door knock (door_knock = true): the households still"
                    " silent then go on their association's list, so that no one is left behind): an alert would"
                    " start a city-wide campaign with the fallback text and the default ladder instead. Fix it"
                    f" with `safetynet campaign preview {path}`"]
    (tmp_path / "coast.toml").write_text(
        'title = "津波"\n[messages]\nja = "津波です。"\n[[ladder]]\nafter_minutes = 0\nchannels = ["sms"]\n'
        '[[ladder]]\nafter_minutes = 30\ndoor_knock = true\n', encoding="utf-8")
    assert "triggers' scenario" not in _serve_once(c)


# -- 2b. a second machine without the city's web-push key: copy it, not a new one ------------------------

def _enrol_a_phone_for_push(config: str, *, gone: bool = False) -> None:
    """A household's phone subscribed to push (`gone`: and the push service has since said it is gone)."""
    async def enrol() -> None:
        async with store_session(load_config(Path(config))) as store:
            (first, *_) = await store.roster.letter_order(["city"], only_without_code=False)
            push = await store.roster.add_contact(first, "webpush", '{"endpoint":"https://fcm.googleapis.com/fcm/send/1"}')
            if gone:
                await store.roster.mark_contact_dead(push.id, "410 Gone")

    asyncio.run(enrol())


@pytest.fixture
def second_machine(city: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The city's data folder as a second machine set up by the README has it: the secret key given by
    SAFETYNET_SECRET_KEY, and no vapid_private.pem (it stayed on the first machine)."""
    var = tmp_path / "var"
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", (var / "secret.key").read_text().strip())
    (var / "secret.key").unlink()
    (var / "vapid_private.pem").rename(tmp_path / "first-machine.pem")
    return var


def _forget_the_keys(config: str) -> None:
    """The city's database as one from before the keys' fingerprints were recorded."""
    async def forget() -> None:
        async with store_session(load_config(Path(config))) as store:
            await store.db.execute("DELETE FROM key_fingerprints")  # type: ignore[attr-defined]

    asyncio.run(forget())


def _made_here(var: Path) -> list[str]:
    """The files of the data folder, the database's own aside (PostgreSQL has none)."""
    return sorted(p.name for p in var.iterdir() if not p.name.startswith("sn.db"))


def test_a_machine_without_the_push_key_of_a_city_with_phones_enrolled_refuses_to_make_another(
        city: list[str], second_machine: Path, capsys: pytest.CaptureFixture[str], taken: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A new key made on first use would sign pushes that no enrolled phone takes: `serve` (its sender and
    its enrolment page make one) and `init` refuse, saying to copy the first machine's key."""
    _enrol_a_phone_for_push(city[1])
    said = "error: " + t("en", "cli.push_key_lost", db=shown_database(load_config(Path(city[1]))),
                         key=str(second_machine / "vapid_private.pem"), folder=str(second_machine)) + "\n"
    # a command that signs nothing for push goes on, and makes no key either
    assert main([*city, "campaign", "start", str(DRILL)]) == 0
    capsys.readouterr()
    assert main([*city, "init"]) == 2
    assert capsys.readouterr() == ("", said)
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert main([*city, "serve", "--port", str(taken)]) == 2
    assert "プッシュ通知の鍵" in capsys.readouterr().err
    terminal_locale(monkeypatch, "C.UTF-8")
    # last: the code before this went on to the port (taken) and said so
    assert main([*city, "serve", "--port", str(taken)]) == 2
    assert capsys.readouterr().err == said
    assert _made_here(second_machine) == []  # no new key


def test_without_a_phone_enrolled_for_push_a_new_key_is_made_on_first_use(
        city: list[str], second_machine: Path, capsys: pytest.CaptureFixture[str], taken: int) -> None:
    """A city none of whose phones is bound to a key, and whose push key was never recorded (from before
    keys were: `admin.refuse_other_keys`), loses nothing by a new one: the commands go on, also when the only
    subscription is dead (the push service said it is gone)."""
    _enrol_a_phone_for_push(city[1], gone=True)
    _forget_the_keys(city[1])
    assert main([*city, "serve", "--port", str(taken)]) == 2  # past the keys, on to the port
    assert capsys.readouterr().err == "error: " + t("en", "cli.serve.port_in_use", address=f"127.0.0.1:{taken}",
                                                    section="[server]") + "\n"
    assert main([*city, "init"]) == 0
    assert f"created {second_machine / 'vapid_private.pem'}" in capsys.readouterr().out
    assert _made_here(second_machine) == ["vapid_private.pem"]


# -- 2c. a machine whose keys are not the city's: refused, not served with dead links ---------------------
# (a data folder is its database's on SQLite: the other machine's keys are put in the city's folder, or given
# by SAFETYNET_SECRET_KEY, as a second machine on the same PostgreSQL database would have its own)

def test_a_machine_with_another_secret_key_is_refused_by_every_command_that_signs(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        taken: int) -> None:
    """QA: a dispatcher started from another data folder with its own random key served normally, and every
    SMS link it sent said 「このリンクは無効か…」. The first `init` recorded the key's fingerprint (never the key)."""
    var = tmp_path / "var"
    city_key = (var / "secret.key").read_text()
    db = shown_database(load_config(Path(city[1])))
    (var / "secret.key").write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")  # another machine's key
    said = "error: " + t("en", "cli.key_mismatch", source=str(var / "secret.key"), db=db, folder=str(var)) + "\n"
    for argv in (["serve", "--port", str(taken)], ["roster", "codes", "--output", str(tmp_path / "c.csv")],
                 ["campaign", "start", str(DRILL)], ["init"]):
        assert main([*city, *argv]) == 2, argv
        assert capsys.readouterr() == ("", said), argv
    assert not (tmp_path / "c.csv").exists()
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", secrets.token_urlsafe(32))  # or given by the environment
    assert main([*city, "serve", "--port", str(taken)]) == 2
    assert capsys.readouterr().err.startswith("エラー: このマシンの秘密鍵（SAFETYNET_SECRET_KEY）は、データベース")
    # the city's key is the city's: past the keys, on to the port (taken)
    terminal_locale(monkeypatch, "C.UTF-8")
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", city_key.strip())
    assert main([*city, "serve", "--port", str(taken)]) == 2
    assert capsys.readouterr().err == "error: " + t("en", "cli.serve.port_in_use", address=f"127.0.0.1:{taken}",
                                                    section="[server]") + "\n"


def test_a_machine_with_another_push_key_is_refused_and_one_with_none_makes_none(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], taken: int) -> None:
    """QA: a second machine silently made its own vapid_private.pem, and 20 of 20 phones got 403 from their
    push service. The city's push key is recorded by `init`: another is refused, and none is made where
    the file is missing, phones enrolled or not yet."""
    from safetynet.channels.webpush.vapid import load_or_create_vapid

    var = tmp_path / "var"
    db = shown_database(load_config(Path(city[1])))
    (var / "vapid_private.pem").rename(tmp_path / "first-machine.pem")
    assert main([*city, "serve", "--port", str(taken)]) == 2
    assert capsys.readouterr().err == "error: " + t("en", "cli.push_key_lost", db=db, key=str(var / "vapid_private.pem"),
                                                    folder=str(var)) + "\n"
    assert main([*city, "init"]) == 2
    assert "vapid_private.pem" in capsys.readouterr().err
    assert _made_here(var) == ["secret.key"]
    load_or_create_vapid(var)  # another key, made here
    for argv in (["serve", "--port", str(taken)], ["init"]):
        assert main([*city, *argv]) == 2
        assert capsys.readouterr().err == "error: " + t("en", "cli.push_key_mismatch", key=str(var / "vapid_private.pem"),
                                                        db=db, folder=str(var)) + "\n"


def test_a_city_from_before_fingerprints_records_its_keys_on_first_use(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], taken: int) -> None:
    """A database with no fingerprint (an older city) takes the first signing command's keys, then holds them."""
    async def recorded() -> dict[str, str | None]:
        async with store_session(load_config(Path(city[1]))) as store:
            return {n: await store.coordination.recorded_key(n) for n in ("secret_key", "vapid_public")}

    _forget_the_keys(city[1])
    assert asyncio.run(recorded()) == {"secret_key": None, "vapid_public": None}
    assert main([*city, "serve", "--port", str(taken)]) == 2  # past the keys, on to the port
    assert "port" in capsys.readouterr().err
    from safetynet.admin import secret_key_fingerprint
    from safetynet.channels.webpush.vapid import load_or_create_vapid

    key = (tmp_path / "var" / "secret.key").read_text().strip()
    keys = asyncio.run(recorded())
    assert keys == {"secret_key": secret_key_fingerprint(key),
                    "vapid_public": load_or_create_vapid(tmp_path / "var").application_server_key}
    assert key not in str(keys)


def _recorded_keys(config: str) -> dict[str, str | None]:
    async def recorded() -> dict[str, str | None]:
        async with store_session(load_config(Path(config))) as store:
            return {n: await store.coordination.recorded_key(n) for n in ("secret_key", "vapid_public")}

    return asyncio.run(recorded())


def test_a_rotated_key_is_adopted_by_keys_adopt_and_the_old_one_is_refused_after(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        taken: int) -> None:
    """Reviewer: once a fingerprint was recorded, no other key could ever be used (a leaked key could not be
    rotated; an older city's first signing command could pin the wrong machine's). `keys adopt` says what it
    invalidates and does nothing without --yes; with it, this machine's keys are the city's, in the audit log."""
    from safetynet.admin import secret_key_fingerprint
    from safetynet.channels.webpush.vapid import load_or_create_vapid

    var = tmp_path / "var"
    old_key = (var / "secret.key").read_text()
    before = _recorded_keys(city[1])
    db = shown_database(load_config(Path(city[1])))
    new_key = secrets.token_urlsafe(32)
    (var / "secret.key").write_text(new_key + "\n", encoding="utf-8")  # rotated: a new key, no push key yet
    (var / "vapid_private.pem").unlink()
    assert main([*city, "serve", "--port", str(taken)]) == 2
    assert capsys.readouterr().err == "error: " + t("en", "cli.push_key_lost", db=db, key=str(var / "vapid_private.pem"),
                                                    folder=str(var)) + "\n"  # refused: no way on before
    assert main([*city, "keys", "adopt"]) == 2
    invalidated = ", ".join(t("en", f"cli.keys.adopt.invalidates.{n}") for n in ("secret_key", "vapid_public"))
    assert capsys.readouterr() == ("", "error: " + t("en", "cli.keys.adopt.confirm", db=db, source=str(var / "secret.key"),
                                                       key=str(var / "vapid_private.pem"), invalidated=invalidated) + "\n")
    assert _recorded_keys(city[1]) == before and _made_here(var) == ["secret.key"]  # nothing done
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert main([*city, "keys", "adopt"]) == 2
    err = capsys.readouterr().err
    assert "返信リンクと登録コード" in err and "--yes" in err and "\n" not in err.rstrip("\n")
    terminal_locale(monkeypatch, "C.UTF-8")
    assert main([*city, "keys", "adopt", "--yes"]) == 0
    assert capsys.readouterr().out == t("en", "cli.keys.adopt.done", db=db, folder=str(var),
                                        invalidated=invalidated) + "\n"
    assert _recorded_keys(city[1]) == {"secret_key": secret_key_fingerprint(new_key),
                                       "vapid_public": load_or_create_vapid(var).application_server_key}

    async def audited() -> list[tuple[str, str, str]]:
        async with store_session(load_config(Path(city[1]))) as store:
            return [(e.action, e.what, e.detail) for e in await store.audit.entries() if e.action == "keys"]

    assert asyncio.run(audited()) == [("keys", "adopt", "secret_key, vapid_public")]
    assert main([*city, "serve", "--port", str(taken)]) == 2  # the new keys: past them, on to the port
    assert capsys.readouterr().err == "error: " + t("en", "cli.serve.port_in_use", address=f"127.0.0.1:{taken}",
                                                    section="[server]") + "\n"
    assert main([*city, "keys", "adopt"]) == 0  # nothing to change: no --yes needed
    assert capsys.readouterr().out == t("en", "cli.keys.adopt.already", db=db) + "\n"
    (var / "secret.key").write_text(old_key, encoding="utf-8")  # the leaked key is refused from now on
    assert main([*city, "roster", "codes", "--output", str(tmp_path / "c.csv")]) == 2
    assert capsys.readouterr().err == "error: " + t("en", "cli.key_mismatch", source=str(var / "secret.key"),
                                                    db=db, folder=str(var)) + "\n"


def test_keys_adopt_without_a_secret_key_here_does_nothing(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    var = tmp_path / "var"
    before = _recorded_keys(city[1])
    (var / "secret.key").unlink()
    assert main([*city, "keys", "adopt", "--yes"]) == 2
    assert capsys.readouterr().err == "error: " + t("en", "cli.keys.adopt.no_secret_key", key=str(var / "secret.key"),
                                                    folder=str(var)) + "\n"
    assert _recorded_keys(city[1]) == before


# -- 3. a port already taken, an address not this machine's: one line, exit 2, nothing left open ---------

# The sandbox on a fixed port serves mail on [channels.email] port (8025 by default): a free one, so another
# sandbox running on this machine cannot decide these tests
_MAIL_ANYWHERE = {"SAFETYNET_CHANNELS_EMAIL_PORT": "0"}


def _run(argv: list[str], *, lang: str = "C.UTF-8", code: str = "",
         env_more: dict[str, str] = _MAIL_ANYWHERE) -> subprocess.CompletedProcess[str]:
    """`python -m safetynet ARGV` (or, with `code`, those lines first and then the CLI's main)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    env.update(LANG=lang, PYTHONPATH=str(REPO), **env_more)
    command = ["-m", "safetynet", *argv] if not code else [
        "-c", f"{code}\nimport sys\nfrom safetynet.cli import main\nsys.exit(main({argv!r}))"]
    return subprocess.run([sys.executable, *command], capture_output=True, text=True, env=env, timeout=60,
                          check=False)


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port another program listens on."""
    with listening_socket() as s:
        s.listen()
        yield int(s.getsockname()[1])


def test_serve_and_the_sandbox_on_a_port_in_use_say_so_in_one_line(
        city: list[str], taken: int) -> None:
    for argv, section in ((["serve", "--port", str(taken)], "[server]"), (["sandbox", "--port", str(taken)], "[sandbox]")):
        done = _run([*city, *argv])
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert done.stderr == "error: " + t("en", "cli.serve.port_in_use", address=f"127.0.0.1:{taken}",
                                              section=section) + "\n"
    done = _run([*city, "serve", "--port", str(taken)], lang="ja_JP.UTF-8")
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"エラー: 127.0.0.1:{taken} で待ち受けられません: 別のプログラム（別の SafetyNet かもしれません）がこのポートを使っています。"
        "そのプログラムを止めるか、config.toml の [server] port（または --port）で別のポートを指定してください"]


def test_taken_between_the_check_and_the_start_it_is_the_same_line_and_nothing_is_left_open(
        city: list[str], taken: int) -> None:
    """The port checked free and taken before the server binds it: the bind's own error, said the same way,
    after everything started is stopped (the sandbox's client session was left unclosed)."""
    for command, module, section in (("serve", "safetynet.servecmd", "[server]"),
                                      ("sandbox", "safetynet.sandbox.server", "[sandbox]")):
        done = _run([*city, command, "--port", str(taken)], code=f"import {module} as m\nm.check_listen = lambda *a: None")
        assert done.returncode == 2, done.stderr
        lines = [line for line in done.stderr.splitlines() if not line.startswith("{")]  # serve's JSON log lines
        assert lines == ["error: " + t("en", "cli.serve.port_in_use", address=f"127.0.0.1:{taken}", section=section)]
        assert "Unclosed" not in done.stderr and "Traceback" not in done.stderr


def test_the_sandbox_whose_mail_port_is_taken_names_that_port_and_leaves_nothing_open(
        city: list[str], taken: int) -> None:
    """Its own port free, the mail server's taken (another sandbox's 8025): the line names the mail port and
    [channels.email], not the sandbox's port and --port, and the client session it had opened is closed."""
    done = _run([*city, "sandbox", "--port", str(free_port())], env_more={"SAFETYNET_CHANNELS_EMAIL_PORT": str(taken)})
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr == "error: " + t("en", "cli.serve.cannot_listen_configured", address=f"127.0.0.1:{taken}",
                                        section="[channels.email]", reason="address already in use") + "\n"


def test_an_address_that_is_not_this_machines_or_a_port_it_may_not_use(
        city: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    done = _run([*city, "serve", "--host", "192.0.2.1", "--port", "8080"])  # TEST-NET-1: never a local address
    assert done.returncode == 2 and done.stderr == "error: " + t(
        "en", "cli.serve.address_unavailable", address="192.0.2.1:8080", host="192.0.2.1", section="[server]") + "\n"

    class Refused(socket.socket):
        def bind(self, address: object) -> None:
            raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("safetynet.config.socket.socket", Refused)  # root may bind port 80: be a user who may not
    assert main([*city, "serve", "--port", "80"]) == 2
    assert capsys.readouterr().err == "error: " + t("en", "cli.serve.port_denied", address="127.0.0.1:80",
                                                    section="[server]") + "\n"
    assert main([*city, "sandbox", "--port", "80"]) == 2
    assert "this user may not use this port" in capsys.readouterr().err


# -- 4. a database that cannot be written: which file, and what to check -------------------------------

@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` not writable, for this user: its mode, or for root (whom modes do not stop) the immutable flag."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.sqlite_only
def test_commands_on_a_read_only_database_name_the_file_and_what_to_check(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "var" / "sn.db"
    said = "error: " + t("en", "cli.db_unwritable", path=str(db), reason="attempt to write a readonly database") + "\n"
    with read_only(db):
        for argv in (["staff", "add", "yamada", "--role", "city_admin"], ["campaign", "start", str(DRILL)],
                     ["privacy", "purge"], ["roster", "import", str(SAMPLE)]):
            assert main([*city, *argv]) == 2, argv
            assert capsys.readouterr().err.endswith(said), argv  # after the store's own log line
        assert main([*city, "staff", "list"]) == 0  # reading is fine
        terminal_locale(monkeypatch, "ja_JP.UTF-8")
        assert main([*city, "staff", "add", "yamada", "--role", "city_admin"]) == 2
        assert f"データベース {db} に書き込めません" in capsys.readouterr().err


@pytest.mark.sqlite_only
def test_serve_refuses_to_start_on_a_database_it_cannot_write(
        city: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Pages without answers on a disaster night: the server does not start, and says why."""
    db = tmp_path / "var" / "sn.db"
    with read_only(db):
        assert main([*city, "serve", "--port", "0"]) == 2
    out, err = capsys.readouterr()
    assert "SafetyNet serving" not in out
    assert err.endswith("error: " + t("en", "cli.serve.db_unwritable", path=str(db),
                                      reason="attempt to write a readonly database") + "\n")  # after the store's log line
    servecmd._check_writable(load_config(city[1]))  # where it can write, it passes and leaves nothing
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert servecmd.WRITE_CHECK_LEASE not in "\n".join(conn.iterdump())


# -- 4b. a PostgreSQL database that would not open: what to check, never its password ----------------------

def _on(tmp_path: Path, url: str) -> list[str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    return ["--config", str(cfg)]


@pytest.fixture
def pg_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store is the one the config file names, whichever pass this is; an English terminal."""
    monkeypatch.delenv("SAFETYNET_STORE_URL", raising=False)
    terminal_locale(monkeypatch, "C.UTF-8")


@pytest.mark.parametrize("argv", [["campaign", "list"], ["staff", "list"], ["init"]])
def test_a_database_that_does_not_exist_is_named_with_createdb(
        pg_named: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        argv: list[str]) -> None:
    name = f"safetynet_none_{uuid.uuid4().hex[:8]}"
    url = f"{SERVER}/{name}"
    assert main([*_on(tmp_path, url), *argv]) == 2
    err = capsys.readouterr().err
    server = urlsplit(SERVER)
    assert err == "error: " + t("en", "cli.pg_no_database", url=redact(url), name=name,
                                address=f"{server.hostname}:{server.port or 5432}",
                                setting="[store] url / SAFETYNET_STORE_URL") + "\n"
    assert f"has no database named {name}" in err and f"(`createdb {name}`" in err
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert main([*_on(tmp_path, url), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("エラー: ") and f"に {name} というデータベースがありません" in err
    assert f"`createdb {name}`" in err and "[store] url / SAFETYNET_STORE_URL" in err


def test_a_port_nobody_listens_on_says_to_check_that_postgresql_runs_there_and_hides_the_password(
        pg_named: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    url = f"postgresql://safetynet:hunter2-kanri@127.0.0.1:{port}/safetynet"
    assert main([*_on(tmp_path, url), "campaign", "list"]) == 2
    err = capsys.readouterr().err
    assert err == "error: " + t("en", "cli.pg_refused", url=f"postgresql://safetynet:***@127.0.0.1:{port}/safetynet",
                                address=f"127.0.0.1:{port}", host="127.0.0.1", port=port,
                                setting="[store] url / SAFETYNET_STORE_URL") + "\n"
    assert f"nothing takes connections at 127.0.0.1:{port}" in err and f"pg_isready -h 127.0.0.1 -p {port}" in err
    assert "hunter2" not in err
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert main([*_on(tmp_path, url), "campaign", "list"]) == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port} で接続を受け付けているものがありません" in err and "PostgreSQL がそこで動いているか" in err
    assert "hunter2" not in err


def test_store_copy_to_a_port_nobody_listens_on_names_the_to_option(
        pg_named: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    city = init_city(tmp_path)  # a SQLite city to copy from
    capsys.readouterr()
    port = free_port()
    assert main([*city, "store", "copy", "--to", f"postgresql://sn:hunter2-kanri@127.0.0.1:{port}/sn"]) == 2
    err = capsys.readouterr().err
    assert f"nothing takes connections at 127.0.0.1:{port}" in err and "names the right host and port" in err
    assert "that --to names" in err and "hunter2" not in err


# -- 5. Ctrl-C at once: exit 130, nothing printed ---------------------------------------------------------

# Ctrl-C (SIGINT to the process itself) at the moment a module is imported: while the CLI loads, while
# `main` reads the config and checks the database, and while the command itself loads.
CTRL_C_AT = '''
import os, signal, sys
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, CtrlC())
'''


@pytest.mark.parametrize("module", ["safetynet.channels.registry", "safetynet.config", "safetynet.admin",
                                    "safetynet.store", "safetynet.broadcast.commands"])
def test_ctrl_c_in_the_first_second_exits_130_without_a_traceback(city: list[str], module: str) -> None:
    done = _run([*city, "campaign", "list"], code=CTRL_C_AT.format(module=module))
    # Caught by `main`, it returns 130; before `main` runs, Python ends the process by SIGINT itself,
    # which the shell shows as 130 too (128 + the signal)
    shown = 128 - done.returncode if done.returncode < 0 else done.returncode
    assert (shown, done.stdout, done.stderr) == (130, "", "")


def test_ctrl_c_while_the_parser_or_the_config_loads_returns_130(
        city: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    for target in ("safetynet.cli.load_config", "safetynet.cli.build_parser"):
        with monkeypatch.context() as m:
            m.setattr(target, interrupted)
            assert main([*city, "staff", "list"]) == 130
        assert capsys.readouterr() == ("", "")
