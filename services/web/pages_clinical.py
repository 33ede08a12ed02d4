"""Psychologist and senior practitioner pages: screening, the child page with the whole-story
timeline (SVG and table, as it stood on any day), timeline entries, meetings, reports,
interventions in TRM sequence, reviews and the caseload."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from services.web.app import render
from services.web.client import Api, ApiError
from services.web.forms import api_for, date_field, problems, text, values_of
from services.web.timeline_svg import draw
from services.web.users import Form, SignedIn
from shared.policy import may
from shared.vocabulary import Agency, trm_label

router = APIRouter(include_in_schema=False)
LONDON = ZoneInfo("Europe/London")
AGENCIES = [
    (
        str(a),
        str(a).replace("_", " ").upper()
        if len(str(a)) <= 5
        else str(a).replace("_", " ").capitalize(),
    )
    for a in Agency
]
STAGES = [(str(n), f"{n}: {trm_label(n)}") for n in range(1, 7)]
CATEGORIES = [
    ("loss_or_bereavement", "Loss or bereavement"),
    ("care_episode", "Care episode"),
    ("move", "Move"),
    ("school_exclusion", "School exclusion"),
    ("adverse_experience", "Adverse experience"),
    ("offence", "Offence"),
    ("health", "Health"),
    ("strength_or_protective_factor", "Strength or protective factor"),
    ("other", "Other"),
]
PRECISIONS = [
    ("exact", "Exact date"),
    ("month", "Month and year"),
    ("year", "Year only"),
    ("approximate_age", "Approximate age"),
]


async def _optional(
    api: Api, path: str, *, absent: tuple[int, ...] = (403, 404), **params: Any
) -> Any:
    """A document, or None where there is none yet (404) or it is not the user's to see."""
    try:
        return await api.get(path, **params)
    except ApiError as e:
        if e.status in absent:
            return None
        raise


def _int(value: str | None) -> int | str | None:
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def _starts_at(form: Any, name: str) -> str:
    """A date input plus a time (HH:MM, Europe/London) as an ISO date-time with offset."""
    day = date_field(form, name) or ""
    clock = text(form, f"{name}-time") or "10:00"
    try:
        local = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=LONDON)
    except ValueError:
        return f"{day}T{clock}"  # the API names what is wrong with it
    return local.isoformat()


@router.get("/screening")
async def screening_queue(request: Request, user: SignedIn) -> Response:
    """Referrals awaiting screening, and the other queues' counts."""
    api = api_for(request, user)
    page = await api.get("/children", queue="screening", limit=200)
    counts = await api.get("/queues")
    return render(request, "screening.html", title="Screening queue", page=page, counts=counts)


