"""`safetynet campaign preview|start|status|close|report` through the real CLI entry point."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from broadcast_helpers import SECRET, H, answer, seed
from locale_helpers import terminal_locale
from sqlite_template import migrated_store_for

from safetynet.cli import main
from safetynet.clock import SystemClock
from safetynet.config import load_config
from safetynet.domain import Role
from safetynet.domain.campaigns import ChannelHealth, DispatcherBeat
from safetynet.store import store_session

DRILLS = Path(__file__).resolve().parents[2] / "drills"


@pytest.fixture
def city(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text('[store]\npath = "var/safetynet.db"\n[logging]\nlevel = "warning"\n', encoding="utf-8")
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", SECRET)
    for k in ("SAFETYNET_CONFIG", "SAFETYNET_STORE_PATH"):
        monkeypatch.delenv(k, raising=False)

    async def go() -> None:
        async with store_session(load_config(cfg_path), SystemClock()) as store:
            await seed(store, [H("a", "w"), H("b", "m"), H("c", "l", association="南町会", district="南地区")])

    migrated_store_for(load_config(cfg_path))
    asyncio.run(go())
    return cfg_path


def run(cfg: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(cfg), "campaign", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_closing_with_open_help_requests_warns(city: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing answers no one: the help requests still open are said (QA2: nothing was), as many as
    there are (QA: "1 need-help requests are"), and the households it put on the door-knock lists."""
    async def ask_for_help(cid: int, n: int) -> None:
        async with store_session(load_config(city), SystemClock()) as store:
            for household in sorted(await store.campaigns.household_statuses(cid))[:n]:
                await answer(store, cid, household, "need_help")

    for argv, n, lang, said in (
            (["--json"], 1, "C", None),
            ([], 1, "C", "warning: 1 need-help request is still not handled (it stays on its association's list).\n"
                         "1 household did not answer: it is on its association's door-knock list (on the association's"
                         " page: closing sends the heads no notice)."),
            ([], 2, "C", "warning: 2 need-help requests are still not handled (they stay on the associations' lists)."),
            ([], 1, "ja_JP.UTF-8", "注意: まだ対応していない「助けが必要」が 1 件あります（町会の一覧に残ります）。\n"
                                   "回答のなかった 1 世帯は、町会の戸別訪問リストに載っています（町会のページで見られます。"
                                   "終了では役員に通知を送りません）。")):
        terminal_locale(monkeypatch, lang)
        code, out, _ = run(city, capsys, "start", str(DRILLS / "association-monthly.toml"), "--scope",
                           "association:桜町一丁目町会", "--json")
        cid = json.loads(out)["id"]
        asyncio.run(ask_for_help(cid, n))
        code, out, err = run(city, capsys, "close", str(cid), *argv)
        assert code == 0
        if said is None:
            assert (json.loads(out)["open_help"], json.loads(out)["doorknock"]) == (1, 1)
        else:
            assert err.strip() == said


