"""The shared data types and vocabulary of SafetyNet; imports nothing else of the project.

The package re-exports the vocabulary (statuses, channels, campaign kinds and states, roles, scope);
the data types of each area live in its module: `roster`, `campaigns` (campaigns, ladder, outbox),
`replies` and `triggers`.
"""

from safetynet.domain.vocabulary import (
    ALL_STATUSES,
    ANSWERED,
    APP_CHANNELS,
    CHANNELS_OF_KIND,
    MAX_DEPUTIES_PER_ASSOCIATION,
    CampaignKind,
    CampaignState,
    Channel,
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
    "APP_CHANNELS",
    "CHANNELS_OF_KIND",
    "MAX_DEPUTIES_PER_ASSOCIATION",
    "CampaignKind",
    "CampaignState",
    "Channel",
    "ContactKind",
    "Role",
    "Scope",
    "Status",
    "default_scope_kind",
    "next_status",
]
