"""`init`, `staff` and `token` from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiosqlite
import pytest
from locale_helpers import terminal_locale
from py_vapid import Vapid02

from safetynet import admin
from safetynet.auth import hash_password, verify_password
from safetynet.channels.webpush import vapid
from safetynet.channels.webpush.vapid import VAPID_KEY_FILE
from safetynet.cli import main
from safetynet.config import Config, load_config
from safetynet.domain import Role
from safetynet.domain.roster import Staff
from safetynet.i18n import t
from safetynet.store import Store, store_session
from safetynet.store.sqlite.db import _migrate, _migrations

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "roster-sample.csv"
ADMIN_PW = "kinkyu-renraku-mou"
STAFF_PW = "chonai-no-mado-guchi"


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text('[store]\npath = "data/sn.db"\n', encoding="utf-8")
    return p


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if not p.name.endswith(("-wal", "-shm"))}


def test_init_creates_keys_private_and_twice_changes_nothing(
    cfg_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = cfg_path.parent / "data"
    assert main(["--config", str(cfg_path), "init"]) == 0
    first = capsys.readouterr().out
    assert "admin password (shown once):" in first
    for name in ("secret.key", "vapid_private.pem"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    before = _files(data)
    assert main(["init", "--config", str(cfg_path)]) == 0  # --config after the command works too
    assert "nothing changed" in capsys.readouterr().out
    after = _files(data)
    assert before.keys() == after.keys()
    assert before["secret.key"] == after["secret.key"] and before["vapid_private.pem"] == after["vapid_private.pem"]
    assert main(["--config", str(cfg_path), "staff", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in listing] == [["admin", "city_admin", "city"]]


def test_init_with_the_keys_gone_refuses_to_make_new_ones_for_a_city(
    cfg_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: `init` on a rebuilt server (same database, new data folder) made a new secret.key without a
    word, and every printed letter's code then said 正しくありません."""
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    data = cfg_path.parent / "data"
    assert main(["--config", str(cfg_path), "init"]) == 0
    capsys.readouterr()
    key = (data / "secret.key").read_text()
    (data / "secret.key").rename(cfg_path.parent / "kept.key")  # the new host: the database, not the keys
    assert main(["--config", str(cfg_path), "init"]) == 2
    err = capsys.readouterr().err
    assert "secret.key" in err and "vapid_private.pem" in err and "SAFETYNET_SECRET_KEY" in err
    assert not (data / "secret.key").exists()  # nothing created
    (cfg_path.parent / "kept.key").rename(data / "secret.key")
    assert main(["--config", str(cfg_path), "init"]) == 0 and (data / "secret.key").read_text() == key
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", key.strip())  # the city's key from the environment: nothing to refuse
    (data / "secret.key").unlink()
    assert main(["--config", str(cfg_path), "init"]) == 0


