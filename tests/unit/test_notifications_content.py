"""What a notice says, how webhooks are signed, and how channels are configured."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook

from services.notifications.adapters import Recipient
from services.notifications.adapters.webhook import WebhookSender, signature, verify
from services.notifications.content import compose, human_when
from services.notifications.domain import Notice, NoticeKind
from services.notifications.settings import NotifySettings
from shared.domain import Meta

CHILD = UUID("abcdef12-3456-4789-8abc-def012345678")
KEY = f"ecm-test-{uuid4()}-{uuid4()}"


def notice() -> Notice:
    return Notice(
        source_message_id="reviews:3",
        contact_id=uuid4(),
        child_id=CHILD,
        agency="health",
        kind=NoticeKind.REVIEW_SCHEDULED,
        subject_id="r-1",
        what="ECM review meeting",
        when="2026-07-01T09:30:00+00:00",
        venue="Room 4, Example House",
        online_link="https://meet.example.org/abc",
        due_at=datetime(2026, 6, 1, tzinfo=UTC),
        meta=Meta("notifications", "system", "c", "reviews:3"),
    )


def test_a_message_says_what_when_where_who_to_contact_and_links_back() -> None:
    n = notice()
    message = compose(n, "https://ecm.example.org/", "ecm-team@example.org")
    text = message.text()
    assert "What: ECM review meeting" in text
    assert "When: Wednesday 1 July 2026, 10:30 (UK time)" in text
    assert "Where: Room 4, Example House; online: https://meet.example.org/abc" in text
    assert "Contact: ecm-team@example.org" in text
    assert f"https://ecm.example.org/notices/{n.id}" in text
    assert message.subject == "ECM review meeting (ECM ref abcdef12)"


def test_the_child_appears_only_as_the_short_ecm_reference() -> None:
    message = compose(notice(), "https://ecm.example.org", "ecm-team@example.org")
    payload = str(message.as_json()) + message.text() + str(message.personalisation())
    assert "abcdef12" in payload
    assert str(CHILD) not in payload


def test_dates_without_a_time_read_as_dates() -> None:
    assert human_when("2026-03-03") == "Tuesday 3 March 2026"
    assert human_when(None) is None


def test_every_notify_template_field_is_filled() -> None:
    n = notice()
    n.venue = None
    n.online_link = None
    fields = compose(n, "https://x.example", "team@example.org").personalisation()
    assert set(fields) == {"what", "when", "where", "contact", "link", "reference", "actions"}
    assert fields["where"] == "-"
    assert fields["actions"] == "-"


def test_a_webhook_is_signed_per_standard_webhooks_over_id_timestamp_and_body() -> None:
    body = b'{"what":"ECM review meeting"}'
    now = int(time.time())
    headers = {
        "webhook-id": "n-1",
        "webhook-timestamp": str(now),
        "webhook-signature": signature("k" * 32, "n-1", now, body),
    }
    assert headers["webhook-signature"].startswith("v1,")
    assert verify("k" * 32, body, headers)
    assert not verify("k" * 32, body + b" ", headers)
    assert not verify("other-key-000000", body, headers)
    assert not verify("k" * 32, body, {**headers, "webhook-id": "n-2"})
    assert not verify("k" * 32, body, {**headers, "webhook-timestamp": str(now + 1)})
    stale = now - 600
    assert not verify(
        "k" * 32,
        body,
        {
            **headers,
            "webhook-timestamp": str(stale),
            "webhook-signature": signature("k" * 32, "n-1", stale, body),
        },
    )


def test_a_partner_verifies_with_the_standardwebhooks_library_itself() -> None:
    secret = "whsec_" + base64.b64encode(b"partner-secret-bytes-0123456789").decode()
    sender = WebhookSender(NotifySettings(webhook_secret="global-secret-0123456789"))
    message = compose(notice(), "https://x.example", "team@example.org")
    recipient = Recipient(uuid4(), "A", "a@example.org", "https://a.example/hook", secret)
    body, headers = sender.request(message, recipient, 3)
    assert Webhook(secret).verify(body, headers)["notice_id"] == str(message.notice_id)
    assert headers["webhook-id"] == str(message.notice_id)


def test_a_contacts_own_webhook_secret_wins_over_the_global_one() -> None:
    sender = WebhookSender(
        NotifySettings(
            webhook_secret="global-secret-0123456789", webhook_shared_secret_allowed=True
        )
    )
    message = compose(notice(), "https://x.example", "team@example.org")
    own = Recipient(uuid4(), "A", "a@example.org", "https://a.example/hook", "own-secret-abcdefgh")
    shared = Recipient(uuid4(), "B", "b@example.org", "https://b.example/hook", None)
    for recipient, secret in ((own, "own-secret-abcdefgh"), (shared, "global-secret-0123456789")):
        body, headers = sender.request(message, recipient, 1)
        assert verify(secret, body, headers)
        assert headers["webhook-id"] == headers["X-ECM-Notice-Id"] == str(message.notice_id)


def test_a_placeholder_webhook_secret_is_refused() -> None:
    sender = WebhookSender(NotifySettings(webhook_secret="changeme"))
    recipient = Recipient(uuid4(), "B", "b@example.org", "https://b.example/hook", None)
    with pytest.raises(Exception, match="webhook_secret: no signing secret"):
        sender.secret_for(recipient)


def test_a_notify_api_key_must_have_notifys_format() -> None:
    assert NotifySettings(govuk_api_key=KEY).govuk_api_key == KEY
    with pytest.raises(ValidationError, match="name-<service id uuid>-<secret uuid>"):
        NotifySettings(govuk_api_key="just-a-secret")


def test_channel_settings_come_from_ecm_notify_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ECM_NOTIFY_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("ECM_NOTIFY_SMTP_PORT", "2525")
    monkeypatch.setenv("ECM_NOTIFY_PUBLIC_BASE_URL", "https://ecm.example.org/")
    monkeypatch.setenv("ECM_NOTIFY_BACKOFF_SECONDS", "[1, 2]")
    settings = NotifySettings()
    assert (settings.smtp_host, settings.smtp_port) == ("smtp.example.org", 2525)
    assert settings.public_base_url == "https://ecm.example.org"
    assert settings.backoff_seconds == [1.0, 2.0]


def test_outside_dev_mode_a_contact_without_their_own_key_gets_no_webhook() -> None:
    sender = WebhookSender(NotifySettings(webhook_secret="global-secret-0123456789"))
    message = compose(notice(), "https://x.example", "team@example.org")
    shared = Recipient(uuid4(), "B", "b@example.org", "https://b.example/hook", None)
    with pytest.raises(Exception, match="no signing secret of the contact's own"):
        sender.request(message, shared, 1)
