from __future__ import annotations

from pathlib import Path

import pytest

from safetynet.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_config_loads_with_sandbox_credentials() -> None:
    cfg = load_config(REPO / "config.toml", env={})
    assert cfg.server.port == 8080
    assert cfg.channels.sms.max_per_second == 10.0
    assert cfg.secrets.twilio_auth_token  # sandbox credential while providers are on loopback
    assert cfg.db_path == REPO / "var" / "safetynet.db"


def test_relative_store_path_resolves_against_config_folder(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[store]\npath = "data/x.db"\n'), env={})
    assert cfg.db_path == tmp_path / "data" / "x.db"
    assert cfg.data_dir == tmp_path / "data"


def test_env_overrides_nested_keys_with_types(tmp_path: Path) -> None:
    env = {
        "SAFETYNET_SERVER_PORT": "9001",
        "SAFETYNET_CHANNELS_SMS_API_BASE_URL": "http://127.0.0.1:9999",
        "SAFETYNET_CHANNELS_WEBPUSH_ENABLED": "false",
        "SAFETYNET_TRIGGERS_JMA_AREAS": "390, 391",
        "SAFETYNET_CHANNELS_TELEGRAM_MAX_PER_SECOND": "12.5",
    }
    cfg = load_config(write(tmp_path, "[server]\nport = 1\n"), env=env)
    assert cfg.server.port == 9001
    assert cfg.channels.sms.api_base_url == "http://127.0.0.1:9999"
    assert cfg.channels.webpush.enabled is False
    assert cfg.triggers.jma.areas == ("390", "391")
    assert cfg.channels.telegram.max_per_second == 12.5


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[server]\nprot = 1\n", {}, "unknown key server.prot"),
        ("[nope]\nx = 1\n", {}, "unknown key nope"),
        ('[server]\nport = "eighty"\n', {}, "server.port must be an integer"),
        ("[channels.sms]\nenabled = 1\n", {}, "channels.sms.enabled must be true or false"),
        ("[triggers.jma]\nareas = [1, 2]\n", {}, "triggers.jma.areas must be a list of strings"),
        ("", {"SAFETYNET_SERVER_PORT": "x"}, "server.port must be an integer"),
        ("[server]\nport = 8080\nport = 1\n", {}, "not valid TOML"),
        ('[triggers.jma]\naction = "go"\n', {}, "triggers.jma.action"),
        ("[channels.sms]\nmax_per_second = -1\n", {}, "channels.sms.max_per_second"),
        ("[channels.voice]\nredials = -1\n", {}, "channels.voice.redials must be >= 0"),
        ("", {"SAFETYNET_CHANNELS_VOICE_REDIAL_AFTER_SECONDS": "10"}, "channels.voice.redial_after_seconds must be >= 60"),
        # a real relay with the example sender: letters would tell residents to allow example.jp
        ('[channels.email]\nhost = "smtp.city.example.lg.jp"\n', {}, "channels.email.from_address is still the example"),
        # a closed campaign's links would take answers after retention erased it (review)
        ("[privacy]\nretention_days = 1\n[replies]\ntoken_grace_hours = 25\n", {},
         "replies.token_grace_hours must not outlast privacy.retention_days (25 h > 1 days)"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text), env=env)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_the_calls_redials_reach_the_stores_routes(tmp_path: Path) -> None:
    shipped = load_config(REPO / "config.toml", env={})
    assert (shipped.channels.voice.redial_after_seconds, shipped.channels.voice.redials) == (300, 2)
    assert set(shipped.channel_routes.redial) == {"voice"}  # a text either arrived or did not
    env = {"SAFETYNET_CHANNELS_VOICE_REDIAL_AFTER_SECONDS": "120", "SAFETYNET_CHANNELS_VOICE_REDIALS": "3"}
    rule = load_config(write(tmp_path, ""), env=env).channel_routes.redial["voice"]
    assert (rule.after_seconds, rule.redials) == (120.0, 3)
    off = load_config(write(tmp_path, "[channels.voice]\nredials = 0\n"), env={})
    assert off.channel_routes.redial == {}


