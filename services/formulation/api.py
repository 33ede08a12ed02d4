"""HTTP entrypoint of the formulation service: thin routes over FormulationApplication."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Protocol
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status

from services.formulation.application import FormulationApplication
from services.formulation.case_dates import check_not_before_referral
from services.formulation.domain import FormulationCase
from services.formulation.schemas import (
    AssessmentCreate,
    AssessmentsOut,
    CaseOut,
    Changed,
    CompletionCreate,
    ConsultationClose,
    ConsultationHeldCreate,
    ConsultationOut,
    InterventionCreate,
    InterventionOut,
    InterventionStart,
    LifeDateIn,
    MeetingCreate,
    MeetingHeldCreate,
    MeetingOut,
    MeetingReschedule,
    PlannedOut,
    ReasonCreate,
    RecommendationIn,
    ReportCreate,
    ReportIssuedOut,
    ReportOut,
    SessionCreate,
    StopCreate,
    TimelineEntryCorrection,
    TimelineEntryCreate,
    TimelineEntryOut,
    assessments_out,
    case_out,
    consultation_out,
    entry_out,
    intervention_out,
    meeting_out,
    report_out,
)
from services.formulation.values import (
    LifeDate,
    RecommendationDraft,
    case_id_for,
    consultation_id_for,
)
from services.plugin import resources_of
from shared.directory import check_invitees
from shared.domain import Area, Forbidden, NotFound
from shared.fields import AsOfDay, checked_day
from shared.http import meta_for, requires
from shared.policy import ECM_STAFF, Principal, check, may
from shared.vocabulary import Agency

router = APIRouter(prefix="/api/v1", tags=["formulation"])
CASE = "/children/{child_id}/formulation"


def formulation(request: Request) -> FormulationApplication:
    """The formulation application of this process."""
    return resources_of(request).app(FormulationApplication)


App = Annotated[FormulationApplication, Depends(formulation)]
Reader = Annotated[Principal, Depends(requires("formulation.read"))]
Timeliner = Annotated[Principal, Depends(requires("formulation.timeline"))]
MeetingRunner = Annotated[Principal, Depends(requires("formulation.meeting"))]
ReportWriter = Annotated[Principal, Depends(requires("formulation.report"))]
Assessor = Annotated[Principal, Depends(requires("formulation.assess"))]
Planner = Annotated[Principal, Depends(requires("intervention.plan"))]
Updater = Annotated[Principal, Depends(requires("intervention.update"))]
Consultant = Annotated[Principal, Depends(requires("formulation.consultation"))]
AsOf = Annotated[
    AsOfDay | None,
    Query(description="Show the record as it stood at the end of this day (YYYY-MM-DD)"),
]


def _case(
    app: FormulationApplication,
    principal: Principal,
    child_id: UUID,
    action: str,
    as_of: date | None = None,
) -> FormulationCase:
    """The case (as of a day, if given), once the caller may `action` it in its area: one
    read, authorised where the case is loaded."""
    return app.get_case(child_id, as_of, _may(principal, action))


class _InArea(Protocol):
    """A record kept in a YJS area (the case, its life story, meetings, reports)."""

    @property
    def area(self) -> Area: ...


def _may(principal: Principal, action: str) -> Callable[[_InArea], None]:
    """Decides where a record is loaded whether the caller may `action` it in its area."""

    def authorise(record: _InArea) -> None:
        check(principal, action, record.area)

    return authorise


def _dated(
    authorise: Callable[[FormulationCase], None], request: Request, field: str, day: date
) -> Callable[[FormulationCase], None]:
    """`authorise`, then: the day of `field` is not before the case's referral (both on the
    one load of the case)."""

    def checked(case: FormulationCase) -> None:
        authorise(case)
        check_not_before_referral(request, case.referral_ids, field, day)

    return checked


def _life_date(when: LifeDateIn) -> LifeDate:
    checked = when.to_domain()
    earliest = checked.earliest_day()
    if earliest is not None:
        checked_day("when", earliest)
    return checked


# -- the case --------------------------------------------------------------------------------


@router.get(CASE, response_model=CaseOut)
def get_case(child_id: UUID, app: App, principal: Reader, as_of: AsOf = None) -> CaseOut:
    """The child's formulation case at a glance: stage, what sequencing allows, counts."""
    may_read = _may(principal, "formulation.read")
    return case_out(
        app.get_case(child_id, as_of, may_read),
        app.get_life_story(child_id, as_of, may_read),
        app.get_meetings(child_id, as_of, may_read),
        app.get_reports(child_id, as_of, may_read),
    )


