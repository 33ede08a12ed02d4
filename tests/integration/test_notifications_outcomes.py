"""Partners hear a review was held (with their own agency's actions only) and that a case was
reopened: through a real SMTP server and a real webhook receiver."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.notifications.adapters.webhook import verify
from services.notifications.application import NotificationsApplication
from services.notifications.delivery import DeliveryWorker
from services.notifications.domain import Channel, NoticeKind, NoticeStatus
from services.runtime import System
from shared.crypto import FieldCipher
from shared.settings import Settings
from shared.vocabulary import Agency
from tests.integration.test_notifications_support import (
    Request,
    deliver,
    envelope,
    fast_settings,
    http_receiver,
    invitees,
    register,
    review_scheduled,
    smtp_sink,
)

SECRET = "police-own-secret-0123456789"
HELD_ON = date.today()
EDUCATION_ACTION = "Synthetic: a key adult meets Sam at the gate every morning"
POLICE_ACTION = "Synthetic: one named officer for every contact"
HEALTH_ACTION = "Synthetic: CAMHS appointment moved to after school"


@pytest.fixture
def node(store_settings: Settings) -> Iterator[System]:
    system = System.build(store_settings, ["notifications"])
    yield system
    system.close()


def unfolded(header: Any) -> str:
    """A header as written, long lines unfolded (RFC 5322 folding is not a change)."""
    return re.sub(r"\r?\n", "", str(header))


def stored_bytes(system: System) -> bytes:
    """Everything the notifications service holds at rest: every SQLite file in the data
    folder, or the rows of its PostgreSQL schema's events table."""
    settings = system.settings
    if settings.postgres_url is None:
        folder = settings.sqlite_path("notifications").parent
        return b"".join(p.read_bytes() for p in sorted(folder.glob("*.sqlite*")))
    import psycopg

    table = f'"{settings.pg_schema("notifications")}".{app_of(system).recorder.events_table_name}'  # type: ignore[attr-defined]
    with psycopg.connect(settings.postgres_url) as conn:
        rows = conn.execute(f"SELECT topic, state FROM {table}").fetchall()
    return b"".join(topic.encode() + bytes(state) for topic, state in rows)


def app_of(system: System) -> NotificationsApplication:
    return system.app(NotificationsApplication)


def review_held(cipher: FieldCipher, child_id: UUID, review_id: UUID, notification_id: int) -> Any:
    """ReviewHeld as the reviews service publishes it: action texts sealed, item by item."""

    def action(agency: str, days: int, text: str) -> dict[str, Any]:
        return {
            "agency": agency,
            "due_on": (HELD_ON + timedelta(days=days)).isoformat(),
            "text": cipher.seal(child_id, "actions.text", text, event="ReviewCase.ReviewHeld"),
        }

    return envelope(
        "reviews",
        "ReviewHeld",
        child_id,
        {
            "child_id": str(child_id),
            "review_id": str(review_id),
            "held_on": HELD_ON.isoformat(),
            "attendance": [],
            "stage": 3,
            "stage_label": "x",
            "previous_stage": 2,
            "progress": [],
            "actions": [
                action("education", 14, EDUCATION_ACTION),
                action("police", 7, POLICE_ACTION),
                action("health", 21, HEALTH_ACTION),
            ],
            "next_review_on": (HELD_ON + timedelta(weeks=6)).isoformat(),
        },
        notification_id,
    )


