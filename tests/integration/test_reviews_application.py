"""The reviews application on real SQLite: learning from formulation, sealing, tick, caseload."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.reviews.application import ReviewsApplication
from services.reviews.caseload import Caseload, CaseloadProjection, CaseloadStatus
from services.reviews.consumers import FORMULATION_CONSUMER
from services.reviews.contracts import REGISTRY
from services.reviews.domain import ReviewCase, review_case_id
from services.reviews.supervision import SupervisionKind
from services.reviews.values import (
    Action,
    Progress,
    ProgressRecord,
    ReviewStatus,
    TransitionKind,
)
from services.runtime import System
from shared.consumer import Delivery
from shared.contracts import Actor, Envelope
from shared.crypto import is_sealed
from shared.domain import Area, Invalid, Meta, MissingPrecondition, NotFound
from shared.meetings import AttendanceRecord, Invitee
from shared.store import load_as_of
from shared.vocabulary import Agency, Attendance

META = Meta("sp-1", "senior_practitioner", "corr-1", "corr-1")
TODAY = date.today()
ISSUED = TODAY - timedelta(weeks=10)  # the first review fell due four weeks ago


class FormulationStream:
    """The formulation service's messages as the reviews consumer receives them: each one
    committed through the consumer's sink at the next stream sequence."""

    def __init__(self, system: System) -> None:
        (self.consumer,) = [c for c in system.consumers() if c.name == FORMULATION_CONSUMER]
        self.seq = 0
        self.sent: dict[str, int] = {}

    def deliver(self, envelope: Envelope) -> int:
        self.seq += 1
        return self.consumer.sink.commit([Delivery(self.seq, envelope)])

    def notification_id(self, message_id: str | None) -> tuple[str, int]:
        """A new message's notification id, or the one a message sent before had."""
        if message_id in self.sent:
            return message_id, self.sent[message_id]
        nid = max(self.sent.values(), default=0) + 1
        message_id = message_id or f"formulation:{nid}"
        self.sent[message_id] = nid
        return message_id, nid


class Formulation:
    """Publishes formulation envelopes for one child through the reviews consumer."""

    def __init__(self, stream: FormulationStream, area: Area = Area.BRISTOL) -> None:
        self.stream = stream
        self.child_id = uuid4()
        self.case_id = uuid4()
        self.area = area
        self.sequence = 0

    def message(self, event_type: str, message_id: str | None = None, **data: Any) -> Envelope:
        """A message as the formulation relay publishes it; a message id used before gives
        that message again."""
        self.sequence += 1
        message_id, nid = self.stream.notification_id(message_id)
        return Envelope(
            message_id=message_id,
            service="formulation",
            event_type=event_type,
            event_version=1,
            notification_id=nid,
            aggregate_id=self.case_id,
            aggregate_version=self.sequence,
            child_id=self.child_id,
            occurred_at=datetime.now(UTC),
            actor=Actor(id="psy-1", role="psychologist"),
            reason=None,
            correlation_id="corr-f",
            causation_id="corr-f",
            data={"child_id": str(self.child_id), **data},
        )

    def send(self, event_type: str, message_id: str | None = None, **data: Any) -> str:
        """Send a message; a message id sent before sends that message again."""
        envelope = self.message(event_type, message_id, **data)
        self.stream.deliver(envelope)
        return envelope.message_id

    def open(self) -> Formulation:
        self.send("FormulationCaseOpened", referral_id=str(uuid4()), area=str(self.area))
        return self

    def report(self, stage: int = 2, issued_on: date = ISSUED, version: int = 1) -> str:
        return self.send(
            "ReportIssued",
            report_version=version,
            stage=stage,
            stage_label="x",
            issued_on=issued_on.isoformat(),
            recommendations=[],
        )


@pytest.fixture
def app(system: System) -> ReviewsApplication:
    found = system.apps["reviews"]
    assert isinstance(found, ReviewsApplication)
    return found


@pytest.fixture
def stream(system: System) -> FormulationStream:
    return FormulationStream(system)


@pytest.fixture
def formulation(stream: FormulationStream) -> Formulation:
    return Formulation(stream).open()