def test_the_example_sender_is_fine_for_the_sandbox_or_a_city_sender(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).channels.email.from_address.endswith("@example.jp")  # the sandbox
    cfg = load_config(write(tmp_path, '[channels.email]\nhost = "smtp.city.example.lg.jp"\n'
                                      'from_address = "anpi@city.example.lg.jp"\n'))
    assert cfg.channels.email.resident_words() == {"sender": "anpi@city.example.lg.jp", "domain": "city.example.lg.jp"}


def test_real_provider_without_secret_stops_startup(tmp_path: Path) -> None:
    p = write(tmp_path, '[channels.sms]\napi_base_url = "https://api.twilio.com"\n')
    with pytest.raises(ConfigError, match="SAFETYNET_TWILIO_ACCOUNT_SID"):
        load_config(p, env={})
    env = {"SAFETYNET_TWILIO_ACCOUNT_SID": "AC1", "SAFETYNET_TWILIO_AUTH_TOKEN": "t"}
    with pytest.raises(ConfigError, match=r"channels\.voice"):
        # sms stays on the sandbox, but voice shares the Twilio account and is real
        load_config(write(tmp_path, '[channels.voice]\napi_base_url = "https://api.twilio.com"\n'), env={})
    assert load_config(p, env=env).secrets.twilio_auth_token == "t"
    p2 = write(tmp_path, '[channels.telegram]\napi_base_url = "https://api.telegram.org"\n')
    with pytest.raises(ConfigError, match="SAFETYNET_TELEGRAM_BOT_TOKEN"):
        load_config(p2, env={})
    disabled = write(tmp_path, '[channels.telegram]\nenabled = false\napi_base_url = "https://api.telegram.org"\n')
    assert load_config(disabled, env={}).channels.telegram.enabled is False


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml", env={})


def test_a_table_of_numbers_reads_from_the_file_and_the_environment() -> None:
    """For settings like `[channels.email.domain_per_second]` ("docomo.ne.jp" = 5): a table of numbers
    in config.toml, or NAME=NUMBER pairs in the environment variable."""
    import pytest

    from safetynet.config import ConfigError, _coerce

    key = "channels.email.domain_per_second"
    tp = dict[str, float]
    assert _coerce(key, tp, {"docomo.ne.jp": 5, "ezweb.ne.jp": 2.5}, from_env=False) == {
        "docomo.ne.jp": 5.0, "ezweb.ne.jp": 2.5}
    assert _coerce(key, tp, "docomo.ne.jp=5, au.com=1", from_env=True) == {"docomo.ne.jp": 5.0, "au.com": 1.0}
    for bad, from_env in (({"docomo.ne.jp": "fast"}, False), ({"x": True}, False), ([1], False),
                          ("docomo.ne.jp", True), ("docomo.ne.jp=fast", True)):
        with pytest.raises(ConfigError, match=key):
            _coerce(key, tp, bad, from_env=from_env)
def test_store_url_picks_sqlite_and_its_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[store]\nurl = "sqlite:///data/y.db"\npath = "ignored.db"\n'), env={})
    assert cfg.db_path == tmp_path / "data" / "y.db"  # relative to the config file's folder, like `path`
    absolute = tmp_path / "abs" / "z.db"
    cfg = load_config(write(tmp_path, ""), env={"SAFETYNET_STORE_URL": f"sqlite:///{absolute}"})
    assert cfg.db_path == absolute
    assert load_config(write(tmp_path, '[store]\nurl = ""\npath = "p.db"\n'), env={}).db_path == tmp_path / "p.db"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mongodb://sn:s3cret-pw@db.example/sn", "got a mongodb:// URL"),
        ("mysql+pymysql://u:s3cret-pw@h/db", "got a mysql+pymysql:// URL"),
        ("var/safetynet.db", "got that value"),
        ("sqlite://relative.db", "must be empty, sqlite:///PATH or postgresql://"),
        ("sqlite:///", "needs a file path"),
    ],
)
def test_store_url_other_than_sqlite_is_refused_without_echoing_it(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"store\.url") as e:
        load_config(write(tmp_path, f'[store]\nurl = "{url}"\n'), env={})
    assert message in str(e.value)
    assert "s3cret" not in str(e.value)


