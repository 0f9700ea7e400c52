"""What Twilio's two channels (SMS and voice) share: the account's secrets, the HTTP transport and
the classification of its errors (`http.py`), webhook signatures and status callbacks (`webhook.py`,
`status.py`), and the sandbox's account checks (`sandbox.py`). Light: the library loads lazily.
"""

from __future__ import annotations

from safetynet.channels.base import SecretSpec

ACCOUNT_SID = SecretSpec("twilio_account_sid", "SAFETYNET_TWILIO_ACCOUNT_SID", sandbox="AC" + "0" * 32)
# the sandbox's public test credential: never accepted for a channel that talks to a real provider
AUTH_TOKEN = SecretSpec("twilio_auth_token", "SAFETYNET_TWILIO_AUTH_TOKEN", sandbox="sandbox-auth-token")
SECRETS = (ACCOUNT_SID, AUTH_TOKEN)

# The API version in every path the project builds on `api_base_url`.
API_VERSION = "2010-04-01"
# Message and call status callbacks of both channels.
STATUS_PATH = "/hooks/twilio/status"