def envelopes(app: ReviewsApplication) -> Iterator[Envelope]:
    """What the relay would publish, from the store."""
    for notification in app.notifications(1, 10_000):
        event = app.mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
        envelope = REGISTRY.to_envelope(event, notification.id)
        if envelope is not None:
            yield envelope


def schedule_and_hold(app: ReviewsApplication, child_id: UUID, stage: int = 3) -> UUID:
    case = app.get_record(child_id)
    review_id = case.current_review_id
    assert review_id is not None
    starts = datetime.combine(TODAY - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    app.schedule_review(
        child_id,
        review_id,
        starts,
        "Synthetic youth centre",
        None,
        [Invitee(Agency.EDUCATION), Invitee(Agency.SOCIAL_CARE)],
        META,
    )
    app.record_review_held(
        child_id,
        review_id,
        held_on=TODAY,
        attendance=[
            AttendanceRecord(Agency.EDUCATION, None, Attendance.ATTENDED),
            AttendanceRecord(Agency.SOCIAL_CARE, None, Attendance.APOLOGIES),
        ],
        stage=stage,
        rationale="Synthetic rationale: trusting her key worker",
        progress=[],
        actions=[Action(Agency.EDUCATION, TODAY + timedelta(days=14), "Synthetic action")],
        next_review_on=None,
        meta=META,
    )
    return review_id


# ------------------------------------------------------------- from the stream


def test_a_formulation_case_opened_twice_opens_one_review_case(
    app: ReviewsApplication, formulation: Formulation
) -> None:
    formulation.open()
    assert app.get_record(formulation.child_id).area == Area.BRISTOL
    assert len(list(app.case_ids())) == 1


def test_an_issued_report_makes_the_first_review_due_after_the_default_weeks(
    app: ReviewsApplication, formulation: Formulation
) -> None:
    formulation.report(stage=2)
    case = app.get_record(formulation.child_id)
    assert case.stage == 2
    assert case.current_review is not None
    assert case.current_review.due_on == ISSUED + timedelta(weeks=app.settings.review_weeks_default)


def test_a_redelivered_message_changes_nothing(
    app: ReviewsApplication, formulation: Formulation
) -> None:
    message_id = formulation.report(stage=2)
    version = app.get_record(formulation.child_id).version
    formulation.send(
        "StageAssessed",
        message_id="formulation-test:stage",
        stage=4,
        stage_label="x",
        assessed_on=TODAY.isoformat(),
        source="formulation",
    )
    formulation.send(
        "StageAssessed",
        message_id="formulation-test:stage",
        stage=4,
        stage_label="x",
        assessed_on=TODAY.isoformat(),
        source="formulation",
    )
    formulation.send(
        "ReportIssued",
        message_id=message_id,
        report_version=1,
        stage=2,
        stage_label="x",
        issued_on=ISSUED.isoformat(),
        recommendations=[],
    )
    case = app.get_record(formulation.child_id)
    assert case.version == version + 1
    assert case.stage == 4


def test_interventions_are_learnt_from_formulation_events(
    app: ReviewsApplication, formulation: Formulation
) -> None:
    first, second = uuid4(), uuid4()
    for intervention_id in (first, second):
        formulation.send(
            "InterventionPlanned",
            intervention_id=str(intervention_id),
            intervention_type="pace",
            stage=2,
            stage_label="x",
            owning_agency="yjs",
            planned_start=TODAY.isoformat(),
            recommendation_id=None,
            out_of_sequence=False,
        )
    formulation.send(
        "InterventionStarted", intervention_id=str(first), started_on=TODAY.isoformat()
    )
    formulation.send(
        "InterventionStopped", intervention_id=str(second), stopped_on=TODAY.isoformat()
    )
    formulation.send(
        "InterventionSessionRecorded", intervention_id=str(first), held_on=TODAY.isoformat()
    )
    assert set(app.get_record(formulation.child_id).active_interventions) == {first}


def test_a_message_for_a_child_without_a_case_fails_so_it_is_retried(
    app: ReviewsApplication, stream: FormulationStream
) -> None:
    stranger = Formulation(stream)
    report = stranger.message(
        "ReportIssued",
        report_version=1,
        stage=5,
        stage_label="x",
        issued_on=ISSUED.isoformat(),
        recommendations=[],
    )
    with pytest.raises(NotFound):
        stream.deliver(report)
    assert stream.consumer.sink.position() == 0  # not passed over: the runner tries again
    app.open_case(stranger.child_id, Area.BRISTOL, uuid4(), stranger.case_id, META)
    assert stream.consumer.sink.commit([Delivery(stream.seq, report)]) == 1
    assert app.get_record(stranger.child_id).stage == 5
    assert stream.consumer.sink.position() == stream.seq


# ---------------------------------------------------------- sealing and wire


def test_personal_fields_are_sealed_on_the_wire_item_by_item(
    app: ReviewsApplication, formulation: Formulation
) -> None:
    formulation.report(stage=2)
    intervention = uuid4()
    formulation.send(
        "InterventionPlanned",
        intervention_id=str(intervention),
        intervention_type="pace",
        stage=2,
        stage_label="x",
        owning_agency="yjs",
        planned_start=TODAY.isoformat(),
        recommendation_id=None,
        out_of_sequence=False,
    )
    case = app.get_record(formulation.child_id)
    review_id = case.current_review_id
    assert review_id is not None
    starts = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
    app.schedule_review(
        formulation.child_id,
        review_id,
        starts,
        "Synthetic venue",
        "https://meet.example/synthetic",
        [Invitee(Agency.EDUCATION)],
        META,
    )
    app.record_review_held(
        formulation.child_id,
        review_id,
        held_on=TODAY,
        attendance=[AttendanceRecord(Agency.EDUCATION, None, Attendance.ATTENDED)],
        stage=2,
        rationale=None,
        progress=[ProgressRecord(intervention, Progress.ENGAGING, "Synthetic note")],
        actions=[Action(Agency.EDUCATION, TODAY, "Synthetic action text")],
        next_review_on=None,
        meta=META,
    )
    by_type = {e.event_type: e for e in envelopes(app)}
    held = by_type["ReviewHeld"]
    assert is_sealed(held.data["progress"][0]["note"])
    assert is_sealed(held.data["actions"][0]["text"])
    assert held.data["progress"][0]["progress"] == "engaging"
    scheduled = by_type["ReviewScheduled"]
    assert is_sealed(scheduled.data["venue"]) and is_sealed(scheduled.data["online_link"])
    assert (
        app.cipher.open(
            formulation.child_id,
            "progress.note",
            held.data["progress"][0]["note"],
            event=REGISTRY.sealed_event("ReviewHeld"),
        )
        == "Synthetic note"
    )
    raw = b"".join(n.state for n in app.notifications(1, 1000))
    assert b"Synthetic note" not in raw and b"Synthetic venue" not in raw
    read_back = app.get_record(formulation.child_id).reviews[review_id]
    assert read_back.progress[0].note == "Synthetic note"
    assert read_back.actions[0].text == "Synthetic action text"


def test_erasing_the_childs_key_leaves_the_history_without_personal_values(
    app: ReviewsApplication, formulation: Formulation
) -> None:
    formulation.report(stage=2)
    review_id = schedule_and_hold(app, formulation.child_id)
    app.vault.erase(formulation.child_id)
    record = app.get_record(formulation.child_id)
    review = record.reviews[review_id]
    assert review.status == ReviewStatus.HELD and review.stage == 3
    assert review.venue is None and record.case.rationale_of(review_id) is None
    assert review.actions[0].text is None


def test_every_published_event_fits_its_contract(
    app: ReviewsApplication, formulation: Formulation
) -> None:
    formulation.report(stage=2)
    app.set_cadence(formulation.child_id, 8, META)
    app.assign_worker(formulation.child_id, "sp-2", META)
    review_id = app.get_record(formulation.child_id).current_review_id
    assert review_id is not None
    starts = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
    app.schedule_review(
        formulation.child_id, review_id, starts, "Hall", None, [Invitee(Agency.EDUCATION)], META
    )
    app.reschedule_review(
        formulation.child_id,
        review_id,
        starts + timedelta(hours=2),
        META.with_reason("Room double booked"),
    )
    app.cancel_review(formulation.child_id, review_id, META.with_reason("Strike day"))
    schedule_and_hold(app, formulation.child_id)
    app.tick(TODAY + timedelta(weeks=30), META)
    app.record_transition(
        formulation.child_id, TransitionKind.SCHOOL_MOVE, TODAY, "Synthetic Academy", META
    )
    app.close_case(
        formulation.child_id, TODAY, TODAY + timedelta(weeks=12), META.with_reason("Order ended")
    )
    app.reopen_case(formulation.child_id, TODAY, META.with_reason("New order"))
    app.log_supervision(
        practitioner_id="cm-1",
        supervisor_id="psy-1",
        held_on=TODAY,
        kind=SupervisionKind.CLINICAL_SUPERVISION,
        children=[formulation.child_id],
        themes="Endings and safety nets",
        meta=META,
    )
    published = list(envelopes(app))
    assert {e.event_type for e in published} == set(REGISTRY.by_type)
    for envelope in published:
        REGISTRY.parse(envelope)
    supervision = next(e for e in published if e.event_type == "SupervisionLogged")
    assert supervision.child_id is None and supervision.data["themes"] is None
    held = next(e for e in published if e.event_type == "ReviewHeld")
    assert held.child_id == formulation.child_id
    assert held.data["previous_stage"] == 2 and held.data["stage"] == 3


# -------------------------------------------------------------------- tick


def test_the_overdue_tick_run_twice_raises_one_event(
    app: ReviewsApplication, formulation: Formulation
) -> None:
    formulation.report()
    on_time = Formulation(formulation.stream).open()
    on_time.report(issued_on=TODAY)
    assert app.tick(TODAY, META) == 1
    assert app.tick(TODAY, META) == 0
    assert app.tick(TODAY + timedelta(days=1), META) == 0
    overdue = [e for e in envelopes(app) if e.event_type == "ReviewOverdue"]
    assert len(overdue) == 1 and overdue[0].child_id == formulation.child_id


def test_a_held_review_makes_the_next_one_due_and_overdue_only_after_its_date(
    app: ReviewsApplication, formulation: Formulation
) -> None:
    formulation.report()
    app.tick(TODAY, META)
    schedule_and_hold(app, formulation.child_id)
    next_due = app.get_record(formulation.child_id).current_review.due_on  # type: ignore[union-attr]
    assert app.tick(next_due, META) == 0
    assert app.tick(next_due + timedelta(days=1), META) == 1


# ------------------------------------------------------------------ caseload


def feed(app: ReviewsApplication, projection: CaseloadProjection) -> int:
    """Everything the reviews relay would publish, in stream order; returns how many applied."""
    return projection.commit([Delivery(e.notification_id, e) for e in envelopes(app)])


def test_the_caseload_lists_upcoming_and_overdue_reviews_per_area_and_worker(
    app: ReviewsApplication, formulation: Formulation, system: System
) -> None:
    formulation.report()  # overdue
    banes = Formulation(formulation.stream, Area.BANES).open()
    banes.report(issued_on=TODAY)  # upcoming
    app.assign_worker(banes.child_id, "sp-banes", META)
    projection = CaseloadProjection(system.engine("reviews-read"))
    assert feed(app, projection) > 0
    assert feed(app, projection) == 0  # redelivery changes nothing
    caseload = Caseload(system.engine("reviews-read"))
    overdue = caseload.reviews(today=TODAY, status=CaseloadStatus.OVERDUE)
    assert [e.child_id for e in overdue] == [formulation.child_id]
    assert overdue[0].days_overdue == 28
    upcoming = caseload.reviews(today=TODAY, status=CaseloadStatus.UPCOMING)
    assert [e.child_id for e in upcoming] == [banes.child_id]
    assert [e.child_id for e in caseload.reviews(today=TODAY, area="bristol")] == [
        formulation.child_id
    ]
    assert [e.child_id for e in caseload.reviews(today=TODAY, worker="sp-banes")] == [
        banes.child_id
    ]


def test_the_caseload_follows_scheduling_holding_and_closure(
    app: ReviewsApplication, formulation: Formulation, system: System
) -> None:
    formulation.report()
    projection = CaseloadProjection(system.engine("reviews-read"))
    caseload = Caseload(system.engine("reviews-read"))
    schedule_and_hold(app, formulation.child_id)
    feed(app, projection)
    [entry] = caseload.reviews(today=TODAY)
    assert entry.status == "due" and entry.due_on == TODAY + timedelta(weeks=6)
    assert caseload.reviews(today=TODAY, worker="sp-1") == []  # only scheduled reviews
    app.close_case(formulation.child_id, TODAY, None, META.with_reason("Order ended"))
    feed(app, projection)
    assert caseload.reviews(today=TODAY) == []


def test_the_caseload_ends_the_same_when_parked_messages_are_replayed_in_any_order(
    app: ReviewsApplication, formulation: Formulation, system: System
) -> None:
    formulation.report()
    app.assign_worker(formulation.child_id, "sp-1", META)
    review_id = schedule_and_hold(app, formulation.child_id)
    next_id = app.get_record(formulation.child_id).current_review_id
    assert next_id is not None
    app.schedule_review(
        formulation.child_id,
        next_id,
        datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC),
        "Hall",
        None,
        [Invitee(Agency.EDUCATION)],
        META,
    )
    app.cancel_review(formulation.child_id, next_id, META.with_reason("Strike day"))
    app.assign_worker(formulation.child_id, "sp-2", META)
    app.tick(TODAY + timedelta(weeks=20), META)
    published = list(envelopes(app))
    in_order = CaseloadProjection(system.engine("reviews-read"))
    assert in_order.commit([Delivery(e.notification_id, e) for e in published]) == len(published)
    replayed = CaseloadProjection(system.engine("reviews-read-2"))
    waiting = list(reversed(published))
    while waiting:  # parked messages replayed late, in any order, each until it applies
        failed = []
        for envelope in waiting:
            try:
                replayed.replay(envelope)
            except MissingPrecondition:
                failed.append(envelope)
        assert len(failed) < len(waiting)
        waiting = failed
    first = Caseload(system.engine("reviews-read")).reviews(today=TODAY)
    second = Caseload(system.engine("reviews-read-2")).reviews(today=TODAY)
    assert first == second
    assert [(e.review_id, e.status, e.worker_id, e.overdue_raised) for e in first] == [
        (next_id, "due", "sp-2", True)
    ]
    assert review_id != next_id


