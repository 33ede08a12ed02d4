"""The formulation application on real SQLite: opening from referrals' messages, sealing
personal data in the store and on the wire, reviews' re-assessments, point in time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.formulation.application import FormulationApplication
from services.formulation.consumers import (
    REFERRALS_CONSUMER,
    consumers,
    on_referral_message,
    on_review_message,
)
from services.formulation.contracts import REGISTRY
from services.formulation.domain import FormulationCase
from services.formulation.life_story import LifeStory
from services.formulation.meetings import FormulationMeetings
from services.formulation.reports import FormulationReports
from services.formulation.values import (
    LifeDate,
    RecommendationDraft,
    Sensitivity,
    TimelineCategory,
    case_id_for,
    consultation_id_for,
)
from services.referrals.contracts import REGISTRY as REFERRALS
from services.referrals.domain import Consent
from services.runtime import System
from shared.consumer import ApplicationSink, Delivery
from shared.contracts import Actor, ContractRegistry, Envelope
from shared.crypto import is_sealed
from shared.domain import Area, Conflict, Meta, NotFound
from shared.meetings import AttendanceRecord, Invitee
from shared.settings import Settings
from shared.store import EcmApplication
from shared.vocabulary import Agency, Attendance, TrmStage

CASE_MANAGER = Meta("cm-1", "case_manager", "corr-1", "corr-1")
PSYCHOLOGIST = Meta("psy-1", "psychologist", "corr-2", "corr-2")
WHY = PSYCHOLOGIST.with_reason("Synthetic reason")
SECRETS = {
    "description": "Synthetic: grandmother died when he was six",
    "source": "Synthetic: the child's aunt",
    "venue": "Synthetic Street YJS office",
    "notes": "Synthetic meeting notes",
    "narrative": "Synthetic formulation narrative",
    "recommendation": "Synthetic: a key adult at school every morning",
    "rationale": "Synthetic: stage 4 work is what the child asked for",
}

# The catalogue in the common brief: each published event's data fields.
CATALOGUE: dict[str, set[str]] = {
    "FormulationCaseOpened": {"child_id", "referral_id", "area"},
    "TimelineEntryAdded": {
        "child_id",
        "entry_id",
        "when",
        "category",
        "sensitivity",
        "description",
        "source_of_information",
    },
    "TimelineEntryCorrected": {
        "child_id",
        "entry_id",
        "when",
        "category",
        "sensitivity",
        "description",
        "source_of_information",
    },
    "TimelineEntryRetracted": {"child_id", "entry_id"},
    "FormulationMeetingScheduled": {
        "child_id",
        "meeting_id",
        "starts_at",
        "venue",
        "online_link",
        "invitees",
    },
    "FormulationMeetingRescheduled": {"child_id", "meeting_id", "starts_at"},
    "FormulationMeetingCancelled": {"child_id", "meeting_id"},
    "FormulationMeetingHeld": {"child_id", "meeting_id", "held_on", "attendance"},
    "ReportIssued": {
        "child_id",
        "report_version",
        "stage",
        "stage_label",
        "issued_on",
        "recommendations",
    },
    "StageAssessed": {"child_id", "stage", "stage_label", "assessed_on", "source"},
    "InterventionPlanned": {
        "child_id",
        "intervention_id",
        "intervention_type",
        "stage",
        "stage_label",
        "owning_agency",
        "planned_start",
        "recommendation_id",
        "out_of_sequence",
    },
    "SequencingOverridden": {
        "child_id",
        "intervention_id",
        "child_stage",
        "intervention_stage",
        "rationale",
    },
    "InterventionStarted": {"child_id", "intervention_id", "started_on"},
    "InterventionSessionRecorded": {"child_id", "intervention_id", "held_on"},
    "InterventionCompleted": {"child_id", "intervention_id", "completed_on"},
    "InterventionStopped": {"child_id", "intervention_id", "stopped_on"},
    "ConsultationOpened": {"child_id", "referral_id", "area"},
    "ConsultationHeld": {"child_id", "held_on", "agencies", "attended_by", "advice"},
    "ConsultationClosed": {"child_id"},
}


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    """Referrals and formulation on SQLite (the services this test is about)."""
    built = System.build(settings, ["referrals", "formulation"])
    yield built
    built.close()


@pytest.fixture
def app(system: System) -> FormulationApplication:
    formulation = system.apps["formulation"]
    assert isinstance(formulation, FormulationApplication)
    return formulation


def screened_referral(
    system: System, *, consultation: bool = False, area: Area = Area.BRISTOL
) -> tuple[UUID, UUID]:
    """A child referred and accepted (or offered a consultation) in the referrals service."""
    referrals: Any = system.apps["referrals"]
    child_id = referrals.register_child(
        given_name="Synthetic",
        family_name="Child",
        date_of_birth=date(2010, 1, 2),
        area=area,
        nhs_number=None,
        upn=None,
        meta=CASE_MANAGER,
    )
    referral_id = referrals.refer(
        child_id=child_id,
        case_manager_id="cm-1",
        reason="Synthetic reason",
        trauma_history="Synthetic history",
        expected_involvement_months=9,
        meta=CASE_MANAGER,
    )
    if consultation:
        referrals.offer_consultation(referral_id, PSYCHOLOGIST)
    else:
        referrals.record_consent(referral_id, Consent.GIVEN, "parent", CASE_MANAGER)
        referrals.accept(referral_id, PSYCHOLOGIST)
    return child_id, referral_id


def envelopes(app: EcmApplication, registry: ContractRegistry) -> list[Envelope]:
    """Every message the relay would publish for `app`, in order."""
    found = []
    for notification in app.notifications(1, 10_000):
        event = app.mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
        envelope = registry.to_envelope(event, notification.id)
        if envelope is not None:
            found.append(envelope)
    return found


def stage_reassessed(
    app: FormulationApplication,
    child_id: UUID,
    stage: int,
    assessed_on: date,
    review_id: UUID | None = None,
    message_id: str = "reviews:1",
    rationale: str | None = "Synthetic: settled placement",
) -> Envelope:
    """A well-formed reviews StageReassessed message (the reviews service publishes these)."""
    return Envelope(
        message_id=message_id,
        service="reviews",
        event_type="StageReassessed",
        event_version=1,
        notification_id=int(message_id.split(":")[1]),
        aggregate_id=uuid4(),
        aggregate_version=2,
        child_id=child_id,
        occurred_at=datetime.now(UTC),
        actor=Actor(id="sp-1", role="senior_practitioner"),
        reason=None,
        correlation_id="corr-review",
        causation_id="corr-review",
        data={
            "child_id": str(child_id),
            "review_id": str(review_id or uuid4()),
            "stage": stage,
            "stage_label": TrmStage(stage).label,
            "assessed_on": assessed_on.isoformat(),
            "rationale": app.cipher.seal(
                child_id, "rationale", rationale, event="ReviewCase.StageReassessed"
            ),
        },
    )


def stored_events(app: EcmApplication, aggregate_id: UUID) -> int:
    return len(app.recorder.select_events(aggregate_id))


# -- opening from referrals' messages ------------------------------------------------------


def test_an_accepted_referral_opens_one_case_however_often_its_message_is_handled(
    system: System, app: FormulationApplication
) -> None:
    child_id, referral_id = screened_referral(system)
    messages = envelopes(system.apps["referrals"], REFERRALS)
    changed = [on_referral_message(app, m) for m in messages for _ in range(3)]
    case = app.get_case(child_id)
    assert changed.count(True) == 1
    assert (case.version, case.referral_ids, case.area) == (1, [referral_id], Area.BRISTOL)
    assert stored_events(app, case_id_for(child_id)) == 1


def test_the_consumer_applies_each_message_once_however_often_it_is_delivered(
    system: System, app: FormulationApplication
) -> None:
    child_id, _ = screened_referral(system)
    sink = next(c for c in consumers(system) if c.name == REFERRALS_CONSUMER).sink
    messages = envelopes(system.apps["referrals"], REFERRALS)
    assert sink.commit([Delivery(m.notification_id, m) for m in messages]) == len(messages)
    written = app.max_notification_id()
    # Redelivered at the same stream sequences, then republished past the dedup window.
    assert sink.commit([Delivery(m.notification_id, m) for m in messages]) == 0
    assert sink.commit([Delivery(100 + m.notification_id, m) for m in messages]) == 0
    assert app.max_notification_id() == written
    assert stored_events(app, case_id_for(child_id)) == 1


def test_a_delivery_that_loses_the_race_to_open_the_case_counts_as_already_opened(
    settings: Settings, system: System, app: FormulationApplication
) -> None:
    child_id, referral_id = screened_referral(system)
    (accepted,) = [
        m
        for m in envelopes(system.apps["referrals"], REFERRALS)
        if m.event_type == "ReferralAccepted"
    ]

    class RacedApplication(FormulationApplication):
        """Another writer saves the case between this delivery's load and its save."""

        raced = False

        def load(self, cls: Any, aggregate_id: UUID, what: str, authorise: Any = None) -> Any:
            if not self.raced:
                self.raced = True
                app.open_case(child_id, referral_id, Area.BRISTOL, PSYCHOLOGIST)
                raise NotFound(f"{what} {aggregate_id} not found")
            return super().load(cls, aggregate_id, what, authorise)

    racer = RacedApplication(settings, system.vault)
    try:
        sink = ApplicationSink(
            REFERRALS_CONSUMER,
            "ecm.referrals.>",
            racer,
            lambda envelope: on_referral_message(racer, envelope),
            system.engine("formulation-read"),
        )
        assert sink.commit([Delivery(accepted.notification_id, accepted)]) == 1
        assert racer.raced
    finally:
        racer.close()
    assert stored_events(app, case_id_for(child_id)) == 1
    assert app.get_case(child_id).referral_ids == [referral_id]


