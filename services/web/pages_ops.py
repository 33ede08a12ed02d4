"""Operators' pages: notices by delivery state (every notice's status, without its content),
a failed notice delivered again, and the review overdue tick run by hand.

The API decides who may: notices are read by administrators and auditors (`ops.status`), a
retry is an administrator's (`ops.replay`), the tick is ECM staff's and administrators'
(`review.tick`). A child's notices are found by the child's ECM reference, the first eight
characters of its id, which is all the notices' operational view carries.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.web.app import render
from services.web.client import ApiError
from services.web.forms import api_for, text
from services.web.users import Form, SignedIn
from shared.policy import may

router = APIRouter(include_in_schema=False)

STATUSES = [
    ("failed", "Failed"),
    ("queued", "Queued"),
    ("sent", "Sent"),
    ("acknowledged", "Acknowledged"),
]


def _reference(raw: str | None) -> str | None:
    """A child's ECM reference from the filter (8 hex characters, or a whole child id); ""
    for no filter, None when it is neither."""
    value = (raw or "").strip().lower()
    if not value:
        return ""
    try:
        return str(UUID(value))[:8]
    except ValueError:
        pass
    if len(value) == 8 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


def _address(status: str, reference: str) -> str:
    query = {k: v for k, v in (("status", status), ("reference", reference)) if v}
    return "/ops/notices" + (f"?{urlencode(query)}" if query else "")


@router.get("/ops/notices")
async def notices(request: Request, user: SignedIn) -> Response:
    """Notices in one delivery state (failed first), optionally of one child."""
    params = request.query_params
    return await _list(request, user, params.get("status"), params.get("reference"))


async def _list(
    request: Request,
    user: SignedIn,
    status: str | None,
    raw: str | None,
    refused: str | None = None,
) -> Response:
    """The notices page; `refused` is the API's words when a retry was refused (409)."""
    if status not in {value for value, _ in STATUSES}:
        status = "failed"
    errors: list[dict[str, str]] = []
    field_errors: dict[str, str] = {}
    if refused:
        errors.append({"text": f"The notice was not retried: {refused}", "href": "#notices"})
    reference = _reference(raw)
    if reference is None:
        reference = ""
        rule = "Enter the child's 8-character ECM reference or the child's id"
        errors.append({"text": rule, "href": "#reference"})
        field_errors = {"reference": rule}
    found: list[dict[str, Any]] = await api_for(request, user).get("/ops/notices", status=status)
    shown = [n for n in found if not reference or n["reference"] == reference]
    return render(
        request,
        "ops_notices.html",
        status_code=409 if refused else 422 if errors else 200,
        title="Notices",
        notices=shown,
        status=status,
        statuses=STATUSES,
        reference=reference,
        values={"reference": raw or "", "status": status},
        errors=errors,
        field_errors=field_errors,
        may_retry=may(user.principal, "ops.replay"),
        back=_address(status, reference),
    )


@router.post("/ops/notices/{notice_id}/retry")
async def retry(request: Request, user: SignedIn, notice_id: UUID, form: Form) -> Response:
    """Deliver a failed notice again; back to the list it was retried from (a refusal, such as
    a notice no longer failed, is shown on that list)."""
    back = text(form, "back") or "/ops/notices"
    if not back.startswith("/ops/notices"):
        back = "/ops/notices"
    try:
        await api_for(request, user).post(f"/ops/notices/{notice_id}/retry")
    except ApiError as e:
        if e.status != 409:
            raise
        query = parse_qs(urlsplit(back).query)
        status = next(iter(query.get("status", [])), None)
        reference = next(iter(query.get("reference", [])), None)
        return await _list(request, user, status, reference, refused=e.detail)
    return RedirectResponse(back, status_code=303)


@router.get("/reviews/tick")
async def tick_page(request: Request, user: SignedIn) -> Response:
    """The button that raises every review overdue today that is not yet flagged."""
    if not may(user.principal, "review.tick"):
        raise ApiError(403, "forbidden")
    return render(request, "tick.html", title="Overdue reviews", result=None)


@router.post("/reviews/tick")
async def run_tick(request: Request, user: SignedIn, form: Form) -> Response:
    """Run the tick; the page says how many reviews it flagged overdue."""
    result = await api_for(request, user).post("/reviews/tick")
    return render(request, "tick.html", title="Overdue reviews", result=result)


__all__ = ["router"]
