"""Households enrolling their own channels, through the paths a resident's phone takes.

Web push: the browser's push service mints a subscription (the sandbox's `/_sandbox/webpush/subscribe`,
with the app's VAPID public key as applicationServerKey), and the enrolment page posts it to
`/join/{code}/webpush`. Telegram: the resident opens the bot with `/start CODE` (the sandbox delivers
the update to the app's webhook, signed with the webhook secret). Email: the resident types an address
on the page, reads the confirmation mail in the sandbox's mailbox and presses the button its link opens.

`/join` is rate-limited per client address, as it must be. Residents enrol from their own phones, so
each simulated phone group uses its own loopback source address (127.x.y.z all reach this machine).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from safetynet.domain import ChannelName
from safetynet.lab.sim.city import EMAIL, LINE, PUSH, TELEGRAM, line_user_id
from safetynet.lab.sim.http import HttpError, LeanHttp

# Enrolments from one address: under the /join limit (30 a minute, burst 30).
PER_ADDRESS = 25
DEFAULT_CONCURRENCY = 32
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_CONFIRM_LINK = re.compile(r"https?://\S+/confirm\?t=([A-Za-z0-9_%-]+)")
MAIL_DOMAINS = ("docomo.ne.jp", "ezweb.ne.jp", "softbank.ne.jp", "i.softbank.jp")


def mail_address(household_id: int) -> str:
    """The carrier mail a simulated household enrols (one per household)."""
    return f"resident{household_id}@{MAIL_DOMAINS[household_id % len(MAIL_DOMAINS)]}"

# Mints `n` browser push subscriptions (default: one `POST /_sandbox/webpush/subscribe` each).
Mint = Callable[[int], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class Enrolling:
    household_id: int
    code: str
    channel: ChannelName
    chat_id: int = 0  # Telegram only


@dataclass
class EnrolResult:
    webpush: int = 0
    telegram: int = 0
    line: int = 0
    email: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    subscriptions: dict[int, str] = field(default_factory=dict)  # household id -> push subscription id

    def to_dict(self) -> dict[str, Any]:
        return {"webpush": self.webpush, "telegram": self.telegram, "line": self.line, "email": self.email,
                "failed": dict(self.failed),
                "seconds": round(self.seconds, 2)}


def source_address(i: int) -> str:
    """The i-th loopback address 127.a.b.c (c in 1..254), skipping 127.0.0.x."""
    a, rest = divmod(i, 254 * 256)
    b, c = divmod(rest, 254)
    return f"127.{1 + a % 254}.{b}.{c + 1}"


def _chunks(items: Sequence[Enrolling], size: int) -> Iterator[Sequence[Enrolling]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class _Enroller:
    def __init__(self, app_url: str, sandbox_url: str, server_key: str, result: EnrolResult,
                 mint: Mint | None, sandbox: LeanHttp) -> None:
        self.app_url = app_url.rstrip("/")
        self.sandbox_url = sandbox_url.rstrip("/")
        self.server_key = server_key
        self.result = result
        self.mint = mint
        self.sandbox = sandbox

    async def _subscriptions(self, n: int) -> list[dict[str, Any]]:
        if self.mint is not None:
            return await self.mint(n)
        subs = []
        body = json.dumps({"applicationServerKey": self.server_key}).encode()
        for _ in range(n):
            resp = await self.sandbox.post(f"{self.sandbox_url}/_sandbox/webpush/subscribe", body, JSON)
            if resp.status != 201:
                self.result.failed[f"subscribe_{resp.status}"] += 1
                continue
            subs.append(json.loads(resp.body))
        return subs

    async def push_group(self, group: Sequence[Enrolling], address: str) -> None:
        subs = await self._subscriptions(len(group))
        phone = LeanHttp(max_connections=1, source_address=address)
        try:
            for e, sub in zip(group, subs, strict=False):
                resp = await phone.post(f"{self.app_url}/join/{e.code}/webpush", json.dumps(sub).encode(), JSON)
                if resp.status == 201:
                    self.result.webpush += 1
                    self.result.subscriptions[e.household_id] = str(sub["endpoint"]).rsplit("/", 1)[1]
                else:
                    self.result.failed[f"webpush_{resp.status}"] += 1
        finally:
            await phone.close()

    async def email(self, e: Enrolling, source: str) -> None:
        from urllib.parse import quote, unquote

        address = mail_address(e.household_id)
        phone = LeanHttp(max_connections=1, source_address=source)
        try:
            resp = await phone.post(f"{self.app_url}/join/{e.code}/email", f"address={quote(address)}".encode(), FORM)
            if resp.status != 200:
                self.result.failed[f"email_{resp.status}"] += 1
                return
            # the mail was taken before the page answered: it is in the sandbox's mailbox now
            box = await self.sandbox.get(f"{self.sandbox_url}/_sandbox/messages?channel=email", {})
            mails = [m for m in json.loads(box.body) if m["address"] == address]
            found = _CONFIRM_LINK.search(mails[-1]["text"] or "") if mails else None
            if found is None:
                self.result.failed["email_no_mail"] += 1
                return
            form = f"confirm_code={quote(unquote(found.group(1)))}".encode()
            resp = await phone.post(f"{self.app_url}/join/{e.code}/email/confirm", form, FORM)
            if resp.status == 200:
                self.result.email += 1
            else:
                self.result.failed[f"email_confirm_{resp.status}"] += 1
        finally:
            await phone.close()

    async def telegram(self, e: Enrolling) -> None:
        body = json.dumps({"chat_id": e.chat_id, "start": e.code}).encode()
        resp = await self.sandbox.post(f"{self.sandbox_url}/_sandbox/act/telegram", body, JSON)
        doc = json.loads(resp.body) if resp.status == 200 else {}
        if doc.get("status") == 200:
            self.result.telegram += 1
        else:
            self.result.failed[f"telegram_{doc.get('status', resp.status)}"] += 1


    async def line(self, e: Enrolling) -> None:
        """The resident adds the official account as a friend, then sends the letter's code."""
        user = line_user_id(e.household_id)
        for act in ({"user_id": user, "follow": True}, {"user_id": user, "text": e.code}):
            resp = await self.sandbox.post(f"{self.sandbox_url}/_sandbox/act/line", json.dumps(act).encode(), JSON)
            doc = json.loads(resp.body) if resp.status == 200 else {}
            if doc.get("status") != 200:
                self.result.failed[f"line_{doc.get('status', resp.status)}"] += 1
                return
        self.result.line += 1


