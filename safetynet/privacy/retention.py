"""Retention (DESIGN §9): a finished campaign's free texts and provider answers are erased
`[privacy] retention_days` after it closed (its counts and report numbers stay), then the households
removed from the roster that no campaign still kept refers to, and audit entries older than
`audit_retention_days` go, as do staff texts' answers past their two days and expired phone codes of the
enrolment page. `purge` runs it once; `run_daily` in `safetynet serve`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from safetynet.clock import Clock
from safetynet.config import PrivacyConfig
from safetynet.domain.audit import PurgeResult
from safetynet.store import Store, StoreError
from safetynet.store.rules import STAFF_TEXTS_KEPT_SECONDS

log = structlog.get_logger("privacy.retention")

DAY = 86400.0
# First run a little after start-up (not in the middle of a restart's catch-up), then daily.
FIRST_RUN_SECONDS = 60.0


@dataclass(frozen=True)
class PurgeReport:
    campaigns: tuple[PurgeResult, ...]
    audit_entries: int
    closed_before: float  # campaigns that ended before this were purged
    audit_before: float
    removed_households: int = 0  # households gone from the roster, erased (`CampaignStore.erase_removed_households`)

    def as_json(self) -> dict[str, object]:
        return {
            "campaigns": [{"id": r.campaign_id, "replies": r.replies, "deliveries": r.deliveries,
                           "attempts": r.attempts} for r in self.campaigns],
            "audit_entries": self.audit_entries, "closed_before": self.closed_before,
            "audit_before": self.audit_before, "removed_households": self.removed_households,
        }


async def purge(store: Store, settings: PrivacyConfig, now: float) -> PurgeReport:
    """Erases what retention says is due at `now`; safe to run again at any time (idempotent)."""
    closed_before = now - settings.retention_days * DAY
    done: list[PurgeResult] = []
    while True:
        due = await store.campaigns.finished_before(closed_before, limit=50)
        if not due:
            break
        for campaign_id in due:
            result = await store.campaigns.purge(campaign_id, now)
            done.append(result)
            log.info("campaign_purged", campaign_id=campaign_id, replies=result.replies,
                     deliveries=result.deliveries, attempts=result.attempts)
    # after the campaigns: a household that moved away is kept only while a campaign not yet purged
    # refers to it (QA, privacy walk: its name, address and 要介護 note stayed for ever)
    households = await store.campaigns.erase_removed_households(now)
    audit_before = now - settings.audit_retention_days * DAY
    erased = await store.audit.erase_before(audit_before)
    # a staff text's answer outlives a provider's retries only until the next text: the last of an
    # event's would stay for months (their keys hold a staff member's chat id or number)
    texts = await store.replies.forget_staff_texts(now - STAFF_TEXTS_KEPT_SECONDS)
    # an expired phone code holds the number a resident typed on the enrolment page: it went only when
    # someone started another confirmation
    codes = await store.replies.forget_phone_codes(now)
    log.info("retention_done", campaigns=len(done), removed_households=households, audit_entries=erased,
             staff_texts=texts, phone_codes=codes)
    return PurgeReport(tuple(done), erased, closed_before, audit_before, households)


async def run_daily(store: Store, settings: PrivacyConfig, clock: Clock,
                    on_report: Callable[[PurgeReport], None] | None = None) -> None:
    """Purges shortly after start, then every 24 hours, until cancelled. A failing store is logged
    and tried again the next day (nothing is lost by waiting: retention only erases)."""
    await clock.sleep(FIRST_RUN_SECONDS)
    while True:
        try:
            report = await purge(store, settings, clock.now())
            if on_report is not None:
                on_report(report)
        except StoreError as e:
            log.error("retention_failed", error=str(e))
        await clock.sleep(DAY)