def test_a_consultation_offered_opens_one_consultation_and_no_case(
    system: System, app: FormulationApplication
) -> None:
    child_id, referral_id = screened_referral(system, consultation=True, area=Area.BANES)
    for message in envelopes(system.apps["referrals"], REFERRALS) * 2:
        on_referral_message(app, message)
    consultation = app.get_consultation(consultation_id_for(referral_id))
    assert (consultation.child_id, consultation.area, consultation.version) == (
        child_id,
        Area.BANES,
        1,
    )
    with pytest.raises(NotFound, match="has no formulation case"):
        app.get_case(child_id)


def test_other_referral_messages_change_nothing(
    system: System, app: FormulationApplication
) -> None:
    screened_referral(system)
    messages = envelopes(system.apps["referrals"], REFERRALS)
    others = [m for m in messages if m.event_type != "ReferralAccepted"]
    assert others and not any(on_referral_message(app, m) for m in others)
    assert app.max_notification_id() == 0


# -- reviews' re-assessments ---------------------------------------------------------------


def test_a_review_reassessment_is_recorded_once_with_its_rationale_sealed_again_here(
    system: System, app: FormulationApplication
) -> None:
    child_id, _ = screened_referral(system)
    for message in envelopes(system.apps["referrals"], REFERRALS):
        on_referral_message(app, message)
    message = stage_reassessed(app, child_id, 4, date(2024, 9, 1))
    assert on_review_message(app, message) is True
    assert on_review_message(app, message) is False
    case = app.get_case(child_id)
    assert case.current_stage == 4
    assert case.current_assessment is not None
    assert case.current_assessment.rationale == "Synthetic: settled placement"
    assert case.current_assessment.assessor_id == "sp-1"
    raw = app.recorder.select_events(case.id)[-1].state
    assert b"settled placement" not in raw


