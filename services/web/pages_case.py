"""Case manager pages: my children (search), register a child, refer with consent, progress."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.web.app import render
from services.web.client import ApiError
from services.web.forms import api_for, date_field, date_values, problems, text, values_of
from services.web.users import Form, SignedIn
from shared.domain import Area, Role
from shared.policy import may

router = APIRouter(include_in_schema=False)
AREAS = [(str(a), str(a).replace("_", " ").title().replace("Banes", "BANES")) for a in Area]
CHILD_LABELS = {
    "given_name": "First name",
    "family_name": "Last name",
    "date_of_birth": "Date of birth",
    "date_of_birth:date": "yes",
    "area": "YJS area",
    "nhs_number": "NHS number",
    "upn": "Unique Pupil Number (UPN)",
}
SEARCH_LABELS = {**CHILD_LABELS, "family_name": "Last name starts with"}
REFERRAL_LABELS = {
    "reason": "Reason for referral",
    "trauma_history": "Trauma history",
    "expected_involvement_months": "Expected YJS involvement (months)",
    "consent": "Consent to formulation",
    "given_by": "Consent given by",
}


@router.get("/children")
async def my_children(request: Request, user: SignedIn) -> Response:
    """The child index: my children, or a search by name, date of birth, NHS number or UPN."""
    query = request.query_params
    values = {k: v for k, v in query.items()}
    params: dict[str, Any] = {
        "family_name": query.get("family_name", "").strip() or None,
        "given_name": query.get("given_name", "").strip() or None,
        "nhs_number": query.get("nhs_number", "").strip() or None,
        "upn": query.get("upn", "").strip() or None,
        "queue": query.get("queue") or None,
    }
    day, month, year = (
        query.get(f"date_of_birth-{p}", "").strip() for p in ("day", "month", "year")
    )
    if day or month or year:
        params["date_of_birth"] = f"{year}-{month.zfill(2)}-{day.zfill(2)}"
    searching = any(v for v in params.values())
    if not searching and user.principal.role == Role.CASE_MANAGER:
        params["mine"] = "true"
    context: dict[str, Any] = {"values": values, "searching": searching}
    try:
        page = await api_for(request, user).get("/children", **params, limit=100)
    except ApiError as e:
        if e.status != 422:
            raise
        page = {"items": [], "total": 0}
        context.update(problems(e, SEARCH_LABELS))
    return render(request, "children.html", title="Children", page=page, **context)


@router.get("/children/new")
async def register_form(request: Request, user: SignedIn) -> Response:
    """The form to register a child."""
    values = {"area": str(user.principal.area)} if user.principal.area else {}
    return render(request, "register.html", title="Register a child", values=values, areas=AREAS)


@router.post("/children/new")
async def register(request: Request, user: SignedIn, form: Form) -> Response:
    """Register a child; refusals come back inline, nothing is written."""
    body = {
        "given_name": text(form, "given_name") or "",
        "family_name": text(form, "family_name") or "",
        "date_of_birth": date_field(form, "date_of_birth") or "",
        "area": text(form, "area") or "",
        "nhs_number": text(form, "nhs_number"),
        "upn": text(form, "upn"),
    }
    try:
        created = await api_for(request, user).post("/children", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        return render(
            request,
            "register.html",
            status_code=422,
            title="Register a child",
            values=values_of(form),
            areas=AREAS,
            **problems(e, CHILD_LABELS),
        )
    return RedirectResponse(f"/children/{created['id']}?registered=1", status_code=303)


@router.get("/children/{child_id}/refer")
async def refer_form(request: Request, user: SignedIn, child_id: UUID) -> Response:
    """The form to refer a child to ECM, with consent."""
    child = await api_for(request, user).get(f"/children/{child_id}")
    return render(
        request,
        "refer.html",
        title="Refer to ECM",
        child=child,
        values={"expected_involvement_months": "12"},
    )


@router.post("/children/{child_id}/refer")
async def refer(request: Request, user: SignedIn, child_id: UUID, form: Form) -> Response:
    """Refer, then record consent (consent is checked before the referral is written)."""
    api = api_for(request, user)
    child = await api.get(f"/children/{child_id}")
    consent, given_by = text(form, "consent"), text(form, "given_by")
    missing: dict[str, str] = {}
    if consent not in ("given", "refused"):
        missing["consent"] = "Consent to formulation: select whether consent was given"
    if not given_by:
        missing["given_by"] = "Consent given by: enter who gave or refused consent"
    months = text(form, "expected_involvement_months") or ""
    body = {
        "child_id": str(child_id),
        "reason": text(form, "reason") or "",
        "trauma_history": text(form, "trauma_history") or "",
        "expected_involvement_months": int(months) if months.isdigit() else months,
    }
    if missing:
        errors = [{"text": m, "href": f"#{f}"} for f, m in missing.items()]
        return render(
            request,
            "refer.html",
            status_code=422,
            title="Refer to ECM",
            child=child,
            values=values_of(form),
            errors=errors,
            field_errors=missing,
        )
    try:
        created = await api.post("/referrals", body)
        await api.post(
            f"/referrals/{created['id']}/consent", {"consent": consent, "given_by": given_by}
        )
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        return render(
            request,
            "refer.html",
            status_code=422,
            title="Refer to ECM",
            child=child,
            values=values_of(form),
            **problems(e, REFERRAL_LABELS),
        )
    return RedirectResponse(f"/referrals/{created['id']}", status_code=303)


@router.get("/referrals/{referral_id}")
async def referral_progress(request: Request, user: SignedIn, referral_id: UUID) -> Response:
    """Where a referral stands: consent, screening, outcome."""
    api = api_for(request, user)
    referral = await api.get(f"/referrals/{referral_id}")
    child = await api.get(f"/children/{referral['child_id']}")
    return render(
        request,
        "referral.html",
        title="Referral",
        referral=referral,
        child=child,
        may_screen=may(user.principal, "referral.screen"),
        changes=_referral_changes(user, referral),
    )


def _referral_changes(user: SignedIn, referral: dict[str, Any]) -> list[tuple[str, str]]:
    """The changes the user may make to the referral as it stands: (words, address)."""
    status = referral["status"]
    child, target = referral["child_id"], referral["id"]
    offered = [
        (
            "Withdraw the referral",
            "referral-withdraw",
            "referral.withdraw",
            "referred accepted consultation",
        ),
        ("Close the referral", "referral-close", "referral.close", "accepted consultation"),
        (
            "Correct the referral",
            "referral-correct",
            "referral.correct",
            "referred accepted consultation",
        ),
    ]
    return [
        (words, f"/children/{child}/actions/{slug}?target={target}")
        for words, slug, capability, statuses in offered
        if status in statuses.split() and may(user.principal, capability)
    ]


__all__ = ["date_values", "router"]