def test_the_first_admin_init_makes_is_in_the_audit_log_as_every_staff_member_added(
    cfg_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA (README: every staff member added is recorded): the city admin `init` made was the one missing."""
    from safetynet.auth import command_line_actor

    assert main(["--config", str(cfg_path), "init", "--admin-login", "bousai"]) == 0
    assert main(["--config", str(cfg_path), "init"]) == 0  # an admin there: nothing made, nothing recorded
    assert main(["--config", str(cfg_path), "staff", "add", "tanaka", "--role", "city_admin",
                 "--password", "kinkyu-renraku-mou"]) == 0

    async def entries() -> list[tuple[str, str, str, str]]:
        async with admin.store_session(load_config(cfg_path)) as store:
            return [(e.actor, e.action, e.what, e.detail) for e in await store.audit.entries()]

    actor = command_line_actor()
    assert asyncio.run(entries()) == [(actor, "staff", "add", "bousai city_admin city"),
                                      (actor, "staff", "add", "tanaka city_admin city")]


def _other_init_writes_its_key(data: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Another `init` running beside this one writes its web-push key between this one's look and its write
    (the interleaving, without timing): the key file's content it leaves."""
    theirs = Vapid02()
    theirs.generate_keys()

    class KeyMadeByTheOtherInit(Vapid02):  # ours is generated; theirs lands in the folder first
        def generate_keys(self) -> None:
            super().generate_keys()
            (data / VAPID_KEY_FILE).write_bytes(theirs.private_pem())

    monkeypatch.setattr(vapid, "Vapid02", KeyMadeByTheOtherInit)
    return bytes(theirs.private_pem())


def test_two_inits_at_once_the_second_says_the_first_made_the_city(
    cfg_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: two `safetynet init` at once on a new PostgreSQL database; one ended in a traceback ("login 'admin'
    already exists"). Here the other `init` makes its admin between this one's count and its write."""
    data = cfg_path.parent / "data"
    other_init_key = _other_init_writes_its_key(data, monkeypatch)
    real_session = admin.store_session

    @contextlib.asynccontextmanager
    async def admin_made_by_the_other_init(cfg: Config) -> AsyncIterator[Store]:
        async with real_session(cfg) as store:
            ours = store.auth.add_staff

            async def add_staff(*args: Any, **kwargs: Any) -> Staff:
                await ours("admin", "other", Role.CITY_ADMIN, "city", hash_password(ADMIN_PW))
                return await ours(*args, **kwargs)

            monkeypatch.setattr(store.auth, "add_staff", add_staff)
            yield store

    monkeypatch.setattr(admin, "store_session", admin_made_by_the_other_init)
    assert main(["--config", str(cfg_path), "init"]) == 2
    said = t("en", "cli.init.raced", login="admin")
    assert capsys.readouterr() == ("", f"error: {said}\n")  # no password, no "created", no traceback
    assert (data / VAPID_KEY_FILE).read_bytes() == other_init_key  # theirs is kept
    monkeypatch.undo()
    assert main(["--config", str(cfg_path), "init"]) == 0
    assert capsys.readouterr().out == t("en", "cli.init.nothing") + "\n"
    assert main(["--config", str(cfg_path), "staff", "list"]) == 0
    assert [line.split("\t")[:2] for line in capsys.readouterr().out.splitlines()] == [["admin", "city_admin"]]


def test_a_key_another_init_made_at_the_same_moment_is_not_said_to_be_made_here(
    cfg_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: both `init` printed "created …/vapid_private.pem"; only the one whose file is in the folder made it."""
    assert main(["--config", str(cfg_path), "init"]) == 0
    data = cfg_path.parent / "data"
    (data / VAPID_KEY_FILE).unlink()  # no phone enrolled yet, a city from before keys were recorded: a new key is made

    async def forget_the_recorded_push_key() -> None:
        async with admin.store_session(load_config(cfg_path)) as store:
            await store.db.execute("DELETE FROM key_fingerprints WHERE name = ?", (admin.PUSH_KEY,))  # type: ignore[attr-defined]

    asyncio.run(forget_the_recorded_push_key())
    capsys.readouterr()
    theirs = _other_init_writes_its_key(data, monkeypatch)
    assert main(["--config", str(cfg_path), "init"]) == 0
    assert capsys.readouterr().out == t("en", "cli.init.nothing") + "\n"
    assert (data / VAPID_KEY_FILE).read_bytes() == theirs


@pytest.mark.sqlite_only
def test_init_on_a_database_of_an_older_schema_says_which_migrations_it_applied(
    cfg_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA: after an upgrade, `init` on the city's database printed "already initialised; nothing changed"
    while it applied migrations."""
    cfg = load_config(cfg_path)
    admin.ensure_keys(cfg)
    newest = _migrations()[-2:]

    async def city_of_the_release_before() -> None:
        async with aiosqlite.connect(cfg.db_path, isolation_level=None) as conn:
            await _migrate(conn, _migrations()[:-2])
            await conn.execute("INSERT INTO staff (login, display_name, role, scope, created_at)"
                               " VALUES ('admin', '管理者', 'city_admin', 'city', 0)")

    asyncio.run(city_of_the_release_before())
    assert main(["--config", str(cfg_path), "init"]) == 0
    names = ", ".join(f"{v:04d}_{n}" for v, n, _ in newest)
    assert capsys.readouterr().out == t("en", "cli.init.migrated", count=2, migrations=names) + "\n"
    assert main(["--config", str(cfg_path), "init"]) == 0
    assert capsys.readouterr().out == t("en", "cli.init.nothing") + "\n"


def test_staff_roles_scopes_and_the_three_deputy_limit(
    cfg_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = ["--config", str(cfg_path)]
    assert main([*c, "init", "--admin-password", ADMIN_PW]) == 0
    assert main([*c, "roster", "import", str(SAMPLE)]) == 0
    capsys.readouterr()
    assoc = SAMPLE.read_text(encoding="utf-8-sig").splitlines()[1].split(",")[1]
    scope = f"association:{assoc}"
    assert main([*c, "staff", "add", "head", "--role", "association_head", "--scope", scope, "--password", STAFF_PW]) == 0
    for i in range(3):
        assert main([*c, "staff", "add", f"dep{i}", "--role", "deputy", "--scope", scope, "--password", STAFF_PW]) == 0
    capsys.readouterr()
    assert main([*c, "staff", "add", "dep3", "--role", "deputy", "--scope", scope, "--password", STAFF_PW]) == 2
    assert "already has 3 deputies" in capsys.readouterr().err
    assert main([*c, "staff", "add", "x", "--role", "deputy", "--scope", "association:どこにもない町会"]) == 2
    assert "no association named" in capsys.readouterr().err
    assert main([*c, "staff", "add", "x", "--role", "district_head", "--scope", scope]) == 2
    assert "a district head works over district (e.g. --scope district:NAME)" in capsys.readouterr().err
    assert main([*c, "staff", "remove", "dep0"]) == 0
    assert main([*c, "staff", "add", "dep3", "--role", "deputy", "--scope", scope, "--password", STAFF_PW]) == 0
    assert main([*c, "staff", "remove", "nobody"]) == 2
    terminal_locale(monkeypatch, "ja_JP.UTF-8")  # the store's refusals in the terminal's language
    capsys.readouterr()
    assert main([*c, "staff", "add", "dep4", "--role", "deputy", "--scope", scope, "--password", STAFF_PW]) == 2
    assert f"「{assoc}」の副会長・班長はすでに 3 人です。" in capsys.readouterr().err
    assert main([*c, "staff", "add", "head", "--role", "association_head", "--scope", scope, "--password", STAFF_PW]) == 2
    assert "ログイン名「head」はすでに使われています。" in capsys.readouterr().err


# The `staff_removed` line's fields, the same from the command line and /admin (test_staff_pages)
REMOVED_FIELDS = {"staff_id", "role", "via", "alerts_dropped", "live_tokens"}


def test_staff_remove_logs_staff_removed_as_the_admin_page_does(cfg_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """QA (privacy walk): the command line's removal wrote no `staff_removed` line, the web's did."""
    c = ["--config", str(cfg_path)]
    assert main([*c, "init", "--admin-password", ADMIN_PW]) == 0
    assert main([*c, "staff", "add", "tanaka", "--role", "city_admin", "--password", STAFF_PW]) == 0
    capsys.readouterr()
    assert main([*c, "staff", "remove", "tanaka"]) == 0
    out = capsys.readouterr()
    assert out.out == "removed tanaka\n"
    (line,) = [json.loads(x) for x in out.err.splitlines() if "staff_removed" in x]
    assert line["event"] == "staff_removed" and REMOVED_FIELDS <= set(line)
    assert (line["staff_id"], line["role"], line["via"], line["alerts_dropped"], line["live_tokens"]) == (
        2, "city_admin", "cli", 0, 0)
    assert "tanaka" not in out.err  # ids and counts, never the login (the audit log has it)


def test_staff_password_gives_a_new_one_once_and_logs_the_old_sessions_out(
    cfg_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["--config", str(cfg_path)]
    assert main([*c, "init", "--admin-password", ADMIN_PW]) == 0

    async def sign_in() -> None:  # a browser logged in with the old password
        async with store_session(load_config(cfg_path)) as store:  # the store the CLI uses (PostgreSQL in its pass)
            found = await store.auth.staff_by_login("admin")
            assert found is not None
            await store.auth.create_session("old-session", found[0].id, "csrf", 3600)

    async def now_stored() -> tuple[str, bool]:
        async with store_session(load_config(cfg_path)) as store:
            found = await store.auth.staff_by_login("admin")
            assert found is not None and found[1] is not None
            return found[1], await store.auth.session("old-session") is not None

    asyncio.run(sign_in())
    capsys.readouterr()
    assert main([*c, "staff", "password", "admin"]) == 0
    out = capsys.readouterr().out
    assert "new password set for admin" in out
    new = out.split("(shown once): ")[1].strip()
    stored, still_signed_in = asyncio.run(now_stored())
    assert verify_password(new, stored) and not verify_password(ADMIN_PW, stored)
    assert not still_signed_in
    # a chosen password is checked like any other; an unknown login changes nothing
    assert main([*c, "staff", "password", "admin", "--password", "admin"]) == 2
    assert main([*c, "staff", "password", "nobody", "--password", STAFF_PW]) == 2
    assert "no staff member with login 'nobody'" in capsys.readouterr().err
    assert verify_password(new, asyncio.run(now_stored())[0])


def test_token_create_prints_the_token_alone(cfg_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = ["--config", str(cfg_path)]
    assert main([*c, "init", "--admin-password", ADMIN_PW]) == 0
    capsys.readouterr()
    assert main([*c, "token", "create", "--role", "city_admin"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and len(lines[0]) >= 32 and " " not in lines[0]
    assert main([*c, "token", "create", "--role", "mayor"]) == 2
    assert "unknown role" in capsys.readouterr().err


@pytest.mark.parametrize("password, says", [
    ("1", "10文字以上"), ("password", "10文字以上"), ("123456789", "10文字以上"),
    ("password1234", "よく使われる"), ("Password2026!", "よく使われる"), ("1234567890", "よく使われる"),
    ("qwertyuiop", "よく使われる"), ("bousai12345", "よく使われる"), ("aaaaaaaaaaaa", "よく使われる"),
    ("abab-abab-abab", "よく使われる"), ("admin12345", "ログインID"),
])
def test_init_refuses_a_weak_admin_password_and_creates_nothing(
    cfg_path: Path, capsys: pytest.CaptureFixture[str], password: str, says: str
) -> None:
    assert main(["--config", str(cfg_path), "init", "--admin-password", password]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and "(" in err  # Japanese first, then English
    assert not (cfg_path.parent / "data").exists()


def test_staff_add_refuses_weak_passwords_and_the_login_itself(
    cfg_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ["--config", str(cfg_path)]
    assert main([*c, "init", "--admin-password", ADMIN_PW]) == 0
    capsys.readouterr()
    for password, says in (("short", "at least 10 characters"), ("iloveyou123", "too common"),
                           ("tanaka-hanako", "the login itself"), ("TANAKA-HANAKO2026", "the login itself")):
        assert main([*c, "staff", "add", "tanaka-hanako", "--role", "city_admin", "--password", password]) == 2
        assert says in capsys.readouterr().err
    assert main([*c, "staff", "list"]) == 0
    assert "tanaka-hanako" not in capsys.readouterr().out
    assert main([*c, "staff", "add", "tanaka-hanako", "--role", "city_admin", "--password", STAFF_PW]) == 0


def test_the_password_policy() -> None:
    from safetynet.passwords import PasswordError, check_password, common_passwords

    assert len(common_passwords()) >= 150
    for good in ("kinkyu-renraku-mou", "Tr4in-Stati0n-Sakura", "correct horse battery", "さくら町の防災倉庫の鍵"):
        check_password(good, "tanaka")
    for bad in ("", "x" * 9, "password12", "P@ssw0rd!2026", "0123456789", "safetynet2026", "tanaka-tanaka"):
        with pytest.raises(PasswordError):
            check_password(bad, "tanaka-tanaka")


def test_staff_contacts_are_the_roster_columns_options(cfg_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--phone`, `--landline`, `--telegram`: one option per channel that owns a roster column, each
    read as its column is; the listing shows each contact's kind, masked."""
    c = ["--config", str(cfg_path)]
    assert main([*c, "init", "--admin-password", ADMIN_PW]) == 0
    capsys.readouterr()
    assert main([*c, "staff", "add", "sato", "--role", "city_admin", "--password", STAFF_PW,
                 "--phone", "０９０-１１１１-２２２２", "--telegram", "8880001"]) == 0
    assert main([*c, "staff", "add", "ito", "--role", "city_admin", "--password", STAFF_PW, "--phone", "03-1111-2222"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --phone:") and "landline" in err
    assert main([*c, "staff", "list"]) == 0
    rows = {line.split("\t")[0]: line.split("\t")[4] for line in capsys.readouterr().out.splitlines()}
    assert rows["sato"] == "mobile …2222, telegram chat …001" and "ito" not in rows and rows["admin"] == ""


def test_staff_list_says_its_words_in_the_terminals_language(cfg_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: under LANG=ja_JP.UTF-8 `staff list` printed `city_admin`, `active`, `mobile`; English stays as it was."""
    c = ["--config", str(cfg_path)]
    assert main([*c, "init", "--admin-password", ADMIN_PW]) == 0
    assert main([*c, "staff", "add", "sato", "--role", "city_admin", "--password", STAFF_PW,
                 "--phone", "090-1111-2222"]) == 0
    capsys.readouterr()
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert main([*c, "staff", "list"]) == 0
    rows = {r[0]: r[1:] for r in (line.split("\t") for line in capsys.readouterr().out.splitlines())}
    assert rows == {"admin": ["市の管理者", "市全体", "有効", ""],
                    "sato": ["市の管理者", "市全体", "有効", "携帯電話（SMS・音声） …2222"]}
    terminal_locale(monkeypatch, "C.UTF-8")
    assert main([*c, "staff", "list"]) == 0
    rows = {r[0]: r[1:] for r in (line.split("\t") for line in capsys.readouterr().out.splitlines())}
    assert rows == {"admin": ["city_admin", "city", "active", ""],
                    "sato": ["city_admin", "city", "active", "mobile …2222"]}


def test_a_head_added_or_given_a_new_address_on_the_command_line_hears_of_the_open_calls_for_help(
    cfg_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`staff add` and `staff contacts` queue the open calls for help of the association, as /admin does
    (the catch-up had no test from the command line: an `after` hook left unwired would go unseen)."""
    from safetynet.broadcast.service import CampaignService, CampaignSpec
    from safetynet.domain import CampaignKind, Status
    from safetynet.domain.replies import ReplyItem

    c = ["--config", str(cfg_path)]
    assert main([*c, "init", "--admin-password", ADMIN_PW]) == 0
    assert main([*c, "roster", "import", str(SAMPLE)]) == 0
    assoc = SAMPLE.read_text(encoding="utf-8-sig").splitlines()[1].split(",")[1]
    cfg = load_config(cfg_path)

    async def call_for_help() -> int:
        async with store_session(cfg) as store:
            campaign = await CampaignService(store, cfg, store.clock).launch(
                CampaignSpec("訓練", CampaignKind.DRILL, ("city",), {"ja": "安否を教えてください。"}))
            association = await store.roster.association_by_name(assoc)
            assert association is not None
            async for batch in store.roster.households_in_scope([f"association:{assoc}"]):
                asking = batch[0]
                break
            outcome = await store.replies.record(ReplyItem(
                campaign.id, asking.id, association.id, Status.NEED_HELP.value, "web", "help-1", store.clock.now()))
            assert outcome.help_opened
            return asking.id

    asking = asyncio.run(call_for_help())

    async def alerts() -> list[tuple[str, str, int]]:
        async with store_session(cfg) as store:  # SQLite or, in the PostgreSQL pass, PostgreSQL
            rows = await cast(Any, store).db.fetchall(
                "SELECT s.login, d.channel, d.about_household_id FROM deliveries d JOIN staff s ON s.id = d.staff_id"
                " WHERE d.about_household_id IS NOT NULL ORDER BY d.id")
            return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    before = asyncio.run(alerts())
    assert main([*c, "staff", "add", "fuku", "--role", "deputy", "--scope", f"association:{assoc}",
                 "--password", STAFF_PW, "--telegram", "8880007"]) == 0
    assert asyncio.run(alerts())[len(before):] == [("fuku", "telegram", asking)]
    assert main([*c, "staff", "contacts", "fuku", "--email", "fuku@example.jp"]) == 0
    # the new address hears of it; the Telegram already told is not told again
    assert asyncio.run(alerts())[len(before):] == [("fuku", "telegram", asking), ("fuku", "email", asking)]
    capsys.readouterr()
