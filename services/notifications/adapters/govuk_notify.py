"""GOV.UK Notify channel: an email template filled with the minimal notice fields."""

from __future__ import annotations

import asyncio

from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from services.notifications.adapters import DeliveryError, Recipient
from services.notifications.content import NoticeMessage
from services.notifications.settings import NotifySettings


class NotifySender:
    """Sends through GOV.UK Notify (the client is synchronous: it runs in a worker thread)."""

    name = "notify"

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def _send(self, message: NoticeMessage, recipient: Recipient) -> str:
        s = self.settings
        if not s.govuk_api_key or not s.govuk_template_id:
            raise DeliveryError(
                "govuk_api_key: GOV.UK Notify is not configured "
                "(ECM_NOTIFY_GOVUK_API_KEY and ECM_NOTIFY_GOVUK_TEMPLATE_ID)"
            )
        # A client per send: the Notify client is not thread-safe.
        client = NotificationsAPIClient(  # type: ignore[no-untyped-call]
            s.govuk_api_key, base_url=s.govuk_base_url, timeout=s.send_timeout_seconds
        )
        try:
            response = client.send_email_notification(  # type: ignore[no-untyped-call]
                email_address=recipient.email,
                template_id=s.govuk_template_id,
                personalisation=message.personalisation(),
                reference=str(message.notice_id),
            )
        except APIError as error:
            raise DeliveryError(f"notify: {error}") from error
        if not isinstance(response, dict) or not response.get("id"):
            raise DeliveryError("notify: the response carried no notification id")
        return str(response["id"])

    async def send(self, message: NoticeMessage, recipient: Recipient, attempt: int) -> str:
        """Deliver through Notify; the reference is Notify's notification id."""
        return await asyncio.to_thread(self._send, message, recipient)
