"""Signed webhook channel (httpx), per the Standard Webhooks specification.

Each delivery carries `webhook-id` (the notice id: the same on every retry, so a receiver can
drop repeats), `webhook-timestamp` (Unix seconds) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`), made with the `standardwebhooks`
library. A partner verifies with any Standard Webhooks library:
`Webhook(secret).verify(body, headers)`, where a `whsec_<base64>` secret is used as given and
any other secret as its UTF-8 bytes (see `signing_key`).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notifications.adapters import DeliveryError, Recipient
from services.notifications.adapters.addresses import networks, resolve
from services.notifications.content import NoticeMessage
from services.notifications.settings import NotifySettings
from shared.settings import PLACEHOLDERS

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
NOTICE_HEADER = "X-ECM-Notice-Id"
SECRET_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: `whsec_<base64>` decoded, any other secret's UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")
    return secret.encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256(id.timestamp.body)>`."""
    return Webhook(signing_key(secret)).sign(
        message_id, datetime.fromtimestamp(timestamp, UTC), body.decode()
    )


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """What a receiver checks (with the library): signature matches, timestamp within 5 min."""
    try:
        Webhook(signing_key(secret)).verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError):
        return False
    return True


class WebhookSender:
    """POSTs each notice to the contact's webhook URL, signed with their own or the global key."""

    name = "webhook"

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def secret_for(self, recipient: Recipient) -> str:
        """The contact's own secret, else the shared one where that is allowed (dev mode);
        refuses placeholders."""
        if not recipient.webhook_secret and not self.settings.webhook_shared_secret_allowed:
            raise DeliveryError(
                "webhook_secret: no signing secret of the contact's own (a "
                "key shared by every partner is for dev mode only)"
            )
        secret = recipient.webhook_secret or self.settings.webhook_secret
        if secret.strip().lower() in PLACEHOLDERS:
            raise DeliveryError(
                "webhook_secret: no signing secret is configured "
                "(ECM_NOTIFY_WEBHOOK_SECRET or the contact's own)"
            )
        return secret

    def request(
        self, message: NoticeMessage, recipient: Recipient, attempt: int, now: float | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one delivery."""
        body = json.dumps(message.as_json(), separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(now if now is not None else time.time())
        message_id = str(message.notice_id)
        headers = {
            "Content-Type": "application/json",
            ID_HEADER: message_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: " ".join(
                signature(secret, message_id, timestamp, body)
                for secret in (self.secret_for(recipient), recipient.previous_webhook_secret)
                if secret
            ),
            NOTICE_HEADER: message_id,
            "X-ECM-Delivery-Attempt": str(attempt),
            "User-Agent": "ecm-record-notifications",
        }
        return body, headers

    async def send(self, message: NoticeMessage, recipient: Recipient, attempt: int) -> str:
        """Deliver to the checked, pinned address; any 2xx is success.

        The reference is the status only: what the receiver answers is never stored (it would
        reach the subject access report), and errors say what class of failure it was, not
        what the network said (which would tell an open port from a closed one).
        """
        if not recipient.webhook_url:
            raise DeliveryError("webhook_url: the contact has no webhook URL")
        destination = await resolve(
            recipient.webhook_url,
            networks(self.settings.webhook_allowed_networks),
            self.settings.webhook_require_https,
        )
        body, headers = self.request(message, recipient, attempt)
        headers["Host"] = destination.host_header
        try:
            async with httpx.AsyncClient(
                timeout=self.settings.send_timeout_seconds, follow_redirects=False, trust_env=False
            ) as client:
                response = await client.post(
                    destination.connect_url,
                    content=body,
                    headers=headers,
                    extensions={"sni_hostname": destination.server_name},
                )
        except httpx.HTTPError:
            # One wording for refused, reset, timed out or not HTTP: never a port scanner.
            raise DeliveryError("webhook: the receiver could not be reached") from None
        if not response.is_success:
            raise DeliveryError(
                f"webhook: the receiver refused the notice (HTTP {response.status_code // 100}xx)"
            )
        return f"webhook:{response.status_code}"
