"""Signed webhook channel (httpx): JSON body, HMAC-SHA256 over timestamp and body."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from services.notifications.adapters import DeliveryError, Recipient
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
        """Deliver; any 2xx is success, the receiver's `id` (if any) is the reference."""
        if not recipient.webhook_url:
            raise DeliveryError("webhook_url: the contact has no webhook URL")
        body, headers = self.request(message, recipient, attempt)
        try:
            async with httpx.AsyncClient(timeout=self.settings.send_timeout_seconds,
                                         follow_redirects=False) as client:
                response = await client.post(recipient.webhook_url, content=body,
                                             headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryError(f"webhook: {type(error).__name__}: {error}") from error
        if not response.is_success:
            raise DeliveryError(f"webhook: receiver answered HTTP {response.status_code}")
        reference = f"webhook:{response.status_code}"
        try:
            answer = response.json()
        except ValueError:
            return reference
        if isinstance(answer, dict) and isinstance(answer.get("id"), str | int):
            return str(answer["id"])[:200]
        return reference