def test_the_caseload_as_it_stood_on_a_past_date_was_empty(
    app: ReviewsApplication, formulation: Formulation, system: System
) -> None:
    formulation.report()
    projection = CaseloadProjection(system.engine("reviews-read"))
    feed(app, projection)
    caseload = Caseload(system.engine("reviews-read"))
    assert caseload.reviews(today=TODAY, as_of=TODAY)[0].child_id == formulation.child_id
    yesterday = TODAY - timedelta(days=1)
    assert caseload.reviews(today=yesterday, as_of=yesterday) == []


# --------------------------------------------------------------- supervision


def test_supervision_names_only_children_known_to_reviews(
    app: ReviewsApplication, formulation: Formulation
) -> None:
    with pytest.raises(Invalid, match=r"children.1: .* is not a child with an ECM review case"):
        app.log_supervision(
            practitioner_id="cm-1",
            supervisor_id="psy-1",
            held_on=TODAY,
            kind=SupervisionKind.GROUP_REFLECTIVE_PRACTICE,
            children=[formulation.child_id, uuid4()],
            themes="Endings",
            meta=META,
        )
    session_id = app.log_supervision(
        practitioner_id="cm-1",
        supervisor_id="psy-1",
        held_on=TODAY,
        kind=SupervisionKind.GROUP_REFLECTIVE_PRACTICE,
        children=[formulation.child_id],
        themes="Endings",
        meta=META,
    )
    assert app.get_supervision(session_id).children == [formulation.child_id]


def test_a_case_as_it_stood_before_it_existed_is_not_found(
    app: ReviewsApplication, formulation: Formulation
) -> None:
    with pytest.raises(NotFound, match=r"did not exist on"):
        load_as_of(
            app,
            ReviewCase,
            review_case_id(formulation.child_id),
            "review case",
            TODAY - timedelta(days=1),
        )
