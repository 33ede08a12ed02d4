"""From stream messages to notices, on real SQLite stores (no bus: the handler is called)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from uuid import UUID, uuid4

import pytest
from sqlalchemy import delete

from services.notifications.application import NotificationsApplication
from services.notifications.domain import NoticeKind, NoticeStatus
from services.notifications.index import notice_index, partner_index
from services.runtime import System
from shared.consumer import Delivery, positions
from shared.contracts import Envelope
from shared.domain import Meta, MissingPrecondition
from shared.settings import Settings
from shared.vocabulary import Agency
from tests.integration.test_notifications_support import (
    ONLINE,
    VENUE,
    deliver,
    envelope,
    fast_settings,
    invitees,
    notice_sink,
    register,
    review_scheduled,
)

DELIVERY = Meta("notifications-delivery", "system", "corr", "cause")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def node(request: pytest.FixtureRequest) -> Iterator[System]:
    """The notifications service on SQLite, and on PostgreSQL when ECM_TEST_POSTGRES_URL is set."""
    fixture = "settings" if request.param == "sqlite" else "pg_settings"
    settings: Settings = request.getfixturevalue(fixture)
    system = System.build(settings, ["notifications"])
    system.app(NotificationsApplication).notify_settings = fast_settings()
    yield system
    system.close()


def app_of(system: System) -> NotificationsApplication:
    app = system.app(NotificationsApplication)
    assert isinstance(app, NotificationsApplication)
    return app


def consumer_of(system: System) -> Callable[[Envelope], int]:
    """Messages through the notifications consumer's sink, as the node delivers them."""
    return lambda message: deliver(app_of(system), message)


def test_a_scheduled_review_queues_one_notice_per_invited_contact(node: System) -> None:
    app, consume = app_of(node), consumer_of(node)
    teacher, nurse = register(app, "Pat Teacher"), register(app, "Nina Nurse", Agency.HEALTH)
    child = uuid4()
    message = review_scheduled(
        app.cipher,
        child,
        invitees(
            ("education", teacher), ("health", nurse), ("education", teacher), ("police", None)
        ),
    )
    assert consume(message) == 1
    written = app.max_notification_id()
    assert consume(message) == 0  # the same message again, at a later stream sequence
    assert app.max_notification_id() == written
    rows = {row.contact_id: row for row in app.notices(None)}
    assert set(rows) == {teacher, nurse}
    notice = app.get_notice(rows[teacher].notice_id)
    assert (notice.kind, notice.what, notice.venue, notice.online_link) == (
        NoticeKind.REVIEW_SCHEDULED,
        "ECM review meeting",
        VENUE,
        ONLINE,
    )
    assert notice.status == NoticeStatus.QUEUED
    assert notice.agency == "education"


def test_a_message_applied_again_past_its_tracking_still_queues_nothing_new(
    node: System,
) -> None:
    app, consume = app_of(node), consumer_of(node)
    teacher = register(app, "Pat Teacher")
    message = review_scheduled(app.cipher, uuid4(), invitees(("education", teacher)))
    consume(message)
    notice_sink(app).replay(message)  # as an operator's replay of a parked copy would
    assert len(app.notices(None)) == 1


def test_the_venue_is_sealed_at_rest_under_the_childs_key(node: System) -> None:
    settings = node.settings
    if settings.postgres_url:
        pytest.skip("raw-file scan is for SQLite")
    app, consume = app_of(node), consumer_of(node)
    teacher = register(app, "Pat Teacher")
    consume(review_scheduled(app.cipher, uuid4(), invitees(("education", teacher))))
    raw = b"".join(p.read_bytes() for p in settings.sqlite_path("x").parent.glob("notif*"))
    assert VENUE.encode() not in raw
    assert ONLINE.encode() not in raw


