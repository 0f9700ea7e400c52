"""`[channels.email]` and its `[channels.email.domain_per_second]` table."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parseaddr

from safetynet.channels.base import ChannelSettings, is_loopback_host

EXAMPLE_DOMAIN = "example.jp"


@dataclass(frozen=True)
class EmailSettings(ChannelSettings):
    # The sandbox's SMTP server by default; a city sets its own relay (often port 587 with STARTTLS).
    host: str = "127.0.0.1"
    port: int = 8025
    starttls: bool = False
    from_address: str = f"safetynet@{EXAMPLE_DOMAIN}"
    max_per_second: float = 20.0
    # SMTP connections kept open: each one carries one mail at a time.
    concurrency: int = 4
    # Carriers throttle bulk senders per receiving domain (docomo.ne.jp, ezweb.ne.jp…): mails a
    # second to each listed domain, on top of `max_per_second`. Unlisted domains are not paced.
    domain_per_second: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # addresses are stored with a lower-case domain: the table's keys must match them
        object.__setattr__(self, "domain_per_second",
                           {k.strip().lower(): float(v) for k, v in self.domain_per_second.items()})

    def problems(self) -> list[str]:
        out = super().problems()
        if not self.host.strip():
            out.append("host must not be empty")
        if not 0 <= self.port <= 65535:
            out.append("port must be between 0 and 65535")
        local, at, domain = self.from_address.rpartition("@")
        if not at or not local or "." not in domain:
            out.append("from_address must be an email address")
        elif self.enabled and not self.talks_to_sandbox() and domain.strip(" >").lower() == EXAMPLE_DOMAIN:
            # letters and the enrolment page tell residents to allow this sender (指定受信)
            out.append(f"from_address is still the example ({self.from_address}): set the city's own sender"
                       " for a real mail relay")
        for name, rate in self.domain_per_second.items():
            if rate <= 0:
                out.append(f"domain_per_second.{name} must be > 0")
        return out

    def resident_words(self) -> dict[str, str]:
        # 指定受信: a feature phone's carrier mail takes only the domains and addresses its owner allowed
        address = parseaddr(self.from_address)[1] or self.from_address.strip()
        return {"sender": address, "domain": address.rpartition("@")[2]}

    def talks_to_sandbox(self) -> bool:
        return is_loopback_host(self.host)

    def pace_of(self, domain: str) -> float:
        """Mails a second allowed to `domain` (0: not paced beyond the lane)."""
        return self.domain_per_second.get(domain, 0.0)