def test_a_reassessment_for_a_child_without_a_case_is_refused_so_it_is_retried(
    app: FormulationApplication,
) -> None:
    with pytest.raises(NotFound):
        on_review_message(app, stage_reassessed(app, uuid4(), 3, date(2024, 9, 1)))


# -- personal data, contracts, point in time -----------------------------------------------


def full_case(app: FormulationApplication, child_id: UUID) -> None:
    """Every kind of change a case goes through, with synthetic personal data."""
    app.open_case(child_id, uuid4(), Area.BRISTOL, PSYCHOLOGIST)
    entry_id, _ = app.add_timeline_entry(
        child_id,
        when=LifeDate.create("approximate_age", age_years=6),
        category=TimelineCategory.LOSS_OR_BEREAVEMENT,
        description=SECRETS["description"],
        source=SECRETS["source"],
        sensitivity=Sensitivity.SENSITIVE,
        meta=PSYCHOLOGIST,
    )
    app.correct_timeline_entry(child_id, entry_id, WHY, category=TimelineCategory.OTHER)
    app.retract_timeline_entry(child_id, entry_id, WHY)
    invitees = [Invitee(Agency.EDUCATION, uuid4()), Invitee(Agency.POLICE)]
    starts = datetime(2024, 5, 1, 10, tzinfo=UTC)
    cancelled, _ = app.schedule_meeting(
        child_id,
        starts_at=starts,
        venue=SECRETS["venue"],
        online_link=None,
        invitees=invitees,
        meta=PSYCHOLOGIST,
    )
    app.cancel_meeting(child_id, cancelled, WHY)
    meeting_id, _ = app.schedule_meeting(
        child_id,
        starts_at=starts,
        venue=None,
        online_link="https://meet.example.test/a",
        invitees=invitees,
        meta=PSYCHOLOGIST,
    )
    app.reschedule_meeting(child_id, meeting_id, starts + timedelta(days=7), WHY)
    app.record_meeting_held(
        child_id,
        meeting_id,
        held_on=date(2024, 5, 8),
        attendance=[AttendanceRecord(i.agency, i.contact_id, Attendance.ATTENDED) for i in invitees]
        + [AttendanceRecord(Agency.HEALTH, None, Attendance.ATTENDED, True)],
        notes=SECRETS["notes"],
        meta=PSYCHOLOGIST,
    )
    app.issue_report(
        child_id,
        narrative=SECRETS["narrative"],
        stage=2,
        issued_on=date(2024, 6, 1),
        recommendations=[RecommendationDraft(2, Agency.EDUCATION, SECRETS["recommendation"])],
        stage_rationale=None,
        meta=PSYCHOLOGIST,
    )
    app.assess_stage(
        child_id, stage=3, assessed_on=date(2024, 6, 2), rationale="Synthetic", meta=PSYCHOLOGIST
    )
    work, _, _ = app.plan_intervention(
        child_id,
        intervention_type="CBT",
        stage=4,
        owning_agency=Agency.YJS,
        planned_start=date(2024, 7, 1),
        recommendation_id=None,
        override_rationale=SECRETS["rationale"],
        meta=PSYCHOLOGIST,
    )
    app.start_intervention(child_id, work, date(2024, 7, 1), PSYCHOLOGIST)
    app.record_session(child_id, work, date(2024, 7, 8), "Synthetic session note", PSYCHOLOGIST)
    app.complete_intervention(child_id, work, date(2024, 9, 1), PSYCHOLOGIST)
    other, _, _ = app.plan_intervention(
        child_id,
        intervention_type="PACE",
        stage=2,
        owning_agency=Agency.EDUCATION,
        planned_start=date(2024, 7, 1),
        recommendation_id=None,
        override_rationale=None,
        meta=PSYCHOLOGIST,
    )
    app.stop_intervention(child_id, other, date(2024, 7, 2), WHY)
    referral_id = uuid4()
    app.open_consultation(uuid4(), referral_id, Area.BRISTOL, PSYCHOLOGIST)
    consultation_id = consultation_id_for(referral_id)
    app.hold_consultation(
        consultation_id,
        held_on=date(2024, 5, 1),
        attended_by=["Synthetic"],
        agencies=[Agency.YJS],
        advice="Synthetic advice",
        meta=PSYCHOLOGIST,
    )
    app.close_consultation(consultation_id, PSYCHOLOGIST)


