"""The optional SMTP login (from the environment, never config.toml)."""

from __future__ import annotations

from safetynet.channels.base import SecretSpec

# A relay that trusts the city's network (or the sandbox) needs no login: both are optional.
USERNAME = SecretSpec("smtp_username", "SAFETYNET_SMTP_USERNAME", required=False)
PASSWORD = SecretSpec("smtp_password", "SAFETYNET_SMTP_PASSWORD", required=False)
SECRETS = (USERNAME, PASSWORD)