def test_a_rescheduled_review_tells_the_invitees_the_new_time_and_the_same_place(
    node: System,
) -> None:
    app, consume = app_of(node), consumer_of(node)
    teacher, other = register(app, "Pat Teacher"), register(app, "Not Invited")
    child, review = uuid4(), uuid4()
    consume(review_scheduled(app.cipher, child, invitees(("education", teacher)), review_id=review))
    consume(
        envelope(
            "reviews",
            "ReviewRescheduled",
            child,
            {
                "child_id": str(child),
                "review_id": str(review),
                "starts_at": "2026-09-22T14:00:00+00:00",
            },
            8,
        )
    )
    moved = [r for r in app.notices(None) if r.kind == NoticeKind.REVIEW_RESCHEDULED]
    assert [r.contact_id for r in moved] == [teacher]
    notice = app.get_notice(moved[0].notice_id)
    assert notice.when == "2026-09-22T14:00:00+00:00"
    assert notice.venue == VENUE
    assert other not in {r.contact_id for r in app.notices(None)}


def test_a_reschedule_of_a_meeting_never_seen_scheduled_is_held_back_not_passed_over(
    node: System,
) -> None:
    app = app_of(node)
    child = uuid4()
    moved = envelope(
        "reviews",
        "ReviewRescheduled",
        child,
        {
            "child_id": str(child),
            "review_id": str(uuid4()),
            "starts_at": "2026-09-22T14:00:00+00:00",
        },
        3,
    )
    sink = notice_sink(app)
    with pytest.raises(MissingPrecondition, match="never seen scheduled"):
        sink.commit([Delivery(1, moved)])
    assert sink.position() == 0 and app.notices(None) == []
    sink.park(Delivery(1, moved), "MissingPrecondition: never seen scheduled", 5)
    assert [row["message_id"] for row in sink.parked()] == ["reviews:3"]
    assert sink.position() == 1
    assert deliver(app, moved) == 0  # moved past: only an operator's replay applies it now


def test_a_cancelled_formulation_meeting_tells_the_invitees_which_date_is_off(
    node: System,
) -> None:
    app, consume = app_of(node), consumer_of(node)
    nurse = register(app, "Nina Nurse", Agency.HEALTH)
    child, meeting = uuid4(), uuid4()
    consume(
        envelope(
            "formulation",
            "FormulationMeetingScheduled",
            child,
            {
                "child_id": str(child),
                "meeting_id": str(meeting),
                "starts_at": "2026-05-05T13:00:00+01:00",
                "venue": None,
                "online_link": None,
                "invitees": invitees(("health", nurse)),
            },
            3,
        )
    )
    consume(
        envelope(
            "formulation",
            "FormulationMeetingCancelled",
            child,
            {"child_id": str(child), "meeting_id": str(meeting)},
            4,
        )
    )
    kinds = sorted(str(r.kind) for r in app.notices(None))
    assert kinds == ["formulation_meeting_cancelled", "formulation_meeting_scheduled"]
    cancelled = next(r for r in app.notices(None) if r.kind == "formulation_meeting_cancelled")
    assert cancelled.what == "ECM formulation meeting cancelled"
    assert cancelled.when == "2026-05-05T13:00:00+01:00"