def _entries(folder: Path) -> list[Path]:
    return list(folder.iterdir())


async def test_open_store_refuses_a_store_it_has_no_adapter_for(tmp_path: Path) -> None:
    from safetynet.config import Config, StoreConfig
    from safetynet.store import open_store

    cfg = Config(store=StoreConfig(url="mysql://sn@localhost/sn"), base_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="mysql"):
        await open_store(cfg)
    assert _entries(tmp_path) == []  # nothing was created on the way


def test_cli_refuses_an_unsupported_store_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetynet.cli import main

    cfg = write(tmp_path, '[store]\nurl = "mysql://sn:pw@localhost/sn"\n')
    assert main(["roster", "export", str(tmp_path / "out.csv"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: config: store.url") and ":pw@" not in err


# --- [logging]: a level or format that is none is refused, not run as info or JSON --------------------

@pytest.mark.parametrize(("text", "env", "message"), [
    ('[logging]\nlevel = "verbose"\n', {}, "config: logging.level (or SAFETYNET_LOGGING_LEVEL) must be one of debug, "
                                            "info, warning, error, critical, got 'verbose'"),
    ("", {"SAFETYNET_LOGGING_LEVEL": "trace"}, "config: logging.level (or SAFETYNET_LOGGING_LEVEL) must be one of debug, "
                                               "info, warning, error, critical, got 'trace'"),
    ('[logging]\nformat = "text"\n', {}, "config: logging.format (or SAFETYNET_LOGGING_FORMAT) must be one of auto, "
                                         "console, json, got 'text'"),
])
def test_a_logging_level_or_format_that_is_none_is_refused(
        tmp_path: Path, text: str, env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """QA: `level = "verbose"` (or "warn") ran as info without a word, though every other bad value stops the start."""
    from locale_helpers import terminal_locale

    terminal_locale(monkeypatch, "C.UTF-8")
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text), env=env)
    assert str(exc.value) == message


def test_the_command_line_says_a_bad_logging_level_in_one_line_and_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from locale_helpers import terminal_locale

    from safetynet.cli import main

    cfg = write(tmp_path, '[logging]\nlevel = "verbose"\n')
    terminal_locale(monkeypatch, "ja_JP.UTF-8")
    assert main(["serve", "--config", str(cfg)]) == 2
    assert capsys.readouterr() == ("", "エラー: config: logging.level（または SAFETYNET_LOGGING_LEVEL）は debug, info, "
                                       "warning, error, critical のどれかにしてください（指定: 'verbose'）\n")


@pytest.mark.parametrize("level", ["debug", "INFO", "Warning", "error", "critical"])
def test_every_logging_level_is_taken_in_any_case(tmp_path: Path, level: str) -> None:
    assert load_config(write(tmp_path, f'[logging]\nlevel = "{level}"\n')).logging.level == level


@pytest.mark.parametrize(("text", "env"), [
    ('[logging]\nlevel = "warn"\nformat = "JSON"\n', {}),
    ('[logging]\nlevel = "WARN"\n', {"SAFETYNET_LOGGING_FORMAT": "Console"}),
    ("", {"SAFETYNET_LOGGING_LEVEL": "Warn", "SAFETYNET_LOGGING_FORMAT": "AUTO"}),
])
def test_a_config_that_started_before_levels_were_checked_still_starts(
        tmp_path: Path, text: str, env: dict[str, str]) -> None:
    """Review of dbf632f: `format = "JSON"` (run as JSON) and `level = "warn"` (logging's alias) had always
    started, and the check refused them: a server that would not start again after the upgrade."""
    cfg = load_config(write(tmp_path, text), env=env)
    assert cfg.logging.level.lower() == "warn"


@pytest.mark.parametrize(("fmt", "console"), [("JSON", False), ("Console", True)])
def test_warn_runs_as_warning_and_a_format_in_any_case_is_that_format(fmt: str, console: bool) -> None:
    import io
    import json

    import structlog

    from safetynet.logs import configure_logging

    out = io.StringIO()
    configure_logging("warn", fmt, stream=out)
    try:
        log = structlog.get_logger("test")
        log.info("not_said")
        log.warning("said")
    finally:
        configure_logging("warning", "json", stream=io.StringIO())
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "said" in lines[0] and "not_said" not in lines[0]
    assert lines[0].startswith("{") is not console
    if not console:
        assert json.loads(lines[0])["event"] == "said"


# --- the secret key's floor (safetynet.config.secret_key_problem) ---------------------------------

HOW_TO_MAKE = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


@pytest.mark.parametrize(("key", "problem"), [
    ("password", "is too short: 8 characters, at least 32 are needed"),
    ("test-secret-key-for-operations!", "is too short: 31 characters"),  # one short of the floor
    ("   ", "is only whitespace"),
    ("\t" * 40, "is only whitespace"),
    ("x" * 64, "is too repetitive: only 1 different character, at least 8 are needed"),
    ("password" * 4, "is too repetitive: only 7 different characters"),
    ("kLx7Qp2VmRt9\x1bZw4NbYc8Hd3JfGs6Ta1E", "contains U+001B, which is not a printable character"),
    ("  short-key-with-spaces-around  \n", "is too short: 28 characters"),  # judged without them
    ("kLx7Qp2VmRt9\x00Zw4NbYc8Hd3JfGs6Ta1E", "contains U+0000"),
    ("kLx7Qp2VmRt9\udcffZw4NbYc8Hd3JfGs6Ta1E", "contains U+DCFF"),  # a byte not UTF-8, as os.environ has it
])
def test_a_weak_secret_key_in_the_environment_is_refused_at_load(tmp_path: Path, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, ""), env={"SAFETYNET_SECRET_KEY": key})
    message = str(e.value)
    assert message.startswith(f"config: SAFETYNET_SECRET_KEY {problem}"), message
    assert "at least 32 random characters" in message and HOW_TO_MAKE in message and "safetynet init" in message
    assert "\n" not in message and (not key.strip() or key.strip() not in message)  # one line, never the key


def test_a_weak_key_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "secret.key"
    key_file.parent.mkdir()
    for text, problem in [("changeme\n", "is too short: 8 characters"), ("\n \n", "is empty")]:
        key_file.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as e:
            load_config(write(tmp_path, '[store]\npath = "var/x.db"\n'), env={})
        message = str(e.value)
        assert message.startswith(f"config: the secret key file {key_file} {problem}"), message
        assert f"(umask 077; {HOW_TO_MAKE} > {key_file})" in message and "changeme" not in message


@pytest.mark.parametrize("key", [
    "abcdefgh" * 4,  # the floor exactly: 32 characters, 8 different
    "0123456789abcdef0123456789abcdef",  # 32 hex digits (`openssl rand -hex 16`)
    "災害時にも落ち着いて安否を確かめるための長い合言葉を三十二文字以上で",  # a long passphrase, not ASCII
    "with spaces inside, 32 characters",
    "kLx7Qp2VmRt9Zw4NbYc8Hd3JfGs6Ta1E\n",  # written with `echo`: it signed so before the floor came
    "地震のあと\u3000近所の\u3000安否を\u3000落ち着いて\u3000確かめるための\u3000長い合言葉です",  # full-width spaces
])
def test_a_long_enough_secret_key_is_taken_as_it_is(tmp_path: Path, key: str) -> None:
    assert load_config(write(tmp_path, ""), env={"SAFETYNET_SECRET_KEY": key}).secrets.secret_key == key


def test_what_init_generates_always_passes() -> None:
    import secrets

    from safetynet.config import secret_key_problem

    # admin.ensure_keys writes secrets.token_urlsafe(32): 43 characters
    assert all(secret_key_problem(secrets.token_urlsafe(32)) is None for _ in range(2000))
    assert all(secret_key_problem(secrets.token_hex(16)) is None for _ in range(2000))


def test_no_secret_key_still_loads_for_the_commands_that_need_none(tmp_path: Path) -> None:
    """The floor applies to a key that is there: without one, the config loads (`roster check`, `init`
    itself) and what needs the key says so (`serve`, `roster codes`)."""
    cfg = load_config(write(tmp_path, '[store]\npath = "var/x.db"\n'), env={"SAFETYNET_SECRET_KEY": ""})
    assert cfg.secrets.secret_key == ""


def test_the_command_line_refuses_a_weak_key_with_exit_2_and_no_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    from safetynet.cli import main

    cfg = write(tmp_path, '[store]\npath = "var/x.db"\n')
    sample = str(REPO / "examples" / "roster-sample.csv")
    monkeypatch.delenv("SAFETYNET_SECRET_KEY", raising=False)
    assert main(["--config", str(cfg), "roster", "check", sample]) == 0  # no key: nothing to refuse
    capsys.readouterr()
    monkeypatch.setenv("SAFETYNET_SECRET_KEY", "hunter2-hunter2")
    for argv in (["roster", "check", sample], ["init"], ["serve"]):
        assert main(["--config", str(cfg), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: config: SAFETYNET_SECRET_KEY is too short: 15 characters") and "hunter2" not in err
    assert not (tmp_path / "var").exists()  # init wrote nothing
    run = subprocess.run([sys.executable, "-m", "safetynet", "--config", str(cfg), "staff", "list"],
                         capture_output=True, text=True, cwd=REPO, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": str(REPO),
                              "SAFETYNET_SECRET_KEY": "x" * 40})
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("error: config: SAFETYNET_SECRET_KEY is too repetitive") and "Traceback" not in run.stderr


@pytest.mark.parametrize("minutes", ["-5", "0.5", "1441"])
def test_help_escalation_minutes_out_of_range_are_refused(tmp_path: Path, minutes: str) -> None:
    """Negative read as "never" before; half a minute would beat the heads' own alert."""
    with pytest.raises(ConfigError, match=r"replies.help_escalate_minutes must be 0 \(never\) or 1 to 1440"):
        load_config(write(tmp_path, ""), env={"SAFETYNET_REPLIES_HELP_ESCALATE_MINUTES": minutes})


@pytest.mark.parametrize(("minutes", "taken"), [("0", 0.0), ("1", 1.0), ("45", 45.0)])
def test_help_escalation_minutes_in_range_are_taken(tmp_path: Path, minutes: str, taken: float) -> None:
    cfg = load_config(write(tmp_path, ""), env={"SAFETYNET_REPLIES_HELP_ESCALATE_MINUTES": minutes})
    assert cfg.replies.help_escalate_minutes == taken


def test_the_sample_configs_store_comment_names_every_store_it_takes() -> None:
    """QA: config.toml's [store] comment said anything but SQLite is refused (PostgreSQL comes later),
    while PostgreSQL is supported (README, `safetynet store copy`). Every URL the comment shows is
    one `check_store_url` takes, and they show both stores."""
    import re

    from safetynet.config import check_store_url

    text = (REPO / "config.toml").read_text(encoding="utf-8")
    section = text[text.index("[store]"):text.index("\n[", text.index("[store]"))]
    comments = " ".join(line.lstrip("# ") for line in section.splitlines() if line.startswith("#"))
    urls = re.findall(r"\b(?:sqlite|postgres(?:ql)?)://[^\s,;)`]*", comments)
    assert {check_store_url(u.rstrip(".…") + ("x" if u.endswith("//") else "")) for u in urls} == {
        "sqlite", "postgresql"}, urls
    assert "later" not in comments