# -- timeline --------------------------------------------------------------------------------


@router.get(f"{CASE}/timeline", response_model=list[TimelineEntryOut])
def get_timeline(
    child_id: UUID,
    app: App,
    principal: Reader,
    as_of: AsOf = None,
    include_retracted: Annotated[bool, Query(description="Show retracted entries too")] = False,
) -> list[TimelineEntryOut]:
    """The child's life story in order; restricted entries' content for ECM staff only."""
    story = app.get_life_story(child_id, as_of, _may(principal, "formulation.read"))
    staff = principal.role in ECM_STAFF
    return [entry_out(e, staff) for e in story.life_story(include_retracted)]


@router.post(f"{CASE}/timeline", status_code=status.HTTP_201_CREATED, response_model=Changed)
def add_timeline_entry(
    child_id: UUID, body: TimelineEntryCreate, request: Request, app: App, principal: Timeliner
) -> Changed:
    """Add a dated entry to the child's life story."""
    entry_id, version = app.add_timeline_entry(
        child_id,
        when=_life_date(body.when),
        category=body.category,
        description=body.description,
        source=body.source,
        sensitivity=body.sensitivity,
        meta=meta_for(principal, request),
        expected_version=body.expected_version,
        authorise=_may(principal, "formulation.timeline"),
    )
    return Changed(id=entry_id, version=version)


@router.post(f"{CASE}/timeline/{{entry_id}}/corrections", response_model=Changed)
def correct_timeline_entry(
    child_id: UUID,
    entry_id: UUID,
    body: TimelineEntryCorrection,
    request: Request,
    app: App,
    principal: Timeliner,
) -> Changed:
    """Correct an entry with a reason; the original stays in the history."""
    version = app.correct_timeline_entry(
        child_id,
        entry_id,
        meta_for(principal, request, body.reason),
        body.expected_version,
        when=_life_date(body.when) if body.when else None,
        category=body.category,
        description=body.description,
        source=body.source,
        sensitivity=body.sensitivity,
        authorise=_may(principal, "formulation.timeline"),
    )
    return Changed(id=entry_id, version=version)


@router.post(f"{CASE}/timeline/{{entry_id}}/retraction", response_model=Changed)
def retract_timeline_entry(
    child_id: UUID,
    entry_id: UUID,
    body: ReasonCreate,
    request: Request,
    app: App,
    principal: Timeliner,
) -> Changed:
    """Retract an entry recorded in error, with a reason; it stays in the history."""
    version = app.retract_timeline_entry(
        child_id,
        entry_id,
        meta_for(principal, request, body.reason),
        body.expected_version,
        authorise=_may(principal, "formulation.timeline"),
    )
    return Changed(id=entry_id, version=version)


# -- meetings --------------------------------------------------------------------------------


@router.get(f"{CASE}/meetings", response_model=list[MeetingOut])
def get_meetings(
    child_id: UUID, app: App, principal: Reader, as_of: AsOf = None
) -> list[MeetingOut]:
    """The child's formulation meetings, earliest first."""
    held = app.get_meetings(child_id, as_of, _may(principal, "formulation.read"))
    return [meeting_out(m) for m in sorted(held.meetings.values(), key=lambda m: m.starts_at)]


@router.get(f"{CASE}/meetings/{{meeting_id}}", response_model=MeetingOut)
def get_meeting(
    child_id: UUID, meeting_id: UUID, app: App, principal: Reader, as_of: AsOf = None
) -> MeetingOut:
    """One formulation meeting."""
    held = app.get_meetings(child_id, as_of, _may(principal, "formulation.read"))
    return meeting_out(held.meeting(meeting_id))


