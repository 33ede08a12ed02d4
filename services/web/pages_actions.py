"""One form per change the API offers on a child's record that has no page of its own:
interventions started, sessions, completed, stopped; meetings and reviews moved or cancelled;
consultations held and closed; the case closed and reopened; entries retracted; a child's
field corrected or disputed; review cadence and worker.

Each is a row of ACTIONS (what the API is called with, which fields, in which words); one pair
of routes serves them all, so every form has the same shape, CSRF check, error summary and
refusals as the API's own (the pages only carry the user's input to it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.web.app import render
from services.web.client import ApiError
from services.web.forms import api_for, date_field, problems, text, values_of
from services.web.pages_clinical import AGENCIES, STAGES, _int, _starts_at
from services.web.users import Form, SignedIn
from shared.policy import may

router = APIRouter(include_in_schema=False)

CHILD_FIELDS = [
    ("given_name", "Given name"),
    ("family_name", "Family name"),
    ("date_of_birth", "Date of birth"),
    ("nhs_number", "NHS number"),
    ("upn", "Unique pupil number (UPN)"),
]


@dataclass(frozen=True)
class Input:
    """One form field: its name (the API's), its label and its kind.

    Kinds: text, textarea, number, date (a GOV.UK date input), datetime (a date and a time,
    Europe/London), select (from `options`), stage (radios of `options`, sent as a number),
    lines (a textarea, one value a line, sent as a list), agencies (checkboxes, sent as a
    list)."""

    name: str
    label: str
    kind: str = "text"
    hint: str | None = None
    options: list[tuple[str, str]] = field(default_factory=list)
    optional: bool = False


@dataclass(frozen=True)
class Action:
    """A change to a child's record through one API call."""

    slug: str
    title: str
    button: str
    path: str  # the API path: {child} and {target} are filled in
    capability: str  # the policy rule that allows it (to show the link)
    inputs: tuple[Input, ...]
    method: str = "POST"
    target: str | None = None  # what {target} names, in words (None: no target)
    back: str = "/children/{child}/work"
    intro: str | None = None


REASON = Input("reason", "Reason", "textarea", "Kept in the record's history for audit.")
TODAY = "today"


ACTIONS: dict[str, Action] = {
    a.slug: a
    for a in [
        Action(
            "stage-assess",
            "Assess the TRM stage",
            "Save the assessment",
            "/children/{child}/formulation/assessments",
            "formulation.assess",
            (
                Input("stage", "TRM stage now", "stage", options=STAGES),
                Input("assessed_on", "Assessed on", "date"),
                Input(
                    "rationale",
                    "Rationale",
                    "textarea",
                    "Why this stage: it may move down as well as up.",
                ),
            ),
            back="/children/{child}",
        ),
        Action(
            "intervention-start",
            "Start an intervention",
            "Start the intervention",
            "/children/{child}/formulation/interventions/{target}/start",
            "intervention.update",
            (Input("started_on", "Started on", "date"),),
            target="intervention",
        ),
        Action(
            "intervention-session",
            "Record an intervention session",
            "Record the session",
            "/children/{child}/formulation/interventions/{target}/sessions",
            "intervention.update",
            (Input("held_on", "Held on", "date"), Input("note", "Note", "textarea", optional=True)),
            target="intervention",
        ),
        Action(
            "intervention-complete",
            "Complete an intervention",
            "Complete the intervention",
            "/children/{child}/formulation/interventions/{target}/completion",
            "intervention.update",
            (Input("completed_on", "Completed on", "date"),),
            target="intervention",
        ),
        Action(
            "intervention-stop",
            "Stop an intervention",
            "Stop the intervention",
            "/children/{child}/formulation/interventions/{target}/stop",
            "intervention.update",
            (Input("stopped_on", "Stopped on", "date"), REASON),
            target="intervention",
        ),
        Action(
            "meeting-reschedule",
            "Reschedule a formulation meeting",
            "Reschedule the meeting",
            "/children/{child}/formulation/meetings/{target}/reschedule",
            "formulation.meeting",
            (Input("starts_at", "New date", "datetime"), REASON),
            target="meeting",
            intro="Invited partners are sent the new time.",
        ),
        Action(
            "meeting-cancel",
            "Cancel a formulation meeting",
            "Cancel the meeting",
            "/children/{child}/formulation/meetings/{target}/cancellation",
            "formulation.meeting",
            (REASON,),
            target="meeting",
            intro="Invited partners are told the meeting is cancelled.",
        ),
        Action(
            "review-reschedule",
            "Reschedule the review",
            "Reschedule the review",
            "/review-cases/{child}/reviews/{target}/reschedule",
            "review.schedule",
            (Input("starts_at", "New date", "datetime"), REASON),
            target="review",
            back="/children/{child}",
        ),
        Action(
            "review-cancel",
            "Cancel the review meeting",
            "Cancel the review meeting",
            "/review-cases/{child}/reviews/{target}/cancel",
            "review.schedule",
            (REASON,),
            target="review",
            back="/children/{child}",
            intro="The review stays due: schedule it again when a time is agreed.",
        ),
        Action(
            "review-cadence",
            "Set the review cadence",
            "Save the cadence",
            "/review-cases/{child}/cadence",
            "review.schedule",
            (
                Input(
                    "weeks",
                    "Weeks between reviews",
                    "number",
                    "A whole number of weeks, for example 6.",
                ),
            ),
            method="PUT",
            back="/children/{child}",
        ),
        Action(
            "review-worker",
            "Name the ECM worker",
            "Save the worker",
            "/review-cases/{child}/worker",
            "review.schedule",
            (
                Input(
                    "worker_id",
                    "Worker's user id",
                    hint="The practitioner who owns the child's reviews, for example psy-1.",
                ),
            ),
            method="PUT",
            back="/children/{child}",
        ),
        Action(
            "case-close",
            "Close the case",
            "Close the case",
            "/review-cases/{child}/closure",
            "case.close",
            (
                Input("closed_on", "Closed on", "date"),
                REASON,
                Input(
                    "safety_net_until",
                    "Safety-net contact until",
                    "date",
                    "Leave empty if there is no safety-net contact.",
                    optional=True,
                ),
            ),
            back="/children/{child}",
        ),
        Action(
            "case-reopen",
            "Reopen the case",
            "Reopen the case",
            "/review-cases/{child}/reopening",
            "case.close",
            (Input("reopened_on", "Reopened on", "date"), REASON),
            back="/children/{child}",
        ),
        Action(
            "consultation-session",
            "Record a consultation",
            "Record the consultation",
            "/consultations/{target}/sessions",
            "formulation.consultation",
            (
                Input("held_on", "Held on", "date"),
                Input("attended_by", "Who attended", "lines", "One name or role a line."),
                Input("agencies", "Agencies present", "agencies", optional=True),
                Input("advice", "Advice given", "textarea"),
            ),
            target="consultation",
        ),
        Action(
            "consultation-close",
            "Close the consultation",
            "Close the consultation",
            "/consultations/{target}/closure",
            "formulation.consultation",
            (
                Input(
                    "reason",
                    "Reason",
                    "textarea",
                    "Needed if the consultation was never held.",
                    optional=True,
                ),
            ),
            target="consultation",
        ),
        Action(
            "entry-retract",
            "Retract a timeline entry",
            "Retract the entry",
            "/children/{child}/formulation/timeline/{target}/retraction",
            "formulation.timeline",
            (REASON,),
            target="entry",
            back="/children/{child}/timeline/entries",
            intro="Retract an entry recorded in error. It stays in the history for audit.",
        ),
        Action(
            "child-correct",
            "Correct the child's record",
            "Save the correction",
            "/children/{child}/corrections",
            "child.correct",
            (
                Input("field", "Field to correct", "select", options=CHILD_FIELDS),
                Input(
                    "value",
                    "Corrected value",
                    hint="A date of birth as YYYY-MM-DD. Leave "
                    "empty to clear an NHS number or UPN.",
                    optional=True,
                ),
                REASON,
            ),
            back="/children/{child}",
            intro="A correction is a new event; the original stays in the history for audit.",
        ),
        Action(
            "child-dispute",
            "Flag a disputed field",
            "Flag the dispute",
            "/children/{child}/disputes",
            "child.dispute",
            (Input("field", "Disputed field", "select", options=CHILD_FIELDS), REASON),
            back="/children/{child}",
            intro="The field is shown as disputed until it is corrected.",
        ),
    ]
}

REFERRAL_FIELDS = [
    ("reason", "Reason for referral"),
    ("trauma_history", "Trauma history"),
    ("expected_involvement_months", "Expected involvement (months)"),
]

REFERRAL_ACTIONS = [
    Action(
        "referral-withdraw",
        "Withdraw the referral",
        "Withdraw the referral",
        "/referrals/{target}/withdrawal",
        "referral.withdraw",
        (REASON,),
        target="referral",
        back="/referrals/{target}",
        intro="A withdrawn referral is not screened; it stays in the history for audit.",
    ),
    Action(
        "referral-close",
        "Close the referral",
        "Close the referral",
        "/referrals/{target}/closure",
        "referral.close",
        (REASON,),
        target="referral",
        back="/referrals/{target}",
        intro="Close an accepted referral or a consultation when ECM's work with the child ends.",
    ),
    Action(
        "referral-correct",
        "Correct the referral",
        "Save the correction",
        "/referrals/{target}/corrections",
        "referral.correct",
        (
            Input("field", "Field to correct", "select", options=REFERRAL_FIELDS),
            Input(
                "value",
                "Corrected value",
                "textarea",
                "Expected involvement is a whole number of months, for example 6.",
            ),
            REASON,
        ),
        target="referral",
        back="/referrals/{target}",
        intro="A correction is a new event; the original stays in the history for audit.",
    ),
]
ACTIONS.update({a.slug: a for a in REFERRAL_ACTIONS})

# What a target is read from, to check it is the child's before the form shows or acts: the
# API paths of these targets do not name the child, so a page under one child's address could
# otherwise act on another child's consultation or referral.
OWNED_BY_CHILD = {
    "consultation": "/consultations/{target}",
    "referral": "/referrals/{target}",
}

# The date inputs a form starts with today's date in.
STARTS_TODAY = {
    "assessed_on",
    "started_on",
    "held_on",
    "completed_on",
    "stopped_on",
    "closed_on",
    "reopened_on",
}


def _labels(action: Action) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in action.inputs:
        labels[item.name] = item.label
        if item.kind in ("date", "datetime"):
            labels[f"{item.name}:date"] = "yes"
    return labels


def _initial(action: Action) -> dict[str, str]:
    today = date.today()
    values: dict[str, str] = {}
    for item in action.inputs:
        if item.name in STARTS_TODAY and item.kind == "date":
            values.update(
                {
                    f"{item.name}-day": str(today.day),
                    f"{item.name}-month": str(today.month),
                    f"{item.name}-year": str(today.year),
                }
            )
        if item.kind == "datetime":
            values[f"{item.name}-time"] = "10:00"
    return values


def body_of(action: Action, form: Any) -> dict[str, Any]:
    """The API body from the form: each input by its kind; empty optional inputs left out."""
    body: dict[str, Any] = {}
    for item in action.inputs:
        value: Any
        if item.kind == "date":
            value = date_field(form, item.name)
        elif item.kind == "datetime":
            value = _starts_at(form, item.name)
        elif item.kind in ("number", "stage"):
            value = _int(text(form, item.name))
        elif item.kind == "lines":
            raw = text(form, item.name) or ""
            value = [line.strip() for line in raw.splitlines() if line.strip()]
        elif item.kind == "agencies":
            value = [str(v) for v in form.getlist(item.name)]
        else:
            value = text(form, item.name)
        months = text(form, "field") == "expected_involvement_months"
        if action.slug == "referral-correct" and item.name == "value" and months:
            value = _int(value or "")
        if item.optional and value in (None, [], ""):
            if action.slug == "child-correct" and item.name == "value":
                body["value"] = None  # clearing an optional field is a correction too
            continue
        body[item.name] = value if value is not None else ""
    return body


def _action(slug: str) -> Action:
    found = ACTIONS.get(slug)
    if found is None:
        raise ApiError(404, "not found")
    return found


def _target(action: Action, request: Request) -> str | None:
    """The id of the meeting, review, intervention, consultation or entry acted on."""
    if action.target is None:
        return None
    raw = request.query_params.get("target") or ""
    try:
        return str(UUID(raw))
    except ValueError:
        raise ApiError(404, "not found") from None


async def _check_owner(
    request: Request, user: SignedIn, action: Action, child_id: UUID, target: str | None
) -> None:
    """Refuse (404) a consultation or referral that is not this child's."""
    path = OWNED_BY_CHILD.get(action.target or "")
    if path is None or target is None:
        return
    found = await api_for(request, user).get(path.format(target=target))
    if str(found.get("child_id")) != str(child_id):
        raise ApiError(404, "not found")


def _back(action: Action, child_id: UUID, target: str | None, user: SignedIn) -> str:
    if action.slug == "child-dispute" and not may(user.principal, "child.read"):
        return f"/audit/children/{child_id}"  # an auditor: back to the child's audit trail
    return action.back.format(child=child_id, target=target)


async def _page(
    request: Request,
    user: SignedIn,
    action: Action,
    child_id: UUID,
    target: str | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    # An auditor may dispute a field but not read the child: the heading then goes without
    # the name (the form names the child by its record's id only).
    child: dict[str, Any] = {"id": str(child_id)}
    if may(user.principal, "child.read"):
        child = await api_for(request, user).get(f"/children/{child_id}")
    context.setdefault("values", _initial(action))
    return render(
        request,
        "action.html",
        status_code=status_code,
        title=action.title,
        action=action,
        child=child,
        target=target,
        agencies=AGENCIES,
        back=_back(action, child_id, target, user),
        **context,
    )


@router.get("/children/{child_id}/actions/{slug}")
async def action_form(request: Request, user: SignedIn, child_id: UUID, slug: str) -> Response:
    """The form of one change to the child's record."""
    action = _action(slug)
    if not may(user.principal, action.capability):
        raise ApiError(403, "forbidden")
    target = _target(action, request)
    await _check_owner(request, user, action, child_id, target)
    return await _page(request, user, action, child_id, target)


@router.post("/children/{child_id}/actions/{slug}")
async def act(request: Request, user: SignedIn, child_id: UUID, slug: str, form: Form) -> Response:
    """Send the change to the API; its refusals come back as the form's error summary."""
    action = _action(slug)
    target = _target(action, request)
    await _check_owner(request, user, action, child_id, target)
    path = action.path.format(child=child_id, target=target)
    api = api_for(request, user)
    try:
        await api.call(action.method, path, json=body_of(action, form))
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        return await _page(
            request,
            user,
            action,
            child_id,
            target,
            status_code=e.status,
            values=values_of(form),
            checked=form.getlist("agencies"),
            **problems(e, _labels(action)),
        )
    return RedirectResponse(_back(action, child_id, target, user), status_code=303)


def links(child_id: str, slug: str, target: str | None = None) -> str:
    """The address of an action's form."""
    address = f"/children/{child_id}/actions/{slug}"
    return f"{address}?target={target}" if target else address
