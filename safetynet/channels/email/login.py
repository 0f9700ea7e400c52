"""The optional SMTP login (from the environment, never config.toml)."""

from __future__ import annotations

from safetynet.channels.base import SecretSpec

# A relay that trusts the city's network needs no login: both are optional. The sandbox's server
# takes its public test login (used only while the channel talks to it), so every run logs in.
USERNAME = SecretSpec("smtp_username", "SAFETYNET_SMTP_USERNAME", sandbox="sandbox", required=False)
PASSWORD = SecretSpec("smtp_password", "SAFETYNET_SMTP_PASSWORD", sandbox="sandbox-smtp-password", required=False)
SECRETS = (USERNAME, PASSWORD)