@router.post(f"{CASE}/meetings", status_code=status.HTTP_201_CREATED, response_model=Changed)
def schedule_meeting(
    child_id: UUID, body: MeetingCreate, request: Request, app: App, principal: MeetingRunner
) -> Changed:
    """Schedule a multi-agency formulation meeting and invite agencies and named contacts."""
    check_invitees(request, "formulation", body.invitees)
    meeting_id, version = app.schedule_meeting(
        child_id,
        starts_at=body.starts_at,
        venue=body.venue,
        online_link=str(body.online_link) if body.online_link else None,
        invitees=[i.to_invitee() for i in body.invitees],
        meta=meta_for(principal, request),
        expected_version=body.expected_version,
        authorise=_may(principal, "formulation.meeting"),
    )
    return Changed(id=meeting_id, version=version)


@router.post(f"{CASE}/meetings/{{meeting_id}}/reschedule", response_model=Changed)
def reschedule_meeting(
    child_id: UUID,
    meeting_id: UUID,
    body: MeetingReschedule,
    request: Request,
    app: App,
    principal: MeetingRunner,
) -> Changed:
    """Move a scheduled meeting, with a reason."""
    version = app.reschedule_meeting(
        child_id,
        meeting_id,
        body.starts_at,
        meta_for(principal, request, body.reason),
        body.expected_version,
        authorise=_may(principal, "formulation.meeting"),
    )
    return Changed(id=meeting_id, version=version)


@router.post(f"{CASE}/meetings/{{meeting_id}}/cancellation", response_model=Changed)
def cancel_meeting(
    child_id: UUID,
    meeting_id: UUID,
    body: ReasonCreate,
    request: Request,
    app: App,
    principal: MeetingRunner,
) -> Changed:
    """Cancel a scheduled meeting, with a reason."""
    version = app.cancel_meeting(
        child_id,
        meeting_id,
        meta_for(principal, request, body.reason),
        body.expected_version,
        authorise=_may(principal, "formulation.meeting"),
    )
    return Changed(id=meeting_id, version=version)


@router.post(f"{CASE}/meetings/{{meeting_id}}/record", response_model=Changed)
def record_meeting_held(
    child_id: UUID,
    meeting_id: UUID,
    body: MeetingHeldCreate,
    request: Request,
    app: App,
    principal: MeetingRunner,
) -> Changed:
    """Record the meeting as held: attendance per invited agency and contact, and notes."""
    version = app.record_meeting_held(
        child_id,
        meeting_id,
        held_on=body.held_on,
        attendance=[a.to_record() for a in body.attendance],
        notes=body.notes,
        meta=meta_for(principal, request),
        expected_version=body.expected_version,
        authorise=_may(principal, "formulation.meeting"),
    )
    return Changed(id=meeting_id, version=version)


# -- reports and assessments -----------------------------------------------------------------


@router.get(f"{CASE}/reports", response_model=list[ReportOut])
def get_reports(child_id: UUID, app: App, principal: Reader, as_of: AsOf = None) -> list[ReportOut]:
    """Every issued version of the formulation report, oldest first."""
    reports = app.get_reports(child_id, as_of, _may(principal, "formulation.read"))
    return [report_out(r) for r in reports.reports]


@router.get(f"{CASE}/reports/{{version}}", response_model=ReportOut)
def get_report(
    child_id: UUID, version: int, app: App, principal: Reader, as_of: AsOf = None
) -> ReportOut:
    """One issued version of the formulation report."""
    reports = app.get_reports(child_id, as_of, _may(principal, "formulation.read"))
    return report_out(reports.report(version))


@router.post(f"{CASE}/reports", status_code=status.HTTP_201_CREATED, response_model=ReportIssuedOut)
def issue_report(
    child_id: UUID, body: ReportCreate, request: Request, app: App, principal: ReportWriter
) -> ReportIssuedOut:
    """Issue a new version of the report; its TRM stage is recorded as an assessment."""
    report_version, version = app.issue_report(
        child_id,
        narrative=body.narrative,
        stage=body.stage,
        issued_on=body.issued_on,
        recommendations=[_draft(r) for r in body.recommendations],
        stage_rationale=body.stage_rationale,
        meta=meta_for(principal, request),
        expected_version=body.expected_version,
        authorise=_dated(
            _may(principal, "formulation.report"), request, "issued_on", body.issued_on
        ),
    )
    return ReportIssuedOut(report_version=report_version, version=version)