def test_every_published_event_matches_its_catalogue_contract(app: FormulationApplication) -> None:
    full_case(app, uuid4())
    published = envelopes(app, REGISTRY)
    assert {e.event_type for e in published} == set(CATALOGUE)
    for envelope in published:
        assert set(envelope.data) == CATALOGUE[envelope.event_type], envelope.event_type
        assert envelope.subject == f"ecm.formulation.{envelope.event_type}"
        assert envelope.child_id is not None
        assert envelope.actor.id == "psy-1"
    opened = next(e for e in published if e.event_type == "FormulationCaseOpened")
    assert opened.aggregate_id == case_id_for(opened.child_id)  # type: ignore[arg-type]
    held = next(e for e in published if e.event_type == "FormulationMeetingHeld")
    assert set(held.data["attendance"][0]) == {"agency", "contact_id", "attendance"}
    stopped = next(e for e in published if e.event_type == "InterventionStopped")
    assert stopped.reason == "Synthetic reason"


def test_personal_fields_are_sealed_in_the_store_and_on_the_wire_each_recommendation_alone(
    app: FormulationApplication,
) -> None:
    child_id = uuid4()
    full_case(app, child_id)
    raw = b"".join(n.state for n in app.notifications(1, 10_000))
    for secret in SECRETS.values():
        assert secret.encode() not in raw, secret
    report = next(e for e in envelopes(app, REGISTRY) if e.event_type == "ReportIssued")
    text = report.data["recommendations"][0]["text"]
    assert is_sealed(text)
    assert (
        app.cipher.open(
            child_id, "recommendations.text", text, event=REGISTRY.sealed_event("ReportIssued")
        )
        == SECRETS["recommendation"]
    )
    overridden = next(e for e in envelopes(app, REGISTRY) if e.event_type == "SequencingOverridden")
    assert (
        app.cipher.open(
            child_id,
            "rationale",
            overridden.data["rationale"],
            event=REGISTRY.sealed_event("SequencingOverridden"),
        )
        == SECRETS["rationale"]
    )