async def enrol(app_url: str, sandbox_url: str, plan: Sequence[Enrolling], server_key: str, *,
                concurrency: int = DEFAULT_CONCURRENCY, first_address: int = 0, mint: Mint | None = None) -> EnrolResult:
    """Enrols every household of `plan`; returns what worked (the store is the proof; see tests)."""
    result = EnrolResult()
    sandbox = LeanHttp(max_connections=concurrency, timeout_seconds=60)
    enroller = _Enroller(app_url, sandbox_url, server_key, result, mint, sandbox)
    jobs: list[tuple[str, Any, str]] = [
        ("push", group, source_address(first_address + n))
        for n, group in enumerate(_chunks([e for e in plan if e.channel == PUSH], PER_ADDRESS))]
    jobs += [("telegram", e, "") for e in plan if e.channel == TELEGRAM]
    jobs += [("line", e, "") for e in plan if e.channel == LINE]
    # each mail enrolment from its own address: the page's confirmation sends are limited per address
    jobs += [("email", e, source_address(first_address + len(jobs) + n))
             for n, e in enumerate(e for e in plan if e.channel == EMAIL)]
    queue = iter(jobs)
    t0 = time.perf_counter()

    async def worker() -> None:
        for kind, item, address in queue:
            try:
                if kind == "push":
                    await enroller.push_group(item, address)
                elif kind == "line":
                    await enroller.line(item)
                elif kind == "email":
                    await enroller.email(item, address)
                else:
                    await enroller.telegram(item)
            except (HttpError, TimeoutError, ValueError) as e:
                result.failed[type(e).__name__] += 1

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await sandbox.close()
    result.seconds = time.perf_counter() - t0
    return result