def _draft(item: RecommendationIn) -> RecommendationDraft:
    return RecommendationDraft(item.stage, item.agency, item.text)


@router.get(f"{CASE}/assessments", response_model=AssessmentsOut)
def get_assessments(
    child_id: UUID, app: App, principal: Reader, as_of: AsOf = None
) -> AssessmentsOut:
    """The child's current TRM stage and every assessment (formulation and reviews)."""
    return assessments_out(_case(app, principal, child_id, "formulation.read", as_of))


@router.post(f"{CASE}/assessments", status_code=status.HTTP_201_CREATED, response_model=Changed)
def assess_stage(
    child_id: UUID, body: AssessmentCreate, request: Request, app: App, principal: Assessor
) -> Changed:
    """Assess the child's TRM stage with a rationale (it may move down as well as up)."""
    version = app.assess_stage(
        child_id,
        stage=body.stage,
        assessed_on=body.assessed_on,
        rationale=body.rationale,
        meta=meta_for(principal, request),
        expected_version=body.expected_version,
        authorise=_dated(
            _may(principal, "formulation.assess"), request, "assessed_on", body.assessed_on
        ),
    )
    return Changed(id=case_id_for(child_id), version=version)


# -- interventions ---------------------------------------------------------------------------


@router.get(f"{CASE}/interventions", response_model=list[InterventionOut])
def get_interventions(
    child_id: UUID, app: App, principal: Reader, as_of: AsOf = None
) -> list[InterventionOut]:
    """The child's interventions, in planned-start order."""
    case = _case(app, principal, child_id, "formulation.read", as_of)
    ordered = sorted(case.interventions.values(), key=lambda i: i.planned_start)
    return [intervention_out(case, i) for i in ordered]


@router.get(f"{CASE}/interventions/{{intervention_id}}", response_model=InterventionOut)
def get_intervention(
    child_id: UUID, intervention_id: UUID, app: App, principal: Reader, as_of: AsOf = None
) -> InterventionOut:
    """One intervention."""
    case = _case(app, principal, child_id, "formulation.read", as_of)
    return intervention_out(case, case.intervention(intervention_id))


@router.post(
    f"{CASE}/interventions",
    status_code=status.HTTP_201_CREATED,
    response_model=PlannedOut,
    responses={409: {"description": "Out of sequence for the child's TRM stage"}},
)
def plan_intervention(
    child_id: UUID, body: InterventionCreate, request: Request, app: App, principal: Planner
) -> PlannedOut:
    """Plan an intervention in TRM sequence; out of sequence only with a psychologist's override.

    Out-of-sequence plans are refused with 409 naming the child's stage and the threshold not
    reached. An `override` from anyone but a psychologist is refused with 403.
    """

    def planner(case: FormulationCase) -> None:
        check(principal, "intervention.plan", case.area)
        if body.override is not None and not may(principal, "intervention.override", case.area):
            raise Forbidden(
                "override: only a psychologist may override the sequencing rule", field="override"
            )

    intervention_id, overridden, version = app.plan_intervention(
        child_id,
        intervention_type=body.intervention_type,
        stage=body.stage,
        owning_agency=Agency(body.owning_agency) if body.owning_agency else None,
        planned_start=body.planned_start,
        recommendation_id=body.recommendation_id,
        override_rationale=body.override.rationale if body.override else None,
        meta=meta_for(principal, request),
        expected_version=body.expected_version,
        authorise=planner,
    )
    return PlannedOut(
        id=intervention_id, version=version, out_of_sequence=overridden, overridden=overridden
    )


@router.post(f"{CASE}/interventions/{{intervention_id}}/start", response_model=Changed)
def start_intervention(
    child_id: UUID,
    intervention_id: UUID,
    body: InterventionStart,
    request: Request,
    app: App,
    principal: Updater,
) -> Changed:
    """Start planned work."""
    version = app.start_intervention(
        child_id,
        intervention_id,
        body.started_on,
        meta_for(principal, request),
        body.expected_version,
        authorise=_may(principal, "intervention.update"),
    )
    return Changed(id=intervention_id, version=version)


