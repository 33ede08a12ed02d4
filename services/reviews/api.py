"""HTTP entrypoint of the reviews service: thin routes over ReviewsApplication."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status

from services.plugin import resources_of
from services.reviews.application import ReviewsApplication
from services.reviews.caseload import Caseload, CaseloadStatus
from services.reviews.domain import ReviewCase
from services.reviews.schemas import (
    CadenceUpdate,
    CaseloadEntryPublic,
    ClosureIn,
    Created,
    ReopeningIn,
    ReviewCasePublic,
    ReviewPublic,
    ReviewRecord,
    ReviewReschedule,
    ReviewSchedule,
    SupervisionIn,
    SupervisionPublic,
    TickResult,
    TransitionIn,
    Version,
    WorkerUpdate,
    case_public,
    caseload_public,
    review_public,
    supervision_public,
    to_actions,
    to_attendance,
    to_invitees,
    to_progress,
)
from services.reviews.supervision import SupervisionSession
from shared.directory import check_invitees
from shared.domain import Area, Forbidden, Role
from shared.fields import AsOfDay, checked_day
from shared.http import meta_for, requires
from shared.meetings import ReasonIn
from shared.policy import Principal, check
from shared.store import load_as_of

router = APIRouter(prefix="/api/v1", tags=["reviews"])
AsOf = Annotated[AsOfDay | None, Query(description="Show it as it stood at the end of that day")]


def reviews_app(request: Request) -> ReviewsApplication:
    """The reviews application of this process."""
    return resources_of(request).app(ReviewsApplication)


def caseload(request: Request) -> Caseload:
    """Queries over the caseload read model of this process."""
    return Caseload(resources_of(request).engine("reviews-read"))


App = Annotated[ReviewsApplication, Depends(reviews_app)]
CaseloadQueries = Annotated[Caseload, Depends(caseload)]


def _today() -> date:
    return date.today()


def _not_future(field: str, value: date) -> date:
    return checked_day(field, value)


def _may(principal: Principal, action: str) -> Callable[[ReviewCase], None]:
    """Decides where the case is loaded whether the caller may `action` it in its area."""

    def authorise(case: ReviewCase) -> None:
        check(principal, action, case.area)

    return authorise


# ----------------------------------------------------------------- the case


@router.get("/review-cases/{child_id}", response_model=ReviewCasePublic)
def get_review_case(
    child_id: UUID,
    app: App,
    principal: Annotated[Principal, Depends(requires("review.read"))],
    as_of: AsOf = None,
) -> ReviewCasePublic:
    """The child's reviews, stage, interventions, transitions and closure (now or on a date)."""
    record = app.get_record(child_id, as_of, _may(principal, "review.read"))  # as_of checked
    today = _today() if as_of is None else as_of
    return case_public(record, app.default_weeks, today)


@router.get("/review-cases/{child_id}/reviews/{review_id}", response_model=ReviewPublic)
def get_review(
    child_id: UUID,
    review_id: UUID,
    app: App,
    principal: Annotated[Principal, Depends(requires("review.read"))],
    as_of: AsOf = None,
) -> ReviewPublic:
    """One review of the child (now or on a date)."""
    record = app.get_record(child_id, as_of, _may(principal, "review.read"))  # as_of checked
    today = _today() if as_of is None else as_of
    return review_public(record, record.review(review_id), today)


@router.put("/review-cases/{child_id}/cadence", response_model=Version)
def set_cadence(
    child_id: UUID,
    body: CadenceUpdate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("review.schedule"))],
) -> Version:
    """Set how many weeks apart the child's reviews fall due (default from settings)."""
    version = app.set_cadence(
        child_id,
        body.weeks,
        meta_for(principal, request),
        body.expected_version,
        authorise=_may(principal, "review.schedule"),
    )
    return Version(id=child_id, version=version)


