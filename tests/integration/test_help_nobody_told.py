"""A need-help that reaches no one is logged as a warning (QA: `help_notified queued=0 staff=0` at info level,
while the resident was told the association would know)."""

from __future__ import annotations

from pathlib import Path

import structlog
from replies_fixtures import ASSOC_A, add_staff, running_app

from safetynet.domain import Role
from safetynet.replies.notify import HelpNotifier


async def test_a_help_alert_that_reaches_nobody_is_a_warning_and_one_that_reaches_a_head_is_not(
        tmp_path: Path) -> None:
    async with running_app(tmp_path) as env:
        async with env.http.post(env.reply_url("A-002"), data={"status": "need_help", "k": "help-0001"}) as resp:
            assert resp.status == 200
        notifier = HelpNotifier(env.store, env.cfg, ("sms", "telegram"), env.clock)
        hh = env.hh("A-002").id
        with structlog.testing.capture_logs() as logs:
            report = await notifier.notify(env.campaign_id, hh, follow_up=True)
        assert (report.queued, report.recipients) == (0, 0)
        (line,) = [e for e in logs if e["event"] == "help_notified" and e["follow_up"]]  # not the intake's own
        assert line["log_level"] == "warning" and line["queued"] == 0
        await add_staff(env, "head-a", Role.ASSOCIATION_HEAD, ASSOC_A, phone="+819088880001")
        with structlog.testing.capture_logs() as logs:
            report = await notifier.notify(env.campaign_id, hh, follow_up=True)
        assert report.queued == 1
        (line,) = [e for e in logs if e["event"] == "help_notified" and e["follow_up"]]  # not the intake's own
        assert line["log_level"] == "info"