def test_transitions_and_closure_reach_every_contact_linked_to_the_child(node: System) -> None:
    app, consume = app_of(node), consumer_of(node)
    teacher, nurse = register(app, "Pat Teacher"), register(app, "Nina Nurse", Agency.HEALTH)
    stranger = register(app, "Other Child's Social Worker", Agency.SOCIAL_CARE)
    child, other_child = uuid4(), uuid4()
    consume(
        envelope(
            "formulation",
            "FormulationMeetingScheduled",
            child,
            {
                "child_id": str(child),
                "meeting_id": str(uuid4()),
                "starts_at": "2026-05-05T13:00:00+00:00",
                "invitees": invitees(("health", nurse)),
            },
            1,
        )
    )
    consume(review_scheduled(app.cipher, child, invitees(("education", teacher)), 2))
    consume(review_scheduled(app.cipher, other_child, invitees(("social_care", stranger)), 3))
    consume(
        envelope(
            "reviews",
            "TransitionRecorded",
            child,
            {
                "child_id": str(child),
                "transition_id": str(uuid4()),
                "kind": "changed_school",
                "occurred_on": "2026-10-01",
                "receiving_organisation": None,
            },
            4,
        )
    )
    consume(
        envelope(
            "reviews",
            "CaseClosed",
            child,
            {
                "child_id": str(child),
                "closed_on": "2026-12-01",
                "safety_net_until": "2027-06-01",
            },
            5,
        )
    )
    told = {
        (r.kind, r.contact_id)
        for r in app.notices(None)
        if r.kind in (NoticeKind.TRANSITION_RECORDED, NoticeKind.CASE_CLOSED)
    }
    assert told == {
        (k, c)
        for k in (NoticeKind.TRANSITION_RECORDED, NoticeKind.CASE_CLOSED)
        for c in (teacher, nurse)
    }
    transition = next(r for r in app.notices(None) if r.kind == NoticeKind.TRANSITION_RECORDED)
    assert transition.what == "ECM: a transition was recorded (changed school)"


def test_other_services_messages_are_ignored(node: System) -> None:
    consume = consumer_of(node)
    child = uuid4()
    assert (
        consume(
            envelope(
                "referrals",
                "ReferralAccepted",
                child,
                {"child_id": str(child), "area": "bristol"},
                1,
            )
        )
        == 1
    )
    assert app_of(node).notices(None) == []
    assert app_of(node).max_notification_id() == 0  # nothing written but its tracking


def test_the_index_rebuilt_from_the_store_equals_the_live_one(node: System) -> None:
    app, consume = app_of(node), consumer_of(node)
    teacher = register(app, "Pat Teacher")
    consume(review_scheduled(app.cipher, uuid4(), invitees(("education", teacher))))
    row = app.notices(None)[0]
    app.record_failure(row.notice_id, "smtp: refused", row.queued_at, DELIVERY)
    live = (app.notices(None), app.partners())
    with app.reads.begin() as conn:
        conn.execute(delete(notice_index))
        conn.execute(delete(partner_index))
        app.index.tracker.forget(conn)
    assert (app.notices(None), app.partners()) == live


def test_a_contact_id_the_directory_does_not_know_still_gets_a_visible_notice(
    node: System,
) -> None:
    app, consume = app_of(node), consumer_of(node)
    unknown = UUID(int=42)
    consume(review_scheduled(app.cipher, uuid4(), invitees(("police", unknown))))
    assert [r.contact_id for r in app.notices(None)] == [unknown]


def test_subject_access_finds_every_notice_about_the_child_with_its_venue(node: System) -> None:
    app, consume = app_of(node), consumer_of(node)
    teacher = register(app, "Pat Teacher")
    child = uuid4()
    consume(review_scheduled(app.cipher, child, invitees(("education", teacher))))
    consume(review_scheduled(app.cipher, uuid4(), invitees(("education", teacher)), 8))
    [notice] = app.notices_for_child(child)
    assert (notice["contact_id"], notice["agency"], notice["venue"]) == (
        teacher,
        "education",
        VENUE,
    )
    assert notice["status"] == NoticeStatus.QUEUED


def test_the_stream_delivered_again_from_the_start_queues_no_notice_twice(node: System) -> None:
    app = app_of(node)
    teacher = register(app, "Pat Teacher")
    child = uuid4()
    messages = [
        review_scheduled(app.cipher, child, invitees(("education", teacher)), 1),
        envelope(
            "reviews", "CaseClosed", child, {"child_id": str(child), "closed_on": "2026-12-01"}, 2
        ),
    ]
    assert deliver(app, *messages) == 2
    before, written = app.notices(None), app.max_notification_id()
    with app.reads.begin() as conn:  # the stream cursor lost: the stream comes from the start
        conn.execute(delete(positions).where(positions.c.consumer == notice_sink(app).name))
    assert notice_sink(app).position() == 0
    assert deliver(app, *messages) == 0
    assert app.notices(None) == before
    assert app.max_notification_id() == written