@router.put("/review-cases/{child_id}/worker", response_model=Version)
def assign_worker(
    child_id: UUID,
    body: WorkerUpdate,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("review.schedule"))],
) -> Version:
    """Name the ECM practitioner who owns the child's reviews (for caseloads)."""
    version = app.assign_worker(
        child_id,
        body.worker_id,
        meta_for(principal, request),
        body.expected_version,
        authorise=_may(principal, "review.schedule"),
    )
    return Version(id=child_id, version=version)


# ------------------------------------------------------------------ reviews


@router.post("/review-cases/{child_id}/reviews/{review_id}/schedule", response_model=Version)
def schedule_review(
    child_id: UUID,
    review_id: UUID,
    body: ReviewSchedule,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("review.schedule"))],
) -> Version:
    """Schedule the due review: date and time, venue or online link, who is invited."""
    check_invitees(request, "reviews", body.invitees)
    version = app.schedule_review(
        child_id,
        review_id,
        body.starts_at,
        body.venue,
        body.online_link,
        to_invitees(body.invitees),
        meta_for(principal, request),
        body.expected_version,
        authorise=_may(principal, "review.schedule"),
    )
    return Version(id=review_id, version=version)


@router.post("/review-cases/{child_id}/reviews/{review_id}/reschedule", response_model=Version)
def reschedule_review(
    child_id: UUID,
    review_id: UUID,
    body: ReviewReschedule,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("review.schedule"))],
) -> Version:
    """Move a scheduled review to another time, with a reason."""
    version = app.reschedule_review(
        child_id,
        review_id,
        body.starts_at,
        meta_for(principal, request, body.reason),
        body.expected_version,
        authorise=_may(principal, "review.schedule"),
    )
    return Version(id=review_id, version=version)


@router.post("/review-cases/{child_id}/reviews/{review_id}/cancel", response_model=Version)
def cancel_review(
    child_id: UUID,
    review_id: UUID,
    body: ReasonIn,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("review.schedule"))],
) -> Version:
    """Cancel a scheduled review meeting, with a reason; the review stays due."""
    version = app.cancel_review(
        child_id,
        review_id,
        meta_for(principal, request, body.reason),
        body.expected_version,
        authorise=_may(principal, "review.schedule"),
    )
    return Version(id=review_id, version=version)


@router.post("/review-cases/{child_id}/reviews/{review_id}/record", response_model=Version)
def record_review(
    child_id: UUID,
    review_id: UUID,
    body: ReviewRecord,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("review.record"))],
) -> Version:
    """Record a scheduled review as held: attendance, TRM stage, progress, actions, next date."""
    _not_future("held_on", body.held_on)
    version = app.record_review_held(
        child_id,
        review_id,
        held_on=body.held_on,
        attendance=to_attendance(body.attendance),
        stage=body.stage,
        rationale=body.rationale,
        progress=to_progress(body.progress),
        actions=to_actions(body.actions),
        next_review_on=body.next_review_on,
        meta=meta_for(principal, request),
        expected_version=body.expected_version,
        authorise=_may(principal, "review.record"),
    )
    return Version(id=review_id, version=version)


@router.post("/reviews/tick", response_model=TickResult)
def tick(
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("review.tick"))],
) -> TickResult:
    """Raise ReviewOverdue once for every review not held by its due date (as of today)."""
    today = _today()
    return TickResult(today=today, raised=app.tick(today, meta_for(principal, request)))


# ---------------------------------------------------- transitions, closure


@router.post(
    "/review-cases/{child_id}/transitions",
    status_code=status.HTTP_201_CREATED,
    response_model=Created,
)
def record_transition(
    child_id: UUID,
    body: TransitionIn,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("transition.record"))],
) -> Created:
    """Record a transition: custody, school or placement move, adult services, probation."""
    transition_id, version = app.record_transition(
        child_id,
        body.kind,
        body.occurred_on,
        body.receiving_organisation,
        meta_for(principal, request),
        body.expected_version,
        authorise=_may(principal, "transition.record"),
    )
    return Created(id=transition_id, version=version)


