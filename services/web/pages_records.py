"""More of the record: transitions, corrections of timeline entries, meetings held, and the
supervision log."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.web.app import render
from services.web.client import ApiError
from services.web.forms import api_for, date_field, problems, text, values_of
from services.web.pages_clinical import CATEGORIES
from services.web.users import Form, SignedIn

router = APIRouter(include_in_schema=False)
TRANSITIONS = [
    ("entering_custody", "Entering custody"),
    ("leaving_custody", "Leaving custody"),
    ("school_move", "Changing school"),
    ("placement_move", "Changing placement"),
    ("transfer_to_adult_services", "Moving to adult services"),
    ("transfer_to_probation", "Moving to probation"),
]
ATTENDANCE = [
    ("attended", "Attended"),
    ("apologies", "Sent apologies"),
    ("did_not_attend", "Did not attend"),
]
KINDS = [
    ("clinical_supervision", "Clinical supervision"),
    ("group_reflective_practice", "Group reflective practice"),
]


def _today_values(name: str) -> dict[str, str]:
    today = date.today()
    return {
        f"{name}-day": str(today.day),
        f"{name}-month": str(today.month),
        f"{name}-year": str(today.year),
    }


# -- transitions ---------------------------------------------------------------------------

TRANSITION_LABELS = {
    "kind": "Transition",
    "occurred_on": "When",
    "occurred_on:date": "yes",
    "receiving_organisation": "Receiving organisation",
}


@router.get("/children/{child_id}/transitions/new")
async def transition_form(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The form to record a transition (custody, school, placement, adult services)."""
    child = await api_for(request, user).get(f"/children/{child_id}")
    return render(
        request,
        "transition.html",
        title="Record a transition",
        child=child,
        kinds=TRANSITIONS,
        values=_today_values("occurred_on"),
    )


