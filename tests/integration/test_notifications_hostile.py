"""Text stored before the edge refused it cannot break a notice: headers stay headers, lines
stay lines, whatever the venue or the address holds. A real SMTP server captures the email."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from services.notifications.application import NotificationsApplication
from services.notifications.delivery import DeliveryWorker
from services.notifications.domain import Channel, NoticeStatus
from services.runtime import System
from shared.settings import Settings
from shared.vocabulary import Agency
from tests.integration.test_notifications_support import (
    STAFF,
    deliver,
    fast_settings,
    invitees,
    register,
    review_scheduled,
    smtp_sink,
)

INJECTED_VENUE = (
    "Room 4\r\nContact: someone@evil.example\r\n"
    "Details and acknowledgement: http://evil.example/ack\u2028Bcc: x@evil.example"
)


@pytest.fixture
def node(settings: Settings) -> Iterator[System]:
    system = System.build(settings, ["notifications"])
    yield system
    system.close()


def app_of(system: System) -> NotificationsApplication:
    app = system.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    return app


async def test_a_venue_holding_line_breaks_stays_on_one_line_of_the_email(node: System) -> None:
    app = app_of(node)
    with smtp_sink() as smtp:
        app.notify_settings = fast_settings(smtp_port=smtp.port, smtp_starttls=False)
        teacher = register(app, "Pat Teacher")
        child = uuid4()
        deliver(
            app,
            review_scheduled(
                app.cipher, child, invitees(("education", teacher)), venue=INJECTED_VENUE
            ),
        )
        assert await DeliveryWorker(app).deliver_due() == 1
        (email,) = smtp.emails
        notice = app.notices(None)[0]
        assert email["Subject"] == f"ECM review meeting (ECM ref {str(child)[:8]})"
        assert email["Message-ID"] == f"<{notice.notice_id}@ecm-record>"
        assert email["Bcc"] is None
        lines = smtp.texts[0].splitlines()
        assert [line for line in lines if line.startswith("Contact:")] == [
            "Contact: ecm-team@example.org"
        ]
        assert [line for line in lines if line.startswith("Details and acknowledgement:")] == [
            f"Details and acknowledgement: https://ecm.example.org/notices/{notice.notice_id}"
        ]
        (where,) = [line for line in lines if line.startswith("Where:")]
        assert "Room 4 Contact: someone@evil.example" in where


async def test_an_address_stored_with_a_trailing_newline_is_never_sent_to(node: System) -> None:
    app = app_of(node)
    with smtp_sink() as smtp:
        app.notify_settings = fast_settings(
            smtp_port=smtp.port, smtp_starttls=False, backoff_seconds=[3600]
        )
        contact = app.register_partner(
            agency=Agency.EDUCATION,
            name="Pat",
            email="pat@school.example.org\n",
            webhook_url=None,
            preferred_channel=Channel.EMAIL,
            webhook_secret=None,
            meta=STAFF,
        )
        deliver(app, review_scheduled(app.cipher, uuid4(), invitees(("education", contact))))
        assert await DeliveryWorker(app).deliver_due() == 1
        assert smtp.raw == []
        (row,) = app.notices(None)
        assert row.status == NoticeStatus.FAILED
        assert row.last_error is not None and "email address is not valid" in row.last_error
