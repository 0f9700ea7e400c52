"""The campaigns repository on PostgreSQL: the portable SQL of `store.sqlite.campaigns` through `PgDatabase`."""

from __future__ import annotations

from safetynet.store.sqlite.campaigns import CampaignStore


class PgCampaignStore(CampaignStore):
    pass