@router.post(f"{CASE}/interventions/{{intervention_id}}/sessions", response_model=Changed)
def record_session(
    child_id: UUID,
    intervention_id: UUID,
    body: SessionCreate,
    request: Request,
    app: App,
    principal: Updater,
) -> Changed:
    """Record a session of started work."""
    version = app.record_session(
        child_id,
        intervention_id,
        body.held_on,
        body.note,
        meta_for(principal, request),
        body.expected_version,
        authorise=_may(principal, "intervention.update"),
    )
    return Changed(id=intervention_id, version=version)


@router.post(f"{CASE}/interventions/{{intervention_id}}/completion", response_model=Changed)
def complete_intervention(
    child_id: UUID,
    intervention_id: UUID,
    body: CompletionCreate,
    request: Request,
    app: App,
    principal: Updater,
) -> Changed:
    """Complete started work."""
    version = app.complete_intervention(
        child_id,
        intervention_id,
        body.completed_on,
        meta_for(principal, request),
        body.expected_version,
        authorise=_may(principal, "intervention.update"),
    )
    return Changed(id=intervention_id, version=version)


@router.post(f"{CASE}/interventions/{{intervention_id}}/stop", response_model=Changed)
def stop_intervention(
    child_id: UUID,
    intervention_id: UUID,
    body: StopCreate,
    request: Request,
    app: App,
    principal: Updater,
) -> Changed:
    """Stop planned or started work, with a reason."""
    version = app.stop_intervention(
        child_id,
        intervention_id,
        body.stopped_on,
        meta_for(principal, request, body.reason),
        body.expected_version,
        authorise=_may(principal, "intervention.update"),
    )
    return Changed(id=intervention_id, version=version)


# -- consultations ---------------------------------------------------------------------------


@router.get("/consultations", response_model=list[ConsultationOut])
def find_consultations(
    app: App,
    principal: Reader,
    referral_id: Annotated[UUID, Query(description="The referral offered it")],
) -> list[ConsultationOut]:
    """The consultation opened for a referral, if any (a list of at most one)."""
    try:
        consultation = app.get_consultation(consultation_id_for(referral_id))
        check(principal, "formulation.read", consultation.area)
    except NotFound:
        return []
    return [consultation_out(consultation)]


@router.get("/consultations/{consultation_id}", response_model=ConsultationOut)
def get_consultation(
    consultation_id: UUID, app: App, principal: Reader, as_of: AsOf = None
) -> ConsultationOut:
    """A consultation (non-formulated case), now or as it stood on a past day."""
    return consultation_out(
        app.get_consultation(
            consultation_id, as_of, lambda c: check(principal, "formulation.read", c.area)
        )
    )


@router.post("/consultations/{consultation_id}/sessions", response_model=Changed)
def hold_consultation(
    consultation_id: UUID,
    body: ConsultationHeldCreate,
    request: Request,
    app: App,
    principal: Consultant,
) -> Changed:
    """Record a consultation held: date, who attended, advice given."""
    version = app.hold_consultation(
        consultation_id,
        held_on=body.held_on,
        attended_by=list(body.attended_by),
        agencies=list(body.agencies),
        advice=body.advice,
        meta=meta_for(principal, request),
        expected_version=body.expected_version,
        authorise=lambda c: check(principal, "formulation.consultation", c.area),
    )
    return Changed(id=consultation_id, version=version)


@router.post("/consultations/{consultation_id}/closure", response_model=Changed)
def close_consultation(
    consultation_id: UUID,
    body: ConsultationClose,
    request: Request,
    app: App,
    principal: Consultant,
) -> Changed:
    """Close a consultation (a reason is needed if it was never held)."""
    version = app.close_consultation(
        consultation_id,
        meta_for(principal, request, body.reason),
        body.expected_version,
        authorise=lambda c: check(principal, "formulation.consultation", c.area),
    )
    return Changed(id=consultation_id, version=version)