@router.post("/children/{child_id}/transitions/new")
async def record_transition(
    request: Request, user: SignedIn, child_id: UUID, form: Form
) -> Response:
    """Record the transition; partners are told by the notifications service."""
    api = api_for(request, user)
    body = {
        "kind": text(form, "kind") or "",
        "occurred_on": date_field(form, "occurred_on") or "",
        "receiving_organisation": text(form, "receiving_organisation"),
    }
    try:
        await api.post(f"/review-cases/{child_id}/transitions", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        child = await api.get(f"/children/{child_id}")
        return render(
            request,
            "transition.html",
            status_code=422,
            title="Record a transition",
            child=child,
            kinds=TRANSITIONS,
            values=values_of(form),
            **problems(e, TRANSITION_LABELS),
        )
    return RedirectResponse(f"/children/{child_id}", status_code=303)


# -- timeline entries and their corrections -------------------------------------------------

CORRECTION_LABELS = {
    "description": "What happened",
    "category": "Category",
    "reason": "Reason for the correction",
}


@router.get("/children/{child_id}/timeline/entries")
async def entries(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The life-story entries, each with its corrections count and a link to correct it."""
    api = api_for(request, user)
    child = await api.get(f"/children/{child_id}")
    found = await api.get(f"/children/{child_id}/formulation/timeline", include_retracted="true")
    return render(request, "entries.html", title="Life-story entries", child=child, entries=found)


async def _entry(api: Any, child_id: UUID, entry_id: UUID) -> dict[str, Any]:
    found = await api.get(f"/children/{child_id}/formulation/timeline")
    entry = next((e for e in found if e["entry_id"] == str(entry_id)), None)
    if entry is None:
        raise ApiError(404, "not found")
    return dict(entry)


@router.get("/children/{child_id}/timeline/{entry_id}/correct")
async def correction_form(
    request: Request, user: SignedIn, child_id: UUID, entry_id: UUID
) -> Response:
    """The form to correct an entry (a new event; the original stays for audit)."""
    api = api_for(request, user)
    child = await api.get(f"/children/{child_id}")
    entry = await _entry(api, child_id, entry_id)
    values = {"description": entry.get("description") or "", "category": entry["category"]}
    return render(
        request,
        "correct.html",
        title="Correct an entry",
        child=child,
        entry=entry,
        categories=CATEGORIES,
        values=values,
    )


@router.post("/children/{child_id}/timeline/{entry_id}/correct")
async def correct(
    request: Request, user: SignedIn, child_id: UUID, entry_id: UUID, form: Form
) -> Response:
    """Correct the description or category, with a reason."""
    api = api_for(request, user)
    entry = await _entry(api, child_id, entry_id)
    body: dict[str, Any] = {"reason": text(form, "reason") or ""}
    description, category = text(form, "description"), text(form, "category")
    if description and description != entry.get("description"):
        body["description"] = description
    if category and category != entry.get("category"):
        body["category"] = category
    try:
        await api.post(f"/children/{child_id}/formulation/timeline/{entry_id}/corrections", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        child = await api.get(f"/children/{child_id}")
        return render(
            request,
            "correct.html",
            status_code=422,
            title="Correct an entry",
            child=child,
            entry=entry,
            categories=CATEGORIES,
            values=values_of(form),
            **problems(e, CORRECTION_LABELS),
        )
    return RedirectResponse(f"/children/{child_id}/timeline/entries", status_code=303)


# -- meetings held --------------------------------------------------------------------------

HELD_LABELS = {
    "held_on": "Held on",
    "held_on:date": "yes",
    "attendance": "Attendance",
    "notes": "Notes",
}


async def _meeting(api: Any, child_id: UUID, meeting_id: UUID) -> dict[str, Any]:
    return dict(await api.get(f"/children/{child_id}/formulation/meetings/{meeting_id}"))


@router.get("/children/{child_id}/meetings/{meeting_id}/record")
async def held_form(request: Request, user: SignedIn, child_id: UUID, meeting_id: UUID) -> Response:
    """The form to record a formulation meeting as held, with attendance per invitee."""
    api = api_for(request, user)
    child = await api.get(f"/children/{child_id}")
    meeting = await _meeting(api, child_id, meeting_id)
    return render(
        request,
        "held.html",
        title="Record a formulation meeting",
        child=child,
        meeting=meeting,
        attendance=ATTENDANCE,
        values=_today_values("held_on"),
    )


@router.post("/children/{child_id}/meetings/{meeting_id}/record")
async def record_held(
    request: Request, user: SignedIn, child_id: UUID, meeting_id: UUID, form: Form
) -> Response:
    """Record who came from each invited agency, and notes."""
    api = api_for(request, user)
    meeting = await _meeting(api, child_id, meeting_id)
    attendance = [
        {
            "agency": invitee["agency"],
            "contact_id": invitee.get("contact_id"),
            "attendance": text(form, f"attendance-{n}") or "",
        }
        for n, invitee in enumerate(meeting.get("invitees", []))
    ]
    body = {
        "held_on": date_field(form, "held_on") or "",
        "attendance": attendance,
        "notes": text(form, "notes"),
    }
    try:
        await api.post(f"/children/{child_id}/formulation/meetings/{meeting_id}/record", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        child = await api.get(f"/children/{child_id}")
        return render(
            request,
            "held.html",
            status_code=422,
            title="Record a formulation meeting",
            child=child,
            meeting=meeting,
            attendance=ATTENDANCE,
            values=values_of(form),
            **problems(e, HELD_LABELS),
        )
    return RedirectResponse(f"/children/{child_id}/work", status_code=303)


# -- supervision ----------------------------------------------------------------------------

SUPERVISION_LABELS = {
    "practitioner_id": "Practitioner",
    "supervisor_id": "Supervisor",
    "held_on": "Held on",
    "held_on:date": "yes",
    "kind": "Kind of session",
    "themes": "Themes of practice",
}


@router.get("/supervision")
async def supervision(request: Request, user: SignedIn) -> Response:
    """The supervision log, newest first, and the form to log a session."""
    sessions = await api_for(request, user).get("/supervision-sessions")
    values = {"supervisor_id": user.principal.user_id, **_today_values("held_on")}
    return render(
        request,
        "supervision.html",
        title="Supervision log",
        sessions=sessions,
        kinds=KINDS,
        values=values,
    )


@router.post("/supervision")
async def log_supervision(request: Request, user: SignedIn, form: Form) -> Response:
    """Log a supervision or reflective practice session (themes, never a child's details)."""
    api = api_for(request, user)
    body = {
        "practitioner_id": text(form, "practitioner_id") or "",
        "supervisor_id": text(form, "supervisor_id") or "",
        "held_on": date_field(form, "held_on") or "",
        "kind": text(form, "kind") or "",
        "themes": text(form, "themes") or "",
    }
    try:
        await api.post("/supervision-sessions", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        sessions = await api.get("/supervision-sessions")
        return render(
            request,
            "supervision.html",
            status_code=422,
            title="Supervision log",
            sessions=sessions,
            kinds=KINDS,
            values=values_of(form),
            **problems(e, SUPERVISION_LABELS),
        )
    return RedirectResponse("/supervision", status_code=303)