@router.post("/review-cases/{child_id}/closure", response_model=Version)
def close_case(
    child_id: UUID,
    body: ClosureIn,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("case.close"))],
) -> Version:
    """Close the case with a reason; safety-net contact may continue until a date."""
    _not_future("closed_on", body.closed_on)
    version = app.close_case(
        child_id,
        body.closed_on,
        body.safety_net_until,
        meta_for(principal, request, body.reason),
        body.expected_version,
        authorise=_may(principal, "case.close"),
    )
    return Version(id=child_id, version=version)


@router.post("/review-cases/{child_id}/reopening", response_model=Version)
def reopen_case(
    child_id: UUID,
    body: ReopeningIn,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("case.close"))],
) -> Version:
    """Reopen a closed case with a reason."""
    _not_future("reopened_on", body.reopened_on)
    version = app.reopen_case(
        child_id,
        body.reopened_on,
        meta_for(principal, request, body.reason),
        body.expected_version,
        authorise=_may(principal, "case.close"),
    )
    return Version(id=child_id, version=version)


# ----------------------------------------------------------------- caseload


@router.get("/caseload/reviews", response_model=list[CaseloadEntryPublic])
def caseload_reviews(
    queries: CaseloadQueries,
    principal: Annotated[Principal, Depends(requires("caseload.read"))],
    area: Annotated[Area | None, Query()] = None,
    worker: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    status: Annotated[CaseloadStatus | None, Query()] = None,
    as_of: AsOf = None,
) -> list[CaseloadEntryPublic]:
    """Upcoming and overdue reviews, per area and per worker (case managers: own area)."""
    if principal.role == Role.CASE_MANAGER:
        if area is not None and area != principal.area:
            raise Forbidden(
                f"area: a case manager sees only their own area ({principal.area})", field="area"
            )
        area = principal.area
    today = _today() if as_of is None else _not_future("as_of", as_of)
    entries = queries.reviews(today=today, area=area, worker=worker, status=status, as_of=as_of)
    return [caseload_public(e) for e in entries]


# -------------------------------------------------------------- supervision


@router.post("/supervision-sessions", status_code=status.HTTP_201_CREATED, response_model=Created)
def log_supervision(
    body: SupervisionIn,
    request: Request,
    app: App,
    principal: Annotated[Principal, Depends(requires("supervision.log"))],
) -> Created:
    """Log clinical supervision or group reflective practice for a YJS practitioner."""
    _not_future("held_on", body.held_on)
    session_id = app.log_supervision(
        practitioner_id=body.practitioner_id,
        supervisor_id=body.supervisor_id,
        held_on=body.held_on,
        kind=body.kind,
        children=body.children,
        themes=body.themes,
        meta=meta_for(principal, request),
    )
    return Created(id=session_id, version=1)


@router.get("/supervision-sessions", response_model=list[SupervisionPublic])
def list_supervision(
    queries: CaseloadQueries,
    principal: Annotated[Principal, Depends(requires("supervision.read"))],
    practitioner_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    supervisor_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    as_of: AsOf = None,
) -> list[SupervisionPublic]:
    """Logged sessions, newest first (themes: read one session)."""
    if as_of is not None:
        _not_future("as_of", as_of)
    rows = queries.supervision(
        practitioner_id=practitioner_id, supervisor_id=supervisor_id, as_of=as_of
    )
    return [
        SupervisionPublic(
            session_id=UUID(r["session_id"]),
            practitioner_id=r["practitioner_id"],
            supervisor_id=r["supervisor_id"],
            held_on=r["held_on"],
            kind=r["kind"],
            children=[UUID(c) for c in r["children"]],
        )
        for r in rows
    ]


@router.get("/supervision-sessions/{session_id}", response_model=SupervisionPublic)
def get_supervision(
    session_id: UUID,
    app: App,
    principal: Annotated[Principal, Depends(requires("supervision.read"))],
    as_of: AsOf = None,
) -> SupervisionPublic:
    """One session with its themes (now or on a date)."""
    session = app.get_supervision(session_id)
    if as_of is not None:
        _not_future("as_of", as_of)
        session = load_as_of(app, SupervisionSession, session_id, "supervision session", as_of)
    return supervision_public(session)