@router.post("/referrals/{referral_id}/screening")
async def screen(request: Request, user: SignedIn, referral_id: UUID, form: Form) -> Response:
    """Accept, offer a consultation, or decline with a reason."""
    api = api_for(request, user)
    body = {
        "decision": text(form, "decision") or "",
        "reason": text(form, "reason"),
        "expected_version": _int(text(form, "expected_version")),
    }
    try:
        await api.post(f"/referrals/{referral_id}/screening", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        referral = await api.get(f"/referrals/{referral_id}")
        child = await api.get(f"/children/{referral['child_id']}")
        return render(
            request,
            "referral.html",
            status_code=e.status,
            title="Referral",
            referral=referral,
            child=child,
            values=values_of(form),
            may_screen=may(user.principal, "referral.screen"),
            **problems(e, {"decision": "Decision", "reason": "Reason"}),
        )
    return RedirectResponse(f"/referrals/{referral_id}", status_code=303)


@router.get("/children/{child_id}")
async def child_page(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The child's page: record, whole-story timeline (as of a day), formulation, reviews."""
    api = api_for(request, user)
    as_of = (request.query_params.get("as_of") or "").strip() or None
    view = "table" if request.query_params.get("view") == "table" else "drawing"
    context: dict[str, Any] = {"values": {"as_of": as_of or ""}}
    p = user.principal
    day: date | None = None
    if as_of:
        try:
            day = date.fromisoformat(as_of[:10])
        except ValueError:
            day = None

    async def story() -> list[dict[str, Any]]:
        nonlocal as_of
        if not may(p, "child.timeline"):
            return []
        try:
            found = await api.get(f"/children/{child_id}/timeline", as_of=as_of, limit=500)
        except ApiError as e:
            if e.status == 404:  # the read side has not seen the child yet: nothing to draw
                return []
            if e.status != 422:
                raise
            context.update(problems(e, {"as_of": "Show the record as it stood on"}))
            as_of = None
            return []
        return list(found["items"])

    # The whole page as it stood at the end of that day: the record, the reviews and the
    # referral are read as of it too (the APIs check the day; a day before the child was
    # registered shows the record as it is now beside an empty story).
    when = day.isoformat() if day is not None and day <= datetime.now(UTC).date() else None

    async def record() -> Any:
        if when is not None:
            try:
                return await api.get(f"/children/{child_id}", as_of=when)
            except ApiError as e:
                if e.status not in (404, 422):
                    raise
        return await api.get(f"/children/{child_id}")

    # Independent reads, side by side. The formulation case is not read here: replaying it
    # grows with the child's history, and the whole story already says what the page needs.
    child, items, reviews = await asyncio.gather(
        record(),
        story(),
        _optional(api, f"/review-cases/{child_id}", absent=(403, 404, 422), as_of=when),
    )
    if as_of is None:
        day = None
    referral = (
        await _optional(
            api, f"/referrals/{child['open_referral_id']}", absent=(403, 404, 422), as_of=when
        )
        if child.get("open_referral_id")
        else None
    )
    today = day or datetime.now(UTC).date()
    return render(
        request,
        "child.html",
        title=f"{child.get('given_name') or 'Child'} {child.get('family_name') or ''}",
        child=child,
        items=items,
        view=view,
        as_of=as_of,
        svg=Markup(draw(items, today)) if items else None,
        summary=summarise(items, reviews),
        reviews=reviews,
        referral=referral,
        can={
            "refer": may(p, "referral.create") and not child.get("open_referral_id"),
            "timeline": may(p, "formulation.timeline"),
            "meeting": may(p, "formulation.meeting"),
            "report": may(p, "formulation.report"),
            "plan": may(p, "intervention.plan"),
            "review": may(p, "review.schedule"),
            "transition": may(p, "transition.record"),
            "close": may(p, "case.close"),
            "assess": may(p, "formulation.assess"),
            "correct": may(p, "child.correct"),
            "dispute": may(p, "child.dispute"),
        },
        **context,
    )


def summarise(items: list[dict[str, Any]], reviews: dict[str, Any] | None) -> dict[str, Any]:
    """What the child page shows of the formulation work, from the whole story: whether the
    formulation is open, the TRM stage in force, and how many meetings, reports, plans."""
    types = [str(i.get("event_type")) for i in items]
    stage: int | None = None
    for item in items:  # in story order: the last stage in force wins
        if isinstance(item.get("stage_in_force"), int):
            stage = item["stage_in_force"]
    if reviews is not None and isinstance(reviews.get("stage"), int):
        stage = reviews["stage"]
    return {
        "open": "ReferralAccepted" in types,
        "stage": stage,
        "stage_label": trm_label(stage) if stage else None,
        "meetings": types.count("FormulationMeetingScheduled"),
        "reports": types.count("ReportIssued"),
        "interventions": types.count("InterventionPlanned"),
    }


@router.get("/children/{child_id}/work")
async def child_work(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The child's formulation meetings and interventions."""
    api = api_for(request, user)
    child, interventions, meetings = await asyncio.gather(
        api.get(f"/children/{child_id}"),
        _optional(api, f"/children/{child_id}/formulation/interventions"),
        _optional(api, f"/children/{child_id}/formulation/meetings"),
    )
    found = await asyncio.gather(
        *(_optional(api, "/consultations", referral_id=r) for r in child.get("referral_ids") or [])
    )
    consultations = [c for page in found for c in page or []]
    p = user.principal
    return render(
        request,
        "work.html",
        title="Meetings and interventions",
        child=child,
        interventions=interventions or [],
        meetings=meetings or [],
        consultations=consultations,
        can={
            "update": may(p, "intervention.update"),
            "meeting": may(p, "formulation.meeting"),
            "consult": may(p, "formulation.consultation"),
        },
    )


# -- timeline entries ----------------------------------------------------------------------

ENTRY_LABELS = {
    "precision": "How exact the date is",
    "on": "Date",
    "on:date": "yes",
    "year": "Year",
    "month": "Month",
    "age_years": "Approximate age (years)",
    "category": "Category",
    "description": "What happened",
    "source": "Source",
    "sensitivity": "Sensitivity",
    "when": "Date",
}
ENTRY_FIELDS = {
    "when.on": "on",
    "when.year": "year",
    "when.month": "month",
    "when.age_years": "age_years",
    "when.precision": "precision",
    "when": "on",
}


async def _not_open(request: Request, api: Api, child_id: UUID) -> Response | None:
    """A page saying the formulation is not open yet, or None when it is."""
    if await _optional(api, f"/children/{child_id}/formulation", absent=(404,)) is not None:
        return None
    return render(
        request,
        "error.html",
        status_code=409,
        title="Formulation not open yet",
        message="The referral was accepted but the formulation has not opened yet. "
        "Try again in a moment.",
    )


@router.get("/children/{child_id}/timeline/new")
async def entry_form(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The form to add a life-story entry."""
    api = api_for(request, user)
    if (waiting := await _not_open(request, api, child_id)) is not None:
        return waiting
    child = await api.get(f"/children/{child_id}")
    return render(
        request,
        "entry.html",
        title="Add a timeline entry",
        child=child,
        categories=CATEGORIES,
        precisions=PRECISIONS,
        values={"precision": "exact", "sensitivity": "standard"},
    )


@router.post("/children/{child_id}/timeline/new")
async def add_entry(request: Request, user: SignedIn, child_id: UUID, form: Form) -> Response:
    """Add a dated life-story entry (exact, month, year or approximate age)."""
    api = api_for(request, user)
    precision = text(form, "precision") or ""
    when: dict[str, Any] = {"precision": precision}
    if precision == "exact":
        when["on"] = date_field(form, "on")
    elif precision in ("month", "year"):
        when["year"] = _int(text(form, "year"))
        if precision == "month":
            when["month"] = _int(text(form, "month"))
    elif precision == "approximate_age":
        when["age_years"] = _int(text(form, "age_years"))
    body = {
        "when": when,
        "category": text(form, "category") or "",
        "description": text(form, "description") or "",
        "source": text(form, "source"),
        "sensitivity": text(form, "sensitivity") or "standard",
    }
    try:
        await api.post(f"/children/{child_id}/formulation/timeline", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        child = await api.get(f"/children/{child_id}")
        return render(
            request,
            "entry.html",
            status_code=422,
            title="Add a timeline entry",
            child=child,
            categories=CATEGORIES,
            precisions=PRECISIONS,
            values=values_of(form),
            **problems(e, ENTRY_LABELS, ENTRY_FIELDS),
        )
    return RedirectResponse(f"/children/{child_id}", status_code=303)


# -- meetings ------------------------------------------------------------------------------

MEETING_LABELS = {
    "starts_at": "Date",
    "starts_at:date": "yes",
    "venue": "Venue",
    "online_link": "Online link",
    "invitees": "Invitees",
}


async def _partners(api: Api) -> list[dict[str, Any]]:
    found = await _optional(api, "/partners")
    return list(found or [])


def _invitees(form: Any) -> list[dict[str, Any]]:
    invitees: list[dict[str, Any]] = []
    for value in form.getlist("invitees"):
        agency, _, contact = str(value).partition(":")
        invitees.append({"agency": agency, "contact_id": contact or None})
    return invitees


@router.get("/children/{child_id}/meetings/new")
async def meeting_form(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The form to schedule a formulation meeting with partner invitations."""
    api = api_for(request, user)
    if (waiting := await _not_open(request, api, child_id)) is not None:
        return waiting
    child = await api.get(f"/children/{child_id}")
    return render(
        request,
        "meeting.html",
        title="Schedule a formulation meeting",
        child=child,
        partners=await _partners(api),
        agencies=AGENCIES,
        action="meetings",
        values={"starts_at-time": "10:00"},
    )


@router.post("/children/{child_id}/meetings/new")
async def schedule_meeting(
    request: Request, user: SignedIn, child_id: UUID, form: Form
) -> Response:
    """Schedule the meeting; each invited partner contact is sent a notice."""
    api = api_for(request, user)
    body = {
        "starts_at": _starts_at(form, "starts_at"),
        "venue": text(form, "venue"),
        "online_link": text(form, "online_link"),
        "invitees": _invitees(form),
    }
    try:
        await api.post(f"/children/{child_id}/formulation/meetings", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        child = await api.get(f"/children/{child_id}")
        return render(
            request,
            "meeting.html",
            status_code=422,
            title="Schedule a formulation meeting",
            child=child,
            partners=await _partners(api),
            agencies=AGENCIES,
            action="meetings",
            values=values_of(form),
            checked=form.getlist("invitees"),
            **problems(e, MEETING_LABELS),
        )
    return RedirectResponse(f"/children/{child_id}/work", status_code=303)


# -- reports -------------------------------------------------------------------------------

REPORT_LABELS = {
    "narrative": "Narrative",
    "stage": "TRM stage",
    "stage_rationale": "Rationale",
    "issued_on": "Issued on",
    "issued_on:date": "yes",
    "recommendations": "Recommendations",
}
REPORT_ROWS, MAX_RECOMMENDATIONS = 3, 50


def _report_labels(rows: int) -> dict[str, str]:
    labels = dict(REPORT_LABELS)
    for n in range(rows):
        labels.update(
            {
                f"rec_text-{n}": f"Recommendation {n + 1}",
                f"rec_stage-{n}": f"Stage of recommendation {n + 1}",
                f"rec_agency-{n}": f"Owning agency of recommendation {n + 1}",
            }
        )
    return labels


def _rows(form: Any) -> int:
    """How many recommendation rows the form had (3 at first, one more per "add another")."""
    raw = text(form, "rows") or ""
    rows = int(raw) if raw.isdigit() else REPORT_ROWS
    return max(1, min(rows, MAX_RECOMMENDATIONS))


def recommendations_of(form: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The filled recommendation rows, and where the API's field names point in the form
    (recommendations.1.text is the second filled row, wherever it sits)."""
    found: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    for n in range(_rows(form)):
        if not text(form, f"rec_text-{n}"):
            continue
        i = len(found)
        found.append(
            {
                "stage": _int(text(form, f"rec_stage-{n}")),
                "agency": text(form, f"rec_agency-{n}") or "",
                "text": text(form, f"rec_text-{n}"),
            }
        )
        for part, prefix in (
            ("text", "rec_text"),
            ("stage", "rec_stage"),
            ("agency", "rec_agency"),
        ):
            fields[f"recommendations.{i}.{part}"] = f"{prefix}-{n}"
        fields[f"recommendations.{i}"] = f"rec_text-{n}"
    return found, fields


async def _report_page(
    request: Request, api: Api, child_id: UUID, rows: int, status_code: int = 200, **context: Any
) -> Response:
    child = await api.get(f"/children/{child_id}")
    return render(
        request,
        "report.html",
        status_code=status_code,
        title="Write a formulation report",
        child=child,
        stages=STAGES,
        agencies=AGENCIES,
        rows=rows,
        max_rows=MAX_RECOMMENDATIONS,
        **context,
    )


@router.get("/children/{child_id}/reports/new")
async def report_form(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The form to write a formulation report version, with several recommendations."""
    api = api_for(request, user)
    if (waiting := await _not_open(request, api, child_id)) is not None:
        return waiting
    today = date.today()
    return await _report_page(
        request,
        api,
        child_id,
        REPORT_ROWS,
        values={
            "issued_on-day": str(today.day),
            "issued_on-month": str(today.month),
            "issued_on-year": str(today.year),
        },
    )


@router.post("/children/{child_id}/reports/new")
async def write_report(request: Request, user: SignedIn, child_id: UUID, form: Form) -> Response:
    """Issue a report version: narrative, the TRM stage assessed, recommendations; or show
    the form again with one more recommendation row ("add another", which saves nothing)."""
    api = api_for(request, user)
    rows = _rows(form)
    if form.get("more") == "yes":
        return await _report_page(
            request, api, child_id, min(rows + 1, MAX_RECOMMENDATIONS), values=values_of(form)
        )
    recommendations, fields = recommendations_of(form)
    body = {
        "narrative": text(form, "narrative") or "",
        "stage": _int(text(form, "stage")),
        "stage_rationale": text(form, "stage_rationale"),
        "issued_on": date_field(form, "issued_on") or "",
        "recommendations": recommendations,
    }
    try:
        await api.post(f"/children/{child_id}/formulation/reports", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        return await _report_page(
            request,
            api,
            child_id,
            rows,
            status_code=422,
            values=values_of(form),
            **problems(e, _report_labels(rows), fields),
        )
    return RedirectResponse(f"/children/{child_id}", status_code=303)


# -- interventions -------------------------------------------------------------------------

PLAN_LABELS = {
    "intervention_type": "Intervention",
    "stage": "TRM stage of the intervention",
    "owning_agency": "Owning agency",
    "planned_start": "Planned start",
    "planned_start:date": "yes",
    "override": "Override rationale",
    "override_rationale": "Override rationale",
}


async def _plan_context(api: Api, child_id: UUID) -> dict[str, Any]:
    child = await api.get(f"/children/{child_id}")
    case = await api.get(f"/children/{child_id}/formulation")
    return {"child": child, "case": case, "stages": STAGES, "agencies": AGENCIES}


@router.get("/children/{child_id}/interventions/new")
async def plan_form(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The plan form, showing which stages the child's current stage allows."""
    api = api_for(request, user)
    return render(
        request,
        "plan.html",
        title="Plan an intervention",
        may_override=may(user.principal, "intervention.override"),
        **await _plan_context(api, child_id),
    )


@router.post("/children/{child_id}/interventions/new")
async def plan(request: Request, user: SignedIn, child_id: UUID, form: Form) -> Response:
    """Plan; out of sequence is refused unless a psychologist overrides with a rationale."""
    api = api_for(request, user)
    body: dict[str, Any] = {
        "intervention_type": text(form, "intervention_type") or "",
        "stage": _int(text(form, "stage")),
        "owning_agency": text(form, "owning_agency"),
        "planned_start": date_field(form, "planned_start") or "",
    }
    if form.get("override") == "yes":
        body["override"] = {"rationale": text(form, "override_rationale") or ""}
    try:
        await api.post(f"/children/{child_id}/formulation/interventions", body)
    except ApiError as e:
        if e.status not in (409, 422, 403):
            raise
        return render(
            request,
            "plan.html",
            status_code=e.status,
            title="Plan an intervention",
            may_override=may(user.principal, "intervention.override"),
            values=values_of(form),
            refused=e.status == 409,
            **problems(
                e,
                PLAN_LABELS,
                {"override": "override_rationale", "override.rationale": "override_rationale"},
            ),
            **await _plan_context(api, child_id),
        )
    return RedirectResponse(f"/children/{child_id}/work", status_code=303)


# -- reviews -------------------------------------------------------------------------------

REVIEW_LABELS = {
    "starts_at": "Date",
    "starts_at:date": "yes",
    "venue": "Venue",
    "invitees": "Invitees",
    "held_on": "Held on",
    "held_on:date": "yes",
    "stage": "TRM stage now",
    "rationale": "Rationale",
    "attendance": "Attendance",
    "next_review_on": "Next review",
    "next_review_on:date": "yes",
}


@router.get("/children/{child_id}/reviews/schedule")
async def review_form(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The form to schedule the due review."""
    api = api_for(request, user)
    child = await api.get(f"/children/{child_id}")
    return render(
        request,
        "meeting.html",
        title="Schedule a review",
        child=child,
        partners=await _partners(api),
        agencies=AGENCIES,
        action="reviews/schedule",
        values={"starts_at-time": "10:00"},
    )


@router.post("/children/{child_id}/reviews/schedule")
async def schedule_review(request: Request, user: SignedIn, child_id: UUID, form: Form) -> Response:
    """Schedule the current review with partner invitations."""
    api = api_for(request, user)
    case = await api.get(f"/review-cases/{child_id}")
    body = {
        "starts_at": _starts_at(form, "starts_at"),
        "venue": text(form, "venue"),
        "online_link": text(form, "online_link"),
        "invitees": _invitees(form),
    }
    try:
        if case.get("current_review_id") is None:
            raise ApiError(409, "no review is due for this child yet (a report starts them)")
        await api.post(
            f"/review-cases/{child_id}/reviews/{case['current_review_id']}/schedule", body
        )
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        child = await api.get(f"/children/{child_id}")
        return render(
            request,
            "meeting.html",
            status_code=422,
            title="Schedule a review",
            child=child,
            partners=await _partners(api),
            agencies=AGENCIES,
            action="reviews/schedule",
            values=values_of(form),
            checked=form.getlist("invitees"),
            **problems(e, REVIEW_LABELS),
        )
    return RedirectResponse(f"/children/{child_id}", status_code=303)


PROGRESS = [
    ("not_started", "Not started"),
    ("engaging", "Engaging"),
    ("partly", "Partly"),
    ("completed", "Completed"),
    ("stalled", "Stalled"),
]


def _active(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The interventions a review must record progress for."""
    return [i for i in case.get("interventions", []) if i.get("status") in ("planned", "started")]


@router.get("/children/{child_id}/reviews/record")
async def record_form(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The form to record the scheduled review: attendance, re-assessment, next date."""
    api = api_for(request, user)
    child = await api.get(f"/children/{child_id}")
    case = await api.get(f"/review-cases/{child_id}")
    review = next((r for r in case["reviews"] if r["review_id"] == case["current_review_id"]), None)
    today = date.today()
    return render(
        request,
        "review_record.html",
        title="Record a review",
        child=child,
        case=case,
        review=review,
        stages=STAGES,
        active=_active(case),
        progress=PROGRESS,
        agencies=AGENCIES,
        action_rows=ACTION_ROWS,
        values={
            "held_on-day": str(today.day),
            "held_on-month": str(today.month),
            "held_on-year": str(today.year),
        },
    )


@router.post("/children/{child_id}/reviews/record")
async def record_review(request: Request, user: SignedIn, child_id: UUID, form: Form) -> Response:
    """Record the review held: who came, the TRM stage re-assessed, the next review."""
    api = api_for(request, user)
    case = await api.get(f"/review-cases/{child_id}")
    review = next((r for r in case["reviews"] if r["review_id"] == case["current_review_id"]), None)
    attendance = []
    for n, invitee in enumerate((review or {}).get("invitees", [])):
        attendance.append(
            {
                "agency": invitee["agency"],
                "contact_id": invitee.get("contact_id"),
                "attendance": text(form, f"attendance-{n}") or "attended",
            }
        )
    progress = [
        {
            "intervention_id": i["intervention_id"],
            "progress": text(form, f"progress-{i['intervention_id']}") or "",
            "note": text(form, f"note-{i['intervention_id']}"),
        }
        for i in _active(case)
    ]
    next_on = date_field(form, "next_review_on")
    actions, action_fields = actions_of(form)
    body = {
        "held_on": date_field(form, "held_on") or "",
        "attendance": attendance,
        "stage": _int(text(form, "stage")),
        "rationale": text(form, "rationale"),
        "progress": progress,
        "actions": actions,
        "next_review_on": next_on,
    }
    try:
        if review is None:
            raise ApiError(409, "no review is scheduled for this child")
        await api.post(f"/review-cases/{child_id}/reviews/{review['review_id']}/record", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        child = await api.get(f"/children/{child_id}")
        return render(
            request,
            "review_record.html",
            status_code=422,
            title="Record a review",
            child=child,
            case=case,
            review=review,
            stages=STAGES,
            active=_active(case),
            progress=PROGRESS,
            values=values_of(form),
            agencies=AGENCIES,
            action_rows=ACTION_ROWS,
            **problems(e, {**REVIEW_LABELS, **ACTION_LABELS}, action_fields),
        )
    return RedirectResponse(f"/children/{child_id}", status_code=303)


ACTION_ROWS = 3
ACTION_LABELS = {
    f"{prefix}-{n}{suffix}": f"{words} {n + 1}"
    for n in range(ACTION_ROWS)
    for prefix, suffix, words in (
        ("action_text", "", "Action"),
        ("action_agency", "", "Agency of action"),
        ("action_due", "", "Due date of action"),
        ("action_due", ":date", "yes"),
    )
}


def actions_of(form: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The actions agreed at the review (rows with text), and where the API's field names
    point in the form (actions.1.due_on is the second filled row's due date)."""
    found: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    for n in range(ACTION_ROWS):
        if not text(form, f"action_text-{n}"):
            continue
        i = len(found)
        found.append(
            {
                "agency": text(form, f"action_agency-{n}") or "",
                "due_on": date_field(form, f"action_due-{n}") or "",
                "text": text(form, f"action_text-{n}"),
            }
        )
        fields.update(
            {
                f"actions.{i}.text": f"action_text-{n}",
                f"actions.{i}.agency": f"action_agency-{n}",
                f"actions.{i}.due_on": f"action_due-{n}",
                f"actions.{i}": f"action_text-{n}",
            }
        )
    return found, fields


@router.get("/caseload")
async def caseload(request: Request, user: SignedIn) -> Response:
    """Upcoming and overdue reviews, overdue first."""
    entries = await api_for(request, user).get("/caseload/reviews")
    entries.sort(key=lambda e: (not e.get("overdue"), str(e.get("due_on"))))
    return render(request, "caseload.html", title="Caseload", entries=entries)
