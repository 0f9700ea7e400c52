"""The shared data types and vocabulary of SafetyNet; imports nothing else of the project.

The package re-exports the vocabulary (statuses, campaign kinds and states, roles,
scope; channel names and contact kinds are plain strings the channel registry lists); the data types
of each area live in its module: `roster`, `campaigns` (campaigns, ladder, outbox), `replies` and
`triggers`.
"""

from safetynet.domain.vocabulary import (
    ALL_STATUSES,
    ANSWERED,
    MAX_DEPUTIES_PER_ASSOCIATION,
    CampaignKind,
    CampaignState,
    ChannelName,
    ContactKind,
    Role,
    Scope,
    Status,
    default_scope_kind,
    next_status,
)

__all__ = [
    "ALL_STATUSES",
    "ANSWERED",
    "MAX_DEPUTIES_PER_ASSOCIATION",
    "CampaignKind",
    "CampaignState",
    "ChannelName",
    "ContactKind",
    "Role",
    "Scope",
    "Status",
    "default_scope_kind",
    "next_status",
]
