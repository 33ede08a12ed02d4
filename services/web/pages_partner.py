"""The partner's notice page: opened by the signed link in the notice, read and acknowledge only.

Partners have no accounts here. The link carries a token signed with the notifications
service's link secret, bound to one notice and one contact, expiring, and revocable: ECM staff
can revoke a link, and a revoked link opens nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import jwt
import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.notifications.api import notice_public
from services.notifications.application import NotificationsApplication
from services.notifications.content import compose, read_partner_link_token
from services.web.app import render
from services.web.forms import text
from services.web.users import Form, SignedIn, current_user
from shared.domain import Conflict, Meta, NotFound, Role
from shared.policy import Principal, check

router = APIRouter(include_in_schema=False)
metadata = sa.MetaData()
revocations = sa.Table(
    "web_partner_link_revocations",
    metadata,
    sa.Column("notice_id", sa.String(36), primary_key=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_by", sa.String(200), nullable=False),
    sa.Column("reason", sa.String(2000), nullable=False),
)


class LinkRefused(Exception):
    """The link is forged, altered, expired, revoked or for another notice."""


def _notifications(request: Request) -> NotificationsApplication:
    app = request.app.state.system.apps.get("notifications")
    if not isinstance(app, NotificationsApplication):
        raise NotFound("not found")
    return app


def _engine(request: Request) -> sa.Engine:
    """The operational database, where revocations are kept (migrated at start: ops_0002)."""
    engine: sa.Engine = request.app.state.system.ops
    return engine


def is_revoked(engine: sa.Engine, notice_id: UUID) -> bool:
    """True when the link of `notice_id` was revoked."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(revocations.c.notice_id).where(revocations.c.notice_id == str(notice_id))
        ).first()
    return row is not None


def revoke(engine: sa.Engine, notice_id: UUID, by: str, reason: str, at: datetime) -> None:
    """Revoke the link of a notice (once; revoking again changes nothing)."""
    with engine.begin() as conn:
        exists = conn.execute(
            sa.select(revocations.c.notice_id).where(revocations.c.notice_id == str(notice_id))
        ).first()
        if exists is None:
            conn.execute(
                revocations.insert().values(
                    notice_id=str(notice_id), revoked_at=at, revoked_by=by, reason=reason
                )
            )


async def _opened(
    request: Request, notice_id: UUID, token: str | None
) -> tuple[Principal, NotificationsApplication, Any]:
    """The partner the link speaks for, the application, and the notice; LinkRefused else."""
    app = _notifications(request)
    secret = app.notify_settings.partner_link_secret
    user = current_user(request)
    if not token and user is not None and user.principal.role == Role.PARTNER:
        # A partner organisation that federates signs its people in through OIDC: the token's
        # subject is the contact id, as for the API, and the link's token is not needed.
        try:
            linked_notice, contact = notice_id, UUID(user.principal.user_id)
        except ValueError:
            raise LinkRefused() from None
    else:
        if not token or not secret:
            raise LinkRefused()
        try:
            linked_notice, contact = read_partner_link_token(token, secret)
        except jwt.PyJWTError:
            raise LinkRefused() from None
    if linked_notice != notice_id:
        raise LinkRefused()
    engine = _engine(request)
    if await asyncio.to_thread(is_revoked, engine, notice_id):
        raise LinkRefused()
    principal = Principal(user_id=str(contact), role=Role.PARTNER)
    check(principal, "notice.read")
    try:
        notice = await asyncio.to_thread(app.notice_for_partner, notice_id, contact)
    except NotFound:
        raise LinkRefused() from None
    return principal, app, notice


def _refused(request: Request) -> Response:
    return render(
        request,
        "error.html",
        status_code=404,
        title="This link does not work",
        message="The link may have expired or been withdrawn. Contact the ECM team "
        "who sent you the notice for a new one.",
    )