def test_status_speaks_japanese_under_a_japanese_locale(city: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """QA2: `campaign status` printed drill、running and pending / notified under LANG=ja_JP.UTF-8."""
    code, out, _ = run(city, capsys, "start", str(DRILLS / "association-monthly.toml"), "--scope",
                       "association:桜町一丁目町会", "--json")
    cid = json.loads(out)["id"]
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    code, out, _ = run(city, capsys, "status", str(cid))
    assert code == 0 and f"安否確認 {cid}（訓練、実施中）" in out and "  無事 " in out
    assert "running" not in out and "pending" not in out
    monkeypatch.setenv("LANG", "C.UTF-8")
    code, out, _ = run(city, capsys, "status", str(cid))
    assert "(drill, running)" in out and "  pending " in out  # English keeps the words scripts read


def test_status_counts_the_door_knock_list(city: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: `campaign status` (and --json) had no door-knock figure, so an operator could not see every
    household accounted for (answered, on the door-knock list, …) without SQL."""
    code, out, _ = run(city, capsys, "start", str(DRILLS / "association-monthly.toml"), "--scope",
                       "district:北地区", "--json")
    cid = json.loads(out)["id"]

    async def one_answers_the_other_is_listed() -> None:
        async with store_session(load_config(city), SystemClock()) as store:
            await answer(store, cid, min(await store.campaigns.household_statuses(cid)), "safe")
            await store.campaigns.mark_doorknock(cid, store.clock.now())  # the ladder's last step

    asyncio.run(one_answers_the_other_is_listed())
    code, out, _ = run(city, capsys, "status", str(cid), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["doorknock"] == 1 and doc["status"]["safe"] == 1 and doc["households"] == 2
    terminal_locale(monkeypatch, "C.UTF-8")
    code, out, _ = run(city, capsys, "status", str(cid))
    assert out.splitlines()[-1] == f"  {'doorknock':20} {1:>8}"
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    code, out, _ = run(city, capsys, "status", str(cid))
    assert out.splitlines()[-1].split() == ["戸別訪問（未回答）", "1"]


def test_preview_start_status_close_report(city: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(city, capsys, "preview", str(DRILLS / "citywide-earthquake.toml"))
    assert code == 0 and "3 households" in out and "sms at 10/s" in out and "cost estimate" in out
    code, out, _ = run(city, capsys, "preview", "district:南地区", "--json")
    assert code == 0 and json.loads(out)["households"] == 1
    code, out, _ = run(city, capsys, "start", str(DRILLS / "association-monthly.toml"), "--scope",
                       "association:桜町一丁目町会", "--json")
    assert code == 0
    cid = json.loads(out)["id"]
    code, out, _ = run(city, capsys, "status", str(cid), "--json")
    doc = json.loads(out)
    assert (doc["id"], doc["kind"], doc["state"], doc["households"]) == (cid, "drill", "running", 2)
    assert sum(doc["status"].values()) == 2
    code, _, err = run(city, capsys, "close", str(cid))
    assert code == 0 and "need-help" not in err  # none asked: nothing to warn of
    # closed before its door-knock step: the households that did not answer are listed all the same
    assert "2 households did not answer: they are on their associations' door-knock lists (on the" in err
    code, _, err = run(city, capsys, "close", str(cid))
    assert code == 2 and "only a running campaign can close" in err
    code, out, _ = run(city, capsys, "report", str(cid), "--format", "json")
    assert code == 0 and str(cid) in out


def test_every_campaign_step_from_the_command_line_is_recorded_as_its_user(
        city: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: a drill started from the command line was recorded as `cli`, while its close, cancel and the
    exports said `cli:root` (and `audit export --help` promises `cli:USER`)."""
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "bousai-pc")
    ids = []
    for scope in ("district:北地区", "district:南地区"):
        code, out, _ = run(city, capsys, "start", str(DRILLS / "association-monthly.toml"), "--scope", scope, "--json")
        assert code == 0
        ids.append(json.loads(out)["id"])
    assert run(city, capsys, "close", str(ids[0]))[0] == 0
    assert run(city, capsys, "cancel", str(ids[1]), "--no-notice")[0] == 0

    async def steps() -> list[tuple[str, str, int | None]]:
        async with store_session(load_config(city), SystemClock()) as store:
            return [(e.what, e.actor, e.campaign_id) for e in await store.audit.entries() if e.action == "campaign"]

    assert asyncio.run(steps()) == [("start", "cli:bousai-pc", ids[0]), ("start", "cli:bousai-pc", ids[1]),
                                    ("close", "cli:bousai-pc", ids[0]), ("cancel", "cli:bousai-pc", ids[1]),
                                    ("notice", "cli:bousai-pc", ids[1])]


def test_list_and_status_say_their_words_in_the_terminals_language_and_line_up(
        city: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: under LANG=ja_JP.UTF-8 `campaign list` printed `drill running`, and `status` counts stood
    out of line next to Japanese words (a wide character takes two columns)."""
    import unicodedata

    code, out, _ = run(city, capsys, "start", str(DRILLS / "association-monthly.toml"), "--scope", "district:北地区",
                       "--json")
    cid = json.loads(out)["id"]
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    code, out, _ = run(city, capsys, "list")
    assert code == 0 and out.split("\t")[:3] == [str(cid), "訓練", "実施中"]
    code, out, _ = run(city, capsys, "status", str(cid))
    counts = [line for line in out.splitlines() if line.startswith("  ")]

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    assert code == 0 and len(counts) == 8 and "無事" in out and "戸別訪問（未回答）" in out
    assert {width(line) for line in counts} == {2 + 20 + 1 + 8}  # every count ends in the same column
    terminal_locale(monkeypatch, "C.UTF-8")  # English keeps the data's words
    code, out, _ = run(city, capsys, "list", "--json")
    assert json.loads(out)[0]["state"] == "running"
    code, out, _ = run(city, capsys, "list")
    assert out.split("\t")[:3] == [str(cid), "drill", "running"]


@pytest.mark.parametrize(("lang", "words"), [
    ("C.UTF-8", ("a running one", "heads and deputies are told", "--no-notice")),
    ("ja_JP.UTF-8", ("実施中のもの", "会長・副会長に取り消しを知らせ", "--no-notice")),
])
def test_cancel_help_says_it_cancels_a_running_campaign_and_who_is_told(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lang: str, words: tuple[str, ...]) -> None:
    """QA: the help named a real event waiting for approval and a draft only, while a running campaign
    is cancelled too, and its heads and households told."""
    terminal_locale(monkeypatch, lang)
    with pytest.raises(SystemExit) as done:
        main(["campaign", "cancel", "--help"])
    out = "".join(capsys.readouterr().out.split())  # argparse wraps the text wherever the terminal's width says
    assert done.value.code == 0 and all("".join(w.split()) in out for w in words), out


@pytest.mark.parametrize(("lang", "words"), [
    ("C.UTF-8", ("prints the id, then waits until the ladder is done", "minutes")),
    ("ja_JP.UTF-8", ("ID を表示したあと", "回答し終えるまで戻りません", "数分かかります")),
])
def test_start_help_says_simulate_waits_for_the_simulation(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lang: str, words: tuple[str, ...]) -> None:
    """QA: `campaign start … --simulate --json` printed the id, then held the terminal about 6 minutes, which
    its help did not say."""
    terminal_locale(monkeypatch, lang)
    with pytest.raises(SystemExit) as done:
        main(["campaign", "start", "--help"])
    out = "".join(capsys.readouterr().out.split())  # argparse wraps the text wherever the terminal's width says
    assert done.value.code == 0 and all("".join(w.split()) in out for w in words), out


def test_list_shows_the_latest_campaigns_newest_first(city: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(city, capsys, "list")
    assert code == 0 and out.strip() == "no campaigns yet"
    ids = []
    for scenario in ("citywide-earthquake.toml", "association-monthly.toml"):
        code, out, _ = run(city, capsys, "start", str(DRILLS / scenario), "--scope", "district:北地区", "--json")
        assert code == 0
        ids.append(json.loads(out)["id"])
    assert run(city, capsys, "close", str(ids[0]))[0] == 0
    code, out, _ = run(city, capsys, "list")
    rows = [line.split("\t") for line in out.splitlines()]
    assert code == 0 and [(int(r[0]), r[1], r[2], r[4]) for r in rows] == [(ids[1], "drill", "running", "2"),
                                                                            (ids[0], "drill", "closed", "2")]
    assert all(r[3].endswith(" JST") for r in rows)
    code, out, _ = run(city, capsys, "list", "--limit", "1", "--json")
    doc = json.loads(out)
    assert code == 0 and [(d["id"], d["state"], d["households"]) for d in doc] == [(ids[1], "running", 2)]
    code, _, err = run(city, capsys, "list", "--limit", "0")
    assert code == 2 and "--limit must be 1 or more" in err


def test_a_report_piped_to_a_reader_that_stops_ends_quietly(city: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`campaign report ID | head`: the reader is gone before the report is written."""
    code, out, _ = run(city, capsys, "start", str(DRILLS / "citywide-earthquake.toml"), "--json")
    assert code == 0
    cid = json.loads(out)["id"]
    child = subprocess.Popen([sys.executable, "-m", "safetynet", "--config", str(city), "campaign", "report", str(cid)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None
    child.stdout.close()  # before the child has written anything: its first write meets a closed pipe
    _, err = child.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert child.returncode == 141


def _staff(cfg: Path, *people: tuple[str, Role]) -> None:
    async def go() -> None:
        async with store_session(load_config(cfg), SystemClock()) as store:
            for login, role in people:
                scope = "city" if role == Role.CITY_ADMIN else "district:北地区"
                await store.auth.add_staff(login, login, role, scope, None)

    asyncio.run(go())


def test_a_real_event_needs_real_and_two_city_admins(city: Path, capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    _staff(city, ("bousai", Role.CITY_ADMIN), ("kikikanri", Role.CITY_ADMIN), ("kita", Role.DISTRICT_HEAD))
    real = tmp_path / "real.toml"
    real.write_text((DRILLS / "citywide-earthquake.toml").read_text(encoding="utf-8").replace(
        'kind = "drill"', 'kind = "real"'), encoding="utf-8")
    code, _, err = run(city, capsys, "start", str(real))
    assert code == 2 and "--real" in err
    scenario = str(DRILLS / "citywide-earthquake.toml")
    code, _, err = run(city, capsys, "start", scenario, "--real")
    assert code == 2 and "--as" in err and "two people" in err
    for who in ("nobody", "kita"):
        code, _, err = run(city, capsys, "start", scenario, "--real", "--as", who)
        assert code == 2 and f"--as {who}: no active city admin" in err
    code, out, err = run(city, capsys, "start", scenario, "--real", "--as", "bousai", "--json")
    assert code == 0, err
    doc = json.loads(out)
    cid = doc["id"]
    assert doc == {"id": cid, "state": "pending_approval"} and "waiting for a second city admin" in err
    code, out, _ = run(city, capsys, "status", str(cid), "--json")
    assert json.loads(out)["kind"] == "real" and json.loads(out)["state"] == "pending_approval"
    code, _, err = run(city, capsys, "approve", str(cid), "--as", "bousai")
    assert code == 2 and "bousai started this real event and cannot approve it" in err  # the same person: refused
    code, _, err = run(city, capsys, "approve", str(cid), "--as", "kita")
    assert code == 2 and "no active city admin" in err
    code, out, _ = run(city, capsys, "status", str(cid), "--json")
    assert json.loads(out)["state"] == "pending_approval" and json.loads(out)["households"] == 0
    code, out, err = run(city, capsys, "approve", str(cid), "--as", "kikikanri", "--json")
    assert code == 0, err
    assert json.loads(out) == {"id": cid, "state": "running"}
    code, out, _ = run(city, capsys, "status", str(cid), "--json")
    assert json.loads(out)["households"] == 3
    code, _, err = run(city, capsys, "approve", str(cid), "--as", "kikikanri")
    assert code == 2 and "only a real event waiting for approval" in err


def test_a_real_events_steps_from_the_command_line_name_who_and_their_role(
        city: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """QA (privacy walk): `campaign close` took no `--as`, so a real event's close was recorded as `cli:root`
    while its start and approval named city admins; and campaign steps carried no `role` where every view of
    the same admin said `city_admin`. Now close takes `--as` as cancel does, and each step says the role."""
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "bousai-pc")
    _staff(city, ("bousai", Role.CITY_ADMIN), ("kikikanri", Role.CITY_ADMIN), ("kita", Role.DISTRICT_HEAD))
    code, out, _ = run(city, capsys, "start", str(DRILLS / "citywide-earthquake.toml"), "--real", "--as", "bousai")
    cid = int(out.strip())
    assert run(city, capsys, "approve", str(cid), "--as", "kita")[0] == 2
    assert run(city, capsys, "approve", str(cid), "--as", "kikikanri")[0] == 0
    code, _, err = run(city, capsys, "close", str(cid), "--as", "kita")
    assert code == 2 and "--as kita: no active city admin" in err
    assert run(city, capsys, "close", str(cid), "--as", "bousai")[0] == 0
    drill = json.loads(run(city, capsys, "start", str(DRILLS / "citywide-earthquake.toml"), "--json")[1])["id"]
    assert run(city, capsys, "close", str(drill))[0] == 0  # without --as: the command line's user, no role

    async def steps() -> list[tuple[str, str, str, int | None]]:
        async with store_session(load_config(city), SystemClock()) as store:
            return [(e.what, e.actor, e.role, e.campaign_id) for e in await store.audit.entries()
                    if e.action == "campaign"]

    assert asyncio.run(steps()) == [
        ("start", "bousai", "city_admin", cid), ("approve_refused", "kita", "district_head", cid),
        ("approve", "kikikanri", "city_admin", cid), ("close", "bousai", "city_admin", cid),
        ("start", "cli:bousai-pc", "", drill), ("close", "cli:bousai-pc", "", drill)]


def test_a_waiting_real_event_is_cancelled_from_the_command_line(city: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _staff(city, ("bousai", Role.CITY_ADMIN))
    code, out, _ = run(city, capsys, "start", str(DRILLS / "citywide-earthquake.toml"), "--real", "--as", "bousai")
    cid = int(out.strip())
    code, out, _ = run(city, capsys, "cancel", str(cid), "--as", "bousai", "--json")
    assert code == 0 and json.loads(out) == {"id": cid, "state": "cancelled"}
    code, _, err = run(city, capsys, "cancel", str(cid))
    assert code == 2 and "can no longer be cancelled" in err


def test_errors_are_one_line(city: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "x"\n[messages]\nen = "only english"\n', encoding="utf-8")
    code, _, err = run(city, capsys, "start", str(bad))
    assert code == 2 and "messages.ja" in err
    code, _, err = run(city, capsys, "start", str(DRILLS / "citywide-earthquake.toml"), "--scope", "district:無い")
    assert code == 2 and "無い" in err
    code, _, err = run(city, capsys, "status", "999")
    assert code == 2 and "no campaign 999" in err


def test_a_simulation_it_cannot_run_is_refused_before_the_campaign_starts(
        city: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad [simulate] table (or a real provider) used to be found after the start: the campaign kept
    sending with no one simulated."""
    scenario = (DRILLS / "association-monthly.toml").read_text(encoding="utf-8")
    bad = tmp_path / "badsim.toml"
    bad.write_text(scenario.replace("[simulate]", "[simulate]\nanswer_rate = 0.8", 1), encoding="utf-8")
    assert bad.read_text(encoding="utf-8") != scenario
    code, _, err = run(city, capsys, "start", str(bad), "--scope", "association:桜町一丁目町会", "--simulate")
    assert code == 2 and "unknown key answer_rate" in err
    for name, value in {"SAFETYNET_CHANNELS_SMS_API_BASE_URL": "https://api.twilio.com",
                        "SAFETYNET_TWILIO_ACCOUNT_SID": "AC1", "SAFETYNET_TWILIO_AUTH_TOKEN": "t"}.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(city, capsys, "start", str(DRILLS / "association-monthly.toml"), "--scope",
                       "association:桜町一丁目町会", "--simulate")
    assert code == 2 and "channels.sms is a real provider" in err

    async def campaigns() -> list[object]:
        async with store_session(load_config(city), SystemClock()) as store:
            return list(await store.campaigns.list_campaigns())

    assert asyncio.run(campaigns()) == []


def test_every_subcommand_has_help_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for sub in ("preview", "start", "status", "close", "report"):
        with pytest.raises(SystemExit):
            main(["campaign", sub, "--help"])
        out, _ = capsys.readouterr()
        assert "example" in out and f"safetynet campaign {sub}" in out


def test_the_same_drill_twice_needs_force(city: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drill = str(DRILLS / "citywide-earthquake.toml")
    code, out, _ = run(city, capsys, "start", drill, "--json")
    assert code == 0
    first = json.loads(out)["id"]
    code, out, err = run(city, capsys, "start", drill, "--json")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and f"campaign {first}" in err and "--force" in err
    # nothing was written for the refused start: no second draft either
    code, out, _ = run(city, capsys, "start", drill, "--scope", "district:南地区", "--json")
    assert code == 0  # another scope is another drill
    second = json.loads(out)["id"]
    assert second == first + 1
    code, out, _ = run(city, capsys, "start", drill, "--force", "--json")
    assert code == 0 and json.loads(out)["id"] == second + 1
    assert run(city, capsys, "close", str(first))[0] == 0
    assert run(city, capsys, "close", str(second + 1))[0] == 0
    code, out, _ = run(city, capsys, "start", drill, "--json")
    assert code == 0  # the first one is over: the drill may run again


def test_start_warns_when_no_dispatcher_is_alive(city: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drill = str(DRILLS / "citywide-earthquake.toml")
    code, out, err = run(city, capsys, "start", drill)
    assert code == 0 and out.strip().isdigit()  # the campaign is queued all the same
    assert "warning: no dispatcher is running (never seen on this database)" in err
    assert "safetynet serve" in err

    async def a_dispatcher_beats(failing: bool) -> None:
        now = SystemClock().now()
        async with store_session(load_config(city), SystemClock()) as store:
            health = (ChannelHealth("d-1", "sms", "failing", now - 60, "network", "Cannot connect to host", 7, now)
                      if failing else ChannelHealth("d-1", "sms", "ok", now, updated_at=now))
            await store.health.beat(DispatcherBeat("d-1", "host", 1, ("sms",), now - 120, now), [health])

    asyncio.run(a_dispatcher_beats(failing=False))
    code, _, err = run(city, capsys, "start", drill, "--scope", "district:南地区")
    assert code == 0 and "warning" not in err
    asyncio.run(a_dispatcher_beats(failing=True))
    code, out, err = run(city, capsys, "start", drill, "--scope", "district:北地区", "--json")
    assert code == 0
    assert "warning: sms is failing since" in err and "(7 attempts in a row): network — Cannot connect" in err
    assert re.search(r"failing since \d{4}-\d\d-\d\d \d\d:\d\d JST ", err)  # a line with no page to say the zone
    # later, `status` of the running campaign says it too (stderr: the JSON stays the stats document)
    cid = json.loads(out)["id"]
    code, out, err = run(city, capsys, "status", str(cid), "--json")
    assert code == 0 and json.loads(out)["id"] == cid and "warning: sms is failing since" in err
    asyncio.run(a_dispatcher_beats(failing=False))
    code, out, err = run(city, capsys, "status", str(cid))
    assert code == 0 and "warning" not in err and "running" in out
    assert run(city, capsys, "close", str(cid))[0] == 0
    asyncio.run(a_dispatcher_beats(failing=True))
    code, _, err = run(city, capsys, "status", str(cid))
    assert code == 0 and "warning" not in err  # a closed campaign sends nothing more: nothing to warn about


def test_the_monthly_association_drill_never_goes_city_wide(city: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monthly = str(DRILLS / "association-monthly.toml")
    for command in ("start", "preview"):
        code, out, err = run(city, capsys, command, monthly)
        assert code == 2 and out == ""
        assert err.startswith("error: ") and "no scope of its own" in err and "--scope association:" in err
        assert "Traceback" not in err
    code, out, _ = run(city, capsys, "status", "1", "--json")
    assert code == 2  # nothing was started
    code, out, _ = run(city, capsys, "start", monthly, "--scope", "association:南町会", "--json")
    assert code == 0
    code, out, _ = run(city, capsys, "status", str(json.loads(out)["id"]), "--json")
    assert json.loads(out)["households"] == 1


def test_preview_reads_in_japanese_under_a_japanese_locale(city: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: `campaign preview` printed English only under LANG=ja_JP.UTF-8."""
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    code, out, _ = run(city, capsys, "preview", str(DRILLS / "citywide-earthquake.toml"))
    assert code == 0 and "（訓練）— 対象 city" in out and "3 世帯（要配慮の世帯" in out
    assert "段階 0（すぐ）: " in out and "費用の見込み: " in out and "毎秒 10 件で" in out
    assert "households" not in out and "cost estimate" not in out


def test_the_two_person_rule_and_a_roles_scope_read_in_japanese(city: Path, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: under LANG=ja_JP.UTF-8 both refusals were English."""
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    _staff(city, ("bousai", Role.CITY_ADMIN))
    code, out, err = run(city, capsys, "start", str(DRILLS / "citywide-earthquake.toml"), "--real", "--as", "bousai",
                         "--json")
    assert code == 0, err
    code, _, err = run(city, capsys, "approve", str(json.loads(out)["id"]), "--as", "bousai")
    assert code == 2 and "bousai さんはこの実災害を開始したため、承認できません" in err
    code, _, err = run(city, capsys, "preview", "association:存在しない町会")
    assert code == 2 and "名簿に町会「存在しない町会」がありません" in err  # QA: "unknown association: …"
    from safetynet.cli import main

    assert main(["--config", str(city), "staff", "add", "x", "--role", "deputy", "--scope", "city"]) == 2
    assert "副会長の担当範囲は町会です（例: --scope association:NAME）" in capsys.readouterr().err


def test_campaign_refusals_read_in_the_terminals_language(city: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Under LANG=ja_JP.UTF-8, `campaign close` of a closed drill printed the service's English."""
    drill = str(DRILLS / "citywide-earthquake.toml")
    code, out, _ = run(city, capsys, "start", drill, "--json")
    first = json.loads(out)["id"]
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    code, out, err = run(city, capsys, "start", drill, "--json")
    assert code == 2 and out == ""
    assert err.startswith(f"エラー: 同じシナリオ・同じ範囲の安否確認 {first}（")
    assert err.rstrip().endswith("もう一度届きます。それでも始めるには --force を付けてください")
    assert "対象 市全体" in err and " JST 開始）" in err and "same scenario" not in err
    assert run(city, capsys, "close", str(first))[0] == 0
    code, _, err = run(city, capsys, "close", str(first))
    assert (code, err) == (2, f"エラー: 安否確認 {first} の状態は「終了」です。終了できるのは実施中の安否確認だけです。\n")
    code, _, err = run(city, capsys, "status", "999")
    assert (code, err) == (2, "エラー: 安否確認 999 は見つかりません。\n")
    code, _, err = run(city, capsys, "approve", str(first), "--as", "nobody")
    assert code == 2 and "--as nobody: このログイン名の有効な市の管理者はいません" in err
    terminal_locale(monkeypatch, "C.UTF-8")
    code, _, err = run(city, capsys, "cancel", str(first))
    assert (code, err) == (2, f"error: campaign {first} is closed; it can no longer be cancelled\n")


def test_a_missing_report_and_a_scope_written_wrong_read_in_the_terminals_language(
        city: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`campaign report 999` and `--scope ward:x` printed English under LANG=ja_JP.UTF-8."""
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    code, out, err = run(city, capsys, "report", "999")
    assert (code, out, err) == (2, "", "エラー: 安否確認 999 は見つかりません。\n")
    code, _, err = run(city, capsys, "preview", "ward:x")
    assert (code, err) == (2, "エラー: 範囲 'ward:x' は使えません。city、district:NAME、association:NAME のいずれかで"
                              "指定してください\n")
    code, _, err = run(city, capsys, "start", str(DRILLS / "citywide-earthquake.toml"), "--scope", "南町会")
    assert code == 2 and "範囲 '南町会' は使えません" in err
    assert main(["--config", str(city), "staff", "add", "x", "--role", "deputy", "--scope", "南町会"]) == 2
    assert "範囲 '南町会' は使えません" in capsys.readouterr().err
    terminal_locale(monkeypatch, "C.UTF-8")
    code, _, err = run(city, capsys, "report", "999")
    assert (code, err) == (2, "error: no campaign 999\n")
    code, _, err = run(city, capsys, "preview", "ward:x")
    assert (code, err) == (2, "error: scope must be city, district:NAME or association:NAME, got 'ward:x'\n")


def test_a_scenario_files_errors_read_in_the_terminals_language(
        city: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A scenario's errors (the file, its key and the reason) were English under LANG=ja_JP.UTF-8."""
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "訓練"\n[messages]\nen = "only english"\n', encoding="utf-8")
    monthly = str(DRILLS / "association-monthly.toml")
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    code, _, err = run(city, capsys, "start", str(bad))
    assert (code, err) == (2, f"エラー: シナリオ {bad} の messages.ja: 日本語の本文は必須です（ほかの言語の本文がない"
                              "世帯には日本語が届きます）\n")
    code, _, err = run(city, capsys, "preview", str(tmp_path / "none.toml"))
    assert (code, err) == (2, f"エラー: シナリオ {tmp_path / 'none.toml'} が見つかりません\n")
    code, _, err = run(city, capsys, "start", monthly)
    assert code == 2 and err.startswith("エラー: association-monthly: このシナリオには対象の範囲がありません")
    terminal_locale(monkeypatch, "C.UTF-8")
    code, _, err = run(city, capsys, "start", str(bad))
    assert (code, err) == (2, f"error: {bad}: messages.ja: required: Japanese is every household's fallback\n")
    code, _, err = run(city, capsys, "start", monthly)
    assert code == 2 and "the scenario has no scope of its own" in err


def test_an_unknown_campaign_is_said_before_who_asks_and_nothing_changes(
        city: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Review: `campaign approve 1 --as x` with no campaign 1 said "no active city admin" (and wrote an
    approval refusal for a campaign that does not exist in the audit log); `close` and `cancel` with
    `--as` a name of no city admin the same. The campaign is looked up first, then who acts."""
    async def state() -> tuple[list[tuple[str, str, str, int | None]], list[int]]:
        async with store_session(load_config(city), SystemClock()) as store:
            return ([(e.action, e.what, e.actor, e.campaign_id) for e in await store.audit.entries()],
                    [c.id for c in await store.campaigns.list_campaigns(limit=100)])

    _staff(city, ("bousai", Role.CITY_ADMIN), ("kita", Role.DISTRICT_HEAD))
    before = asyncio.run(state())
    report = tmp_path / "report.html"
    for lang, said in (("C.UTF-8", "error: no campaign 999\n"), ("ja_JP.UTF-8", "エラー: 安否確認 999 は見つかりません。\n")):
        terminal_locale(monkeypatch, lang)
        for argv in (["approve", "999", "--as", "x"], ["approve", "999", "--as", "kita"],
                     ["approve", "999", "--as", "bousai"], ["close", "999", "--as", "x"], ["close", "999"],
                     ["cancel", "999", "--as", "x"], ["cancel", "999"],
                     ["status", "999"], ["status", "999", "--json"], ["report", "999", "--output", str(report)]):
            assert run(city, capsys, *argv) == (2, "", said), argv
    assert asyncio.run(state()) == before
    assert not report.exists()
