"""The partner directory: the named people at partner agencies that notices go to, for the
roles the API lets manage it (ECM staff and administrators)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.web.app import render
from services.web.client import ApiError
from services.web.forms import api_for, problems, text, values_of
from services.web.pages_clinical import AGENCIES
from services.web.users import Form, SignedIn

router = APIRouter(include_in_schema=False)
CHANNELS = [
    ("email", "Email"),
    ("webhook", "Webhook (a signed HTTP post)"),
    ("notify", "GOV.UK Notify"),
]
PARTNER_LABELS = {
    "agency": "Agency",
    "name": "Name",
    "email": "Email address",
    "webhook_url": "Webhook address",
    "preferred_channel": "How they get notices",
    "webhook_secret": "Webhook signing key",
}
SECRET_LABELS = {"webhook_secret": "New signing key", "overlap_hours": "Hours both keys sign"}


@router.get("/partners")
async def directory(request: Request, user: SignedIn) -> Response:
    """Everyone in the partner directory."""
    found = await api_for(request, user).get("/partners")
    partners = sorted(found, key=lambda p: (str(p["agency"]), str(p["name"])))
    return render(request, "partners.html", title="Partner directory", partners=partners)


@router.get("/partners/new")
async def partner_form(request: Request, user: SignedIn) -> Response:
    """The form to add a person at a partner agency."""
    await api_for(request, user).get("/partners")  # the API says whether the user may
    return render(
        request,
        "partner.html",
        title="Add a partner contact",
        agencies=AGENCIES,
        channels=CHANNELS,
        values={"preferred_channel": "email"},
    )


@router.post("/partners/new")
async def add_partner(request: Request, user: SignedIn, form: Form) -> Response:
    """Add the contact; only their id and agency go on the bus."""
    body: dict[str, Any] = {
        "agency": text(form, "agency") or "",
        "name": text(form, "name") or "",
        "email": text(form, "email") or "",
        "preferred_channel": text(form, "preferred_channel") or "email",
    }
    for optional in ("webhook_url", "webhook_secret"):
        if value := text(form, optional):
            body[optional] = value
    try:
        await api_for(request, user).post("/partners", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        return render(
            request,
            "partner.html",
            status_code=e.status,
            title="Add a partner contact",
            agencies=AGENCIES,
            channels=CHANNELS,
            values=values_of(form),
            **problems(e, PARTNER_LABELS),
        )
    return RedirectResponse("/partners", status_code=303)


async def _contact(request: Request, user: SignedIn, contact_id: UUID) -> dict[str, Any]:
    found = await api_for(request, user).get("/partners")
    contact = next((p for p in found if p["id"] == str(contact_id)), None)
    if contact is None:
        raise ApiError(404, "not found")
    return dict(contact)


@router.get("/partners/{contact_id}/webhook-secret")
async def secret_form(request: Request, user: SignedIn, contact_id: UUID) -> Response:
    """The form to give a contact a new webhook signing key."""
    contact = await _contact(request, user, contact_id)
    return render(
        request,
        "partner_secret.html",
        title="Rotate the webhook signing key",
        contact=contact,
        values={"overlap_hours": "24"},
    )


@router.post("/partners/{contact_id}/webhook-secret")
async def rotate_secret(request: Request, user: SignedIn, contact_id: UUID, form: Form) -> Response:
    """Rotate the key; the old one keeps signing for the overlap."""
    contact = await _contact(request, user, contact_id)
    hours = text(form, "overlap_hours")
    body: dict[str, Any] = {
        "webhook_secret": text(form, "webhook_secret") or "",
        "overlap_hours": int(hours) if hours and hours.isdigit() else hours,
    }
    if body["overlap_hours"] is None:
        del body["overlap_hours"]
    try:
        await api_for(request, user).post(f"/partners/{contact_id}/webhook-secret", body)
    except ApiError as e:
        if e.status not in (409, 422):
            raise
        return render(
            request,
            "partner_secret.html",
            status_code=e.status,
            title="Rotate the webhook signing key",
            contact=contact,
            values=values_of(form),
            **problems(e, SECRET_LABELS),
        )
    return RedirectResponse("/partners", status_code=303)
