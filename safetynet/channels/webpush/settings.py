"""`[channels.webpush]`."""

from __future__ import annotations

from dataclasses import dataclass

from safetynet.channels.base import ChannelSettings


@dataclass(frozen=True)
class WebPushSettings(ChannelSettings):
    concurrency: int = 64
    ttl_seconds: int = 86400
    subscriber: str = "mailto:bousai@example.jp"
    # Push-service hosts accepted at subscription time, besides the sandbox.
    allowed_hosts: tuple[str, ...] = (
        "fcm.googleapis.com",
        "updates.push.services.mozilla.com",
        "web.push.apple.com",
        "wns2-*.notify.windows.com",
    )

    def problems(self) -> list[str]:
        out = super().problems()
        if self.ttl_seconds <= 0:
            out.append("ttl_seconds must be > 0: TTL 0 drops the alert for an offline phone")
        return out
