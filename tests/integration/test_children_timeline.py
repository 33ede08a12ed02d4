"""The whole-story timeline read model on real SQLite, fed messages in stream order: stage
movement across services, reviews and notices in their place, a replayed message adding
nothing, and an age entry placed last while the date of birth is unknown."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from services.children.timeline import TimelineProjection, TimelineQuery, read_timeline
from shared.consumer import Delivery
from shared.contracts import Actor, Envelope
from shared.settings import development_settings
from shared.sql import make_engine

CHILD = uuid4()
NOTICE = uuid4()


def envelope(
    n: int, service: str, event_type: str, day: date, aggregate: UUID | None = None, **data: Any
) -> Envelope:
    return Envelope(
        message_id=f"{service}:{n}",
        service=service,
        event_type=event_type,
        event_version=1,
        notification_id=n,
        aggregate_id=aggregate or uuid4(),
        aggregate_version=n,
        child_id=CHILD,
        occurred_at=datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
        actor=Actor(id="sp-1", role="senior_practitioner"),
        reason=None,
        correlation_id="c",
        causation_id="c",
        data={"child_id": str(CHILD), **data},
    )


def story() -> list[Envelope]:
    review = str(uuid4())
    return [
        envelope(
            1,
            "formulation",
            "ReportIssued",
            date(2026, 2, 16),
            issued_on="2026-02-16",
            report_version=1,
            stage=3,
            stage_label="Processing",
            recommendations=[],
        ),
        envelope(
            2,
            "reviews",
            "ReviewHeld",
            date(2026, 4, 1),
            review_id=review,
            held_on="2026-04-01",
            stage=2,
            stage_label="Trust",
            previous_stage=3,
            attendance=[
                {
                    "agency": "education",
                    "contact_id": None,
                    "attendance": "attended",
                    "joined_on_the_day": False,
                }
            ],
            progress=[],
            actions=[],
            next_review_on="2026-05-13",
        ),
        envelope(
            3,
            "reviews",
            "StageReassessed",
            date(2026, 4, 1),
            review_id=review,
            stage=2,
            stage_label="Trust",
            assessed_on="2026-04-01",
            rationale=None,
        ),
        envelope(
            4,
            "notifications",
            "NoticeQueued",
            date(2026, 4, 2),
            NOTICE,
            contact_id=str(uuid4()),
            agency="education",
            kind="review_scheduled",
            source_message_id="reviews:9",
        ),
        envelope(
            5,
            "notifications",
            "NoticeSent",
            date(2026, 4, 2),
            NOTICE,
            contact_id=str(uuid4()),
            channel="email",
            attempt=1,
            sent_at="2026-04-02T11:00:00+00:00",
        ),
        envelope(
            6,
            "notifications",
            "NoticeAcknowledged",
            date(2026, 4, 3),
            NOTICE,
            contact_id=str(uuid4()),
            acknowledged_at="2026-04-03T09:00:00+00:00",
        ),
        envelope(
            7,
            "formulation",
            "TimelineEntryAdded",
            date(2026, 4, 4),
            entry_id=str(uuid4()),
            when={
                "precision": "approximate_age",
                "on": None,
                "year": None,
                "month": None,
                "age_years": 4,
            },
            category="move",
            sensitivity="standard",
            description=None,
            source_of_information=None,
        ),
    ]


def test_stage_movement_reviews_and_notices_take_their_place_and_a_replay_adds_nothing(
    tmp_path: Path,
) -> None:
    engine = make_engine(development_settings(tmp_path / "var"), "timeline-read")
    projection = TimelineProjection(engine)
    deliveries = [Delivery(n, e) for n, e in enumerate(story(), start=1)]
    assert projection.commit(deliveries) == 7
    assert projection.commit(deliveries) == 0
    projection.replay(deliveries[3].envelope)  # a parked message replayed: no second row

    everyone = TimelineQuery(staff=True, may_read=lambda _service: True)
    items = read_timeline(engine, str(CHILD), everyone, None, lambda sealed: None)
    assert [(i.event_type, i.on, i.stage_in_force, i.movement) for i in items] == [
        ("ReportIssued", date(2026, 2, 16), 3, None),
        ("ReviewHeld", date(2026, 4, 1), 3, None),
        ("StageReassessed", date(2026, 4, 1), 2, "down"),
        ("NoticeQueued", date(2026, 4, 2), 2, None),
        ("NoticeSent", date(2026, 4, 2), 2, None),
        ("NoticeAcknowledged", date(2026, 4, 3), 2, None),
        ("TimelineEntryAdded", None, 2, None),  # an age, with no date of birth known
    ]
    assert {i.item_key for i in items if i.kind == "notice"} == {str(NOTICE)}

    born = read_timeline(engine, str(CHILD), everyone, date(2012, 6, 1), lambda sealed: None)
    assert (born[0].event_type, born[0].on, born[0].stage_in_force) == (
        "TimelineEntryAdded",
        date(2016, 6, 1),
        None,
    )

    notices = TimelineQuery(
        kinds=frozenset({"notice"}),
        date_from=date(2026, 4, 3),
        staff=True,
        may_read=lambda _service: True,
    )
    only = read_timeline(engine, str(CHILD), notices, None, lambda sealed: None)
    assert [i.event_type for i in only] == ["NoticeAcknowledged"]
    engine.dispose()
