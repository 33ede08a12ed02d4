"""The reviews service on a real nats-server: formulation events in, reviews out."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.reviews.application import ReviewsApplication
from services.reviews.caseload import Caseload
from shared.bus import connect
from shared.contracts import STREAM, Actor, Envelope
from shared.domain import Meta
from shared.meetings import AttendanceRecord, Invitee
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from shared.signing import KeyRing
from shared.vocabulary import Agency, Attendance
from tests.harness import eventually, in_thread, publish_signed, running_node

META = Meta("sp-1", "senior_practitioner", "corr-r", "corr-r")
TODAY = date.today()


async def publish_formulation(
    js: JetStreamContext,
    keys: KeyRing,
    event_type: str,
    child_id: UUID,
    case_id: UUID,
    n: int,
    **data: Any,
) -> None:
    """Publish a formulation event as the formulation relay would (test message ids)."""
    envelope = Envelope(
        message_id=f"formulation:{n}",
        service="formulation",
        event_type=event_type,
        event_version=1,
        notification_id=n,
        aggregate_id=case_id,
        aggregate_version=n,
        child_id=child_id,
        occurred_at=datetime.now(UTC),
        actor=Actor(id="psy-1", role="psychologist"),
        reason=None,
        correlation_id="corr-f",
        causation_id="corr-f",
        data={"child_id": str(child_id), **data},
    )
    await publish_signed(js, keys, envelope)


async def last_on_stream(js: JetStreamContext, subject: str) -> dict[str, Any]:
    msg = await js.get_last_msg(STREAM, subject)
    found: dict[str, Any] = json.loads(msg.data or b"{}")
    return found


async def test_a_review_held_here_is_on_the_stream_with_attendance_and_the_new_stage(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    child_id, case_id = uuid4(), uuid4()
    async with running_node(settings, nats_server, ["reviews"]) as system:
        app = system.apps["reviews"]
        assert isinstance(app, ReviewsApplication)
        nc = await connect(system.settings, nats_server.url)
        js = nc.jetstream()
        await publish_formulation(
            js,
            system.keys,
            "FormulationCaseOpened",
            child_id,
            case_id,
            1,
            referral_id=str(uuid4()),
            area="south_gloucestershire",
        )
        await publish_formulation(
            js,
            system.keys,
            "ReportIssued",
            child_id,
            case_id,
            2,
            report_version=1,
            stage=2,
            stage_label="x",
            issued_on=TODAY.isoformat(),
            recommendations=[],
        )
        # The same report again, as a redelivery past the dedup window would bring it.
        await publish_formulation(
            js,
            system.keys,
            "ReportIssued",
            child_id,
            case_id,
            3,
            report_version=1,
            stage=2,
            stage_label="x",
            issued_on=TODAY.isoformat(),
            recommendations=[],
        )

        def first_review_due() -> UUID | None:
            if not app.has_case(child_id):
                return None
            return app.get_record(child_id).current_review_id

        review_id = await eventually(first_review_due)
        starts = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
        await in_thread(
            app.schedule_review,
            child_id,
            review_id,
            starts,
            "Synthetic hub",
            None,
            [Invitee(Agency.EDUCATION), Invitee(Agency.POLICE)],
            META,
        )
        await in_thread(
            app.record_review_held,
            child_id,
            review_id,
            held_on=TODAY,
            attendance=[
                AttendanceRecord(Agency.EDUCATION, None, Attendance.ATTENDED),
                AttendanceRecord(Agency.POLICE, None, Attendance.DID_NOT_ATTEND),
            ],
            stage=3,
            rationale="Synthetic: grieving her grandmother with her key worker",
            progress=[],
            actions=[],
            next_review_on=None,
            meta=META,
        )

        reassessed = await eventually(lambda: _fetch(js, "ecm.reviews.StageReassessed"))
        held = await last_on_stream(js, "ecm.reviews.ReviewHeld")
        assert held["child_id"] == str(child_id)
        assert {a["agency"]: a["attendance"] for a in held["data"]["attendance"]} == {
            "education": "attended",
            "police": "did_not_attend",
        }
        assert held["data"]["stage"] == 3 and held["data"]["previous_stage"] == 2
        assert reassessed["data"]["stage"] == 3
        assert reassessed["data"]["rationale"].startswith("ecm2:")
        assert b"grandmother" not in json.dumps(reassessed).encode()

        due = await last_on_stream(js, "ecm.reviews.ReviewDue")
        assert due["data"]["due_on"] == (TODAY + timedelta(weeks=6)).isoformat()
        dues = await js.stream_info(STREAM, subjects_filter="ecm.reviews.ReviewDue")
        assert sum((dues.state.subjects or {}).values()) == 2  # the report redelivery: no third

        caseload = Caseload(system.engine("reviews-read"))

        def next_review_on_caseload() -> bool:
            entries = caseload.reviews(today=TODAY, area="south_gloucestershire")
            return [e.due_on for e in entries] == [TODAY + timedelta(weeks=6)]

        await eventually(next_review_on_caseload)
        await nc.close()


async def test_the_background_tick_raises_an_overdue_review_once_on_the_stream(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    child_id, case_id = uuid4(), uuid4()
    ticking = settings.model_copy(update={"tick_seconds": 0.1})
    async with running_node(ticking, nats_server, ["reviews"]) as system:
        app = system.apps["reviews"]
        assert isinstance(app, ReviewsApplication)
        nc = await connect(system.settings, nats_server.url)
        js = nc.jetstream()
        await publish_formulation(
            js,
            system.keys,
            "FormulationCaseOpened",
            child_id,
            case_id,
            1,
            referral_id=str(uuid4()),
            area="banes",
        )
        issued = TODAY - timedelta(weeks=8)
        await publish_formulation(
            js,
            system.keys,
            "ReportIssued",
            child_id,
            case_id,
            2,
            report_version=1,
            stage=2,
            stage_label="x",
            issued_on=issued.isoformat(),
            recommendations=[],
        )
        overdue = await eventually(lambda: _fetch(js, "ecm.reviews.ReviewOverdue"))
        assert overdue["child_id"] == str(child_id)
        assert overdue["data"]["due_on"] == (issued + timedelta(weeks=6)).isoformat()
        assert overdue["actor"] == {"id": "system:reviews-tick", "role": "system"}
        assert await in_thread(app.tick, TODAY, META) == 0
        case = await in_thread(app.get_record, child_id)
        assert case.current_review is not None
        assert case.current_review.overdue_noticed_on == TODAY
        await nc.close()


async def _fetch(js: JetStreamContext, subject: str) -> dict[str, Any] | None:
    try:
        return await last_on_stream(js, subject)
    except NotFoundError:
        return None