@router.get("/notices")
async def my_notices(request: Request, user: SignedIn) -> Response:
    """A federated partner's notices (signed in through their organisation's OIDC)."""
    check(user.principal, "notice.read")
    app = _notifications(request)
    try:
        contact = UUID(user.principal.user_id)
    except ValueError:
        rows: list[Any] = []
    else:
        rows = await asyncio.to_thread(app.notices_for, contact)
    return render(request, "notices.html", title="Your notices", rows=rows)


@router.get("/notices/{notice_id}")
async def notice_page(request: Request, notice_id: UUID, t: str | None = None) -> Response:
    """What, when, where, who to contact; the calendar file; acknowledge."""
    try:
        _principal, app, notice = await _opened(request, notice_id, t)
    except LinkRefused:
        return _refused(request)
    public = notice_public(notice, app)
    message = compose(
        notice,
        app.notify_settings.public_base_url,
        app.notify_settings.team_contact,
        app.notify_settings.partner_link_secret,
    )
    return render(
        request,
        "notice.html",
        title="Notice from the ECM team",
        notice=public,
        token=t,
        has_calendar=message.calendar is not None,
        acknowledged=request.query_params.get("acknowledged") == "1",
    )


@router.get("/notices/{notice_id}/calendar.ics")
async def notice_calendar(request: Request, notice_id: UUID, t: str | None = None) -> Response:
    """The meeting as an iCalendar file."""
    try:
        _principal, app, notice = await _opened(request, notice_id, t)
    except LinkRefused:
        return _refused(request)
    message = compose(
        notice,
        app.notify_settings.public_base_url,
        app.notify_settings.team_contact,
        app.notify_settings.partner_link_secret,
    )
    if message.calendar is None:
        return _refused(request)
    return Response(
        message.calendar,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="ecm-{message.reference}.ics"'},
    )


@router.post("/notices/{notice_id}/acknowledgement")
async def acknowledge(request: Request, notice_id: UUID, form: Form) -> Response:
    """The partner confirms they have read the notice."""
    token = text(form, "t")
    try:
        principal, app, _notice = await _opened(request, notice_id, token)
    except LinkRefused:
        return _refused(request)
    check(principal, "notice.ack")
    meta = Meta(
        principal.user_id, str(principal.role), request.state.request_id, request.state.request_id
    )
    contact = UUID(principal.user_id)
    with contextlib.suppress(Conflict):  # acknowledged already (a second click): nothing to do
        await asyncio.to_thread(app.acknowledge, notice_id, contact, datetime.now(UTC), meta)
    query = f"t={token}&acknowledged=1" if token else "acknowledged=1"
    return RedirectResponse(f"/notices/{notice_id}?{query}", status_code=303)


@router.get("/notices/{notice_id}/revocation")
async def revoke_form(request: Request, notice_id: UUID, user: SignedIn) -> Response:
    """ECM staff: the form to withdraw a notice's link."""
    check(user.principal, "partner.manage")
    return render(request, "revoke.html", title="Withdraw a notice link", notice_id=notice_id)


@router.post("/notices/{notice_id}/revocation")
async def revoke_link(request: Request, notice_id: UUID, user: SignedIn, form: Form) -> Response:
    """ECM staff withdraw a notice's link (for example, sent to the wrong person)."""
    check(user.principal, "partner.manage")
    reason = text(form, "reason") or ""
    if len(reason) < 3:
        message = "Reason: enter why the link is withdrawn (at least 3 characters)"
        return render(
            request,
            "revoke.html",
            status_code=422,
            title="Withdraw a notice link",
            notice_id=notice_id,
            errors=[{"text": message, "href": "#reason"}],
            field_errors={"reason": message},
        )
    await asyncio.to_thread(
        revoke, _engine(request), notice_id, user.principal.user_id, reason, datetime.now(UTC)
    )
    return render(
        request,
        "error.html",
        title="Link withdrawn",
        message="The notice's link no longer opens it.",
    )