async def test_a_held_review_tells_each_partner_only_their_own_agencys_actions(
    node: System,
) -> None:
    app = app_of(node)
    verified: list[bool] = []

    def respond(request: Request, _n: int) -> tuple[int, dict[str, Any]]:
        verified.append(verify(SECRET, request.body, request.headers))
        return 200, {}

    child, review = uuid4(), uuid4()
    with smtp_sink() as smtp, http_receiver(respond) as receiver:
        app.notify_settings = fast_settings(smtp_port=smtp.port, smtp_starttls=False)
        teacher = register(app, "Pat Teacher")
        officer = register(
            app,
            "Sgt Example",
            Agency.POLICE,
            Channel.WEBHOOK,
            webhook_url=receiver.url("/ecm"),
            webhook_secret=SECRET,
        )
        deliver(
            app,
            review_scheduled(
                app.cipher,
                child,
                invitees(("education", teacher), ("police", officer)),
                notification_id=7,
                review_id=review,
            ),
            review_held(app.cipher, child, review, notification_id=8),
        )
        worker = DeliveryWorker(app)
        assert await worker.deliver_due() == 4  # two invitations, two review-held notices
        assert await worker.deliver_due() == 0

    held = [n for n in app.notices(None) if n.kind == NoticeKind.REVIEW_HELD]
    assert sorted(str(n.contact_id) for n in held) == sorted([str(teacher), str(officer)])
    assert all(app.get_notice(n.notice_id).status == NoticeStatus.SENT for n in held)

    (email,) = [e for e in smtp.emails if "review held" in str(e["Subject"])]
    next_due = (HELD_ON + timedelta(weeks=6)).isoformat()
    assert unfolded(email["Subject"]) == (
        "ECM review held: 1 action for your agency; next "
        f"review due {next_due} (ECM ref {str(child)[:8]})"
    )
    assert email["To"] == "pat.teacher@partner.example.org"
    text = next(t for t in smtp.texts if EDUCATION_ACTION in t)
    assert "Actions for your agency:" in text
    assert POLICE_ACTION not in text and HEALTH_ACTION not in text
    assert all(
        POLICE_ACTION.encode() not in raw and HEALTH_ACTION.encode() not in raw for raw in smtp.raw
    )

    assert verified == [True, True]
    payloads = [json.loads(r.body) for r in receiver.requests]
    (payload,) = [p for p in payloads if p["kind"] == "review_held"]
    assert payload["actions"] == [
        {"due_on": (HELD_ON + timedelta(days=7)).isoformat(), "text": POLICE_ACTION}
    ]
    assert payload["when"] == HELD_ON.strftime("%A %-d %B %Y")
    assert payload["calendar"] is None  # a review held is not a meeting to put in a diary
    assert all(
        EDUCATION_ACTION.encode() not in r.body and HEALTH_ACTION.encode() not in r.body
        for r in receiver.requests
    )

    # the action texts are sealed under the child's key at rest, like venues
    at_rest = stored_bytes(node)
    assert b"ActionsListed" in at_rest  # the notices' event is there...
    for action in (EDUCATION_ACTION, POLICE_ACTION, HEALTH_ACTION):
        assert action.encode() not in at_rest  # ...but none of the texts in clear


async def test_a_reopened_case_is_told_to_every_partner_linked_to_the_child(
    node: System,
) -> None:
    app = app_of(node)
    child = uuid4()
    with smtp_sink() as smtp:
        app.notify_settings = fast_settings(smtp_port=smtp.port, smtp_starttls=False)
        teacher, nurse = register(app, "Pat Teacher"), register(app, "Jo Nurse", Agency.HEALTH)
        reopened_on = date.today().isoformat()
        deliver(
            app,
            review_scheduled(
                app.cipher,
                child,
                invitees(("education", teacher), ("health", nurse)),
                notification_id=7,
            ),
            envelope(
                "reviews",
                "CaseReopened",
                child,
                {"child_id": str(child), "reopened_on": reopened_on},
                9,
            ),
        )
        assert await DeliveryWorker(app).deliver_due() == 4

    reopened = [e for e in smtp.emails if "resumed" in str(e["Subject"])]
    assert sorted(str(e["To"]) for e in reopened) == [
        "jo.nurse@partner.example.org",
        "pat.teacher@partner.example.org",
    ]
    assert all(
        unfolded(e["Subject"]) == "ECM involvement has resumed: the case was reopened "
        f"(ECM ref {str(child)[:8]})"
        for e in reopened
    )
    text = next(t for t in smtp.texts if "resumed" in t)
    assert f"When: {date.today().strftime('%A %-d %B %Y')}" in text
    kinds = [n.kind for n in app.notices(None)]
    assert kinds.count(NoticeKind.CASE_REOPENED) == 2


async def test_a_held_review_for_a_child_nobody_was_invited_about_queues_nothing(
    node: System,
) -> None:
    app = app_of(node)
    child = uuid4()
    assert deliver(app, review_held(app.cipher, child, uuid4(), notification_id=3)) == 1
    assert app.notices(None) == []
