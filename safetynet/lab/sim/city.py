"""A city to rehearse with: its roster, its staff logins, its enrolment codes, its drill scenario.

The demo and the benchmark build the same city: the sample roster (or a generated one), a head and
a deputy per association plus a city admin, enrolment codes for the households that will enrol
their own web push or Telegram, and a scenario whose ladder and resident delays run faster than life.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetynet
from safetynet.auth import hash_password
from safetynet.broadcast.scenario import Scenario, load_scenario
from safetynet.broadcast.service import CampaignSpec
from safetynet.domain import ChannelName, Role
from safetynet.domain.campaigns import LadderStep
from safetynet.domain.roster import HouseholdRecord
from safetynet.lab.sim.model import ResidentModel
from safetynet.roster import csvio
from safetynet.roster.codes import hash_code, new_code
from safetynet.roster.generate import generate_roster
from safetynet.store import Store

REPO = Path(safetynet.__file__).resolve().parent.parent
SAMPLE_ROSTER = REPO / "examples" / "roster-sample.csv"
DRILLS = REPO / "drills"
DEFAULT_SCENARIO = DRILLS / "citywide-earthquake.toml"
# Telegram chat ids the simulated residents enrol with (above the generator's 5e9-7e9 range).
CHAT_ID_BASE = 8_000_000_000
STAFF_CHAT_ID_BASE = 9_000_000_000
SIMULATION_TABLES = ("simulate", "simulation")


class CityError(Exception):
    """The city cannot be built (a bad roster file or scenario); the message is fit to show."""


def roster_records(households: int | None, city: str, seed: int = 1,
                   default_language: str = "ja") -> list[HouseholdRecord]:
    """The sample roster when `households` is None and the file is there (an empty 言語 cell read as
    `default_language`, the city's), else a generated city."""
    if households is None and SAMPLE_ROSTER.exists():
        result = csvio.read_roster(SAMPLE_ROSTER, default_language=default_language)
        if not result.ok:
            raise CityError(f"{SAMPLE_ROSTER}: {len(result.errors)} problems; first: {result.errors[0]}")
        return list(result.records)
    return list(generate_roster(households or 600, seed, city=city))


@dataclass(frozen=True)
class StaffLogin:
    login: str
    role: Role
    scope: str


async def add_staff(store: Store, password: str) -> list[StaffLogin]:
    """`admin` for the city, `head-N` and `deputy-N` for association N (one password for all).

    One scrypt hash is shared: these are demo accounts, and hashing hundreds would cost seconds.
    """
    pw = hash_password(password)
    logins = [StaffLogin("admin", Role.CITY_ADMIN, "city")]
    await store.auth.add_staff("admin", "市役所 防災担当", Role.CITY_ADMIN, "city", pw)
    for n, a in enumerate(await store.roster.list_associations(), start=1):
        scope = f"association:{a.name}"
        for role, login, title in ((Role.ASSOCIATION_HEAD, f"head-{n}", "会長"), (Role.DEPUTY, f"deputy-{n}", "副会長")):
            chat = str(STAFF_CHAT_ID_BASE + 2 * n + (role == Role.DEPUTY))
            await store.auth.add_staff(login, f"{a.name} {title}", role, scope, pw, contacts=[(TELEGRAM, chat)])
            logins.append(StaffLogin(login, role, scope))
    return logins


# The channels a simulated household enrols itself (the demo's and the benchmarks' scenario).
PUSH, TELEGRAM, LINE, EMAIL = "webpush", "telegram", "line", "email"


def line_user_id(household_id: int) -> str:
    """The LINE user id a simulated household follows the official account with (`U` + 32 hex)."""
    return f"U{household_id:032x}"


def household_of_line_user(user_id: str) -> int | None:
    """The simulated household behind `line_user_id`'s answer, or None for another id."""
    if len(user_id) != 33 or not user_id.startswith("U"):
        return None
    try:
        return int(user_id[1:], 16)
    except ValueError:
        return None


def choose_email_enrolment(household_ids: Iterable[int], chosen: Mapping[int, ChannelName], share: float,
                           seed: int = 1) -> dict[int, ChannelName]:
    """Which of the households enrolling nothing else enrol carrier mail themselves (pure, repeatable)."""
    rng = random.Random(seed + 1)
    return {hid: EMAIL for hid in sorted(household_ids) if hid not in chosen and rng.random() < share}


def choose_enrolment(household_ids: Iterable[int], push_share: float, telegram_share: float,
                     seed: int = 1, line_share: float = 0.0) -> dict[int, ChannelName]:
    """Which households enrol web push, Telegram or LINE themselves (pure, repeatable)."""
    rng = random.Random(seed)
    out: dict[int, ChannelName] = {}
    for hid in sorted(household_ids):
        r = rng.random()
        if r < push_share:
            out[hid] = PUSH
        elif r < push_share + telegram_share:
            out[hid] = TELEGRAM
        elif r < push_share + telegram_share + line_share:
            out[hid] = LINE
    return out


async def issue_codes(store: Store, household_ids: Sequence[int], secret_key: str) -> dict[int, str]:
    """Fresh enrolment codes (what the letters would carry); the store keeps only their hashes."""
    codes = {hid: new_code() for hid in household_ids}
    await store.roster.set_enrolment_codes((hid, hash_code(code, secret_key)) for hid, code in codes.items())
    return codes


async def household_ids(store: Store) -> list[int]:
    return [t.household_id for t in await store.roster.code_targets(only_without_code=False)]


def load_city_scenario(path: Path | None) -> Scenario:
    try:
        return load_scenario(path or DEFAULT_SCENARIO)
    except ValueError as e:
        raise CityError(str(e)) from None


def resident_model(scenario: Scenario, **overrides: Any) -> ResidentModel:
    """The scenario's `[simulate]` table (or `[simulation]`), with `overrides` on top."""
    table: dict[str, Any] = {}
    for name in SIMULATION_TABLES:
        found = scenario.options.get(name)
        if isinstance(found, dict):
            table.update(found)
    table.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ResidentModel.from_table(table)
    except (TypeError, ValueError) as e:
        raise CityError(f"{scenario.name}: {e}") from None


def compressed(ladder: Sequence[LadderStep], speed: float) -> tuple[LadderStep, ...]:
    """The ladder `speed` times faster (30: a 30-minute ladder in a minute)."""
    return tuple(dataclasses.replace(s, after_seconds=s.after_seconds / speed) for s in ladder)


def drill_spec(scenario: Scenario, speed: float, scope: Sequence[str] | None = None) -> CampaignSpec:
    spec = CampaignSpec.from_scenario(scenario, scope)
    return dataclasses.replace(spec, ladder=compressed(spec.ladder, speed),
                               options={**spec.options, "simulated": True, "speed": speed})