def test_personal_fields_read_back_in_full_until_the_childs_key_is_erased(
    app: FormulationApplication,
) -> None:
    child_id = uuid4()
    full_case(app, child_id)
    reports = app.get_reports(child_id)
    assert reports.reports[0].recommendations[0].text == SECRETS["recommendation"]
    assert reports.reports[0].narrative == SECRETS["narrative"]
    app.vault.erase(child_id)
    erased = app.get_case(child_id)
    erased_reports = app.get_reports(child_id)
    assert erased_reports.reports[0].narrative is None
    assert erased_reports.reports[0].recommendations[0].text is None
    assert erased_reports.reports[0].stage == 2
    assert erased.current_stage == 3
    assert len(erased.interventions) == 2


def test_a_case_is_shown_as_it_stood_on_a_past_day(app: FormulationApplication) -> None:
    child_id = uuid4()
    full_case(app, child_id)
    today = datetime.now(UTC).date()
    assert app.get_case(child_id, as_of=today).version == app.get_case(child_id).version
    with pytest.raises(NotFound, match="had no formulation case on"):
        app.get_case(child_id, as_of=today - timedelta(days=1))


def test_a_change_made_on_a_stale_version_is_refused_and_writes_nothing(
    app: FormulationApplication,
) -> None:
    child_id = uuid4()
    app.open_case(child_id, uuid4(), Area.BRISTOL, PSYCHOLOGIST)
    app.assess_stage(
        child_id,
        stage=2,
        assessed_on=date(2024, 6, 1),
        rationale="Synthetic",
        meta=PSYCHOLOGIST,
        expected_version=1,
    )
    with pytest.raises(Conflict, match="expected_version: record is at version 2, not 1"):
        app.assess_stage(
            child_id,
            stage=5,
            assessed_on=date(2024, 6, 2),
            rationale="Synthetic",
            meta=PSYCHOLOGIST,
            expected_version=1,
        )
    assert app.get_case(child_id).current_stage == 2


def test_a_case_rebuilt_from_the_store_equals_the_live_one(app: FormulationApplication) -> None:
    live = FormulationCase(
        child_id=uuid4(), referral_id=uuid4(), area=Area.BANES, meta=PSYCHOLOGIST
    )
    story = LifeStory.start(live.child_id, Area.BANES, [], PSYCHOLOGIST)
    story.add_timeline_entry(
        uuid4(),
        LifeDate.create("month", year=2016, month=2),
        TimelineCategory.MOVE,
        SECRETS["description"],
        None,
        Sensitivity.RESTRICTED,
        PSYCHOLOGIST,
    )
    held = FormulationMeetings.start(live.child_id, Area.BANES, [], PSYCHOLOGIST)
    held.schedule_meeting(
        uuid4(),
        datetime(2024, 5, 1, 10, tzinfo=UTC),
        SECRETS["venue"],
        None,
        [Invitee(Agency.CAMHS, uuid4())],
        PSYCHOLOGIST,
    )
    issued = FormulationReports.start(live.child_id, Area.BANES, [], PSYCHOLOGIST)
    version = issued.issue_report(
        SECRETS["narrative"],
        3,
        date(2024, 6, 1),
        [(uuid4(), RecommendationDraft(3, Agency.CAMHS, SECRETS["recommendation"]))],
        PSYCHOLOGIST,
    )
    live.assess_report_stage(version, 3, date(2024, 6, 1), "Synthetic", PSYCHOLOGIST)
    live.record_review_assessment(uuid4(), 2, date(2024, 9, 1), None, PSYCHOLOGIST)
    app.save_all(live, story, held, issued)
    for aggregate in (live, story, held, issued):
        rebuilt: Any = app.repository.get(aggregate.id)
        assert type(rebuilt) is type(aggregate)
        assert {k: v for k, v in vars(rebuilt).items() if not k.startswith("_")} == {
            k: v for k, v in vars(aggregate).items() if not k.startswith("_")
        }
