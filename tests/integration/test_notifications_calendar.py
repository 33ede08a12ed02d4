"""Meeting and review notices carry an iCalendar invitation: one UID through scheduling,
rescheduling and cancellation, parsed back with the icalendar library from real emails."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from email.message import Message
from uuid import uuid4

import pytest
from icalendar import Calendar

from services.notifications.application import NotificationsApplication
from services.notifications.delivery import DeliveryWorker
from services.runtime import System
from shared.contracts import Envelope
from shared.settings import Settings
from tests.integration.test_notifications_support import (
    VENUE,
    deliver,
    envelope,
    fast_settings,
    invitees,
    register,
    review_scheduled,
    smtp_sink,
)


@pytest.fixture
def node(settings: Settings) -> Iterator[System]:
    system = System.build(settings, ["notifications"])
    yield system
    system.close()


def calendar_of(email: Message) -> tuple[str, Calendar]:
    (part,) = [p for p in email.walk() if p.get_content_type() == "text/calendar"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return str(part.get_param("method")), Calendar.from_ical(payload)


async def test_a_review_keeps_one_calendar_uid_from_invitation_to_cancellation(
    node: System,
) -> None:
    app = node.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    child, review = uuid4(), uuid4()

    def consume(message: Envelope) -> None:
        deliver(app, message)

    with smtp_sink() as smtp:
        app.notify_settings = fast_settings(smtp_port=smtp.port, smtp_starttls=False)
        teacher = register(app, "Pat Teacher")
        worker = DeliveryWorker(app)
        consume(
            review_scheduled(
                app.cipher,
                child,
                invitees(("education", teacher)),
                review_id=review,
                starts_at="2026-09-15T10:00:00+01:00",
                venue=VENUE + "\r\nATTENDEE:mailto:x@evil.example",
            )
        )
        assert await worker.deliver_due() == 1
        consume(
            envelope(
                "reviews",
                "ReviewRescheduled",
                child,
                {
                    "child_id": str(child),
                    "review_id": str(review),
                    "starts_at": "2026-09-22T14:00:00+01:00",
                },
                8,
            )
        )
        assert await worker.deliver_due() == 1
        consume(
            envelope(
                "reviews",
                "ReviewCancelled",
                child,
                {"child_id": str(child), "review_id": str(review)},
                9,
            )
        )
        assert await worker.deliver_due() == 1
        emails = smtp.emails
    assert len(emails) == 3
    parsed = [calendar_of(email) for email in emails]
    assert [method for method, _ in parsed] == ["REQUEST", "REQUEST", "CANCEL"]
    events = [calendar.walk("VEVENT")[0] for _, calendar in parsed]
    assert [str(c["METHOD"]) for _, c in parsed] == ["REQUEST", "REQUEST", "CANCEL"]
    assert {str(e["UID"]) for e in events} == {f"{review}@ecm-record"}
    sequences = [int(e.decoded("SEQUENCE")) for e in events]
    assert sequences == sorted(sequences)
    assert [e.decoded("DTSTART") for e in events] == [
        datetime.fromisoformat(t)
        for t in (
            "2026-09-15T09:00:00+00:00",
            "2026-09-22T13:00:00+00:00",
            "2026-09-22T13:00:00+00:00",
        )
    ]
    assert b"DTSTART:20260915T090000Z" in parsed[0][1].to_ical()  # UTC, never floating
    assert str(events[2]["STATUS"]) == "CANCELLED"
    location = str(events[0]["LOCATION"])
    assert location.startswith(VENUE + " ATTENDEE:mailto:x@evil.example")
    assert "ATTENDEE" not in events[0]
    assert str(events[0]["ORGANIZER"]) == "mailto:ecm-team@example.org"


async def test_a_notice_not_about_a_meeting_has_no_invitation(node: System) -> None:
    app = node.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    child = uuid4()
    with smtp_sink() as smtp:
        app.notify_settings = fast_settings(smtp_port=smtp.port, smtp_starttls=False)
        teacher = register(app, "Pat Teacher")
        deliver(
            app,
            envelope(
                "reviews",
                "CaseClosed",
                child,
                {
                    "child_id": str(child),
                    "closed_on": "2026-11-01",
                    "safety_net_until": None,
                    "notify": [{"agency": "education", "contact_id": str(teacher)}],
                },
                3,
            ),
        )
        await DeliveryWorker(app).deliver_due()
        emails = smtp.emails
    for email in emails:
        assert [p for p in email.walk() if p.get_content_type() == "text/calendar"] == []
