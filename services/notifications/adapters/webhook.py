"""Signed webhook channel (httpx): JSON body, HMAC-SHA256 over timestamp and body."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from services.notifications.adapters import DeliveryError, Recipient
from services.notifications.adapters.addresses import networks, resolve
from services.notifications.content import NoticeMessage
from services.notifications.settings import NotifySettings
from shared.settings import PLACEHOLDERS

SIGNATURE_HEADER = "X-ECM-Signature"
TIMESTAMP_HEADER = "X-ECM-Timestamp"
NOTICE_HEADER = "X-ECM-Notice-Id"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>." + body)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signed: str, now: float | None = None,
           tolerance: float = TOLERANCE_SECONDS) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(signature(secret, timestamp, body), signed)


class WebhookSender:
    """POSTs each notice to the contact's webhook URL, signed with their own or the global key."""

    name = "webhook"

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def secret_for(self, recipient: Recipient) -> str:
        """The contact's own secret, else the global one; refuses placeholders."""
        secret = recipient.webhook_secret or self.settings.webhook_secret
        if secret.strip().lower() in PLACEHOLDERS:
            raise DeliveryError("webhook_secret: no signing secret is configured "
                                "(ECM_NOTIFY_WEBHOOK_SECRET or the contact's own)")
        return secret

    def request(self, message: NoticeMessage, recipient: Recipient, attempt: int,
                now: float | None = None) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one delivery."""
        body = json.dumps(message.as_json(), separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(now if now is not None else time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self.secret_for(recipient), timestamp, body),
            NOTICE_HEADER: str(message.notice_id),
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
        destination = await resolve(recipient.webhook_url,
                                    networks(self.settings.webhook_allowed_networks),
                                    self.settings.webhook_require_https)
        body, headers = self.request(message, recipient, attempt)
        headers["Host"] = destination.host_header
        try:
            async with httpx.AsyncClient(timeout=self.settings.send_timeout_seconds,
                                         follow_redirects=False, trust_env=False) as client:
                response = await client.post(
                    destination.connect_url, content=body, headers=headers,
                    extensions={"sni_hostname": destination.server_name})
        except httpx.HTTPError:
            # One wording for refused, reset, timed out or not HTTP: never a port scanner.
            raise DeliveryError("webhook: the receiver could not be reached") from None
        if not response.is_success:
            raise DeliveryError(f"webhook: the receiver refused the notice (HTTP "
                                f"{response.status_code // 100}xx)")
        return f"webhook:{response.status_code}"
